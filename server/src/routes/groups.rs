//! Groups of channels inside a community, and who is in them.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody};
use crate::live;
use crate::routes::communities::{line, load, require};
use crate::routes::no_content;
use crate::state::AppState;
use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use chatalot_protocol::api::{
    community_limits as lim, CreateGroupRequest, Group, UpdateGroupRequest,
};
use chatalot_protocol::ids::{CommunityId, GroupId, UserId};
use chatalot_protocol::perms::{self, Action, CommunityRole, Decision, GroupKind};
use chatalot_protocol::ws::ServerFrame;
use chatalot_storage::AsyncPgConnection;
use chatalot_storage::{communities, groups};
use std::collections::HashSet;

fn to_api(g: groups::Group) -> Group {
    Group {
        id: g.id,
        community_id: g.community_id,
        name: g.name,
        kind: g.kind,
        assigned_to: g.assigned_to,
        position: g.position,
    }
}

/// The members of the group's community who may see the group.
async fn viewers(conn: &mut AsyncPgConnection, g: &groups::Group) -> ApiResult<HashSet<UserId>> {
    let inside: HashSet<UserId> = groups::member_ids(conn, g.id).await?.into_iter().collect();
    let members = communities::members(conn, g.community_id, i64::MAX).await?;
    Ok(members
        .into_iter()
        .filter(|m| perms::view_group(Some(m.role), g.kind, inside.contains(&m.user_id)))
        .map(|m| m.user_id)
        .collect())
}

/// The group, if the caller may see it, with the caller's role; 404 otherwise.
async fn visible(
    conn: &mut AsyncPgConnection,
    id: GroupId,
    user: UserId,
) -> ApiResult<(groups::Group, CommunityRole, bool)> {
    let g = groups::get(conn, id).await?;
    let role = communities::find_role(conn, g.community_id, user).await?;
    let inside = groups::member_ids(conn, g.id).await?.contains(&user);
    if !perms::view_group(role, g.kind, inside) {
        return Err(ApiError::not_found());
    }
    Ok((g, role.unwrap_or(CommunityRole::Member), inside))
}

/// Tells members who gained or lost sight of the group, and those who still see it.
fn announce(
    state: &AppState,
    g: Option<&groups::Group>,
    id: GroupId,
    community: CommunityId,
    before: &HashSet<UserId>,
    after: &HashSet<UserId>,
    changed: bool,
) {
    let mut out = Vec::new();
    if let Some(g) = g {
        for u in after {
            if !before.contains(u) {
                out.push((
                    *u,
                    ServerFrame::GroupCreated {
                        group: to_api(g.clone()),
                    },
                ));
            } else if changed {
                out.push((
                    *u,
                    ServerFrame::GroupUpdated {
                        group: to_api(g.clone()),
                    },
                ));
            }
        }
    }
    for u in before.difference(after) {
        out.push((
            *u,
            ServerFrame::GroupDeleted {
                group_id: id,
                community_id: community,
            },
        ));
    }
    live::push(state, out);
}

/// The groups of a community a member with `role` sees.
pub async fn visible_to(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
    role: Option<CommunityRole>,
) -> ApiResult<Vec<groups::Group>> {
    let list = groups::list(conn, community, user).await?;
    Ok(list
        .into_iter()
        .filter(|(g, inside)| perms::view_group(role, g.kind, *inside))
        .map(|(g, _)| g)
        .collect())
}

/// Tells one user which groups appeared or went for them (after joining, or a role change).
pub async fn announce_to_user(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
    before: Option<Vec<groups::Group>>,
) -> ApiResult<()> {
    let role = communities::find_role(conn, community, user).await?;
    let now = visible_to(conn, community, user, role).await?;
    let before = before.unwrap_or_default();
    let had: HashSet<GroupId> = before.iter().map(|g| g.id).collect();
    let has: HashSet<GroupId> = now.iter().map(|g| g.id).collect();
    let mut out = Vec::new();
    for g in now.into_iter().filter(|g| !had.contains(&g.id)) {
        out.push((user, ServerFrame::GroupCreated { group: to_api(g) }));
    }
    for g in before.into_iter().filter(|g| !has.contains(&g.id)) {
        out.push((
            user,
            ServerFrame::GroupDeleted {
                group_id: g.id,
                community_id: community,
            },
        ));
    }
    live::push(state, out);
    Ok(())
}

/// `GET /api/v1/communities/{id}/groups`: the groups the caller may see, in order.
pub async fn list_groups(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<Json<Vec<Group>>> {
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (community, role) = load(&mut conn, id.into_inner(), me).await?;
    require(perms::community(role, Action::View))?;
    let list = visible_to(&mut conn, community.id, me, role).await?;
    Ok(Json(list.into_iter().map(to_api).collect()))
}

/// `POST /api/v1/communities/{id}/groups`: admins create public and private groups;
/// moderators assign personal groups.
pub async fn create_group(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
    body: JsonBody<CreateGroupRequest>,
) -> ApiResult<HttpResponse> {
    let me = authed.0.user_id;
    let kind = body.kind.unwrap_or(GroupKind::Public);
    let mut conn = state.db.conn().await?;
    let (community, role) = load(&mut conn, id.into_inner(), me).await?;
    let action = if kind == GroupKind::Personal {
        Action::ManageGroupMembers
    } else {
        Action::ManageChannels
    };
    require(perms::community(role, action))?;
    let name = line(&body.name, "name", 1, lim::NAME_MAX)?;
    let assigned = match (kind, body.assigned_to) {
        (GroupKind::Personal, Some(u)) => {
            if communities::find_role(&mut conn, community.id, u)
                .await?
                .is_none()
            {
                return Err(ApiError::new(
                    chatalot_protocol::ErrorCode::NotFound,
                    "assigned_to: not a member of this community",
                ));
            }
            Some(u)
        }
        (GroupKind::Personal, None) => {
            return Err(ApiError::invalid(
                "assigned_to: required for a personal group",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid(
                "assigned_to: only personal groups are assigned",
            ))
        }
        (_, None) => None,
    };
    if groups::count(&mut conn, community.id).await? >= lim::GROUPS_MAX as i64 {
        return Err(ApiError::invalid("a community has at most 200 groups"));
    }
    let g = groups::insert(
        &mut conn,
        GroupId::new(),
        community.id,
        &name,
        kind,
        assigned,
        body.position.unwrap_or(0),
    )
    .await?;
    let after = viewers(&mut conn, &g).await?;
    announce(
        &state,
        Some(&g),
        g.id,
        community.id,
        &HashSet::new(),
        &after,
        false,
    );
    Ok(HttpResponse::Created().json(to_api(g)))
}

/// `PATCH /api/v1/groups/{id}` (admins): rename or move.
pub async fn update_group(
    state: Data<AppState>,
    authed: Authed,
    id: Path<GroupId>,
    body: JsonBody<UpdateGroupRequest>,
) -> ApiResult<Json<Group>> {
    let mut conn = state.db.conn().await?;
    let (g, role, _) = visible(&mut conn, id.into_inner(), authed.0.user_id).await?;
    require(perms::community(Some(role), Action::ManageChannels))?;
    let name = body
        .name
        .as_deref()
        .map(|n| line(n, "name", 1, lim::NAME_MAX))
        .transpose()?;
    let updated = groups::update(&mut conn, g.id, name.as_deref(), body.position).await?;
    let seen = viewers(&mut conn, &updated).await?;
    announce(
        &state,
        Some(&updated),
        g.id,
        g.community_id,
        &seen,
        &seen,
        true,
    );
    Ok(Json(to_api(updated)))
}

/// `DELETE /api/v1/groups/{id}` (admins): with its channels.
pub async fn delete_group(
    state: Data<AppState>,
    authed: Authed,
    id: Path<GroupId>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let (g, role, _) = visible(&mut conn, id.into_inner(), authed.0.user_id).await?;
    require(perms::community(Some(role), Action::ManageChannels))?;
    let seen = viewers(&mut conn, &g).await?;
    // the group's channels go with it: their readers hear `channel_deleted`
    let mut channels_before = Vec::new();
    for channel in chatalot_storage::channels::ids_in_group(&mut conn, g.id).await? {
        let readers = live::readers(&mut conn, channel, g.community_id).await?;
        channels_before.push((channel, readers));
    }
    groups::delete(&mut conn, g.id).await?;
    announce(
        &state,
        None,
        g.id,
        g.community_id,
        &seen,
        &HashSet::new(),
        false,
    );
    for (channel, readers) in channels_before {
        live::channel_changed(&state, &mut conn, channel, g.community_id, &readers).await?;
    }
    Ok(no_content())
}

/// Who may put `target` into (or take them out of) a group: anyone themselves for public
/// groups, moderators for everything else.
fn membership_decision(
    role: CommunityRole,
    g: &groups::Group,
    me: UserId,
    target: UserId,
) -> Decision {
    if target == me && g.kind == GroupKind::Public {
        return Decision::Allow;
    }
    perms::community(Some(role), Action::ManageGroupMembers)
}

/// `PUT /api/v1/groups/{id}/members/{user_id}`
pub async fn add_group_member(
    state: Data<AppState>,
    authed: Authed,
    path: Path<(GroupId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (id, target) = path.into_inner();
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (g, role, _) = visible(&mut conn, id, me).await?;
    require(membership_decision(role, &g, me, target))?;
    let seen = viewers(&mut conn, &g).await?;
    let channels_before = live::user_channels(&mut conn, g.community_id, target).await?;
    let added = match groups::add_member(&mut conn, &g, target).await {
        Ok(added) => added,
        Err(chatalot_storage::StorageError::NotFound) => {
            return Err(ApiError::new(
                chatalot_protocol::ErrorCode::NotFound,
                "user_id: not a member of this community",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    if added {
        let after = viewers(&mut conn, &g).await?;
        announce(&state, Some(&g), g.id, g.community_id, &seen, &after, false);
        live::user_visibility_changed(&state, &mut conn, g.community_id, target, channels_before)
            .await?;
    }
    Ok(no_content())
}

/// `DELETE /api/v1/groups/{id}/members/{user_id}`: leave, or (moderators) remove someone.
pub async fn remove_group_member(
    state: Data<AppState>,
    authed: Authed,
    path: Path<(GroupId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (id, target) = path.into_inner();
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (g, role, _) = visible(&mut conn, id, me).await?;
    if target != me {
        let target_role = communities::find_role(&mut conn, g.community_id, target).await?;
        require(perms::on_member(
            Some(role),
            Action::ManageGroupMembers,
            target_role,
        ))?;
    }
    let seen = viewers(&mut conn, &g).await?;
    let channels_before = live::user_channels(&mut conn, g.community_id, target).await?;
    if !groups::remove_member(&mut conn, g.id, target).await? {
        return Err(ApiError::not_found());
    }
    let after = viewers(&mut conn, &g).await?;
    announce(&state, Some(&g), g.id, g.community_id, &seen, &after, false);
    live::user_visibility_changed(&state, &mut conn, g.community_id, target, channels_before)
        .await?;
    Ok(no_content())
}
