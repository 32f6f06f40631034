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

async function app(server: FakeServer, path: string, mode = 'open', signedIn = false, setup: { pending?: boolean | (() => boolean); token?: string } = {}) {
  server.on('GET', '/instance', () => ({
    status: 200,
    body: {
      name: 'Test',
      version: '0',
      protocol_version: 1,
      registration_mode: mode,
      setup_pending: typeof setup.pending === 'function' ? setup.pending() : (setup.pending ?? false),
    },
  }));
  const store = new MemoryStore();
  if (signedIn) {
    await store.put('auth', 'session', { user_id: ME.id, username: 'alice', session_id: 'session-1', refresh_token: 'refresh-0' });
    server.on('POST', '/sessions/refresh', { status: 200, body: pair(1, Date.now()) });
    server.on('GET', '/users/me', { status: 200, body: ME });
  }
  const api = new ApiClient({ store, fetch: server.fetch });
  const session = new SessionStore(api);
  session.setupToken = setup.token ?? null;
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

  it('register shows the setup notice and the setup token field only while the owner is pending', async () => {
    await app(new FakeServer(), '/register', 'open', false, { pending: true, token: 'ABCD-EFGH-JKMN-PQRS-TVWX-YZ01' });
    expect(screen.getByTestId('setup-notice').textContent).toMatch(/needs its owner account first.*setup link you opened/s);
    expect((screen.getByLabelText('Setup token') as HTMLInputElement).value).toBe('ABCD-EFGH-JKMN-PQRS-TVWX-YZ01');
    cleanup();
    // Without a link the field is empty; on an invite-only instance the invite is not needed with the token.
    await app(new FakeServer(), '/register', 'invite_only', false, { pending: true });
    expect((screen.getByLabelText('Setup token') as HTMLInputElement).value).toBe('');
    expect(screen.getByTestId('setup-notice').textContent).not.toMatch(/setup link/);
    expect(screen.getByText(/not needed with the setup token/)).toBeTruthy();
    cleanup();
    await app(new FakeServer(), '/register', 'open', false, { pending: false, token: 'ABCD' });
    expect(screen.queryByTestId('setup-notice')).toBeNull();
    expect(screen.queryByLabelText('Setup token')).toBeNull();
    // A setup link followed once the owner exists says it is no longer needed.
    expect(screen.getByTestId('setup-done').textContent).toMatch(/has its owner already/);
    cleanup();
    await app(new FakeServer(), '/register', 'open', false, { pending: false });
    expect(screen.queryByTestId('setup-done')).toBeNull();
  });

  it('register sends the setup token, says when it is wrong, and when the owner exists already', async () => {
    const server = new FakeServer();
    let pending = true;
    const bodies: unknown[] = [];
    server.on('POST', '/accounts', (call) => {
      bodies.push(call.body);
      return { status: 403, body: { code: 'invalid_setup_token', message: 'the setup token is not valid' } };
    });
    const session = await app(server, '/register', 'closed', false, { pending: () => pending, token: 'WRONG-TOKEN' });
    expect(screen.getByTestId('setup-notice').textContent).toMatch(/registration is closed/);
    await fireEvent.input(screen.getByLabelText('Username'), { target: { value: 'alice' } });
    await fireEvent.input(screen.getByLabelText('Password'), { target: { value: 'a long enough password' } });
    await fireEvent.input(screen.getByLabelText('Repeat the password'), { target: { value: 'a long enough password' } });
    await fireEvent.submit(screen.getByRole('form', { name: 'Create an account' }));
    await waitFor(() => expect(document.getElementById('reg-setup-error')?.textContent).toMatch(/setup token is wrong/));
    expect(bodies.at(-1)).toMatchObject({ username: 'alice', setup_token: 'WRONG-TOKEN' });
    expect(screen.getByLabelText('Setup token').getAttribute('aria-invalid')).toBe('true');
    await waitFor(() => expect(document.activeElement).toBe(screen.getByLabelText('Setup token')));
    // Meanwhile someone else became the owner: the token is no longer accepted, the field goes.
    pending = false;
    await fireEvent.submit(screen.getByRole('form', { name: 'Create an account' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toMatch(/has its owner already/);
    expect(screen.queryByLabelText('Setup token')).toBeNull();
    expect(screen.queryByTestId('setup-notice')).toBeNull();
    expect(session.setupToken).toBeNull();
  });

  it('register makes the owner with the setup token and stops showing the notice', async () => {
    const server = new FakeServer();
    let pending = true;
    server.on('POST', '/accounts', (call) => {
      expect(call.body).toMatchObject({ username: 'alice', setup_token: 'right-token' });
      expect((call.body as Record<string, unknown>).invite_code).toBeUndefined();
      pending = false;
      return {
        status: 201,
        body: { ...pair(1, Date.now()), device_id: 'd', device_secret: 's', user: ME, recovery_code: 'AAAA-BBBB-CCCC-DDDD' },
      };
    });
    const session = await app(server, '/register', 'invite_only', false, { pending: () => pending, token: 'right-token' });
    await fireEvent.input(screen.getByLabelText('Username'), { target: { value: 'alice' } });
    await fireEvent.input(screen.getByLabelText('Password'), { target: { value: 'a long enough password' } });
    await fireEvent.input(screen.getByLabelText('Repeat the password'), { target: { value: 'a long enough password' } });
    await fireEvent.submit(screen.getByRole('form', { name: 'Create an account' }));
    await screen.findByTestId('recovery-code');
    await waitFor(() => expect(session.instance?.setup_pending).toBe(false));
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
