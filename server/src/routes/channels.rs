//! Channels the caller can read, DMs, and message history.

use crate::error::{ApiError, ApiResult};
use crate::extract::Authed;
use crate::routes::communities::channel_to_api;
use crate::state::AppState;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::HttpResponse;
use chatalot_protocol::api::{Channel, MessagePage, OpenDmRequest, MAX_GROUP_DM_MEMBERS};
use chatalot_protocol::ids::{ChannelId, UserId};
use chatalot_storage::{channels, messages, users};
use serde::Deserialize;

const CHANNELS_LISTED: i64 = 1000;

/// `GET /api/v1/channels`: every channel the caller can read, with unread counts.
pub async fn list_channels(state: Data<AppState>, authed: Authed) -> ApiResult<Json<Vec<Channel>>> {
    let mut conn = state.db.conn().await?;
    let list = channels::list_for_user(&mut conn, authed.0.user_id, CHANNELS_LISTED).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| channel_to_api(s.channel, s.last_read_seq, s.unread))
            .collect(),
    ))
}

/// `POST /api/v1/dms`: opens (or finds) the DM or group DM of the caller and `user_ids`.
pub async fn open_dm(
    state: Data<AppState>,
    authed: Authed,
    body: Json<OpenDmRequest>,
) -> ApiResult<HttpResponse> {
    let me = authed.0.user_id;
    let mut others: Vec<UserId> = body.user_ids.iter().copied().filter(|u| *u != me).collect();
    others.sort();
    others.dedup();
    if others.is_empty() || others.len() + 1 > MAX_GROUP_DM_MEMBERS {
        return Err(ApiError::invalid(
            "user_ids: 1 to 9 other users (a group DM has at most 10 members)",
        ));
    }
    let mut conn = state.db.conn().await?;
    for u in &others {
        let user = users::get(&mut conn, *u).await?;
        if user.suspended_at.is_some() {
            return Err(ApiError::not_found());
        }
    }
    let mut members = others.clone();
    members.push(me);
    let channel = channels::open_dm(&mut conn, ChannelId::new(), me, &members, true).await?;
    Ok(HttpResponse::Ok().json(channel_to_api(channel, 0, 0)))
}

/// `?before_seq=&after_seq=&limit=` (1-100, default 50).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/v1/channels/{id}/messages`: a page of history. Without cursors, the newest
/// messages; `before_seq` pages back, `after_seq` forward.
pub async fn list_messages(
    state: Data<AppState>,
    authed: Authed,
    id: Path<ChannelId>,
    q: Query<PageQuery>,
) -> ApiResult<Json<MessagePage>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 100"));
    }
    if q.before_seq.is_some_and(|s| s < 0) || q.after_seq.is_some_and(|s| s < 0) {
        return Err(ApiError::invalid("before_seq, after_seq: 0 or more"));
    }
    let mut conn = state.db.conn().await?;
    let channel = channels::find_visible(&mut conn, id.into_inner(), authed.0.user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut list =
        messages::page(&mut conn, channel.id, q.before_seq, q.after_seq, limit + 1).await?;
    let has_more = list.len() as i64 > limit;
    if has_more {
        if q.after_seq.is_some() {
            list.truncate(limit as usize);
        } else {
            list.remove(0);
        }
    }
    Ok(Json(MessagePage {
        messages: list.iter().map(chatalot_actors::frames::message).collect(),
        has_more,
    }))
}
