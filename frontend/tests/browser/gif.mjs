// Animated GIFs made in the tests (no image library): GIF89a with a global palette of 16
// colours, frames LZW-coded, looping forever; what the test GIF provider serves.

/** The palette: index → [r, g, b]. */
const PALETTE = [
  [0, 0, 0], [255, 255, 255], [220, 40, 60], [40, 160, 90], [40, 90, 220], [250, 200, 40], [150, 60, 200], [30, 190, 200],
  [240, 120, 30], [120, 120, 120], [200, 200, 200], [90, 40, 20], [255, 150, 190], [20, 60, 40], [60, 20, 90], [180, 230, 120],
];

/** LZW codes of `pixels` (palette indices) as GIF packs them, for a minimum code size of `min`. */
function lzw(pixels, min) {
  const clear = 1 << min;
  const eoi = clear + 1;
  const out = [];
  let bits = 0;
  let nbits = 0;
  let size = min + 1;
  let next = eoi + 1;
  let table = new Map();
  const emit = (code) => {
    bits |= code << nbits;
    nbits += size;
    while (nbits >= 8) {
      out.push(bits & 0xff);
      bits >>>= 8;
      nbits -= 8;
    }
  };
  emit(clear);
  let prefix = pixels[0];
  for (let i = 1; i < pixels.length; i++) {
    const k = pixels[i];
    const key = (prefix << 8) | k;
    const known = table.get(key);
    if (known !== undefined) {
      prefix = known;
      continue;
    }
    emit(prefix);
    if (next === 4096) {
      emit(clear);
      table = new Map();
      next = eoi + 1;
      size = min + 1;
    } else {
      if (next >= 1 << size) size++;
      table.set(key, next++);
    }
    prefix = k;
  }
  emit(prefix);
  emit(eoi);
  if (nbits > 0) out.push(bits & 0xff);
  return Buffer.from(out);
}

/** Data in sub-blocks of at most 255 bytes, ended by an empty one. */
function blocks(data) {
  const parts = [];
  for (let o = 0; o < data.length; o += 255) {
    const piece = data.subarray(o, o + 255);
    parts.push(Buffer.from([piece.length]), piece);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

const u16 = (n) => Buffer.from([n & 0xff, n >> 8]);

/**
 * An animated GIF of `w` × `h` pixels: `frames` functions `(x, y) → palette index` (0 to 15),
 * each shown `delayCs` hundredths of a second, looping forever.
 */
export function encodeGif(w, h, frames, delayCs = 40) {
  const parts = [
    Buffer.from('GIF89a'),
    u16(w),
    u16(h),
    // a global table of 16 colours, 8 bits a primary
    Buffer.from([0xf3, 0, 0]),
    Buffer.from(PALETTE.flat()),
    // NETSCAPE2.0: loop forever
    Buffer.from([0x21, 0xff, 0x0b]),
    Buffer.from('NETSCAPE2.0'),
    Buffer.from([3, 1, 0, 0, 0]),
  ];
  for (const frame of frames) {
    const pixels = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) pixels[y * w + x] = frame(x, y) & 15;
    parts.push(Buffer.from([0x21, 0xf9, 4, 0x04]), u16(delayCs), Buffer.from([0, 0]));
    parts.push(Buffer.from([0x2c]), u16(0), u16(0), u16(w), u16(h), Buffer.from([0]));
    parts.push(Buffer.from([4]), blocks(lzw(pixels, 4)));
  }
  parts.push(Buffer.from([0x3b]));
  return Buffer.concat(parts);
}

/**
 * A two-frame GIF of a square moving across a striped background, in colours picked by
 * `seed`: the frames differ, so it animates.
 */
export function movingSquareGif(w, h, seed = 0) {
  const bg = 2 + (seed % 6);
  const stripe = 8 + (seed % 7);
  const fg = 1;
  const side = Math.max(4, Math.round(Math.min(w, h) / 3));
  const top = Math.round((h - side) / 2);
  const frame = (left) => (x, y) =>
    x >= left && x < left + side && y >= top && y < top + side ? fg : Math.floor((x + y) / 12) % 2 ? bg : stripe;
  return encodeGif(w, h, [frame(Math.round(w / 8)), frame(Math.round(w - w / 8 - side))]);
}
