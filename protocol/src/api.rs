//! REST request and response bodies. Requests reject unknown fields; times are RFC 3339.

use crate::ids::{AuditEventId, DeviceId, GroupId, InviteId, SessionId, UserId};
use crate::perms::{CommunityRole, GroupKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Bounds every server and client applies to account fields.
pub mod limits {
    /// Usernames are 3 to 32 characters of `a-z 0-9 _ . -`, starting with a letter or digit.
    pub const USERNAME_MIN: usize = 3;
    pub const USERNAME_MAX: usize = 32;
    /// Passwords are 10 to 256 bytes.
    pub const PASSWORD_MIN: usize = 10;
    pub const PASSWORD_MAX: usize = 256;
    /// Display names are 1 to 64 characters without control characters.
    pub const DISPLAY_NAME_MAX: usize = 64;
    /// Device names are at most 64 characters.
    pub const DEVICE_NAME_MAX: usize = 64;
    /// Instance names are 1 to 64 characters.
    pub const INSTANCE_NAME_MAX: usize = 64;
    /// An invite may be used at most this many times.
    pub const INVITE_MAX_USES: u32 = 10_000;
    /// An invite may live at most one year.
    pub const INVITE_MAX_LIFETIME_SECS: u64 = 366 * 24 * 3600;
    /// Number of single-use backup codes issued when 2FA is enabled (80 bits each).
    pub const BACKUP_CODE_COUNT: usize = 10;
    /// Largest page of list endpoints.
    pub const PAGE_MAX: u32 = 200;
}

/// The instance-wide role of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InstanceRole {
    Owner,
    Admin,
    Member,
}

impl InstanceRole {
    /// Owners and admins manage invites and instance settings.
    pub fn is_admin(self) -> bool {
        matches!(self, InstanceRole::Owner | InstanceRole::Admin)
    }
}

/// Who may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    Open,
    InviteOnly,
    Closed,
}

/// `POST /api/v1/accounts`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::username))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::new_password))]
    pub password: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_64))]
    pub display_name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::invite_code))]
    pub invite_code: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_64))]
    pub device_name: Option<String>,
    /// The token the server printed at start while the instance has no owner: the account
    /// that presents it becomes the owner (in any registration mode).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::code))]
    pub setup_token: Option<String>,
}

/// `POST /api/v1/sessions` (log in)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::login_username))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::password))]
    pub password: String,
    /// A TOTP code or a backup code, when the account has 2FA.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::code))]
    pub totp_code: Option<String>,
    /// A device this client logged in with before: keeps the same device (and its keys) and
    /// exempts the login from the account-wide failure throttle.
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::device_secret))]
    pub device_secret: Option<String>,
    /// Name for a new device, shown in the sessions list.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_64))]
    pub device_name: Option<String>,
}

/// The caller's own account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: InstanceRole,
    pub totp_enabled: bool,
    /// The ref of their avatar (`GET /api/v1/images/{ref}`), if they set one.
    pub avatar_ref: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// A fresh access token and the refresh token that replaces the previous one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenPair {
    pub access_token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub access_token_expires_at: OffsetDateTime,
    pub refresh_token: String,
    pub session_id: SessionId,
}

/// Answer to registration and login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    #[serde(flatten)]
    pub tokens: TokenPair,
    pub device_id: DeviceId,
    /// Present when a new device was created: keep it with `device_id` for later logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_secret: Option<String>,
    pub user: Me,
    /// Present at registration only: the one-time account recovery code. Shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
}

/// `POST /api/v1/sessions/refresh`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::refresh_token))]
    pub refresh_token: String,
}

/// One login session of the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub id: SessionId,
    pub device_id: DeviceId,
    pub device_name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// True for the session of the token making the request.
    pub current: bool,
}

/// Answer to "log out everywhere".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokedSessions {
    pub revoked: u64,
}

/// `PUT /api/v1/users/me/password`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::password))]
    pub current_password: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::new_password))]
    pub new_password: String,
}

/// `POST /api/v1/users/me/totp`: a new, not yet enabled secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpSetup {
    /// Base32 secret for manual entry.
    pub secret: String,
    /// `otpauth://` URL for authenticator apps.
    pub otpauth_url: String,
}

/// `POST /api/v1/users/me/totp/confirm`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::totp_code))]
    pub code: String,
}

/// Password plus a current second factor: disabling 2FA, regenerating backup codes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordAndCodeRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::password))]
    pub password: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::code))]
    pub code: String,
}

/// Single-use backup codes, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupCodes {
    pub backup_codes: Vec<String>,
}

/// `POST /api/v1/users/me/recovery_code`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::password))]
    pub password: String,
}

/// A recovery code, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryCode {
    pub recovery_code: String,
}

/// `POST /api/v1/recoveries`: reset a forgotten password with the recovery code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::login_username))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::code))]
    pub recovery_code: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::new_password))]
    pub new_password: String,
}

/// `POST /api/v1/invites`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInviteRequest {
    /// Unlimited when absent.
    #[serde(default, deserialize_with = "crate::int::opt")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::max_uses))]
    pub max_uses: Option<u32>,
    /// Never expires when absent.
    #[serde(default, deserialize_with = "crate::int::opt")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::expires_in_secs))]
    pub expires_in_secs: Option<u64>,
}

/// A registration invite.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invite {
    pub id: InviteId,
    pub code: String,
    pub created_by: Option<UserId>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<OffsetDateTime>,
    pub revoked: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// `GET /api/v1/instance`: what a client needs before logging in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceInfo {
    pub name: String,
    pub version: String,
    pub protocol_version: u32,
    pub registration_mode: RegistrationMode,
    /// True until the owner account exists (it registers with the setup token).
    pub setup_pending: bool,
    /// Whether GIF search is set up (`GET /api/v1/gifs`).
    #[serde(default)]
    pub gifs: bool,
}

/// `PATCH /api/v1/instance` (owner and admins)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateInstanceRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_64))]
    pub name: Option<String>,
    #[serde(default)]
    pub registration_mode: Option<RegistrationMode>,
}

/// One entry of the audit log of authentication events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub user_id: Option<UserId>,
    pub action: String,
    /// The object acted on (a user, an invite, ...), when the action has one.
    pub subject_id: Option<uuid::Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// `PUT /api/v1/users/{id}/role` (instance owner): make an account an admin or a member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleRequest {
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::openapi::assignable_instance_role)
    )]
    pub role: InstanceRole,
}

/// `GET /api/v1/health` and `GET /api/v1/ready`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    pub status: String,
}

/// Who may find and join a community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Anyone may join.
    Public,
    /// Members join by invitation.
    Private,
}

impl Visibility {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Visibility> {
        [Visibility::Public, Visibility::Private]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Reads a field that may be absent (leave as is), `null` (clear) or a value (set).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Bounds of community fields.
pub mod community_limits {
    pub const NAME_MAX: usize = 100;
    pub const DESCRIPTION_MAX: usize = 1000;
    pub const WELCOME_MAX: usize = 2000;
    pub const TOPIC_MAX: usize = 1000;
    /// File references (avatars, icons, banners) are at most this long.
    pub const REF_MAX: usize = 200;
    pub const BAN_REASON_MAX: usize = 500;
    pub const GROUPS_MAX: usize = 200;
    /// Most communities one user may belong to (creating one counts).
    pub const MEMBERSHIPS_PER_USER: usize = 200;
    /// Most users one user may block.
    pub const BLOCKS_PER_USER: usize = 1000;
    /// Most DMs and group DMs one user may have opened (created) in all.
    pub const CONVERSATIONS_OPENED_PER_USER: usize = 1000;
    pub const CHANNELS_MAX: usize = 500;
    /// Slow mode is off (0) or 5 s to 10 min.
    pub const SLOW_MODE_MIN_SECS: i32 = 5;
    pub const SLOW_MODE_MAX_SECS: i32 = 600;
    pub const BIO_MAX: usize = 1000;
    pub const PRONOUNS_MAX: usize = 40;
    pub const CUSTOM_STATUS_MAX: usize = 128;
}

/// `POST /api/v1/communities`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateCommunityRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_100))]
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::text_1000))]
    pub description: Option<String>,
    /// Private when absent.
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Whether the first channel is end-to-end encrypted (the default) or plaintext.
    #[serde(default)]
    pub e2e: Option<bool>,
}

/// `PATCH /api/v1/communities/{id}` (admins): absent fields stay; `null` clears a reference.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateCommunityRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_100))]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::text_1000))]
    pub description: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Listed in the public directory (public communities only).
    #[serde(default)]
    pub discoverable: Option<bool>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::text_1000))]
    pub welcome_message: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::file_ref))]
    pub icon_ref: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::file_ref))]
    pub banner_ref: Option<Option<String>>,
}

/// A community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Community {
    pub id: crate::ids::CommunityId,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub discoverable: bool,
    pub welcome_message: String,
    pub icon_ref: Option<String>,
    pub banner_ref: Option<String>,
    pub owner_id: UserId,
    /// The caller's role in it, when a member (`null` in broadcasts).
    pub role: Option<CommunityRole>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// `GET /api/v1/directory`: a public, discoverable community.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryEntry {
    pub community: Community,
    pub member_count: i64,
}

/// A member of a community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: CommunityRole,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub joined_at: OffsetDateTime,
    /// The ref of their avatar (`GET /api/v1/images/{ref}`), if they set one.
    pub avatar_ref: Option<String>,
}

/// `PUT /api/v1/communities/{id}/members/{user_id}/role`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetMemberRoleRequest {
    pub role: CommunityRole,
}

/// `POST /api/v1/communities/{id}/invites` (moderators)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateCommunityInviteRequest {
    /// Unlimited when absent.
    #[serde(default, deserialize_with = "crate::int::opt")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::max_uses))]
    pub max_uses: Option<u32>,
    /// Never expires when absent.
    #[serde(default, deserialize_with = "crate::int::opt")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::expires_in_secs))]
    pub expires_in_secs: Option<u64>,
}

/// A community invite. The code is shown once, when it is created; the server keeps only its
/// hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommunityInvite {
    pub id: InviteId,
    pub community_id: crate::ids::CommunityId,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub code: Option<String>,
    pub created_by: Option<UserId>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<OffsetDateTime>,
    pub revoked: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// `POST /api/v1/community_joins`: join the community an invite code belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JoinCommunityRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::invite_code))]
    pub code: String,
}

/// `PUT /api/v1/communities/{id}/bans/{user_id}` (moderators)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::reason))]
    pub reason: Option<String>,
}

/// A ban.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ban {
    pub user_id: UserId,
    pub username: String,
    pub banned_by: Option<UserId>,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// A group of channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    pub id: GroupId,
    pub community_id: crate::ids::CommunityId,
    pub name: String,
    pub kind: GroupKind,
    /// For personal groups: the member it belongs to.
    pub assigned_to: Option<UserId>,
    pub position: i32,
}

/// `POST /api/v1/communities/{id}/groups` (admins; personal groups: moderators)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_100))]
    pub name: String,
    /// `public` when absent.
    #[serde(default)]
    pub kind: Option<GroupKind>,
    /// Required for personal groups: the member it is assigned to.
    #[serde(default)]
    pub assigned_to: Option<UserId>,
    #[serde(default, deserialize_with = "crate::int::opt")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::position))]
    pub position: Option<i32>,
}

/// `PATCH /api/v1/groups/{id}` (admins)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_100))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::int::opt")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::position))]
    pub position: Option<i32>,
}

/// What a channel is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Text,
    Voice,
    /// Read-only for members: only moderators and above post (by default).
    Announcement,
    Dm,
    GroupDm,
}

impl ChannelKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Text => "text",
            ChannelKind::Voice => "voice",
            ChannelKind::Announcement => "announcement",
            ChannelKind::Dm => "dm",
            ChannelKind::GroupDm => "group_dm",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<ChannelKind> {
        [
            ChannelKind::Text,
            ChannelKind::Voice,
            ChannelKind::Announcement,
            ChannelKind::Dm,
            ChannelKind::GroupDm,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// `POST /api/v1/communities/{id}/channels` (admins)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateChannelRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_100))]
    pub name: String,
    /// `text` when absent.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::openapi::community_channel_kind)
    )]
    pub kind: Option<ChannelKind>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::topic))]
    pub topic: Option<String>,
    /// End-to-end encrypted when absent.
    #[serde(default)]
    pub e2e: Option<bool>,
    #[serde(default)]
    pub group_id: Option<GroupId>,
    /// Least role that may read: `member` when absent.
    #[serde(default)]
    pub view_role: Option<CommunityRole>,
    /// Least role that may post: `member`, or `moderator` for announcement channels.
    #[serde(default)]
    pub post_role: Option<CommunityRole>,
    #[serde(default, deserialize_with = "crate::int::opt")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::position))]
    pub position: Option<i32>,
    /// 0 (off) or 5 to 600 seconds.
    #[serde(default, deserialize_with = "crate::int::opt")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::slow_mode))]
    pub slow_mode_secs: Option<i32>,
    /// New members' devices get the channel's past sender keys from members' devices
    /// (docs/e2e.md 18.5): on when absent.
    #[serde(default)]
    pub history_for_new_members: Option<bool>,
}

/// `PATCH /api/v1/channels/{id}`: admins change anything; moderators the topic, slow mode
/// and archived flag. `e2e` changes only while the channel has no messages; `group_id: null`
/// takes it out of its group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateChannelRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_100))]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::topic))]
    pub topic: Option<String>,
    #[serde(default, deserialize_with = "crate::int::opt")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::slow_mode))]
    pub slow_mode_secs: Option<i32>,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default, deserialize_with = "crate::int::opt")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::position))]
    pub position: Option<i32>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_id: Option<Option<GroupId>>,
    #[serde(default)]
    pub view_role: Option<CommunityRole>,
    #[serde(default)]
    pub post_role: Option<CommunityRole>,
    #[serde(default)]
    pub e2e: Option<bool>,
    /// Admins: whether new members' devices get past sender keys (docs/e2e.md 18.5).
    #[serde(default)]
    pub history_for_new_members: Option<bool>,
}

/// A channel with the caller's read state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Channel {
    pub id: crate::ids::ChannelId,
    pub community_id: Option<crate::ids::CommunityId>,
    pub group_id: Option<GroupId>,
    pub kind: ChannelKind,
    pub name: String,
    pub topic: String,
    /// True: message bodies are end-to-end ciphertext the server cannot read.
    pub e2e: bool,
    pub slow_mode_secs: i32,
    pub archived: bool,
    pub position: i32,
    /// Least role that may read (community channels).
    pub view_role: CommunityRole,
    /// Least role that may post (community channels).
    pub post_role: CommunityRole,
    /// Whether the caller may post here now.
    pub can_post: bool,
    /// Members' devices hand the channel's past sender keys to a new member's devices
    /// (end-to-end channels; docs/e2e.md 18.5).
    pub history_for_new_members: bool,
    /// The channel's latest sequence number.
    pub last_seq: i64,
    /// How far the caller has read.
    pub last_read_seq: i64,
    /// Messages from others after `last_read_seq` and after the caller joined the community
    /// (counting stops at 1000).
    pub unread: i64,
    /// When the caller joined the channel's community, in the channel list (`GET /channels`
    /// and live channel frames); messages before it were sent before they joined.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub joined_at: Option<time::OffsetDateTime>,
}

/// A user's public profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Profile {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub pronouns: String,
    pub custom_status: String,
    pub avatar_ref: Option<String>,
    pub banner_ref: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// `PATCH /api/v1/users/me/profile`: absent fields stay; `null` clears a reference.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::name_64))]
    pub display_name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::text_1000))]
    pub bio: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::pronouns))]
    pub pronouns: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::custom_status))]
    pub custom_status: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::file_ref))]
    pub avatar_ref: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::file_ref))]
    pub banner_ref: Option<Option<String>>,
}

/// `POST /api/v1/dms`: the DM with one user, or the group DM with several (the caller is
/// added). Opening the same set again returns the same channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OpenDmRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::dm_users))]
    pub user_ids: Vec<UserId>,
}

/// Most members of a group DM, the caller included.
pub const MAX_GROUP_DM_MEMBERS: usize = 10;

/// `GET /api/v1/channels`: a page of the caller's channels, most recently active first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelPage {
    pub channels: Vec<Channel>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<String>,
}

/// `GET /api/v1/channels/{id}/messages`: a page of history in sequence order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePage {
    pub messages: Vec<crate::ws::Message>,
    /// True when older (with `before_seq`/no cursor) or newer (with `after_seq`) messages exist
    /// beyond this page.
    pub has_more: bool,
}

/// `POST /api/v1/channels/{id}/files`: a file stored in a channel (docs/e2e.md 19). In an
/// end-to-end channel the bytes are the encrypted blob and the server knows nothing else of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredFile {
    pub id: crate::ids::FileId,
    pub channel_id: crate::ids::ChannelId,
    pub uploader_id: UserId,
    pub size: u64,
    /// SHA-256 of the bytes stored, 64 lowercase hex characters: an encrypted blob's equals
    /// the digest in its attachment pointer.
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// In a plaintext channel: the file's name (absent in an end-to-end channel, as are the
    /// type and the dimensions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// In a plaintext channel: the type the server recognised, else the declared one, else
    /// `application/octet-stream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// An image's width and height in pixels, upright (plaintext channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Whether the server made a thumbnail (`GET /files/{id}/thumbnail`).
    #[serde(default)]
    pub thumbnail: bool,
}

/// Bounds of what a plaintext channel's upload says of its file.
pub mod file_limits {
    /// The longest file name, bytes.
    pub const NAME_MAX: usize = 255;
    /// The longest declared type, bytes.
    pub const TYPE_MAX: usize = 100;
}

/// `POST /api/v1/channels/{id}/files` query: in a plaintext channel the file's name (required)
/// and type (optional); an end-to-end channel's upload has neither.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UploadFileQuery {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub content_type: Option<String>,
}

/// `GET /api/v1/users/me/files`: what the caller's files take and may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileUsage {
    pub files: u64,
    pub bytes: u64,
    /// The caller's quota in bytes.
    pub quota_bytes: u64,
    /// The largest single upload in bytes.
    pub max_upload_bytes: u64,
    /// For the instance's owner and admins: what all files and public images of the instance
    /// take, and its bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceFileUsage>,
}

/// What the instance's files take (`FileUsage.instance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceFileUsage {
    /// Files of channels and public images.
    pub files: u64,
    pub bytes: u64,
    /// `limits.file_instance_bytes`; 0: no bound but the disk's.
    pub quota_bytes: u64,
}

/// What a public image is for; it decides how the server shapes it (docs/api.md "Images").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    /// A user's picture: a centred square of at most 512 px.
    Avatar,
    /// A profile's or a community's banner: within 1920 × 640 px.
    Banner,
    /// A community's icon: a centred square of at most 512 px.
    Icon,
    /// A custom emoji: within 128 × 128 px.
    Emoji,
}

impl ImageKind {
    pub const ALL: [ImageKind; 4] = [
        ImageKind::Avatar,
        ImageKind::Banner,
        ImageKind::Icon,
        ImageKind::Emoji,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::Avatar => "avatar",
            ImageKind::Banner => "banner",
            ImageKind::Icon => "icon",
            ImageKind::Emoji => "emoji",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<ImageKind> {
        ImageKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// `POST /api/v1/images?kind=`: the query.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct ImageQuery {
    pub kind: ImageKind,
}

/// A stored public image. `ref` (the SHA-256 of the stored bytes, 64 lowercase hex) is what
/// `avatar_ref`, `banner_ref`, `icon_ref` and an emoji take, and names it under
/// `GET /api/v1/images/{ref}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Image {
    #[serde(rename = "ref")]
    pub image_ref: String,
    pub kind: ImageKind,
    /// `image/webp` (an image with transparency) or `image/jpeg`.
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub size: u64,
}

/// Bounds of public images.
pub mod image_limits {
    /// The most bytes an uploaded image may have.
    pub const UPLOAD_MAX: u64 = 10 * 1024 * 1024;
    /// The widest or tallest image decoded.
    pub const SIDE_MAX: u32 = 8192;
    /// The most pixels an image decoded may have.
    pub const PIXELS_MAX: u64 = 40_000_000;
    /// Custom emoji per community.
    pub const EMOJI_PER_COMMUNITY: usize = 100;
    /// An emoji's name: 2 to 32 of `a-z`, `0-9`, `_`.
    pub const EMOJI_NAME_MIN: usize = 2;
    pub const EMOJI_NAME_MAX: usize = 32;
}

/// A community's custom emoji: written `:name:` by people, sent in messages and reactions as
/// `<:name:ref>` so that any reader (a DM's, an end-to-end channel's) can show it from
/// `GET /api/v1/images/{ref}` without knowing the community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomEmoji {
    pub id: crate::ids::EmojiId,
    pub community_id: crate::ids::CommunityId,
    /// 2 to 32 of `a-z`, `0-9`, `_`; unique in the community.
    pub name: String,
    /// The ref of its image (uploaded with `kind=emoji`).
    pub image_ref: String,
    pub created_by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// `POST /api/v1/communities/{id}/emoji`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateEmojiRequest {
    #[cfg_attr(feature = "openapi", schema(pattern = "^[a-z0-9_]{2,32}$"))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub image_ref: String,
}

/// `GET /api/v1/link_preview?url=`: the page whose preview is wanted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct LinkPreviewQuery {
    pub url: String,
}

/// What a web page says of itself (its Open Graph tags, else its title and description),
/// fetched by the server's link fetcher (docs/api.md "Link previews").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkPreview {
    /// The address asked for.
    pub url: String,
    /// Where the page was found after redirects.
    pub final_url: String,
    pub title: String,
    pub description: String,
    pub site_name: String,
}

/// `GET /api/v1/gifs?q=&pos=`: a search of the GIF provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GifQuery {
    pub q: String,
    /// The `next` of the page before.
    pub pos: Option<String>,
}

/// `GET /api/v1/gifs/media?url=`: a GIF of the provider's, fetched by the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GifMediaQuery {
    pub url: String,
}

/// One GIF found: its addresses at the provider, fetched through `GET /api/v1/gifs/media`
/// (the reader's browser never reaches the provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Gif {
    pub id: String,
    /// What it shows, for people and screen readers.
    pub title: String,
    /// The GIF to send.
    pub url: String,
    pub width: u32,
    pub height: u32,
    /// A small rendition for the picker.
    pub preview_url: String,
    pub preview_width: u32,
    pub preview_height: u32,
    /// The GIF's bytes, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// A page of GIF search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GifPage {
    pub results: Vec<Gif>,
    /// Where the next page starts (`pos`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Bounds of GIF search.
pub mod gif_limits {
    /// The longest query, characters.
    pub const QUERY_MAX: usize = 100;
    /// The longest `pos`, bytes.
    pub const POS_MAX: usize = 200;
    /// Results per page.
    pub const PAGE: usize = 24;
}

/// Bounds of link previews.
pub mod preview_limits {
    /// The longest address taken, bytes.
    pub const URL_MAX: usize = 2048;
    /// The longest title, description and site name kept, characters.
    pub const TITLE_MAX: usize = 300;
    pub const DESCRIPTION_MAX: usize = 1000;
    pub const SITE_NAME_MAX: usize = 100;
}
