//! `ChannelActor`: one per active channel. It keeps the channel's subscribers, enforces slow
//! mode, throttles typing, and serialises every stored change: a queue of operations runs one
//! database transaction at a time (consecutive sends are stored together, a group commit),
//! and only after the commit are the results acknowledged and fanned out, in sequence order.
//!
//! By job: this file holds the actor's state, its fan-out and its life (idle release, the
//! hand-over to a successor); `subscribe` the subscriptions and backlogs; `commands` the
//! checks of what a subscriber asks to change; `store` the write queue and what follows a
//! commit; `presence` presence and typing; `access` DM blocks and the re-checks of access.

use crate::frames;
use crate::hub::Hub;
use crate::outbox::{ConnId, Outbox};
use crate::registry::{gone_unreleased, Child, ReleaseChannel, ToChannel};
use crate::stats::{stats, Stats};
use actix::prelude::*;
use bytestring::ByteString;
use chatalot_protocol::ids::{ChannelId, UserId};
use chatalot_protocol::perms::ChannelFacts;
use chatalot_protocol::ws::Presence;
use chatalot_protocol::ErrorCode;
use chatalot_storage::channels::{self, Channel};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// In the released state, hands the message to the channel's current actor and returns.
macro_rules! forward_if_released {
    ($self:ident, $msg:ident) => {
        if $self.released {
            $self.forward($msg);
            return;
        }
    };
}

mod access;
mod commands;
mod presence;
mod store;
mod subscribe;

use access::Direct;
use store::Op;

pub use access::{Recheck, RecheckUser};
pub use commands::{Delete, Edit, MarkRead, Publish, React};
pub use presence::{SetUserPresence, Typing};
pub use subscribe::{Subscribe, Unsubscribe};

/// Live frames held for a subscriber still receiving its backlog before it counts as lagging
/// (their bytes are bounded by the outbox's byte limit too).
const MAX_BUFFERED_WHILE_CATCHING_UP: usize = 4096;

/// One subscribed connection.
struct Sub {
    user: UserId,
    outbox: Outbox,
    /// What the permission rules know about this user here (refreshed by `Recheck`).
    facts: ChannelFacts,
    /// Live frames held back while the backlog is still being sent.
    catching_up: Option<Held>,
}

/// Live frames held for a subscriber receiving its backlog, bounded in count and bytes.
#[derive(Default)]
struct Held {
    frames: Vec<ByteString>,
    bytes: usize,
}

/// The actor of one channel.
pub struct ChannelActor {
    id: ChannelId,
    hub: Hub,
    info: Option<Channel>,
    /// Highest sequence number fanned out.
    committed: i64,
    subs: HashMap<ConnId, Sub>,
    queue: VecDeque<Op>,
    busy: bool,
    presence: HashMap<UserId, Presence>,
    last_send: HashMap<UserId, Instant>,
    last_typing: HashMap<UserId, Instant>,
    idle_since: Instant,
    released: bool,
    /// When the latest re-check of access began (or the actor started): a subscription whose
    /// access was checked before it is checked again.
    last_recheck: Instant,
    /// For a DM or group DM: who accepted it and the blocks between its members.
    direct: Option<Direct>,
    /// Which start of this channel's actor this is (see the registry's supervision).
    generation: u64,
}

impl ChannelActor {
    /// The actor of channel `id`; `last_recheck`: when access was last re-checked anywhere;
    /// `generation`: the registry's number for this start.
    pub fn new(id: ChannelId, hub: Hub, last_recheck: Instant, generation: u64) -> Self {
        ChannelActor {
            id,
            hub,
            info: None,
            committed: 0,
            subs: HashMap::new(),
            queue: VecDeque::new(),
            busy: false,
            presence: HashMap::new(),
            last_send: HashMap::new(),
            last_typing: HashMap::new(),
            idle_since: Instant::now(),
            released: false,
            last_recheck,
            direct: None,
            generation,
        }
    }

    /// Sends `frame`, which comes from `from`, to every subscriber but those of `skip` and
    /// those a block keeps apart from `from`; drops the ones that lag.
    fn fanout(&mut self, frame: &ByteString, skip: Option<UserId>, from: Option<UserId>) {
        let mut lagging = Vec::new();
        let mut delivered = 0u64;
        let apart = from.map(|f| self.apart_from(f)).unwrap_or_default();
        for (conn, sub) in self.subs.iter_mut() {
            if skip == Some(sub.user) || apart.contains(&sub.user) {
                continue;
            }
            match &mut sub.catching_up {
                Some(held)
                    if held.frames.len() < MAX_BUFFERED_WHILE_CATCHING_UP
                        && held.bytes + frame.len() <= self.hub.config.outbox_bytes =>
                {
                    held.bytes += frame.len();
                    held.frames.push(frame.clone());
                }
                Some(_) => lagging.push(*conn),
                None => {
                    if sub.outbox.push(frame.clone()).is_ok() {
                        delivered += 1;
                    } else {
                        lagging.push(*conn);
                    }
                }
            }
        }
        Stats::add(&stats().messages_delivered, delivered);
        for conn in lagging {
            tracing::debug!(channel = %self.id, conn, "slow reader dropped");
            self.drop_lagging(conn);
        }
    }

    fn send_to_user(&self, user: UserId, except: ConnId, frame: &ByteString) {
        for (conn, sub) in &self.subs {
            if sub.user == user && *conn != except && sub.catching_up.is_none() {
                let _ = sub.outbox.push(frame.clone());
            }
        }
    }

    fn reject(outbox: &Outbox, code: ErrorCode, message: &str, frame: &str, nonce: Option<&str>) {
        let _ = outbox.push(frames::error(code, message, Some(frame), nonce));
    }

    /// The subscriber behind `outbox`; else answers `not_found` (the connection is not
    /// subscribed, or was refused) and returns None.
    fn subscriber(&self, outbox: &Outbox, frame: &str, nonce: Option<&str>) -> Option<&Sub> {
        let found = self.subs.get(&outbox.conn());
        if found.is_none() {
            Self::reject(outbox, ErrorCode::NotFound, "no such channel", frame, nonce);
        }
        found
    }

    /// Asks the registry to release this actor once it has been idle long enough.
    fn check_idle(&mut self, ctx: &mut Context<Self>) {
        if !self.subs.is_empty() || self.busy || !self.queue.is_empty() {
            self.idle_since = Instant::now();
            return;
        }
        if self.released || self.idle_since.elapsed() < self.hub.config.actor_idle {
            return;
        }
        let release = ReleaseChannel {
            channel_id: self.id,
            addr: ctx.address(),
        };
        self.hub
            .registry
            .send(release)
            .into_actor(self)
            .then(|res, act, ctx| {
                if matches!(res, Ok(true)) {
                    // from now on, whatever still reaches this actor goes to its successor
                    act.released = true;
                    ctx.run_later(Duration::from_secs(30), |_, ctx| ctx.stop());
                }
                fut::ready(())
            })
            .wait(ctx);
    }

    /// In the released state, hands `msg` to the channel's current actor.
    fn forward<M>(&self, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        ChannelActor: Handler<M>,
    {
        self.hub.registry.do_send(ToChannel {
            channel_id: self.id,
            deliver: Box::new(move |addr| addr.do_send(msg)),
        });
    }
}

impl Actor for ChannelActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(8192);
        let db = self.hub.db.clone();
        let id = self.id;
        // nothing else is handled until the channel is loaded
        async move {
            let mut conn = db.conn().await?;
            let info = channels::get(&mut conn, id).await?;
            let direct = match info.community_id {
                None => Some(channels::direct_state(&mut conn, id).await?),
                Some(_) => None,
            };
            Ok::<_, chatalot_storage::StorageError>((info, direct))
        }
        .into_actor(self)
        .map(|res, act, _| match res {
            Ok((info, direct)) => {
                act.committed = info.last_seq;
                act.info = Some(info);
                act.direct = direct.map(Direct::from_state);
            }
            Err(e) => tracing::debug!(channel = %act.id, error = %e, "channel not loaded"),
        })
        .wait(ctx);
        let every = (self.hub.config.actor_idle / 2).max(Duration::from_millis(100));
        ctx.run_interval(every, |act, ctx| act.check_idle(ctx));
    }
}

/// An actor dropped without having been released went because of a fault (a handler panicked
/// and unwound, or it stopped unexpectedly): its subscribers' connections are closed so they
/// resubscribe from their cursors, and the registry starts a fresh actor. A released actor,
/// and any at shutdown, has nothing to tell.
impl Drop for ChannelActor {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        gone_unreleased(
            &self.hub.registry,
            Child::Channel(self.id),
            self.generation,
            self.subs.values().map(|s| &s.outbox),
        );
    }
}

/// Makes the actor panic, to show that supervision restarts it (tests only: no input of the
/// protocol or the API reaches it).
#[cfg(feature = "fault-injection")]
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

#[cfg(feature = "fault-injection")]
impl Handler<Crash> for ChannelActor {
    type Result = ();

    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("injected fault in the actor of channel {}", self.id);
    }
}
