#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! Chatalot end-to-end encryption: device identities and cross-signing, X3DH,
//! the Double Ratchet, Sender Keys for channels, chunked attachment encryption,
//! safety numbers, the application-layer encodings of message bodies and envelopes, and
//! device linking, secret storage, history keys and key backups.
//!
//! Pure and synchronous; randomness is injected (`rand_core::CryptoRng`); secrets are
//! zeroized on drop and never printed; every encoding is a tagged, versioned binary
//! format decoded strictly. The design, byte layouts and KDF labels are in `docs/e2e.md`.

pub mod app;
pub mod attachment;
pub mod backup;
pub mod encoding;
pub mod error;
pub mod fingerprint;
pub mod history;
pub mod identity;
pub mod limits;
pub mod link;
mod primitives;
pub mod ratchet;
pub mod secret_storage;
pub mod sender_key;
pub mod x3dh;

pub use error::{CryptoError, Result};
pub use primitives::Secret32;

#[cfg(test)]
mod test_rng;
#[cfg(test)]
mod test_support;
