//! Stable error codes. Every error the server sends is `{"code": "...", "message": "..."}`;
//! clients branch on `code`, people read `message`.

use serde::{Deserialize, Serialize};

/// A machine-readable error code. Codes are never renamed or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A field is missing, has the wrong type, is out of bounds, or is unknown.
    InvalidRequest,
    /// The body is not valid JSON.
    InvalidJson,
    /// The body is larger than the route accepts.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// No valid access token was presented, or it was revoked or has expired.
    Unauthorized,
    /// Username or password (or recovery code) is wrong; never says which.
    InvalidCredentials,
    /// The password was right and the account has two-factor authentication: send `totp_code`.
    TotpRequired,
    /// The two-factor code or backup code is wrong or was already used.
    InvalidTotp,
    /// The refresh token is unknown, expired, revoked, or was already used (which revokes its
    /// whole session).
    InvalidRefreshToken,
    /// The password does not meet the policy.
    WeakPassword,
    /// The current password given to confirm a sensitive change is wrong.
    WrongPassword,
    /// The caller may not do this.
    Forbidden,
    /// Registration is closed on this instance.
    RegistrationClosed,
    /// This instance needs an invite code to register.
    InviteRequired,
    /// The invite code is unknown, expired, revoked or used up.
    InvalidInvite,
    /// The object does not exist or the caller may not see it.
    NotFound,
    /// The method is not allowed on this route.
    MethodNotAllowed,
    /// The username is taken.
    UsernameTaken,
    /// The request conflicts with the current state (for example 2FA already enabled).
    Conflict,
    /// Too many requests; retry after the number of seconds in `Retry-After`.
    RateLimited,
    /// The user already has the most WebSocket sessions allowed.
    TooManySessions,
    /// The channel's slow mode allows no message from this user yet.
    SlowMode,
    /// The server is too busy to take this request now; retry it (sends are idempotent).
    Busy,
    /// Something failed on the server; the cause is in the server log.
    Internal,
    /// A dependency (the database) is unavailable; retry later.
    Unavailable,
    /// The recipient's queue is full; it must fetch and acknowledge what it has first.
    QueueFull,
    /// The setup token is wrong, or the instance has its owner already.
    InvalidSetupToken,
    /// The caller has the most of something a user may have (communities, blocks, edits of a
    /// message, messages or conversations for now); the message says which.
    QuotaExceeded,
    /// The server's storage is full; nothing was stored. Retry later.
    StorageFull,
}

impl ErrorCode {
    /// The HTTP status that goes with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::InvalidJson | ErrorCode::WeakPassword => 400,
            ErrorCode::Unauthorized
            | ErrorCode::InvalidCredentials
            | ErrorCode::TotpRequired
            | ErrorCode::InvalidRefreshToken => 401,
            ErrorCode::Forbidden
            | ErrorCode::InvalidTotp
            | ErrorCode::WrongPassword
            | ErrorCode::RegistrationClosed
            | ErrorCode::InviteRequired
            | ErrorCode::InvalidInvite
            | ErrorCode::InvalidSetupToken
            | ErrorCode::QuotaExceeded => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::UsernameTaken | ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited | ErrorCode::TooManySessions | ErrorCode::SlowMode => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable | ErrorCode::Busy => 503,
            ErrorCode::QueueFull | ErrorCode::StorageFull => 507,
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_serializes_snake_case_code() {
        let body = ErrorBody {
            code: ErrorCode::TotpRequired,
            message: "x".into(),
        };
        let json = serde_json::to_string(&body).expect("serializable");
        assert_eq!(json, r#"{"code":"totp_required","message":"x"}"#);
    }
}
