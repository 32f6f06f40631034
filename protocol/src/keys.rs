//! The end-to-end key directory and device-to-device envelopes: REST bodies.
//!
//! Keys travel in the binary encodings of the `crypto` crate (`docs/e2e.md`), as base64: a
//! device certificate (tag 0x01, 193 bytes), a signed prekey (tag 0x02, 101 bytes), a one-time
//! prekey (tag 0x03, 37 bytes) and a prekey bundle (tag 0x04). The server verifies what it can
//! (certificates and signed prekeys) but clients trust only what verifies under the user keys
//! they pinned. Envelope ciphertext is opaque to the server.

use crate::bytes::Base64Bytes;
use crate::ids::{ChannelId, DeviceId, EnvelopeId, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Bounds of the key directory and the envelope queue.
pub mod limits {
    /// Tag and length of a device certificate encoding.
    pub const CERTIFICATE_ENCODING: (u8, usize) = (0x01, 193);
    /// Tag and length of a signed prekey encoding.
    pub const SIGNED_PREKEY_ENCODING: (u8, usize) = (0x02, 101);
    /// Tag and length of a one-time prekey encoding.
    pub const ONE_TIME_PREKEY_ENCODING: (u8, usize) = (0x03, 37);
    /// Most one-time prekeys in one upload.
    pub const MAX_ONE_TIME_PREKEYS_PER_UPLOAD: usize = 100;
    /// Most unclaimed one-time prekeys stored per device.
    pub const MAX_ONE_TIME_PREKEYS_STORED: usize = 200;
    /// Most devices one claim may name (and most bundles it returns).
    pub const MAX_DEVICES_PER_CLAIM: usize = 16;
    /// Most devices listed for one user.
    pub const MAX_DEVICES_PER_USER: usize = 100;
    /// Most devices listed for one channel.
    pub const MAX_DEVICES_PER_CHANNEL: usize = 1000;
    /// Largest envelope ciphertext, bytes.
    pub const MAX_ENVELOPE_BYTES: usize = 16 * 1024;
    /// Most envelopes in one send.
    pub const MAX_ENVELOPES_PER_SEND: usize = 100;
    /// Most envelopes queued for one device; a send beyond it is refused (`queue_full`).
    pub const MAX_QUEUED_ENVELOPES: usize = 5000;
    /// Most bytes of ciphertext queued for one device.
    pub const MAX_QUEUED_BYTES: usize = 32 * 1024 * 1024;
    /// Most envelopes one sending user may have queued for one device: one sender cannot fill
    /// a device's queue for the others.
    pub const MAX_QUEUED_PER_SENDER: usize = 500;
    /// Most bytes one sending user may have queued for one device.
    pub const MAX_QUEUED_BYTES_PER_SENDER: usize = 4 * 1024 * 1024;
    /// Largest page of queued envelopes.
    pub const ENVELOPE_PAGE_MAX: u32 = 100;
    /// Most envelope ids in one acknowledgement.
    pub const MAX_ACK_IDS: usize = 500;
}

/// `PUT /api/v1/devices/{id}/keys`: publish the calling device's identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishKeysRequest {
    /// DeviceCertificate (tag 0x01) signed by the user key.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::certificate_encoding))]
    pub certificate: Base64Bytes,
    /// SignedPreKeyPublic (tag 0x02) signed by the device key.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::signed_prekey_encoding))]
    pub signed_prekey: Base64Bytes,
    /// OneTimePreKeyPublic encodings (tag 0x03).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::one_time_prekeys_0))]
    pub one_time_prekeys: Vec<Base64Bytes>,
}

/// `PUT /api/v1/devices/{id}/signed_prekey`: replace the signed prekey.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateSignedPreKeyRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::signed_prekey_encoding))]
    pub signed_prekey: Base64Bytes,
}

/// `POST /api/v1/devices/{id}/one_time_prekeys`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadOneTimePreKeysRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::one_time_prekeys_1))]
    pub one_time_prekeys: Vec<Base64Bytes>,
}

/// The state of the calling device's published keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceKeyStatus {
    pub device_id: DeviceId,
    pub signed_prekey_id: u32,
    /// Unclaimed one-time prekeys left on the server.
    pub one_time_prekeys: u32,
}

/// A device's published identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceKeys {
    pub user_id: UserId,
    pub device_id: DeviceId,
    /// DeviceCertificate (tag 0x01): verify it under the user key you trust for `user_id`.
    pub certificate: Base64Bytes,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// `GET /api/v1/users/{id}/devices`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserDevices {
    pub user_id: UserId,
    /// The user key the server holds for this user (Ed25519 public, 32 bytes); absent until
    /// a device has published keys. Compare it with the key you pinned.
    pub user_key: Option<Base64Bytes>,
    pub devices: Vec<DeviceKeys>,
}

/// `GET /api/v1/channels/{id}/devices`: the devices of everyone who can read the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelDevices {
    pub channel_id: ChannelId,
    pub devices: Vec<DeviceKeys>,
}

/// `POST /api/v1/users/{id}/key_bundles`: claim prekey bundles.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimBundlesRequest {
    /// The devices to claim for; absent: every device of the user with published keys.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::claim_devices))]
    pub device_ids: Option<Vec<DeviceId>>,
}

/// One claimed bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyBundle {
    pub user_id: UserId,
    pub device_id: DeviceId,
    /// PreKeyBundle (tag 0x04); carries a one-time prekey while the device has any left.
    pub bundle: Base64Bytes,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedBundles {
    pub bundles: Vec<KeyBundle>,
}

/// One envelope to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewEnvelope {
    pub recipient_device_id: DeviceId,
    /// The channel the envelope concerns (a sender-key distribution), if any. Both the sender
    /// and the recipient must be able to read it. Clients bind it inside the ciphertext too.
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::envelope_ciphertext))]
    pub ciphertext: Base64Bytes,
}

/// `POST /api/v1/envelopes`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendEnvelopesRequest {
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub envelopes: Vec<NewEnvelope>,
}

/// The ids of stored envelopes, in the order sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SentEnvelopes {
    pub ids: Vec<EnvelopeId>,
}

/// A queued envelope as its recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Envelope {
    pub id: EnvelopeId,
    pub sender_user_id: UserId,
    pub sender_device_id: DeviceId,
    pub recipient_device_id: DeviceId,
    pub channel_id: Option<ChannelId>,
    pub ciphertext: Base64Bytes,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// `GET /api/v1/devices/{id}/envelopes`: the oldest unacknowledged envelopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvelopePage {
    pub envelopes: Vec<Envelope>,
    /// More are queued after this page.
    pub has_more: bool,
}

/// `POST /api/v1/devices/{id}/envelope_acks`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AckEnvelopesRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::ack_ids))]
    pub ids: Vec<EnvelopeId>,
}

/// How many acknowledged envelopes were removed from the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AckedEnvelopes {
    pub deleted: u64,
}
