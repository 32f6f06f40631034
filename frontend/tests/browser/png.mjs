// PNG files made in the tests (no image library): what the browser tests upload as pictures.

import { crc32, deflateSync } from 'node:zlib';

/**
 * A PNG of `w` × `h` pixels: `pixel(x, y)` gives each one's `[r, g, b]` (or `[r, g, b, a]` with
 * `alpha`); `text`, if given, goes in a tEXt chunk (metadata a re-encoding must drop).
 */
export function encodePng(w, h, pixel, { alpha = false, text = null } = {}) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = alpha ? 6 : 2; // RGBA or RGB
  const n = alpha ? 4 : 3;
  const rows = Buffer.alloc((w * n + 1) * h);
  for (let y = 0; y < h; y++) {
    const o = y * (w * n + 1);
    for (let x = 0; x < w; x++) rows.set(pixel(x, y), o + 1 + x * n);
  }
  const meta = text === null ? [] : [chunk('tEXt', Buffer.from(`Comment\0${text}`))];
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    ...meta,
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A gradient of `w` × `h` with a light band across its middle, and `text` as metadata. */
export function gradientPng(w, h, hue, text) {
  return encodePng(
    w,
    h,
    (x, y) => (Math.abs(y - h / 2) < h / 10 ? [250, 250, 250] : [(x * 255) / w, hue, (y * 255) / h]),
    { text },
  );
}
