// @vitest-environment node
import { describe, expect, it } from 'vitest';

import { CryptoError } from './errors.js';
import { Fingerprint, SafetyNumber } from './fingerprint.js';

const k = (b: number) => new Uint8Array(32).fill(b);
const id = (b: number) => new Uint8Array(16).fill(b);

describe('fingerprints and safety numbers', () => {
  it('are symmetric and well formed', () => {
    const a = SafetyNumber.of(k(1), id(2), k(3), id(4));
    const b = SafetyNumber.of(k(3), id(4), k(1), id(2));
    expect(a.equals(b)).toBe(true);
    expect(a.digits).toMatch(/^[0-9]{60}$/);
    const shown = a.toString().split(' ');
    expect(shown).toHaveLength(12);
    expect(shown.every((g) => g.length === 5)).toBe(true);
    expect(Fingerprint.of(k(1), id(2)).toString()).toHaveLength(35);
  });

  it('change with the key or the user id', () => {
    const base = SafetyNumber.of(k(1), id(2), k(3), id(4));
    const k2 = k(3);
    k2[31] = 4;
    expect(base.equals(SafetyNumber.of(k(1), id(2), k2, id(4)))).toBe(false);
    expect(base.equals(SafetyNumber.of(k(1), id(2), k(3), id(5)))).toBe(false);
  });

  it('refuse inputs of the wrong length', () => {
    expect(() => Fingerprint.of(new Uint8Array(31), id(1))).toThrow(CryptoError);
    expect(() => Fingerprint.of(k(1), new Uint8Array(15))).toThrow(CryptoError);
  });
});
