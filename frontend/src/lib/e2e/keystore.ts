// The end-to-end keystore: private keys and the decrypted-message cache, kept in IndexedDB
// (stores `keys` and `msgcache`) and never in the clear. Every record is sealed with
// XChaCha20-Poly1305 under a random 32-byte data key; the data key itself is sealed under a key
// derived from the account password with Argon2id, and, unless "Lock on every reload" is set,
// also wrapped by a non-extractable WebCrypto key of this browser (`unlockWrap.ts`), so that a
// reload or a new tab opens the keystore without the password (`resume`). A password change
// re-seals only the data key. The associated data of every seal names the user and the
// record's slot, so records cannot be moved between slots or accounts without failing to open.
// Sign-out and a revoked session erase the whole keystore of the browser (`erase`).

import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { KeyValueStore, Put, StoreName } from '../storage/kv';
import { unwrapDataKey, wrapDataKey, type WrapRecord, type WrapStore } from './unlockWrap';

export interface KdfParams {
  alg: 'argon2id';
  /** Memory, KiB. */
  m: number;
  /** Passes. */
  t: number;
  /** Lanes. */
  p: number;
}

/** OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane (about a second in a browser). */
export const DEFAULT_KDF: KdfParams = { alg: 'argon2id', m: 19456, t: 2, p: 1 };

const VERSION = 1;
const KEY_LEN = 32;
const NONCE_LEN = 24;
const SALT_LEN = 16;

export interface Sealed {
  nonce: string;
  ct: string;
  /**
   * `aes-gcm`: a cached text sealed with AES-256-GCM (12-byte nonce) under a key derived from the
   * data key (`TEXT_KEY_INFO`), by the platform's WebCrypto; absent: XChaCha20-Poly1305 under
   * the data key itself (every other record, and texts where WebCrypto is missing).
   */
  alg?: 'aes-gcm';
}

/** HKDF-SHA256 info of the key that seals cached texts (the data key is the input). */
const TEXT_KEY_INFO = 'chatalot-keystore/text-key/aes-256-gcm/v1';

/** The per-user header (store `keys`, key `<user id>`). */
export interface KeystoreMeta {
  v: number;
  kdf: KdfParams & { salt: string };
  /** The data key, sealed under the password key. */
  dek: Sealed;
  created_at: string;
  /**
   * A constant sealed under the data key (slot `check`): tells whether a data key from a
   * wrapped copy or another tab is this keystore's. Added at the first unlock by this version.
   */
  check?: Sealed;
  /** "Lock on every reload": no wrapped copy of the data key is kept; absent means off. */
  lock_on_reload?: boolean;
}

/**
 * A cached plaintext (store `msgcache`, key `<user id>/<message id>`), sealed. `digest` names
 * the ciphertext it was decrypted from (an edit replaces the ciphertext; a reaction does not).
 */
interface CachedRecord {
  digest: string;
  sealed: Sealed;
}

/** A decrypted message's text, for the cache: `digest` names the ciphertext it was read from. */
export interface CachedText {
  id: string;
  digest: string;
  text: string;
}

export type KeystoreErrorCode = 'wrong_password' | 'locked' | 'corrupt';

export class KeystoreError extends Error {
  readonly code: KeystoreErrorCode;
  constructor(code: KeystoreErrorCode, message: string) {
    super(message);
    this.name = 'KeystoreError';
    this.code = code;
  }
}

export interface KeystoreOptions {
  kdf?: KdfParams;
  random?: (n: number) => Uint8Array;
  /** Where the wrapped copy of the data key is kept; none: the password is asked after every reload. */
  wraps?: WrapStore | null;
}

/** The data key handed to the other tabs of this browser, wrapped under an in-memory key. */
export interface Handover {
  user: string;
  rec: WrapRecord;
}

const CHECK_SLOT = 'check';
const CHECK_VALUE = 'chatalot-keystore-check';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function systemRandom(n: number): Uint8Array {
  const out = new Uint8Array(n);
  crypto.getRandomValues(out);
  return out;
}

function aad(userId: string, slot: string): Uint8Array {
  return enc.encode(`chatalot-keystore/v${VERSION}\u0000${userId}\u0000${slot}`);
}

export class Keystore {
  private readonly store: KeyValueStore;
  private readonly kdf: KdfParams;
  private readonly random: (n: number) => Uint8Array;
  private readonly wraps: WrapStore | null;
  private dek: Uint8Array | null = null;
  /** The key of cached texts, for the data key it was derived from (`textKey`). */
  private textKeyOf: { dek: Uint8Array; key: Promise<CryptoKey | null> } | null = null;
  private user: string | null = null;
  /** The `check` of the header last seen to open under the held data key. */
  private checked: string | null = null;

  constructor(store: KeyValueStore, opts: KeystoreOptions = {}) {
    this.store = store;
    this.kdf = opts.kdf ?? DEFAULT_KDF;
    this.random = opts.random ?? systemRandom;
    this.wraps = opts.wraps ?? null;
  }

  /** Whether this keystore can keep a wrapped copy of its data key (reloads without the password). */
  get canWrap(): boolean {
    return this.wraps !== null;
  }

  /** The user whose keystore is open, or null while locked. */
  get unlockedFor(): string | null {
    return this.user;
  }

  async exists(userId: string): Promise<boolean> {
    return (await this.store.get<KeystoreMeta>('keys', userId)) !== undefined;
  }

  private seal(key: Uint8Array, userId: string, slot: string, plain: Uint8Array): Sealed {
    const nonce = this.random(NONCE_LEN);
    const ct = xchacha20poly1305(key, nonce, aad(userId, slot)).encrypt(plain);
    return { nonce: toBase64(nonce), ct: toBase64(ct) };
  }

  /**
   * The WebCrypto key of cached texts for data key `dek` (non-extractable, derived once per
   * unlock), or null where WebCrypto's AES-GCM is missing.
   */
  private textKey(dek: Uint8Array): Promise<CryptoKey | null> {
    if (this.textKeyOf?.dek !== dek) {
      const subtle = globalThis.crypto?.subtle;
      let key: Promise<CryptoKey | null> = Promise.resolve(null);
      if (subtle) {
        const raw = hkdf(sha256, dek, undefined, enc.encode(TEXT_KEY_INFO), 32);
        key = subtle
          .importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
          .catch(() => null)
          .finally(() => raw.fill(0));
      }
      this.textKeyOf = { dek, key };
    }
    return this.textKeyOf.key;
  }

  /** A cached text sealed (AES-256-GCM by WebCrypto where it can, else as every record). */
  private async sealText(dek: Uint8Array, userId: string, slot: string, plain: Uint8Array): Promise<Sealed> {
    const key = await this.textKey(dek);
    if (!key) return this.seal(dek, userId, slot, plain);
    const nonce = this.random(12);
    const ct = new Uint8Array(
      await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce as Uint8Array<ArrayBuffer>, additionalData: aad(userId, slot) as Uint8Array<ArrayBuffer> }, key, plain as Uint8Array<ArrayBuffer>),
    );
    return { nonce: toBase64(nonce), ct: toBase64(ct), alg: 'aes-gcm' };
  }

  /** A cached text opened, either way it was sealed; null when it does not open. */
  private async unsealText(dek: Uint8Array, userId: string, slot: string, s: Sealed): Promise<Uint8Array | null> {
    if (s.alg !== 'aes-gcm') return Keystore.unseal(dek, userId, slot, s);
    const key = await this.textKey(dek);
    if (!key) return null;
    try {
      const nonce = fromBase64(s.nonce);
      if (nonce.length !== 12) return null;
      const plain = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: nonce as Uint8Array<ArrayBuffer>, additionalData: aad(userId, slot) as Uint8Array<ArrayBuffer> },
        key,
        fromBase64(s.ct) as Uint8Array<ArrayBuffer>,
      );
      return new Uint8Array(plain);
    } catch {
      return null;
    }
  }

  private static unseal(key: Uint8Array, userId: string, slot: string, s: Sealed): Uint8Array | null {
    if (s.alg !== undefined) return null;
    try {
      const nonce = fromBase64(s.nonce);
      if (nonce.length !== NONCE_LEN) return null;
      return xchacha20poly1305(key, nonce, aad(userId, slot)).decrypt(fromBase64(s.ct));
    } catch {
      return null;
    }
  }

  private static async passwordKey(password: string, kdf: KeystoreMeta['kdf']): Promise<Uint8Array> {
    // Loaded when first needed (at sign-in), not with the first page.
    const { argon2idAsync } = await import('@noble/hashes/argon2.js');
    return argon2idAsync(enc.encode(password), fromBase64(kdf.salt), {
      m: kdf.m,
      t: kdf.t,
      p: kdf.p,
      dkLen: KEY_LEN,
      asyncTick: 20,
    });
  }

  private async writeMeta(userId: string, password: string, dek: Uint8Array, createdAt: string, lockOnReload: boolean): Promise<void> {
    const kdf = { ...this.kdf, salt: toBase64(this.random(SALT_LEN)) };
    const pk = await Keystore.passwordKey(password, kdf);
    const meta: KeystoreMeta = {
      v: VERSION,
      kdf,
      dek: this.seal(pk, userId, 'dek', dek),
      created_at: createdAt,
      check: this.seal(dek, userId, CHECK_SLOT, enc.encode(CHECK_VALUE)),
    };
    if (lockOnReload) meta.lock_on_reload = true;
    pk.fill(0);
    await this.store.put('keys', userId, meta);
  }

  /** Whether `dek` is the data key of this header (a header without `check` takes any). */
  private static opens(userId: string, meta: KeystoreMeta, dek: Uint8Array): boolean {
    if (!meta.check) return true;
    const plain = Keystore.unseal(dek, userId, CHECK_SLOT, meta.check);
    return plain !== null && dec.decode(plain) === CHECK_VALUE;
  }

  private take(userId: string, dek: Uint8Array, meta: KeystoreMeta | undefined): void {
    this.lock();
    this.dek = dek;
    this.user = userId;
    this.checked = meta?.check?.ct ?? null;
  }

  /**
   * After a password unlock: adds `check` to a header of an earlier version, then keeps the
   * wrapped copy of the data key, or drops it under "Lock on every reload". A failure here
   * leaves the password path as it was.
   */
  private async afterUnlock(userId: string, dek: Uint8Array): Promise<void> {
    try {
      const meta = await this.store.get<KeystoreMeta>('keys', userId);
      if (!meta) return;
      if (!meta.check) {
        meta.check = this.seal(dek, userId, CHECK_SLOT, enc.encode(CHECK_VALUE));
        await this.store.put('keys', userId, meta);
        this.checked = meta.check.ct;
      }
      if (!this.wraps) return;
      if (meta.lock_on_reload) await this.wraps.delete(userId);
      else await this.wraps.put(userId, await wrapDataKey('reload', userId, dek));
    } catch {
      // The keys are open; only the next reload asks for the password again.
    }
  }

  /**
   * Opens the user's keystore with the password, creating it when there is none. Throws
   * `wrong_password` when the stored data key does not open (a different password, e.g. after
   * an account recovery: see `reset`).
   */
  async unlock(userId: string, password: string, lockOnReload = false): Promise<'created' | 'unlocked'> {
    const meta = await this.store.get<KeystoreMeta>('keys', userId);
    if (!meta) {
      const dek = this.random(KEY_LEN);
      await this.writeMeta(userId, password, dek, new Date().toISOString(), lockOnReload);
      this.take(userId, dek, await this.store.get<KeystoreMeta>('keys', userId));
      await this.afterUnlock(userId, dek);
      return 'created';
    }
    if (meta.v !== VERSION || meta.kdf?.alg !== 'argon2id') {
      throw new KeystoreError('corrupt', 'The stored keystore has an unknown format.');
    }
    const pk = await Keystore.passwordKey(password, meta.kdf);
    const dek = Keystore.unseal(pk, userId, 'dek', meta.dek);
    pk.fill(0);
    if (!dek || dek.length !== KEY_LEN) {
      throw new KeystoreError('wrong_password', 'The password does not open the encryption keys kept on this browser.');
    }
    this.take(userId, dek, meta);
    await this.afterUnlock(userId, dek);
    return 'unlocked';
  }

  /**
   * Opens the user's keystore without the password, from the wrapped copy of its data key.
   * False when there is none (never unlocked here, "Lock on every reload", erased) or it does
   * not open this keystore (a copy left from keys started over elsewhere, which is dropped).
   */
  async resume(userId: string): Promise<boolean> {
    if (!this.wraps) return false;
    const meta = await this.store.get<KeystoreMeta>('keys', userId);
    if (!meta || meta.v !== VERSION || !meta.check) return false;
    if (meta.lock_on_reload) {
      await this.wraps.delete(userId).catch(() => {});
      return false;
    }
    const rec = await this.wraps.get(userId).catch(() => undefined);
    if (!rec) return false;
    const dek = await unwrapDataKey('reload', userId, rec);
    if (!dek || dek.length !== KEY_LEN || !Keystore.opens(userId, meta, dek)) {
      dek?.fill(0);
      await this.wraps.delete(userId).catch(() => {});
      return false;
    }
    this.take(userId, dek, meta);
    return true;
  }

  /** The open data key wrapped under a fresh in-memory key, for the other tabs of this browser. */
  async handover(): Promise<Handover | null> {
    if (!this.dek || !this.user) return null;
    return { user: this.user, rec: await wrapDataKey('handover', this.user, this.dek) };
  }

  /**
   * Opens the keystore with the data key another tab handed over: `same` when it is the one
   * held already, `refused` when it does not open this user's keystore.
   */
  async openHandover(h: Handover): Promise<'opened' | 'same' | 'refused'> {
    const meta = await this.store.get<KeystoreMeta>('keys', h.user);
    if (!meta || meta.v !== VERSION) return 'refused';
    const dek = await unwrapDataKey('handover', h.user, h.rec);
    if (!dek || dek.length !== KEY_LEN || !Keystore.opens(h.user, meta, dek)) {
      dek?.fill(0);
      return 'refused';
    }
    if (this.user === h.user && this.dek && this.dek.length === dek.length && this.dek.every((b, i) => b === dek[i])) {
      dek.fill(0);
      return 'same';
    }
    this.take(h.user, dek, meta);
    return 'opened';
  }

  /** Whether "Lock on every reload" is set for the user (false without a keystore). */
  async lockOnReload(userId: string): Promise<boolean> {
    return (await this.store.get<KeystoreMeta>('keys', userId))?.lock_on_reload === true;
  }

  /**
   * Sets "Lock on every reload": on drops the wrapped copy of the data key; off keeps one again,
   * at once when the keystore is open, else at the next unlock with the password.
   */
  async setLockOnReload(userId: string, on: boolean): Promise<void> {
    const meta = await this.store.get<KeystoreMeta>('keys', userId);
    if (!meta) throw new KeystoreError('locked', 'There are no encryption keys on this browser yet.');
    if (on) meta.lock_on_reload = true;
    else delete meta.lock_on_reload;
    await this.store.put('keys', userId, meta);
    if (!this.wraps) return;
    if (on) await this.wraps.delete(userId);
    else if (this.user === userId && this.dek) await this.wraps.put(userId, await wrapDataKey('reload', userId, this.dek));
  }

  /** Drops the wrapped copy of the user's data key: the next page load asks for the password. */
  async dropWrap(userId: string): Promise<void> {
    await this.wraps?.delete(userId);
  }

  /**
   * Deletes every key this browser holds: all keystores and cached messages (stores `keys` and
   * `msgcache`) and the database of wrapped keys; the held data key is forgotten first.
   */
  async erase(): Promise<void> {
    this.lock();
    await this.store.clear('keys');
    await this.store.clear('msgcache');
    await this.wraps?.destroy();
  }

  /** Forgets the data key (at sign-out). */
  lock(): void {
    this.dek?.fill(0);
    this.dek = null;
    this.textKeyOf = null;
    this.user = null;
    this.checked = null;
  }

  private need(): { dek: Uint8Array; user: string } {
    if (!this.dek || !this.user) throw new KeystoreError('locked', 'The encryption keys are locked.');
    return { dek: this.dek, user: this.user };
  }

  /**
   * `need`, for a write: the keystore must still be the one opened. When another tab erased it
   * (sign-out) or started new keys, nothing is written under the old data key and it locks.
   */
  private async needCurrent(): Promise<{ dek: Uint8Array; user: string }> {
    const held = this.need();
    this.checkCurrent(held, await this.store.get<KeystoreMeta>('keys', held.user));
    return held;
  }

  /** The check of `needCurrent` on the header as read (`meta`): throws, and locks, when it fails. */
  private checkCurrent(held: { dek: Uint8Array; user: string }, meta: KeystoreMeta | undefined): void {
    if (meta && (meta.check?.ct === this.checked || Keystore.opens(held.user, meta, held.dek))) {
      this.checked = meta.check?.ct ?? null;
      return;
    }
    if (this.dek === held.dek) this.lock();
    throw new KeystoreError('locked', 'The encryption keys of this browser were removed or replaced.');
  }

  /** Re-seals the data key under a new password; everything sealed under it stays readable. */
  async changePassword(oldPassword: string, newPassword: string): Promise<void> {
    const { user } = this.need();
    await this.unlock(user, oldPassword);
    const { dek } = this.need();
    const meta = await this.store.get<KeystoreMeta>('keys', user);
    await this.writeMeta(user, newPassword, dek, meta?.created_at ?? new Date().toISOString(), meta?.lock_on_reload === true);
    this.checked = (await this.store.get<KeystoreMeta>('keys', user))?.check?.ct ?? null;
  }

  /**
   * Starts over with a new data key under `password`: what was sealed before can no longer be
   * opened (the keys of this browser are lost, as after a recovery with a new password).
   */
  async reset(userId: string, password: string): Promise<void> {
    const lockOnReload = await this.lockOnReload(userId);
    await this.store.delete('keys', userId);
    await this.unlock(userId, password, lockOnReload);
  }

  /**
   * Stores a secret (a private key's serialized state) under a name; its stamp (the nonce it
   * was sealed with: a stored value is still this one while its stamp is).
   */
  async putSecret(name: string, value: Uint8Array): Promise<string> {
    return (await this.commit([], { name, value }))!;
  }

  /**
   * Writes texts into the message cache and, with them, a secret (the device record): one
   * transaction, which first checks that the keystore is still the one opened (as
   * `needCurrent`), all or nothing. A message's text and the ratchet state that used its key
   * are stored together, or neither. Returns the secret's stamp (null without one).
   */
  async commit(texts: CachedText[], secret?: { name: string; value: Uint8Array }): Promise<string | null> {
    const held = this.need();
    const { dek, user } = held;
    const puts: Put[] = await Promise.all(
      texts.map(async (t) => ({
        store: 'msgcache' as const,
        key: `${user}/${t.id}`,
        value: { digest: t.digest, sealed: await this.sealText(dek, user, `msg/${t.id}/${t.digest}`, enc.encode(t.text)) } satisfies CachedRecord,
      })),
    );
    let stamp: string | null = null;
    if (secret) {
      const sealed = this.seal(dek, user, `secret/${secret.name}`, secret.value);
      puts.push({ store: 'keys', key: `${user}/${secret.name}`, value: sealed });
      stamp = sealed.nonce;
    }
    if (!puts.length) return null;
    const stores: StoreName[] = secret ? ['keys', 'msgcache'] : ['msgcache'];
    await this.store.putIf<KeystoreMeta>({ store: 'keys', key: user }, stores, (meta) => {
      this.checkCurrent(held, meta);
      return puts;
    });
    return stamp;
  }

  /**
   * The stored secret `name` unless it is still the one stamped `stamp` (`same`, nothing
   * opened): a caller that holds the value it stored skips opening it again.
   */
  async getSecretUnless(name: string, stamp: string | null): Promise<{ same: boolean; stamp: string | null; value: Uint8Array | null }> {
    const { dek, user } = this.need();
    const s = await this.store.get<Sealed>('keys', `${user}/${name}`);
    if (!s) return { same: false, stamp: null, value: null };
    if (stamp !== null && s.nonce === stamp) return { same: true, stamp, value: null };
    return { same: false, stamp: s.nonce, value: Keystore.unseal(dek, user, `secret/${name}`, s) };
  }

  /** A stored secret, or null when there is none or it does not open. */
  async getSecret(name: string): Promise<Uint8Array | null> {
    const { dek, user } = this.need();
    const s = await this.store.get<Sealed>('keys', `${user}/${name}`);
    return s ? Keystore.unseal(dek, user, `secret/${name}`, s) : null;
  }

  /** Keeps the plaintext of a message decrypted from the ciphertext named by `digest`. */
  async cacheMessage(messageId: string, digest: string, text: string): Promise<void> {
    await this.commit([{ id: messageId, digest, text }]);
  }

  /**
   * Keeps the plaintext of a message this device is about to send, by its ciphertext's digest
   * (the message has no id yet): another tab of this browser, which cannot decrypt what its own
   * device sent, reads it from here when the message arrives.
   */
  async cacheOwn(digest: string, text: string): Promise<void> {
    const { dek, user } = await this.needCurrent();
    const rec: CachedRecord = { digest, sealed: await this.sealText(dek, user, `own/${digest}`, enc.encode(text)) };
    await this.store.put('msgcache', `${user}/own/${digest}`, rec);
  }

  /** The plaintext this device sent as the ciphertext named by `digest`, or null. */
  async cachedOwn(digest: string): Promise<string | null> {
    const { dek, user } = this.need();
    const rec = await this.store.get<CachedRecord>('msgcache', `${user}/own/${digest}`);
    if (!rec || rec.digest !== digest) return null;
    const plain = await this.unsealText(dek, user, `own/${digest}`, rec.sealed);
    if (!plain) return null;
    try {
      return dec.decode(plain);
    } catch {
      return null;
    }
  }

  /** The cached plaintext of a message decrypted from the ciphertext named by `digest`, or null. */
  async cachedMessage(messageId: string, digest: string): Promise<string | null> {
    return (await this.cachedMessages([{ id: messageId, digest }]))[0] ?? null;
  }

  /** `cachedMessage` of several messages, read in one transaction. */
  async cachedMessages(list: Array<{ id: string; digest: string }>): Promise<Array<string | null>> {
    const { dek, user } = this.need();
    const recs = await this.store.getMany<CachedRecord>(
      'msgcache',
      list.map((m) => `${user}/${m.id}`),
    );
    return Promise.all(
      list.map(async (m, i) => {
        const rec = recs[i];
        if (!rec || rec.digest !== m.digest) return null;
        const plain = await this.unsealText(dek, user, `msg/${m.id}/${m.digest}`, rec.sealed);
        if (!plain) return null;
        try {
          return dec.decode(plain);
        } catch {
          return null;
        }
      }),
    );
  }
}
