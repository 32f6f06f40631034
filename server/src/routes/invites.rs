//! Registration invites, managed by the instance owner and admins.

use crate::access;
use crate::auth;
use crate::codes;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, ClientInfo, JsonBody};
use crate::routes::no_content;
use crate::state::AppState;
use crate::validate;
use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use chatalot_protocol::api::{limits, CreateInviteRequest, Invite};
use chatalot_protocol::ids::InviteId;
use chatalot_storage::invites;
use time::OffsetDateTime;

const INVITES_LISTED: i64 = limits::PAGE_MAX as i64;

/// `GET /api/v1/invites`: newest first.
pub async fn list_invites(state: Data<AppState>, authed: Authed) -> ApiResult<Json<Vec<Invite>>> {
    let mut conn = state.db.conn().await?;
    access::instance_admin(&mut conn, authed).await?;
    let list = invites::list(&mut conn, INVITES_LISTED).await?;
    Ok(Json(list.into_iter().map(convert::invite).collect()))
}

/// `POST /api/v1/invites`
pub async fn create_invite(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    body: JsonBody<CreateInviteRequest>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let user = access::instance_admin(&mut conn, authed).await?;
    let body = body.into_inner();
    validate::invite_limits(body.max_uses, body.expires_in_secs)?;
    let code = codes::new_invite_code();
    let invite = invites::insert(
        &mut conn,
        &invites::NewInvite {
            id: InviteId::new(),
            code: &code,
            created_by: user.id,
            max_uses: body.max_uses.map(|n| n as i32),
            expires_at: body
                .expires_in_secs
                .map(|s| OffsetDateTime::now_utc() + time::Duration::seconds(s as i64)),
        },
    )
    .await?;
    auth::record_on(
        &mut conn,
        Some(user.id),
        "invite_created",
        Some(invite.id.0),
        &client,
    )
    .await;
    Ok(HttpResponse::Created().json(convert::invite(invite)))
}

/// `DELETE /api/v1/invites/{id}`: revokes an invite.
pub async fn delete_invite(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    id: Path<InviteId>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let user = access::instance_admin(&mut conn, authed).await?;
    let id = id.into_inner();
    if !invites::revoke(&mut conn, id).await? {
        return Err(ApiError::not_found());
    }
    auth::record_on(
        &mut conn,
        Some(user.id),
        "invite_revoked",
        Some(id.0),
        &client,
    )
    .await;
    Ok(no_content())
}
