//! The route table: every REST route of the server, in one place.

mod accounts;
mod audit;
mod channels;
pub mod communities;
mod groups;
mod health;
mod instance;
pub(crate) mod invites;
mod keys;
mod profiles;
mod recoveries;
mod sessions;
mod users;
pub mod web;

use crate::error::ApiError;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::web::{self as w, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chatalot_protocol::ErrorCode;

/// Every route as (method, path): the route table below registers exactly these. Documentation
/// and tests read this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/ready"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/instance"),
    ("PATCH", "/api/v1/instance"),
    ("POST", "/api/v1/accounts"),
    ("POST", "/api/v1/sessions"),
    ("GET", "/api/v1/sessions"),
    ("DELETE", "/api/v1/sessions"),
    ("POST", "/api/v1/sessions/refresh"),
    ("DELETE", "/api/v1/sessions/current"),
    ("DELETE", "/api/v1/sessions/{id}"),
    ("POST", "/api/v1/recoveries"),
    ("GET", "/api/v1/users/me"),
    ("PUT", "/api/v1/users/me/password"),
    ("POST", "/api/v1/users/me/totp"),
    ("DELETE", "/api/v1/users/me/totp"),
    ("POST", "/api/v1/users/me/totp/confirm"),
    ("POST", "/api/v1/users/me/totp/backup_codes"),
    ("POST", "/api/v1/users/me/recovery_code"),
    ("GET", "/api/v1/users/me/audit_events"),
    ("PUT", "/api/v1/users/{id}/role"),
    ("PUT", "/api/v1/users/{id}/suspension"),
    ("DELETE", "/api/v1/users/{id}/suspension"),
    ("GET", "/api/v1/invites"),
    ("POST", "/api/v1/invites"),
    ("DELETE", "/api/v1/invites/{id}"),
    ("GET", "/api/v1/audit_events"),
    ("GET", "/api/v1/ws"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/{id}/profile"),
    ("PATCH", "/api/v1/users/me/profile"),
    ("GET", "/api/v1/users/me/blocks"),
    ("PUT", "/api/v1/users/me/blocks/{id}"),
    ("DELETE", "/api/v1/users/me/blocks/{id}"),
    ("POST", "/api/v1/communities"),
    ("GET", "/api/v1/communities"),
    ("GET", "/api/v1/directory"),
    ("POST", "/api/v1/community_joins"),
    ("GET", "/api/v1/communities/{id}"),
    ("PATCH", "/api/v1/communities/{id}"),
    ("DELETE", "/api/v1/communities/{id}"),
    ("GET", "/api/v1/communities/{id}/members"),
    ("POST", "/api/v1/communities/{id}/members"),
    ("DELETE", "/api/v1/communities/{id}/members/{user_id}"),
    ("PUT", "/api/v1/communities/{id}/members/{user_id}/role"),
    ("GET", "/api/v1/communities/{id}/bans"),
    ("PUT", "/api/v1/communities/{id}/bans/{user_id}"),
    ("DELETE", "/api/v1/communities/{id}/bans/{user_id}"),
    ("GET", "/api/v1/communities/{id}/invites"),
    ("POST", "/api/v1/communities/{id}/invites"),
    ("DELETE", "/api/v1/communities/{id}/invites/{invite_id}"),
    ("GET", "/api/v1/communities/{id}/groups"),
    ("POST", "/api/v1/communities/{id}/groups"),
    ("PATCH", "/api/v1/groups/{id}"),
    ("DELETE", "/api/v1/groups/{id}"),
    ("PUT", "/api/v1/groups/{id}/members/{user_id}"),
    ("DELETE", "/api/v1/groups/{id}/members/{user_id}"),
    ("POST", "/api/v1/communities/{id}/channels"),
    ("GET", "/api/v1/channels"),
    ("GET", "/api/v1/channels/{id}"),
    ("PATCH", "/api/v1/channels/{id}"),
    ("DELETE", "/api/v1/channels/{id}"),
    ("GET", "/api/v1/channels/{id}/messages"),
    ("POST", "/api/v1/dms"),
    ("DELETE", "/api/v1/dms/{id}"),
    ("PUT", "/api/v1/devices/{id}/keys"),
    ("GET", "/api/v1/devices/{id}/keys"),
    ("PUT", "/api/v1/devices/{id}/signed_prekey"),
    ("POST", "/api/v1/devices/{id}/one_time_prekeys"),
    ("GET", "/api/v1/devices/{id}/envelopes"),
    ("POST", "/api/v1/devices/{id}/envelope_acks"),
    ("GET", "/api/v1/users/{id}/devices"),
    ("POST", "/api/v1/users/{id}/key_bundles"),
    ("GET", "/api/v1/channels/{id}/devices"),
    ("POST", "/api/v1/envelopes"),
];

/// Registers the API under `/api/v1`, with JSON, path and query errors rendered as `ApiError`.
pub fn configure(cfg: &mut ServiceConfig, json_limit: usize) {
    cfg.app_data(
        w::JsonConfig::default()
            .limit(json_limit)
            .error_handler(json_error),
    )
    .app_data(w::PathConfig::default().error_handler(path_error))
    .app_data(w::QueryConfig::default().error_handler(query_error))
    .service(
        w::scope("/api/v1")
            // answers carry tokens and codes: never cached
            .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store")))
            .route("/health", w::get().to(health::get_health))
            .route("/ready", w::get().to(health::get_ready))
            .route("/openapi.json", w::get().to(openapi_json))
            .route("/instance", w::get().to(instance::get_instance))
            .route("/instance", w::patch().to(instance::update_instance))
            .route("/accounts", w::post().to(accounts::create_account))
            .route("/sessions", w::post().to(sessions::create_session))
            .route("/sessions", w::get().to(sessions::list_sessions))
            .route("/sessions", w::delete().to(sessions::delete_sessions))
            .route("/sessions/refresh", w::post().to(sessions::refresh_session))
            .route(
                "/sessions/current",
                w::delete().to(sessions::delete_current_session),
            )
            .route("/sessions/{id}", w::delete().to(sessions::delete_session))
            .route("/recoveries", w::post().to(recoveries::create_recovery))
            .route("/users/me", w::get().to(users::get_me))
            .route("/users/me/password", w::put().to(users::update_password))
            .route("/users/me/totp", w::post().to(users::create_totp))
            .route("/users/me/totp", w::delete().to(users::delete_totp))
            .route("/users/me/totp/confirm", w::post().to(users::confirm_totp))
            .route(
                "/users/me/totp/backup_codes",
                w::post().to(users::create_backup_codes),
            )
            .route(
                "/users/me/recovery_code",
                w::post().to(users::create_recovery_code),
            )
            .route(
                "/users/me/audit_events",
                w::get().to(audit::list_my_audit_events),
            )
            .route("/users/{id}/role", w::put().to(users::update_role))
            .route(
                "/users/{id}/suspension",
                w::put().to(users::create_suspension),
            )
            .route(
                "/users/{id}/suspension",
                w::delete().to(users::delete_suspension),
            )
            .route("/invites", w::get().to(invites::list_invites))
            .route("/invites", w::post().to(invites::create_invite))
            .route("/invites/{id}", w::delete().to(invites::delete_invite))
            .route("/audit_events", w::get().to(audit::list_audit_events))
            .route("/ws", w::get().to(crate::ws::get_ws))
            .route("/users", w::get().to(profiles::lookup_user))
            .route("/users/{id}/profile", w::get().to(profiles::get_profile))
            .route("/users/me/profile", w::patch().to(profiles::update_profile))
            .route("/users/me/blocks", w::get().to(profiles::list_blocks))
            .route("/users/me/blocks/{id}", w::put().to(profiles::block_user))
            .route(
                "/users/me/blocks/{id}",
                w::delete().to(profiles::unblock_user),
            )
            .route("/communities", w::post().to(communities::create_community))
            .route("/communities", w::get().to(communities::list_communities))
            .route("/directory", w::get().to(communities::list_directory))
            .route(
                "/community_joins",
                w::post().to(communities::join_by_invite),
            )
            .route("/communities/{id}", w::get().to(communities::get_community))
            .route(
                "/communities/{id}",
                w::patch().to(communities::update_community),
            )
            .route(
                "/communities/{id}",
                w::delete().to(communities::delete_community),
            )
            .route(
                "/communities/{id}/members",
                w::get().to(communities::list_members),
            )
            .route(
                "/communities/{id}/members",
                w::post().to(communities::join_community),
            )
            .route(
                "/communities/{id}/members/{user_id}",
                w::delete().to(communities::remove_member),
            )
            .route(
                "/communities/{id}/members/{user_id}/role",
                w::put().to(communities::set_member_role),
            )
            .route(
                "/communities/{id}/bans",
                w::get().to(communities::list_bans),
            )
            .route(
                "/communities/{id}/bans/{user_id}",
                w::put().to(communities::ban_member),
            )
            .route(
                "/communities/{id}/bans/{user_id}",
                w::delete().to(communities::unban_member),
            )
            .route(
                "/communities/{id}/invites",
                w::get().to(communities::list_invites),
            )
            .route(
                "/communities/{id}/invites",
                w::post().to(communities::create_invite),
            )
            .route(
                "/communities/{id}/invites/{invite_id}",
                w::delete().to(communities::revoke_invite),
            )
            .route("/communities/{id}/groups", w::get().to(groups::list_groups))
            .route(
                "/communities/{id}/groups",
                w::post().to(groups::create_group),
            )
            .route("/groups/{id}", w::patch().to(groups::update_group))
            .route("/groups/{id}", w::delete().to(groups::delete_group))
            .route(
                "/groups/{id}/members/{user_id}",
                w::put().to(groups::add_group_member),
            )
            .route(
                "/groups/{id}/members/{user_id}",
                w::delete().to(groups::remove_group_member),
            )
            .route(
                "/communities/{id}/channels",
                w::post().to(communities::create_channel),
            )
            .route("/channels", w::get().to(channels::list_channels))
            .route("/channels/{id}", w::get().to(channels::get_channel))
            .route("/channels/{id}", w::patch().to(channels::update_channel))
            .route("/channels/{id}", w::delete().to(channels::delete_channel))
            .route(
                "/channels/{id}/messages",
                w::get().to(channels::list_messages),
            )
            .route("/dms", w::post().to(channels::open_dm))
            .route("/dms/{id}", w::delete().to(channels::leave_dm))
            .route("/devices/{id}/keys", w::put().to(keys::publish_device_keys))
            .route("/devices/{id}/keys", w::get().to(keys::get_device_keys))
            .route(
                "/devices/{id}/signed_prekey",
                w::put().to(keys::update_signed_prekey),
            )
            .route(
                "/devices/{id}/one_time_prekeys",
                w::post().to(keys::create_one_time_prekeys),
            )
            .route("/devices/{id}/envelopes", w::get().to(keys::list_envelopes))
            .route(
                "/devices/{id}/envelope_acks",
                w::post().to(keys::create_envelope_acks),
            )
            .route("/users/{id}/devices", w::get().to(keys::list_user_devices))
            .route(
                "/users/{id}/key_bundles",
                w::post().to(keys::claim_key_bundles),
            )
            .route(
                "/channels/{id}/devices",
                w::get().to(keys::list_channel_devices),
            )
            .route("/envelopes", w::post().to(keys::create_envelopes))
            .default_service(w::to(api_not_found)),
    )
    // anything else under /api is an unknown API route, not a page of the web app
    .service(w::scope("/api").default_service(w::to(api_not_found)));
}

async fn api_not_found(req: HttpRequest) -> HttpResponse {
    let allowed: Vec<&str> = ROUTES
        .iter()
        .filter(|(_, p)| path_matches(p, req.path()))
        .map(|(m, _)| *m)
        .collect();
    if allowed.is_empty() {
        return ApiError::new(ErrorCode::NotFound, "no such API route").error_response();
    }
    let mut res = ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
    .error_response();
    if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

/// Does a concrete path match a route pattern with `{param}` segments?
fn path_matches(pattern: &str, path: &str) -> bool {
    let a: Vec<&str> = pattern.split('/').collect();
    let b: Vec<&str> = path.split('/').collect();
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body is too large")
        }
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::invalid(format!("invalid request body: {e}"))
        }
        JsonPayloadError::Deserialize(e) => ApiError::new(
            ErrorCode::InvalidJson,
            format!("body is not valid JSON: {e}"),
        ),
        _ => ApiError::invalid("could not read the request body"),
    };
    api.into()
}

fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    // a malformed id names nothing that exists
    ApiError::not_found().into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::invalid(format!("invalid query string: {err}")).into()
}

/// `GET /api/v1/openapi.json`: the OpenAPI description of this API.
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi::json())
}

/// `204 No Content`.
pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use super::path_matches;

    #[test]
    fn patterns_match_paths() {
        assert!(path_matches(
            "/api/v1/sessions/{id}",
            "/api/v1/sessions/abc"
        ));
        assert!(!path_matches("/api/v1/sessions/{id}", "/api/v1/sessions/"));
        assert!(!path_matches("/api/v1/sessions", "/api/v1/sessionz"));
    }
}
