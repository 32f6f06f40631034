// Unlocked reloads (docs/e2e.md 18.7): the keystore's data key wrapped by a non-extractable
// WebCrypto key, "Lock on every reload", erasing every key of the browser, and the tabs of a
// browser sharing one unlocked state over a channel.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lib/storage/kv';
import { Keystore, type KeystoreMeta } from '../../src/lib/e2e/keystore';
import { MemoryWrapStore, unwrapDataKey, wrapDataKey } from '../../src/lib/e2e/unlockWrap';
import { E2e, type KeysChannel, type KeysMessage, ciphertextDigest } from '../../src/lib/e2e/engine.svelte';
import { SessionStore } from '../../src/lib/stores/session.svelte';
import { ApiClient } from '../../src/lib/api/client';
import { Directory, uuid } from './keydir';
import { FakeServer, pair } from './fake';

const KDF = { alg: 'argon2id' as const, m: 64, t: 1, p: 1 };
const U = uuid(1);
const V = uuid(2);
const PW = 'pass phrase one';

/** One browser: its IndexedDB (records and wrapped keys), shared by the tabs made on it. */
function browser() {
  const store = new MemoryStore();
  const wraps = new MemoryWrapStore();
  const tab = () => new Keystore(store, { kdf: KDF, wraps });
  return { store, wraps, tab };
}

/** A BroadcastChannel between tabs, delivering asynchronously to every other end. */
function channels() {
  const ends: KeysChannel[] = [];
  const sent: KeysMessage[] = [];
  return {
    sent,
    end(): KeysChannel {
      const me: KeysChannel = {
        onmessage: null,
        postMessage(m) {
          sent.push(m);
          for (const other of ends) if (other !== me) setTimeout(() => other.onmessage?.({ data: m } as MessageEvent), 0);
        },
      };
      ends.push(me);
      return me;
    },
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out: ${what}`);
}

describe('the wrapped data key', () => {
  it('is made under a key that cannot be exported, and opens only for its user and purpose', async () => {
    const dek = crypto.getRandomValues(new Uint8Array(32));
    const rec = await wrapDataKey('reload', U, dek);
    expect(rec.key.extractable).toBe(false);
    expect(rec.key.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
    await expect(crypto.subtle.exportKey('raw', rec.key)).rejects.toThrow();
    expect(Buffer.from(rec.ct).includes(Buffer.from(dek.slice(0, 8)))).toBe(false);
    expect(await unwrapDataKey('reload', U, rec)).toEqual(dek);
    expect(await unwrapDataKey('reload', V, rec)).toBeNull();
    expect(await unwrapDataKey('handover', U, rec)).toBeNull();
    const flipped = { ...rec, ct: rec.ct.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(await unwrapDataKey('reload', U, flipped)).toBeNull();
    expect(await unwrapDataKey('reload', U, undefined)).toBeNull();
  });
});

describe('Keystore: reloads without the password', () => {
  it('a password unlock keeps a wrapped copy; the next page load opens from it alone', async () => {
    const b = browser();
    const first = b.tab();
    expect(await first.resume(U)).toBe(false);
    await first.unlock(U, PW);
    await first.putSecret('k', new Uint8Array([9, 9]));
    expect(b.wraps.data.has(U)).toBe(true);
    const meta = await b.store.get<KeystoreMeta>('keys', U);
    expect(meta?.check).toBeDefined();
    // A reload: a new keystore object on the same storage, no password.
    const reloaded = b.tab();
    expect(await reloaded.resume(U)).toBe(true);
    expect(reloaded.unlockedFor).toBe(U);
    expect(await reloaded.getSecret('k')).toEqual(new Uint8Array([9, 9]));
    // Another user's keystore does not open from it.
    expect(await b.tab().resume(V)).toBe(false);
    // A browser without a place for wrapped keys asks for the password every time.
    const plain = new Keystore(b.store, { kdf: KDF });
    expect(plain.canWrap).toBe(false);
    expect(await plain.resume(U)).toBe(false);
  });

  it('"Lock on every reload" drops the copy; turned off, it comes back at once when open, else at the next unlock', async () => {
    const b = browser();
    const ks = b.tab();
    await ks.unlock(U, PW);
    await ks.setLockOnReload(U, true);
    expect(await ks.lockOnReload(U)).toBe(true);
    expect(b.wraps.data.has(U)).toBe(false);
    expect(await b.tab().resume(U)).toBe(false);
    // A password unlock keeps no copy while it is on, and the setting survives password changes and new keys.
    const next = b.tab();
    await next.unlock(U, PW);
    expect(b.wraps.data.has(U)).toBe(false);
    await next.changePassword(PW, 'pass phrase two');
    expect(await next.lockOnReload(U)).toBe(true);
    await next.reset(U, 'pass phrase two');
    expect(await next.lockOnReload(U)).toBe(true);
    expect(b.wraps.data.has(U)).toBe(false);
    // Off while open: a copy at once.
    await next.setLockOnReload(U, false);
    expect(b.wraps.data.has(U)).toBe(true);
    expect(await b.tab().resume(U)).toBe(true);
    // Off while locked: at the next unlock.
    await next.setLockOnReload(U, true);
    const locked = b.tab();
    await locked.setLockOnReload(U, false);
    expect(b.wraps.data.has(U)).toBe(false);
    await locked.unlock(U, 'pass phrase two');
    expect(b.wraps.data.has(U)).toBe(true);
  });

  it('a password change keeps the copy valid; new keys made elsewhere make it stale, and it is dropped', async () => {
    const b = browser();
    const ks = b.tab();
    await ks.unlock(U, PW);
    await ks.changePassword(PW, 'pass phrase two');
    expect(await b.tab().resume(U)).toBe(true);
    // A copy of an older data key (left behind by a reset) does not open the new keystore.
    const stale = b.wraps.data.get(U)!;
    await ks.reset(U, 'pass phrase two');
    b.wraps.data.set(U, stale);
    const reloaded = b.tab();
    expect(await reloaded.resume(U)).toBe(false);
    expect(b.wraps.data.has(U)).toBe(false);
    expect(reloaded.unlockedFor).toBeNull();
  });

  it('erase deletes every key of the browser; a tab still holding the data key writes nothing after it', async () => {
    const b = browser();
    const a = b.tab();
    await a.unlock(U, PW);
    await a.putSecret('device', new Uint8Array([1]));
    await a.cacheMessage('m1', 'd1', 'hello');
    const other = b.tab();
    await other.unlock(V, 'pass phrase of v');
    const stillOpen = b.tab();
    expect(await stillOpen.resume(U)).toBe(true);
    await a.erase();
    expect(a.unlockedFor).toBeNull();
    expect(b.wraps.data.size).toBe(0);
    expect(await b.store.get('keys', U)).toBeUndefined();
    expect(await b.store.get('keys', V)).toBeUndefined();
    expect(await b.store.get('keys', `${U}/device`)).toBeUndefined();
    expect(await b.store.get('msgcache', `${U}/m1`)).toBeUndefined();
    // The other tab has not heard yet: its writes are refused and it locks.
    await expect(stillOpen.putSecret('device', new Uint8Array([2]))).rejects.toMatchObject({ code: 'locked' });
    expect(stillOpen.unlockedFor).toBeNull();
    await expect(other.cacheMessage('m2', 'd2', 'late')).rejects.toMatchObject({ code: 'locked' });
    expect(await b.store.get('keys', `${U}/device`)).toBeUndefined();
    expect(await b.store.get('msgcache', `${V}/m2`)).toBeUndefined();
    expect(await b.tab().resume(U)).toBe(false);
  });

  it('a tab holding the old data key writes nothing after another tab started new keys', async () => {
    const b = browser();
    const a = b.tab();
    const c = b.tab();
    await a.unlock(U, PW);
    expect(await c.resume(U)).toBe(true);
    await c.reset(U, PW);
    await c.putSecret('device', new Uint8Array([3]));
    await expect(a.putSecret('device', new Uint8Array([4]))).rejects.toMatchObject({ code: 'locked' });
    expect(await c.getSecret('device')).toEqual(new Uint8Array([3]));
  });
});

describe('E2e: tabs share one unlocked state', () => {
  function tabs(n: number, dir?: Directory) {
    const b = browser();
    const ch = channels();
    const list = Array.from({ length: n }, (_, i) => {
      const deps = dir ? { api: dir.api(U, uuid(100)), deviceId: async () => uuid(100), userId: () => U } : undefined;
      // Without a directory there is no device, but handovers still need to know the user.
      const e = new E2e(b.tab(), deps ?? { api: null as never, deviceId: async () => null, userId: () => U }, { channel: ch.end() });
      void i;
      return e;
    });
    return { b, ch, list };
  }

  it('a page load opens from the wrapped copy, and decryptions wait for it instead of saying locked', async () => {
    const { b, list } = tabs(1);
    const [first] = list as [E2e];
    // The tab loaded later, on the same browser.
    const second = new E2e(b.tab());
    await first.unlock(U, PW);
    const ct = new Uint8Array([8, 1, 2, 3]);
    await first.keystore.cacheMessage('m1', ciphertextDigest(ct), 'cached text');
    first.lock();
    const m = { id: 'm1', channel_id: V, sender_id: V, deleted: false, content: { kind: 'encrypted' as const, ciphertext: btoa(String.fromCharCode(...ct)) } };
    // The second tab loads now: opening, then open; a decryption asked meanwhile reads.
    const opening = second.resume(U);
    expect(second.status).toBe('opening');
    expect(second.sendBlock({ e2e: true })).toBe('setting_up');
    const read = second.decrypt(m);
    expect(await opening).toBe(true);
    expect(second.status).toBe('unlocked');
    expect(await read).toEqual({ ok: true, text: 'cached text' });
    expect(second.lockOnReload).toBe(false);
    // The text is known to the tab for quotes and edits, for this ciphertext only.
    expect(second.textOf(m)).toBe('cached text');
    expect(second.textOf({ ...m, content: { kind: 'encrypted', ciphertext: 'AQID' } })).toBeNull();
    expect(second.textOf({ ...m, deleted: true })).toBeNull();
    expect(second.textOf({ id: 'p', content: { kind: 'text', text: 'plain' }, deleted: false })).toBe('plain');
    second.lock();
    expect(second.textOf(m)).toBeNull();
    expect(b.wraps.data.has(U)).toBe(true);
  });

  it('a password unlock in one tab opens the others; "Lock now" locks them all and drops the copy', async () => {
    const { b, ch, list } = tabs(3);
    const [a, c, d] = list as [E2e, E2e, E2e];
    await a.unlock(U, PW);
    await until(() => c.status === 'unlocked' && d.status === 'unlocked', 'the other tabs open');
    expect(c.keystore.unlockedFor).toBe(U);
    // What was handed over carries no key bytes: only a wrapped key under a non-extractable one.
    const h = ch.sent.find((m) => m.t === 'unlocked');
    expect(h && h.t === 'unlocked' && h.handover.rec.key.extractable).toBe(false);
    await c.lockEverywhere();
    await until(() => a.status === 'locked' && d.status === 'locked', 'the other tabs lock');
    expect(a.keystore.unlockedFor).toBeNull();
    expect(b.wraps.data.has(U)).toBe(false);
    // The next page load asks for the password.
    expect(await new E2e(b.tab()).resume(U)).toBe(false);
  });

  it('under "Lock on every reload" open tabs still follow an unlock, a page load does not open', async () => {
    const { b, list } = tabs(2);
    const [a, c] = list as [E2e, E2e];
    await a.unlock(U, PW);
    await until(() => c.status === 'unlocked', 'the other tab opens');
    await a.setLockOnReload(true);
    await until(() => c.lockOnReload === true, 'the other tab shows the setting');
    expect(b.wraps.data.has(U)).toBe(false);
    a.lock();
    c.lock();
    const reloaded = new E2e(b.tab());
    expect(await reloaded.resume(U)).toBe(false);
    expect(reloaded.status).toBe('locked');
    expect(reloaded.lockOnReload).toBe(true);
    await a.unlock(U, PW);
    await until(() => c.status === 'unlocked', 'the other tab follows the password unlock');
    expect(b.wraps.data.has(U)).toBe(false);
    await c.setLockOnReload(false);
    expect(b.wraps.data.has(U)).toBe(true);
  });

  it('a handover for another user, or one that does not open this keystore, is ignored', async () => {
    const { list } = tabs(2);
    const [a, c] = list as [E2e, E2e];
    await a.unlock(U, PW);
    await until(() => c.status === 'unlocked', 'opened');
    c.lock();
    const h = await a.keystore.handover();
    const send = (m: KeysMessage) => (c as unknown as { onMessage(m: KeysMessage): Promise<void> }).onMessage(m);
    await send({ t: 'unlocked', handover: { ...h!, user: V } });
    expect(c.status).toBe('locked');
    const foreign = await wrapDataKey('handover', U, crypto.getRandomValues(new Uint8Array(32)));
    await send({ t: 'unlocked', handover: { user: U, rec: foreign } });
    expect(c.status).toBe('locked');
    await send({ t: 'unlocked', handover: h! });
    expect(c.status).toBe('unlocked');
  });

  it('a lock while the keys open from the copy leaves them locked; a password unlock meanwhile wins', async () => {
    const { b, list } = tabs(1);
    const [a] = list as [E2e];
    await a.unlock(U, PW);
    a.lock();
    const opening = a.resume(U);
    a.lock();
    expect(await opening).toBe(false);
    expect(a.status).toBe('locked');
    expect(a.keystore.unlockedFor).toBeNull();
    const again = a.resume(U);
    const pw = a.unlock(U, PW);
    await Promise.all([again, pw]);
    expect(a.status).toBe('unlocked');
    expect(a.keystore.unlockedFor).toBe(U);
    expect(b.wraps.data.has(U)).toBe(true);
  });

  it('erase locks every tab and deletes the keys, the device record included', async () => {
    const dir = new Directory();
    const { b, list } = tabs(2, dir);
    const [a, c] = list as [E2e, E2e];
    await a.unlock(U, PW);
    expect(a.device).toBe('ready');
    await until(() => c.device === 'ready', 'the other tab opens its device');
    const held: string[] = [];
    await a.erase();
    await until(() => c.status === 'locked', 'the other tab locks');
    expect(c.device).toBe('none');
    for (const k of [U, `${U}/device`, `${U}/user_key`]) if (await b.store.get('keys', k)) held.push(k);
    expect(held).toEqual([]);
    expect(b.wraps.data.size).toBe(0);
    expect(a.lockOnReload).toBeNull();
  });
});

describe('SessionStore: the end of a session', () => {
  it('tells the app when this tab saw it end (logout, or the server no longer knowing it)', async () => {
    const server = new FakeServer();
    const store = new MemoryStore();
    await store.put('auth', 'session', { user_id: 'u', username: 'alice', session_id: 's', refresh_token: 'r0' });
    let revoked = true;
    server.on('POST', '/sessions/refresh', () =>
      revoked ? { status: 401, body: { code: 'invalid_refresh_token', message: 'revoked' } } : { status: 200, body: pair(1, Date.now()) },
    );
    const api = new ApiClient({ store, fetch: server.fetch });
    const session = new SessionStore(api);
    const ended: string[] = [];
    session.onEnded = (r) => ended.push(r);
    await session.resume();
    expect(session.status).toBe('signed_out');
    expect(ended).toEqual(['expired']);

    await store.put('auth', 'session', { user_id: 'u', username: 'alice', session_id: 's', refresh_token: 'r1' });
    revoked = false;
    server.on('DELETE', '/sessions/current', { status: 204 });
    await api.refresh();
    await session.logout();
    expect(ended).toEqual(['expired', 'logout']);
    // A device forgotten ("remove this device") is not offered at the next sign-in.
    await store.put('devices', 'alice', { device_id: 'd', device_secret: 's' });
    await api.forgetDevice('Alice');
    expect(await store.get('devices', 'alice')).toBeUndefined();
  });
});
