//! Account logic shared by the routes: issuing sessions, second factors, revocation.

use crate::codes;
use crate::error::{ApiError, ApiResult};
use crate::extract::ClientInfo;
use crate::state::AppState;
use chatalot_protocol::api::{LoginResponse, Me, RegistrationMode, TokenPair};
use chatalot_protocol::ids::{DeviceId, SessionId, UserId};
use chatalot_protocol::ErrorCode;
use chatalot_storage::sessions::{RevokeReason, Session};
use chatalot_storage::users::User;
use chatalot_storage::{audit, backup_codes, sessions, settings, users, AsyncPgConnection};
use time::OffsetDateTime;

/// Settings keys.
pub const SETTING_REGISTRATION_MODE: &str = "registration_mode";
pub const SETTING_INSTANCE_NAME: &str = "instance_name";

/// The account as its owner sees it.
pub fn me(user: &User, avatar_ref: Option<String>) -> Me {
    Me {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        role: user.role,
        totp_enabled: user.totp_enabled,
        avatar_ref,
        created_at: user.created_at,
    }
}

/// The registration mode in force: the stored setting, else the configured default.
pub async fn registration_mode(
    state: &AppState,
    conn: &mut AsyncPgConnection,
) -> ApiResult<RegistrationMode> {
    Ok(
        match settings::find(conn, SETTING_REGISTRATION_MODE)
            .await?
            .as_deref()
        {
            Some("open") => RegistrationMode::Open,
            Some("invite_only") => RegistrationMode::InviteOnly,
            Some("closed") => RegistrationMode::Closed,
            _ => state.config.auth.registration_mode,
        },
    )
}

/// The instance name in force.
pub async fn instance_name(state: &AppState, conn: &mut AsyncPgConnection) -> ApiResult<String> {
    Ok(settings::find(conn, SETTING_INSTANCE_NAME)
        .await?
        .unwrap_or_else(|| state.config.server.instance_name.clone()))
}

/// When a session that is refreshed now should expire.
pub fn session_expiry(state: &AppState) -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::days(state.config.auth.session_ttl_days as i64)
}

/// A fresh access token for a session, with its refresh token.
pub fn token_pair(
    state: &AppState,
    session: &Session,
    refresh_token: String,
) -> ApiResult<TokenPair> {
    let (access_token, access_token_expires_at) = state
        .tokens
        .issue(session.user_id, session.device_id, session.id)
        .map_err(ApiError::internal)?;
    Ok(TokenPair {
        access_token,
        access_token_expires_at,
        refresh_token,
        session_id: session.id,
    })
}

/// The answer to a successful registration or login (`avatar_ref`: the user's, if set).
pub fn login_response(
    state: &AppState,
    user: &User,
    avatar_ref: Option<String>,
    session: &Session,
    refresh_token: String,
    device_secret: Option<String>,
    recovery_code: Option<String>,
) -> ApiResult<LoginResponse> {
    Ok(LoginResponse {
        tokens: token_pair(state, session, refresh_token)?,
        device_id: session.device_id,
        device_secret,
        user: me(user, avatar_ref),
        recovery_code,
    })
}

/// Records an audit event; a failure to record is logged, not fatal to the request.
pub async fn record(
    conn: &mut AsyncPgConnection,
    user: Option<UserId>,
    action: &str,
    client: &ClientInfo,
) {
    record_on(conn, user, action, None, client).await
}

/// Records an audit event about `subject` (the object acted on).
pub async fn record_on(
    conn: &mut AsyncPgConnection,
    user: Option<UserId>,
    action: &str,
    subject: Option<uuid::Uuid>,
    client: &ClientInfo,
) {
    let ip = client.ip_string();
    let ua = client.user_agent.as_deref();
    if let Err(e) = audit::insert(conn, user, action, subject, Some(&ip), ua).await {
        tracing::warn!(error = %e, action, "audit event not recorded");
    }
}

/// Checks a second factor: a 6-digit TOTP code (each accepted once) or a backup code (consumed).
pub async fn second_factor_ok(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    user: &User,
    code: &str,
) -> ApiResult<bool> {
    let trimmed = code.trim();
    if trimmed.len() == 6 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let Some(sealed) = user.totp_secret.as_deref() else {
            return Ok(false);
        };
        let secret = state
            .totp_sealer
            .open(user.id.0.as_bytes(), sealed)
            .ok_or_else(|| ApiError::internal("TOTP secret does not open with the current key"))?;
        let now = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        let Some(step) = crate::totp::matching_step(&secret, trimmed, now) else {
            return Ok(false);
        };
        return Ok(users::claim_totp_step(conn, user.id, step as i64).await?);
    }
    if !user.totp_enabled {
        return Ok(false);
    }
    Ok(backup_codes::claim(conn, user.id, &codes::hash_code(trimmed)).await?)
}

/// `invalid_totp` unless `code` is a valid second factor of `user`. Failures drain the
/// caller's re-authentication bucket, so a stolen access token cannot guess codes.
pub async fn require_second_factor(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    user: &User,
    code: &str,
) -> ApiResult<()> {
    let bucket = &state.limits.reauth_fail;
    bucket.check(&user.id).map_err(ApiError::rate_limited)?;
    if second_factor_ok(state, conn, user, code).await? {
        return Ok(());
    }
    let _ = bucket.take(&user.id);
    Err(ApiError::new(
        ErrorCode::InvalidTotp,
        "the two-factor code is wrong or was already used",
    ))
}

/// `wrong_password` unless `password` is the user's password. Failures drain the caller's
/// re-authentication bucket, so a stolen access token cannot guess the password.
pub async fn require_password(state: &AppState, user: &User, password: &str) -> ApiResult<()> {
    crate::validate::given_password(password)?;
    let bucket = &state.limits.reauth_fail;
    bucket.check(&user.id).map_err(ApiError::rate_limited)?;
    let hash = Some(user.password_hash.as_str());
    if state.passwords.verify(password, hash).await? {
        return Ok(());
    }
    let _ = bucket.take(&user.id);
    Err(ApiError::new(
        ErrorCode::WrongPassword,
        "the password is wrong",
    ))
}

/// Revokes all sessions of `user` but `keep`, in storage and in the live revocation set.
pub async fn revoke_sessions(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    user: UserId,
    keep: Option<SessionId>,
    reason: RevokeReason,
) -> ApiResult<u64> {
    let revoked = sessions::revoke_all_for_user(conn, user, keep, reason).await?;
    Ok(forget_sessions(state, user, revoked))
}

/// Puts revoked sessions into the live revocation set; returns how many.
/// Puts revoked sessions of `user` into the live revocation set and closes their open
/// WebSockets; returns how many.
pub fn forget_sessions(state: &AppState, user: UserId, revoked: Vec<SessionId>) -> u64 {
    let n = revoked.len() as u64;
    if n == 0 {
        return 0;
    }
    state
        .tokens
        .revocations()
        .insert_all(revoked.iter().copied());
    state
        .hub
        .registry
        .do_send(chatalot_actors::registry::RevokeSessions {
            user_id: user,
            sessions: Some(revoked),
        });
    n
}

/// A fresh set of single-use backup codes: the codes to show once, and the hashes to store.
pub fn new_backup_codes() -> (Vec<String>, Vec<Vec<u8>>) {
    let list: Vec<String> = (0..chatalot_protocol::api::limits::BACKUP_CODE_COUNT)
        .map(|_| codes::new_backup_code())
        .collect();
    let hashes = list.iter().map(|c| codes::hash_code(c)).collect();
    (list, hashes)
}

/// A device id and secret for a new device.
pub fn new_device() -> (DeviceId, String) {
    (DeviceId::new(), codes::new_token())
}
