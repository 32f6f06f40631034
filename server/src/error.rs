//! `ApiError`: the one error type of every handler, rendered as `{code, message}`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use chatalot_protocol::{ErrorBody, ErrorCode};
use chatalot_storage::StorageError;
use std::borrow::Cow;
use std::fmt;

/// An error answered to the client. The message is for people; internal causes are logged at
/// the point of conversion and never sent.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
    /// Seconds, sent as `Retry-After` with `rate_limited`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `invalid_request` with a message naming the field and the rule.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "a valid access token is required (Authorization: Bearer <token>)",
        )
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "not found")
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        ApiError {
            code: ErrorCode::RateLimited,
            message: "too many requests; try again later".into(),
            retry_after: Some(retry_after.max(1)),
        }
    }

    /// A server-side failure: logs the cause, answers a generic 500.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal server error")
    }

    /// The database is unreachable: logs the cause, answers 503.
    pub fn unavailable(cause: impl fmt::Display) -> Self {
        tracing::warn!(error = %cause, "service unavailable");
        Self::new(
            ErrorCode::Unavailable,
            "the service is temporarily unavailable; retry shortly",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        res.json(ErrorBody {
            code: self.code,
            message: self.message.to_string(),
        })
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound => ApiError::not_found(),
            StorageError::Conflict { constraint } => {
                tracing::debug!(%constraint, "write conflict");
                ApiError::new(
                    ErrorCode::Conflict,
                    "the request conflicts with existing data",
                )
            }
            StorageError::Unavailable(cause) => ApiError::unavailable(cause),
            StorageError::Full(cause) => {
                tracing::error!(cause = %cause, "database storage is full");
                ApiError::new(
                    ErrorCode::StorageFull,
                    "the server's storage is full: nothing was stored; try again later",
                )
            }
            StorageError::Query(cause) => ApiError::internal(cause),
        }
    }
}

/// Result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
