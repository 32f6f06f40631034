//! A community's custom emoji (docs/api.md "Custom emoji"): listed to whoever may see the
//! community, added and removed by its admins, each the ref of a public image of kind `emoji`.

use crate::access;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody};
use crate::live;
use crate::media::claim_image;
use crate::routes::no_content;
use crate::state::AppState;
use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use chatalot_protocol::api::image_limits::{EMOJI_NAME_MAX, EMOJI_NAME_MIN, EMOJI_PER_COMMUNITY};
use chatalot_protocol::api::{CreateEmojiRequest, CustomEmoji, ImageKind};
use chatalot_protocol::error::ErrorCode;
use chatalot_protocol::ids::{CommunityId, EmojiId};
use chatalot_protocol::perms::Action;
use chatalot_protocol::ws::ServerFrame;
use chatalot_storage::emoji::{self, AddRefused};
use chatalot_storage::AsyncPgConnection;

fn wire(e: emoji::Emoji) -> CustomEmoji {
    CustomEmoji {
        id: e.id,
        community_id: e.community_id,
        name: e.name,
        image_ref: e.image_ref,
        created_by: e.created_by,
        created_at: e.created_at,
    }
}

async fn all(conn: &mut AsyncPgConnection, community: CommunityId) -> ApiResult<Vec<CustomEmoji>> {
    Ok(emoji::list(conn, community, EMOJI_PER_COMMUNITY as i64)
        .await?
        .into_iter()
        .map(wire)
        .collect())
}

/// Tells every member the list as it now is.
async fn announce(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    community: CommunityId,
) -> ApiResult<()> {
    let list = all(conn, community).await?;
    live::to_members(
        state,
        conn,
        community,
        None,
        ServerFrame::EmojiChanged {
            community_id: community,
            emoji: list,
        },
    )
    .await
}

/// An emoji's name: 2 to 32 of `a-z`, `0-9`, `_`.
fn name(raw: &str) -> ApiResult<&str> {
    let ok = (EMOJI_NAME_MIN..=EMOJI_NAME_MAX).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(raw)
    } else {
        Err(ApiError::invalid(format!(
            "name: {EMOJI_NAME_MIN} to {EMOJI_NAME_MAX} of a-z, 0-9 and _"
        )))
    }
}

/// `GET /api/v1/communities/{id}/emoji`: by name.
pub async fn list_emoji(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<Json<Vec<CustomEmoji>>> {
    let mut conn = state.db.conn().await?;
    let (community, _) =
        access::authorize(&mut conn, id.into_inner(), authed.0.user_id, Action::View).await?;
    Ok(Json(all(&mut conn, community.id).await?))
}

/// `POST /api/v1/communities/{id}/emoji`: community admin; 409 for a name in use, 403
/// `quota_exceeded` past `EMOJI_PER_COMMUNITY`.
pub async fn create_emoji(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
    body: JsonBody<CreateEmojiRequest>,
) -> ApiResult<HttpResponse> {
    let user = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (community, _) =
        access::authorize(&mut conn, id.into_inner(), user, Action::EditCommunity).await?;
    let name = name(&body.name)?;
    let image_ref = claim_image(
        &mut conn,
        &Some(Some(body.image_ref.clone())),
        ImageKind::Emoji,
        "image_ref",
    )
    .await?
    .flatten()
    .ok_or_else(|| ApiError::invalid("image_ref: required"))?;
    let added = emoji::add(
        &mut conn,
        community.id,
        name,
        &image_ref,
        user,
        EMOJI_PER_COMMUNITY as i64,
    )
    .await?
    .map_err(|e| match e {
        AddRefused::Full => ApiError::new(
            ErrorCode::QuotaExceeded,
            format!("a community may have at most {EMOJI_PER_COMMUNITY} emoji; remove one first"),
        ),
        AddRefused::NameTaken => ApiError::new(
            ErrorCode::Conflict,
            format!("name: the community has an emoji called :{name}: already"),
        ),
    })?;
    announce(&state, &mut conn, community.id).await?;
    Ok(HttpResponse::Created().json(wire(added)))
}

/// `DELETE /api/v1/communities/{id}/emoji/{emoji_id}`: community admin. Messages that used it
/// keep its `<:name:ref>` text; the image goes once nothing names it.
pub async fn delete_emoji(
    state: Data<AppState>,
    authed: Authed,
    path: Path<(CommunityId, EmojiId)>,
) -> ApiResult<HttpResponse> {
    let (id, emoji_id) = path.into_inner();
    let mut conn = state.db.conn().await?;
    let (community, _) =
        access::authorize(&mut conn, id, authed.0.user_id, Action::EditCommunity).await?;
    if !emoji::remove(&mut conn, community.id, emoji_id).await? {
        return Err(ApiError::not_found());
    }
    announce(&state, &mut conn, community.id).await?;
    Ok(no_content())
}
