//! Public profiles, the caller's own profile, and blocks.

use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody};
use crate::live;
use crate::media::claim_image;
use crate::routes::no_content;
use crate::state::AppState;
use crate::validate;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::HttpResponse;
use chatalot_protocol::api::{community_limits as lim, ImageKind, Profile, UpdateProfileRequest};
use chatalot_protocol::ids::UserId;
use chatalot_storage::{channels, profiles};
use serde::Deserialize;

const BLOCKS_LISTED: i64 = 1000;
/// DMs and group DMs two users share that a block re-checks at once (a user is in at most
/// this many conversations with one other person for all practical purposes).
const SHARED_DIRECT: i64 = 1000;

/// `?username=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    username: String,
}

/// `GET /api/v1/users?username=`: find someone to talk to by exact username.
pub async fn lookup_user(
    state: Data<AppState>,
    _authed: Authed,
    q: Query<LookupQuery>,
) -> ApiResult<Json<Profile>> {
    let name = validate::login_username(&q.username)?;
    let mut conn = state.db.conn().await?;
    Ok(Json(convert::profile(
        profiles::find_by_username(&mut conn, &name).await?,
    )))
}

/// `GET /api/v1/users/{id}/profile`
pub async fn get_profile(
    state: Data<AppState>,
    _authed: Authed,
    id: Path<UserId>,
) -> ApiResult<Json<Profile>> {
    let mut conn = state.db.conn().await?;
    Ok(Json(convert::profile(
        profiles::get(&mut conn, id.into_inner()).await?,
    )))
}

/// `PATCH /api/v1/users/me/profile`
pub async fn update_profile(
    state: Data<AppState>,
    authed: Authed,
    body: JsonBody<UpdateProfileRequest>,
) -> ApiResult<Json<Profile>> {
    let display_name = body
        .display_name
        .as_deref()
        .map(validate::display_name)
        .transpose()?;
    let bio = body
        .bio
        .as_deref()
        .map(|b| validate::text(b, "bio", 0, lim::BIO_MAX))
        .transpose()?;
    let pronouns = body
        .pronouns
        .as_deref()
        .map(|p| validate::line(p, "pronouns", 0, lim::PRONOUNS_MAX))
        .transpose()?;
    let custom_status = body
        .custom_status
        .as_deref()
        .map(|s| validate::line(s, "custom_status", 0, lim::CUSTOM_STATUS_MAX))
        .transpose()?;
    let mut conn = state.db.conn().await?;
    let avatar = claim_image(&mut conn, &body.avatar_ref, ImageKind::Avatar, "avatar_ref").await?;
    let banner = claim_image(&mut conn, &body.banner_ref, ImageKind::Banner, "banner_ref").await?;
    let p = profiles::update(
        &mut conn,
        authed.0.user_id,
        &profiles::ProfileChanges {
            display_name: display_name.as_deref(),
            bio: bio.as_deref(),
            pronouns: pronouns.as_deref(),
            custom_status: custom_status.as_deref(),
            avatar_ref: avatar.as_ref().map(|o| o.as_deref()),
            banner_ref: banner.as_ref().map(|o| o.as_deref()),
        },
    )
    .await?;
    Ok(Json(convert::profile(p)))
}

/// `GET /api/v1/users/me/blocks`
pub async fn list_blocks(state: Data<AppState>, authed: Authed) -> ApiResult<Json<Vec<Profile>>> {
    let mut conn = state.db.conn().await?;
    let list = profiles::blocked(&mut conn, authed.0.user_id, BLOCKS_LISTED).await?;
    Ok(Json(list.into_iter().map(convert::profile).collect()))
}

/// `PUT /api/v1/users/me/blocks/{user_id}`: they can no longer open DMs with the caller.
pub async fn block_user(
    state: Data<AppState>,
    authed: Authed,
    id: Path<UserId>,
) -> ApiResult<HttpResponse> {
    let me = authed.0.user_id;
    let target = id.into_inner();
    if target == me {
        return Err(ApiError::invalid("you cannot block yourself"));
    }
    let mut conn = state.db.conn().await?;
    profiles::get(&mut conn, target).await?;
    if profiles::count_blocks(&mut conn, me).await? >= lim::BLOCKS_PER_USER as i64
        && !channels::blocked_by_any(&mut conn, &[me], target).await?
    {
        return Err(ApiError::new(
            chatalot_protocol::ErrorCode::QuotaExceeded,
            format!(
                "you have blocked the most users allowed ({})",
                lim::BLOCKS_PER_USER
            ),
        ));
    }
    profiles::block(&mut conn, me, target).await?;
    // the DMs and group DMs they share apply the block at once
    let shared = channels::shared_direct(&mut conn, me, target, SHARED_DIRECT).await?;
    live::recheck(&state, shared);
    Ok(no_content())
}

/// `DELETE /api/v1/users/me/blocks/{user_id}`
pub async fn unblock_user(
    state: Data<AppState>,
    authed: Authed,
    id: Path<UserId>,
) -> ApiResult<HttpResponse> {
    let (me, target) = (authed.0.user_id, id.into_inner());
    let mut conn = state.db.conn().await?;
    if !profiles::unblock(&mut conn, me, target).await? {
        return Err(ApiError::not_found());
    }
    let shared = channels::shared_direct(&mut conn, me, target, SHARED_DIRECT).await?;
    live::recheck(&state, shared);
    Ok(no_content())
}
