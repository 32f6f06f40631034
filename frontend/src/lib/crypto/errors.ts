/**
 * The one error type of the crypto package. Like the Rust crate's `CryptoError`, no
 * error ever carries key bytes or plaintext: only a code and, for some codes, a short
 * fixed description of the offending field or limit.
 */

/** Stable error codes: the variant names of the Rust `CryptoError`, used by the vectors. */
export type CryptoErrorCode =
  | 'Truncated'
  | 'TrailingBytes'
  | 'WrongTag'
  | 'InvalidField'
  | 'LimitExceeded'
  | 'InvalidPublicKey'
  | 'BadSignature'
  | 'IdentityMismatch'
  | 'DecryptFailed'
  | 'Duplicate'
  | 'TooFarAhead'
  | 'CounterExhausted'
  | 'InvalidState'
  | 'DigestMismatch';

const MESSAGES: Record<CryptoErrorCode, string> = {
  Truncated: 'encoding too short',
  TrailingBytes: 'trailing bytes after encoding',
  WrongTag: 'unknown or unexpected encoding tag',
  InvalidField: 'invalid field',
  LimitExceeded: 'limit exceeded',
  InvalidPublicKey: 'invalid public key',
  BadSignature: 'bad signature',
  IdentityMismatch: 'identity mismatch',
  DecryptFailed: 'decryption failed',
  Duplicate: 'duplicate, replayed or expired message',
  TooFarAhead: 'message too far ahead (more than the allowed skip)',
  CounterExhausted: 'counter exhausted',
  InvalidState: 'invalid state',
  DigestMismatch: 'digest mismatch',
};

/** Every failure of this package. */
export class CryptoError extends Error {
  /** The error kind (the Rust variant name). */
  readonly code: CryptoErrorCode;
  /**
   * A fixed description of the field or limit involved (`InvalidField`,
   * `LimitExceeded`, `InvalidState`), or the offending tag as `0x..` (`WrongTag`).
   * Never derived from secret data.
   */
  readonly detail: string | undefined;

  constructor(code: CryptoErrorCode, detail?: string) {
    super(detail === undefined ? MESSAGES[code] : `${MESSAGES[code]}: ${detail}`);
    this.name = 'CryptoError';
    this.code = code;
    this.detail = detail;
  }

  /** `WrongTag` for an unexpected tag byte. */
  static wrongTag(tag: number): CryptoError {
    return new CryptoError('WrongTag', `0x${tag.toString(16).padStart(2, '0')}`);
  }
}

/** True when `e` is a {@link CryptoError} (optionally of the given code). */
export function isCryptoError(e: unknown, code?: CryptoErrorCode): e is CryptoError {
  return e instanceof CryptoError && (code === undefined || e.code === code);
}
