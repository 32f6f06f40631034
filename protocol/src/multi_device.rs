//! Every device of an account (`docs/e2e.md` section 18): device links, secret storage, the
//! encrypted key backup and the user-key reset, as REST bodies.
//!
//! Everything the devices exchange travels in the `crypto` crate's encodings, as base64, and
//! is opaque to the server: a `LinkRequest` (tag 0x62), a `LinkResponse` (0x63), a
//! `SecretStorage` (0x60), `BackupChunk`s (0x67) and a `BackupHead` (0x68). The server checks
//! their framing, that they name the calling account, and the order of writes; it can read or
//! forge none of them.

use crate::bytes::Base64Bytes;
use crate::ids::DeviceId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Encodings and bounds (the encodings are the `crypto` crate's; a server test checks the
/// lengths against it).
pub mod limits {
    /// Tag and length of a `LinkRequest`.
    pub const LINK_REQUEST_ENCODING: (u8, usize) = (0x62, 161);
    /// Tag and length of a `LinkResponse`.
    pub const LINK_RESPONSE_ENCODING: (u8, usize) = (0x63, 356);
    /// Tag and length of a `SecretStorage`.
    pub const SECRET_STORAGE_ENCODING: (u8, usize) = (0x60, 139);
    /// Tag and length of a `BackupHead`.
    pub const BACKUP_HEAD_ENCODING: (u8, usize) = (0x68, 97);
    /// Tag of a `BackupChunk`.
    pub const BACKUP_CHUNK_TAG: u8 = 0x67;
    /// Shortest `BackupChunk` (no entries).
    pub const MIN_BACKUP_CHUNK_BYTES: usize = 61;
    /// Longest `BackupChunk` (1 MiB of entries).
    pub const MAX_BACKUP_CHUNK_BYTES: usize = 1_048_633;
    /// Largest JSON body of a chunk upload (base64 of the longest chunk, and the field name).
    pub const CHUNK_BODY_BYTES: usize = 1_400_000;
    /// A link request is answered within this many seconds or dropped.
    pub const LINK_REQUEST_TTL_SECS: i64 = 600;
    /// Most link requests pending in one account at once.
    pub const MAX_PENDING_LINKS: usize = 10;
    /// Most chunks in one page of the backup.
    pub const CHUNK_PAGE_MAX: u32 = 100;
    /// Most bytes of chunks in one page (a page holds at least one chunk).
    pub const CHUNK_PAGE_BYTES: usize = 4 * 1024 * 1024;
}

/// One device of the caller's account (`GET /api/v1/devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountDevice {
    pub id: DeviceId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_seen_at: OffsetDateTime,
    /// The device of the calling session.
    pub current: bool,
    /// It has published end-to-end keys (its certificate is in `GET /api/v1/users/{id}/devices`).
    pub has_keys: bool,
}

/// `GET /api/v1/devices`: the caller's devices, most recently seen first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountDevices {
    pub devices: Vec<AccountDevice>,
}

/// `PATCH /api/v1/devices/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenameDevice {
    /// 1 to 64 characters, no control characters.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_64))]
    pub name: String,
}

/// `PUT /api/v1/devices/{id}/link_request`: the calling device, which has no keys yet, asks
/// to be linked by another device of its account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateLinkRequest {
    /// `LinkRequest` (tag 0x62, 161 bytes) naming the calling user and device.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::link_request_encoding))]
    pub request: Base64Bytes,
}

/// A pending link request, as the account's devices see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingLink {
    /// The device that asks to be linked.
    pub device_id: DeviceId,
    /// Its name, as it signed in.
    pub device_name: String,
    /// `LinkRequest` (tag 0x62): take the one whose MAC verifies under the code the user typed.
    pub request: Base64Bytes,
    /// An answer was stored (a request is answered once).
    pub answered: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
}

/// `GET /api/v1/users/me/link_requests`: the account's unanswered requests, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingLinks {
    pub requests: Vec<PendingLink>,
}

/// `PUT /api/v1/users/me/link_requests/{device_id}/response`: a device of the account that
/// holds the user key answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnswerLinkRequest {
    /// `LinkResponse` (tag 0x63, 356 bytes).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::link_response_encoding))]
    pub response: Base64Bytes,
}

/// `GET /api/v1/devices/{id}/link_response`: the answer to the calling device's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkAnswer {
    /// The device that answered.
    pub responder_device_id: DeviceId,
    /// `LinkResponse` (tag 0x63): open it with the pending link.
    pub response: Base64Bytes,
}

/// `PUT /api/v1/users/me/secret_storage`: the next version of the account's secret storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutSecretStorage {
    /// `SecretStorage` (tag 0x60, 139 bytes) for the calling user, whose version is the
    /// stored one plus one (1 for the first).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::secret_storage_encoding))]
    pub storage: Base64Bytes,
}

/// The account's secret storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretStorage {
    pub version: u64,
    /// `SecretStorage` (tag 0x60): open it with the recovery key; refuse a version below one
    /// you have seen.
    pub storage: Base64Bytes,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

/// `POST /api/v1/users/me/key_backup/chunks`: append a chunk at the next free number.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppendBackupChunk {
    /// `BackupChunk` (tag 0x67, 61 bytes to 1 MiB and 57 bytes) for the calling user, whose
    /// number is the count of stored chunks plus one.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::backup_chunk_encoding))]
    pub chunk: Base64Bytes,
}

/// `PUT /api/v1/users/me/key_backup/head`: the next head.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutBackupHead {
    /// `BackupHead` (tag 0x68, 97 bytes) for the calling user, whose `head_seq` is the stored
    /// one plus one and whose count is between the previous head's and the chunks stored.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::backup_head_encoding))]
    pub head: Base64Bytes,
}

/// `GET /api/v1/users/me/key_backup`: the backup's state and bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyBackup {
    /// `BackupHead` (tag 0x68), once one was written: check its MAC with the backup key and
    /// refuse a `head_seq` below one you have seen.
    pub head: Option<Base64Bytes>,
    pub head_seq: u64,
    /// Chunks the head names.
    pub head_count: u64,
    /// Chunks stored (a device may have appended some the head does not name yet).
    pub chunk_count: u64,
    pub chunk_bytes: u64,
    /// The account's quota.
    pub max_chunks: u64,
    pub max_bytes: u64,
}

/// The number and encoding of one chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupChunk {
    pub seq: u64,
    /// `BackupChunk` (tag 0x67).
    pub chunk: Base64Bytes,
}

/// `GET /api/v1/users/me/key_backup/chunks?after=&limit=`: chunks in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupChunkPage {
    pub chunks: Vec<BackupChunk>,
    /// More chunks follow the last of this page.
    pub has_more: bool,
}

/// The number a chunk was stored at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppendedChunk {
    pub seq: u64,
    pub chunk_count: u64,
    pub chunk_bytes: u64,
}

/// `POST /api/v1/users/me/user_key_reset`: start over with a new user key (the password, and
/// a current code or backup code when two-factor is on).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetUserKeyRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::password))]
    pub password: String,
    /// Required when two-factor is on.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::code))]
    pub code: Option<String>,
}
