//! Subscriptions: access on arrival, the backlog after a cursor, the catch-up of live frames
//! held meanwhile, and leaving.

use super::{ChannelActor, Held, Recheck, Sub};
use crate::frames;
use crate::outbox::{ConnId, Outbox};
use crate::stats::{stats, Stats};
use actix::prelude::*;
use bytestring::ByteString;
use chatalot_protocol::ids::UserId;
use chatalot_protocol::perms::{self, ChannelFacts};
use chatalot_protocol::ws::{CloseReason, Presence, ServerFrame};
use chatalot_protocol::ErrorCode;
use chatalot_storage::messages::{self};
use std::time::Instant;

/// Rows fetched per backlog query.
const BACKLOG_CHUNK: i64 = 250;

/// A connection wants this channel's changes after `after_seq`, then its live traffic. The
/// session has checked the user's access (`facts`), starting at `checked_at`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub conn: ConnId,
    pub user_id: UserId,
    pub outbox: Outbox,
    pub after_seq: Option<i64>,
    pub presence: Presence,
    pub facts: ChannelFacts,
    pub checked_at: Instant,
}

impl Handler<Subscribe> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) {
        forward_if_released!(self, msg);
        if self.info.is_none() || !perms::view_channel(&msg.facts) {
            return Self::reject(
                &msg.outbox,
                ErrorCode::NotFound,
                "no such channel",
                "subscribe",
                None,
            );
        }
        if msg.checked_at <= self.last_recheck {
            // access changed while the check ran: check everyone again once registered
            ctx.notify(Recheck);
        }
        let facts = msg.facts;
        self.register(msg, facts, ctx);
    }
}

impl ChannelActor {
    fn register(&mut self, msg: Subscribe, facts: ChannelFacts, ctx: &mut Context<Self>) {
        let upto = self.committed;
        let conn = msg.conn;
        if msg.presence != Presence::Offline {
            let before = self.presence.insert(msg.user_id, msg.presence);
            if before != Some(msg.presence) {
                self.presence_out(msg.user_id, msg.presence);
            }
        }
        let after = msg.after_seq.filter(|a| *a >= 0 && *a < upto);
        self.subs.insert(
            conn,
            Sub {
                user: msg.user_id,
                outbox: msg.outbox.clone(),
                facts,
                catching_up: after.map(|_| Held::default()),
            },
        );
        let Some(after) = after else {
            let _ = msg.outbox.push(self.subscribed_frame(upto, msg.user_id));
            return;
        };
        // send the backlog (after, upto] in chunks; live frames wait in `catching_up`
        let db = self.hub.db.clone();
        let id = self.id;
        let outbox = msg.outbox.clone();
        // the backlog may be larger than the outbox: wait for the reader to make room, as long
        // as it keeps reading
        let patience = self.hub.config.write_timeout;
        let user = msg.user_id;
        // in a DM or group DM, nothing of someone a block keeps apart from this user
        let hidden = self.apart_from(user);
        async move {
            let mut from = after;
            let mut conn = db.conn().await?;
            loop {
                let chunk = messages::changes(&mut conn, id, from, upto, BACKLOG_CHUNK).await?;
                for m in &chunk {
                    if m.sender_id.is_some_and(|s| hidden.contains(&s)) {
                        from = m.updated_seq;
                        continue;
                    }
                    let message = frames::message(m);
                    let frame = if m.seq > after {
                        ServerFrame::MessageCreated {
                            event_seq: m.updated_seq,
                            message,
                        }
                    } else {
                        ServerFrame::MessageUpdated {
                            event_seq: m.updated_seq,
                            message,
                        }
                    };
                    if outbox.send(frames::encode(&frame), patience).await.is_err() {
                        return Ok(false);
                    }
                    from = m.updated_seq;
                }
                if (chunk.len() as i64) < BACKLOG_CHUNK {
                    return Ok(true);
                }
            }
        }
        .into_actor(self)
        .map(move |res: chatalot_storage::Result<bool>, act, ctx| {
            if !act.subs.contains_key(&conn) {
                return;
            }
            match res {
                Ok(true) => {
                    let subscribed = act.subscribed_frame(upto, user);
                    act.catch_up(conn, Some(subscribed), ctx);
                }
                Ok(false) => act.drop_lagging(conn),
                Err(e) => {
                    tracing::warn!(channel = %act.id, error = %e, "backlog not loaded");
                    if let Some(sub) = act.subs.remove(&conn) {
                        Self::reject(
                            &sub.outbox,
                            ErrorCode::Unavailable,
                            "try again",
                            "subscribe",
                            None,
                        );
                    }
                }
            }
        })
        .spawn(ctx);
    }

    /// Sends a subscriber `first` and the live frames held while its backlog went out, waiting
    /// for room as the backlog did; frames held meanwhile go in the next round. When none are
    /// left, live frames go straight to the subscriber again.
    fn catch_up(&mut self, conn: ConnId, first: Option<ByteString>, ctx: &mut Context<Self>) {
        let Some(sub) = self.subs.get_mut(&conn) else {
            return;
        };
        let Some(held) = sub.catching_up.as_mut() else {
            return;
        };
        if first.is_none() && held.frames.is_empty() {
            sub.catching_up = None;
            return;
        }
        let frames: Vec<ByteString> = first
            .into_iter()
            .chain(std::mem::take(&mut held.frames))
            .collect();
        held.bytes = 0;
        let outbox = sub.outbox.clone();
        let patience = self.hub.config.write_timeout;
        async move {
            for f in frames {
                outbox.send(f, patience).await?;
            }
            Ok(())
        }
        .into_actor(self)
        .map(
            move |res: Result<(), crate::outbox::Full>, act, ctx| match res {
                Ok(()) => act.catch_up(conn, None, ctx),
                Err(_) => act.drop_lagging(conn),
            },
        )
        .spawn(ctx);
    }

    /// Ends the subscription of a reader too slow to keep up and closes its connection.
    pub(super) fn drop_lagging(&mut self, conn: ConnId) {
        if let Some(sub) = self.subs.remove(&conn) {
            Stats::add(&stats().queue_drops, 1);
            sub.outbox.close(CloseReason::Lagged);
        }
    }

    /// `subscribed` for a subscriber of `user`: the presence of those it may see.
    fn subscribed_frame(&self, last_seq: i64, user: UserId) -> ByteString {
        frames::encode(&ServerFrame::Subscribed {
            channel_id: self.id,
            last_seq,
            present: self
                .presence
                .iter()
                .filter(|(u, _)| {
                    **u == user || (self.shows_presence(**u) && !self.apart(**u, user))
                })
                .map(|(u, p)| (*u, *p))
                .collect(),
        })
    }
}

/// A connection no longer wants this channel.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub conn: ConnId,
}

impl Handler<Unsubscribe> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        forward_if_released!(self, msg);
        if let Some(sub) = self.subs.remove(&msg.conn) {
            let still_here = self.subs.values().any(|s| s.user == sub.user);
            if !still_here && self.presence.remove(&sub.user).is_some() {
                self.presence_out(sub.user, Presence::Offline);
            }
        }
    }
}
