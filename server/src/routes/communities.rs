//! Communities: settings, the directory, joining (public or by invite), members and roles,
//! kicks and bans, invite codes, and channels. Every decision goes through `perms`.

use crate::access;
use crate::auth;
use crate::codes;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, ClientInfo, JsonBody};
use crate::live;
use crate::media::claim_image;
use crate::routes::no_content;
use crate::state::AppState;
use crate::validate;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::HttpResponse;
use chatalot_protocol::api::{
    community_limits as lim, Ban, BanRequest, ChannelKind, Community, CommunityInvite,
    CreateChannelRequest, CreateCommunityInviteRequest, CreateCommunityRequest, DirectoryEntry,
    ImageKind, JoinCommunityRequest, Member, SetMemberRoleRequest, UpdateCommunityRequest,
    Visibility,
};
use chatalot_protocol::ids::{ChannelId, CommunityId, InviteId, UserId};
use chatalot_protocol::perms::{self, Action, CommunityRole};
use chatalot_protocol::ws::{LeaveReason, ServerFrame};
use chatalot_storage::communities::JoinOutcome;
use chatalot_storage::AsyncPgConnection;
use chatalot_storage::{channels, communities, groups};
use serde::Deserialize;
use time::OffsetDateTime;

const COMMUNITIES_LISTED: i64 = 500;
const MEMBERS_LISTED: i64 = 1000;
const INVITES_LISTED: i64 = 200;
const BANS_LISTED: i64 = 1000;

/// `POST /api/v1/communities`: the caller becomes its owner; it starts with a `general` channel.
pub async fn create_community(
    state: Data<AppState>,
    authed: Authed,
    body: JsonBody<CreateCommunityRequest>,
) -> ApiResult<HttpResponse> {
    let name = validate::line(&body.name, "name", 1, lim::NAME_MAX)?;
    let description = validate::text(
        body.description.as_deref().unwrap_or(""),
        "description",
        0,
        lim::DESCRIPTION_MAX,
    )?;
    let vis = body.visibility.unwrap_or(Visibility::Private);
    let mut conn = state.db.conn().await?;
    room_for_one_more(&mut conn, authed.0.user_id).await?;
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
    Ok(HttpResponse::Created().json(convert::community(created, Some(CommunityRole::Owner))))
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
            .map(|(c, role)| convert::community(c, Some(role)))
            .collect(),
    ))
}

/// `GET /api/v1/communities/{id}`: members see it; anyone sees a public one.
pub async fn get_community(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<Json<Community>> {
    let mut conn = state.db.conn().await?;
    let (community, role) = access::community(&mut conn, id.into_inner(), authed.0.user_id).await?;
    if role.is_none() && community.visibility != Visibility::Public {
        return Err(ApiError::not_found());
    }
    Ok(Json(convert::community(community, role)))
}

/// `PATCH /api/v1/communities/{id}` (admins).
pub async fn update_community(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
    body: JsonBody<UpdateCommunityRequest>,
) -> ApiResult<Json<Community>> {
    let body = body.into_inner();
    let mut conn = state.db.conn().await?;
    let (community, role) = access::authorize(
        &mut conn,
        id.into_inner(),
        authed.0.user_id,
        Action::EditCommunity,
    )
    .await?;
    let name = body
        .name
        .as_deref()
        .map(|n| validate::line(n, "name", 1, lim::NAME_MAX))
        .transpose()?;
    let description = body
        .description
        .as_deref()
        .map(|d| validate::text(d, "description", 0, lim::DESCRIPTION_MAX))
        .transpose()?;
    let welcome = body
        .welcome_message
        .as_deref()
        .map(|w| validate::text(w, "welcome_message", 0, lim::WELCOME_MAX))
        .transpose()?;
    let public_after = body.visibility.unwrap_or(community.visibility) == Visibility::Public;
    if body.discoverable == Some(true) && !public_after {
        return Err(ApiError::new(
            chatalot_protocol::ErrorCode::Conflict,
            "discoverable: only public communities can be listed in the directory",
        ));
    }
    let icon = claim_image(&mut conn, &body.icon_ref, ImageKind::Icon, "icon_ref").await?;
    let banner = claim_image(&mut conn, &body.banner_ref, ImageKind::Banner, "banner_ref").await?;
    let updated = communities::update(
        &mut conn,
        community.id,
        &communities::CommunityChanges {
            name: name.as_deref(),
            description: description.as_deref(),
            visibility: body.visibility,
            icon_ref: icon.as_ref().map(|o| o.as_deref()),
            banner_ref: banner.as_ref().map(|o| o.as_deref()),
            welcome_message: welcome.as_deref(),
            discoverable: body.discoverable,
        },
    )
    .await?;
    live::to_members(
        &state,
        &mut conn,
        updated.id,
        None,
        ServerFrame::CommunityUpdated {
            community: convert::community(updated.clone(), None),
        },
    )
    .await?;
    Ok(Json(convert::community(updated, Some(role))))
}

/// `DELETE /api/v1/communities/{id}` (owner): with its channels and messages.
pub async fn delete_community(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    id: Path<CommunityId>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let user = authed.0.user_id;
    let (community, _) =
        access::authorize(&mut conn, id.into_inner(), user, Action::DeleteCommunity).await?;
    let members = communities::member_ids(&mut conn, community.id).await?;
    let channel_ids = channels::ids_in_community(&mut conn, community.id).await?;
    communities::delete(&mut conn, community.id).await?;
    auth::record_on(
        &mut conn,
        Some(user),
        "community_deleted",
        Some(community.id.0),
        &client,
    )
    .await;
    live::push(
        &state,
        members
            .into_iter()
            .map(|u| {
                (
                    u,
                    ServerFrame::CommunityDeleted {
                        community_id: community.id,
                    },
                )
            })
            .collect(),
    );
    live::recheck(&state, channel_ids);
    Ok(no_content())
}

/// `?q=&limit=` for the directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryQuery {
    q: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/directory`: public communities that chose to be listed.
pub async fn list_directory(
    state: Data<AppState>,
    _authed: Authed,
    q: Query<DirectoryQuery>,
) -> ApiResult<Json<Vec<DirectoryEntry>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 100"));
    }
    let query =
        q.q.as_deref()
            .map(|t| validate::text(t, "q", 1, lim::NAME_MAX))
            .transpose()?;
    let mut conn = state.db.conn().await?;
    let list = communities::list_discoverable(&mut conn, query.as_deref(), limit).await?;
    Ok(Json(
        list.into_iter()
            .map(|(c, n)| DirectoryEntry {
                community: convert::community(c, None),
                member_count: n,
            })
            .collect(),
    ))
}

/// Answers a join; on success the members hear of the newcomer.
async fn finish_join(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    outcome: JoinOutcome,
    community: communities::Community,
    role: Option<CommunityRole>,
    user: UserId,
) -> ApiResult<HttpResponse> {
    if outcome == JoinOutcome::Joined {
        live::member_joined(state, conn, community.id, user).await?;
    }
    match outcome {
        JoinOutcome::Joined => Ok(HttpResponse::Created()
            .json(convert::community(community, Some(CommunityRole::Member)))),
        JoinOutcome::AlreadyMember => {
            Ok(HttpResponse::Ok().json(convert::community(community, role)))
        }
        JoinOutcome::Banned => Err(ApiError::forbidden("you are banned from this community")),
        JoinOutcome::InvalidInvite => Err(ApiError::not_found()),
    }
}

/// `POST /api/v1/communities/{id}/members`: join a public community (idempotent). Private
/// communities are invisible here; banned users are refused.
pub async fn join_community(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let user = authed.0.user_id;
    let (community, role) = access::community(&mut conn, id.into_inner(), user).await?;
    if role.is_none() && community.visibility != Visibility::Public {
        return Err(ApiError::not_found());
    }
    if role.is_none() {
        room_for_one_more(&mut conn, user).await?;
    }
    let outcome = communities::join(&mut conn, community.id, user).await?;
    finish_join(&state, &mut conn, outcome, community, role, user).await
}

/// `quota_exceeded` when `user` belongs to the most communities allowed already.
async fn room_for_one_more(conn: &mut AsyncPgConnection, user: UserId) -> ApiResult<()> {
    if communities::count_for_user(conn, user).await? >= lim::MEMBERSHIPS_PER_USER as i64 {
        return Err(ApiError::new(
            chatalot_protocol::ErrorCode::QuotaExceeded,
            format!(
                "you belong to the most communities allowed ({}); leave one first",
                lim::MEMBERSHIPS_PER_USER
            ),
        ));
    }
    Ok(())
}

/// `POST /api/v1/community_joins`: join by invite code. Unknown, revoked, expired and used-up
/// codes all answer 404; a banned user is refused and uses nothing.
pub async fn join_by_invite(
    state: Data<AppState>,
    authed: Authed,
    body: JsonBody<JoinCommunityRequest>,
) -> ApiResult<HttpResponse> {
    let Some(code) = codes::canonical_invite(&body.code) else {
        return Err(ApiError::invalid(
            "code: an invite code like XXXX-XXXX-XXXX-XXXX",
        ));
    };
    let user = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    room_for_one_more(&mut conn, user).await?;
    let (community, outcome) =
        communities::join_by_invite(&mut conn, &codes::hash_code(&code), user).await?;
    let Some(community) = community else {
        return Err(ApiError::not_found());
    };
    let (community, role) = access::community(&mut conn, community, user).await?;
    finish_join(&state, &mut conn, outcome, community, role, user).await
}

/// `GET /api/v1/communities/{id}/members`
pub async fn list_members(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<Json<Vec<Member>>> {
    let mut conn = state.db.conn().await?;
    let (community, _) =
        access::authorize(&mut conn, id.into_inner(), authed.0.user_id, Action::View).await?;
    let list = communities::members(&mut conn, community.id, MEMBERS_LISTED).await?;
    Ok(Json(list.into_iter().map(convert::member).collect()))
}

/// Removes a member (left, kicked or banned) and cuts them off everywhere in the community at
/// once: their subscriptions end and the members are told.
async fn remove(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    target: UserId,
    ban: Option<(UserId, &str)>,
    reason: LeaveReason,
) -> ApiResult<bool> {
    let before = live::user_channels(conn, community, target).await?;
    let was_member = communities::remove_member(conn, community, target, ban).await?;
    live::member_left(state, conn, community, target, reason, was_member, before).await?;
    Ok(was_member)
}

/// `DELETE /api/v1/communities/{id}/members/{user_id}`: leave (oneself) or kick (moderators,
/// members of lower rank).
pub async fn remove_member(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    path: Path<(CommunityId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (id, target) = path.into_inner();
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (community, role) = access::community(&mut conn, id, me).await?;
    if target == me {
        access::require(perms::community(role, Action::Leave))?;
        remove(&state, &mut conn, community.id, me, None, LeaveReason::Left).await?;
        return Ok(no_content());
    }
    access::require(perms::community(role, Action::View))?;
    let target_role = communities::find_role(&mut conn, community.id, target).await?;
    if target_role.is_none() {
        return Err(ApiError::not_found());
    }
    access::require(perms::on_member(role, Action::Kick, target_role))?;
    remove(
        &state,
        &mut conn,
        community.id,
        target,
        None,
        LeaveReason::Kicked,
    )
    .await?;
    auth::record_on(
        &mut conn,
        Some(me),
        "member_kicked",
        Some(target.0),
        &client,
    )
    .await;
    Ok(no_content())
}

/// `PUT /api/v1/communities/{id}/members/{user_id}/role` (admins; roles below their own).
pub async fn set_member_role(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    path: Path<(CommunityId, UserId)>,
    body: JsonBody<SetMemberRoleRequest>,
) -> ApiResult<Json<Member>> {
    let (id, target) = path.into_inner();
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (community, role) = access::community(&mut conn, id, me).await?;
    access::require(perms::community(role, Action::View))?;
    let target_role = communities::find_role(&mut conn, community.id, target).await?;
    if target_role.is_none() {
        return Err(ApiError::not_found());
    }
    access::require(perms::set_role(role, target_role, body.role))?;
    let before = live::user_channels(&mut conn, community.id, target).await?;
    let groups_before = live::visible_groups(&mut conn, community.id, target, target_role).await?;
    communities::set_role(&mut conn, community.id, target, body.role).await?;
    auth::record_on(
        &mut conn,
        Some(me),
        "member_role_changed",
        Some(target.0),
        &client,
    )
    .await;
    live::to_members(
        &state,
        &mut conn,
        community.id,
        None,
        ServerFrame::MemberRoleChanged {
            community_id: community.id,
            user_id: target,
            role: body.role,
        },
    )
    .await?;
    live::user_visibility_changed(&state, &mut conn, community.id, target, before).await?;
    live::groups_changed_for(&state, &mut conn, community.id, target, Some(groups_before)).await?;
    let member = communities::member(&mut conn, community.id, target)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(convert::member(member)))
}

/// `GET /api/v1/communities/{id}/bans` (moderators)
pub async fn list_bans(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<Json<Vec<Ban>>> {
    let mut conn = state.db.conn().await?;
    let (community, _) =
        access::authorize(&mut conn, id.into_inner(), authed.0.user_id, Action::Ban).await?;
    let list = communities::bans(&mut conn, community.id, BANS_LISTED).await?;
    Ok(Json(list.into_iter().map(convert::ban).collect()))
}

/// `PUT /api/v1/communities/{id}/bans/{user_id}` (moderators): removes the user if a member
/// and keeps them out on every join path.
pub async fn ban_member(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    path: Path<(CommunityId, UserId)>,
    body: JsonBody<BanRequest>,
) -> ApiResult<HttpResponse> {
    let (id, target) = path.into_inner();
    let me = authed.0.user_id;
    let reason = validate::text(
        body.reason.as_deref().unwrap_or(""),
        "reason",
        0,
        lim::BAN_REASON_MAX,
    )?;
    let mut conn = state.db.conn().await?;
    let (community, role) = access::community(&mut conn, id, me).await?;
    access::require(perms::community(role, Action::View))?;
    if target == me {
        return Err(ApiError::invalid("you cannot ban yourself"));
    }
    // the target must exist; they need not be a member
    chatalot_storage::users::get(&mut conn, target).await?;
    let target_role = communities::find_role(&mut conn, community.id, target).await?;
    access::require(perms::on_member(role, Action::Ban, target_role))?;
    remove(
        &state,
        &mut conn,
        community.id,
        target,
        Some((me, &reason)),
        LeaveReason::Banned,
    )
    .await?;
    auth::record_on(
        &mut conn,
        Some(me),
        "member_banned",
        Some(target.0),
        &client,
    )
    .await;
    Ok(no_content())
}

/// `DELETE /api/v1/communities/{id}/bans/{user_id}` (moderators)
pub async fn unban_member(
    state: Data<AppState>,
    authed: Authed,
    client: ClientInfo,
    path: Path<(CommunityId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (id, target) = path.into_inner();
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (community, _) = access::authorize(&mut conn, id, me, Action::Ban).await?;
    if !communities::unban(&mut conn, community.id, target).await? {
        return Err(ApiError::not_found());
    }
    auth::record_on(
        &mut conn,
        Some(me),
        "member_unbanned",
        Some(target.0),
        &client,
    )
    .await;
    Ok(no_content())
}

/// `GET /api/v1/communities/{id}/invites` (moderators)
pub async fn list_invites(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<Json<Vec<CommunityInvite>>> {
    let mut conn = state.db.conn().await?;
    let (community, _) = access::authorize(
        &mut conn,
        id.into_inner(),
        authed.0.user_id,
        Action::ManageInvites,
    )
    .await?;
    let list = communities::invites(&mut conn, community.id, INVITES_LISTED).await?;
    Ok(Json(
        list.into_iter()
            .map(|i| convert::community_invite(i, None))
            .collect(),
    ))
}

/// `POST /api/v1/communities/{id}/invites` (moderators): the code is in this answer only.
pub async fn create_invite(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
    body: JsonBody<CreateCommunityInviteRequest>,
) -> ApiResult<HttpResponse> {
    validate::invite_limits(body.max_uses, body.expires_in_secs)?;
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (community, _) =
        access::authorize(&mut conn, id.into_inner(), me, Action::ManageInvites).await?;
    let code = codes::new_invite_code();
    let invite = communities::insert_invite(
        &mut conn,
        InviteId::new(),
        community.id,
        &codes::hash_code(&code),
        me,
        body.max_uses.map(|n| n as i32),
        body.expires_in_secs
            .map(|s| OffsetDateTime::now_utc() + time::Duration::seconds(s as i64)),
    )
    .await?;
    Ok(HttpResponse::Created().json(convert::community_invite(invite, Some(code))))
}

/// `DELETE /api/v1/communities/{id}/invites/{invite_id}` (moderators)
pub async fn revoke_invite(
    state: Data<AppState>,
    authed: Authed,
    path: Path<(CommunityId, InviteId)>,
) -> ApiResult<HttpResponse> {
    let (id, invite) = path.into_inner();
    let mut conn = state.db.conn().await?;
    let (community, _) =
        access::authorize(&mut conn, id, authed.0.user_id, Action::ManageInvites).await?;
    if !communities::revoke_invite(&mut conn, community.id, invite).await? {
        return Err(ApiError::not_found());
    }
    Ok(no_content())
}

/// `POST /api/v1/communities/{id}/channels` (admins)
pub async fn create_channel(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
    body: JsonBody<CreateChannelRequest>,
) -> ApiResult<HttpResponse> {
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (community, _) =
        access::authorize(&mut conn, id.into_inner(), me, Action::ManageChannels).await?;
    let name = validate::line(&body.name, "name", 1, lim::NAME_MAX)?;
    let topic = validate::text(
        body.topic.as_deref().unwrap_or(""),
        "topic",
        0,
        lim::TOPIC_MAX,
    )?;
    let kind = body.kind.unwrap_or(ChannelKind::Text);
    match kind {
        ChannelKind::Text | ChannelKind::Voice | ChannelKind::Announcement => {}
        ChannelKind::Dm | ChannelKind::GroupDm => {
            return Err(ApiError::invalid(
                "kind: text, voice or announcement (DMs are opened with POST /api/v1/dms)",
            ))
        }
    };
    let slow = validate::slow_mode(body.slow_mode_secs.unwrap_or(0))?;
    if let Some(g) = body.group_id {
        match groups::get(&mut conn, g).await {
            Ok(group) if group.community_id == community.id => {}
            _ => {
                return Err(ApiError::new(
                    chatalot_protocol::ErrorCode::NotFound,
                    "group_id: no such group in this community",
                ))
            }
        }
    }
    let default_post = if kind == ChannelKind::Announcement {
        CommunityRole::Moderator
    } else {
        CommunityRole::Member
    };
    if channels::ids_in_community(&mut conn, community.id)
        .await?
        .len()
        >= lim::CHANNELS_MAX
    {
        return Err(ApiError::invalid("a community has at most 500 channels"));
    }
    let id = ChannelId::new();
    channels::insert(
        &mut conn,
        &channels::NewChannel {
            id,
            community_id: community.id,
            kind,
            name: &name,
            topic: &topic,
            e2e: body.e2e.unwrap_or(true),
            group_id: body.group_id,
            view_role: body.view_role.unwrap_or(CommunityRole::Member),
            post_role: body.post_role.unwrap_or(default_post),
            position: body.position.unwrap_or(0),
            slow_mode_secs: slow,
            created_by: me,
            history_for_new_members: body.history_for_new_members.unwrap_or(true),
        },
    )
    .await?;
    live::channel_changed(&state, &mut conn, id, community.id, &Default::default()).await?;
    let (channel, facts) = channels::access(&mut conn, id, me)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Created().json(convert::channel(channel, &facts, 0, 0)))
}
