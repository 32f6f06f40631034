//! Request extractors. A handler is authenticated if and only if it takes `Authed`.

use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::{Claims, TokenError};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::{ready, Ready};
use std::net::{IpAddr, Ipv4Addr};

/// The verified caller: a valid, unexpired, unrevoked access token.
#[derive(Debug, Clone, Copy)]
pub struct Authed(pub Claims);

impl FromRequest for Authed {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Authed, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    let claims = state.tokens.verify(token).map_err(|e| {
        match e {
            TokenError::Revoked => tracing::debug!("access token of a revoked session"),
            _ => tracing::debug!(reason = %e, "access token refused"),
        }
        ApiError::unauthorized()
    })?;
    state
        .limits
        .user
        .take(&claims.user_id)
        .map_err(ApiError::rate_limited)?;
    Ok(Authed(claims))
}

/// Where a request comes from, for rate limits, sessions and the audit log.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn ip_string(&self) -> String {
        self.ip.to_string()
    }
}

impl FromRequest for ClientInfo {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let peer = req
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let ip = match req.app_data::<web::Data<AppState>>() {
            Some(state) => state.client_ip.resolve(peer, forwarded),
            None => peer,
        };
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().filter(|c| !c.is_control()).take(256).collect());
        ready(Ok(ClientInfo { ip, user_agent }))
    }
}
