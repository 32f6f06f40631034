//! Public instance information and the settings admins change.

use crate::auth::{self, SETTING_INSTANCE_NAME, SETTING_REGISTRATION_MODE};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, ClientInfo, JsonBody};
use crate::state::AppState;
use actix_web::web::{Data, Json};
use chatalot_protocol::api::{limits, InstanceInfo, RegistrationMode, UpdateInstanceRequest};
use chatalot_protocol::PROTOCOL_VERSION;
use chatalot_storage::{settings, users};

/// `GET /api/v1/instance`
pub async fn get_instance(state: Data<AppState>) -> ApiResult<Json<InstanceInfo>> {
    let mut conn = state.db.conn().await?;
    Ok(Json(InstanceInfo {
        name: auth::instance_name(&state, &mut conn).await?,
        version: env!("CARGO_PKG_VERSION").into(),
        protocol_version: PROTOCOL_VERSION,
        registration_mode: auth::registration_mode(&state, &mut conn).await?,
        setup_pending: !users::owner_exists(&mut conn).await?,
        gifs: !state.config.gifs.api_key.is_empty(),
    }))
}

/// `PATCH /api/v1/instance` (owner and admins)
pub async fn update_instance(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    body: JsonBody<UpdateInstanceRequest>,
) -> ApiResult<Json<InstanceInfo>> {
    let body = body.into_inner();
    let name = match &body.name {
        Some(n) => {
            let n = n.trim();
            if n.is_empty()
                || n.chars().count() > limits::INSTANCE_NAME_MAX
                || n.chars().any(char::is_control)
                || crate::validate::deceptive(n).is_some()
            {
                return Err(ApiError::invalid(
                    "name: 1 to 64 characters without control characters, direction controls or invisible characters",
                ));
            }
            Some(n.to_owned())
        }
        None => None,
    };
    let mut conn = state.db.conn().await?;
    let user = users::get(&mut conn, authed.0.user_id).await?;
    if !user.role.is_admin() {
        return Err(ApiError::forbidden(
            "only the instance owner and admins may change settings",
        ));
    }
    if let Some(name) = &name {
        settings::upsert(&mut conn, SETTING_INSTANCE_NAME, name).await?;
    }
    if let Some(mode) = body.registration_mode {
        let value = match mode {
            RegistrationMode::Open => "open",
            RegistrationMode::InviteOnly => "invite_only",
            RegistrationMode::Closed => "closed",
        };
        settings::upsert(&mut conn, SETTING_REGISTRATION_MODE, value).await?;
    }
    if name.is_some() || body.registration_mode.is_some() {
        auth::record(
            &mut conn,
            Some(user.id),
            "instance_settings_changed",
            &client,
        )
        .await;
    }
    drop(conn);
    get_instance(state).await
}
