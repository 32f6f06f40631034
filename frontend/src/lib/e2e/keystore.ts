// The end-to-end keystore: private keys and the decrypted-message cache, kept in IndexedDB
// (stores `keys` and `msgcache`) and never in the clear. Every record is sealed with
// XChaCha20-Poly1305 under a random 32-byte data key; the data key itself is sealed under a key
// derived from the account password with Argon2id. Unlocking needs the password, so a reload
// leaves the keystore locked until the password is given again; a password change re-seals
// only the data key. The associated data of every seal names the user and the record's slot,
// so records cannot be moved between slots or accounts without failing to open.

import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { KeyValueStore } from '../storage/kv';

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
}

/** The per-user header (store `keys`, key `<user id>`). */
export interface KeystoreMeta {
  v: number;
  kdf: KdfParams & { salt: string };
  /** The data key, sealed under the password key. */
  dek: Sealed;
  created_at: string;
}

/**
 * A cached plaintext (store `msgcache`, key `<user id>/<message id>`), sealed. `digest` names
 * the ciphertext it was decrypted from (an edit replaces the ciphertext; a reaction does not).
 */
interface CachedRecord {
  digest: string;
  sealed: Sealed;
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
}

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
  private dek: Uint8Array | null = null;
  private user: string | null = null;

  constructor(store: KeyValueStore, opts: KeystoreOptions = {}) {
    this.store = store;
    this.kdf = opts.kdf ?? DEFAULT_KDF;
    this.random = opts.random ?? systemRandom;
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

  private static unseal(key: Uint8Array, userId: string, slot: string, s: Sealed): Uint8Array | null {
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

  private async writeMeta(userId: string, password: string, dek: Uint8Array, createdAt: string): Promise<void> {
    const kdf = { ...this.kdf, salt: toBase64(this.random(SALT_LEN)) };
    const pk = await Keystore.passwordKey(password, kdf);
    const meta: KeystoreMeta = { v: VERSION, kdf, dek: this.seal(pk, userId, 'dek', dek), created_at: createdAt };
    pk.fill(0);
    await this.store.put('keys', userId, meta);
  }

  /**
   * Opens the user's keystore with the password, creating it when there is none. Throws
   * `wrong_password` when the stored data key does not open (a different password, e.g. after
   * an account recovery: see `reset`).
   */
  async unlock(userId: string, password: string): Promise<'created' | 'unlocked'> {
    const meta = await this.store.get<KeystoreMeta>('keys', userId);
    if (!meta) {
      const dek = this.random(KEY_LEN);
      await this.writeMeta(userId, password, dek, new Date().toISOString());
      this.lock();
      this.dek = dek;
      this.user = userId;
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
    this.lock();
    this.dek = dek;
    this.user = userId;
    return 'unlocked';
  }

  /** Forgets the data key (at sign-out). */
  lock(): void {
    this.dek?.fill(0);
    this.dek = null;
    this.user = null;
  }

  private need(): { dek: Uint8Array; user: string } {
    if (!this.dek || !this.user) throw new KeystoreError('locked', 'The encryption keys are locked.');
    return { dek: this.dek, user: this.user };
  }

  /** Re-seals the data key under a new password; everything sealed under it stays readable. */
  async changePassword(oldPassword: string, newPassword: string): Promise<void> {
    const { user } = this.need();
    await this.unlock(user, oldPassword);
    const { dek } = this.need();
    const meta = await this.store.get<KeystoreMeta>('keys', user);
    await this.writeMeta(user, newPassword, dek, meta?.created_at ?? new Date().toISOString());
  }

  /**
   * Starts over with a new data key under `password`: what was sealed before can no longer be
   * opened (the keys of this browser are lost, as after a recovery with a new password).
   */
  async reset(userId: string, password: string): Promise<void> {
    await this.store.delete('keys', userId);
    await this.unlock(userId, password);
  }

  /** Stores a secret (a private key's serialized state) under a name. */
  async putSecret(name: string, value: Uint8Array): Promise<void> {
    const { dek, user } = this.need();
    await this.store.put('keys', `${user}/${name}`, this.seal(dek, user, `secret/${name}`, value));
  }

  /** A stored secret, or null when there is none or it does not open. */
  async getSecret(name: string): Promise<Uint8Array | null> {
    const { dek, user } = this.need();
    const s = await this.store.get<Sealed>('keys', `${user}/${name}`);
    return s ? Keystore.unseal(dek, user, `secret/${name}`, s) : null;
  }

  /** Keeps the plaintext of a message decrypted from the ciphertext named by `digest`. */
  async cacheMessage(messageId: string, digest: string, text: string): Promise<void> {
    const { dek, user } = this.need();
    const rec: CachedRecord = {
      digest,
      sealed: this.seal(dek, user, `msg/${messageId}/${digest}`, enc.encode(text)),
    };
    await this.store.put('msgcache', `${user}/${messageId}`, rec);
  }

  /** The cached plaintext of a message decrypted from the ciphertext named by `digest`, or null. */
  async cachedMessage(messageId: string, digest: string): Promise<string | null> {
    const { dek, user } = this.need();
    const rec = await this.store.get<CachedRecord>('msgcache', `${user}/${messageId}`);
    if (!rec || rec.digest !== digest) return null;
    const plain = Keystore.unseal(dek, user, `msg/${messageId}/${digest}`, rec.sealed);
    if (!plain) return null;
    try {
      return dec.decode(plain);
    } catch {
      return null;
    }
  }
}
