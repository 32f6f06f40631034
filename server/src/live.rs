//! Live updates: after a REST change is stored, the affected users' connections hear of it
//! (community, channel, group and member events) and the gateway re-checks who may stay
//! subscribed where.

use crate::convert;
use crate::error::ApiResult;
use crate::state::AppState;
use chatalot_actors::frames;
use chatalot_actors::registry::{PushToUsers, RecheckChannels, RecheckUser};
use chatalot_protocol::ids::{ChannelId, CommunityId, GroupId, UserId};
use chatalot_protocol::perms::{self, ChannelFacts, CommunityRole};
use chatalot_protocol::ws::{LeaveReason, ServerFrame};
use chatalot_storage::AsyncPgConnection;
use chatalot_storage::{channels, communities, groups};
use std::collections::{HashMap, HashSet};

/// Sends each user their frame.
pub fn push(state: &AppState, frames_for: Vec<(UserId, ServerFrame)>) {
    if frames_for.is_empty() {
        return;
    }
    let frames = frames_for
        .into_iter()
        .map(|(u, f)| (u, frames::encode(&f)))
        .collect();
    state.hub.registry.do_send(PushToUsers { frames });
}

/// Sends one frame to every member of a community (and to `extra`, e.g. a member who just left).
pub async fn to_members(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    extra: Option<UserId>,
    frame: ServerFrame,
) -> ApiResult<()> {
    let mut users = communities::member_ids(conn, community).await?;
    users.extend(extra);
    let encoded = frames::encode(&frame);
    state.hub.registry.do_send(PushToUsers {
        frames: users.into_iter().map(|u| (u, encoded.clone())).collect(),
    });
    Ok(())
}

/// The gateway re-checks every subscriber of these channels.
pub fn recheck(state: &AppState, channel_ids: Vec<ChannelId>) {
    if !channel_ids.is_empty() {
        state.hub.registry.do_send(RecheckChannels { channel_ids });
    }
}

/// Which members of the channel's community may read it now, with their facts.
pub async fn readers(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    community: CommunityId,
) -> ApiResult<HashMap<UserId, ChannelFacts>> {
    let members = communities::member_ids(conn, community).await?;
    let Some((_, facts)) = channels::access_for_users(conn, channel, &members).await? else {
        return Ok(HashMap::new());
    };
    Ok(facts
        .into_iter()
        .filter(|(_, f)| perms::view_channel(f))
        .collect())
}

/// Tells a community's members about a channel after a change: `channel_created` to those who
/// can now read it and could not before, `channel_updated` to those who still can, and
/// `channel_deleted` to those who could before and cannot now. Then re-checks subscribers.
pub async fn channel_changed(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    community: CommunityId,
    before: &HashMap<UserId, ChannelFacts>,
) -> ApiResult<()> {
    let after = readers(conn, channel, community).await?;
    let stored = channels::get(conn, channel).await.ok();
    let mut out = Vec::new();
    if let Some(c) = stored {
        for (user, facts) in &after {
            let api = convert::channel(c.clone(), facts, 0, 0);
            out.push((
                *user,
                if before.contains_key(user) {
                    ServerFrame::ChannelUpdated { channel: api }
                } else {
                    ServerFrame::ChannelCreated { channel: api }
                },
            ));
        }
    }
    for user in before.keys().filter(|u| !after.contains_key(u)) {
        out.push((
            *user,
            ServerFrame::ChannelDeleted {
                channel_id: channel,
                community_id: Some(community),
            },
        ));
    }
    push(state, out);
    recheck(state, vec![channel]);
    Ok(())
}

/// What one user can read in one community, channel by channel (all of them).
pub async fn user_channels(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> ApiResult<HashMap<ChannelId, channels::ChannelState>> {
    let all = channels::list_for_user_in_community(conn, user, community).await?;
    Ok(all.into_iter().map(|s| (s.channel.id, s)).collect())
}

/// After a change that moves only one user's access (joined or left a group, got a new role,
/// was kicked or banned): that user hears which channels appeared, changed or went, and every
/// channel of the community their connections are subscribed to re-checks that user, ending
/// the subscriptions that lost access (the connections know their subscriptions, however
/// many).
pub async fn user_visibility_changed(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
    before: HashMap<ChannelId, channels::ChannelState>,
) -> ApiResult<()> {
    let after = user_channels(conn, community, user).await?;
    let mut out = Vec::new();
    for (id, now) in &after {
        let api = convert::channel_state(now.clone());
        match before.get(id) {
            None => out.push((user, ServerFrame::ChannelCreated { channel: api })),
            Some(was) if was.facts != now.facts => {
                out.push((user, ServerFrame::ChannelUpdated { channel: api }));
            }
            Some(_) => {}
        }
    }
    for id in before.keys().filter(|id| !after.contains_key(id)) {
        out.push((
            user,
            ServerFrame::ChannelDeleted {
                channel_id: *id,
                community_id: Some(community),
            },
        ));
    }
    push(state, out);
    state.hub.registry.do_send(RecheckUser {
        user_id: user,
        community_id: community,
    });
    Ok(())
}

/// After a user joined a community: the joiner hears of the channels and groups now open to
/// them, and the members of the newcomer.
pub async fn member_joined(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> ApiResult<()> {
    user_visibility_changed(state, conn, community, user, Default::default()).await?;
    groups_changed_for(state, conn, community, user, None).await?;
    if let Some(m) = communities::member(conn, community, user).await? {
        to_members(
            state,
            conn,
            community,
            None,
            ServerFrame::MemberJoined {
                community_id: community,
                member: convert::member(m),
            },
        )
        .await?;
    }
    Ok(())
}

/// After a member left or was removed (`was_member`: they were one until now): the members
/// and the removed user hear `member_left`, then the removed user `channel_deleted` for each
/// channel they could read (`before`), and the gateway ends their subscriptions.
pub async fn member_left(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
    reason: LeaveReason,
    was_member: bool,
    before: HashMap<ChannelId, channels::ChannelState>,
) -> ApiResult<()> {
    if was_member {
        to_members(
            state,
            conn,
            community,
            Some(user),
            ServerFrame::MemberLeft {
                community_id: community,
                user_id: user,
                reason,
            },
        )
        .await?;
    }
    user_visibility_changed(state, conn, community, user, before).await
}

/// The members of the group's community who may see the group.
pub async fn group_viewers(
    conn: &mut AsyncPgConnection,
    g: &groups::Group,
) -> ApiResult<HashSet<UserId>> {
    let inside: HashSet<UserId> = groups::member_ids(conn, g.id).await?.into_iter().collect();
    let members = communities::members(conn, g.community_id, i64::MAX).await?;
    Ok(members
        .into_iter()
        .filter(|m| perms::view_group(Some(m.role), g.kind, inside.contains(&m.user_id)))
        .map(|m| m.user_id)
        .collect())
}

/// After a group changed (`g`; None: deleted): `group_created` to those who see it now and did
/// not (`before`), `group_updated` to those who still see it when it `changed`, and
/// `group_deleted` to those who no longer do.
pub fn group_changed(
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
                        group: convert::group(g.clone()),
                    },
                ));
            } else if changed {
                out.push((
                    *u,
                    ServerFrame::GroupUpdated {
                        group: convert::group(g.clone()),
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
    push(state, out);
}

/// The groups of a community `user`, a member with `role`, sees.
pub async fn visible_groups(
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

/// Tells one user which groups appeared or went for them since `before` (after joining, or a
/// role change).
pub async fn groups_changed_for(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
    before: Option<Vec<groups::Group>>,
) -> ApiResult<()> {
    let role = communities::find_role(conn, community, user).await?;
    let now = visible_groups(conn, community, user, role).await?;
    let before = before.unwrap_or_default();
    let had: HashSet<GroupId> = before.iter().map(|g| g.id).collect();
    let has: HashSet<GroupId> = now.iter().map(|g| g.id).collect();
    let mut out = Vec::new();
    for g in now.into_iter().filter(|g| !had.contains(&g.id)) {
        out.push((
            user,
            ServerFrame::GroupCreated {
                group: convert::group(g),
            },
        ));
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
    push(state, out);
    Ok(())
}
