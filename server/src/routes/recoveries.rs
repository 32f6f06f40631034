//! Resetting a forgotten password with the recovery code.

use crate::auth;
use crate::codes;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientInfo, JsonBody};
use crate::state::AppState;
use crate::validate;
use actix_web::web::{Data, Json};
use chatalot_protocol::api::{RecoverRequest, RecoveryCode};
use chatalot_protocol::ErrorCode;
use chatalot_storage::{accounts, users};

/// `POST /api/v1/recoveries`: sets a new password, turns two-factor authentication off, logs
/// out every session and returns a new recovery code (the old one is spent). The recovery
/// code is the account's last resort: whoever took over a session and enrolled a second factor
/// of their own is shut out by it. Unknown usernames and wrong codes answer alike, with the
/// same work (an audit row either way); attempts share the login failure buckets.
pub async fn create_recovery(
    state: Data<AppState>,
    client: ClientInfo,
    body: JsonBody<RecoverRequest>,
) -> ApiResult<Json<RecoveryCode>> {
    let limits = &state.limits;
    limits
        .auth_ip
        .take(&client.net)
        .map_err(ApiError::rate_limited)?;
    let username = validate::login_username(&body.username)?;
    validate::code(&body.recovery_code, "recovery_code")?;
    validate::new_password(&body.new_password, &username)?;
    let ip_key = (username.clone(), client.net);
    limits
        .login_fail_ip
        .check(&ip_key)
        .map_err(ApiError::rate_limited)?;
    limits
        .login_fail_account
        .check(&username)
        .map_err(ApiError::rate_limited)?;

    let mut conn = state.db.conn().await?;
    let user = users::find_by_username(&mut conn, &username).await?;
    let presented = codes::hash_code(&body.recovery_code);
    // an unknown account compares against a hash nothing matches, in the same time
    let stored = user
        .as_ref()
        .and_then(|u| u.recovery_code_hash.clone())
        .unwrap_or_else(|| vec![0u8; 32]);
    let matches = constant_time_eq(&presented, &stored);
    let user = match user {
        Some(u) if matches && u.suspended_at.is_none() => u,
        other => {
            let _ = limits.login_fail_ip.take(&ip_key);
            let _ = limits.login_fail_account.take(&username);
            // recorded for unknown names too (without a user), so both cost the same
            auth::record(&mut conn, other.map(|u| u.id), "recovery_failed", &client).await;
            return Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "wrong username or recovery code",
            ));
        }
    };
    let hash = state.passwords.hash(&body.new_password).await?;
    let recovery_code = codes::new_recovery_code();
    let revoked =
        accounts::recover(&mut conn, user.id, &hash, &codes::hash_code(&recovery_code)).await?;
    auth::forget_sessions(&state, user.id, revoked);
    auth::record(&mut conn, Some(user.id), "account_recovered", &client).await;
    Ok(Json(RecoveryCode { recovery_code }))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
