//! Registration.

use crate::auth;
use crate::codes;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientInfo, JsonBody};
use crate::state::AppState;
use crate::validate;
use actix_web::web::Data;
use actix_web::HttpResponse;
use chatalot_protocol::api::{RegisterRequest, RegistrationMode};
use chatalot_protocol::ids::{SessionId, UserId};
use chatalot_protocol::ErrorCode;
use chatalot_storage::accounts::{self, Refusal, Registration};

/// `POST /api/v1/accounts`: creates an account and logs it in on a new device.
pub async fn create_account(
    state: Data<AppState>,
    client: ClientInfo,
    body: JsonBody<RegisterRequest>,
) -> ApiResult<HttpResponse> {
    state
        .limits
        .auth_ip
        .take(&client.net)
        .map_err(ApiError::rate_limited)?;
    let body = body.into_inner();
    let username = validate::username(&body.username)?;
    validate::new_password(&body.password, &username)?;
    let display_name = match body.display_name.as_deref() {
        Some(d) => validate::display_name(d)?,
        None => username.clone(),
    };
    let device_name =
        validate::device_name(body.device_name.as_deref(), client.user_agent.as_deref())?;
    let invite_code = match body.invite_code.as_deref() {
        Some(code) => {
            validate::code(code, "invite_code")?;
            Some(codes::canonical_invite(code).ok_or_else(|| {
                ApiError::new(ErrorCode::InvalidInvite, "the invite code is not valid")
            })?)
        }
        None => None,
    };
    let setup_token_hash = match body.setup_token.as_deref() {
        Some(t) => {
            validate::code(t, "setup_token")?;
            Some(codes::hash_code(t))
        }
        None => None,
    };
    state
        .limits
        .register_ip
        .take(&client.net)
        .map_err(ApiError::rate_limited)?;

    let mut conn = state.db.conn().await?;
    let mode = auth::registration_mode(&state, &mut conn).await?;
    // refuse early what cannot succeed, before spending a password hash on it
    let hopeless = mode == RegistrationMode::Closed
        || (mode == RegistrationMode::InviteOnly && invite_code.is_none());
    if hopeless && setup_token_hash.is_none() {
        return Err(refusal(mode));
    }
    let password_hash = state.passwords.hash(&body.password).await?;
    let recovery_code = codes::new_recovery_code();
    let (device_id, device_secret) = auth::new_device();
    let refresh_token = codes::new_token();
    let ip = client.ip_string();
    let outcome = accounts::register(
        &mut conn,
        &Registration {
            user_id: UserId::new(),
            username: &username,
            display_name: &display_name,
            password_hash: &password_hash,
            recovery_code_hash: &codes::hash_code(&recovery_code),
            invite_code: invite_code.as_deref(),
            setup_token_hash: setup_token_hash.as_deref(),
            mode,
            device_id,
            device_name: &device_name,
            device_secret_hash: &codes::sha256(device_secret.as_bytes()),
            session_id: SessionId::new(),
            ip: Some(&ip),
            user_agent: client.user_agent.as_deref(),
            session_expires_at: auth::session_expiry(&state),
            refresh_hash: &codes::sha256(refresh_token.as_bytes()),
        },
    )
    .await?;
    match outcome {
        Ok((user, session)) => {
            auth::record(&mut conn, Some(user.id), "register", &client).await;
            tracing::info!(user = %user.id, role = ?user.role, "account registered");
            let body = auth::login_response(
                &state,
                &user,
                None,
                &session,
                refresh_token,
                Some(device_secret),
                Some(recovery_code),
            )?;
            Ok(HttpResponse::Created().json(body))
        }
        Err(Refusal::Closed) => Err(refusal(RegistrationMode::Closed)),
        Err(Refusal::InviteRequired) => Err(refusal(RegistrationMode::InviteOnly)),
        Err(Refusal::InvalidInvite) => Err(ApiError::new(
            ErrorCode::InvalidInvite,
            "the invite code is unknown, expired, revoked or used up",
        )),
        Err(Refusal::UsernameTaken) => Err(ApiError::new(
            ErrorCode::UsernameTaken,
            "that username is taken",
        )),
        Err(Refusal::InvalidSetupToken) => Err(ApiError::new(
            ErrorCode::InvalidSetupToken,
            "the setup token is not valid, or the instance has its owner already",
        )),
    }
}

fn refusal(mode: RegistrationMode) -> ApiError {
    match mode {
        RegistrationMode::Closed => ApiError::new(
            ErrorCode::RegistrationClosed,
            "registration is closed on this instance",
        ),
        _ => ApiError::new(
            ErrorCode::InviteRequired,
            "this instance needs an invite code to register",
        ),
    }
}
