//! Groups of channels inside a community, and who is in them.

use crate::access;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Authed, JsonBody};
use crate::live;
use crate::routes::no_content;
use crate::state::AppState;
use crate::validate;
use actix_web::web::{Data, Json, Path};
use actix_web::HttpResponse;
use chatalot_protocol::api::{
    community_limits as lim, CreateGroupRequest, Group, UpdateGroupRequest,
};
use chatalot_protocol::ids::{CommunityId, GroupId, UserId};
use chatalot_protocol::perms::{self, Action, GroupKind};
use chatalot_storage::{communities, groups};
use std::collections::HashSet;

/// `GET /api/v1/communities/{id}/groups`: the groups the caller may see, in order.
pub async fn list_groups(
    state: Data<AppState>,
    authed: Authed,
    id: Path<CommunityId>,
) -> ApiResult<Json<Vec<Group>>> {
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (community, role) = access::community(&mut conn, id.into_inner(), me).await?;
    access::require(perms::community(role, Action::View))?;
    let list = live::visible_groups(&mut conn, community.id, me, role).await?;
    Ok(Json(list.into_iter().map(convert::group).collect()))
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
    let (community, role) = access::community(&mut conn, id.into_inner(), me).await?;
    let action = if kind == GroupKind::Personal {
        Action::ManageGroupMembers
    } else {
        Action::ManageChannels
    };
    access::require(perms::community(role, action))?;
    let name = validate::line(&body.name, "name", 1, lim::NAME_MAX)?;
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
    let after = live::group_viewers(&mut conn, &g).await?;
    live::group_changed(
        &state,
        Some(&g),
        g.id,
        community.id,
        &HashSet::new(),
        &after,
        false,
    );
    Ok(HttpResponse::Created().json(convert::group(g)))
}

/// `PATCH /api/v1/groups/{id}` (admins): rename or move.
pub async fn update_group(
    state: Data<AppState>,
    authed: Authed,
    id: Path<GroupId>,
    body: JsonBody<UpdateGroupRequest>,
) -> ApiResult<Json<Group>> {
    let mut conn = state.db.conn().await?;
    let (g, role, _) = access::group(&mut conn, id.into_inner(), authed.0.user_id).await?;
    access::require(perms::community(Some(role), Action::ManageChannels))?;
    let name = body
        .name
        .as_deref()
        .map(|n| validate::line(n, "name", 1, lim::NAME_MAX))
        .transpose()?;
    let updated = groups::update(&mut conn, g.id, name.as_deref(), body.position).await?;
    let seen = live::group_viewers(&mut conn, &updated).await?;
    live::group_changed(
        &state,
        Some(&updated),
        g.id,
        g.community_id,
        &seen,
        &seen,
        true,
    );
    Ok(Json(convert::group(updated)))
}

/// `DELETE /api/v1/groups/{id}` (admins): with its channels.
pub async fn delete_group(
    state: Data<AppState>,
    authed: Authed,
    id: Path<GroupId>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.conn().await?;
    let (g, role, _) = access::group(&mut conn, id.into_inner(), authed.0.user_id).await?;
    access::require(perms::community(Some(role), Action::ManageChannels))?;
    let seen = live::group_viewers(&mut conn, &g).await?;
    // the group's channels go with it: their readers hear `channel_deleted`
    let mut channels_before = Vec::new();
    for channel in chatalot_storage::channels::ids_in_group(&mut conn, g.id).await? {
        let readers = live::readers(&mut conn, channel, g.community_id).await?;
        channels_before.push((channel, readers));
    }
    groups::delete(&mut conn, g.id).await?;
    live::group_changed(
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

/// `PUT /api/v1/groups/{id}/members/{user_id}`
pub async fn add_group_member(
    state: Data<AppState>,
    authed: Authed,
    path: Path<(GroupId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (id, target) = path.into_inner();
    let me = authed.0.user_id;
    let mut conn = state.db.conn().await?;
    let (g, role, _) = access::group(&mut conn, id, me).await?;
    access::require(perms::group_membership(Some(role), g.kind, target == me))?;
    let seen = live::group_viewers(&mut conn, &g).await?;
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
        let after = live::group_viewers(&mut conn, &g).await?;
        live::group_changed(&state, Some(&g), g.id, g.community_id, &seen, &after, false);
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
    let (g, role, _) = access::group(&mut conn, id, me).await?;
    if target != me {
        let target_role = communities::find_role(&mut conn, g.community_id, target).await?;
        access::require(perms::on_member(
            Some(role),
            Action::ManageGroupMembers,
            target_role,
        ))?;
    }
    let seen = live::group_viewers(&mut conn, &g).await?;
    let channels_before = live::user_channels(&mut conn, g.community_id, target).await?;
    if !groups::remove_member(&mut conn, g.id, target).await? {
        return Err(ApiError::not_found());
    }
    let after = live::group_viewers(&mut conn, &g).await?;
    live::group_changed(&state, Some(&g), g.id, g.community_id, &seen, &after, false);
    live::user_visibility_changed(&state, &mut conn, g.community_id, target, channels_before)
        .await?;
    Ok(no_content())
}
