/**
 * Encrypted key backup (docs/e2e.md 18.4): append-only chunks of history keys and
 * archived direct messages sealed under the account's backup key, and a head that chains
 * them and is authenticated with a key derived from it. The server stores both and can
 * read neither; a swapped, reordered, dropped or foreign chunk, a forged head, and a head
 * older than one already seen are refused.
 */

import { Reader, Tag, Writer, bytesEqual, checkLen, checkU64, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import { HISTORY_KEY_LEN, HistoryKey } from './history.js';
import { ID_LEN, KEY_LEN, MAX_BACKUP_CHUNK_LEN, MAX_BODY_LEN, NONCE_LEN, TAG_LEN, U32_MAX } from './limits.js';
import {
  type RandomSource,
  aeadDecrypt,
  aeadEncrypt,
  ascii,
  ctEqual,
  hkdfSha256,
  hmacSha256,
  randomBytes,
  sha256,
  systemRandom,
} from './primitives.js';

/** HKDF info of the head's MAC key. */
export const BACKUP_HEAD_LABEL = ascii('Chatalot-BackupHead-v1');
/** Length of a {@link BackupHead} encoding. */
export const BACKUP_HEAD_LEN = 1 + ID_LEN + 8 + 8 + 2 * KEY_LEN;

const CHUNK_HEADER_LEN = 1 + ID_LEN + 8;
/** Length of the shortest backup chunk encoding (no entries). */
export const MIN_BACKUP_CHUNK_ENCODING_LEN = CHUNK_HEADER_LEN + NONCE_LEN + 4 + 4 + TAG_LEN;
/** Length of the longest backup chunk encoding. */
export const MAX_BACKUP_CHUNK_ENCODING_LEN = CHUNK_HEADER_LEN + NONCE_LEN + 4 + MAX_BACKUP_CHUNK_LEN + TAG_LEN;

/**
 * A direct message's decrypted body, kept for devices linked later (tag 0x66, only inside
 * a chunk): `0x66 | channel_id | message_id | seq u64 | var(body)`. Secret.
 */
export class ArchivedMessage {
  constructor(
    /** The DM or group DM. */
    readonly channelId: Uint8Array,
    /** The server's message id. */
    readonly messageId: Uint8Array,
    /** The message's sequence number in the channel. */
    readonly seq: bigint,
    /** The body (docs/e2e.md 17.1), at most `MAX_BODY_LEN` bytes. Secret. */
    readonly body: Uint8Array,
  ) {
    checkLen(channelId, ID_LEN, 'channel id');
    checkLen(messageId, ID_LEN, 'message id');
    checkU64(seq, 'seq');
    if (!(body instanceof Uint8Array)) throw new CryptoError('InvalidField', 'archived body');
  }

  /** Overwrites the body. */
  wipe(): void {
    this.body.fill(0);
  }

  toString(): string {
    return `ArchivedMessage(seq ${this.seq}, ${this.body.length} bytes, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** One entry of a chunk. */
export type BackupEntry =
  | { readonly kind: 'history'; readonly key: HistoryKey }
  | { readonly kind: 'message'; readonly message: ArchivedMessage };

/** Overwrites the secrets of every entry. */
export function wipeEntries(entries: readonly BackupEntry[]): void {
  for (const e of entries) {
    if (e.kind === 'history') e.key.wipe();
    else e.message.wipe();
  }
}

function putEntry(w: Writer, entry: BackupEntry): void {
  if (entry.kind === 'history') {
    const b = entry.key.toBytes();
    w.bytes(b);
    b.fill(0);
    return;
  }
  const m = entry.message;
  if (m.body.length > MAX_BODY_LEN) throw new CryptoError('LimitExceeded', 'archived body');
  w.u8(Tag.ARCHIVED_MESSAGE).bytes(m.channelId).bytes(m.messageId).u64(m.seq).varBytes(m.body);
}

function readEntry(r: Reader): BackupEntry {
  const t = r.peek();
  if (t === Tag.HISTORY_KEY) {
    const b = r.bytes(HISTORY_KEY_LEN);
    try {
      return { kind: 'history', key: HistoryKey.fromBytes(b) };
    } finally {
      b.fill(0);
    }
  }
  if (t === Tag.ARCHIVED_MESSAGE) {
    r.u8();
    const channelId = r.bytes(ID_LEN);
    const messageId = r.bytes(ID_LEN);
    const seq = r.u64();
    const body = r.varBytes(MAX_BODY_LEN, 'archived body');
    return { kind: 'message', message: new ArchivedMessage(channelId, messageId, seq, body) };
  }
  if (t === undefined) throw new CryptoError('Truncated');
  throw CryptoError.wrongTag(t);
}

function chunkHeader(userId: Uint8Array, seq: bigint): Uint8Array {
  return new Writer(CHUNK_HEADER_LEN).u8(Tag.BACKUP_CHUNK).bytes(userId).u64(seq).finish();
}

/**
 * Seals chunk `seq` of `userId`'s backup (tag 0x67): `0x67 | user_id | seq u64 | nonce |
 * var(AEAD(backupKey, nonce, count u32 | entries, aad = the first 25 bytes))`. Draws the
 * nonce (12 bytes). More than `MAX_BACKUP_CHUNK_LEN` of entries is
 * `LimitExceeded("backup chunk")`, an archived body above `MAX_BODY_LEN`
 * `LimitExceeded("archived body")`; nothing is drawn then.
 */
export function sealBackupChunk(
  backupKey: Uint8Array,
  userId: Uint8Array,
  seq: bigint | number,
  entries: readonly BackupEntry[],
  rng: RandomSource = systemRandom,
): Uint8Array {
  checkLen(backupKey, KEY_LEN, 'backup key');
  checkLen(userId, ID_LEN, 'user id');
  const s = checkU64(seq, 'seq');
  if (entries.length > U32_MAX) throw new CryptoError('LimitExceeded', 'entries');
  const w = new Writer(1024).u32(entries.length);
  let size = 4;
  for (const e of entries) {
    // Checked before writing, so a refused chunk never grows the buffer past the bound.
    const len = e.kind === 'history' ? HISTORY_KEY_LEN : 1 + 2 * ID_LEN + 8 + 4 + e.message.body.length;
    if (e.kind === 'message' && e.message.body.length > MAX_BODY_LEN) {
      w.finish().fill(0);
      throw new CryptoError('LimitExceeded', 'archived body');
    }
    size += len;
    if (size > MAX_BACKUP_CHUNK_LEN) {
      w.finish().fill(0);
      throw new CryptoError('LimitExceeded', 'backup chunk');
    }
    putEntry(w, e);
  }
  const plain = w.finish();
  try {
    const header = chunkHeader(userId, s);
    const nonce = randomBytes(rng, NONCE_LEN);
    const ciphertext = aeadEncrypt(backupKey, nonce, plain, header);
    return new Writer(CHUNK_HEADER_LEN + NONCE_LEN + 4 + ciphertext.length)
      .bytes(header)
      .bytes(nonce)
      .varBytes(ciphertext)
      .finish();
  } finally {
    plain.fill(0);
  }
}

/**
 * Opens chunk `seq` of `userId`'s backup: a chunk of another account or at another place
 * is `IdentityMismatch`, a changed byte or another key `DecryptFailed`.
 */
export function openBackupChunk(
  backupKey: Uint8Array,
  userId: Uint8Array,
  seq: bigint | number,
  bytes: Uint8Array,
): BackupEntry[] {
  checkLen(backupKey, KEY_LEN, 'backup key');
  checkLen(userId, ID_LEN, 'user id');
  const s = checkU64(seq, 'seq');
  const r = Reader.withTag(bytes, Tag.BACKUP_CHUNK);
  const storedFor = r.bytes(ID_LEN);
  const storedSeq = r.u64();
  const nonce = r.bytes(NONCE_LEN);
  const ciphertext = r.varBytes(MAX_BACKUP_CHUNK_LEN + TAG_LEN, 'backup chunk');
  r.finish();
  if (!bytesEqual(storedFor, userId) || storedSeq !== s) throw new CryptoError('IdentityMismatch');
  const plain = aeadDecrypt(backupKey, nonce, ciphertext, bytes.subarray(0, CHUNK_HEADER_LEN));
  const entries: BackupEntry[] = [];
  try {
    const p = Reader.untagged(plain);
    const count = p.u32();
    for (let i = 0; i < count; i++) entries.push(readEntry(p));
    p.finish();
    return entries;
  } catch (e) {
    wipeEntries(entries);
    throw e;
  } finally {
    plain.fill(0);
  }
}

function headMacKey(backupKey: Uint8Array): Uint8Array {
  return hkdfSha256(undefined, backupKey, BACKUP_HEAD_LABEL, KEY_LEN);
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/**
 * The head of a backup (tag 0x68, 97 bytes): how many chunks there are and the digest
 * chain over them, authenticated with `HMAC(HKDF(backupKey, "Chatalot-BackupHead-v1"),
 * first 65 bytes)`: `0x68 | user_id | head_seq u64 | count u64 | digest | mac`.
 */
export class BackupHead {
  constructor(
    /** The account. */
    readonly userId: Uint8Array,
    /** Raised by one at every write of the head; a device refuses a head below one it saw. */
    readonly headSeq: bigint,
    /** Chunks `1..=count` make the backup. */
    readonly count: bigint,
    /** `d_count`, where `d_0` = 32 zero bytes and `d_i = SHA-256(d_{i-1} || SHA-256(chunk i))`. */
    readonly digest: Uint8Array,
  ) {
    checkLen(userId, ID_LEN, 'user id');
    checkU64(headSeq, 'head seq');
    checkU64(count, 'count');
    checkLen(digest, KEY_LEN, 'digest');
  }

  /** The head of an empty backup. */
  static empty(userId: Uint8Array): BackupHead {
    return new BackupHead(userId.slice(), 0n, 0n, new Uint8Array(KEY_LEN));
  }

  /** The head after appending `chunks` (their encodings, in order, at `count + 1`, ...). */
  after(chunks: readonly Uint8Array[]): BackupHead {
    let digest: Uint8Array = this.digest.slice();
    let count = this.count;
    for (const c of chunks) {
      digest = sha256(digest, sha256(c));
      count += 1n;
    }
    if (count > U64_MAX || this.headSeq === U64_MAX) throw new CryptoError('CounterExhausted');
    return new BackupHead(this.userId.slice(), this.headSeq + 1n, count, digest);
  }

  private body(): Uint8Array {
    return new Writer(BACKUP_HEAD_LEN)
      .u8(Tag.BACKUP_HEAD)
      .bytes(this.userId)
      .u64(this.headSeq)
      .u64(this.count)
      .bytes(this.digest)
      .finish();
  }

  /** The encoding, with its MAC under `backupKey`. */
  seal(backupKey: Uint8Array): Uint8Array {
    checkLen(backupKey, KEY_LEN, 'backup key');
    const body = this.body();
    const key = headMacKey(backupKey);
    try {
      return new Writer(BACKUP_HEAD_LEN).bytes(body).bytes(hmacSha256(key, body)).finish();
    } finally {
      key.fill(0);
    }
  }

  /**
   * Opens a head: a forged or changed one is `BadSignature`, another account's
   * `IdentityMismatch`, one below `minHeadSeq` (the highest this device has seen, or the
   * linking device's) `InvalidState("backup rolled back")`.
   */
  static open(backupKey: Uint8Array, bytes: Uint8Array, userId: Uint8Array, minHeadSeq: bigint | number): BackupHead {
    checkLen(backupKey, KEY_LEN, 'backup key');
    checkLen(userId, ID_LEN, 'user id');
    const min = checkU64(minHeadSeq, 'min head seq');
    const r = Reader.withTag(bytes, Tag.BACKUP_HEAD);
    const head = new BackupHead(r.bytes(ID_LEN), r.u64(), r.u64(), r.bytes(KEY_LEN));
    const mac = r.bytes(KEY_LEN);
    r.finish();
    const key = headMacKey(backupKey);
    let ok: boolean;
    try {
      ok = ctEqual(hmacSha256(key, head.body()), mac);
    } finally {
      wipe(key);
    }
    if (!ok) throw new CryptoError('BadSignature');
    if (!bytesEqual(head.userId, userId)) throw new CryptoError('IdentityMismatch');
    if (head.headSeq < min) throw new CryptoError('InvalidState', 'backup rolled back');
    return head;
  }

  /**
   * Checks that `chunks` (the encodings of chunks `1..=count`, in order) are exactly the
   * backup this head names: a missing, extra, reordered or swapped chunk is
   * `DigestMismatch`.
   */
  checkChunks(chunks: readonly Uint8Array[]): void {
    let digest: Uint8Array = new Uint8Array(KEY_LEN);
    for (const c of chunks) digest = sha256(digest, sha256(c));
    if (BigInt(chunks.length) !== this.count || !ctEqual(digest, this.digest)) {
      throw new CryptoError('DigestMismatch');
    }
  }
}
