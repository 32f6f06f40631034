// Files in end-to-end channels and DMs (docs/e2e.md 19): a file is encrypted here with a key of
// its own (the crypto port's chunked attachment format, section 7), read from the `File` a slice
// at a time so memory holds one slice beyond the encrypted output, and uploaded as an opaque
// blob; the key, the blob's digest, the name, the type and an image's dimensions travel inside
// the encrypted message body (`FileRef`). Reading streams the blob, decrypts it chunk by chunk
// and checks the digest before anything is shown.

import { AttachmentDecryptor, AttachmentEncryptor, AttachmentPointer, BLOB_HEADER_LEN } from '../crypto/attachment';
import { CryptoError } from '../crypto/errors';
import { toHex } from '../crypto/encoding';

/** Plaintext read from the file at once (a whole number of 64 KiB chunks). */
const READ_SLICE = 16 * 64 * 1024;
/** The longer side of a thumbnail, pixels. */
export const THUMB_MAX_SIDE = 320;
/** Images larger than this (pixels) get no thumbnail made here (decoding them costs too much). */
const THUMB_MAX_SOURCE_PIXELS = 50_000_000;

export type Progress = (done: number, total: number) => void;

/** A file encrypted for upload: the blob, and the pointer the message body carries. */
export interface Encrypted {
  blob: Blob;
  pointer: AttachmentPointer;
}

/** Encrypts `file` with a fresh key, reporting the plaintext bytes done. */
export async function encryptFile(file: Blob, onProgress?: Progress, signal?: AbortSignal): Promise<Encrypted> {
  const enc = AttachmentEncryptor.create();
  const parts: BlobPart[] = [enc.header() as BlobPart];
  const cs = enc.chunkSize;
  const total = file.size;
  let at = 0;
  if (total === 0) parts.push(enc.encryptChunk(new Uint8Array(0), true) as BlobPart);
  while (at < total) {
    signal?.throwIfAborted();
    const slice = new Uint8Array(await file.slice(at, Math.min(total, at + READ_SLICE)).arrayBuffer());
    for (let o = 0; o < slice.length; o += cs) {
      const chunk = slice.subarray(o, Math.min(slice.length, o + cs));
      const last = at + o + chunk.length >= total;
      parts.push(enc.encryptChunk(chunk, last) as BlobPart);
    }
    slice.fill(0);
    at += READ_SLICE;
    onProgress?.(Math.min(at, total), total);
  }
  return { blob: new Blob(parts, { type: 'application/octet-stream' }), pointer: enc.finish() };
}

/** The hex SHA-256 of the encrypted blob, as the server names it (`StoredFile.sha256`). */
export function blobDigest(pointer: AttachmentPointer): string {
  return toHex(pointer.digest);
}

/**
 * Decrypts the blob read from `body` (a download), chunk by chunk, checking sizes, order and
 * the digest: a blob that is not exactly the one the pointer names fails (`CryptoError`) and
 * nothing of it is returned.
 */
export async function decryptStream(
  pointer: AttachmentPointer,
  body: ReadableStream<Uint8Array>,
  mime: string,
  onProgress?: Progress,
): Promise<Blob> {
  const reader = body.getReader();
  const total = pointer.size;
  let buf = new Uint8Array(0);
  let dec: AttachmentDecryptor | null = null;
  const out: BlobPart[] = [];
  let done = 0;
  const take = (n: number): Uint8Array | null => {
    if (buf.length < n) return null;
    const head = buf.slice(0, n);
    buf = buf.subarray(n);
    return head;
  };
  for (;;) {
    const { value, done: end } = await reader.read();
    if (value?.length) {
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf);
      joined.set(value, buf.length);
      buf = joined;
    }
    if (!dec) {
      const header = take(BLOB_HEADER_LEN);
      if (header) dec = new AttachmentDecryptor(pointer, header);
    }
    if (dec) {
      for (let len = dec.nextChunkLen(); len !== null; len = dec.nextChunkLen()) {
        const ct = take(len);
        if (!ct) break;
        const pt = dec.decryptChunk(ct);
        done += pt.length;
        out.push(pt as BlobPart);
      }
      onProgress?.(done, total);
    }
    if (end) break;
  }
  if (!dec) throw new CryptoError('Truncated');
  if (buf.length) throw new CryptoError('TrailingBytes');
  dec.finish();
  return new Blob(out, { type: mime || 'application/octet-stream' });
}

/** Whether the browser shows this type inline as an image. */
export function isInlineImage(mime: string): boolean {
  return /^image\/(png|jpeg|gif|webp|avif|bmp)$/i.test(mime);
}

/** Whether the browser plays this type inline as a video. */
export function isInlineVideo(mime: string): boolean {
  return /^video\/(mp4|webm|ogg|quicktime)$/i.test(mime);
}

/** "1:05", "12:00", "1:02:03": a duration for people. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** How long a video may take to give its first frame here before it goes without a thumbnail. */
const VIDEO_PROBE_MS = 10_000;

/**
 * A video's dimensions, duration and a thumbnail of its first moments (at most `THUMB_MAX_SIDE`
 * px, WebP or JPEG), read by the browser's own player from the file in memory. Null for a file
 * this browser cannot play, or one that gives no frame within `VIDEO_PROBE_MS`.
 */
export async function videoThumbnail(file: Blob): Promise<{ width: number; height: number; durationMs?: number; thumb: Blob } | null> {
  if (typeof document === 'undefined' || typeof OffscreenCanvas === 'undefined') return null;
  const video = document.createElement('video');
  const url = URL.createObjectURL(file);
  const event = (name: string) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), VIDEO_PROBE_MS);
      video.addEventListener(name, () => (clearTimeout(timer), resolve(true)), { once: true });
      video.addEventListener('error', () => (clearTimeout(timer), resolve(false)), { once: true });
    });
  try {
    video.muted = true;
    video.preload = 'auto';
    const meta = event('loadeddata');
    video.src = url;
    if (!(await meta)) return null;
    const { videoWidth: width, videoHeight: height } = video;
    if (!width || !height) return null;
    if (!Number.isFinite(video.duration)) {
      // A recording made by a browser (MediaRecorder WebM) carries no duration in its header:
      // seeking past the end makes the player scan to the last frame and learn it.
      const scanned = event('seeked');
      video.currentTime = Number.MAX_SAFE_INTEGER;
      await scanned;
    }
    const duration = Number.isFinite(video.duration) ? Math.round(video.duration * 1000) : undefined;
    if (duration !== undefined && duration > 0) {
      const seeked = event('seeked');
      video.currentTime = Math.min(0.5, video.duration / 2);
      await seeked;
    } else if (video.currentTime > 0) {
      const back = event('seeked');
      video.currentTime = 0;
      await back;
    }
    const scale = Math.min(1, THUMB_MAX_SIDE / Math.max(width, height));
    const canvas = new OffscreenCanvas(Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale)));
    const ctx = canvas.getContext('2d');
    if (!ctx) return null;
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    let thumb = await canvas.convertToBlob({ type: 'image/webp', quality: 0.8 });
    if (thumb.type !== 'image/webp') thumb = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.8 });
    return { width, height, durationMs: duration !== undefined && duration < 2 ** 32 ? duration : undefined, thumb };
  } catch {
    return null;
  } finally {
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(url);
  }
}

/**
 * An image's dimensions and a thumbnail of at most `THUMB_MAX_SIDE` px on its longer side
 * (WebP, or JPEG where WebP cannot be encoded; re-encoding drops the metadata). Null for a file
 * the browser cannot decode as an image, or one too large to decode here.
 */
export async function imageThumbnail(file: Blob): Promise<{ width: number; height: number; thumb: Blob } | null> {
  if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas === 'undefined') return null;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return null;
  }
  try {
    const { width, height } = bitmap;
    if (!width || !height || width * height > THUMB_MAX_SOURCE_PIXELS) return null;
    const scale = Math.min(1, THUMB_MAX_SIDE / Math.max(width, height));
    const tw = Math.max(1, Math.round(width * scale));
    const th = Math.max(1, Math.round(height * scale));
    const canvas = new OffscreenCanvas(tw, th);
    const ctx = canvas.getContext('2d');
    if (!ctx) return null;
    ctx.drawImage(bitmap, 0, 0, tw, th);
    let thumb = await canvas.convertToBlob({ type: 'image/webp', quality: 0.8 });
    if (thumb.type !== 'image/webp') thumb = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.8 });
    return { width, height, thumb };
  } finally {
    bitmap.close();
  }
}

/** "1.5 MB": a size for people. */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}
