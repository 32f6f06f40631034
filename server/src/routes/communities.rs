//! Communities: settings, the directory, joining (public or by invite), members and roles,
//! kicks and bans, invite codes, and channels. Every decision goes through `perms`.

use crate::auth;
use crate::codes;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, ClientInfo, JsonBody};
use crate::live;
use crate::routes::no_content;
use crate::state::AppState;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::HttpResponse;
use chatalot_protocol::api::{
    community_limits as lim, Ban, BanRequest, Channel, ChannelKind, Community, CommunityInvite,
    CreateChannelRequest, CreateCommunityInviteRequest, CreateCommunityRequest, DirectoryEntry,
    JoinCommunityRequest, Member, SetMemberRoleRequest, UpdateCommunityRequest, Visibility,
};
use chatalot_protocol::ids::{ChannelId, CommunityId, InviteId, UserId};
use chatalot_protocol::perms::{self, Action, ChannelFacts, CommunityRole, Decision};
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

/// A trimmed text field of `min..=max` characters without control characters (newlines are
/// allowed).
pub fn text(raw: &str, field: &str, min: usize, max: usize) -> ApiResult<String> {
    let t = raw.trim();
    let n = t.chars().count();
    if n < min || n > max || t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(format!(
            "{field}: {min} to {max} characters without control characters"
        )));
    }
    Ok(t.to_owned())
}

/// A one-line text field (names, statuses): as `text`, without line breaks.
pub fn line(raw: &str, field: &str, min: usize, max: usize) -> ApiResult<String> {
    let t = text(raw, field, min, max)?;
    if t.contains('\n') {
        return Err(ApiError::invalid(format!("{field}: one line")));
    }
    if let Some(why) = crate::validate::deceptive(&t) {
        return Err(ApiError::invalid(format!("{field}: {why}")));
    }
    Ok(t)
}

/// A reference to a stored file (an image id or path): 1 to 200 visible ASCII characters.
pub fn file_ref(raw: &str, field: &str) -> ApiResult<String> {
    if raw.is_empty() || raw.len() > lim::REF_MAX || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(format!(
            "{field}: 1 to 200 visible ASCII characters, or null"
        )));
    }
    Ok(raw.to_owned())
}

/// Turns a decision into the answer: 404 when the caller may not know, 403 when refused.
pub fn require(decision: Decision) -> ApiResult<()> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Forbidden(why) => Err(ApiError::forbidden(why)),
        Decision::Invisible => Err(ApiError::not_found()),
    }
}

fn visibility_of(s: &str) -> Visibility {
    if s == "public" {
        Visibility::Public
    } else {
        Visibility::Private
    }
}

fn vis_str(v: Visibility) -> &'static str {
    match v {
        Visibility::Public => "public",
        Visibility::Private => "private",
    }
}

/// A community in wire form.
pub fn to_api(c: communities::Community, role: Option<CommunityRole>) -> Community {
    Community {
        visibility: visibility_of(&c.visibility),
        id: c.id,
        name: c.name,
        description: c.description,
        discoverable: c.discoverable,
        welcome_message: c.welcome_message,
        icon_ref: c.icon_ref,
        banner_ref: c.banner_ref,
        owner_id: c.owner_id,
        role,
        created_at: c.created_at,
    }
}

fn member_to_api(m: communities::Member) -> Member {
    Member {
        user_id: m.user_id,
        username: m.username,
        display_name: m.display_name,
        role: m.role,
        joined_at: m.joined_at,
    }
}

/// A channel in wire form, with the caller's rights and read state.
pub fn channel_to_api(
    c: channels::Channel,
    facts: &ChannelFacts,
    last_read_seq: i64,
    unread: i64,
) -> Channel {
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
        group_id: c.group_id,
        kind,
        name: c.name,
        topic: c.topic,
        e2e: c.e2e,
        slow_mode_secs: c.slow_mode_secs,
        archived: c.archived,
        position: c.position,
        view_role: c.view_role,
        post_role: c.post_role,
        can_post: perms::post_channel(facts).is_allowed(),
        last_seq: c.last_seq,
        last_read_seq,
        unread,
    }
}

/// The community and the caller's role in it; 404 when it does not exist.
pub async fn load(
    conn: &mut AsyncPgConnection,
    id: CommunityId,
    user: UserId,
) -> ApiResult<(communities::Community, Option<CommunityRole>)> {
    let community = communities::get(conn, id).await?;
    let role = communities::find_role(conn, id, user).await?;
    Ok((community, role))
}

/// Loads the community and checks that the caller may do `action` there.
async fn authorize(
    conn: &mut AsyncPgConnection,
    id: CommunityId,
    user: UserId,
    action: Action,
) -> ApiResult<(communities::Community, CommunityRole)> {
    let (community, role) = load(conn, id, user).await?;
    require(perms::community(role, action))?;
    Ok((community, role.unwrap_or(CommunityRole::Member)))
}

/// `POST /api/v1/communities`: the caller becomes its owner; it starts with a `general` channel.
pub async fn create_community(
    state: Data<AppState>,
    authed: Authed,
    body: JsonBody<CreateCommunityRequest>,
) -> ApiResult<HttpResponse> {
    let name = line(&body.name, "name", 1, lim::NAME_MAX)?;
    let description = text(
        body.description.as_deref().unwrap_or(""),
        "description",
        0,
        lim::DESCRIPTION_MAX,
    )?;
    let vis = vis_str(body.visibility.unwrap_or(Visibility::Private));
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
    Ok(HttpResponse::Created().json(to_api(created, Some(CommunityRole::Owner))))
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

/// `GET /api/v1/communities/{id}`: members see it; anyone sees a public one.
pub async fn get_community(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<Json<Community>> {
    let mut conn = state.db.conn().await?;
    let (community, role) = load(&mut conn, id.into_inner(), authed.0.user_id).await?;
    if role.is_none() && community.visibility != "public" {
        return Err(ApiError::not_found());
    }
    Ok(Json(to_api(community, role)))
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
    let (community, role) = authorize(
        &mut conn,
        id.into_inner(),
        authed.0.user_id,
        Action::EditCommunity,
    )
    .await?;
    let name = body
        .name
        .as_deref()
        .map(|n| line(n, "name", 1, lim::NAME_MAX))
        .transpose()?;
    let description = body
        .description
        .as_deref()
        .map(|d| text(d, "description", 0, lim::DESCRIPTION_MAX))
        .transpose()?;
    let welcome = body
        .welcome_message
        .as_deref()
        .map(|w| text(w, "welcome_message", 0, lim::WELCOME_MAX))
        .transpose()?;
    let icon = match &body.icon_ref {
        Some(Some(r)) => Some(Some(file_ref(r, "icon_ref")?)),
        Some(None) => Some(None),
        None => None,
    };
    let banner = match &body.banner_ref {
        Some(Some(r)) => Some(Some(file_ref(r, "banner_ref")?)),
        Some(None) => Some(None),
        None => None,
    };
    let vis = body.visibility.map(vis_str);
    let public_after = vis.unwrap_or(community.visibility.as_str()) == "public";
    if body.discoverable == Some(true) && !public_after {
        return Err(ApiError::new(
            chatalot_protocol::ErrorCode::Conflict,
            "discoverable: only public communities can be listed in the directory",
        ));
    }
    let updated = communities::update(
        &mut conn,
        community.id,
        &communities::CommunityChanges {
            name: name.as_deref(),
            description: description.as_deref(),
            visibility: vis,
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
            community: to_api(updated.clone(), None),
        },
    )
    .await?;
    Ok(Json(to_api(updated, Some(role))))
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
        authorize(&mut conn, id.into_inner(), user, Action::DeleteCommunity).await?;
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
            .map(|t| text(t, "q", 1, lim::NAME_MAX))
            .transpose()?;
    let mut conn = state.db.conn().await?;
    let list = communities::list_discoverable(&mut conn, query.as_deref(), limit).await?;
    Ok(Json(
        list.into_iter()
            .map(|(c, n)| DirectoryEntry {
                community: to_api(c, None),
                member_count: n,
            })
            .collect(),
    ))
}

/// After a user joined: tell the members, and the joiner about the community's channels.
async fn announce_join(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> ApiResult<()> {
    // the joiner: the channels and groups now open to them
    live::user_visibility_changed(state, conn, community, user, Default::default()).await?;
    crate::routes::groups::announce_to_user(state, conn, community, user, None).await?;
    if let Some(m) = communities::member(conn, community, user).await? {
        live::to_members(
            state,
            conn,
            community,
            None,
            ServerFrame::MemberJoined {
                community_id: community,
                member: member_to_api(m),
            },
        )
        .await?;
    }
    Ok(())
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
        announce_join(state, conn, community.id, user).await?;
    }
    match outcome {
        JoinOutcome::Joined => {
            Ok(HttpResponse::Created().json(to_api(community, Some(CommunityRole::Member))))
        }
        JoinOutcome::AlreadyMember => Ok(HttpResponse::Ok().json(to_api(community, role))),
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
    let (community, role) = load(&mut conn, id.into_inner(), user).await?;
    if role.is_none() && community.visibility != "public" {
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
    let (community, role) = load(&mut conn, community, user).await?;
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
        authorize(&mut conn, id.into_inner(), authed.0.user_id, Action::View).await?;
    let list = communities::members(&mut conn, community.id, MEMBERS_LISTED).await?;
    Ok(Json(list.into_iter().map(member_to_api).collect()))
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
    if was_member {
        live::to_members(
            state,
            conn,
            community,
            Some(target),
            ServerFrame::MemberLeft {
                community_id: community,
                user_id: target,
                reason,
            },
        )
        .await?;
    }
    // the removed user hears `member_left`, then `channel_deleted` for each channel they could
    // read; the gateway ends their subscriptions now
    live::user_visibility_changed(state, conn, community, target, before).await?;
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
    let (community, role) = load(&mut conn, id, me).await?;
    if target == me {
        require(perms::community(role, Action::Leave))?;
        remove(&state, &mut conn, community.id, me, None, LeaveReason::Left).await?;
        return Ok(no_content());
    }
    require(perms::community(role, Action::View))?;
    let target_role = communities::find_role(&mut conn, community.id, target).await?;
    if target_role.is_none() {
        return Err(ApiError::not_found());
    }
    require(perms::on_member(role, Action::Kick, target_role))?;
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
    let (community, role) = load(&mut conn, id, me).await?;
    require(perms::community(role, Action::View))?;
    let target_role = communities::find_role(&mut conn, community.id, target).await?;
    if target_role.is_none() {
        return Err(ApiError::not_found());
    }
    require(perms::set_role(role, target_role, body.role))?;
    let before = live::user_channels(&mut conn, community.id, target).await?;
    let groups_before =
        crate::routes::groups::visible_to(&mut conn, community.id, target, target_role).await?;
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
    crate::routes::groups::announce_to_user(
        &state,
        &mut conn,
        community.id,
        target,
        Some(groups_before),
    )
    .await?;
    let member = communities::member(&mut conn, community.id, target)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(member_to_api(member)))
}

/// `GET /api/v1/communities/{id}/bans` (moderators)
pub async fn list_bans(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<Json<Vec<Ban>>> {
    let mut conn = state.db.conn().await?;
    let (community, _) =
        authorize(&mut conn, id.into_inner(), authed.0.user_id, Action::Ban).await?;
    let list = communities::bans(&mut conn, community.id, BANS_LISTED).await?;
    Ok(Json(
        list.into_iter()
            .map(|b| Ban {
                user_id: b.user_id,
                username: b.username,
                banned_by: b.banned_by,
                reason: b.reason,
                created_at: b.created_at,
            })
            .collect(),
    ))
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
    let reason = text(
        body.reason.as_deref().unwrap_or(""),
        "reason",
        0,
        lim::BAN_REASON_MAX,
    )?;
    let mut conn = state.db.conn().await?;
    let (community, role) = load(&mut conn, id, me).await?;
    require(perms::community(role, Action::View))?;
    if target == me {
        return Err(ApiError::invalid("you cannot ban yourself"));
    }
    // the target must exist; they need not be a member
    chatalot_storage::users::get(&mut conn, target).await?;
    let target_role = communities::find_role(&mut conn, community.id, target).await?;
    require(perms::on_member(role, Action::Ban, target_role))?;
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
    let (community, _) = authorize(&mut conn, id, me, Action::Ban).await?;
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

fn invite_to_api(i: communities::CommunityInvite, code: Option<String>) -> CommunityInvite {
    CommunityInvite {
        id: i.id,
        community_id: i.community_id,
        code,
        created_by: i.created_by,
        max_uses: i.max_uses.map(|n| n as u32),
        uses: i.uses.max(0) as u32,
        expires_at: i.expires_at,
        revoked: i.revoked_at.is_some(),
        created_at: i.created_at,
    }
}

/// `GET /api/v1/communities/{id}/invites` (moderators)
pub async fn list_invites(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<Json<Vec<CommunityInvite>>> {
    let mut conn = state.db.conn().await?;
    let (community, _) = authorize(
        &mut conn,
        id.into_inner(),
        authed.0.user_id,
        Action::ManageInvites,
    )
    .await?;
    let list = communities::invites(&mut conn, community.id, INVITES_LISTED).await?;
    Ok(Json(
        list.into_iter().map(|i| invite_to_api(i, None)).collect(),
    ))
}

/// `POST /api/v1/communities/{id}/invites` (moderators): the code is in this answer only.
pub async fn create_invite(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
    body: JsonBody<CreateCommunityInviteRequest>,
) -> ApiResult<HttpResponse> {
    crate::routes::invites::check_limits(body.max_uses, body.expires_in_secs)?;
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (community, _) = authorize(&mut conn, id.into_inner(), me, Action::ManageInvites).await?;
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
    Ok(HttpResponse::Created().json(invite_to_api(invite, Some(code))))
}

/// `DELETE /api/v1/communities/{id}/invites/{invite_id}` (moderators)
pub async fn revoke_invite(
    state: Data<AppState>,
    authed: Authed,
    path: Path<(CommunityId, InviteId)>,
) -> ApiResult<HttpResponse> {
    let (id, invite) = path.into_inner();
    let mut conn = state.db.conn().await?;
    let (community, _) = authorize(&mut conn, id, authed.0.user_id, Action::ManageInvites).await?;
    if !communities::revoke_invite(&mut conn, community.id, invite).await? {
        return Err(ApiError::not_found());
    }
    Ok(no_content())
}

/// Checks the optional slow mode value: 0 (off) or 5 s to 10 min.
pub fn slow_mode(secs: i32) -> ApiResult<i32> {
    if secs == 0 || (lim::SLOW_MODE_MIN_SECS..=lim::SLOW_MODE_MAX_SECS).contains(&secs) {
        Ok(secs)
    } else {
        Err(ApiError::invalid(
            "slow_mode_secs: 0 (off) or 5 to 600 seconds",
        ))
    }
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
    let (community, _) = authorize(&mut conn, id.into_inner(), me, Action::ManageChannels).await?;
    let name = line(&body.name, "name", 1, lim::NAME_MAX)?;
    let topic = text(
        body.topic.as_deref().unwrap_or(""),
        "topic",
        0,
        lim::TOPIC_MAX,
    )?;
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
    let slow = slow_mode(body.slow_mode_secs.unwrap_or(0))?;
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
    let default_post = if kind == "announcement" {
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
        },
    )
    .await?;
    live::channel_changed(&state, &mut conn, id, community.id, &Default::default()).await?;
    let (channel, facts) = channels::access(&mut conn, id, me)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Created().json(channel_to_api(channel, &facts, 0, 0)))
}
