import { describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../../src/lib/storage/kv';
import { Keystore, KeystoreError, type KeystoreMeta } from '../../src/lib/e2e/keystore';
import { E2e, ciphertextDigest } from '../../src/lib/e2e/engine.svelte';

// Small Argon2id parameters keep the tests fast; the wrapping is the same.
const KDF = { alg: 'argon2id' as const, m: 64, t: 1, p: 1 };
const U = '0193aaaa-0000-7000-8000-000000000001';
const V = '0193bbbb-0000-7000-8000-000000000002';

function setup() {
  const store = new MemoryStore();
  return { store, ks: new Keystore(store, { kdf: KDF }) };
}

describe('Keystore', () => {
  it('creates a keystore on first unlock and seals what it stores', async () => {
    const { store, ks } = setup();
    expect(await ks.exists(U)).toBe(false);
    expect(await ks.unlock(U, 'pass phrase one')).toBe('created');
    expect(ks.unlockedFor).toBe(U);
    const secret = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    await ks.putSecret('identity', secret);
    expect(await ks.getSecret('identity')).toEqual(secret);
    // The stored record is not the secret.
    const raw = await store.get<{ nonce: string; ct: string }>('keys', `${U}/identity`);
    expect(raw).toBeDefined();
    const ct = Uint8Array.from(atob(raw!.ct), (c) => c.charCodeAt(0));
    expect(ct.length).toBe(secret.length + 16);
    expect(Buffer.from(ct).includes(Buffer.from(secret.slice(0, 8)))).toBe(false);
    const meta = await store.get<KeystoreMeta>('keys', U);
    expect(meta?.kdf).toMatchObject({ alg: 'argon2id', m: 64, t: 1, p: 1 });
  });

  it('opens again with the right password only', async () => {
    const { store, ks } = setup();
    await ks.unlock(U, 'pass phrase one');
    await ks.putSecret('k', new Uint8Array([42]));
    ks.lock();
    await expect(ks.getSecret('k')).rejects.toMatchObject({ code: 'locked' });

    const again = new Keystore(store, { kdf: KDF });
    await expect(again.unlock(U, 'wrong pass phrase')).rejects.toBeInstanceOf(KeystoreError);
    await expect(again.unlock(U, 'wrong pass phrase')).rejects.toMatchObject({ code: 'wrong_password' });
    expect(again.unlockedFor).toBeNull();
    expect(await again.unlock(U, 'pass phrase one')).toBe('unlocked');
    expect(await again.getSecret('k')).toEqual(new Uint8Array([42]));
  });

  it('re-seals under a new password and keeps the contents', async () => {
    const { store, ks } = setup();
    await ks.unlock(U, 'old pass phrase');
    await ks.putSecret('k', new Uint8Array([7, 7]));
    await ks.cacheMessage('m1', 'd1', 'hello');
    await expect(ks.changePassword('not the old one', 'new pass phrase')).rejects.toMatchObject({ code: 'wrong_password' });
    await ks.unlock(U, 'old pass phrase');
    await ks.changePassword('old pass phrase', 'new pass phrase');
    const fresh = new Keystore(store, { kdf: KDF });
    await expect(fresh.unlock(U, 'old pass phrase')).rejects.toMatchObject({ code: 'wrong_password' });
    await fresh.unlock(U, 'new pass phrase');
    expect(await fresh.getSecret('k')).toEqual(new Uint8Array([7, 7]));
    expect(await fresh.cachedMessage('m1', 'd1')).toBe('hello');
  });

  it('binds records to their slot and their user: moved records do not open', async () => {
    const { store, ks } = setup();
    await ks.unlock(U, 'pass phrase one');
    await ks.putSecret('a', new Uint8Array([1]));
    await ks.putSecret('b', new Uint8Array([2]));
    // swap the two records
    const a = await store.get('keys', `${U}/a`);
    const b = await store.get('keys', `${U}/b`);
    await store.put('keys', `${U}/a`, b);
    await store.put('keys', `${U}/b`, a);
    expect(await ks.getSecret('a')).toBeNull();
    expect(await ks.getSecret('b')).toBeNull();
    // a flipped bit does not open either
    await ks.putSecret('c', new Uint8Array([3, 3, 3]));
    const c = (await store.get<{ nonce: string; ct: string }>('keys', `${U}/c`))!;
    const bytes = Uint8Array.from(atob(c.ct), (x) => x.charCodeAt(0));
    bytes[0]! ^= 1;
    await store.put('keys', `${U}/c`, { ...c, ct: btoa(String.fromCharCode(...bytes)) });
    expect(await ks.getSecret('c')).toBeNull();
    // another user's keystore with the same password is a different key
    const other = new Keystore(store, { kdf: KDF });
    await other.unlock(V, 'pass phrase one');
    await store.put('keys', `${V}/a`, a);
    expect(await other.getSecret('a')).toBeNull();
  });

  it('seals cached texts with AES-GCM by WebCrypto, bound to their slot, and still reads older ones', async () => {
    const { store, ks } = setup();
    // a text cached where WebCrypto was missing: XChaCha20-Poly1305 under the data key
    const real = (await import('node:crypto')).webcrypto;
    vi.stubGlobal('crypto', { getRandomValues: (a: Uint8Array) => real.getRandomValues(a) });
    await ks.unlock(U, 'pass phrase one');
    await ks.cacheMessage('old', 'd0', 'from before');
    vi.unstubAllGlobals();
    const legacy = (await store.get<{ sealed: { alg?: string } }>('msgcache', `${U}/old`))!;
    expect(legacy.sealed.alg).toBeUndefined();
    ks.lock();
    await ks.unlock(U, 'pass phrase one');
    await ks.cacheMessage('m1', 'd1', 'first text');
    await ks.cacheMessage('m2', 'd2', 'second text');
    const r1 = (await store.get<{ digest: string; sealed: { nonce: string; ct: string; alg?: string } }>('msgcache', `${U}/m1`))!;
    expect(r1.sealed.alg).toBe('aes-gcm');
    expect(atob(r1.sealed.nonce).length).toBe(12);
    expect(atob(r1.sealed.ct)).not.toContain('first text');
    expect(await ks.cachedMessages([{ id: 'old', digest: 'd0' }, { id: 'm1', digest: 'd1' }, { id: 'm2', digest: 'd2' }])).toEqual([
      'from before',
      'first text',
      'second text',
    ]);
    // moved to another message, or a flipped bit: it does not open
    const r2 = await store.get('msgcache', `${U}/m2`);
    await store.put('msgcache', `${U}/m2`, { ...r1, digest: 'd2' });
    expect(await ks.cachedMessage('m2', 'd2')).toBeNull();
    await store.put('msgcache', `${U}/m2`, r2);
    const ct = Uint8Array.from(atob(r1.sealed.ct), (x) => x.charCodeAt(0));
    ct[3]! ^= 1;
    await store.put('msgcache', `${U}/m1`, { ...r1, sealed: { ...r1.sealed, ct: btoa(String.fromCharCode(...ct)) } });
    expect(await ks.cachedMessage('m1', 'd1')).toBeNull();
    expect(await ks.cachedMessage('m2', 'd2')).toBe('second text');
    // another keystore's data key derives another text key
    const other = new Keystore(store, { kdf: KDF });
    await other.unlock(V, 'pass phrase one');
    await store.put('msgcache', `${V}/m2`, r2);
    expect(await other.cachedMessage('m2', 'd2')).toBeNull();
  });

  it('caches decrypted messages per ciphertext and forgets them on reset', async () => {
    const { ks } = setup();
    await ks.unlock(U, 'pass phrase one');
    await ks.cacheMessage('m1', 'digest-1', 'secret text');
    expect(await ks.cachedMessage('m1', 'digest-1')).toBe('secret text');
    // an edit brings another ciphertext: the old plaintext is not served for it
    expect(await ks.cachedMessage('m1', 'digest-2')).toBeNull();
    expect(await ks.cachedMessage('m2', 'digest-1')).toBeNull();
    await ks.reset(U, 'another pass phrase');
    expect(await ks.cachedMessage('m1', 'digest-1')).toBeNull();
  });
});

describe('E2e engine', () => {
  it('never lets an E2E channel send while the keys are locked or missing, and lets plaintext channels', async () => {
    const e2e = new E2e(setup().ks);
    expect(e2e.sendBlock({ e2e: true })).toBe('locked');
    expect(e2e.sendBlock({ e2e: false })).toBeNull();
    await expect(e2e.encrypt({ id: U, kind: 'text', e2e: true }, 'hello')).rejects.toThrow(/locked/);
    await e2e.unlock(U, 'pass phrase one');
    // Unlocked, but without a device (no network here): still refused.
    expect(e2e.sendBlock({ e2e: true })).toBe('unavailable');
    await expect(e2e.encrypt({ id: U, kind: 'text', e2e: true }, 'hello')).rejects.toThrow(/no usable encryption keys/);
  });

  it('reports undecryptable and damaged ciphertext plainly, and serves cached plaintext', async () => {
    const { ks } = setup();
    const e2e = new E2e(ks);
    const ct = new Uint8Array([8, 1, 2, 3, 4]);
    const b64 = btoa(String.fromCharCode(...ct));
    const base = { channel_id: V, sender_id: V };
    const m = { ...base, id: 'm1', content: { kind: 'encrypted' as const, ciphertext: b64 } };
    expect(await e2e.decrypt(m)).toEqual({ ok: false, reason: 'locked' });
    expect(await e2e.decrypt({ ...base, id: 'm2', content: { kind: 'encrypted', ciphertext: '***' } })).toEqual({ ok: false, reason: 'malformed' });
    expect(await e2e.decrypt({ ...base, id: 'm3', content: { kind: 'encrypted', ciphertext: '' } })).toEqual({ ok: false, reason: 'malformed' });
    await e2e.unlock(U, 'pass phrase one');
    expect(e2e.status).toBe('unlocked');
    expect(await e2e.decrypt(m)).toEqual({ ok: false, reason: 'no_key' });
    await ks.cacheMessage('m1', ciphertextDigest(ct), 'from the cache');
    expect(await e2e.decrypt(m)).toEqual({ ok: true, text: 'from the cache' });
    e2e.lock();
    expect(e2e.status).toBe('locked');
    expect(await e2e.decrypt(m)).toEqual({ ok: false, reason: 'locked' });
    await expect(e2e.unlock(U, 'wrong one')).rejects.toMatchObject({ code: 'wrong_password' });
    expect(e2e.status).toBe('wrong_password');
  });

  it('decrypts a message asked for twice at once only once; after a failure it tries again', async () => {
    const { ks } = setup();
    const e2e = new E2e(ks);
    await e2e.unlock(U, 'pass phrase one');
    // A device whose ratchet refuses a second decryption of the same message (as a replay).
    let calls = 0;
    let keyArrived = false;
    const done = new Set<string>();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const dev = {
      isOwn: () => false,
      decrypt: async (m: { id: string }) => {
        calls++;
        await gate;
        if (!keyArrived) throw Object.assign(new Error('no sender key'), { name: 'E2eFailure', reason: 'unknown_sender_key' });
        if (done.has(m.id)) throw Object.assign(new Error('Duplicate'), { name: 'E2eFailure', reason: 'failed' });
        done.add(m.id);
        return { kind: 'text', text: `text of ${m.id}` };
      },
      // As the device: one after the other, each answered with its body or its failure.
      async decryptMany(ms: { id: string }[]) {
        const out = [];
        for (const m of ms) out.push(await this.decrypt(m as never).then((body: unknown) => ({ ok: true, body }), (error: unknown) => ({ ok: false, error })));
        return out;
      },
      keyChanges: [],
      warnings: [],
    };
    Object.assign(e2e as unknown as Record<string, unknown>, { dev });
    const msg = (id: string) => ({ id, channel_id: V, sender_id: V, content: { kind: 'encrypted' as const, ciphertext: btoa(`x${id}`) } });
    // Asked again (new keys arrived) while the first is running: one decryption answers both.
    keyArrived = true;
    const first = e2e.decrypt(msg('a'));
    const second = e2e.decrypt(msg('a'));
    release();
    expect(await Promise.all([first, second])).toEqual([
      { ok: true, text: 'text of a' },
      { ok: true, text: 'text of a' },
    ]);
    expect(calls).toBe(1);
    // The first fails (no key yet); the second, asked once the key came, runs after it and reads.
    keyArrived = false;
    const failing = e2e.decrypt(msg('b'));
    const retried = e2e.decrypt(msg('b'));
    const r1 = await failing;
    keyArrived = true;
    expect(r1).toMatchObject({ ok: false, reason: 'no_key' });
    expect(await retried).toEqual({ ok: true, text: 'text of b' });
    expect(calls).toBe(3);
  });
});
