//! Live updates: after a REST change is stored, the affected users' connections hear of it
//! (community, channel, group and member events) and the gateway re-checks who may stay
//! subscribed where.

use crate::error::ApiResult;
use crate::routes::communities::channel_to_api;
use crate::state::AppState;
use chatalot_actors::frames;
use chatalot_actors::registry::{PushToUsers, RecheckChannels, RecheckUser};
use chatalot_protocol::ids::{ChannelId, CommunityId, UserId};
use chatalot_protocol::perms::{self, ChannelFacts};
use chatalot_protocol::ws::ServerFrame;
use chatalot_storage::AsyncPgConnection;
use chatalot_storage::{channels, communities};
use std::collections::HashMap;

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
            let api = channel_to_api(c.clone(), facts, 0, 0);
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
        let api = channel_to_api(
            now.channel.clone(),
            &now.facts,
            now.last_read_seq,
            now.unread,
        );
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
