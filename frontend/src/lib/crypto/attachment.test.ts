// @vitest-environment node
import { describe, expect, it } from 'vitest';

import {
  AttachmentDecryptor,
  AttachmentEncryptor,
  AttachmentPointer,
  BLOB_HEADER_LEN,
  chunkCount,
  decryptAttachment,
  encryptAttachment,
  encryptAttachmentWithKey,
} from './attachment.js';
import { Tag, Writer, concat, toHex } from './encoding.js';
import { CryptoError } from './errors.js';
import { ATTACHMENT_CHUNK_SIZE, ATTACHMENT_MAX_CHUNK_SIZE, MAX_ATTACHMENT_SIZE, TAG_LEN } from './limits.js';
import { sha256 } from './primitives.js';
import { TestRng, xorByte } from './testSupport.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return (e as CryptoError).code;
  }
  return 'ok';
}

const data = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31) % 251);
const key = (b: number) => new Uint8Array(32).fill(b);

/** A pointer whose digest matches a manipulated blob (an attacker controlling both). */
function withDigest(p: AttachmentPointer, blob: Uint8Array, size = p.size): AttachmentPointer {
  return new AttachmentPointer(p.key, sha256(blob), size);
}

describe('attachments', () => {
  it('round-trip various sizes', () => {
    for (const n of [0, 1, 63, 64, 65, 128, 200]) {
      const { pointer, blob } = encryptAttachmentWithKey(key(1), 64, data(n));
      expect(pointer.size).toBe(n);
      expect(blob.length).toBe(BLOB_HEADER_LEN + n + chunkCount(n, 64) * TAG_LEN);
      expect(toHex(decryptAttachment(pointer, blob))).toBe(toHex(data(n)));
      expect(AttachmentPointer.fromBytes(pointer.toBytes()).equals(pointer)).toBe(true);
    }
    const big = data(3 * ATTACHMENT_CHUNK_SIZE + 17);
    const { pointer, blob } = encryptAttachment(big, new TestRng(1).source);
    expect(toHex(sha256(decryptAttachment(pointer, blob)))).toBe(toHex(sha256(big)));
  });

  it('detect truncation, reordering, header edits, trailing data and a wrong key', () => {
    const pt = data(64 * 3 + 10);
    const { pointer: p, blob } = encryptAttachmentWithKey(key(2), 64, pt);
    const c = 64 + TAG_LEN;
    const h = BLOB_HEADER_LEN;
    // The digest catches any change.
    expect(code(() => decryptAttachment(p, xorByte(blob.slice(), h + 3)))).toBe('DigestMismatch');
    // Truncated at a chunk boundary, size adjusted as well: last-flag mismatch.
    const cut = blob.slice(0, h + 3 * c);
    expect(code(() => decryptAttachment(withDigest(p, cut, 64 * 3), cut))).toBe('DecryptFailed');
    // Truncated without adjusting the size.
    expect(code(() => decryptAttachment(withDigest(p, cut), cut))).toBe('Truncated');
    // Two chunks swapped.
    const swapped = concat(blob.subarray(0, h), blob.subarray(h + c, h + 2 * c), blob.subarray(h, h + c), blob.subarray(h + 2 * c));
    expect(code(() => decryptAttachment(withDigest(p, swapped), swapped))).toBe('DecryptFailed');
    // A chunk duplicated in place of another.
    const dup = concat(blob.subarray(0, h + c), blob.subarray(h, h + c), blob.subarray(h + 2 * c));
    expect(code(() => decryptAttachment(withDigest(p, dup), dup))).toBe('DecryptFailed');
    // Chunk size in the header changed.
    const hdr = blob.slice();
    hdr[4] = 65;
    expect(code(() => decryptAttachment(withDigest(p, hdr), hdr))).not.toBe('ok');
    // Trailing bytes.
    const long = concat(blob, Uint8Array.of(0));
    expect(code(() => decryptAttachment(withDigest(p, long), long))).toBe('TrailingBytes');
    // Wrong key.
    expect(code(() => decryptAttachment(new AttachmentPointer(key(3), p.digest, p.size), blob))).toBe('DecryptFailed');
    // Shorter than a header.
    const tiny = blob.slice(0, 3);
    expect(code(() => decryptAttachment(withDigest(p, tiny), tiny))).toBe('Truncated');
  });

  it('streaming matches the whole-buffer helper and enforces order', () => {
    const pt = data(64 * 2 + 5);
    const { pointer: p, blob } = encryptAttachmentWithKey(key(4), 64, pt);
    const enc = AttachmentEncryptor.withKey(key(4), 64);
    const parts = [enc.header(), enc.encryptChunk(pt.subarray(0, 64), false)];
    expect(code(() => enc.encryptChunk(pt.subarray(0, 10), false))).toBe('InvalidField');
    parts.push(enc.encryptChunk(pt.subarray(64, 128), false));
    parts.push(enc.encryptChunk(pt.subarray(128), true));
    expect(code(() => enc.encryptChunk(pt.subarray(0, 1), true))).toBe('InvalidState');
    expect(toHex(concat(...parts))).toBe(toHex(blob));
    expect(enc.finish().equals(p)).toBe(true);

    const dec = new AttachmentDecryptor(p, blob.subarray(0, 5));
    const c = 64 + TAG_LEN;
    expect(dec.nextChunkLen()).toBe(c);
    // Out of order: chunk 1 given first.
    expect(code(() => dec.decryptChunk(blob.subarray(5 + c, 5 + 2 * c)))).toBe('DecryptFailed');
    expect(code(() => dec.decryptChunk(blob.subarray(5, 5 + c - 1)))).toBe('InvalidField');
    dec.decryptChunk(blob.subarray(5, 5 + c));
    dec.decryptChunk(blob.subarray(5 + c, 5 + 2 * c));
    const early = new AttachmentDecryptor(p, blob.subarray(0, 5));
    expect(code(() => early.finish())).toBe('Truncated');
    expect(dec.nextChunkLen()).toBe(5 + TAG_LEN);
    dec.decryptChunk(blob.subarray(5 + 2 * c));
    expect(dec.nextChunkLen()).toBeNull();
    expect(code(() => dec.decryptChunk(new Uint8Array(16)))).toBe('TrailingBytes');
    dec.finish();
    // An unfinished encryptor has no pointer; an empty non-first last chunk is refused.
    const unfinished = AttachmentEncryptor.withKey(key(4), 64);
    expect(code(() => unfinished.finish())).toBe('InvalidState');
    unfinished.encryptChunk(pt.subarray(0, 64), false);
    expect(code(() => unfinished.encryptChunk(new Uint8Array(0), true))).toBe('InvalidField');
    // A streaming decryptor whose digest does not match.
    const other = new AttachmentPointer(p.key, new Uint8Array(32), p.size);
    const d2 = new AttachmentDecryptor(other, blob.subarray(0, 5));
    for (let len = d2.nextChunkLen(), o = 5; len !== null; o += len, len = d2.nextChunkLen()) {
      d2.decryptChunk(blob.subarray(o, o + len));
    }
    expect(code(() => d2.finish())).toBe('DigestMismatch');
  });

  it('reject bad headers, chunk sizes and pointers', () => {
    const { pointer: p } = encryptAttachmentWithKey(key(5), 64, Uint8Array.of(1));
    expect(code(() => new AttachmentDecryptor(p, Uint8Array.of(Tag.ATTACHMENT_BLOB, 0, 0, 0, 1)))).toBe('InvalidField');
    expect(code(() => new AttachmentDecryptor(p, Uint8Array.of(Tag.ATTACHMENT_BLOB, 0, 0, 0)))).toBe('Truncated');
    expect(code(() => new AttachmentDecryptor(p, Uint8Array.of(0x01, 0, 0, 0, 64)))).toBe('WrongTag');
    expect(code(() => new AttachmentDecryptor(p, Uint8Array.of(Tag.ATTACHMENT_BLOB, 0, 0, 0, 64, 0)))).toBe('TrailingBytes');
    expect(code(() => AttachmentEncryptor.withKey(key(5), 63))).toBe('InvalidField');
    expect(code(() => AttachmentEncryptor.withKey(key(5), ATTACHMENT_MAX_CHUNK_SIZE + 1))).toBe('InvalidField');
    const bytes = p.toBytes();
    expect(code(() => AttachmentPointer.fromBytes(bytes.subarray(0, bytes.length - 1)))).toBe('Truncated');
    const huge = bytes.slice();
    huge.set(new Writer(8).u64(MAX_ATTACHMENT_SIZE + 1).finish(), 65);
    expect(code(() => AttachmentPointer.fromBytes(huge))).toBe('LimitExceeded');
    const max = bytes.slice();
    max.set(new Writer(8).u64(MAX_ATTACHMENT_SIZE).finish(), 65);
    expect(AttachmentPointer.fromBytes(max).size).toBe(MAX_ATTACHMENT_SIZE);
    const u64max = bytes.slice();
    u64max.fill(0xff, 65);
    expect(code(() => AttachmentPointer.fromBytes(u64max))).toBe('LimitExceeded');
    expect(`${p} ${JSON.stringify(p)}`).toContain('redacted');
    expect(`${p}`).not.toContain(toHex(p.key));
  });
});
