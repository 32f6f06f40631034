//! The route table: every REST route of the server, in one place.

mod accounts;
mod audit;
mod channels;
mod communities;
pub(crate) mod describe;
mod emoji;
mod files;
mod gifs;
mod groups;
mod health;
mod images;
mod instance;
mod invites;
mod keys;
mod multi_device;
mod previews;
mod profiles;
mod recoveries;
mod sessions;
mod table;
mod users;
pub mod web;

use crate::error::ApiError;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::web::{self as w, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chatalot_protocol::ErrorCode;

pub use table::{plain_pattern, table, Route, ROUTES};

/// Registers the API under `/api/v1`, with JSON, path and query errors rendered as `ApiError`.
/// `document` gives the OpenAPI description served at `/api/v1/openapi.json` (built on first
/// request).
pub fn configure(cfg: &mut ServiceConfig, json_limit: usize, document: fn() -> &'static str) {
    cfg.app_data(w::Data::new(ApiDocument(document)))
        .app_data(
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
                .configure(|scope| {
                    for route in table() {
                        (route.mount)(scope);
                    }
                })
                .default_service(w::to(api_not_found)),
        )
        // anything else under /api is an unknown API route, not a page of the web app
        .service(w::scope("/api").default_service(w::to(api_not_found)));
}

async fn api_not_found(req: HttpRequest) -> HttpResponse {
    // the routes of the pattern that matches most literally: `/users/me/profile` is its own
    // resource, not one more `/users/{id}/profile`
    let matching: Vec<&(&str, &str)> = ROUTES
        .iter()
        .filter(|(_, p)| path_matches(p, req.path()))
        .collect();
    let params = |p: &str| p.matches('{').count();
    let fewest = matching.iter().map(|(_, p)| params(p)).min();
    let allowed: Vec<&str> = matching
        .iter()
        .filter(|(_, p)| Some(params(p)) == fewest)
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

/// Does a concrete path match a route pattern with `{param}` segments (each a UUID)?
fn path_matches(pattern: &str, path: &str) -> bool {
    let a: Vec<&str> = pattern.split('/').collect();
    let b: Vec<&str> = path.split('/').collect();
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(p, s)| (p.starts_with('{') && is_uuid(s)) || p == s)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

pub(crate) fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
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
async fn openapi_json(document: w::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body((document.0)())
}

/// The OpenAPI description the server serves (built by `crate::openapi` from the route table).
struct ApiDocument(fn() -> &'static str);

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
            "/api/v1/sessions/01a24e5d-5c9e-7356-894f-a2f01dd1b836"
        ));
        assert!(!path_matches(
            "/api/v1/sessions/{id}",
            "/api/v1/sessions/abc"
        ));
        assert!(!path_matches("/api/v1/sessions/{id}", "/api/v1/sessions/"));
        assert!(!path_matches("/api/v1/sessions", "/api/v1/sessionz"));
    }
}
