//! The caller's own account: profile, password, two-factor authentication, recovery code; and
//! the instance roles and suspension of accounts, managed by instance admins.

use crate::access;
use crate::auth;
use crate::codes;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, ClientInfo, JsonBody};
use crate::routes::no_content;
use crate::state::AppState;
use crate::totp;
use crate::validate;
use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use chatalot_protocol::api::{
    BackupCodes, ChangePasswordRequest, InstanceRole, Me, PasswordAndCodeRequest, PasswordRequest,
    RecoveryCode, TotpConfirmRequest, TotpSetup, UpdateRoleRequest,
};
use chatalot_protocol::ids::UserId;
use chatalot_protocol::ErrorCode;
use chatalot_storage::sessions::RevokeReason;
use chatalot_storage::{accounts, backup_codes, users};

fn totp_conflict(enabled: bool) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        if enabled {
            "two-factor authentication is already enabled"
        } else {
            "two-factor authentication is not enabled"
        },
    )
}

/// `GET /api/v1/users/me`
pub async fn get_me(state: Data<AppState>, authed: Authed) -> ApiResult<Json<Me>> {
    let mut conn = state.db.conn().await?;
    let user = users::get(&mut conn, authed.0.user_id).await?;
    let avatar = chatalot_storage::profiles::get(&mut conn, user.id)
        .await?
        .avatar_ref;
    Ok(Json(auth::me(&user, avatar)))
}

/// `PUT /api/v1/users/me/password`: needs the current password; logs out every other session.
pub async fn update_password(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    body: JsonBody<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let user = users::get(&mut conn, authed.0.user_id).await?;
    validate::new_password(&body.new_password, &user.username)?;
    auth::require_password(&state, &user, &body.current_password).await?;
    let hash = state.passwords.hash(&body.new_password).await?;
    let revoked = accounts::replace_password(
        &mut conn,
        user.id,
        &hash,
        None,
        Some(authed.0.session_id),
        RevokeReason::PasswordChanged,
    )
    .await?;
    auth::forget_sessions(&state, user.id, revoked);
    auth::record(&mut conn, Some(user.id), "password_changed", &client).await;
    Ok(no_content())
}

/// `POST /api/v1/users/me/totp`: a new secret to scan; 2FA is enabled by confirming a code.
pub async fn create_totp(
    state: Data<AppState>,
    authed: Authed,
    body: JsonBody<PasswordRequest>,
) -> ApiResult<Json<TotpSetup>> {
    let mut conn = state.db.conn().await?;
    let user = users::get(&mut conn, authed.0.user_id).await?;
    if user.totp_enabled {
        return Err(totp_conflict(true));
    }
    // an access token alone (a stolen one) must not be able to put a second factor in the
    // owner's way
    auth::require_password(&state, &user, &body.password).await?;
    let secret = zeroize::Zeroizing::new(codes::random_bytes::<{ totp::SECRET_LEN }>());
    let sealed = state
        .totp_sealer
        .seal(user.id.0.as_bytes(), secret.as_ref());
    if !users::update_pending_totp_secret(&mut conn, user.id, &sealed).await? {
        return Err(totp_conflict(true));
    }
    let issuer = auth::instance_name(&state, &mut conn).await?;
    Ok(Json(TotpSetup {
        secret: totp::base32(secret.as_ref()),
        otpauth_url: totp::otpauth_url(&issuer, &user.username, secret.as_ref()),
    }))
}

/// `POST /api/v1/users/me/totp/confirm`: enables 2FA with a current code; returns backup codes.
pub async fn confirm_totp(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    body: JsonBody<TotpConfirmRequest>,
) -> ApiResult<Json<BackupCodes>> {
    validate::code(&body.code, "code")?;
    if body.code.trim().len() != 6 {
        return Err(ApiError::invalid(
            "code: the 6-digit code from the authenticator app",
        ));
    }
    let mut conn = state.db.conn().await?;
    let user = users::get(&mut conn, authed.0.user_id).await?;
    if user.totp_enabled {
        return Err(totp_conflict(true));
    }
    if user.totp_secret.is_none() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "start two-factor setup first (POST /api/v1/users/me/totp)",
        ));
    }
    auth::require_second_factor(&state, &mut conn, &user, &body.code).await?;
    let (backup_codes, hashes) = auth::new_backup_codes();
    accounts::enable_totp(&mut conn, user.id, &hashes).await?;
    auth::record(&mut conn, Some(user.id), "totp_enabled", &client).await;
    Ok(Json(BackupCodes { backup_codes }))
}

/// `DELETE /api/v1/users/me/totp`: disables 2FA; needs the password and a current code.
pub async fn delete_totp(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    body: JsonBody<PasswordAndCodeRequest>,
) -> ApiResult<HttpResponse> {
    validate::code(&body.code, "code")?;
    let mut conn = state.db.conn().await?;
    let user = users::get(&mut conn, authed.0.user_id).await?;
    if !user.totp_enabled {
        return Err(totp_conflict(false));
    }
    auth::require_password(&state, &user, &body.password).await?;
    auth::require_second_factor(&state, &mut conn, &user, &body.code).await?;
    accounts::disable_totp(&mut conn, user.id).await?;
    auth::record(&mut conn, Some(user.id), "totp_disabled", &client).await;
    Ok(no_content())
}

/// `POST /api/v1/users/me/totp/backup_codes`: replaces the backup codes; needs the password and
/// a current code.
pub async fn create_backup_codes(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    body: JsonBody<PasswordAndCodeRequest>,
) -> ApiResult<Json<BackupCodes>> {
    validate::code(&body.code, "code")?;
    let mut conn = state.db.conn().await?;
    let user = users::get(&mut conn, authed.0.user_id).await?;
    if !user.totp_enabled {
        return Err(totp_conflict(false));
    }
    auth::require_password(&state, &user, &body.password).await?;
    auth::require_second_factor(&state, &mut conn, &user, &body.code).await?;
    let (backup_codes, hashes) = auth::new_backup_codes();
    backup_codes::replace_all(&mut conn, user.id, &hashes).await?;
    auth::record(
        &mut conn,
        Some(user.id),
        "backup_codes_regenerated",
        &client,
    )
    .await;
    Ok(Json(BackupCodes { backup_codes }))
}

/// `POST /api/v1/users/me/recovery_code`: replaces the recovery code; needs the password.
pub async fn create_recovery_code(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    body: JsonBody<PasswordRequest>,
) -> ApiResult<Json<RecoveryCode>> {
    let mut conn = state.db.conn().await?;
    let user = users::get(&mut conn, authed.0.user_id).await?;
    auth::require_password(&state, &user, &body.password).await?;
    let recovery_code = codes::new_recovery_code();
    users::update_recovery_code_hash(&mut conn, user.id, &codes::hash_code(&recovery_code)).await?;
    auth::record(
        &mut conn,
        Some(user.id),
        "recovery_code_regenerated",
        &client,
    )
    .await;
    Ok(Json(RecoveryCode { recovery_code }))
}

/// `PUT /api/v1/users/{id}/role`: the instance owner makes an account an admin or a member.
pub async fn update_role(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    id: Path<UserId>,
    body: JsonBody<UpdateRoleRequest>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let actor = access::instance_admin(&mut conn, authed).await?;
    if actor.role != InstanceRole::Owner {
        return Err(ApiError::forbidden("only the instance owner assigns roles"));
    }
    if body.role == InstanceRole::Owner {
        return Err(ApiError::invalid(
            "role: admin or member (ownership cannot be given away here)",
        ));
    }
    let target = users::get(&mut conn, id.into_inner()).await?;
    if target.id == actor.id {
        return Err(ApiError::forbidden("the owner's role cannot be changed"));
    }
    users::update_role(&mut conn, target.id, body.role).await?;
    let action = if body.role == InstanceRole::Admin {
        "admin_granted"
    } else {
        "admin_revoked"
    };
    auth::record_on(
        &mut conn,
        Some(actor.id),
        action,
        Some(target.id.0),
        &client,
    )
    .await;
    Ok(no_content())
}

/// `PUT /api/v1/users/{id}/suspension`: an instance admin suspends an account; its sessions end
/// at once.
pub async fn create_suspension(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    id: Path<UserId>,
) -> ApiResult<HttpResponse> {
    set_suspension(&state, authed, &client, id.into_inner(), true).await
}

/// `DELETE /api/v1/users/{id}/suspension`: lifts a suspension.
pub async fn delete_suspension(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    id: Path<UserId>,
) -> ApiResult<HttpResponse> {
    set_suspension(&state, authed, &client, id.into_inner(), false).await
}

async fn set_suspension(
    state: &AppState,
    authed: Authed,
    client: &ClientInfo,
    target: UserId,
    suspend: bool,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let actor = access::instance_admin(&mut conn, authed).await?;
    let target = users::get(&mut conn, target).await?;
    if target.id == actor.id || target.role == InstanceRole::Owner {
        return Err(ApiError::forbidden(
            "the owner and yourself cannot be suspended",
        ));
    }
    if target.role == InstanceRole::Admin && actor.role != InstanceRole::Owner {
        return Err(ApiError::forbidden("only the owner may suspend an admin"));
    }
    let revoked = accounts::set_suspended(&mut conn, target.id, suspend).await?;
    auth::forget_sessions(state, target.id, revoked);
    let action = if suspend {
        "user_suspended"
    } else {
        "user_unsuspended"
    };
    auth::record_on(&mut conn, Some(actor.id), action, Some(target.id.0), client).await;
    Ok(no_content())
}
