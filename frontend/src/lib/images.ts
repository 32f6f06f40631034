// Pictures of people and communities: avatars, profile banners, community icons and banners are
// images the server stored (`POST /api/v1/images`, which crops or shrinks them for their kind)
// and serves to anyone by reference (`GET /api/v1/images/{ref}`). Without one, a person or a
// community shows its initials in a circle of a colour of its own.

import { ApiError, IMAGE_MAX_BYTES } from './api/client';

/** An image reference: the SHA-256 of the stored image, 64 lowercase hex digits. */
const IMAGE_REF = /^[0-9a-f]{64}$/;

/** Whether `ref` names a stored image (other references, or none, show the placeholder). */
export function isImageRef(ref: string | null | undefined): ref is string {
  return typeof ref === 'string' && IMAGE_REF.test(ref);
}

/**
 * Up to two letters for a name: the first letters of its first two words, or the first two of
 * a single word (whole characters, so an emoji or an accented letter is not cut in half).
 */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const first = (w: string | undefined) => Array.from(w ?? '')[0] ?? '';
  const s = words.length > 1 ? first(words[0]) + first(words[1]) : Array.from(words[0] ?? '').slice(0, 2).join('');
  return s.toUpperCase() || '?';
}

/**
 * The colours of the placeholder circles: each holds white text at a contrast of at least 4.5:1
 * (a test checks it), in the light and the dark theme alike.
 */
export const AVATAR_COLOURS: readonly string[] = [
  '#4752c4',
  '#a8336a',
  '#0e7566',
  '#9a4a10',
  '#6d45bf',
  '#2c6a98',
  '#3b7324',
  '#a23b3b',
  '#7a5a00',
];

/** The placeholder colour of a person or community, the same everywhere (from its id: FNV-1a). */
export function avatarColour(seed: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return AVATAR_COLOURS[h % AVATAR_COLOURS.length]!;
}

/** Mebibytes with one decimal at most, rounded up (so that anything over a bound says so). */
function mib(bytes: number): string {
  return (Math.ceil((bytes / (1024 * 1024)) * 10) / 10).toLocaleString('en', { maximumFractionDigits: 1 });
}

/**
 * What is wrong with a picked file before it is sent, or null: larger than the server takes, or
 * not an image at all (the server tells image types apart by the bytes). Said with the code the
 * server would answer, so it shows as the server's refusal would.
 */
export function checkImageFile(file: Blob): ApiError | null {
  if (file.type && !file.type.toLowerCase().startsWith('image/')) {
    return new ApiError('unsupported_media_type', 'Choose an image: a PNG, JPEG, GIF or WebP file.');
  }
  if (file.size > IMAGE_MAX_BYTES) {
    return new ApiError('payload_too_large', `This image is ${mib(file.size)} MiB; the most is ${mib(IMAGE_MAX_BYTES)} MiB. Choose a smaller one.`);
  }
  if (file.size === 0) return new ApiError('invalid_request', 'This file is empty.');
  return null;
}

/**
 * A refused image upload, said for people: too large, not an image the server reads, or too
 * many pixels (or damaged). Other failures stay as they are.
 */
export function imageFailure(e: unknown): unknown {
  if (!(e instanceof ApiError)) return e;
  const say = (text: string) => new ApiError(e.code, text, e.status, e.retryAfter);
  const code = e.code;
  if (code === 'payload_too_large') return say(`This image is larger than ${mib(IMAGE_MAX_BYTES)} MiB. Choose a smaller one.`);
  if (code === 'unsupported_media_type') return say('This file is not a PNG, JPEG, GIF or WebP image.');
  // A 400 for an image: more than 8192 pixels a side or 40 megapixels, or bytes that do not decode.
  if (code === 'invalid_request') {
    return say('This image cannot be used: it may be damaged, or larger than 8192 pixels a side or 40 megapixels.');
  }
  return e;
}
