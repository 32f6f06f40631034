//! Communities: create, list one's own, join a public one, add channels.

use crate::error::{ApiError, ApiResult};
use crate::extract::Authed;
use crate::state::AppState;
use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use chatalot_protocol::api::{
    Channel, ChannelKind, Community, CreateChannelRequest, CreateCommunityRequest, Visibility,
};
use chatalot_protocol::ids::{ChannelId, CommunityId};
use chatalot_storage::{channels, communities};

const COMMUNITIES_LISTED: i64 = 500;

fn text(raw: &str, field: &str, min: usize, max: usize) -> ApiResult<String> {
    let t = raw.trim();
    let n = t.chars().count();
    if n < min || n > max || t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(format!(
            "{field}: {min} to {max} characters without control characters"
        )));
    }
    Ok(t.to_owned())
}

fn visibility(s: &str) -> Visibility {
    if s == "public" {
        Visibility::Public
    } else {
        Visibility::Private
    }
}

fn to_api(c: communities::Community, role: Option<String>) -> Community {
    Community {
        visibility: visibility(&c.visibility),
        id: c.id,
        name: c.name,
        description: c.description,
        owner_id: c.owner_id,
        role,
        created_at: c.created_at,
    }
}

/// A channel in wire form, with read state.
pub fn channel_to_api(c: channels::Channel, last_read_seq: i64, unread: i64) -> Channel {
    let kind = match c.kind.as_str() {
        "voice" => ChannelKind::Voice,
        "announcement" => ChannelKind::Announcement,
        "dm" => ChannelKind::Dm,
        "group_dm" => ChannelKind::GroupDm,
        _ => ChannelKind::Text,
    };
    Channel {
        id: c.id,
        community_id: c.community_id,
        kind,
        name: c.name,
        topic: c.topic,
        e2e: c.e2e,
        slow_mode_secs: c.slow_mode_secs,
        archived: c.archived,
        last_seq: c.last_seq,
        last_read_seq,
        unread,
    }
}

/// `POST /api/v1/communities`: the caller becomes its owner; it starts with a `general` channel.
pub async fn create_community(
    state: Data<AppState>,
    authed: Authed,
    body: Json<CreateCommunityRequest>,
) -> ApiResult<HttpResponse> {
    let name = text(&body.name, "name", 1, 100)?;
    let description = text(
        body.description.as_deref().unwrap_or(""),
        "description",
        0,
        1000,
    )?;
    let vis = match body.visibility.unwrap_or(Visibility::Private) {
        Visibility::Public => "public",
        Visibility::Private => "private",
    };
    let mut conn = state.db.conn().await?;
    let created = communities::insert(
        &mut conn,
        &communities::NewCommunity {
            id: CommunityId::new(),
            name: &name,
            description: &description,
            visibility: vis,
            owner: authed.0.user_id,
            first_channel: ChannelId::new(),
            first_channel_name: "general",
            e2e: body.e2e.unwrap_or(true),
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(to_api(created, Some("owner".into()))))
}

/// `GET /api/v1/communities`: the communities the caller belongs to.
pub async fn list_communities(
    state: Data<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<Community>>> {
    let mut conn = state.db.conn().await?;
    let list = communities::list_for_user(&mut conn, authed.0.user_id, COMMUNITIES_LISTED).await?;
    Ok(Json(
        list.into_iter()
            .map(|(c, role)| to_api(c, Some(role)))
            .collect(),
    ))
}

/// `POST /api/v1/communities/{id}/members`: join a public community (idempotent). Private
/// communities are invisible here.
pub async fn join_community(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let community = communities::get(&mut conn, id.into_inner()).await?;
    let user = authed.0.user_id;
    let role = communities::find_role(&mut conn, community.id, user).await?;
    if role.is_none() && community.visibility != "public" {
        return Err(ApiError::not_found());
    }
    let added = communities::insert_member(&mut conn, community.id, user).await?;
    let role = role.unwrap_or_else(|| "member".into());
    let body = to_api(community, Some(role));
    Ok(if added {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// `POST /api/v1/communities/{id}/channels`: the owner or an admin adds a channel.
pub async fn create_channel(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
    body: Json<CreateChannelRequest>,
) -> ApiResult<HttpResponse> {
    let community = id.into_inner();
    let mut conn = state.db.conn().await?;
    match communities::find_role(&mut conn, community, authed.0.user_id)
        .await?
        .as_deref()
    {
        None => return Err(ApiError::not_found()),
        Some("owner") | Some("admin") => {}
        Some(_) => {
            return Err(ApiError::forbidden(
                "only the community owner and admins add channels",
            ))
        }
    }
    let name = text(&body.name, "name", 1, 100)?;
    let topic = text(body.topic.as_deref().unwrap_or(""), "topic", 0, 1000)?;
    let kind = match body.kind.unwrap_or(ChannelKind::Text) {
        ChannelKind::Text => "text",
        ChannelKind::Voice => "voice",
        ChannelKind::Announcement => "announcement",
        ChannelKind::Dm | ChannelKind::GroupDm => {
            return Err(ApiError::invalid(
                "kind: text, voice or announcement (DMs are opened with POST /api/v1/dms)",
            ))
        }
    };
    let created = channels::insert(
        &mut conn,
        &channels::NewChannel {
            id: ChannelId::new(),
            community_id: community,
            kind,
            name: &name,
            topic: &topic,
            e2e: body.e2e.unwrap_or(true),
            created_by: authed.0.user_id,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(channel_to_api(created, 0, 0)))
}
