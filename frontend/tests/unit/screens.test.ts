import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import { tick } from 'svelte';
import App from '../../src/App.svelte';
import { ApiClient } from '../../src/lib/api/client';
import { MemoryStore } from '../../src/lib/storage/kv';
import { PrefsStore } from '../../src/lib/stores/prefs.svelte';
import { SessionStore } from '../../src/lib/stores/session.svelte';
import { router } from '../../src/lib/stores/router.svelte';
import { FakeServer, ME, pair } from './fake';

afterEach(() => cleanup());

async function app(server: FakeServer, path: string, mode = 'open') {
  server.on('GET', '/instance', {
    status: 200,
    body: { name: 'Test', version: '0', protocol_version: 1, registration_mode: mode },
  });
  const store = new MemoryStore();
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
});
