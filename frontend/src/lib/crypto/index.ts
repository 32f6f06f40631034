/**
 * Chatalot end-to-end encryption for the browser, byte-compatible with the Rust
 * `chatalot-crypto` crate (docs/e2e.md): cross-signed device identities, X3DH, the
 * Double Ratchet, Sender Keys, chunked attachment encryption and safety numbers.
 *
 * Pure and synchronous; randomness is injected (a {@link RandomSource}, by default the
 * platform CSPRNG); every encoding is a tagged, versioned binary format decoded strictly;
 * every failure is a {@link CryptoError}.
 */

export { CryptoError, isCryptoError, type CryptoErrorCode } from './errors.js';
export * from './limits.js';
export { Tag, fromHex, toHex } from './encoding.js';
export { type RandomSource, systemRandom } from './primitives.js';
export {
  DEVICE_CERTIFICATE_LEN,
  DEVICE_CERT_LABEL,
  DeviceCertificate,
  DeviceIdentity,
  type DevicePublicKeys,
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
