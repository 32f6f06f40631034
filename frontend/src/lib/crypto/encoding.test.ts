// @vitest-environment node
import { describe, expect, it } from 'vitest';

import { Reader, Writer, fromHex, readU32, toHex } from './encoding.js';
import { CryptoError } from './errors.js';
import { TestRng, loadVectors } from './testSupport.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return (e as CryptoError).code;
  }
  return 'ok';
}

describe('Reader', () => {
  it('rejects short input, trailing bytes, wrong tags, bad flags and oversized lengths', () => {
    expect(code(() => Reader.withTag(new Uint8Array(0), 1))).toBe('Truncated');
    expect(code(() => Reader.withTag(Uint8Array.of(2), 1))).toBe('WrongTag');
    try {
      Reader.withTag(Uint8Array.of(0x7f), 1);
    } catch (e) {
      expect((e as CryptoError).detail).toBe('0x7f');
    }
    expect(code(() => Reader.withTag(Uint8Array.of(1, 0, 0, 0), 1).u32())).toBe('Truncated');
    const r = Reader.withTag(Uint8Array.of(1, 7, 9), 1);
    expect(r.u8()).toBe(7);
    expect(code(() => r.finish())).toBe('TrailingBytes');
    expect(code(() => Reader.withTag(Uint8Array.of(1, 2), 1).flag())).toBe('InvalidField');
    expect(code(() => Reader.withTag(Uint8Array.of(1, 0, 0, 0, 9, 1), 1).varBytes(8, 'x'))).toBe('LimitExceeded');
    expect(code(() => Reader.withTag(Uint8Array.of(1, 0xff, 0xff, 0xff, 0xff), 1).varBytes(2 ** 32, 'x'))).toBe(
      'Truncated',
    );
  });

  it('reads big-endian integers over their whole range', () => {
    const r = Reader.withTag(Uint8Array.of(9, 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe), 9);
    expect(r.u32()).toBe(0xffffffff);
    expect(r.u32()).toBe(0x80000001);
    expect(r.u64()).toBe(0xfffffffffffffffen);
    r.finish();
    expect(readU32(Uint8Array.of(0xde, 0xad, 0xbe, 0xef))).toBe(0xdeadbeef);
  });

  it('returns copies, never views of the input', () => {
    const input = Uint8Array.of(1, 5, 6);
    const b = Reader.withTag(input, 1).bytes(2);
    b[0] = 0;
    expect(input[1]).toBe(5);
  });
});

describe('Writer', () => {
  it('writes big-endian integers and refuses out-of-range values', () => {
    expect(toHex(new Writer(1).u8(1).u32(0xdeadbeef).u64(2n ** 40n + 1n).varBytes(Uint8Array.of(7)).finish())).toBe(
      '01deadbeef000001000000000100000001' + '07',
    );
    expect(code(() => new Writer().u32(-1))).toBe('InvalidField');
    expect(code(() => new Writer().u32(2 ** 32))).toBe('InvalidField');
    expect(code(() => new Writer().u32(1.5))).toBe('InvalidField');
    expect(code(() => new Writer().u64(-1n))).toBe('InvalidField');
  });

  it('grows past its initial capacity', () => {
    const w = new Writer(1);
    for (let i = 0; i < 1000; i++) w.u8(i);
    const out = w.finish();
    expect(out.length).toBe(1000);
    expect(out[999]).toBe(999 & 0xff);
  });
});

describe('hex', () => {
  it('round-trips and rejects malformed input', () => {
    expect(toHex(fromHex('00ff10Ab'))).toBe('00ff10ab');
    expect(code(() => fromHex('abc'))).toBe('InvalidField');
    expect(code(() => fromHex('zz'))).toBe('InvalidField');
  });
});

describe('TestRng', () => {
  it('is the same stream as the Rust test RNG (identity.json draws come from seed 0x1d)', () => {
    const v = loadVectors('identity.json');
    const rng = new TestRng(0x1d);
    const draws = [
      v.valid[0].user_key_rng_draws[0],
      v.valid[0].device_rng_draws[0],
      v.valid[0].device_rng_draws[1],
      v.valid[1].user_key_rng_draws[0],
    ];
    for (const d of draws) {
      const out = new Uint8Array(32);
      rng.fill(out);
      expect(toHex(out)).toBe(d);
    }
  });
});
