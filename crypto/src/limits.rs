//! Named limits and sizes. Every bound the crate enforces is defined here.

/// Length of an X25519 or Ed25519 public key, a chain/root/message key, and a
/// SHA-256 output.
pub const KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a user, device or channel id (a UUID as 16 raw bytes).
pub const ID_LEN: usize = 16;
/// Length of a ChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the Poly1305 authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// Largest plaintext accepted by the Double Ratchet and Sender Key encryptors
/// (and so the largest ciphertext, plus [`TAG_LEN`], accepted by the decoders).
pub const MAX_PLAINTEXT_LEN: usize = 256 * 1024;

/// Double Ratchet: most message keys that one received message may make the receiver
/// derive and store in a single chain (forward jump). Exceeding it is
/// [`crate::CryptoError::TooFarAhead`].
pub const MAX_SKIP: u32 = 1000;
/// Double Ratchet: most skipped message keys a session stores in total. When a new
/// skipped key would exceed it, the oldest stored key is evicted (its message becomes
/// undecryptable: [`crate::CryptoError::Duplicate`]).
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// Sender Keys: largest forward jump of the iteration within one sender chain.
pub const MAX_SENDER_SKIP: u32 = 2000;
/// Sender Keys: most skipped message keys one receiver state stores (oldest evicted,
/// like [`MAX_SKIPPED_KEYS`]).
pub const MAX_SENDER_SKIPPED_KEYS: usize = 2000;

/// Attachments: default plaintext chunk size.
pub const ATTACHMENT_CHUNK_SIZE: u32 = 64 * 1024;
/// Attachments: smallest chunk size a blob header may declare.
pub const ATTACHMENT_MIN_CHUNK_SIZE: u32 = 64;
/// Attachments: largest chunk size a blob header may declare.
pub const ATTACHMENT_MAX_CHUNK_SIZE: u32 = 1024 * 1024;
/// Attachments: largest plaintext size an attachment pointer may declare (4 GiB).
pub const MAX_ATTACHMENT_SIZE: u64 = 4 * 1024 * 1024 * 1024;

/// Fingerprints: number of SHA-512 iterations.
pub const FINGERPRINT_ITERATIONS: u32 = 5200;

/// Application layer ([`crate::app`]): largest body inside a `DirectPlaintext` or an
/// `EnvelopePlaintext` (the same figure as [`MAX_PLAINTEXT_LEN`], fixed here for the wire).
pub const MAX_BODY_LEN: usize = 256 * 1024;
/// Application layer: largest pairwise message (tag 0x05 or 0x06) per recipient of a
/// `DirectPayload`.
pub const MAX_PAIRWISE_MESSAGE_LEN: usize = MAX_BODY_LEN + 1024;
/// Application layer: most recipients of a `DirectPayload` (its count is a u16).
pub const MAX_DIRECT_RECIPIENTS: usize = u16::MAX as usize;
/// Application layer: largest file name (UTF-8 bytes) of an attachment body.
pub const MAX_FILE_NAME_LEN: usize = 1024;
/// Application layer: largest MIME type (UTF-8 bytes) of an attachment body.
pub const MAX_MIME_TYPE_LEN: usize = 256;
/// Largest address (and address after redirects) of a link preview in a body, bytes.
pub const MAX_LINK_URL_LEN: usize = 2048;
/// Largest title of a link preview in a body, bytes.
pub const MAX_LINK_TITLE_LEN: usize = 1200;
/// Largest description of a link preview in a body, bytes.
pub const MAX_LINK_DESCRIPTION_LEN: usize = 4000;
/// Largest site name of a link preview in a body, bytes.
pub const MAX_LINK_SITE_NAME_LEN: usize = 400;
/// Application layer: a sender key is replaced after this many messages even without a
/// membership change.
pub const SENDER_KEY_ROTATE_AFTER: u32 = 10_000;
