// The application-layer encodings of end-to-end messages (docs/e2e.md, section 17): what goes
// into a message body and into an envelope around the crypto encodings. Byte-for-byte the same
// as the Rust implementation (crypto/src/app.rs, used by the test client tests/src/e2e_client.rs);
// crypto/vectors/app.json holds the known answers both must reproduce
// (src/lib/crypto/appVectors.test.ts). Decoding is strict. Encodings are written with the
// crypto port's `Writer` (u8, raw bytes, u32-length-prefixed bytes).

import { Writer } from '../crypto/encoding';

export const AppTag = {
  DIRECT_PAYLOAD: 0x40,
  CHANNEL_PAYLOAD: 0x41,
  DIRECT_PLAINTEXT: 0x42,
  ENVELOPE_PLAINTEXT: 0x43,
  KIND_SENDER_KEY: 0x01,
  /** History keys of a channel handed to a new member's devices (`HistoryBundle`, docs/e2e.md 18.5). */
  KIND_HISTORY_SHARE: 0x02,
  /** A sender-key distribution sent as its attested history key (tag 0x65, docs/e2e.md 17.2). */
  KIND_ATTESTED_SENDER_KEY: 0x03,
  BODY_TEXT: 0x50,
  BODY_ATTACHMENT: 0x51,
  /** A file in the server's file store (docs/e2e.md 19.2). */
  BODY_FILE: 0x52,
  /** A text with the preview of a link in it, made by the sender's browser (docs/e2e.md 19.5). */
  BODY_LINK_TEXT: 0x53,
  ATTACHMENT_BLOB: 0x09,
} as const;

/** The largest decrypted body. */
export const MAX_BODY = 256 * 1024;
/** The largest pairwise ciphertext per recipient of a DM payload. */
export const MAX_PAIRWISE = MAX_BODY + 1024;
/** The largest file name (UTF-8 bytes) of an attachment body. */
export const MAX_FILE_NAME = 1024;
/** Most recipient devices of one direct payload (a 16-bit count). */
export const MAX_DIRECT_RECIPIENTS = 0xffff;
/** The largest MIME type (UTF-8 bytes) of an attachment body. */
export const MAX_MIME_TYPE = 256;
/** The largest address (and address after redirects) of a link preview in a body, UTF-8 bytes. */
export const MAX_LINK_URL = 2048;
/** The largest title of a link preview in a body, UTF-8 bytes. */
export const MAX_LINK_TITLE = 1200;
/** The largest description of a link preview in a body, UTF-8 bytes. */
export const MAX_LINK_DESCRIPTION = 4000;
/** The largest site name of a link preview in a body, UTF-8 bytes. */
export const MAX_LINK_SITE_NAME = 400;
/** Length of an attachment pointer (tag 0x0A). */
const POINTER_LEN = 73;

/** An application-layer encoding is malformed (a `CryptoError` of `crypto/src/app.rs` in Rust). */
export class MalformedError extends Error {
  constructor(what: string) {
    super(`malformed: ${what}`);
    this.name = 'MalformedError';
  }
}

const HEX = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** The 16 bytes of a UUID string. */
export function uuidBytes(id: string): Uint8Array {
  if (!HEX.test(id)) throw new MalformedError('id');
  const hex = id.replace(/-/g, '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The canonical (lower-case, hyphenated) UUID string of 16 bytes. */
export function uuidString(b: Uint8Array): string {
  if (b.length !== 16) throw new MalformedError('id');
  let s = '';
  for (let i = 0; i < 16; i++) {
    s += HEX_BYTE[b[i] as number];
    if (i === 3 || i === 5 || i === 7 || i === 9) s += '-';
  }
  return s;
}

/** Two lower-case hex digits of every byte. */
const HEX_BYTE = Array.from({ length: 256 }, (_, x) => x.toString(16).padStart(2, '0'));

/** A strict reader of the application-layer encodings (every failure is a `MalformedError`). */
export class AppReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  take(n: number): Uint8Array {
    if (this.buf.length - this.pos < n) throw new MalformedError('truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(): number {
    return this.take(1)[0]!;
  }

  u16(): number {
    const b = this.take(2);
    return (b[0]! << 8) | b[1]!;
  }

  u32(): number {
    const b = this.take(4);
    return ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
  }

  id(): string {
    return uuidString(this.take(16));
  }

  var(max: number): Uint8Array {
    const b = this.take(4);
    const n = ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
    if (n > max) throw new MalformedError('length above limit');
    return this.take(n);
  }

  rest(): Uint8Array {
    return this.take(this.buf.length - this.pos);
  }

  finish(): void {
    if (this.pos !== this.buf.length) throw new MalformedError('trailing bytes');
  }
}

const utf8 = new TextEncoder();
// ignoreBOM: a leading U+FEFF is text like any other, as in the Rust decoder
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(b: Uint8Array): string {
  try {
    return strictUtf8.decode(b);
  } catch {
    throw new MalformedError('utf-8');
  }
}

// ---- bodies

/** A file of the server's file store, as a message body names it (docs/e2e.md 19.2). */
export interface FileRef {
  /** Its id in the store. */
  fileId: string;
  /** `AttachmentPointer` (73 bytes): key, digest of the encrypted blob, plaintext size. Secret. */
  pointer: Uint8Array;
  name: string;
  mime: string;
  /** Pixels, for an image or a video. */
  width?: number;
  height?: number;
  /** Milliseconds, for a video or a recording. */
  durationMs?: number;
  /** An encrypted thumbnail, its own file and key. */
  thumb?: { fileId: string; pointer: Uint8Array };
}

/**
 * The preview of a link in a text, as its sender's browser had the server's fetcher read it
 * (docs/e2e.md 19.5). The codec checks lengths only; whether a card shows is the renderer's rule
 * (`encryptedCard` in chat/previews.svelte.ts).
 */
export interface LinkCard {
  /** The address previewed, 1 to `MAX_LINK_URL` bytes. */
  url: string;
  /** Where the page was found after redirects, 1 to `MAX_LINK_URL` bytes. */
  finalUrl: string;
  title: string;
  description: string;
  siteName: string;
}

export type Body =
  | { kind: 'text'; text: string }
  | { kind: 'attachment'; blobMessageId: string; pointer: Uint8Array; name: string; mime: string }
  | ({ kind: 'file' } & FileRef)
  | { kind: 'linkText'; text: string; link: LinkCard };

const FILE_HAS_DIMENSIONS = 1;
const FILE_HAS_DURATION = 2;
const FILE_HAS_THUMBNAIL = 4;

function u32ok(n: number | undefined): boolean {
  return n === undefined || (Number.isInteger(n) && n >= 0 && n <= 0xffffffff);
}

/**
 * `0x52 | file_id | AttachmentPointer | var(name) | var(MIME type) | flags u8 | [width u32 |
 * height u32] | [duration_ms u32] | [thumb_file_id | AttachmentPointer]` (flags bits 0, 1, 2).
 */
export function fileBody(f: FileRef): Uint8Array {
  if (f.pointer.length !== POINTER_LEN || (f.thumb && f.thumb.pointer.length !== POINTER_LEN)) throw new MalformedError('pointer');
  if ((f.width === undefined) !== (f.height === undefined) || !u32ok(f.width) || !u32ok(f.height) || !u32ok(f.durationMs)) {
    throw new MalformedError('file dimensions or duration');
  }
  const n = utf8.encode(f.name);
  const m = utf8.encode(f.mime);
  if (n.length > MAX_FILE_NAME || m.length > MAX_MIME_TYPE) throw new MalformedError('length above limit');
  const flags =
    (f.width !== undefined ? FILE_HAS_DIMENSIONS : 0) | (f.durationMs !== undefined ? FILE_HAS_DURATION : 0) | (f.thumb ? FILE_HAS_THUMBNAIL : 0);
  const w = new Writer().u8(AppTag.BODY_FILE).bytes(uuidBytes(f.fileId)).bytes(f.pointer).varBytes(n).varBytes(m).u8(flags);
  if (f.width !== undefined) w.u32(f.width).u32(f.height!);
  if (f.durationMs !== undefined) w.u32(f.durationMs);
  if (f.thumb) w.bytes(uuidBytes(f.thumb.fileId)).bytes(f.thumb.pointer);
  return w.finish();
}

/** `0x50 | UTF-8 text`. */
export function textBody(text: string): Uint8Array {
  return new Writer().u8(AppTag.BODY_TEXT).bytes(utf8.encode(text)).finish();
}

/**
 * `0x53 | var(text) | var(url) | var(final_url) | var(title) | var(description) | var(site_name)`:
 * a text and the preview of a link in it. Refuses what the decoder would refuse.
 */
export function linkTextBody(text: string, link: LinkCard): Uint8Array {
  const t = utf8.encode(text);
  const u = utf8.encode(link.url);
  const f = utf8.encode(link.finalUrl);
  const ti = utf8.encode(link.title);
  const d = utf8.encode(link.description);
  const s = utf8.encode(link.siteName);
  if (u.length === 0 || f.length === 0) throw new MalformedError('link address');
  if (t.length > MAX_BODY || u.length > MAX_LINK_URL || f.length > MAX_LINK_URL || ti.length > MAX_LINK_TITLE) {
    throw new MalformedError('length above limit');
  }
  if (d.length > MAX_LINK_DESCRIPTION || s.length > MAX_LINK_SITE_NAME) throw new MalformedError('length above limit');
  return new Writer().u8(AppTag.BODY_LINK_TEXT).varBytes(t).varBytes(u).varBytes(f).varBytes(ti).varBytes(d).varBytes(s).finish();
}

/** An address of a link body: 1 to `MAX_LINK_URL` bytes of UTF-8. */
function linkUrl(r: AppReader): string {
  const b = r.var(MAX_LINK_URL);
  if (b.length === 0) throw new MalformedError('link address');
  return decodeUtf8(b);
}

/** `0x51 | blob_message_id | AttachmentPointer (73 bytes) | var(file name) | var(MIME type)`. */
export function attachmentBody(blobMessageId: string, pointer: Uint8Array, name: string, mime: string): Uint8Array {
  if (pointer.length !== POINTER_LEN) throw new MalformedError('pointer');
  const n = utf8.encode(name);
  const m = utf8.encode(mime);
  if (n.length > MAX_FILE_NAME || m.length > MAX_MIME_TYPE) throw new MalformedError('length above limit');
  return new Writer().u8(AppTag.BODY_ATTACHMENT).bytes(uuidBytes(blobMessageId)).bytes(pointer).varBytes(n).varBytes(m).finish();
}

export function decodeBody(body: Uint8Array): Body {
  const r = new AppReader(body);
  switch (r.u8()) {
    case AppTag.BODY_TEXT:
      return { kind: 'text', text: decodeUtf8(r.rest()) };
    case AppTag.BODY_ATTACHMENT: {
      const blobMessageId = r.id();
      const pointer = r.take(POINTER_LEN).slice();
      const name = decodeUtf8(r.var(MAX_FILE_NAME));
      const mime = decodeUtf8(r.var(MAX_MIME_TYPE));
      r.finish();
      return { kind: 'attachment', blobMessageId, pointer, name, mime };
    }
    case AppTag.BODY_FILE: {
      const fileId = r.id();
      const pointer = r.take(POINTER_LEN).slice();
      const name = decodeUtf8(r.var(MAX_FILE_NAME));
      const mime = decodeUtf8(r.var(MAX_MIME_TYPE));
      const flags = r.u8();
      if (flags & ~(FILE_HAS_DIMENSIONS | FILE_HAS_DURATION | FILE_HAS_THUMBNAIL)) throw new MalformedError('file body flags');
      const out: Body = { kind: 'file', fileId, pointer, name, mime };
      if (flags & FILE_HAS_DIMENSIONS) {
        out.width = r.u32();
        out.height = r.u32();
      }
      if (flags & FILE_HAS_DURATION) out.durationMs = r.u32();
      if (flags & FILE_HAS_THUMBNAIL) out.thumb = { fileId: r.id(), pointer: r.take(POINTER_LEN).slice() };
      r.finish();
      return out;
    }
    case AppTag.BODY_LINK_TEXT: {
      const text = decodeUtf8(r.var(MAX_BODY));
      const url = linkUrl(r);
      const finalUrl = linkUrl(r);
      const title = decodeUtf8(r.var(MAX_LINK_TITLE));
      const description = decodeUtf8(r.var(MAX_LINK_DESCRIPTION));
      const siteName = decodeUtf8(r.var(MAX_LINK_SITE_NAME));
      r.finish();
      return { kind: 'linkText', text, link: { url, finalUrl, title, description, siteName } };
    }
    default:
      throw new MalformedError('body kind');
  }
}

// ---- direct payloads (DMs)

/** `0x42 | channel_id | var(body)`: the plaintext of each pairwise ciphertext of a DM. */
export function directPlaintext(channelId: string, body: Uint8Array): Uint8Array {
  return new Writer().u8(AppTag.DIRECT_PLAINTEXT).bytes(uuidBytes(channelId)).varBytes(body).finish();
}

export function decodeDirectPlaintext(plain: Uint8Array): { channelId: string; body: Uint8Array } {
  const r = new AppReader(plain);
  if (r.u8() !== AppTag.DIRECT_PLAINTEXT) throw new MalformedError('direct plaintext tag');
  const channelId = r.id();
  const body = r.var(MAX_BODY).slice();
  r.finish();
  return { channelId, body };
}

/** `0x40 | sender_device | count u16 | count × (recipient_device | var(pairwise))`. */
export function directPayload(senderDevice: string, items: { device: string; ciphertext: Uint8Array }[]): Uint8Array {
  const n = items.length;
  if (n > MAX_DIRECT_RECIPIENTS) throw new Error(`a direct payload holds at most ${MAX_DIRECT_RECIPIENTS} recipients`);
  const w = new Writer().u8(AppTag.DIRECT_PAYLOAD).bytes(uuidBytes(senderDevice)).u8(n >> 8).u8(n);
  for (const it of items) w.bytes(uuidBytes(it.device)).varBytes(it.ciphertext);
  return w.finish();
}

/** `0x41 | sender_device | SenderKeyMessage`. */
export function channelPayload(senderDevice: string, senderKeyMessage: Uint8Array): Uint8Array {
  return new Writer().u8(AppTag.CHANNEL_PAYLOAD).bytes(uuidBytes(senderDevice)).bytes(senderKeyMessage).finish();
}

export type Payload =
  | { kind: 'direct'; senderDevice: string; mine: Uint8Array | null }
  | { kind: 'channel'; senderDevice: string; message: Uint8Array };

/** Splits a message body; for a DM, keeps only the ciphertext addressed to `myDevice`. */
export function decodePayload(bytes: Uint8Array, myDevice: string): Payload {
  const r = new AppReader(bytes);
  const tag = r.u8();
  const senderDevice = r.id();
  if (tag === AppTag.DIRECT_PAYLOAD) {
    const n = r.u16();
    let mine: Uint8Array | null = null;
    for (let i = 0; i < n; i++) {
      const d = r.id();
      const ct = r.var(MAX_PAIRWISE);
      if (d === myDevice) mine = ct.slice();
    }
    r.finish();
    return { kind: 'direct', senderDevice, mine };
  }
  if (tag === AppTag.CHANNEL_PAYLOAD) return { kind: 'channel', senderDevice, message: r.rest().slice() };
  throw new MalformedError('payload tag');
}

// ---- envelopes

/** `0x43 | kind | flag | [channel_id] | var(body)`. */
export function envelopePlaintext(kind: number, channelId: string | null, body: Uint8Array): Uint8Array {
  const w = new Writer().u8(AppTag.ENVELOPE_PLAINTEXT).u8(kind).flag(channelId !== null);
  if (channelId !== null) w.bytes(uuidBytes(channelId));
  return w.varBytes(body).finish();
}

export function decodeEnvelopePlaintext(plain: Uint8Array): { kind: number; channelId: string | null; body: Uint8Array } {
  const r = new AppReader(plain);
  if (r.u8() !== AppTag.ENVELOPE_PLAINTEXT) throw new MalformedError('envelope plaintext tag');
  const kind = r.u8();
  const flag = r.u8();
  let channelId: string | null = null;
  if (flag === 1) channelId = r.id();
  else if (flag !== 0) throw new MalformedError('flag');
  const body = r.var(MAX_BODY).slice();
  r.finish();
  return { kind, channelId, body };
}
