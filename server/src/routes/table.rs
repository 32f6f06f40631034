//! The route table: every REST route of the server, written once. Each entry names the method,
//! the path under `/api/v1`, the handler and what the OpenAPI document says of it; the
//! actix-web configuration (`mount`), the list of routes (`ROUTES`, read by the 405 logic,
//! the metrics and the tests) and the OpenAPI document (`crate::openapi`) are all made from it.

use super::*;
use crate::routes::describe::{list, one, params as q, Body};
use actix_web::http::Method;
use actix_web::web::{self as w, ServiceConfig};
use chatalot_protocol::api::*;
use chatalot_protocol::keys::*;
use chatalot_protocol::multi_device::*;
use std::sync::LazyLock;

/// One route.
pub struct Route {
    pub method: &'static str,
    /// The whole path, `/api/v1/...`, with `{param}` segments.
    pub path: &'static str,
    pub summary: &'static str,
    /// Needs `Authorization: Bearer <access token>`.
    pub auth: bool,
    pub request: Option<Body>,
    /// The success status and body (None: no body).
    pub status: u16,
    pub response: Option<Body>,
    /// Other success answers (say, 200 when the thing asked for exists already).
    pub also: Vec<(u16, Option<Body>)>,
    /// Query parameters: name, required, schema.
    pub query: Vec<Param>,
    /// The request body is raw bytes (`application/octet-stream`), not JSON.
    pub octets_in: bool,
    /// The success body is raw bytes (`application/octet-stream`), not JSON.
    pub octets_out: bool,
    /// The success body is a picture (`image/webp` or `image/jpeg`), not JSON.
    pub image_out: bool,
    /// Registers the handler inside the `/api/v1` scope.
    pub mount: fn(&mut ServiceConfig),
}

/// A query parameter.
#[derive(Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub required: bool,
    pub schema: fn() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
}

impl Route {
    fn public(mut self) -> Self {
        self.auth = false;
        self
    }
    fn req(mut self, body: Option<Body>) -> Self {
        self.request = body;
        self
    }
    fn res(mut self, status: u16, body: Option<Body>) -> Self {
        self.status = status;
        self.response = body;
        self
    }
    fn also(mut self, status: u16, body: Option<Body>) -> Self {
        self.also.push((status, body));
        self
    }
    /// Takes raw bytes (`application/octet-stream`) as its body.
    fn octets_in(mut self) -> Self {
        self.octets_in = true;
        self
    }
    /// Answers `status` with raw bytes (`application/octet-stream`).
    fn octets_out(mut self, status: u16) -> Self {
        self.octets_out = true;
        self.status = status;
        self.response = None;
        self
    }
    /// Answers `status` with a picture (`image/webp` or `image/jpeg`).
    fn image_out(mut self, status: u16) -> Self {
        self.image_out = true;
        self.status = status;
        self.response = None;
        self
    }
    fn query(
        mut self,
        name: &'static str,
        required: bool,
        schema: fn() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    ) -> Self {
        self.query.push(Param {
            name,
            required,
            schema,
        });
        self
    }
}

/// `route!(METHOD "/path" => handler, "summary")`: a route answering 204 without a body to
/// an authenticated caller, until `.public()`, `.req(…)` and `.res(…)` say otherwise.
macro_rules! route {
    ($method:ident $path:literal => $handler:path, $summary:literal) => {
        Route {
            method: stringify!($method),
            path: concat!("/api/v1", $path),
            summary: $summary,
            auth: true,
            request: None,
            status: 204,
            response: None,
            also: Vec::new(),
            query: Vec::new(),
            octets_in: false,
            octets_out: false,
            image_out: false,
            mount: |cfg: &mut ServiceConfig| {
                cfg.route(
                    &uuid_params($path),
                    w::route().method(Method::$method).to($handler),
                );
            },
        }
    };
}

/// A UUID in any case, as a path segment pattern.
pub const UUID_SEGMENT: &str =
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// A content reference (a SHA-256 in lowercase hex), as a path segment pattern.
pub const REF_SEGMENT: &str = "[0-9a-f]{64}";

/// `path` with every `{param}` segment matching only a UUID (every path parameter is an id;
/// one named `ref` is a content reference):
/// `/sessions/refresh` is then never taken for `/sessions/{id}`.
fn uuid_params(path: &str) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some("ref") => format!("{{ref:{REF_SEGMENT}}}"),
                Some(name) => format!("{{{name}:{UUID_SEGMENT}}}"),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// A matched pattern as the table writes it: `{id:<regex>}` back to `{id}`.
pub fn plain_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut depth = 0usize;
    let mut skipping = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push(c);
                }
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    skipping = false;
                    out.push(c);
                }
            }
            ':' if depth == 1 => skipping = true,
            _ if depth >= 1 && skipping => {}
            _ if depth > 1 => {}
            _ => out.push(c),
        }
    }
    out
}

/// Every route, in the order they are registered (more specific paths first where two
/// patterns could match the same path).
pub fn table() -> &'static [Route] {
    static TABLE: LazyLock<Vec<Route>> = LazyLock::new(|| {
        vec![
            route!(GET "/health" => health::get_health, "Liveness")
                .public()
                .res(200, one::<Status>()),
            route!(GET "/ready" => health::get_ready, "Readiness: the database answers")
                .public()
                .res(200, one::<Status>()),
            route!(GET "/openapi.json" => openapi_json, "This description")
                .public()
                .res(200, None),
            route!(GET "/instance" => instance::get_instance, "Instance name, version and registration mode")
                .public()
                .res(200, one::<InstanceInfo>()),
            route!(PATCH "/instance" => instance::update_instance, "Change instance settings (owner, admins)")
                .req(one::<UpdateInstanceRequest>())
                .res(200, one::<InstanceInfo>()),
            route!(POST "/accounts" => accounts::create_account, "Register")
                .public()
                .req(one::<RegisterRequest>())
                .res(201, one::<LoginResponse>()),
            route!(POST "/sessions" => sessions::create_session, "Log in")
                .public()
                .req(one::<LoginRequest>())
                .res(201, one::<LoginResponse>()),
            route!(GET "/sessions" => sessions::list_sessions, "The caller's sessions")
                .res(200, list::<SessionInfo>()),
            route!(DELETE "/sessions" => sessions::delete_sessions, "Log out everywhere")
                .res(200, one::<RevokedSessions>()),
            route!(POST "/sessions/refresh" => sessions::refresh_session, "Rotate the refresh token")
                .public()
                .req(one::<RefreshRequest>())
                .res(200, one::<TokenPair>()),
            route!(DELETE "/sessions/current" => sessions::delete_current_session, "Log out"),
            route!(DELETE "/sessions/{id}" => sessions::delete_session, "Revoke one of the caller's sessions"),
            route!(POST "/recoveries" => recoveries::create_recovery, "Reset a password with the recovery code")
                .public()
                .req(one::<RecoverRequest>())
                .res(200, one::<RecoveryCode>()),
            route!(GET "/users/me" => users::get_me, "The caller's account")
                .res(200, one::<Me>()),
            route!(PUT "/users/me/password" => users::update_password, "Change the password")
                .req(one::<ChangePasswordRequest>()),
            route!(POST "/users/me/totp" => users::create_totp, "Start two-factor setup")
                .req(one::<PasswordRequest>())
                .res(200, one::<TotpSetup>()),
            route!(DELETE "/users/me/totp" => users::delete_totp, "Turn two-factor off")
                .req(one::<PasswordAndCodeRequest>()),
            route!(POST "/users/me/totp/confirm" => users::confirm_totp, "Confirm two-factor setup")
                .req(one::<TotpConfirmRequest>())
                .res(200, one::<BackupCodes>()),
            route!(POST "/users/me/totp/backup_codes" => users::create_backup_codes, "New backup codes")
                .req(one::<PasswordAndCodeRequest>())
                .res(200, one::<BackupCodes>()),
            route!(POST "/users/me/recovery_code" => users::create_recovery_code, "New recovery code")
                .req(one::<PasswordRequest>())
                .res(200, one::<RecoveryCode>()),
            route!(GET "/users/me/audit_events" => audit::list_my_audit_events, "The caller's security events")
                .res(200, list::<AuditEvent>())
                .query("limit", false, q::limit_200),
            route!(PUT "/users/{id}/role" => users::update_role, "Make an account an admin or a member (instance owner)")
                .req(one::<UpdateRoleRequest>()),
            route!(PUT "/users/{id}/suspension" => users::create_suspension, "Suspend an account (admins)"),
            route!(DELETE "/users/{id}/suspension" => users::delete_suspension, "Lift a suspension (admins)"),
            route!(GET "/invites" => invites::list_invites, "Registration invites (admins)")
                .res(200, list::<Invite>()),
            route!(POST "/invites" => invites::create_invite, "Create a registration invite (admins)")
                .req(one::<CreateInviteRequest>())
                .res(201, one::<Invite>()),
            route!(DELETE "/invites/{id}" => invites::delete_invite, "Revoke a registration invite (admins)"),
            route!(GET "/audit_events" => audit::list_audit_events, "The audit log (admins)")
                .res(200, list::<AuditEvent>())
                .query("limit", false, q::limit_200)
                .query("user_id", false, q::uuid),
            route!(GET "/ws" => crate::ws::get_ws, "WebSocket gateway (see docs/protocol.md)")
                .public()
                .res(101, None),
            route!(GET "/users" => profiles::lookup_user, "Find a user by exact username (?username=)")
                .res(200, one::<Profile>())
                .query("username", true, q::username),
            route!(GET "/users/{id}/profile" => profiles::get_profile, "A user's public profile")
                .res(200, one::<Profile>()),
            route!(PATCH "/users/me/profile" => profiles::update_profile, "Change the caller's profile")
                .req(one::<UpdateProfileRequest>())
                .res(200, one::<Profile>()),
            route!(GET "/users/me/blocks" => profiles::list_blocks, "Users the caller blocked")
                .res(200, list::<Profile>()),
            route!(PUT "/users/me/blocks/{id}" => profiles::block_user, "Block a user"),
            route!(DELETE "/users/me/blocks/{id}" => profiles::unblock_user, "Unblock a user"),
            route!(POST "/communities" => communities::create_community, "Create a community")
                .req(one::<CreateCommunityRequest>())
                .res(201, one::<Community>()),
            route!(GET "/communities" => communities::list_communities, "The caller's communities")
                .res(200, list::<Community>()),
            route!(GET "/directory" => communities::list_directory, "Public, listed communities (?q=&limit=)")
                .res(200, list::<DirectoryEntry>())
                .query("q", false, q::search)
                .query("limit", false, q::limit_100),
            route!(POST "/community_joins" => communities::join_by_invite, "Join by invite code (200 when already a member)")
                .req(one::<JoinCommunityRequest>())
                .res(201, one::<Community>())
                .also(200, one::<Community>()),
            route!(GET "/communities/{id}" => communities::get_community, "A community")
                .res(200, one::<Community>()),
            route!(PATCH "/communities/{id}" => communities::update_community, "Change a community (admins)")
                .req(one::<UpdateCommunityRequest>())
                .res(200, one::<Community>()),
            route!(DELETE "/communities/{id}" => communities::delete_community, "Delete a community (owner)"),
            route!(GET "/communities/{id}/members" => communities::list_members, "Members with roles")
                .res(200, list::<Member>()),
            route!(POST "/communities/{id}/members" => communities::join_community, "Join a public community")
                .res(201, one::<Community>())
                .also(200, one::<Community>()),
            route!(DELETE "/communities/{id}/members/{user_id}" => communities::remove_member, "Leave, or kick a member (moderators)"),
            route!(PUT "/communities/{id}/members/{user_id}/role" => communities::set_member_role, "Change a member's role (admins)")
                .req(one::<SetMemberRoleRequest>())
                .res(200, one::<Member>()),
            route!(GET "/communities/{id}/bans" => communities::list_bans, "Bans (moderators)")
                .res(200, list::<Ban>()),
            route!(PUT "/communities/{id}/bans/{user_id}" => communities::ban_member, "Ban a user (moderators)")
                .req(one::<BanRequest>()),
            route!(DELETE "/communities/{id}/bans/{user_id}" => communities::unban_member, "Lift a ban (moderators)"),
            route!(GET "/communities/{id}/invites" => communities::list_invites, "Invite codes (moderators)")
                .res(200, list::<CommunityInvite>()),
            route!(POST "/communities/{id}/invites" => communities::create_invite, "Create an invite code (moderators)")
                .req(one::<CreateCommunityInviteRequest>())
                .res(201, one::<CommunityInvite>()),
            route!(DELETE "/communities/{id}/invites/{invite_id}" => communities::revoke_invite, "Revoke an invite code (moderators)"),
            route!(GET "/communities/{id}/groups" => groups::list_groups, "Groups the caller may see")
                .res(200, list::<Group>()),
            route!(POST "/communities/{id}/groups" => groups::create_group, "Create a group (admins; personal: moderators)")
                .req(one::<CreateGroupRequest>())
                .res(201, one::<Group>()),
            route!(PATCH "/groups/{id}" => groups::update_group, "Rename or move a group (admins)")
                .req(one::<UpdateGroupRequest>())
                .res(200, one::<Group>()),
            route!(DELETE "/groups/{id}" => groups::delete_group, "Delete a group and its channels (admins)"),
            route!(PUT "/groups/{id}/members/{user_id}" => groups::add_group_member, "Add a member to a group"),
            route!(DELETE "/groups/{id}/members/{user_id}" => groups::remove_group_member, "Leave a group, or remove a member (moderators)"),
            route!(POST "/communities/{id}/channels" => communities::create_channel, "Create a channel (admins)")
                .req(one::<CreateChannelRequest>())
                .res(201, one::<Channel>()),
            route!(GET "/channels" => channels::list_channels, "The channels the caller can read, most recently active first, a page at a time (?limit=&before=)")
                .res(200, one::<ChannelPage>())
                .query("limit", false, q::limit_500)
                .query("before", false, q::channel_cursor),
            route!(GET "/channels/{id}" => channels::get_channel, "A channel")
                .res(200, one::<Channel>()),
            route!(PATCH "/channels/{id}" => channels::update_channel, "Change a channel (moderators: topic, slow mode, archive; admins: all)")
                .req(one::<UpdateChannelRequest>())
                .res(200, one::<Channel>()),
            route!(DELETE "/channels/{id}" => channels::delete_channel, "Delete a channel (admins)"),
            route!(GET "/channels/{id}/messages" => channels::list_messages, "A page of history (?before_seq=&after_seq=&limit=)")
                .res(200, one::<MessagePage>())
                .query("before_seq", false, q::seq)
                .query("after_seq", false, q::seq)
                .query("limit", false, q::limit_100),
            route!(POST "/dms" => channels::open_dm, "Open the DM or group DM with these users")
                .req(one::<OpenDmRequest>())
                .res(200, one::<Channel>()),
            route!(DELETE "/dms/{id}" => channels::leave_dm, "Leave a DM or group DM (opening it again brings the caller back)"),
            route!(PUT "/devices/{id}/keys" => keys::publish_device_keys, "Publish the caller's device keys")
                .req(one::<PublishKeysRequest>())
                .res(200, one::<DeviceKeyStatus>()),
            route!(GET "/devices/{id}/keys" => keys::get_device_keys, "The caller's device key status")
                .res(200, one::<DeviceKeyStatus>()),
            route!(PUT "/devices/{id}/signed_prekey" => keys::update_signed_prekey, "Rotate the signed prekey")
                .req(one::<RotateSignedPreKeyRequest>())
                .res(200, one::<DeviceKeyStatus>()),
            route!(POST "/devices/{id}/one_time_prekeys" => keys::create_one_time_prekeys, "Upload one-time prekeys")
                .req(one::<UploadOneTimePreKeysRequest>())
                .res(200, one::<DeviceKeyStatus>()),
            route!(GET "/devices/{id}/envelopes" => keys::list_envelopes, "Envelopes queued for the caller's device")
                .res(200, one::<EnvelopePage>())
                .query("limit", false, q::limit_100),
            route!(POST "/devices/{id}/envelope_acks" => keys::create_envelope_acks, "Acknowledge (delete) queued envelopes")
                .req(one::<AckEnvelopesRequest>())
                .res(200, one::<AckedEnvelopes>()),
            route!(GET "/users/{id}/devices" => keys::list_user_devices, "A user's devices with certificates and user key")
                .res(200, one::<UserDevices>()),
            route!(POST "/users/{id}/key_bundles" => keys::claim_key_bundles, "Claim prekey bundles (rate limited)")
                .req(one::<ClaimBundlesRequest>())
                .res(200, one::<ClaimedBundles>()),
            route!(GET "/channels/{id}/devices" => keys::list_channel_devices, "Devices of everyone who can read a channel")
                .res(200, one::<ChannelDevices>()),
            route!(POST "/envelopes" => keys::create_envelopes, "Send device-to-device envelopes")
                .req(one::<SendEnvelopesRequest>())
                .res(201, one::<SentEnvelopes>()),
            route!(GET "/devices" => multi_device::list_devices, "The caller's devices, most recently seen first")
                .res(200, one::<AccountDevices>()),
            route!(PATCH "/devices/{id}" => multi_device::rename_device, "Rename a device of the caller's account")
                .req(one::<RenameDevice>()),
            route!(DELETE "/devices/{id}" => multi_device::remove_device, "Remove a device of the caller's account: its sessions end and its keys go"),
            route!(PUT "/devices/{id}/link_request" => multi_device::put_link_request, "Ask a device of the account to link this one (which has no keys yet)")
                .req(one::<CreateLinkRequest>())
                .res(200, one::<PendingLink>()),
            route!(DELETE "/devices/{id}/link_request" => multi_device::delete_link_request, "Cancel this device's link request"),
            route!(GET "/devices/{id}/link_response" => multi_device::get_link_response, "The answer to this device's link request (404 until there is one)")
                .res(200, one::<LinkAnswer>()),
            route!(GET "/users/me/link_requests" => multi_device::list_link_requests, "The account's unanswered link requests")
                .res(200, one::<PendingLinks>()),
            route!(PUT "/users/me/link_requests/{id}/response" => multi_device::answer_link_request, "Answer a link request of the account (a device with published keys, once)")
                .req(one::<AnswerLinkRequest>()),
            route!(GET "/users/me/secret_storage" => multi_device::get_secret_storage, "The account's secret storage (sealed under its recovery key)")
                .res(200, one::<SecretStorage>()),
            route!(PUT "/users/me/secret_storage" => multi_device::put_secret_storage, "Store the next version of the account's secret storage")
                .req(one::<PutSecretStorage>())
                .res(200, one::<SecretStorage>()),
            route!(GET "/users/me/key_backup" => multi_device::get_key_backup, "The key backup's head, size and quota")
                .res(200, one::<KeyBackup>()),
            route!(POST "/users/me/key_backup/chunks" => multi_device::append_backup_chunk, "Append an encrypted key backup chunk at the next number")
                .req(one::<AppendBackupChunk>())
                .res(201, one::<AppendedChunk>()),
            route!(GET "/users/me/key_backup/chunks" => multi_device::list_backup_chunks, "Key backup chunks in order (?after=&limit=)")
                .res(200, one::<BackupChunkPage>())
                .query("after", false, q::seq)
                .query("limit", false, q::limit_100),
            route!(PUT "/users/me/key_backup/head" => multi_device::put_backup_head, "Store the next key backup head")
                .req(one::<PutBackupHead>())
                .res(200, one::<KeyBackup>()),
            route!(POST "/channels/{id}/files" => files::upload_file, "Store a file in a channel (application/octet-stream; in an E2E channel the encrypted blob, with no name or type; in a plaintext channel ?name= and optionally ?type=)")
                .octets_in()
                .query("name", false, q::file_name)
                .query("type", false, q::file_type)
                .res(201, one::<StoredFile>()),
            route!(GET "/files/{id}" => files::download_file, "A file's bytes, to whoever can read its channel (ranges allowed)")
                .octets_out(200)
                .also(206, None),
            route!(GET "/files/{id}/thumbnail" => files::file_thumbnail, "The thumbnail the server made of a plaintext channel's image, to whoever can read its channel")
                .image_out(200)
                .also(206, None),
            route!(POST "/images" => images::upload_image, "Store a public image (avatar, banner, icon or emoji): PNG, JPEG, GIF or WebP, decoded, shaped and re-encoded")
                .octets_in()
                .query("kind", true, q::image_kind)
                .res(201, one::<Image>()),
            route!(GET "/images/{ref}" => images::get_image, "A public image by its ref (inline, cached for good)")
                .public()
                .image_out(200)
                .also(206, None)
                .also(304, None),
            route!(GET "/communities/{id}/emoji" => emoji::list_emoji, "The community's custom emoji, by name")
                .res(200, list::<CustomEmoji>()),
            route!(POST "/communities/{id}/emoji" => emoji::create_emoji, "Add a custom emoji (community admin): a name and the ref of an image of kind emoji")
                .req(one::<CreateEmojiRequest>())
                .res(201, one::<CustomEmoji>()),
            route!(DELETE "/communities/{id}/emoji/{emoji_id}" => emoji::delete_emoji, "Remove a custom emoji (community admin)"),
            route!(GET "/link_preview" => previews::link_preview, "What a public web page says of itself (title, description, site), fetched by the server without reaching private addresses")
                .query("url", true, q::url)
                .res(200, one::<LinkPreview>())
                .also(204, None),
            route!(GET "/gifs" => gifs::search_gifs, "Search GIFs through the configured provider (404 when GIF search is not set up)")
                .query("q", true, q::gif_query)
                .query("pos", false, q::gif_pos)
                .res(200, one::<GifPage>()),
            route!(GET "/gifs/media" => gifs::gif_media, "The bytes of a GIF a search found, fetched by the server from the provider's media origins")
                .query("url", true, q::url)
                .image_out(200),
            route!(GET "/users/me/files" => files::file_usage, "How many files the caller stored, their bytes and the bounds")
                .res(200, one::<FileUsage>()),
            route!(POST "/users/me/user_key_reset" => multi_device::reset_user_key, "Drop every key of the account to start over with a new user key (password, and code with 2FA; once a day)")
                .req(one::<ResetUserKeyRequest>()),
        ]
    });
    &TABLE
}

/// Every route as (method, path).
pub static ROUTES: LazyLock<Vec<(&'static str, &'static str)>> =
    LazyLock::new(|| table().iter().map(|r| (r.method, r.path)).collect());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_with_uuid_segments_read_back_plain() {
        let p = uuid_params("/api/v1/groups/{id}/members/{user_id}");
        assert!(p.contains("{id:[0-9a-fA-F]{8}-"));
        assert_eq!(plain_pattern(&p), "/api/v1/groups/{id}/members/{user_id}");
        assert_eq!(plain_pattern("/api/v1/health"), "/api/v1/health");
    }
}
