/** Named limits and sizes (docs/e2e.md). Every bound the package enforces is here. */

/** X25519/Ed25519 public key, chain/root/message key and SHA-256 output length. */
export const KEY_LEN = 32;
/** Ed25519 signature length. */
export const SIGNATURE_LEN = 64;
/** User, device or channel id length (the 16 raw bytes of a UUID). */
export const ID_LEN = 16;
/** ChaCha20-Poly1305 nonce length. */
export const NONCE_LEN = 12;
/** Poly1305 tag length appended to every ciphertext. */
export const TAG_LEN = 16;

/** Largest plaintext of the Double Ratchet and Sender Keys encryptors. */
export const MAX_PLAINTEXT_LEN = 256 * 1024;

/** Double Ratchet: most message keys one received message may make the receiver derive in one chain. */
export const MAX_SKIP = 1000;
/** Double Ratchet: most skipped message keys stored per session (oldest evicted beyond). */
export const MAX_SKIPPED_KEYS = 2000;

/** Sender Keys: largest forward jump of the iteration. */
export const MAX_SENDER_SKIP = 2000;
/** Sender Keys: most skipped message keys per receiver state (oldest evicted beyond). */
export const MAX_SENDER_SKIPPED_KEYS = 2000;

/** Attachments: default plaintext chunk size. */
export const ATTACHMENT_CHUNK_SIZE = 64 * 1024;
/** Attachments: smallest chunk size a blob header may declare. */
export const ATTACHMENT_MIN_CHUNK_SIZE = 64;
/** Attachments: largest chunk size a blob header may declare. */
export const ATTACHMENT_MAX_CHUNK_SIZE = 1024 * 1024;
/** Attachments: largest plaintext size a pointer may declare (4 GiB). */
export const MAX_ATTACHMENT_SIZE = 4 * 1024 * 1024 * 1024;

/** Fingerprints: number of SHA-512 iterations. */
export const FINGERPRINT_ITERATIONS = 5200;

/** Largest value of a u32 counter. */
export const U32_MAX = 0xffff_ffff;

/** Application layer: largest message body (also the largest archived body of a backup). */
export const MAX_BODY_LEN = 256 * 1024;
/** Application layer: a sender key is replaced after this many messages (and a history key reads at most this far). */
export const SENDER_KEY_ROTATE_AFTER = 10_000;

/** Backups: largest plaintext of one backup chunk (1 MiB). */
export const MAX_BACKUP_CHUNK_LEN = 1024 * 1024;
