//! Presence and typing: what shows of whom, and the typing throttle.

use super::ChannelActor;
use crate::frames;
use crate::outbox::Outbox;
use actix::prelude::*;
use chatalot_protocol::ids::UserId;
use chatalot_protocol::ws::{Presence, ServerFrame};
use std::time::{Duration, Instant};

/// One typing notice per user per this interval.
const TYPING_INTERVAL: Duration = Duration::from_secs(3);

impl ChannelActor {
    /// Whether `user`'s presence may show here: always in community channels; in a DM or group
    /// DM only once the user accepted it (a stranger's request does not reveal the recipient).
    pub(super) fn shows_presence(&self, user: UserId) -> bool {
        self.direct
            .as_ref()
            .is_none_or(|d| d.accepted.contains(&user))
    }

    /// Announces `user`'s presence here (to the others), if it may show.
    pub(super) fn presence_out(&mut self, user: UserId, presence: Presence) {
        if !self.shows_presence(user) {
            return;
        }
        let frame = frames::encode(&ServerFrame::PresenceChanged {
            channel_id: self.id,
            user_id: user,
            presence,
        });
        self.fanout(&frame, Some(user), Some(user));
    }
}

/// The user is typing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Typing {
    /// The sending connection.
    pub outbox: Outbox,
}

impl Handler<Typing> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Typing, _: &mut Context<Self>) {
        forward_if_released!(self, msg);
        let Some(sub) = self.subscriber(&msg.outbox, "start_typing", None) else {
            return;
        };
        let user = sub.user;
        let now = Instant::now();
        if self
            .last_typing
            .get(&user)
            .is_some_and(|t| now.duration_since(*t) < TYPING_INTERVAL)
        {
            return;
        }
        self.last_typing.insert(user, now);
        let frame = frames::encode(&ServerFrame::Typing {
            channel_id: self.id,
            user_id: user,
        });
        self.fanout(&frame, Some(user), Some(user));
    }
}

/// A user's presence as others should see it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetUserPresence {
    pub user_id: UserId,
    pub presence: Presence,
}

impl Handler<SetUserPresence> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: SetUserPresence, _: &mut Context<Self>) {
        forward_if_released!(self, msg);
        // only subscribers are present here (a removed user's sessions may still name us)
        if !self.subs.values().any(|s| s.user == msg.user_id) {
            return;
        }
        let changed = if msg.presence == Presence::Offline {
            self.presence.remove(&msg.user_id).is_some()
        } else {
            self.presence.insert(msg.user_id, msg.presence) != Some(msg.presence)
        };
        if changed {
            self.presence_out(msg.user_id, msg.presence);
        }
    }
}
