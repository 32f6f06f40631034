import { beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, ApiError, CHANNEL_PAGES_MAX, loadAllChannels, type LockFn, type StoredSession } from '../../src/lib/api/client';
import { MemoryStore } from '../../src/lib/storage/kv';
import { FakeServer, ME, pair } from './fake';

let now: number;
let server: FakeServer;
let store: MemoryStore;
let timers: { fn: () => void; at: number }[];
let ended: string[];

function client(extra: { lock?: LockFn } = {}) {
  return new ApiClient({
    store,
    fetch: server.fetch,
    now: () => now,
    setTimer: (fn, ms) => {
      const t = { fn, at: now + ms };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      timers = timers.filter((x) => x !== t);
    },
    onSessionEnded: (r) => ended.push(r),
    deviceName: 'Test on Node',
    ...extra,
  });
}

async function storeSession(refresh = 'refresh-0') {
  await store.put<StoredSession>('auth', 'session', {
    user_id: ME.id,
    username: 'alice',
    session_id: 'session-1',
    refresh_token: refresh,
  });
}

/** A refresh endpoint that rotates `refresh-n` into `refresh-(n+1)` and refuses reuse. */
function rotatingRefresh(ttlMs = 900_000) {
  let current = 0;
  server.on('POST', '/sessions/refresh', (call) => {
    const token = (call.body as { refresh_token: string }).refresh_token;
    if (token !== `refresh-${current}`) {
      return { status: 401, body: { code: 'invalid_refresh_token', message: 'the refresh token is not valid' } };
    }
    current += 1;
    return { status: 200, body: pair(current, now, ttlMs) };
  });
}

beforeEach(() => {
  now = Date.parse('2026-11-28T10:00:00Z');
  server = new FakeServer();
  store = new MemoryStore();
  timers = [];
  ended = [];
});

describe('ApiClient: errors', () => {
  it('turns an API error body into an ApiError with code, message and status', async () => {
    server.on('GET', '/instance', { status: 400, body: { code: 'invalid_request', message: 'name: too long' } });
    const err = await client().instance().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'invalid_request', message: 'name: too long', status: 400 });
  });

  it('reads Retry-After on 429', async () => {
    server.on('POST', '/sessions', {
      status: 429,
      body: { code: 'rate_limited', message: 'slow down' },
      headers: { 'retry-after': '7' },
    });
    const err = await client().login({ username: 'alice', password: 'x' }).catch((e) => e);
    expect(err).toMatchObject({ code: 'rate_limited', retryAfter: 7 });
  });

  it('reports a network failure and a non-JSON answer distinctly', async () => {
    server.on('GET', '/instance', new TypeError('Failed to fetch'));
    expect(await client().instance().catch((e) => e.code)).toBe('network');
    server = new FakeServer();
    server.fetch = async () => new Response('<html>proxy error</html>', { status: 502 });
    expect(await client().instance().catch((e) => [e.code, e.status])).toEqual(['bad_response', 502]);
  });
});

describe('ApiClient: signing in', () => {
  it('registers, stores the session and device in the store, keeps the access token in memory', async () => {
    server.on('POST', '/accounts', (call) => {
      expect(call.body).toEqual({ username: 'alice', password: 'long password', device_name: 'Test on Node' });
      return {
        status: 201,
        body: { ...pair(1, now), device_id: 'dev-1', device_secret: 'secret-1', user: ME, recovery_code: 'AAAA-BBBB' },
      };
    });
    server.on('GET', '/users/me', (call) => ({ status: call.auth === 'Bearer access-1' ? 200 : 401, body: ME }));
    const api = client();
    const res = await api.register({ username: 'alice', password: 'long password' });
    expect(res.recovery_code).toBe('AAAA-BBBB');
    expect(await store.get('auth', 'session')).toEqual({
      user_id: ME.id,
      username: 'alice',
      device_id: 'dev-1',
      session_id: 'session-1',
      refresh_token: 'refresh-1',
    });
    expect(await store.get('devices', 'alice')).toEqual({ device_id: 'dev-1', device_secret: 'secret-1' });
    expect(JSON.stringify(await store.get('auth', 'session'))).not.toContain('access-1');
    expect(await api.deviceId()).toBe('dev-1');
    expect(await api.me()).toEqual(ME);
  });

  it('reuses the stored device at login, by normalised username', async () => {
    await store.put('devices', 'alice', { device_id: 'dev-1', device_secret: 'secret-1' });
    server.on('POST', '/sessions', (call) => {
      expect(call.body).toMatchObject({ username: ' Alice ', device_id: 'dev-1', device_secret: 'secret-1' });
      return { status: 201, body: { ...pair(1, now), device_id: 'dev-1', user: ME } };
    });
    await client().login({ username: ' Alice ', password: 'pw' });
    expect(await store.get('devices', 'alice')).toEqual({ device_id: 'dev-1', device_secret: 'secret-1' });
  });

  it('passes totp_required through so the form can ask for the code', async () => {
    server.on('POST', '/sessions', (call) =>
      (call.body as { totp_code?: string }).totp_code === '123456'
        ? { status: 201, body: { ...pair(1, now), device_id: 'd', device_secret: 's', user: ME } }
        : { status: 401, body: { code: 'totp_required', message: 'send totp_code' } },
    );
    const api = client();
    expect(await api.login({ username: 'alice', password: 'pw' }).catch((e) => e.code)).toBe('totp_required');
    expect(api.signedIn).toBe(false);
    await api.login({ username: 'alice', password: 'pw', totp_code: '123456' });
    expect(api.signedIn).toBe(true);
  });
});

describe('ApiClient: token refresh', () => {
  it('refreshes before the first authenticated call when only a refresh token is stored', async () => {
    await storeSession();
    rotatingRefresh();
    server.on('GET', '/users/me', (call) => ({ status: call.auth === 'Bearer access-1' ? 200 : 401, body: ME }));
    const api = client();
    expect(await api.me()).toEqual(ME);
    expect((await store.get<StoredSession>('auth', 'session'))!.refresh_token).toBe('refresh-1');
    expect(server.calls.map((c) => c.path)).toEqual(['/sessions/refresh', '/users/me']);
  });

  it('refreshes ahead of expiry, not before', async () => {
    await storeSession();
    rotatingRefresh();
    server.on('GET', '/users/me', { status: 200, body: ME });
    const api = client();
    await api.me();
    now += 10 * 60_000; // 10 of 15 minutes: still fresh
    await api.me();
    expect(server.calls.filter((c) => c.path === '/sessions/refresh')).toHaveLength(1);
    now += 4 * 60_000 + 30_000; // 30 s left: inside the margin
    await api.me();
    expect(server.calls.filter((c) => c.path === '/sessions/refresh')).toHaveLength(2);
    expect(server.calls.at(-1)!.auth).toBe('Bearer access-2');
  });

  it('schedules a background refresh before expiry', async () => {
    await storeSession();
    rotatingRefresh();
    server.on('GET', '/users/me', { status: 200, body: ME });
    const api = client();
    await api.me();
    expect(timers).toHaveLength(1);
    expect(timers[0]!.at - now).toBe(900_000 - 60_000);
    now = timers[0]!.at;
    timers[0]!.fn();
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setTimeout(r, 0));
    expect((await store.get<StoredSession>('auth', 'session'))!.refresh_token).toBe('refresh-2');
  });

  it('measures the token lifetime on the server clock', async () => {
    await storeSession();
    // The client clock runs 10 minutes behind the server.
    server.on('POST', '/sessions/refresh', () => ({
      status: 200,
      body: pair(1, now + 600_000),
      headers: { date: new Date(now + 600_000).toUTCString() },
    }));
    server.on('GET', '/users/me', { status: 200, body: ME });
    const api = client();
    await api.me();
    now += 5 * 60_000;
    await api.me();
    expect(server.calls.filter((c) => c.path === '/sessions/refresh')).toHaveLength(1);
  });

  it('hands a WebSocket a token newer than the one it holds, through the single-flight refresh', async () => {
    await storeSession();
    rotatingRefresh();
    server.on('GET', '/users/me', { status: 200, body: ME });
    const api = client();
    const refreshes = () => server.calls.filter((c) => c.path === '/sessions/refresh').length;
    expect(await api.token()).toBe('access-1');
    // The cached token is still valid, but the socket holds it: a refresh makes a newer one.
    expect(await api.token()).toBe('access-1');
    expect(await api.freshToken('access-1')).toBe('access-2');
    expect(refreshes()).toBe(2);
    // A socket still on an older token gets the held one, which is newer and not due.
    expect(await api.freshToken('access-1')).toBe('access-2');
    expect(refreshes()).toBe(2);
    // Concurrent renewals and requests share one refresh (one refresh token presented).
    const [x, y] = await Promise.all([api.freshToken('access-2'), api.freshToken('access-2')]);
    expect([x, y]).toEqual(['access-3', 'access-3']);
    expect(refreshes()).toBe(3);
    now += 14 * 60_000 + 30_000; // access-3 is due for refresh
    const [, z] = await Promise.all([api.me(), api.freshToken('access-2')]);
    expect(z).toBe('access-4');
    expect(refreshes()).toBe(4);
    const presented = server.calls
      .filter((c) => c.path === '/sessions/refresh')
      .map((c) => (c.body as { refresh_token: string }).refresh_token);
    expect(presented).toEqual(['refresh-0', 'refresh-1', 'refresh-2', 'refresh-3']);
    expect(ended).toEqual([]);
  });

  it('a fresh token for a socket fails when the session is gone', async () => {
    await storeSession('refresh-stolen');
    rotatingRefresh();
    const err = await client().freshToken(null).catch((e) => e);
    expect(err.code).toBe('invalid_refresh_token');
    expect(ended).toEqual(['expired']);
  });

  it('knows the server clock from the Date of the last token answer', async () => {
    await storeSession();
    server.on('POST', '/sessions/refresh', () => ({
      status: 200,
      body: pair(1, now + 600_000),
      headers: { date: new Date(now + 600_000).toUTCString() },
    }));
    const api = client();
    expect(api.serverNow()).toBe(now);
    await api.token();
    expect(api.serverNow()).toBe(now + 600_000);
    now += 1000;
    expect(api.serverNow()).toBe(now + 600_000);
  });

  it('retries once after a 401 with a fresh token', async () => {
    await storeSession();
    rotatingRefresh();
    let revokedFirst = true;
    server.on('GET', '/users/me', (call) => {
      if (call.auth === 'Bearer access-1' && revokedFirst) {
        revokedFirst = false;
        return { status: 401, body: { code: 'unauthorized', message: 'expired' } };
      }
      return { status: 200, body: ME };
    });
    expect(await client().me()).toEqual(ME);
    expect(server.calls.map((c) => [c.path, c.auth])).toEqual([
      ['/sessions/refresh', null],
      ['/users/me', 'Bearer access-1'],
      ['/sessions/refresh', null],
      ['/users/me', 'Bearer access-2'],
    ]);
  });

  it('makes one refresh for concurrent calls', async () => {
    await storeSession();
    rotatingRefresh();
    server.on('GET', '/users/me', { status: 200, body: ME });
    server.on('GET', '/sessions', { status: 200, body: [] });
    const api = client();
    await Promise.all([api.me(), api.sessions(), api.me()]);
    expect(server.calls.filter((c) => c.path === '/sessions/refresh')).toHaveLength(1);
  });

  it('serialises refreshes under the lock and always presents the newest stored token', async () => {
    // Two clients (two tabs) share one store and one lock: they must never present the same
    // refresh token, which the server would take for theft.
    await storeSession();
    rotatingRefresh();
    server.on('GET', '/users/me', { status: 200, body: ME });
    let tail: Promise<unknown> = Promise.resolve();
    const lock: LockFn = (_n, fn) => {
      const run = tail.then(fn, fn);
      tail = run.catch(() => undefined);
      return run;
    };
    const tab1 = client({ lock });
    const tab2 = client({ lock });
    await Promise.all([tab1.me(), tab2.me()]);
    const presented = server.calls
      .filter((c) => c.path === '/sessions/refresh')
      .map((c) => (c.body as { refresh_token: string }).refresh_token);
    expect(presented).toEqual(['refresh-0', 'refresh-1']);
    expect(ended).toEqual([]);
  });

  it('ends the session on invalid_refresh_token and keeps the device', async () => {
    await storeSession('refresh-stolen');
    await store.put('devices', 'alice', { device_id: 'dev-1', device_secret: 'secret-1' });
    rotatingRefresh();
    const api = client();
    const err = await api.me().catch((e) => e);
    expect(err.code).toBe('invalid_refresh_token');
    expect(ended).toEqual(['expired']);
    expect(await store.get('auth', 'session')).toBeUndefined();
    expect(await store.get('devices', 'alice')).toBeDefined();
    expect(api.signedIn).toBe(false);
  });

  it('keeps the stored session when the refresh fails for another reason', async () => {
    await storeSession();
    server.on('POST', '/sessions/refresh', { status: 503, body: { code: 'unavailable', message: 'db down' } });
    const err = await client().me().catch((e) => e);
    expect(err.code).toBe('unavailable');
    expect(ended).toEqual([]);
    expect(await store.get('auth', 'session')).toBeDefined();
  });

  it('ends the session when a fresh token is refused too', async () => {
    await storeSession();
    rotatingRefresh();
    server.on('GET', '/users/me', { status: 401, body: { code: 'unauthorized', message: 'revoked' } });
    const err = await client().me().catch((e) => e);
    expect(err.code).toBe('unauthorized');
    expect(ended).toEqual(['expired']);
    expect(await store.get('auth', 'session')).toBeUndefined();
  });

  it('with nothing stored, an authenticated call fails without a request', async () => {
    const err = await client().me().catch((e) => e);
    expect(err.code).toBe('unauthorized');
    expect(server.calls).toEqual([]);
  });
});

describe('ApiClient: account routes', () => {
  beforeEach(async () => {
    await storeSession();
    rotatingRefresh();
  });

  it('sends each route its method, path and body', async () => {
    server
      .on('PUT', '/users/me/password', { status: 204 })
      .on('POST', '/users/me/totp', { status: 200, body: { secret: 'S', otpauth_url: 'otpauth://x' } })
      .on('POST', '/users/me/totp/confirm', { status: 200, body: { backup_codes: ['a'] } })
      .on('DELETE', '/users/me/totp', { status: 204 })
      .on('POST', '/users/me/totp/backup_codes', { status: 200, body: { backup_codes: ['b'] } })
      .on('POST', '/users/me/recovery_code', { status: 200, body: { recovery_code: 'R' } })
      .on('DELETE', '/sessions/0193-x', { status: 204 })
      .on('GET', '/users/me/audit_events?limit=5', { status: 200, body: [] })
      .on('POST', '/recoveries', { status: 200, body: { recovery_code: 'N' } });
    const api = client();
    await api.changePassword('old pw', 'new pw');
    expect(await api.startTotp('my password')).toEqual({ secret: 'S', otpauth_url: 'otpauth://x' });
    expect(await api.confirmTotp('123456')).toEqual({ backup_codes: ['a'] });
    await api.disableTotp('pw', '654321');
    expect(await api.regenerateBackupCodes('pw', '111111')).toEqual({ backup_codes: ['b'] });
    expect(await api.regenerateRecoveryCode('pw')).toEqual({ recovery_code: 'R' });
    await api.revokeSession('0193-x');
    expect(await api.auditEvents(5)).toEqual([]);
    expect(await api.recover('alice', 'CODE', 'new pw')).toEqual({ recovery_code: 'N' });
    const sent = server.calls.filter((c) => c.path !== '/sessions/refresh').map((c) => [c.method, c.path, c.body]);
    expect(sent).toEqual([
      ['PUT', '/users/me/password', { current_password: 'old pw', new_password: 'new pw' }],
      ['POST', '/users/me/totp', { password: 'my password' }],
      ['POST', '/users/me/totp/confirm', { code: '123456' }],
      ['DELETE', '/users/me/totp', { password: 'pw', code: '654321' }],
      ['POST', '/users/me/totp/backup_codes', { password: 'pw', code: '111111' }],
      ['POST', '/users/me/recovery_code', { password: 'pw' }],
      ['DELETE', '/sessions/0193-x', undefined],
      ['GET', '/users/me/audit_events?limit=5', undefined],
      ['POST', '/recoveries', { username: 'alice', recovery_code: 'CODE', new_password: 'new pw' }],
    ]);
    expect(server.calls.find((c) => c.path === '/recoveries')!.auth).toBeNull();
  });

  it('sends each community administration and key route its method, path and body', async () => {
    const C = 'c1';
    server
      .on('GET', '/directory?q=book%20club', { status: 200, body: [] })
      .on('PATCH', `/communities/${C}`, { status: 200, body: { id: C } })
      .on('DELETE', `/communities/${C}`, { status: 204 })
      .on('DELETE', `/communities/${C}/members/u2`, { status: 204 })
      .on('PUT', `/communities/${C}/members/u2/role`, { status: 200, body: { user_id: 'u2', role: 'moderator' } })
      .on('GET', `/communities/${C}/bans`, { status: 200, body: [] })
      .on('PUT', `/communities/${C}/bans/u3`, { status: 204 })
      .on('DELETE', `/communities/${C}/bans/u3`, { status: 204 })
      .on('GET', `/communities/${C}/invites`, { status: 200, body: [] })
      .on('DELETE', `/communities/${C}/invites/i1`, { status: 204 })
      .on('GET', `/communities/${C}/groups`, { status: 200, body: [] })
      .on('POST', `/communities/${C}/groups`, { status: 201, body: { id: 'g1' } })
      .on('PATCH', '/groups/g1', { status: 200, body: { id: 'g1' } })
      .on('DELETE', '/groups/g1', { status: 204 })
      .on('PATCH', '/channels/ch1', { status: 200, body: { id: 'ch1', group_id: 'g1' } })
      .on('GET', '/users/u2/devices', { status: 200, body: { user_key: null, devices: [] } })
      .on('GET', '/channels/ch1/devices', { status: 200, body: { devices: [] } })
      .on('POST', '/users/u2/key_bundles', { status: 200, body: { bundles: [] } })
      .on('POST', '/envelopes', { status: 201, body: { ids: [] } })
      .on('GET', '/devices/d1/envelopes', { status: 200, body: { envelopes: [], has_more: false } })
      .on('POST', '/devices/d1/envelope_acks', { status: 200, body: { deleted: 0 } })
      .on('PUT', '/devices/d1/keys', { status: 200, body: { one_time_prekeys: 1 } })
      .on('POST', '/devices/d1/one_time_prekeys', { status: 200, body: { one_time_prekeys: 2 } })
      .on('GET', '/devices/d1/keys', { status: 200, body: { one_time_prekeys: 2 } })
      .on('PUT', '/devices/d1/signed_prekey', { status: 200, body: { one_time_prekeys: 2 } });
    const api = client();
    await api.directory(' book club ');
    await api.updateCommunity(C, { name: 'N', discoverable: true });
    await api.deleteCommunity(C);
    await api.removeMember(C, 'u2');
    await api.setMemberRole(C, 'u2', 'moderator');
    await api.bans(C);
    await api.ban(C, 'u3', 'spam');
    await api.unban(C, 'u3');
    await api.communityInvites(C);
    await api.revokeInvite(C, 'i1');
    await api.groups(C);
    await api.createGroup(C, { name: 'G', kind: 'private' });
    await api.renameGroup('g1', 'H');
    await api.deleteGroup('g1');
    await api.updateChannel('ch1', { group_id: 'g1' });
    await api.userDevices('u2');
    await api.channelDevices('ch1');
    await api.claimBundles('u2', ['d2']);
    await api.sendEnvelopes([{ recipient_device_id: 'd2', channel_id: 'ch1', ciphertext: 'AA==' }]);
    await api.envelopes('d1');
    await api.ackEnvelopes('d1', ['e1']);
    await api.publishKeys('d1', { certificate: 'C', signed_prekey: 'S', one_time_prekeys: ['O'] });
    await api.uploadPrekeys('d1', ['P']);
    await api.keyStatus('d1');
    await api.rotateSignedPreKey('d1', 'SPK');
    const sent = server.calls.filter((c) => c.path !== '/sessions/refresh').map((c) => [c.method, c.path, c.body]);
    expect(sent).toEqual([
      ['GET', '/directory?q=book%20club', undefined],
      ['PATCH', `/communities/${C}`, { name: 'N', discoverable: true }],
      ['DELETE', `/communities/${C}`, undefined],
      ['DELETE', `/communities/${C}/members/u2`, undefined],
      ['PUT', `/communities/${C}/members/u2/role`, { role: 'moderator' }],
      ['GET', `/communities/${C}/bans`, undefined],
      ['PUT', `/communities/${C}/bans/u3`, { reason: 'spam' }],
      ['DELETE', `/communities/${C}/bans/u3`, undefined],
      ['GET', `/communities/${C}/invites`, undefined],
      ['DELETE', `/communities/${C}/invites/i1`, undefined],
      ['GET', `/communities/${C}/groups`, undefined],
      ['POST', `/communities/${C}/groups`, { name: 'G', kind: 'private' }],
      ['PATCH', '/groups/g1', { name: 'H' }],
      ['DELETE', '/groups/g1', undefined],
      ['PATCH', '/channels/ch1', { group_id: 'g1' }],
      ['GET', '/users/u2/devices', undefined],
      ['GET', '/channels/ch1/devices', undefined],
      ['POST', '/users/u2/key_bundles', { device_ids: ['d2'] }],
      ['POST', '/envelopes', { envelopes: [{ recipient_device_id: 'd2', channel_id: 'ch1', ciphertext: 'AA==' }] }],
      ['GET', '/devices/d1/envelopes', undefined],
      ['POST', '/devices/d1/envelope_acks', { ids: ['e1'] }],
      ['PUT', '/devices/d1/keys', { certificate: 'C', signed_prekey: 'S', one_time_prekeys: ['O'] }],
      ['POST', '/devices/d1/one_time_prekeys', { one_time_prekeys: ['P'] }],
      ['GET', '/devices/d1/keys', undefined],
      ['PUT', '/devices/d1/signed_prekey', { signed_prekey: 'SPK' }],
    ]);
  });

  it('logs out on the server and forgets the session, even when the server fails', async () => {
    server.on('DELETE', '/sessions/current', { status: 500, body: { code: 'internal', message: 'boom' } });
    const api = client();
    await api.logout();
    expect(server.calls.at(-1)).toMatchObject({ method: 'DELETE', path: '/sessions/current', auth: 'Bearer access-1' });
    expect(await store.get('auth', 'session')).toBeUndefined();
    expect(ended).toEqual(['logout']);
    expect(timers).toEqual([]);
  });

  /** A session of this browser's device `dev-1`, whose credentials are kept. */
  async function storeDeviceSession() {
    await store.put<StoredSession>('auth', 'session', {
      user_id: ME.id,
      username: 'alice',
      device_id: 'dev-1',
      session_id: 'session-1',
      refresh_token: 'refresh-0',
    });
    await store.put('devices', 'alice', { device_id: 'dev-1', device_secret: 'secret-1' });
  }

  it('signing out removes this browser’s device (its keys are erased) and forgets it here', async () => {
    await storeDeviceSession();
    server.on('DELETE', '/devices/dev-1', { status: 204 });
    const api = client();
    await api.logout();
    expect(server.calls.filter((c) => c.method === 'DELETE').map((c) => c.path)).toEqual(['/devices/dev-1']);
    expect(await store.get('devices', 'alice')).toBeUndefined();
    expect(await store.get('auth', 'session')).toBeUndefined();
    expect(ended).toEqual(['logout']);
  });

  it('when the device cannot be removed, signing out still ends the session and forgets the device', async () => {
    await storeDeviceSession();
    server.on('DELETE', '/devices/dev-1', { status: 500, body: { code: 'internal', message: 'boom' } });
    server.on('DELETE', '/sessions/current', { status: 204 });
    const api = client();
    await api.logout();
    expect(server.calls.filter((c) => c.method === 'DELETE').map((c) => c.path)).toEqual(['/devices/dev-1', '/sessions/current']);
    expect(await store.get('devices', 'alice')).toBeUndefined();
    expect(ended).toEqual(['logout']);
  });

  it('logs out everywhere', async () => {
    server.on('DELETE', '/sessions', { status: 200, body: { revoked: 3 } });
    const api = client();
    expect(await api.logoutEverywhere()).toEqual({ revoked: 3 });
    expect(await store.get('auth', 'session')).toBeUndefined();
    expect(ended).toEqual(['logout']);
  });
});

describe('ApiClient: the paged channel list', () => {
  beforeEach(async () => {
    await storeSession();
    rotatingRefresh();
  });

  const ch = (id: string, last_seq = 0) => ({
    id,
    community_id: null,
    kind: 'dm',
    name: '',
    topic: '',
    e2e: true,
    slow_mode_secs: 0,
    archived: false,
    last_seq,
    last_read_seq: 0,
    unread: 0,
  });

  it('reads every page at 500 a page, following next_before until it is null', async () => {
    server
      .on('GET', '/channels?limit=500', { status: 200, body: { channels: [ch('a'), ch('b')], next_before: 'cur-1' } })
      .on('GET', '/channels?limit=500&before=cur-1', { status: 200, body: { channels: [ch('c')], next_before: 'cur+2' } })
      .on('GET', '/channels?limit=500&before=cur%2B2', { status: 200, body: { channels: [ch('d')], next_before: null } });
    const list = await client().channels();
    expect(list.complete).toBe(true);
    expect(list.channels.map((c) => c.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(server.calls.filter((c) => c.path.startsWith('/channels')).map((c) => c.path)).toEqual([
      '/channels?limit=500',
      '/channels?limit=500&before=cur-1',
      '/channels?limit=500&before=cur%2B2',
    ]);
  });

  it('takes a page without next_before as the last one', async () => {
    server.on('GET', '/channels?limit=500', { status: 200, body: { channels: [ch('x')] } });
    expect(await client().channels()).toEqual({ channels: [ch('x')], complete: true });
  });

  it('a page in the middle failing fails the load', async () => {
    server
      .on('GET', '/channels?limit=500', { status: 200, body: { channels: [ch('a')], next_before: 'n1' } })
      .on('GET', '/channels?limit=500&before=n1', { status: 503, body: { code: 'unavailable', message: 'db' } });
    await expect(client().channels()).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('loadAllChannels', () => {
  const ch = (id: string, last_seq = 0) => ({ id, last_seq }) as unknown as import('../../src/lib/api/types').Channel;

  it('lists a channel seen on two pages once, first place, newest state; empty pages in between are followed', async () => {
    const pages: Record<string, { channels: ReturnType<typeof ch>[]; next_before: string | null }> = {
      '': { channels: [ch('a', 1), ch('b', 1)], next_before: 'p2' },
      p2: { channels: [], next_before: 'p3' },
      p3: { channels: [ch('a', 5), ch('c', 1)], next_before: null },
    };
    const asked: (string | undefined)[] = [];
    const list = await loadAllChannels(async (before) => {
      asked.push(before);
      return pages[before ?? '']!;
    });
    expect(asked).toEqual([undefined, 'p2', 'p3']);
    expect(list).toEqual({ channels: [ch('a', 5), ch('b', 1), ch('c', 1)], complete: true });
  });

  it('stops at the page bound (40 by default) and says the list is incomplete', async () => {
    let n = 0;
    const endless = async () => {
      n += 1;
      return { channels: [ch(`c${n}`)], next_before: `p${n}` };
    };
    const list = await loadAllChannels(endless);
    expect(CHANNEL_PAGES_MAX).toBe(40);
    expect(n).toBe(40);
    expect(list.complete).toBe(false);
    expect(list.channels).toHaveLength(40);
    n = 0;
    expect((await loadAllChannels(endless, 3)).channels.map((c) => c.id)).toEqual(['c1', 'c2', 'c3']);
    expect(n).toBe(3);
  });

  it('stops when a cursor does not move', async () => {
    let n = 0;
    const list = await loadAllChannels(async () => {
      n += 1;
      return { channels: [ch(`c${n}`)], next_before: 'same' };
    });
    expect(n).toBe(2);
    expect(list.complete).toBe(true);
  });
});

describe('ApiClient: leaving a DM', () => {
  beforeEach(async () => {
    await storeSession();
    rotatingRefresh();
  });

  it('deletes /dms/{id}, and reports a 404 as not_found', async () => {
    server.on('DELETE', '/dms/d1', { status: 204 });
    const api = client();
    await expect(api.leaveDm('d1')).resolves.toBeUndefined();
    expect(server.calls.at(-1)).toMatchObject({ method: 'DELETE', path: '/dms/d1', auth: 'Bearer access-1' });
    server.on('DELETE', '/dms/d2', { status: 404, body: { code: 'not_found', message: 'no such conversation' } });
    await expect(api.leaveDm('d2')).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });

  it('sends the setup token at registration when given', async () => {
    server.on('POST', '/accounts', (call) => {
      expect(call.body).toEqual({ username: 'alice', password: 'long password', setup_token: 'abcd-efgh', device_name: 'Test on Node' });
      return { status: 201, body: { ...pair(9, now), device_id: 'dev-9', device_secret: 's', user: ME, recovery_code: 'R' } };
    });
    await client().register({ username: 'alice', password: 'long password', setup_token: 'abcd-efgh' });
  });
});
