/**
 * Fingerprints and safety numbers over user keys, comparable out of band (docs/e2e.md 8).
 *
 * Per user: `h = SHA-512(version u16 = 1 || user_key(32) || user_id(16))`, then
 * FINGERPRINT_ITERATIONS times `h = SHA-512(h || user_key)`; the first 30 bytes are six
 * 5-byte big-endian integers, each reduced mod 100000 and printed as five digits. The
 * safety number of two users is their two fingerprints sorted and concatenated.
 */

import { sha512 } from '@noble/hashes/sha2.js';

import { checkLen } from './encoding.js';
import { FINGERPRINT_ITERATIONS, ID_LEN, KEY_LEN } from './limits.js';

/** Version of the fingerprint construction (hashed in). */
export const FINGERPRINT_VERSION = 1;
/** Digits of one user's fingerprint. */
export const FINGERPRINT_DIGITS = 30;

function grouped(digits: string): string {
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 5) groups.push(digits.slice(i, i + 5));
  return groups.join(' ');
}

/** One user's 30-digit fingerprint. */
export class Fingerprint {
  private constructor(
    /** The 30 digits without separators. */
    readonly digits: string,
  ) {}

  /** Computes the fingerprint of a user key bound to its user id. */
  static of(userKey: Uint8Array, userId: Uint8Array): Fingerprint {
    checkLen(userKey, KEY_LEN, 'user key');
    checkLen(userId, ID_LEN, 'user id');
    let h = sha512
      .create()
      .update(Uint8Array.of(FINGERPRINT_VERSION >> 8, FINGERPRINT_VERSION & 0xff))
      .update(userKey)
      .update(userId)
      .digest();
    for (let i = 0; i < FINGERPRINT_ITERATIONS; i++) {
      h = sha512.create().update(h).update(userKey).digest();
    }
    let digits = '';
    for (let c = 0; c < 6; c++) {
      let v = 0;
      for (let j = 0; j < 5; j++) v = v * 256 + (h[c * 5 + j] as number);
      digits += String(v % 100_000).padStart(5, '0');
    }
    return new Fingerprint(digits);
  }

  /** Six groups of five digits separated by spaces. */
  toString(): string {
    return grouped(this.digits);
  }
}

/** The 60-digit safety number of two users; the same on both sides. */
export class SafetyNumber {
  private constructor(
    /** The 60 digits without separators. */
    readonly digits: string,
  ) {}

  /** Computes the safety number of (local user, remote user). Symmetric. */
  static of(
    localKey: Uint8Array,
    localId: Uint8Array,
    remoteKey: Uint8Array,
    remoteId: Uint8Array,
  ): SafetyNumber {
    return SafetyNumber.fromFingerprints(Fingerprint.of(localKey, localId), Fingerprint.of(remoteKey, remoteId));
  }

  /** Combines two already computed fingerprints (sorted, so the order of a and b does not matter). */
  static fromFingerprints(a: Fingerprint, b: Fingerprint): SafetyNumber {
    const [lo, hi] = a.digits <= b.digits ? [a, b] : [b, a];
    return new SafetyNumber(lo.digits + hi.digits);
  }

  equals(o: SafetyNumber): boolean {
    return this.digits === o.digits;
  }

  /** Twelve groups of five digits separated by spaces. */
  toString(): string {
    return grouped(this.digits);
  }
}
