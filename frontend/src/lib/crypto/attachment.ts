/**
 * Attachment encryption (docs/e2e.md 7): a random 32-byte key per file, the file split
 * into chunks, each sealed with ChaCha20-Poly1305 under a nonce derived from the chunk
 * index, with the blob header, the index and a last-chunk flag in the associated data,
 * so truncation, reordering, duplication and splicing are detected. The SHA-256 digest
 * of the whole blob travels with the key inside the end-to-end encrypted message.
 */

import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

import { Reader, Tag, Writer, checkLen, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import {
  ATTACHMENT_CHUNK_SIZE,
  ATTACHMENT_MAX_CHUNK_SIZE,
  ATTACHMENT_MIN_CHUNK_SIZE,
  KEY_LEN,
  MAX_ATTACHMENT_SIZE,
  NONCE_LEN,
  TAG_LEN,
} from './limits.js';
import {
  type RandomSource,
  aeadDecrypt,
  aeadEncrypt,
  ascii,
  ctEqual,
  hkdfSha256,
  randomBytes,
  sha256,
  systemRandom,
} from './primitives.js';

/** HKDF info deriving the chunk cipher key from the file key. */
export const ATTACHMENT_KEY_INFO = ascii('Chatalot-Attachment-v1');
/** Length of the blob header: tag + chunk size. */
export const BLOB_HEADER_LEN = 5;
/** Encoded length of an {@link AttachmentPointer}. */
export const POINTER_LEN = 1 + KEY_LEN + KEY_LEN + 8;

/**
 * What the sender puts inside the encrypted message: file key, blob digest, plaintext
 * size. Encoding (tag 0x0A, 73 bytes): `tag | key(32) | digest(32) | size u64`. Secret.
 */
export class AttachmentPointer {
  constructor(
    /** The random file key. Secret. */
    readonly key: Uint8Array,
    /** SHA-256 of the whole encrypted blob (header and all chunks). */
    readonly digest: Uint8Array,
    /** Plaintext size in bytes (at most MAX_ATTACHMENT_SIZE). */
    readonly size: number,
  ) {
    checkLen(key, KEY_LEN, 'file key');
    checkLen(digest, KEY_LEN, 'digest');
    if (!Number.isSafeInteger(size) || size < 0) throw new CryptoError('InvalidField', 'attachment size');
  }

  toBytes(): Uint8Array {
    return new Writer(POINTER_LEN)
      .u8(Tag.ATTACHMENT_POINTER)
      .bytes(this.key)
      .bytes(this.digest)
      .u64(this.size)
      .finish();
  }

  /** Strict decoding; the size must not exceed MAX_ATTACHMENT_SIZE (`LimitExceeded`). */
  static fromBytes(bytes: Uint8Array): AttachmentPointer {
    const r = Reader.withTag(bytes, Tag.ATTACHMENT_POINTER);
    const key = r.bytes(KEY_LEN);
    try {
      const digest = r.bytes(KEY_LEN);
      const size = r.u64();
      r.finish();
      if (size > BigInt(MAX_ATTACHMENT_SIZE)) throw new CryptoError('LimitExceeded', 'attachment size');
      return new AttachmentPointer(key, digest, Number(size));
    } catch (e) {
      key.fill(0);
      throw e;
    }
  }

  equals(o: AttachmentPointer): boolean {
    return ctEqual(this.toBytes(), o.toBytes());
  }

  /** Overwrites the file key. */
  wipe(): void {
    this.key.fill(0);
  }

  toString(): string {
    return `AttachmentPointer(${this.size} bytes, <redacted>)`;
  }

  toJSON(): string {
    return this.toString();
  }
}

function cipherKey(fileKey: Uint8Array): Uint8Array {
  return hkdfSha256(undefined, fileKey, ATTACHMENT_KEY_INFO, KEY_LEN);
}

function chunkNonce(index: number): Uint8Array {
  return new Writer(NONCE_LEN).u32(0).u64(index).finish();
}

function chunkAad(header: Uint8Array, index: number, last: boolean): Uint8Array {
  return new Writer(BLOB_HEADER_LEN + 9).bytes(header).u64(index).u8(last ? 1 : 0).finish();
}

function blobHeader(chunkSize: number): Uint8Array {
  if (
    !Number.isInteger(chunkSize) ||
    chunkSize < ATTACHMENT_MIN_CHUNK_SIZE ||
    chunkSize > ATTACHMENT_MAX_CHUNK_SIZE
  ) {
    throw new CryptoError('InvalidField', 'attachment chunk size');
  }
  return new Writer(BLOB_HEADER_LEN).u8(Tag.ATTACHMENT_BLOB).u32(chunkSize).finish();
}

/** Number of chunks of a plaintext of `size` bytes (an empty file has one empty chunk). */
export function chunkCount(size: number, chunkSize: number): number {
  return size === 0 ? 1 : Math.ceil(size / chunkSize);
}

/**
 * Streaming encryptor: write {@link AttachmentEncryptor.header} first, then each chunk's
 * output in order, then call {@link AttachmentEncryptor.finish} for the pointer.
 */
export class AttachmentEncryptor {
  private readonly key: Uint8Array;
  private readonly headerBytes: Uint8Array;
  private readonly hasher = nobleSha256.create();
  private index = 0;
  private size = 0;
  private done = false;

  private constructor(
    private readonly fileKey: Uint8Array,
    /** Plaintext chunk size. */
    readonly chunkSize: number,
  ) {
    this.headerBytes = blobHeader(chunkSize);
    this.key = cipherKey(fileKey);
    this.hasher.update(this.headerBytes);
  }

  /** New encryptor with a fresh file key (draws 32 bytes) and the default chunk size. */
  static create(rng: RandomSource = systemRandom): AttachmentEncryptor {
    return new AttachmentEncryptor(randomBytes(rng, KEY_LEN), ATTACHMENT_CHUNK_SIZE);
  }

  /** New encryptor with a given file key (copied) and chunk size. */
  static withKey(fileKey: Uint8Array, chunkSize: number): AttachmentEncryptor {
    checkLen(fileKey, KEY_LEN, 'file key');
    return new AttachmentEncryptor(fileKey.slice(), chunkSize);
  }

  /** The blob header (first bytes of the blob). */
  header(): Uint8Array {
    return this.headerBytes.slice();
  }

  /**
   * Encrypts the next chunk. Non-last chunks must be exactly `chunkSize` bytes; the last
   * one at most `chunkSize` (empty only if it is the only chunk).
   */
  encryptChunk(chunk: Uint8Array, last: boolean): Uint8Array {
    if (this.done) throw new CryptoError('InvalidState', 'attachment already finished');
    const cs = this.chunkSize;
    const ok = last ? chunk.length <= cs && (chunk.length > 0 || this.index === 0) : chunk.length === cs;
    if (!ok) throw new CryptoError('InvalidField', 'attachment chunk length');
    const size = this.size + chunk.length;
    if (size > MAX_ATTACHMENT_SIZE) throw new CryptoError('LimitExceeded', 'attachment size');
    const ct = aeadEncrypt(
      this.key,
      chunkNonce(this.index),
      chunk,
      chunkAad(this.headerBytes, this.index, last),
    );
    this.hasher.update(ct);
    this.size = size;
    this.index += 1;
    this.done = last;
    return ct;
  }

  /** The pointer (key, digest, size) once the last chunk was encrypted; wipes the cipher key. */
  finish(): AttachmentPointer {
    if (!this.done) throw new CryptoError('InvalidState', 'last chunk not written');
    this.key.fill(0);
    return new AttachmentPointer(this.fileKey, this.hasher.digest(), this.size);
  }
}

/**
 * Streaming decryptor: construct with the pointer and the 5-byte blob header, feed each
 * chunk's ciphertext (`chunkSize + 16` bytes, the last one shorter) in order, then call
 * {@link AttachmentDecryptor.finish}, which checks the digest.
 */
export class AttachmentDecryptor {
  private readonly key: Uint8Array;
  private readonly headerBytes: Uint8Array;
  private readonly chunkSize: number;
  private readonly chunks: number;
  private readonly expectedDigest: Uint8Array;
  private readonly hasher = nobleSha256.create();
  private index = 0;
  private remaining: number;

  constructor(pointer: AttachmentPointer, header: Uint8Array) {
    if (pointer.size > MAX_ATTACHMENT_SIZE) throw new CryptoError('LimitExceeded', 'attachment size');
    const r = Reader.withTag(header, Tag.ATTACHMENT_BLOB);
    const chunkSize = r.u32();
    r.finish();
    this.headerBytes = blobHeader(chunkSize);
    this.chunkSize = chunkSize;
    this.chunks = chunkCount(pointer.size, chunkSize);
    this.remaining = pointer.size;
    this.expectedDigest = pointer.digest.slice();
    this.key = cipherKey(pointer.key);
    this.hasher.update(this.headerBytes);
  }

  /** Ciphertext length of the next chunk, or null when all chunks were read. */
  nextChunkLen(): number | null {
    if (this.index >= this.chunks) return null;
    return Math.min(this.remaining, this.chunkSize) + TAG_LEN;
  }

  /** Decrypts the next chunk. */
  decryptChunk(ciphertext: Uint8Array): Uint8Array {
    const expected = this.nextChunkLen();
    if (expected === null) throw new CryptoError('TrailingBytes');
    if (ciphertext.length !== expected) throw new CryptoError('InvalidField', 'attachment chunk length');
    const last = this.index + 1 === this.chunks;
    const pt = aeadDecrypt(
      this.key,
      chunkNonce(this.index),
      ciphertext,
      chunkAad(this.headerBytes, this.index, last),
    );
    this.hasher.update(ciphertext);
    this.remaining -= pt.length;
    this.index += 1;
    return pt;
  }

  /** Checks that every chunk was read (`Truncated`) and the digest matches (`DigestMismatch`). */
  finish(): void {
    if (this.index !== this.chunks) throw new CryptoError('Truncated');
    this.key.fill(0);
    if (!ctEqual(this.hasher.digest(), this.expectedDigest)) throw new CryptoError('DigestMismatch');
  }
}

/** Encrypts a whole file with a fresh key (draws 32 bytes) and the default chunk size. */
export function encryptAttachment(
  plaintext: Uint8Array,
  rng: RandomSource = systemRandom,
): { pointer: AttachmentPointer; blob: Uint8Array } {
  const key = randomBytes(rng, KEY_LEN);
  try {
    return encryptAttachmentWithKey(key, ATTACHMENT_CHUNK_SIZE, plaintext);
  } finally {
    key.fill(0);
  }
}

/** Encrypts a whole file with the given key and chunk size. */
export function encryptAttachmentWithKey(
  fileKey: Uint8Array,
  chunkSize: number,
  plaintext: Uint8Array,
): { pointer: AttachmentPointer; blob: Uint8Array } {
  const enc = AttachmentEncryptor.withKey(fileKey, chunkSize);
  const n = chunkCount(plaintext.length, chunkSize);
  const blob = new Uint8Array(BLOB_HEADER_LEN + plaintext.length + n * TAG_LEN);
  blob.set(enc.header());
  let o = BLOB_HEADER_LEN;
  for (let i = 0; i < n; i++) {
    const chunk = plaintext.subarray(i * chunkSize, Math.min((i + 1) * chunkSize, plaintext.length));
    const ct = enc.encryptChunk(chunk, i + 1 === n);
    blob.set(ct, o);
    o += ct.length;
  }
  return { pointer: enc.finish(), blob };
}

/** Decrypts a whole blob: checks the digest first, then every chunk. */
export function decryptAttachment(pointer: AttachmentPointer, blob: Uint8Array): Uint8Array {
  if (!(blob instanceof Uint8Array)) throw new CryptoError('InvalidField', 'input is not a byte array');
  if (!ctEqual(sha256(blob), pointer.digest)) throw new CryptoError('DigestMismatch');
  if (blob.length < BLOB_HEADER_LEN) throw new CryptoError('Truncated');
  const dec = new AttachmentDecryptor(pointer, blob.subarray(0, BLOB_HEADER_LEN));
  const parts: Uint8Array[] = [];
  let rest = blob.subarray(BLOB_HEADER_LEN);
  try {
    for (let len = dec.nextChunkLen(); len !== null; len = dec.nextChunkLen()) {
      if (rest.length < len) throw new CryptoError('Truncated');
      parts.push(dec.decryptChunk(rest.subarray(0, len)));
      rest = rest.subarray(len);
    }
    if (rest.length !== 0) throw new CryptoError('TrailingBytes');
    dec.finish();
    const out = new Uint8Array(pointer.size);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  } finally {
    wipe(...parts);
  }
}
