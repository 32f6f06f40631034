// Files shown in messages, of both kinds of channel, in one shape (`ShownFile`) for the file
// view and the image viewer: in an end-to-end channel a file is what the decrypted body names
// (`FileRef`: key, digest, name, type, dimensions, an encrypted thumbnail); in a plaintext
// channel it is what the server lists in the message's `attachments` (name, type, size, an
// image's dimensions, whether it made a thumbnail).

import type { Attachment, Message } from '../api/types';
import type { FileRef } from '../e2e/appcodec';
import { AttachmentPointer } from '../crypto/attachment';
import { isInlineImage, isInlineVideo, THUMB_MAX_SIDE } from '../e2e/files';

export type { Attachment };

/** Where a shown file's bytes come from. */
export type FileSource =
  | { kind: 'encrypted'; ref: FileRef }
  | { kind: 'plain'; fileId: string; thumbnail: boolean };

/** A file as the timeline shows it, whatever the channel. */
export interface ShownFile {
  /** Unique among the files of a channel (the viewer's key): the message id and the place. */
  key: string;
  name: string;
  /** The type it was sent with (the sender's, or the server's for an image it recognised). */
  mime: string;
  /** Bytes of the file itself; null when unknown. */
  size: number | null;
  width?: number;
  height?: number;
  durationMs?: number;
  /** Shown from its thumbnail, opened whole in the viewer. */
  image: boolean;
  /** Played in place once downloaded. */
  video: boolean;
  /** A thumbnail (or a video's poster) can be fetched. */
  hasThumb: boolean;
  source: FileSource;
}

/** A video of unknown proportions is shown in a box of these. */
export const VIDEO_BOX = { w: 320, h: 180 } as const;

const positive = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0;

/** A file of an end-to-end message body. */
export function fromFileRef(ref: FileRef, key: string): ShownFile {
  let size: number | null = null;
  try {
    size = AttachmentPointer.fromBytes(ref.pointer).size;
  } catch {
    size = null;
  }
  const dims = positive(ref.width) && positive(ref.height);
  const shown: ShownFile = {
    key,
    name: ref.name || 'file',
    mime: ref.mime,
    size,
    image: isInlineImage(ref.mime) && !!ref.thumb && dims,
    // The sender's browser played it (it made the poster): this one should too.
    video: isInlineVideo(ref.mime) && !!ref.thumb && dims,
    hasThumb: !!ref.thumb,
    source: { kind: 'encrypted', ref },
  };
  if (dims) {
    shown.width = ref.width;
    shown.height = ref.height;
  }
  if (ref.durationMs !== undefined) shown.durationMs = ref.durationMs;
  return shown;
}

/** A file of a plaintext message. */
export function fromAttachment(a: Attachment, key: string): ShownFile {
  const dims = positive(a.width) && positive(a.height);
  const mime = typeof a.content_type === 'string' && a.content_type ? a.content_type : 'application/octet-stream';
  const thumbnail = a.thumbnail === true;
  const shown: ShownFile = {
    key,
    name: typeof a.name === 'string' && a.name ? a.name : 'file',
    mime,
    size: typeof a.size === 'number' && Number.isFinite(a.size) && a.size >= 0 ? a.size : null,
    image: isInlineImage(mime) && thumbnail && dims,
    // No poster is made for a video here: it plays in a box of its own once downloaded.
    video: isInlineVideo(mime),
    hasThumb: thumbnail,
    source: { kind: 'plain', fileId: a.id, thumbnail },
  };
  if (dims) {
    shown.width = a.width!;
    shown.height = a.height!;
  }
  return shown;
}

/** The server's list of a message's files (absent when none; entries without an id are skipped). */
export function messageAttachments(m: Pick<Message, 'deleted'> & { attachments?: unknown }): Attachment[] {
  if (m.deleted || !Array.isArray(m.attachments)) return [];
  return m.attachments.filter((a): a is Attachment => !!a && typeof a === 'object' && typeof (a as Attachment).id === 'string');
}

/** The files a message shows: a plaintext message's attachments, or the file of a decrypted body. */
export function messageFiles(m: Pick<Message, 'id' | 'deleted' | 'content'> & { attachments?: unknown }, decrypted?: FileRef | null): ShownFile[] {
  if (m.deleted) return [];
  if (m.content?.kind === 'encrypted') return decrypted ? [fromFileRef(decrypted, `${m.id}/0`)] : [];
  return messageAttachments(m).map((a, i) => fromAttachment(a, `${m.id}/${i}`));
}

/** "📎 beach.png", "📎 beach.png and 2 more files": a plaintext message's files in a line. */
export function filesSummary(m: Pick<Message, 'deleted'> & { attachments?: unknown }): string | null {
  const list = messageAttachments(m);
  if (!list.length) return null;
  const first = `📎 ${list[0]!.name || 'file'}`;
  const more = list.length - 1;
  return more ? `${first} and ${more} more file${more === 1 ? '' : 's'}` : first;
}

/** The box a thumbnail is shown in: the proportions of the image, within `THUMB_MAX_SIDE` px. */
export function thumbBox(width: number | undefined, height: number | undefined): { w: number; h: number } {
  if (!positive(width) || !positive(height)) return { ...VIDEO_BOX };
  const scale = Math.min(1, THUMB_MAX_SIDE / Math.max(width, height));
  return { w: Math.max(24, Math.round(width * scale)), h: Math.max(24, Math.round(height * scale)) };
}

/** A GIF of at most this many bytes is shown whole (animated) in place of its thumbnail. */
export const GIF_IN_PLACE_MAX = 4 * 1024 * 1024;

/**
 * Whether the timeline shows this file whole in place of its (still) thumbnail once it is
 * downloaded: a GIF shown as an image, of a known size of at most `GIF_IN_PLACE_MAX`.
 */
export function animatesInPlace(f: ShownFile): boolean {
  return f.image && /^image\/gif$/i.test(f.mime) && f.size !== null && f.size <= GIF_IN_PLACE_MAX;
}

/**
 * The type a downloaded file is held with in this tab: its own for an image or a video shown
 * inline, otherwise bytes (an object URL of another type, HTML say, is never to be rendered).
 */
export function heldType(mime: string): string {
  return isInlineImage(mime) || isInlineVideo(mime) ? mime.toLowerCase() : 'application/octet-stream';
}

/**
 * The whole body of a download as a blob of `type`, reporting the bytes read of `size` (or of
 * the answer's length). A plaintext file has no digest to check: a body of another length than
 * the file's is refused (a download cut short, or not this file).
 */
export async function readWhole(
  res: Response,
  type: string,
  size: number | null,
  onProgress?: (done: number, total: number) => void,
): Promise<Blob> {
  const stated = Number(res.headers.get('content-length'));
  const total = size ?? (Number.isFinite(stated) && stated > 0 ? stated : 0);
  const parts: BlobPart[] = [];
  let done = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { value, done: end } = await reader.read();
      if (value?.length) {
        parts.push(value as BlobPart);
        done += value.length;
        if (size !== null && done > size) {
          await reader.cancel().catch(() => {});
          throw new Error('The download is longer than the file: it is not shown.');
        }
        onProgress?.(done, total);
      }
      if (end) break;
    }
  }
  if (size !== null && done !== size) throw new Error('The download was cut short: try again.');
  return new Blob(parts, { type });
}
