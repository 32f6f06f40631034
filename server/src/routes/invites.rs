//! Registration invites, managed by the instance owner and admins.

use crate::auth;
use crate::codes;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, ClientInfo, JsonBody};
use crate::routes::no_content;
use crate::state::AppState;
use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use chatalot_protocol::api::{limits, CreateInviteRequest, Invite};
use chatalot_protocol::ids::InviteId;
use chatalot_storage::{invites, users, AsyncPgConnection};
use time::OffsetDateTime;

const INVITES_LISTED: i64 = limits::PAGE_MAX as i64;

fn to_api(i: invites::Invite) -> Invite {
    Invite {
        id: i.id,
        code: i.code,
        created_by: i.created_by,
        max_uses: i.max_uses.map(|n| n.max(0) as u32),
        uses: i.uses.max(0) as u32,
        expires_at: i.expires_at,
        revoked: i.revoked_at.is_some(),
        created_at: i.created_at,
    }
}

/// Invites are invisible to anyone but the owner and admins: others get 404.
async fn require_admin(conn: &mut AsyncPgConnection, authed: Authed) -> ApiResult<users::User> {
    let user = users::get(conn, authed.0.user_id).await?;
    if user.role.is_admin() {
        Ok(user)
    } else {
        Err(ApiError::not_found())
    }
}

/// `GET /api/v1/invites`: newest first.
pub async fn list_invites(state: Data<AppState>, authed: Authed) -> ApiResult<Json<Vec<Invite>>> {
    let mut conn = state.db.conn().await?;
    require_admin(&mut conn, authed).await?;
    let list = invites::list(&mut conn, INVITES_LISTED).await?;
    Ok(Json(list.into_iter().map(to_api).collect()))
}

/// Bounds shared by registration and community invites.
pub fn check_limits(max_uses: Option<u32>, expires_in_secs: Option<u64>) -> ApiResult<()> {
    if max_uses.is_some_and(|n| n == 0 || n > limits::INVITE_MAX_USES) {
        return Err(ApiError::invalid(
            "max_uses: 1 to 10000, or absent for unlimited",
        ));
    }
    if expires_in_secs.is_some_and(|s| !(60..=limits::INVITE_MAX_LIFETIME_SECS).contains(&s)) {
        return Err(ApiError::invalid(
            "expires_in_secs: 60 to 31622400 (one year), or absent for no expiry",
        ));
    }
    Ok(())
}

/// `POST /api/v1/invites`
pub async fn create_invite(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    body: JsonBody<CreateInviteRequest>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let user = require_admin(&mut conn, authed).await?;
    let body = body.into_inner();
    check_limits(body.max_uses, body.expires_in_secs)?;
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
    Ok(HttpResponse::Created().json(to_api(invite)))
}

/// `DELETE /api/v1/invites/{id}`: revokes an invite.
pub async fn delete_invite(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    id: Path<InviteId>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let user = require_admin(&mut conn, authed).await?;
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
