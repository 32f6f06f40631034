/**
 * The recovery key and secret storage (docs/e2e.md 18.3): the account's user key and
 * backup key, sealed on the server under a key derived from a 256-bit recovery key only
 * the user holds, so that a fresh device restores from the recovery key alone.
 */

import { Reader, Tag, Writer, bytesEqual, checkLen, checkU64, crockfordText, readCrockford, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import { USER_KEY_PAIR_LEN, UserKeyPair } from './identity.js';
import { ID_LEN, KEY_LEN, NONCE_LEN, TAG_LEN } from './limits.js';
import {
  type RandomSource,
  aeadDecrypt,
  aeadEncrypt,
  ascii,
  ctEqual,
  hkdfSha256,
  randomBytes,
  systemRandom,
} from './primitives.js';

/** Characters of a recovery key's text (Crockford base32; the last 4 bits are zero). */
export const RECOVERY_KEY_CHARS = 52;
/** HKDF info of the secret-storage key. */
export const SECRET_STORAGE_LABEL = ascii('Chatalot-SecretStorage-v1');

const PLAINTEXT_LEN = 1 + USER_KEY_PAIR_LEN + KEY_LEN;
const HEADER_LEN = 1 + ID_LEN + 8;
/** Length of a secret storage encoding. */
export const SECRET_STORAGE_LEN = HEADER_LEN + NONCE_LEN + 4 + PLAINTEXT_LEN + TAG_LEN;

/** The user's recovery key: 32 random bytes, shown once as 52 characters. */
export class RecoveryKey {
  private constructor(private readonly key: Uint8Array) {}

  /** A new recovery key: draws 32 bytes. */
  static generate(rng: RandomSource = systemRandom): RecoveryKey {
    return new RecoveryKey(randomBytes(rng, KEY_LEN));
  }

  /** The text to show: 13 groups of four characters joined by `-`. Secret. */
  toText(): string {
    return crockfordText(this.key);
  }

  /**
   * Reads a typed recovery key (case, `-` and spaces do not matter; `I`/`L` are `1`, `O`
   * is `0`); anything else is `InvalidField("recovery key")`.
   */
  static parse(text: string): RecoveryKey {
    return new RecoveryKey(readCrockford(text, KEY_LEN, 'recovery key'));
  }

  /** True when both are the same key (constant time). */
  equals(other: RecoveryKey): boolean {
    return ctEqual(this.key, other.key);
  }

  /** @internal SSK = HKDF(salt = none, ikm = RK, "Chatalot-SecretStorage-v1", 32). */
  storageKey(): Uint8Array {
    return hkdfSha256(undefined, this.key, SECRET_STORAGE_LABEL, KEY_LEN);
  }

  /** Overwrites the key; unusable afterwards. */
  wipe(): void {
    this.key.fill(0);
  }

  toString(): string {
    return 'RecoveryKey(<redacted>)';
  }

  toJSON(): string {
    return this.toString();
  }
}

/** What the storage holds, once opened. */
export class StoredSecrets {
  constructor(
    /** The account's user key. Secret. */
    readonly userKey: UserKeyPair,
    /** The account's backup key. Secret. */
    readonly backupKey: Uint8Array,
    /** The version it was stored under. */
    readonly version: bigint,
  ) {}

  /** Overwrites the user key and the backup key. */
  wipe(): void {
    this.userKey.wipe();
    this.backupKey.fill(0);
  }

  toString(): string {
    return `StoredSecrets(version ${this.version}, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/**
 * Seals the user key and backup key as version `version` of the account's secret storage
 * (tag 0x60): `0x60 | user_id | version u64 | nonce | var(AEAD(SSK, nonce, 0x61 |
 * UserKeyPair | backup_key, aad = the first 25 bytes))`. Draws the nonce (12 bytes).
 */
export function sealSecretStorage(
  recoveryKey: RecoveryKey,
  userKey: UserKeyPair,
  backupKey: Uint8Array,
  version: bigint | number,
  rng: RandomSource = systemRandom,
): Uint8Array {
  checkLen(backupKey, KEY_LEN, 'backup key');
  const v = checkU64(version, 'storage version');
  const user = userKey.toBytes();
  const plaintext = new Writer(PLAINTEXT_LEN).u8(Tag.SECRET_STORAGE_PLAINTEXT).bytes(user).bytes(backupKey).finish();
  user.fill(0);
  const header = new Writer(HEADER_LEN).u8(Tag.SECRET_STORAGE).bytes(userKey.userId).u64(v).finish();
  const key = recoveryKey.storageKey();
  try {
    const nonce = randomBytes(rng, NONCE_LEN);
    const ciphertext = aeadEncrypt(key, nonce, plaintext, header);
    return new Writer(SECRET_STORAGE_LEN).bytes(header).bytes(nonce).varBytes(ciphertext).finish();
  } finally {
    wipe(plaintext, key);
  }
}

/**
 * Opens the account's secret storage with a recovery key. It must be for `userId`
 * (`IdentityMismatch`) and not older than `minVersion`, the highest this device has seen
 * (`InvalidState("secret storage rolled back")`); a wrong recovery key or a changed byte
 * is `DecryptFailed`; the user key inside must be the account's (`IdentityMismatch`).
 */
export function openSecretStorage(
  recoveryKey: RecoveryKey,
  bytes: Uint8Array,
  userId: Uint8Array,
  minVersion: bigint | number,
): StoredSecrets {
  checkLen(userId, ID_LEN, 'user id');
  const min = checkU64(minVersion, 'min version');
  const r = Reader.withTag(bytes, Tag.SECRET_STORAGE);
  const storedFor = r.bytes(ID_LEN);
  const version = r.u64();
  const nonce = r.bytes(NONCE_LEN);
  const ciphertext = r.varBytes(PLAINTEXT_LEN + TAG_LEN, 'secret storage');
  r.finish();
  if (!bytesEqual(storedFor, userId)) throw new CryptoError('IdentityMismatch');
  if (version < min) throw new CryptoError('InvalidState', 'secret storage rolled back');
  const key = recoveryKey.storageKey();
  let plain: Uint8Array;
  try {
    plain = aeadDecrypt(key, nonce, ciphertext, bytes.subarray(0, HEADER_LEN));
  } finally {
    key.fill(0);
  }
  let userKey: UserKeyPair | undefined;
  let backupKey: Uint8Array | undefined;
  try {
    const p = Reader.withTag(plain, Tag.SECRET_STORAGE_PLAINTEXT);
    const userBytes = p.bytes(USER_KEY_PAIR_LEN);
    try {
      userKey = UserKeyPair.fromBytes(userBytes);
    } finally {
      userBytes.fill(0);
    }
    backupKey = p.bytes(KEY_LEN);
    p.finish();
    if (!bytesEqual(userKey.userId, userId)) throw new CryptoError('IdentityMismatch');
    return new StoredSecrets(userKey, backupKey, version);
  } catch (e) {
    userKey?.wipe();
    wipe(backupKey);
    throw e;
  } finally {
    plain.fill(0);
  }
}
