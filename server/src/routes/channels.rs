//! Channels the caller can read, DMs, and message history.

use crate::access;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody};
use crate::live;
use crate::routes::no_content;
use crate::state::AppState;
use crate::validate;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::HttpResponse;
use chatalot_protocol::api::{
    community_limits as lim, Channel, ChannelPage, MessagePage, OpenDmRequest,
    UpdateChannelRequest, MAX_GROUP_DM_MEMBERS,
};
use chatalot_protocol::ids::{ChannelId, UserId};
use chatalot_protocol::perms::{self, Action};
use chatalot_protocol::ws::ServerFrame;
use chatalot_storage::{channels, groups, messages, users};
use serde::Deserialize;
use time::OffsetDateTime;

/// Channels per page of `GET /api/v1/channels`: default and most.
const CHANNELS_PAGE: u32 = 200;
const CHANNELS_PAGE_MAX: u32 = 500;

/// `?limit=&before=` of the channel list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelListQuery {
    limit: Option<u32>,
    before: Option<String>,
}

/// A page cursor as clients see it: the activity time in microseconds and the id.
fn encode_cursor(c: channels::ChannelCursor) -> String {
    format!("{}.{}", c.at.unix_timestamp_nanos() / 1000, c.id)
}

fn decode_cursor(raw: &str) -> Option<channels::ChannelCursor> {
    let (micros, id) = raw.split_once('.')?;
    if micros.len() > 20 {
        return None;
    }
    let micros: i128 = micros.parse().ok()?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()?;
    let id = ChannelId(uuid::Uuid::parse_str(id).ok()?);
    Some(channels::ChannelCursor { at, id })
}

/// `GET /api/v1/channels`: the channels the caller can read, most recently active first, with
/// unread counts, a page at a time.
pub async fn list_channels(
    state: Data<AppState>,
    authed: Authed,
    q: Query<ChannelListQuery>,
) -> ApiResult<Json<ChannelPage>> {
    let limit = q.limit.unwrap_or(CHANNELS_PAGE);
    if !(1..=CHANNELS_PAGE_MAX).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit: 1 to {CHANNELS_PAGE_MAX}"
        )));
    }
    let before = match q.before.as_deref() {
        Some(raw) => Some(
            decode_cursor(raw)
                .ok_or_else(|| ApiError::invalid("before: the next_before of an earlier page"))?,
        ),
        None => None,
    };
    let mut conn = state.db.conn().await?;
    let (list, next) =
        channels::list_for_user(&mut conn, authed.0.user_id, before, i64::from(limit)).await?;
    Ok(Json(ChannelPage {
        channels: list.into_iter().map(convert::channel_state).collect(),
        next_before: next.map(encode_cursor),
    }))
}

/// `POST /api/v1/dms`: opens (or finds) the DM or group DM of the caller and `user_ids`.
pub async fn open_dm(
    state: Data<AppState>,
    authed: Authed,
    body: JsonBody<OpenDmRequest>,
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
    if channels::blocked_by_any(&mut conn, &others, me).await? {
        return Err(ApiError::forbidden(
            "a user in this conversation does not accept messages from you",
        ));
    }
    let mut everyone = others.clone();
    everyone.push(me);
    if others.len() > 1
        && channels::find_dm(&mut conn, &everyone).await?.is_none()
        && channels::block_among(&mut conn, &everyone).await?
    {
        // a third person cannot bring together two people a block keeps apart
        return Err(ApiError::forbidden(
            "two of these users do not accept a conversation with each other",
        ));
    }
    let mut members = others.clone();
    members.push(me);
    if channels::find_dm(&mut conn, &members).await?.is_none() {
        if channels::count_opened_direct(&mut conn, me).await?
            >= lim::CONVERSATIONS_OPENED_PER_USER as i64
        {
            return Err(ApiError::new(
                chatalot_protocol::ErrorCode::QuotaExceeded,
                format!(
                    "you have opened the most conversations allowed ({})",
                    lim::CONVERSATIONS_OPENED_PER_USER
                ),
            ));
        }
        // opening new conversations is bounded per user (reopening one is free), so nobody
        // floods someone's channel list with conversations
        state
            .limits
            .dm_create
            .take(&me)
            .map_err(ApiError::rate_limited)?;
    }
    let new_id = ChannelId::new();
    let channel = channels::open_dm(&mut conn, new_id, me, &members, true).await?;
    let (channel, facts) = channels::access(&mut conn, channel.id, me)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if channel.id == new_id {
        // the others see the new conversation appear
        let frames = others
            .iter()
            .map(|u| {
                let mut f = facts;
                f.dm_member = true;
                (
                    *u,
                    ServerFrame::ChannelCreated {
                        channel: convert::channel(channel.clone(), &f, 0, 0),
                    },
                )
            })
            .collect();
        live::push(&state, frames);
    }
    Ok(HttpResponse::Ok().json(convert::channel(channel, &facts, 0, 0)))
}

/// `GET /api/v1/channels/{id}`: one channel the caller can read.
pub async fn get_channel(
    state: Data<AppState>,
    authed: Authed,
    id: Path<ChannelId>,
) -> ApiResult<Json<Channel>> {
    let mut conn = state.db.conn().await?;
    let (channel, facts) = channels::find_visible(&mut conn, id.into_inner(), authed.0.user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(convert::channel(channel, &facts, 0, 0)))
}

/// `PATCH /api/v1/channels/{id}`: moderators set the topic, slow mode and archived flag;
/// admins change anything. DMs have no settings.
pub async fn update_channel(
    state: Data<AppState>,
    authed: Authed,
    id: Path<ChannelId>,
    body: JsonBody<UpdateChannelRequest>,
) -> ApiResult<Json<Channel>> {
    let me = authed.0.user_id;
    let body = body.into_inner();
    let mut conn = state.db.conn().await?;
    let (channel, facts) = channels::find_visible(&mut conn, id.into_inner(), me)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let Some(community) = channel.community_id else {
        return Err(ApiError::forbidden("direct messages have no settings"));
    };
    let admin_fields = body.name.is_some()
        || body.position.is_some()
        || body.group_id.is_some()
        || body.view_role.is_some()
        || body.post_role.is_some()
        || body.e2e.is_some()
        || body.history_for_new_members.is_some();
    access::require(perms::community(facts.role, Action::ModerateChannel))?;
    if admin_fields {
        access::require(perms::community(facts.role, Action::ManageChannels))?;
    }
    let name = body
        .name
        .as_deref()
        .map(|n| validate::line(n, "name", 1, lim::NAME_MAX))
        .transpose()?;
    let topic = body
        .topic
        .as_deref()
        .map(|t| validate::text(t, "topic", 0, lim::TOPIC_MAX))
        .transpose()?;
    let slow = body.slow_mode_secs.map(validate::slow_mode).transpose()?;
    if let Some(Some(g)) = body.group_id {
        match groups::get(&mut conn, g).await {
            Ok(group) if group.community_id == community => {}
            _ => {
                return Err(ApiError::new(
                    chatalot_protocol::ErrorCode::NotFound,
                    "group_id: no such group in this community",
                ))
            }
        }
    }
    let before = live::readers(&mut conn, channel.id, community).await?;
    let updated = channels::update(
        &mut conn,
        channel.id,
        &channels::ChannelChanges {
            name: name.as_deref(),
            topic: topic.as_deref(),
            slow_mode_secs: slow,
            archived: body.archived,
            position: body.position,
            group_id: body.group_id.map(|g| g.map(|g| g.0)),
            view_role: body.view_role.map(|r| r.as_str()),
            post_role: body.post_role.map(|r| r.as_str()),
            e2e: body.e2e,
            history_for_new_members: body.history_for_new_members,
        },
    )
    .await?;
    if updated.is_none() {
        return Err(ApiError::new(
            chatalot_protocol::ErrorCode::Conflict,
            "e2e: the mode of a channel that has messages cannot change",
        ));
    }
    live::channel_changed(&state, &mut conn, channel.id, community, &before).await?;
    let (channel, facts) = channels::access(&mut conn, channel.id, me)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(convert::channel(channel, &facts, 0, 0)))
}

/// `DELETE /api/v1/channels/{id}` (admins): with its messages.
pub async fn delete_channel(
    state: Data<AppState>,
    authed: Authed,
    id: Path<ChannelId>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let (channel, facts) = channels::find_visible(&mut conn, id.into_inner(), authed.0.user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let Some(community) = channel.community_id else {
        return Err(ApiError::forbidden("direct messages cannot be deleted"));
    };
    access::require(perms::community(facts.role, Action::ManageChannels))?;
    let before = live::readers(&mut conn, channel.id, community).await?;
    channels::delete(&mut conn, channel.id).await?;
    live::channel_changed(&state, &mut conn, channel.id, community, &before).await?;
    Ok(no_content())
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
    let (channel, _) = channels::find_visible(&mut conn, id.into_inner(), authed.0.user_id)
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
    if channel.community_id.is_none() {
        // in a DM or group DM, nothing of someone a block keeps apart from the caller
        let me = authed.0.user_id;
        let state = channels::direct_state(&mut conn, channel.id).await?;
        let hidden: Vec<_> = state
            .blocks
            .iter()
            .filter_map(|(a, b)| match (*a == me, *b == me) {
                (true, _) => Some(*b),
                (_, true) => Some(*a),
                _ => None,
            })
            .collect();
        list.retain(|m| !m.sender_id.is_some_and(|s| hidden.contains(&s)));
    }
    Ok(Json(MessagePage {
        messages: list.iter().map(chatalot_actors::frames::message).collect(),
        has_more,
    }))
}

/// `DELETE /api/v1/dms/{id}`: the caller leaves a DM or group DM. They stop reading it (their
/// connections are unsubscribed) until they open it again with `POST /api/v1/dms`.
pub async fn leave_dm(
    state: Data<AppState>,
    authed: Authed,
    id: Path<ChannelId>,
) -> ApiResult<HttpResponse> {
    let me = authed.0.user_id;
    let id = id.into_inner();
    let mut conn = state.db.conn().await?;
    let (channel, _) = channels::find_visible(&mut conn, id, me)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if channel.community_id.is_some() {
        return Err(ApiError::not_found());
    }
    if !channels::leave_direct(&mut conn, id, me).await? {
        return Err(ApiError::not_found());
    }
    live::push(
        &state,
        vec![(
            me,
            ServerFrame::ChannelDeleted {
                channel_id: id,
                community_id: None,
            },
        )],
    );
    live::recheck(&state, vec![id]);
    Ok(HttpResponse::NoContent().finish())
}
