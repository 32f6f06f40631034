import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { tick } from 'svelte';
import App from '../../src/App.svelte';
import { ApiClient } from '../../src/lib/api/client';
import { MemoryStore } from '../../src/lib/storage/kv';
import { PrefsStore } from '../../src/lib/stores/prefs.svelte';
import { SessionStore } from '../../src/lib/stores/session.svelte';
import { router } from '../../src/lib/stores/router.svelte';
import { FakeServer, ME, pair } from './fake';

afterEach(() => cleanup());

async function app(server: FakeServer, path: string, mode = 'open', signedIn = false) {
  server.on('GET', '/instance', {
    status: 200,
    body: { name: 'Test', version: '0', protocol_version: 1, registration_mode: mode },
  });
  const store = new MemoryStore();
  if (signedIn) {
    await store.put('auth', 'session', { user_id: ME.id, username: 'alice', session_id: 'session-1', refresh_token: 'refresh-0' });
    server.on('POST', '/sessions/refresh', { status: 200, body: pair(1, Date.now()) });
    server.on('GET', '/users/me', { status: 200, body: ME });
  }
  const api = new ApiClient({ store, fetch: server.fetch });
  const session = new SessionStore(api);
  const prefs = new PrefsStore(store);
  await session.loadInstance();
  await session.resume();
  router.navigate(path, true);
  render(App, { props: { session, prefs } });
  await tick();
  return session;
}

describe('screens', () => {
  it('register shows the invite field only on invite-only instances', async () => {
    await app(new FakeServer(), '/register', 'invite_only');
    expect(screen.getByLabelText('Invite code')).toBeTruthy();
    cleanup();
    await app(new FakeServer(), '/register', 'open');
    expect(screen.queryByLabelText('Invite code')).toBeNull();
  });

  it('login asks for the second factor on totp_required, then signs in', async () => {
    const server = new FakeServer();
    server.on('POST', '/sessions', (call) =>
      (call.body as { totp_code?: string }).totp_code === '123456'
        ? { status: 201, body: { ...pair(1, Date.now()), device_id: 'd', device_secret: 's', user: ME } }
        : { status: 401, body: { code: 'totp_required', message: 'send totp_code' } },
    );
    const session = await app(server, '/login');
    await fireEvent.input(screen.getByLabelText('Username'), { target: { value: 'alice' } });
    await fireEvent.input(screen.getByLabelText('Password'), { target: { value: 'a long password' } });
    await fireEvent.submit(screen.getByRole('form', { name: 'Sign in' }));
    const code = await screen.findByLabelText('Authentication code');
    await fireEvent.input(code, { target: { value: '123 456' } });
    await fireEvent.submit(screen.getByRole('form', { name: 'Sign in' }));
    await screen.findByTestId('signed-in');
    expect(session.status).toBe('signed_in');
  });

  it('shows an API error as text in an alert', async () => {
    const server = new FakeServer();
    server.on('POST', '/sessions', { status: 429, body: { code: 'rate_limited', message: 'x' }, headers: { 'retry-after': '3' } });
    await app(server, '/login');
    await fireEvent.input(screen.getByLabelText('Username'), { target: { value: 'alice' } });
    await fireEvent.input(screen.getByLabelText('Password'), { target: { value: 'pw' } });
    await fireEvent.submit(screen.getByRole('form', { name: 'Sign in' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('Too many attempts. Try again in 3 seconds.');
  });

  it('two-factor setup asks for the password first, says when it is wrong, then shows the secret', async () => {
    const server = new FakeServer();
    server.on('POST', '/users/me/totp', (call) =>
      (call.body as { password?: string }).password === 'the right password'
        ? { status: 200, body: { secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', otpauth_url: 'otpauth://totp/Chatalot:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' } }
        : { status: 403, body: { code: 'wrong_password', message: 'the password is wrong' } },
    );
    await app(server, '/settings/security', 'open', true);
    await fireEvent.click(await screen.findByRole('button', { name: 'Set up two-factor authentication' }));
    const password = await screen.findByLabelText('Password');
    expect(document.activeElement).toBe(password);
    expect(screen.queryByTestId('totp-secret')).toBeNull();
    const form = screen.getByRole('form', { name: /Confirm your password/ });
    // Nothing is sent without a password.
    await fireEvent.submit(form);
    expect(password.getAttribute('aria-invalid')).toBe('true');
    expect(server.calls.some((c) => c.path === '/users/me/totp')).toBe(false);
    await fireEvent.input(password, { target: { value: 'a wrong password' } });
    await fireEvent.submit(form);
    await waitFor(() => expect(document.getElementById('totp-password-error')?.textContent).toMatch(/password is wrong/));
    expect(screen.queryByTestId('totp-secret')).toBeNull();
    await fireEvent.input(password, { target: { value: 'the right password' } });
    await fireEvent.submit(form);
    const secret = await screen.findByTestId('totp-secret');
    expect(secret.getAttribute('data-secret')).toBe('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
    expect(screen.queryByLabelText('Password')).toBeNull();
    expect(server.calls.filter((c) => c.path === '/users/me/totp').map((c) => c.body)).toEqual([
      { password: 'a wrong password' },
      { password: 'the right password' },
    ]);
  });

  it('two-factor setup shows a rate limit as an alert', async () => {
    const server = new FakeServer();
    server.on('POST', '/users/me/totp', { status: 429, body: { code: 'rate_limited', message: 'x' }, headers: { 'retry-after': '30' } });
    await app(server, '/settings/security', 'open', true);
    await fireEvent.click(await screen.findByRole('button', { name: 'Set up two-factor authentication' }));
    await fireEvent.input(await screen.findByLabelText('Password'), { target: { value: 'some password' } });
    await fireEvent.submit(screen.getByRole('form', { name: /Confirm your password/ }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('Too many attempts. Try again in 30 seconds.');
  });

  it('the recovery screen says that recovering turns two-factor authentication off', async () => {
    await app(new FakeServer(), '/recover');
    expect(screen.getByRole('heading', { name: 'Recover your account' }).parentElement?.textContent).toMatch(
      /turns off two-factor authentication/,
    );
  });
});
