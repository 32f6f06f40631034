// @vitest-environment node
// Files in end-to-end channels (docs/e2e.md 19): a file encrypted a slice at a time decrypts
// from its stream to the same bytes at every chunk boundary; a blob changed, cut, lengthened or
// of another file is refused; a file body survives the message cache, and no text reads back
// from the cache as a file.
import { describe, expect, it } from 'vitest';
import { decryptAttachment } from '../../src/lib/crypto/attachment';
import { fileBody, decodeBody, type FileRef } from '../../src/lib/e2e/appcodec';
import { bodyText, cachedBody, shown } from '../../src/lib/e2e/engine.svelte';
import { decryptStream, encryptFile, formatDuration, formatSize, isInlineVideo } from '../../src/lib/e2e/files';

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Byte equality (vitest's deep equality is slow on megabytes). */
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** A stream of `b` in pieces of `piece` bytes (as a download arrives). */
function streamOf(b: Uint8Array, piece = 7000): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= b.length) return c.close();
      c.enqueue(b.slice(at, at + piece));
      at += piece;
    },
  });
}

describe('files', () => {
  it('encrypts a file a slice at a time and decrypts its stream to the same bytes', async () => {
    for (const n of [0, 1, 65535, 65536, 65537, 16 * 65536, 16 * 65536 + 1, 3 * 1024 * 1024 + 5]) {
      const plain = bytes(n, n + 1);
      const seen: number[] = [];
      const { blob, pointer } = await encryptFile(new Blob([plain as BlobPart]), (d) => seen.push(d));
      const ct = new Uint8Array(await blob.arrayBuffer());
      expect(ct.length).toBe(5 + n + Math.max(1, Math.ceil(n / 65536)) * 16);
      // the whole-blob decryptor of the crypto port agrees
      expect(same(decryptAttachment(pointer, ct), plain)).toBe(true);
      const out = await decryptStream(pointer, streamOf(ct), 'application/octet-stream');
      expect(same(new Uint8Array(await out.arrayBuffer()), plain)).toBe(true);
      if (n) expect(seen.at(-1)).toBe(n);
    }
  });

  it('refuses a blob changed, cut, lengthened, or of another file', async () => {
    const plain = bytes(200_000);
    const { blob, pointer } = await encryptFile(new Blob([plain as BlobPart]));
    const ct = new Uint8Array(await blob.arrayBuffer());
    const other = new Uint8Array(await (await encryptFile(new Blob([plain as BlobPart]))).blob.arrayBuffer());
    const flipped = ct.slice();
    flipped[100_000]! ^= 1;
    for (const bad of [flipped, ct.slice(0, ct.length - 1), ct.slice(0, 5 + 65536 + 16), new Uint8Array([...ct, 0]), other]) {
      await expect(decryptStream(pointer, streamOf(bad), '')).rejects.toThrow();
    }
  });

  it('keeps a file body in the message cache, and no text reads back as a file', () => {
    const f: FileRef = {
      fileId: '0193aaaa-0000-7000-8000-000000000001',
      pointer: bytes(73).map((b, i) => (i === 0 ? 0x0a : b)),
      name: 'beach.jpg',
      mime: 'image/jpeg',
      width: 4032,
      height: 3024,
      thumb: { fileId: '0193aaaa-0000-7000-8000-000000000002', pointer: bytes(73, 9).map((b, i) => (i === 0 ? 0x0a : b)) },
    };
    const cached = bodyText({ kind: 'file', ...f });
    expect(shown(cached)).toEqual({ ok: true, text: '📎 beach.jpg', file: f });
    expect(decodeBody(cachedBody(cached))).toEqual(decodeBody(fileBody(f)));
    // A text that looks like the cache's own marks stays that text.
    for (const text of [cached, '\u0000t hello', '\u0000', 'plain']) {
      const c = bodyText({ kind: 'text', text });
      expect(shown(c)).toEqual({ ok: true, text });
      expect(decodeBody(cachedBody(c))).toEqual({ kind: 'text', text });
    }
  });

  it('says sizes for people', () => {
    expect(formatSize(999)).toBe('999 B');
    expect(formatSize(1500)).toBe('1.5 kB');
    expect(formatSize(20 * 1024 * 1024)).toBe('21 MB');
  });
});

describe('videos', () => {
  it('says durations for people and knows the types played inline', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(1_499)).toBe('0:01');
    expect(formatDuration(65_000)).toBe('1:05');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
    expect(isInlineVideo('video/webm')).toBe(true);
    expect(isInlineVideo('video/MP4')).toBe(true);
    expect(isInlineVideo('video/x-msvideo')).toBe(false);
    expect(isInlineVideo('image/png')).toBe(false);
  });
});
