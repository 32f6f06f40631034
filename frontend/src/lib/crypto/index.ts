/**
 * Chatalot end-to-end encryption for the browser, byte-compatible with the Rust
 * `chatalot-crypto` crate (docs/e2e.md): cross-signed device identities, X3DH, the
 * Double Ratchet, Sender Keys, chunked attachment encryption and safety numbers, and for
 * every device of an account: device linking, the recovery key with secret storage,
 * history keys and the encrypted key backup (section 18).
 *
 * Pure and synchronous; randomness is injected (a {@link RandomSource}, by default the
 * platform CSPRNG); every encoding is a tagged, versioned binary format decoded strictly;
 * every failure is a {@link CryptoError}.
 */

export { CryptoError, isCryptoError, type CryptoErrorCode } from './errors.js';
export * from './limits.js';
export { Tag, fromHex, toHex } from './encoding.js';
export { type RandomSource, systemRandom, verifyAhead } from './primitives.js';
export {
  DEVICE_CERTIFICATE_LEN,
  DEVICE_CERT_LABEL,
  DeviceCertificate,
  DeviceIdentity,
  type DevicePublicKeys,
  USER_KEY_PAIR_LEN,
  UserKeyPair,
  devicePublicKeysEqual,
} from './identity.js';
export {
  OneTimePreKeyPublic,
  OneTimePreKeySecret,
  PreKeyBundle,
  PreKeyHeader,
  SIGNED_PREKEY_LABEL,
  SignedPreKeyPublic,
  SignedPreKeySecret,
  X3DH_INFO,
  type Initiation,
  type X3dhOutput,
  initiate as x3dhInitiate,
  respond as x3dhRespond,
} from './x3dh.js';
export {
  HEADER_LEN,
  type Header,
  type IncomingMessage,
  MESSAGE_KEY_INFO,
  PreKeyMessage,
  ROOT_KDF_INFO,
  RatchetMessage,
  Session,
  decodeIncoming,
} from './ratchet.js';
export {
  DISTRIBUTION_LEN,
  MESSAGE_ID_LEN,
  SENDER_MESSAGE_KEY_INFO,
  SENDER_MESSAGE_LABEL,
  SenderKeyDistribution,
  SenderKeyMessage,
  SenderKeyReceiver,
  SenderKeySender,
  senderMessageSigned,
} from './senderKey.js';
export {
  ATTACHMENT_KEY_INFO,
  AttachmentDecryptor,
  AttachmentEncryptor,
  AttachmentPointer,
  BLOB_HEADER_LEN,
  POINTER_LEN,
  chunkCount,
  decryptAttachment,
  encryptAttachment,
  encryptAttachmentWithKey,
} from './attachment.js';
export { FINGERPRINT_DIGITS, FINGERPRINT_VERSION, Fingerprint, SafetyNumber } from './fingerprint.js';
export {
  LINK_CODE_CHARS,
  LINK_CODE_LEN,
  LINK_KEY_LABEL,
  LINK_REQUEST_LABEL,
  LINK_REQUEST_LEN,
  LINK_RESPONSE_LEN,
  LinkCode,
  LinkRequest,
  LinkSecrets,
  type Linked,
  PendingLink,
  respond as linkRespond,
} from './link.js';
export {
  RECOVERY_KEY_CHARS,
  RecoveryKey,
  SECRET_STORAGE_LABEL,
  SECRET_STORAGE_LEN,
  StoredSecrets,
  openSecretStorage,
  sealSecretStorage,
} from './secretStorage.js';
export {
  ATTESTATION_LABEL,
  HISTORY_CHECKPOINT_EVERY,
  HISTORY_KEY_LEN,
  HistoryBundle,
  HistoryKey,
  HistoryReader,
  MAX_HISTORY_BUNDLE_KEYS,
} from './history.js';
export {
  ArchivedMessage,
  BACKUP_HEAD_LABEL,
  BACKUP_HEAD_LEN,
  BackupHead,
  type BackupEntry,
  MAX_BACKUP_CHUNK_ENCODING_LEN,
  MIN_BACKUP_CHUNK_ENCODING_LEN,
  openBackupChunk,
  sealBackupChunk,
  wipeEntries as wipeBackupEntries,
} from './backup.js';
