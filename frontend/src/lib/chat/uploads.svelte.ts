// Files being sent (docs/e2e.md 19.2, docs/web.md "Files"): in an end-to-end channel each is
// prepared (an image's dimensions and thumbnail), encrypted with a key of its own, uploaded with
// progress, checked against the digest the server reports, and then sent as one message naming
// it; in a plaintext channel it is uploaded as it is, with its name and type (the server makes an
// image's thumbnail), and sent the same way. A failed one keeps its place with the reason and
// can be tried again or dropped; a cancelled one is gone.

import type { ApiClient } from '../api/client';
import { ApiError } from '../api/client';
import type { StoredFile } from '../api/types';
import type { Attachment } from './attachments';
import { uploadName, uploadType } from '../validate';
import { describeError } from '../errors';
import type { FileRef } from '../e2e/appcodec';
import { blobDigest, encryptFile, imageThumbnail, isInlineImage, videoThumbnail, type Encrypted } from '../e2e/files';

/** Files waiting or under way in one channel at most. */
export const MAX_UPLOADS_PER_CHANNEL = 20;

export type UploadStatus = 'preparing' | 'encrypting' | 'uploading' | 'sending' | 'failed';

let nextId = 1;

/** One file on its way: what the composer's upload list shows. */
export class Upload {
  readonly id = `u${nextId++}`;
  status = $state<UploadStatus>('preparing');
  /** Bytes done in the current step, of `total`. */
  done = $state(0);
  total = $state(0);
  error = $state<string | null>(null);
  /** A local preview of an image (an object URL), revoked when the upload ends. */
  preview = $state<string | null>(null);
  private abort = new AbortController();

  constructor(readonly file: File) {
    this.total = file.size;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Stops what is under way (the upload request is aborted). */
  cancel(): void {
    this.abort.abort();
    this.release();
  }

  /** A fresh start after a failure. */
  restart(): void {
    this.abort = new AbortController();
    this.status = 'preparing';
    this.error = null;
    this.done = 0;
  }

  release(): void {
    if (this.preview) URL.revokeObjectURL(this.preview);
    this.preview = null;
  }
}

/** Whether `e` is the end of a cancelled step. */
export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

/** What a failed step tells the person. */
export function uploadError(e: unknown): string {
  if (e instanceof ApiError) return describeError(e);
  return e instanceof Error ? e.message : String(e);
}

async function put(api: ApiClient, channelId: string, enc: Encrypted, u: Upload, base: number, total: number): Promise<StoredFile> {
  const stored = await api.uploadFile(channelId, enc.blob, (sent) => (u.done = base + sent), u.signal);
  // The server names the blob by its SHA-256: anything else is not the blob this browser made.
  if (stored.sha256 !== blobDigest(enc.pointer) || stored.size !== enc.blob.size) {
    throw new Error('The server stored other bytes than were sent: the file was not sent.');
  }
  u.done = Math.min(total, base + enc.blob.size);
  return stored;
}

/**
 * Prepares, encrypts and uploads `u.file` to the channel: the fields of the message body that
 * will name it, and the ids of the stored files (the file, then its thumbnail).
 */
export async function uploadEncrypted(api: ApiClient, channelId: string, u: Upload): Promise<{ ref: FileRef; files: string[] }> {
  const file = u.file;
  const mime = file.type || 'application/octet-stream';
  u.status = 'preparing';
  const image: { width: number; height: number; durationMs?: number; thumb: Blob } | null = mime.startsWith('image/')
    ? await imageThumbnail(file)
    : mime.startsWith('video/')
      ? await videoThumbnail(file)
      : null;
  u.signal.throwIfAborted();
  if (image && !u.preview) u.preview = URL.createObjectURL(image.thumb);
  u.status = 'encrypting';
  u.total = file.size;
  u.done = 0;
  const main = await encryptFile(file, (d) => (u.done = d), u.signal);
  const thumb = image ? await encryptFile(image.thumb, undefined, u.signal) : null;
  u.status = 'uploading';
  const total = main.blob.size + (thumb?.blob.size ?? 0);
  u.total = total;
  u.done = 0;
  const storedThumb = thumb ? await put(api, channelId, thumb, u, 0, total) : null;
  const stored = await put(api, channelId, main, u, thumb?.blob.size ?? 0, total);
  const ref: FileRef = { fileId: stored.id, pointer: main.pointer.toBytes(), name: file.name.slice(0, 255) || 'file', mime: mime.slice(0, 255) };
  if (image) {
    ref.width = image.width;
    ref.height = image.height;
    if (image.durationMs !== undefined) ref.durationMs = image.durationMs;
  }
  if (storedThumb && thumb) ref.thumb = { fileId: storedThumb.id, pointer: thumb.pointer.toBytes() };
  return { ref, files: storedThumb ? [stored.id, storedThumb.id] : [stored.id] };
}

/** A picked image shown as its own preview in the upload list up to this size (bytes). */
const PREVIEW_MAX_BYTES = 20 * 1024 * 1024;

/**
 * Uploads `u.file` to a plaintext channel as it is, named and typed: the attachment the message
 * will show (as the server described the stored file) and the id to send with it.
 */
export async function uploadPlain(api: ApiClient, channelId: string, u: Upload): Promise<{ attachment: Attachment; files: string[] }> {
  const file = u.file;
  const name = uploadName(file.name);
  const type = uploadType(file.type);
  if (!u.preview && type && isInlineImage(type) && file.size <= PREVIEW_MAX_BYTES) u.preview = URL.createObjectURL(file);
  u.status = 'uploading';
  u.total = file.size;
  u.done = 0;
  const stored = await api.uploadFile(channelId, file, (sent) => (u.done = Math.min(sent, file.size)), u.signal, { name, type });
  if (stored.size !== file.size) throw new Error('The server stored another number of bytes than were sent: the file was not sent.');
  u.done = file.size;
  const attachment: Attachment = {
    id: stored.id,
    name: stored.name || name,
    content_type: stored.content_type || type || 'application/octet-stream',
    size: stored.size,
    thumbnail: stored.thumbnail === true,
  };
  if (stored.width && stored.height) {
    attachment.width = stored.width;
    attachment.height = stored.height;
  }
  return { attachment, files: [stored.id] };
}
