//! Logging in and out: sessions and their refresh tokens.

use crate::auth;
use crate::codes;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, ClientInfo, JsonBody};
use crate::routes::no_content;
use crate::state::AppState;
use crate::validate;
use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use chatalot_protocol::api::{
    LoginRequest, RefreshRequest, RevokedSessions, SessionInfo, TokenPair,
};
use chatalot_protocol::ids::{SessionId, UserId};
use chatalot_protocol::ErrorCode;
use chatalot_storage::sessions::{self, NewSession, RevokeReason, Rotation};
use chatalot_storage::{devices, users};

const SESSIONS_LISTED: i64 = 100;

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "wrong username or password")
}

/// `POST /api/v1/sessions`: logs in.
///
/// Failed attempts drain two buckets: one per (account, client IP) and one per account. A
/// client that presents a known device of the account is exempt from the account-wide bucket,
/// and so is one that proves the account's second factor along with the password, so a
/// stranger hammering an account from elsewhere cannot lock its owner out. Unknown and
/// existing usernames answer alike and take the same time.
pub async fn create_session(
    state: Data<AppState>,
    client: ClientInfo,
    body: JsonBody<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let limits = &state.limits;
    limits
        .auth_ip
        .take(&client.net)
        .map_err(ApiError::rate_limited)?;
    let body = body.into_inner();
    let username = validate::login_username(&body.username)?;
    validate::given_password(&body.password)?;
    if let Some(code) = &body.totp_code {
        validate::code(code, "totp_code")?;
    }
    let device_name =
        validate::device_name(body.device_name.as_deref(), client.user_agent.as_deref())?;
    if body.device_secret.as_ref().is_some_and(|s| s.len() > 128) {
        return Err(ApiError::invalid("device_secret: at most 128 characters"));
    }

    let ip_key = (username.clone(), client.net);
    limits
        .login_fail_ip
        .check(&ip_key)
        .map_err(ApiError::rate_limited)?;

    let mut conn = state.db.conn().await?;
    let user = users::find_by_username(&mut conn, &username).await?;
    // the same query runs for unknown accounts (under the nil id) so timing tells nothing
    let known_device = match (body.device_id, body.device_secret.as_deref()) {
        (Some(id), Some(secret)) => {
            let owner = user
                .as_ref()
                .map(|u| u.id)
                .unwrap_or(UserId(uuid::Uuid::nil()));
            devices::find_by_secret(&mut conn, id, owner, &codes::sha256(secret.as_bytes())).await?
        }
        _ => None,
    };
    // While the account-wide bucket is empty (someone is guessing), a new client gets in only
    // by proving a second factor too, and learns nothing unless the password and the factor
    // are both right: every other outcome is the same 429.
    let throttled = match known_device {
        Some(_) => None,
        None => limits.login_fail_account.check(&username).err(),
    };
    if let (Some(wait), None) = (throttled, &body.totp_code) {
        return Err(ApiError::rate_limited(wait));
    }

    let password_ok = state
        .passwords
        .verify(
            &body.password,
            user.as_ref().map(|u| u.password_hash.as_str()),
        )
        .await?;
    let fail = |conn_user: Option<UserId>| {
        let _ = limits.login_fail_ip.take(&ip_key);
        if known_device.is_none() {
            let _ = limits.login_fail_account.take(&username);
        }
        conn_user
    };
    if let Some(wait) = throttled {
        let proven = match &user {
            Some(u) if password_ok && u.totp_enabled && u.suspended_at.is_none() => {
                // authenticator codes only: a wrong one costs no query, so the time taken says
                // nothing about the password (backup codes work again once the bucket refills)
                let code = body.totp_code.as_deref().unwrap_or_default().trim();
                code.len() == 6
                    && code.bytes().all(|b| b.is_ascii_digit())
                    && auth::second_factor_ok(&state, &mut conn, u, code).await?
            }
            _ => false,
        };
        if !proven {
            fail(user.as_ref().map(|u| u.id));
            auth::record(
                &mut conn,
                user.as_ref().map(|u| u.id),
                "login_failed",
                &client,
            )
            .await;
            return Err(ApiError::rate_limited(wait));
        }
    }
    let user = match user {
        Some(u) if password_ok => u,
        other => {
            let id = fail(other.map(|u| u.id));
            // Recorded for unknown names too (without a user): the write then costs the same
            // whether the account exists or not, and the attempts show in the audit log.
            auth::record(&mut conn, id, "login_failed", &client).await;
            return Err(invalid_credentials());
        }
    };
    if user.suspended_at.is_some() {
        return Err(ApiError::forbidden("this account is suspended"));
    }
    if user.totp_enabled && throttled.is_none() {
        let Some(code) = body.totp_code.as_deref() else {
            return Err(ApiError::new(
                ErrorCode::TotpRequired,
                "this account uses two-factor authentication: send totp_code",
            ));
        };
        if !auth::second_factor_ok(&state, &mut conn, &user, code).await? {
            fail(Some(user.id));
            auth::record(&mut conn, Some(user.id), "login_failed_2fa", &client).await;
            return Err(ApiError::new(
                ErrorCode::InvalidTotp,
                "the two-factor code is wrong or was already used",
            ));
        }
    }

    let (device_id, device_secret) = match &known_device {
        Some(d) => {
            devices::update_last_seen(&mut conn, d.id).await?;
            (d.id, None)
        }
        None => {
            let (id, secret) = auth::new_device();
            devices::insert(
                &mut conn,
                id,
                user.id,
                &device_name,
                &codes::sha256(secret.as_bytes()),
            )
            .await?;
            (id, Some(secret))
        }
    };
    let refresh_token = codes::new_token();
    let ip = client.ip_string();
    let session = sessions::insert(
        &mut conn,
        &NewSession {
            id: SessionId::new(),
            user_id: user.id,
            device_id,
            ip: Some(&ip),
            user_agent: client.user_agent.as_deref(),
            expires_at: auth::session_expiry(&state),
        },
        &codes::sha256(refresh_token.as_bytes()),
    )
    .await?;
    auth::record(&mut conn, Some(user.id), "login", &client).await;
    let avatar = chatalot_storage::profiles::get(&mut conn, user.id)
        .await?
        .avatar_ref;
    let body = auth::login_response(
        &state,
        &user,
        avatar,
        &session,
        refresh_token,
        device_secret,
        None,
    )?;
    Ok(HttpResponse::Created().json(body))
}

/// `POST /api/v1/sessions/refresh`: exchanges a refresh token for a new pair. A refresh token
/// works once; presenting it again revokes its session.
pub async fn refresh_session(
    state: Data<AppState>,
    client: ClientInfo,
    body: JsonBody<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    state
        .limits
        .auth_ip
        .take(&client.net)
        .map_err(ApiError::rate_limited)?;
    let presented = body.into_inner().refresh_token;
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidRefreshToken,
            "the refresh token is not valid; log in again",
        )
    };
    if presented.is_empty() || presented.len() > 128 {
        return Err(invalid());
    }
    let next = codes::new_token();
    let mut conn = state.db.conn().await?;
    let rotation = sessions::rotate_refresh(
        &mut conn,
        &codes::sha256(presented.as_bytes()),
        &codes::sha256(next.as_bytes()),
        auth::session_expiry(&state),
    )
    .await?;
    match rotation {
        Rotation::Rotated(session) => {
            let user = users::get(&mut conn, session.user_id).await?;
            if user.suspended_at.is_some() {
                return Err(invalid());
            }
            Ok(Json(auth::token_pair(&state, &session, next)?))
        }
        Rotation::Reused(session) => {
            auth::forget_sessions(&state, session.user_id, vec![session.id]);
            tracing::warn!(session = %session.id, "refresh token reused: session revoked");
            auth::record(
                &mut conn,
                Some(session.user_id),
                "refresh_token_reused",
                &client,
            )
            .await;
            Err(invalid())
        }
        Rotation::Invalid => Err(invalid()),
    }
}

/// `GET /api/v1/sessions`: the caller's active sessions.
pub async fn list_sessions(
    state: Data<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<SessionInfo>>> {
    let mut conn = state.db.conn().await?;
    let list = sessions::list_for_user(&mut conn, authed.0.user_id, SESSIONS_LISTED).await?;
    Ok(Json(
        list.into_iter()
            .map(|(s, device_name)| SessionInfo {
                current: s.id == authed.0.session_id,
                id: s.id,
                device_id: s.device_id,
                device_name,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect(),
    ))
}

/// `DELETE /api/v1/sessions/current`: logs out this session.
pub async fn delete_current_session(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
) -> ApiResult<HttpResponse> {
    revoke_one(
        &state,
        authed,
        authed.0.session_id,
        RevokeReason::Logout,
        &client,
    )
    .await
}

/// `DELETE /api/v1/sessions/{id}`: revokes one of the caller's sessions.
pub async fn delete_session(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    id: Path<SessionId>,
) -> ApiResult<HttpResponse> {
    revoke_one(
        &state,
        authed,
        id.into_inner(),
        RevokeReason::Revoked,
        &client,
    )
    .await
}

async fn revoke_one(
    state: &AppState,
    authed: Authed,
    id: SessionId,
    reason: RevokeReason,
    client: &ClientInfo,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    if !sessions::revoke(&mut conn, id, authed.0.user_id, reason).await? {
        return Err(ApiError::not_found());
    }
    auth::forget_sessions(state, authed.0.user_id, vec![id]);
    let action = if reason == RevokeReason::Logout {
        "logout"
    } else {
        "session_revoked"
    };
    auth::record(&mut conn, Some(authed.0.user_id), action, client).await;
    Ok(no_content())
}

/// `DELETE /api/v1/sessions`: logs out everywhere, this session included.
pub async fn delete_sessions(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
) -> ApiResult<Json<RevokedSessions>> {
    let mut conn = state.db.conn().await?;
    let revoked = auth::revoke_sessions(
        &state,
        &mut conn,
        authed.0.user_id,
        None,
        RevokeReason::LogoutAll,
    )
    .await?;
    auth::record(&mut conn, Some(authed.0.user_id), "logout_all", &client).await;
    Ok(Json(RevokedSessions { revoked }))
}
