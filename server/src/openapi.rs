//! The OpenAPI 3.1 description of the REST API, served at `/api/v1/openapi.json`.
//!
//! Schemas are derived from the wire types of the protocol crate; operations come from
//! `OPERATIONS`, which names, for every route of the route table, its request and response
//! types. A test fails when a route has no operation or an operation no route.

use chatalot_protocol::api::*;
use chatalot_protocol::keys::*;
use chatalot_protocol::ws::Message;
use chatalot_protocol::ErrorBody;
use std::sync::OnceLock;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ComponentsBuilder, Ref, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, RefOr, Required,
    ResponseBuilder, ResponsesBuilder,
};
use utoipa::ToSchema;

/// A body type: its schema name and how to collect its schema and those it refers to.
#[derive(Clone, Copy)]
pub struct Body {
    name: fn() -> String,
    collect: fn(&mut Vec<(String, RefOr<Schema>)>),
    list: bool,
}

fn collect<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

fn one<T: ToSchema>() -> Option<Body> {
    Some(Body {
        name: || T::name().into_owned(),
        collect: collect::<T>,
        list: false,
    })
}

fn list<T: ToSchema>() -> Option<Body> {
    Some(Body {
        name: || T::name().into_owned(),
        collect: collect::<T>,
        list: true,
    })
}

/// One operation: a route of the route table with its types.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// Needs `Authorization: Bearer <access token>`.
    pub auth: bool,
    pub request: Option<Body>,
    /// The success status and body (None: no body).
    pub status: u16,
    pub response: Option<Body>,
}

const fn op(method: &'static str, path: &'static str, summary: &'static str) -> Operation {
    Operation {
        method,
        path,
        summary,
        auth: true,
        request: None,
        status: 204,
        response: None,
    }
}

impl Operation {
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
}

/// Every operation of the API.
pub fn operations() -> Vec<Operation> {
    vec![
        op("GET", "/api/v1/health", "Liveness")
            .public()
            .res(200, one::<Status>()),
        op("GET", "/api/v1/ready", "Readiness: the database answers")
            .public()
            .res(200, one::<Status>()),
        op("GET", "/api/v1/openapi.json", "This description")
            .public()
            .res(200, None),
        op(
            "GET",
            "/api/v1/instance",
            "Instance name, version and registration mode",
        )
        .public()
        .res(200, one::<InstanceInfo>()),
        op(
            "PATCH",
            "/api/v1/instance",
            "Change instance settings (owner, admins)",
        )
        .req(one::<UpdateInstanceRequest>())
        .res(200, one::<InstanceInfo>()),
        op("POST", "/api/v1/accounts", "Register")
            .public()
            .req(one::<RegisterRequest>())
            .res(201, one::<LoginResponse>()),
        op("POST", "/api/v1/sessions", "Log in")
            .public()
            .req(one::<LoginRequest>())
            .res(201, one::<LoginResponse>()),
        op("GET", "/api/v1/sessions", "The caller's sessions").res(200, list::<SessionInfo>()),
        op("DELETE", "/api/v1/sessions", "Log out everywhere").res(200, one::<RevokedSessions>()),
        op(
            "POST",
            "/api/v1/sessions/refresh",
            "Rotate the refresh token",
        )
        .public()
        .req(one::<RefreshRequest>())
        .res(200, one::<TokenPair>()),
        op("DELETE", "/api/v1/sessions/current", "Log out"),
        op(
            "DELETE",
            "/api/v1/sessions/{id}",
            "Revoke one of the caller's sessions",
        ),
        op(
            "POST",
            "/api/v1/recoveries",
            "Reset a password with the recovery code",
        )
        .public()
        .req(one::<RecoverRequest>())
        .res(200, one::<RecoveryCode>()),
        op("GET", "/api/v1/users/me", "The caller's account").res(200, one::<Me>()),
        op("PUT", "/api/v1/users/me/password", "Change the password")
            .req(one::<ChangePasswordRequest>()),
        op("POST", "/api/v1/users/me/totp", "Start two-factor setup")
            .req(one::<PasswordRequest>())
            .res(200, one::<TotpSetup>()),
        op("DELETE", "/api/v1/users/me/totp", "Turn two-factor off")
            .req(one::<PasswordAndCodeRequest>()),
        op(
            "POST",
            "/api/v1/users/me/totp/confirm",
            "Confirm two-factor setup",
        )
        .req(one::<TotpConfirmRequest>())
        .res(200, one::<BackupCodes>()),
        op(
            "POST",
            "/api/v1/users/me/totp/backup_codes",
            "New backup codes",
        )
        .req(one::<PasswordAndCodeRequest>())
        .res(200, one::<BackupCodes>()),
        op(
            "POST",
            "/api/v1/users/me/recovery_code",
            "New recovery code",
        )
        .req(one::<PasswordRequest>())
        .res(200, one::<RecoveryCode>()),
        op(
            "GET",
            "/api/v1/users/me/audit_events",
            "The caller's security events",
        )
        .res(200, list::<AuditEvent>()),
        op(
            "PUT",
            "/api/v1/users/{id}/role",
            "Make an account an admin or a member (instance owner)",
        )
        .req(one::<UpdateRoleRequest>()),
        op(
            "PUT",
            "/api/v1/users/{id}/suspension",
            "Suspend an account (admins)",
        ),
        op(
            "DELETE",
            "/api/v1/users/{id}/suspension",
            "Lift a suspension (admins)",
        ),
        op("GET", "/api/v1/invites", "Registration invites (admins)").res(200, list::<Invite>()),
        op(
            "POST",
            "/api/v1/invites",
            "Create a registration invite (admins)",
        )
        .req(one::<CreateInviteRequest>())
        .res(201, one::<Invite>()),
        op(
            "DELETE",
            "/api/v1/invites/{id}",
            "Revoke a registration invite (admins)",
        ),
        op("GET", "/api/v1/audit_events", "The audit log (admins)").res(200, list::<AuditEvent>()),
        op(
            "GET",
            "/api/v1/ws",
            "WebSocket gateway (see docs/protocol.md)",
        )
        .public()
        .res(101, None),
        op(
            "GET",
            "/api/v1/users",
            "Find a user by exact username (?username=)",
        )
        .res(200, one::<Profile>()),
        op(
            "GET",
            "/api/v1/users/{id}/profile",
            "A user's public profile",
        )
        .res(200, one::<Profile>()),
        op(
            "PATCH",
            "/api/v1/users/me/profile",
            "Change the caller's profile",
        )
        .req(one::<UpdateProfileRequest>())
        .res(200, one::<Profile>()),
        op("GET", "/api/v1/users/me/blocks", "Users the caller blocked")
            .res(200, list::<Profile>()),
        op("PUT", "/api/v1/users/me/blocks/{id}", "Block a user"),
        op("DELETE", "/api/v1/users/me/blocks/{id}", "Unblock a user"),
        op("POST", "/api/v1/communities", "Create a community")
            .req(one::<CreateCommunityRequest>())
            .res(201, one::<Community>()),
        op("GET", "/api/v1/communities", "The caller's communities").res(200, list::<Community>()),
        op(
            "GET",
            "/api/v1/directory",
            "Public, listed communities (?q=&limit=)",
        )
        .res(200, list::<DirectoryEntry>()),
        op(
            "POST",
            "/api/v1/community_joins",
            "Join by invite code (200 when already a member)",
        )
        .req(one::<JoinCommunityRequest>())
        .res(201, one::<Community>()),
        op("GET", "/api/v1/communities/{id}", "A community").res(200, one::<Community>()),
        op(
            "PATCH",
            "/api/v1/communities/{id}",
            "Change a community (admins)",
        )
        .req(one::<UpdateCommunityRequest>())
        .res(200, one::<Community>()),
        op(
            "DELETE",
            "/api/v1/communities/{id}",
            "Delete a community (owner)",
        ),
        op(
            "GET",
            "/api/v1/communities/{id}/members",
            "Members with roles",
        )
        .res(200, list::<Member>()),
        op(
            "POST",
            "/api/v1/communities/{id}/members",
            "Join a public community",
        )
        .res(201, one::<Community>()),
        op(
            "DELETE",
            "/api/v1/communities/{id}/members/{user_id}",
            "Leave, or kick a member (moderators)",
        ),
        op(
            "PUT",
            "/api/v1/communities/{id}/members/{user_id}/role",
            "Change a member's role (admins)",
        )
        .req(one::<SetMemberRoleRequest>())
        .res(200, one::<Member>()),
        op("GET", "/api/v1/communities/{id}/bans", "Bans (moderators)").res(200, list::<Ban>()),
        op(
            "PUT",
            "/api/v1/communities/{id}/bans/{user_id}",
            "Ban a user (moderators)",
        )
        .req(one::<BanRequest>()),
        op(
            "DELETE",
            "/api/v1/communities/{id}/bans/{user_id}",
            "Lift a ban (moderators)",
        ),
        op(
            "GET",
            "/api/v1/communities/{id}/invites",
            "Invite codes (moderators)",
        )
        .res(200, list::<CommunityInvite>()),
        op(
            "POST",
            "/api/v1/communities/{id}/invites",
            "Create an invite code (moderators)",
        )
        .req(one::<CreateCommunityInviteRequest>())
        .res(201, one::<CommunityInvite>()),
        op(
            "DELETE",
            "/api/v1/communities/{id}/invites/{invite_id}",
            "Revoke an invite code (moderators)",
        ),
        op(
            "GET",
            "/api/v1/communities/{id}/groups",
            "Groups the caller may see",
        )
        .res(200, list::<Group>()),
        op(
            "POST",
            "/api/v1/communities/{id}/groups",
            "Create a group (admins; personal: moderators)",
        )
        .req(one::<CreateGroupRequest>())
        .res(201, one::<Group>()),
        op(
            "PATCH",
            "/api/v1/groups/{id}",
            "Rename or move a group (admins)",
        )
        .req(one::<UpdateGroupRequest>())
        .res(200, one::<Group>()),
        op(
            "DELETE",
            "/api/v1/groups/{id}",
            "Delete a group and its channels (admins)",
        ),
        op(
            "PUT",
            "/api/v1/groups/{id}/members/{user_id}",
            "Add a member to a group",
        ),
        op(
            "DELETE",
            "/api/v1/groups/{id}/members/{user_id}",
            "Leave a group, or remove a member (moderators)",
        ),
        op(
            "POST",
            "/api/v1/communities/{id}/channels",
            "Create a channel (admins)",
        )
        .req(one::<CreateChannelRequest>())
        .res(201, one::<Channel>()),
        op(
            "GET",
            "/api/v1/channels",
            "The channels the caller can read, most recently active first, a page at a time \
             (?limit=&before=)",
        )
        .res(200, one::<ChannelPage>()),
        op("GET", "/api/v1/channels/{id}", "A channel").res(200, one::<Channel>()),
        op(
            "PATCH",
            "/api/v1/channels/{id}",
            "Change a channel (moderators: topic, slow mode, archive; admins: all)",
        )
        .req(one::<UpdateChannelRequest>())
        .res(200, one::<Channel>()),
        op(
            "DELETE",
            "/api/v1/channels/{id}",
            "Delete a channel (admins)",
        ),
        op(
            "GET",
            "/api/v1/channels/{id}/messages",
            "A page of history (?before_seq=&after_seq=&limit=)",
        )
        .res(200, one::<MessagePage>()),
        op(
            "POST",
            "/api/v1/dms",
            "Open the DM or group DM with these users",
        )
        .req(one::<OpenDmRequest>())
        .res(200, one::<Channel>()),
        op(
            "DELETE",
            "/api/v1/dms/{id}",
            "Leave a DM or group DM (opening it again brings the caller back)",
        ),
        op(
            "PUT",
            "/api/v1/devices/{id}/keys",
            "Publish the caller's device keys",
        )
        .req(one::<PublishKeysRequest>())
        .res(200, one::<DeviceKeyStatus>()),
        op(
            "GET",
            "/api/v1/devices/{id}/keys",
            "The caller's device key status",
        )
        .res(200, one::<DeviceKeyStatus>()),
        op(
            "PUT",
            "/api/v1/devices/{id}/signed_prekey",
            "Rotate the signed prekey",
        )
        .req(one::<RotateSignedPreKeyRequest>())
        .res(200, one::<DeviceKeyStatus>()),
        op(
            "POST",
            "/api/v1/devices/{id}/one_time_prekeys",
            "Upload one-time prekeys",
        )
        .req(one::<UploadOneTimePreKeysRequest>())
        .res(200, one::<DeviceKeyStatus>()),
        op(
            "GET",
            "/api/v1/devices/{id}/envelopes",
            "Envelopes queued for the caller's device",
        )
        .res(200, one::<EnvelopePage>()),
        op(
            "POST",
            "/api/v1/devices/{id}/envelope_acks",
            "Acknowledge (delete) queued envelopes",
        )
        .req(one::<AckEnvelopesRequest>())
        .res(200, one::<AckedEnvelopes>()),
        op(
            "GET",
            "/api/v1/users/{id}/devices",
            "A user's devices with certificates and user key",
        )
        .res(200, one::<UserDevices>()),
        op(
            "POST",
            "/api/v1/users/{id}/key_bundles",
            "Claim prekey bundles (rate limited)",
        )
        .req(one::<ClaimBundlesRequest>())
        .res(200, one::<ClaimedBundles>()),
        op(
            "GET",
            "/api/v1/channels/{id}/devices",
            "Devices of everyone who can read a channel",
        )
        .res(200, one::<ChannelDevices>()),
        op(
            "POST",
            "/api/v1/envelopes",
            "Send device-to-device envelopes",
        )
        .req(one::<SendEnvelopesRequest>())
        .res(201, one::<SentEnvelopes>()),
    ]
}

fn method_of(m: &str) -> HttpMethod {
    match m {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        _ => HttpMethod::Delete,
    }
}

fn body_schema(b: &Body) -> RefOr<Schema> {
    let r = RefOr::Ref(Ref::from_schema_name((b.name)()));
    if b.list {
        ArrayBuilder::new().items(r).into()
    } else {
        r
    }
}

fn json_content(b: &Body) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(body_schema(b))).build()
}

/// Builds the document.
pub fn build() -> OpenApi {
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    collect::<ErrorBody>(&mut schemas);
    collect::<Message>(&mut schemas);
    let error = Body {
        name: || ErrorBody::name().into_owned(),
        collect: collect::<ErrorBody>,
        list: false,
    };
    let mut paths = PathsBuilder::new();
    for o in operations() {
        for b in [&o.request, &o.response].into_iter().flatten() {
            (b.collect)(&mut schemas);
        }
        let mut ok = ResponseBuilder::new().description(o.summary);
        if let Some(b) = &o.response {
            ok = ok.content("application/json", json_content(b));
        }
        let responses = ResponsesBuilder::new()
            .response(o.status.to_string(), ok.build())
            .response(
                "default",
                ResponseBuilder::new()
                    .description("An error: `code` is stable, `message` says what to fix")
                    .content("application/json", json_content(&error))
                    .build(),
            )
            .build();
        let mut operation = OperationBuilder::new()
            .summary(Some(o.summary))
            .operation_id(Some(format!(
                "{}_{}",
                o.method.to_lowercase(),
                o.path
                    .trim_start_matches("/api/v1/")
                    .replace(['/', '{', '}'], "_")
            )))
            .responses(responses);
        for seg in o.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(chatalot_protocol::openapi::uuid_schema())),
                );
            }
        }
        if let Some(b) = &o.request {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", json_content(b))
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        if o.auth {
            operation =
                operation.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        paths = paths.path(
            o.path,
            PathItem::new(method_of(o.method), operation.build()),
        );
    }
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Chatalot")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "REST API of a Chatalot server. Errors are `{code, message}`; see docs/api.md.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| build().to_json().unwrap_or_else(|_| "{}".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;
    use std::collections::BTreeSet;

    #[test]
    fn every_route_has_exactly_one_operation() {
        let routes: BTreeSet<(&str, &str)> = ROUTES.iter().copied().collect();
        let ops: Vec<(&str, &str)> = operations().iter().map(|o| (o.method, o.path)).collect();
        let unique: BTreeSet<(&str, &str)> = ops.iter().copied().collect();
        assert_eq!(ops.len(), unique.len(), "an operation is listed twice");
        assert_eq!(
            routes.difference(&unique).collect::<Vec<_>>(),
            Vec::<&(&str, &str)>::new(),
            "routes missing from the OpenAPI description"
        );
        assert_eq!(
            unique.difference(&routes).collect::<Vec<_>>(),
            Vec::<&(&str, &str)>::new(),
            "operations without a route"
        );
    }

    #[test]
    fn the_document_is_complete_and_every_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(json()).expect("json");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        for (method, path) in ROUTES {
            let op = &doc["paths"][path][method.to_lowercase()];
            assert!(op.is_object(), "{method} {path} is described");
        }
        let text = json();
        let schemas = &doc["components"]["schemas"];
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').expect("end")];
            assert!(schemas[name].is_object(), "schema {name} is defined");
        }
        assert!(schemas["Channel"]["properties"]["e2e"].is_object());
    }
}
