/**
 * Strict binary reading and writing, and the table of encoding tags.
 *
 * Every encoding starts with one tag byte naming both the type and its version.
 * Integers are big-endian. Decoders reject short input, trailing bytes, unknown tags
 * and out-of-range fields with a {@link CryptoError}; they never throw anything else.
 */

import { CryptoError } from './errors.js';
import { U32_MAX } from './limits.js';

/** Tag bytes: one per (encoding, version). A new version gets a new tag. */
export const Tag = {
  DEVICE_CERTIFICATE: 0x01,
  SIGNED_PREKEY: 0x02,
  ONE_TIME_PREKEY: 0x03,
  PREKEY_BUNDLE: 0x04,
  PREKEY_MESSAGE: 0x05,
  RATCHET_MESSAGE: 0x06,
  SENDER_KEY_DISTRIBUTION: 0x07,
  SENDER_KEY_MESSAGE: 0x08,
  ATTACHMENT_BLOB: 0x09,
  ATTACHMENT_POINTER: 0x0a,
  USER_KEY_SECRET: 0x20,
  DEVICE_IDENTITY_SECRET: 0x21,
  SIGNED_PREKEY_SECRET: 0x22,
  ONE_TIME_PREKEY_SECRET: 0x23,
  SESSION_STATE: 0x24,
  SENDER_KEY_SENDER_STATE: 0x25,
  SENDER_KEY_RECEIVER_STATE: 0x26,
  SECRET_STORAGE: 0x60,
  SECRET_STORAGE_PLAINTEXT: 0x61,
  LINK_REQUEST: 0x62,
  LINK_RESPONSE: 0x63,
  LINK_SECRETS: 0x64,
  HISTORY_KEY: 0x65,
  ARCHIVED_MESSAGE: 0x66,
  BACKUP_CHUNK: 0x67,
  BACKUP_HEAD: 0x68,
  HISTORY_BUNDLE: 0x69,
} as const;

/** Strict cursor over an input buffer. Every value it returns is a copy. */
export class Reader {
  private pos = 0;

  private constructor(private readonly buf: Uint8Array) {}

  /** Starts reading `buf`, requiring its first byte to be `expectedTag`. */
  static withTag(buf: Uint8Array, expectedTag: number): Reader {
    if (!(buf instanceof Uint8Array)) throw new CryptoError('InvalidField', 'input is not a byte array');
    const r = new Reader(buf);
    r.expectTag(expectedTag);
    return r;
  }

  /**
   * Starts reading `buf` at its first byte, for encodings with several possible tags
   * (the caller looks with {@link Reader.peek}) or none.
   */
  static untagged(buf: Uint8Array): Reader {
    if (!(buf instanceof Uint8Array)) throw new CryptoError('InvalidField', 'input is not a byte array');
    return new Reader(buf);
  }

  /** The next byte, left unread (`undefined` at the end). */
  peek(): number | undefined {
    return this.buf[this.pos];
  }

  /** Reads one byte and requires it to be `expectedTag` (`WrongTag` otherwise). */
  expectTag(expectedTag: number): void {
    const t = this.u8();
    if (t !== expectedTag) throw CryptoError.wrongTag(t);
  }

  /** The next `n` bytes (a copy). */
  bytes(n: number): Uint8Array {
    if (n > this.buf.length - this.pos) throw new CryptoError('Truncated');
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw new CryptoError('Truncated');
    const v = this.buf[this.pos] as number;
    this.pos += 1;
    return v;
  }

  u32(): number {
    if (4 > this.buf.length - this.pos) throw new CryptoError('Truncated');
    const b = this.buf;
    const p = this.pos;
    const v =
      ((b[p] as number) * 0x1000000 +
        (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number))) >>>
      0;
    this.pos += 4;
    return v;
  }

  /** A u64 as a bigint (exact over the whole range). */
  u64(): bigint {
    const hi = this.u32();
    const lo = this.u32();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** A presence flag: 0x00 absent, 0x01 present, anything else `InvalidField`. */
  flag(): boolean {
    const v = this.u8();
    if (v === 0) return false;
    if (v === 1) return true;
    throw new CryptoError('InvalidField', 'flag byte must be 0 or 1');
  }

  /** A u32 length prefix (at most `max`, else `LimitExceeded(what)`) and that many bytes. */
  varBytes(max: number, what: string): Uint8Array {
    const len = this.u32();
    if (len > max) throw new CryptoError('LimitExceeded', what);
    return this.bytes(len);
  }

  /** Ends decoding: any unread byte is `TrailingBytes`. */
  finish(): void {
    if (this.pos !== this.buf.length) throw new CryptoError('TrailingBytes');
  }
}

/**
 * Growable output buffer. Replaced buffers are wiped, so serialising secret state
 * leaves no stray copies behind; call {@link Writer.finish} for the result.
 */
export class Writer {
  private buf: Uint8Array;
  private len = 0;

  constructor(capacity = 64) {
    this.buf = new Uint8Array(Math.max(capacity, 16));
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf.fill(0);
    this.buf = next;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > U32_MAX) {
      throw new CryptoError('InvalidField', 'u32 out of range');
    }
    this.reserve(4);
    this.buf[this.len] = v >>> 24;
    this.buf[this.len + 1] = (v >>> 16) & 0xff;
    this.buf[this.len + 2] = (v >>> 8) & 0xff;
    this.buf[this.len + 3] = v & 0xff;
    this.len += 4;
    return this;
  }

  u64(v: bigint | number): this {
    const b = BigInt(v);
    if (b < 0n || b > 0xffff_ffff_ffff_ffffn) {
      throw new CryptoError('InvalidField', 'u64 out of range');
    }
    return this.u32(Number(b >> 32n)).u32(Number(b & 0xffff_ffffn));
  }

  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** Presence flag. */
  flag(present: boolean): this {
    return this.u8(present ? 1 : 0);
  }

  /** `u32 len(b) || b`. */
  varBytes(b: Uint8Array): this {
    return this.u32(b.length).bytes(b);
  }

  /** The written bytes (exact length); the internal buffer is wiped. */
  finish(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.buf.fill(0);
    this.len = 0;
    return out;
  }
}

/** Big-endian u32. */
export function u32be(v: number): Uint8Array {
  return new Writer(4).u32(v).finish();
}

/** The big-endian u32 in the first 4 bytes of `b` (`Truncated` when shorter). */
export function readU32(b: Uint8Array): number {
  if (b.length < 4) throw new CryptoError('Truncated');
  return (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0;
}

/** Concatenation of byte strings. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Byte equality (not constant time: for public values). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lower-case hex of bytes. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** Bytes of a hex string (`InvalidField` on odd length or a non-hex digit). */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new CryptoError('InvalidField', 'hex string');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Requires `b` to be a Uint8Array of exactly `len` bytes (`InvalidField(what)` otherwise). */
export function checkLen(b: Uint8Array, len: number, what: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== len) throw new CryptoError('InvalidField', what);
  return b;
}

/** Requires `v` to be an integer in 0..=u32::MAX (`InvalidField(what)` otherwise). */
export function checkU32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new CryptoError('InvalidField', what);
  return v;
}

/** Requires `v` to be an integer in 0..=u64::MAX (`InvalidField(what)` otherwise); returns it as a bigint. */
export function checkU64(v: bigint | number, what: string): bigint {
  if (typeof v === 'number' ? !Number.isSafeInteger(v) : typeof v !== 'bigint') {
    throw new CryptoError('InvalidField', what);
  }
  const b = BigInt(v);
  if (b < 0n || b > 0xffff_ffff_ffff_ffffn) throw new CryptoError('InvalidField', what);
  return b;
}

/** The Crockford base32 alphabet of codes people type (link codes, recovery keys). */
export const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * `bytes` as Crockford base32 (the last character padded with zero bits), in groups of
 * four joined by `-`.
 */
export function crockfordText(bytes: Uint8Array): string {
  const chars: string[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      chars.push(CROCKFORD[(acc >> bits) & 31] as string);
    }
  }
  if (bits > 0) chars.push(CROCKFORD[(acc << (5 - bits)) & 31] as string);
  const groups: string[] = [];
  for (let i = 0; i < chars.length; i += 4) groups.push(chars.slice(i, i + 4).join(''));
  return groups.join('-');
}

const WHITE_SPACE = /^\p{White_Space}$/u;

/**
 * Reads what {@link crockfordText} writes, exactly `len` bytes: case, `-` and white space
 * do not matter, `I`/`L` read as `1` and `O` as `0` (ASCII letters only, as the Rust
 * crate). Another character or length, or nonzero padding bits, is `InvalidField(what)`.
 */
export function readCrockford(text: string, len: number, what: string): Uint8Array {
  if (typeof text !== 'string') throw new CryptoError('InvalidField', what);
  const chars = Math.ceil((len * 8) / 5);
  const out = new Uint8Array(len);
  let acc = 0;
  let bits = 0;
  let n = 0;
  let count = 0;
  try {
    for (const ch of text) {
      if (ch === '-' || WHITE_SPACE.test(ch)) continue;
      let c = ch >= 'a' && ch <= 'z' ? String.fromCharCode(ch.charCodeAt(0) - 32) : ch;
      if (c === 'I' || c === 'L') c = '1';
      else if (c === 'O') c = '0';
      const v = c.length === 1 ? CROCKFORD.indexOf(c) : -1;
      if (v < 0) throw new CryptoError('InvalidField', what);
      count += 1;
      if (count > chars) throw new CryptoError('InvalidField', what);
      acc = (acc << 5) | v;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        out[n++] = acc >> bits;
        acc &= (1 << bits) - 1;
      }
    }
    if (count !== chars || n !== len || acc !== 0) throw new CryptoError('InvalidField', what);
    return out;
  } catch (e) {
    out.fill(0);
    throw e;
  }
}

/** Overwrites each buffer with zeros. */
export function wipe(...buffers: (Uint8Array | null | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}
