//! DMs and group DMs: who accepted the conversation and the blocks between members; the
//! re-checks of access that end the subscriptions of those who may no longer read.

use super::ChannelActor;
use crate::frames;
use crate::outbox::ConnId;
use actix::prelude::*;
use chatalot_protocol::ids::{CommunityId, UserId};
use chatalot_protocol::perms::{self, ChannelFacts};
use chatalot_protocol::ws::{Presence, ServerFrame, UnsubscribeReason};
use chatalot_storage::channels::{self};
use std::collections::HashMap;
use std::time::Instant;

/// What a DM or group DM knows of its members: who accepted the conversation (created it or
/// posted in it) and which pairs a block stands between (stored lower id first).
#[derive(Default)]
pub(super) struct Direct {
    pub(super) accepted: std::collections::HashSet<UserId>,
    pub(super) apart: std::collections::HashSet<(UserId, UserId)>,
}

impl Direct {
    pub(super) fn from_state(s: channels::DirectState) -> Direct {
        Direct {
            accepted: s.accepted.into_iter().collect(),
            apart: s.blocks.into_iter().map(|(a, b)| pair(a, b)).collect(),
        }
    }
}

fn pair(a: UserId, b: UserId) -> (UserId, UserId) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl ChannelActor {
    /// True when a block stands between `a` and `b` in this DM or group DM: nothing of one
    /// reaches the other here.
    pub(super) fn apart(&self, a: UserId, b: UserId) -> bool {
        self.direct
            .as_ref()
            .is_some_and(|d| d.apart.contains(&pair(a, b)))
    }

    /// Everyone a block keeps apart from `user` here.
    pub(super) fn apart_from(&self, user: UserId) -> Vec<UserId> {
        let Some(d) = &self.direct else {
            return Vec::new();
        };
        d.apart
            .iter()
            .filter_map(|(a, b)| {
                if *a == user {
                    Some(*b)
                } else if *b == user {
                    Some(*a)
                } else {
                    None
                }
            })
            .collect()
    }
}

impl ChannelActor {
    /// Ends every subscription of `user` here, telling each connection.
    fn remove_user(&mut self, user: UserId) {
        let gone: Vec<ConnId> = self
            .subs
            .iter()
            .filter(|(_, s)| s.user == user)
            .map(|(c, _)| *c)
            .collect();
        for conn in gone {
            if let Some(sub) = self.subs.remove(&conn) {
                let _ = sub.outbox.push(frames::encode(&ServerFrame::Unsubscribed {
                    channel_id: self.id,
                    reason: Some(UnsubscribeReason::Removed),
                }));
            }
        }
        if self.presence.remove(&user).is_some() {
            self.presence_out(user, Presence::Offline);
        }
    }
}

/// Membership, roles or the channel's settings changed: reload the channel and re-check every
/// subscriber; those who may no longer read it are unsubscribed at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Recheck;

impl Handler<Recheck> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Recheck, ctx: &mut Context<Self>) {
        forward_if_released!(self, msg);
        self.last_recheck = Instant::now();
        let db = self.hub.db.clone();
        let id = self.id;
        let mut users: Vec<UserId> = self.subs.values().map(|s| s.user).collect();
        users.sort();
        users.dedup();
        async move {
            let mut conn = db.conn().await?;
            let found = channels::access_for_users(&mut conn, id, &users).await?;
            let direct = match &found {
                Some((info, _)) if info.community_id.is_none() => {
                    Some(channels::direct_state(&mut conn, id).await?)
                }
                _ => None,
            };
            Ok::<_, chatalot_storage::StorageError>(found.map(|f| (f, direct)))
        }
        .into_actor(self)
        .map(|res, act, _| match res {
            Ok(Some(((info, facts), direct))) => {
                act.info = Some(info);
                act.direct = direct.map(Direct::from_state);
                let facts: HashMap<UserId, ChannelFacts> = facts.into_iter().collect();
                let mut gone = Vec::new();
                for sub in act.subs.values_mut() {
                    match facts.get(&sub.user) {
                        Some(f) if perms::view_channel(f) => sub.facts = *f,
                        _ => gone.push(sub.user),
                    }
                }
                for user in gone {
                    act.remove_user(user);
                }
            }
            Ok(None) => {
                // deleted: everyone goes
                let users: Vec<UserId> = act.subs.values().map(|s| s.user).collect();
                for user in users {
                    act.remove_user(user);
                }
                act.info = None;
            }
            Err(e) => tracing::warn!(channel = %act.id, error = %e, "recheck failed"),
        })
        .wait(ctx);
    }
}

/// One user's access changed in `community` (or anywhere, when None): re-check that user's
/// subscriptions here, ending them if they may no longer read the channel.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecheckUser {
    pub user_id: UserId,
    pub community_id: Option<CommunityId>,
}

impl Handler<RecheckUser> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: RecheckUser, ctx: &mut Context<Self>) {
        forward_if_released!(self, msg);
        let here = self.info.as_ref().and_then(|i| i.community_id);
        if msg.community_id.is_some() && msg.community_id != here {
            return;
        }
        self.last_recheck = Instant::now();
        let user = msg.user_id;
        if !self.subs.values().any(|s| s.user == user) {
            return;
        }
        let db = self.hub.db.clone();
        let id = self.id;
        async move {
            let mut conn = db.conn().await?;
            channels::find_visible(&mut conn, id, user).await
        }
        .into_actor(self)
        .map(move |res, act, _| match res {
            Ok(Some((_, facts))) => {
                for sub in act.subs.values_mut().filter(|s| s.user == user) {
                    sub.facts = facts;
                }
            }
            Ok(None) => act.remove_user(user),
            Err(e) => tracing::warn!(channel = %act.id, error = %e, "recheck failed"),
        })
        .wait(ctx);
    }
}
