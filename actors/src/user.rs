//! `UserActor`: one per online user. It holds the user's live sessions (at most
//! `max_sessions_per_user`), their presence (with auto-idle), and closes sessions when they are
//! revoked.

use crate::channel::{self, ChannelActor};
use crate::hub::Hub;
use crate::outbox::{ConnId, Outbox};
use crate::registry::{gone_unreleased, Child, ReleaseUser};
use crate::session::{self, SessionActor};
use actix::prelude::*;
use bytestring::ByteString;
use chatalot_protocol::ids::{ChannelId, CommunityId, DeviceId, SessionId, UserId};
use chatalot_protocol::ws::{CloseReason, Presence};
use std::collections::HashMap;
use std::time::Instant;

struct Entry {
    session_id: SessionId,
    device_id: DeviceId,
    addr: Addr<SessionActor>,
    outbox: Outbox,
    channels: HashMap<ChannelId, Addr<ChannelActor>>,
}

/// The actor of one online user.
pub struct UserActor {
    id: UserId,
    hub: Hub,
    sessions: HashMap<ConnId, Entry>,
    /// What the user chose (`Online`, `Dnd`, `Invisible`; `Idle` when chosen explicitly).
    chosen: Presence,
    auto_idle: bool,
    last_activity: Instant,
    empty_since: Option<Instant>,
    released: bool,
    /// When this user's access last changed somewhere (see `RecheckUser`).
    last_recheck: Instant,
    /// The presence the user's channels were last told, when, and whether a later
    /// announcement is scheduled.
    announced: Presence,
    announced_at: Option<Instant>,
    announce_pending: bool,
    /// Which start of this user's actor this is (see the registry's supervision).
    generation: u64,
}

/// A user's presence is announced to their channels at most this often.
pub const PRESENCE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

impl UserActor {
    /// The actor of user `id`; `generation`: the registry's number for this start.
    pub fn new(id: UserId, hub: Hub, generation: u64) -> Self {
        UserActor {
            id,
            hub,
            sessions: HashMap::new(),
            chosen: Presence::Online,
            auto_idle: false,
            last_activity: Instant::now(),
            empty_since: Some(Instant::now()),
            released: false,
            last_recheck: Instant::now(),
            announced: Presence::Offline,
            announced_at: None,
            announce_pending: false,
            generation,
        }
    }

    /// The presence others see.
    fn visible(&self) -> Presence {
        if self.sessions.is_empty() {
            return Presence::Offline;
        }
        match self.chosen {
            Presence::Invisible => Presence::Offline,
            Presence::Online if self.auto_idle => Presence::Idle,
            p => p,
        }
    }

    /// Tells the user's channels the presence others see now, unless they know it already.
    /// At most one announcement per `PRESENCE_INTERVAL`: changes in between are folded into
    /// one, sent when the interval is over (with the state as it is then).
    fn broadcast(&mut self, ctx: &mut Context<Self>) {
        let now = self.visible();
        if now == self.announced {
            return;
        }
        if let Some(at) = self.announced_at {
            let since = at.elapsed();
            if since < PRESENCE_INTERVAL {
                if !self.announce_pending {
                    self.announce_pending = true;
                    ctx.run_later(PRESENCE_INTERVAL - since, |act, ctx| {
                        act.announce_pending = false;
                        act.broadcast(ctx);
                    });
                }
                return;
            }
        }
        self.announced = now;
        self.announced_at = Some(Instant::now());
        let mut seen = std::collections::HashSet::new();
        for entry in self.sessions.values() {
            for (id, addr) in &entry.channels {
                if seen.insert(*id) {
                    addr.do_send(channel::SetUserPresence {
                        user_id: self.id,
                        presence: now,
                    });
                }
            }
        }
    }

    fn check_idle(&mut self, ctx: &mut Context<Self>) {
        let cfg = &self.hub.config;
        if !self.sessions.is_empty() {
            if !self.auto_idle && self.last_activity.elapsed() >= cfg.auto_idle {
                self.auto_idle = true;
                self.broadcast(ctx);
            }
            return;
        }
        let idle_for = self.empty_since.map(|t| t.elapsed()).unwrap_or_default();
        if idle_for >= cfg.actor_idle && !self.released {
            // ask the registry to forget us; stop once it has
            let release = ReleaseUser {
                user_id: self.id,
                addr: ctx.address(),
            };
            self.hub
                .registry
                .send(release)
                .into_actor(self)
                .then(|res, act, ctx| {
                    if matches!(res, Ok(true)) && act.sessions.is_empty() {
                        act.released = true;
                        ctx.stop();
                    }
                    fut::ready(())
                })
                .wait(ctx);
        }
    }
}

impl Actor for UserActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        let every = (self.hub.config.auto_idle / 4)
            .min(self.hub.config.actor_idle / 2)
            .max(std::time::Duration::from_millis(200));
        ctx.run_interval(every, |act, ctx| act.check_idle(ctx));
    }
}

/// Why a session could not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    TooManySessions,
    /// This actor is letting go; the registry starts a fresh one.
    Released,
}

/// A new authenticated connection of this user.
#[derive(Message)]
#[rtype(result = "Result<(), JoinError>")]
pub struct Join {
    pub conn: ConnId,
    pub session_id: SessionId,
    pub device_id: DeviceId,
    pub session: Addr<SessionActor>,
    pub outbox: Outbox,
}

impl Handler<Join> for UserActor {
    type Result = Result<(), JoinError>;

    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) -> Self::Result {
        if self.released {
            return Err(JoinError::Released);
        }
        if self.sessions.len() >= self.hub.config.max_sessions_per_user {
            return Err(JoinError::TooManySessions);
        }
        self.sessions.insert(
            msg.conn,
            Entry {
                session_id: msg.session_id,
                device_id: msg.device_id,
                addr: msg.session,
                outbox: msg.outbox,
                channels: HashMap::new(),
            },
        );
        self.empty_since = None;
        self.last_activity = Instant::now();
        self.auto_idle = false;
        self.broadcast(ctx);
        Ok(())
    }
}

/// A connection of this user ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Left {
    pub conn: ConnId,
}

impl Handler<Left> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Left, ctx: &mut Context<Self>) {
        if let Some(entry) = self.sessions.remove(&msg.conn) {
            if self.sessions.is_empty() {
                // the last connection: tell its channels the user went offline
                for addr in entry.channels.values() {
                    addr.do_send(channel::SetUserPresence {
                        user_id: self.id,
                        presence: Presence::Offline,
                    });
                }
                self.empty_since = Some(Instant::now());
                self.announced = Presence::Offline;
                self.announced_at = Some(Instant::now());
                return;
            }
        }
        self.broadcast(ctx);
    }
}

/// A session subscribed to or left a channel (so presence changes and access re-checks reach
/// it). `checked_at`: when the session began checking its access to the joined channel.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChannelsChanged {
    pub conn: ConnId,
    pub joined: Option<(ChannelId, Addr<ChannelActor>)>,
    pub left: Option<ChannelId>,
    pub checked_at: Option<Instant>,
}

impl Handler<ChannelsChanged> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: ChannelsChanged, _: &mut Context<Self>) {
        if let Some(entry) = self.sessions.get_mut(&msg.conn) {
            if let Some((id, addr)) = msg.joined {
                if msg.checked_at.is_some_and(|t| t <= self.last_recheck) {
                    // checked before this user's access last changed: check again
                    addr.do_send(channel::RecheckUser {
                        user_id: self.id,
                        community_id: None,
                    });
                }
                entry.channels.insert(id, addr);
            }
            if let Some(id) = msg.left {
                entry.channels.remove(&id);
            }
        }
    }
}

/// A frame for every live connection of this user (a slow one is closed, as in channels).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Push {
    pub frame: bytestring::ByteString,
}

impl Handler<Push> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Push, _: &mut Context<Self>) {
        for entry in self.sessions.values() {
            if entry.outbox.push(msg.frame.clone()).is_err() {
                entry.outbox.close(CloseReason::Lagged);
            }
        }
    }
}

/// The user chose a presence.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPresence {
    pub presence: Presence,
}

impl Handler<SetPresence> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: SetPresence, ctx: &mut Context<Self>) {
        self.chosen = match msg.presence {
            Presence::Offline => Presence::Invisible,
            p => p,
        };
        self.auto_idle = false;
        self.last_activity = Instant::now();
        self.broadcast(ctx);
    }
}

/// The user did something (sent a frame): not idle.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Active;

impl Handler<Active> for UserActor {
    type Result = ();

    fn handle(&mut self, _: Active, ctx: &mut Context<Self>) {
        self.last_activity = Instant::now();
        if self.auto_idle {
            self.auto_idle = false;
            self.broadcast(ctx);
        }
    }
}

/// The presence others see now.
#[derive(Message)]
#[rtype(result = "Presence")]
pub struct GetPresence;

impl Handler<GetPresence> for UserActor {
    type Result = MessageResult<GetPresence>;

    fn handle(&mut self, _: GetPresence, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.visible())
    }
}

/// Sessions were revoked: close their connections (all of them when `sessions` is None).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Revoke {
    pub sessions: Option<Vec<SessionId>>,
}

impl Handler<Revoke> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Revoke, _: &mut Context<Self>) {
        for entry in self.sessions.values() {
            let hit = match &msg.sessions {
                None => true,
                Some(list) => list.contains(&entry.session_id),
            };
            if hit {
                entry
                    .addr
                    .do_send(session::Close(CloseReason::SessionRevoked));
            }
        }
    }
}

/// Close every connection of this user; returns how many.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CloseAll(pub CloseReason);

impl Handler<CloseAll> for UserActor {
    type Result = usize;

    fn handle(&mut self, msg: CloseAll, _: &mut Context<Self>) -> usize {
        for entry in self.sessions.values() {
            entry.addr.do_send(session::Close(msg.0));
        }
        self.sessions.len()
    }
}

/// A frame for every connection of one of this user's devices (an envelope for that device).
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverToDevice {
    pub device_id: DeviceId,
    pub frame: ByteString,
}

impl Handler<DeliverToDevice> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: DeliverToDevice, _: &mut Context<Self>) {
        for entry in self.sessions.values() {
            if entry.device_id == msg.device_id {
                entry.addr.do_send(session::Deliver {
                    frame: msg.frame.clone(),
                });
            }
        }
    }
}

/// This user's access changed in a community: every channel of it that one of the user's
/// connections is subscribed to re-checks the user.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecheckUser {
    pub community_id: CommunityId,
}

impl Handler<RecheckUser> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: RecheckUser, _: &mut Context<Self>) {
        self.last_recheck = Instant::now();
        let mut seen = std::collections::HashSet::new();
        for entry in self.sessions.values() {
            for (id, addr) in &entry.channels {
                if seen.insert(*id) {
                    addr.do_send(channel::RecheckUser {
                        user_id: self.id,
                        community_id: Some(msg.community_id),
                    });
                }
            }
        }
    }
}

/// As for channel actors: an actor dropped without having been released went because of a
/// fault; the user's connections are closed so they reconnect (and resubscribe), and the
/// registry starts a fresh actor.
impl Drop for UserActor {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        gone_unreleased(
            &self.hub.registry,
            Child::User(self.id),
            self.generation,
            self.sessions.values().map(|e| &e.outbox),
        );
    }
}

/// Makes the actor panic, to show that supervision restarts it (tests only).
#[cfg(feature = "fault-injection")]
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

#[cfg(feature = "fault-injection")]
impl Handler<Crash> for UserActor {
    type Result = ();

    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("injected fault in the actor of user {}", self.id);
    }
}
