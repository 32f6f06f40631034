//! The one error type of the crate. Variants never carry key material.

use thiserror::Error;

/// Every failure of this crate. No variant carries key bytes or plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// Input ended before a complete value could be read.
    #[error("encoding too short")]
    Truncated,
    /// Bytes were left over after a complete value was read.
    #[error("trailing bytes after encoding")]
    TrailingBytes,
    /// The leading tag byte does not name the expected encoding/version.
    #[error("unknown or unexpected encoding tag {0:#04x}")]
    WrongTag(u8),
    /// A field has a value outside its allowed range (flag byte, length, zero id...).
    #[error("invalid field: {0}")]
    InvalidField(&'static str),
    /// A length prefix or input exceeds a named limit.
    #[error("limit exceeded: {0}")]
    LimitExceeded(&'static str),
    /// A public key is not a valid point (Ed25519) or yields a non-contributory
    /// (all-zero) X25519 shared secret.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// An Ed25519 signature did not verify.
    #[error("bad signature")]
    BadSignature,
    /// A certificate or bundle is signed by a different user key than the trusted one,
    /// or names a different device/user than expected.
    #[error("identity mismatch")]
    IdentityMismatch,
    /// AEAD authentication failed (tampered data, wrong key or wrong associated data).
    #[error("decryption failed")]
    DecryptFailed,
    /// The message key for this message was already used (replay / duplicate), or it
    /// is older than anything still stored (evicted from the bounded skipped-key store).
    #[error("duplicate, replayed or expired message")]
    Duplicate,
    /// The message is further ahead in its chain than the allowed forward jump.
    #[error("message too far ahead (more than the allowed skip)")]
    TooFarAhead,
    /// A counter would overflow (chain exhausted); the session or sender key must be replaced.
    #[error("counter exhausted")]
    CounterExhausted,
    /// The operation is not possible in the current state (e.g. sending before any
    /// sending chain exists).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// The attachment digest does not match the ciphertext.
    #[error("digest mismatch")]
    DigestMismatch,
}

impl CryptoError {
    /// A stable name for the error kind (the variant name), for logs and test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            CryptoError::Truncated => "Truncated",
            CryptoError::TrailingBytes => "TrailingBytes",
            CryptoError::WrongTag(_) => "WrongTag",
            CryptoError::InvalidField(_) => "InvalidField",
            CryptoError::LimitExceeded(_) => "LimitExceeded",
            CryptoError::InvalidPublicKey => "InvalidPublicKey",
            CryptoError::BadSignature => "BadSignature",
            CryptoError::IdentityMismatch => "IdentityMismatch",
            CryptoError::DecryptFailed => "DecryptFailed",
            CryptoError::Duplicate => "Duplicate",
            CryptoError::TooFarAhead => "TooFarAhead",
            CryptoError::CounterExhausted => "CounterExhausted",
            CryptoError::InvalidState(_) => "InvalidState",
            CryptoError::DigestMismatch => "DigestMismatch",
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = core::result::Result<T, CryptoError>;
