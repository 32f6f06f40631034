//! Request extractors. A handler is authenticated if and only if it takes `Authed`.

use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::{Claims, TokenError};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::{ready, Future, Ready};
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;

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
    /// What rate limits count by: the address, or for IPv6 its /64 network (one subscriber
    /// commonly holds a whole /64, so single addresses would give it unlimited tries).
    pub net: IpAddr,
    pub user_agent: Option<String>,
}

/// The request body's media type (before any `;` parameter), lower-cased.
pub fn body_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
}

/// The request body's declared length, if any.
pub fn body_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The rate-limit key of an address: IPv4 as is, IPv6 reduced to its /64 network.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
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
        ready(Ok(ClientInfo {
            ip,
            net: limit_key(ip),
            user_agent,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::limit_key;
    use std::net::IpAddr;

    #[test]
    fn ipv6_addresses_of_one_64_share_a_rate_limit_key() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(other));
        assert_eq!(
            limit_key(a),
            "2001:db8:1:2::".parse::<IpAddr>().expect("ip")
        );
        let v4: IpAddr = "203.0.113.7".parse().expect("ip");
        assert_eq!(limit_key(v4), v4);
    }
}

/// A JSON request body that must be an object: `T` is read from it (arrays, numbers and other
/// values answer 400 even where every field of `T` is optional). Size limits and content type
/// are those of actix's `Json` (`JsonConfig` in the route table).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = value.await?.into_inner();
            if !value.is_object() {
                return Err(ApiError::invalid("the request body must be a JSON object").into());
            }
            serde_json::from_value::<T>(value)
                .map(JsonBody)
                .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")).into())
        })
    }
}

/// As [`JsonBody`], but with its own size limit of `LIMIT` bytes in place of the configured
/// one: for the few routes whose bodies are larger by design (a key backup chunk).
#[derive(Debug)]
pub struct JsonBodyUpTo<T, const LIMIT: usize>(pub T);

impl<T, const LIMIT: usize> std::ops::Deref for JsonBodyUpTo<T, LIMIT> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static, const LIMIT: usize> FromRequest
    for JsonBodyUpTo<T, LIMIT>
{
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::JsonBody::<serde_json::Value>::new(req, payload, None, true).limit(LIMIT);
        let req = req.clone();
        Box::pin(async move {
            let value = body.await.map_err(|e| crate::routes::json_error(e, &req))?;
            if !value.is_object() {
                return Err(ApiError::invalid("the request body must be a JSON object").into());
            }
            serde_json::from_value::<T>(value)
                .map(JsonBodyUpTo)
                .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")).into())
        })
    }
}
