//! `RegistryActor`: the supervisor. It spawns and indexes the `UserActor`s and `ChannelActor`s,
//! spreading them over a pool of arbiters, lets idle ones go, and restarts the ones that stop
//! without being let go.
//!
//! Supervision: every user and channel actor is started with a generation number. When one
//! goes without having been released (a panic in a handler unwinds and drops it, or it stops
//! unexpectedly), its `Drop` closes the connections that depended on it with
//! `CloseReason::Restarted` (they reconnect and resubscribe from their cursors, so nothing
//! acknowledged is missed) and sends `ChildGone`; the registry forgets that generation, and
//! the next request for that user or channel (the reconnecting clients') starts a fresh actor,
//! which loads its state from storage as any new actor does.

use crate::channel::ChannelActor;
use crate::config::RealtimeConfig;
use crate::hub::{Authenticator, Claims, Hub};
use crate::outbox::{ConnId, Outbox};
use crate::session::SessionActor;
use crate::user::{self, UserActor};
use actix::prelude::*;
use bytestring::ByteString;
use chatalot_protocol::ids::{ChannelId, CommunityId, DeviceId, SessionId, UserId};
use chatalot_storage::Db;
use std::collections::HashMap;
use std::sync::Arc;

/// The supervisor of user and channel actors.
pub struct RegistryActor {
    hub: Hub,
    users: HashMap<UserId, Addr<UserActor>>,
    channels: HashMap<ChannelId, Addr<ChannelActor>>,
    arbiters: Vec<ArbiterHandle>,
    /// When the last access re-check was asked for: a channel actor started later takes it as
    /// its own last re-check, so a subscription checked before it is checked again.
    last_access_change: std::time::Instant,
    /// The generation of each running actor (see `ChildGone`), and the next one to hand out.
    user_generations: HashMap<UserId, u64>,
    channel_generations: HashMap<ChannelId, u64>,
    next_generation: u64,
    /// Set by `Shutdown`: actors going now are not restarted.
    stopping: bool,
}

/// Keeps the registry's threads alive; dropping it stops them.
pub struct Realtime {
    pub registry: Addr<RegistryActor>,
    /// The handles every actor shares, for the HTTP layer to start sessions with.
    pub hub: Hub,
    arbiters: Vec<Arbiter>,
}

impl Realtime {
    /// Starts the registry and `config.arbiters` arbiters for user and channel actors.
    pub fn start(db: Db, auth: Arc<dyn Authenticator>, config: RealtimeConfig) -> Realtime {
        let arbiters: Vec<Arbiter> = (0..config.arbiters.max(1))
            .map(|_| Arbiter::new())
            .collect();
        let handles: Vec<ArbiterHandle> = arbiters.iter().map(Arbiter::handle).collect();
        let quota = Arc::new(crate::quota::DailyQuota::new(
            config.messages_per_day,
            config.message_bytes_per_day,
        ));
        let config = Arc::new(config);
        let home = handles[0].clone();
        let (db2, auth2, config2, quota2) =
            (db.clone(), auth.clone(), config.clone(), quota.clone());
        let registry = RegistryActor::start_in_arbiter(&home, move |ctx| RegistryActor {
            hub: Hub {
                registry: ctx.address(),
                db: db2,
                auth: auth2,
                config: config2,
                quota: quota2,
            },
            users: HashMap::new(),
            channels: HashMap::new(),
            arbiters: handles,
            last_access_change: std::time::Instant::now(),
            user_generations: HashMap::new(),
            channel_generations: HashMap::new(),
            next_generation: 0,
            stopping: false,
        });
        let hub = Hub {
            registry: registry.clone(),
            db,
            auth,
            config,
            quota,
        };
        Realtime {
            registry,
            hub,
            arbiters,
        }
    }

    /// Stops the arbiters (after the HTTP server has stopped).
    pub fn stop(self) {
        for a in &self.arbiters {
            a.stop();
        }
    }
}

impl Actor for RegistryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
    }
}

impl RegistryActor {
    fn arbiter_for(&self, key: &uuid::Uuid) -> ArbiterHandle {
        let n = self.arbiters.len();
        let i = (key.as_u128() % n as u128) as usize;
        self.arbiters[i].clone()
    }

    fn user(&mut self, id: UserId) -> Addr<UserActor> {
        if let Some(a) = self.users.get(&id) {
            if a.connected() {
                return a.clone();
            }
            // gone without being released (its `ChildGone` is still on the way)
            restarted(Child::User(id));
        }
        let hub = self.hub.clone();
        let generation = self.generation();
        let addr = UserActor::start_in_arbiter(&self.arbiter_for(&id.0), move |_| {
            UserActor::new(id, hub, generation)
        });
        self.users.insert(id, addr.clone());
        self.user_generations.insert(id, generation);
        addr
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn channel(&mut self, id: ChannelId) -> Addr<ChannelActor> {
        if let Some(a) = self.channels.get(&id) {
            if a.connected() {
                return a.clone();
            }
            restarted(Child::Channel(id));
        }
        let hub = self.hub.clone();
        let since = self.last_access_change;
        let generation = self.generation();
        let addr = ChannelActor::start_in_arbiter(&self.arbiter_for(&id.0), move |_| {
            ChannelActor::new(id, hub, since, generation)
        });
        self.channels.insert(id, addr.clone());
        self.channel_generations.insert(id, generation);
        addr
    }
}

/// A user or channel actor the registry started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    User(UserId),
    Channel(ChannelId),
}

/// A child actor went without having been released (sent from its `Drop`). When it is the
/// running generation, the registry forgets it; the next request for it starts a fresh one.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChildGone {
    pub child: Child,
    pub generation: u64,
}

impl Handler<ChildGone> for RegistryActor {
    type Result = ();

    fn handle(&mut self, msg: ChildGone, _: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let current = match msg.child {
            Child::User(id) => self.user_generations.get(&id),
            Child::Channel(id) => self.channel_generations.get(&id),
        };
        if current != Some(&msg.generation) {
            return; // an actor already replaced or released
        }
        // forgotten now, started again when next asked for (the connections it closed ask at
        // once): an actor that keeps failing restarts only as fast as clients reconnect
        restarted(msg.child);
        match msg.child {
            Child::User(id) => {
                self.users.remove(&id);
                self.user_generations.remove(&id);
            }
            Child::Channel(id) => {
                self.channels.remove(&id);
                self.channel_generations.remove(&id);
            }
        }
    }
}

/// What a child actor's `Drop` does when it was not released: tells the registry first (so
/// that whoever reconnects finds a fresh actor), then closes the connections that depended
/// on it with `closing` and 4012.
pub(crate) fn gone_unreleased<'a>(
    registry: &Addr<RegistryActor>,
    child: Child,
    generation: u64,
    outboxes: impl Iterator<Item = &'a Outbox>,
) {
    registry.do_send(ChildGone { child, generation });
    let why = chatalot_protocol::ws::CloseReason::Restarted;
    let closing = crate::frames::encode(&chatalot_protocol::ws::ServerFrame::Closing {
        reason: why.text().to_owned(),
    });
    for outbox in outboxes {
        let _ = outbox.push(closing.clone());
        outbox.close(why);
    }
}

/// Logs and counts the restart of an actor that went without being released.
fn restarted(child: Child) {
    crate::stats::Stats::add(&crate::stats::stats().actor_restarts, 1);
    match child {
        Child::User(id) => tracing::warn!(user = %id, "user actor stopped unexpectedly; restarted"),
        Child::Channel(id) => {
            tracing::warn!(channel = %id, "channel actor stopped unexpectedly; restarted")
        }
    }
}

/// Makes the running actor of `child` panic, to show supervision at work (tests only: no
/// input of the protocol or the API reaches it).
#[cfg(feature = "fault-injection")]
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectFault(pub Child);

#[cfg(feature = "fault-injection")]
impl Handler<InjectFault> for RegistryActor {
    type Result = ();

    fn handle(&mut self, msg: InjectFault, _: &mut Context<Self>) {
        match msg.0 {
            Child::User(id) => {
                if let Some(a) = self.users.get(&id) {
                    a.do_send(user::Crash);
                }
            }
            Child::Channel(id) => {
                if let Some(a) = self.channels.get(&id) {
                    a.do_send(crate::channel::Crash);
                }
            }
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    TooManySessions,
    Unavailable,
}

/// An authenticated connection joins its user.
#[derive(Message)]
#[rtype(result = "Result<Addr<UserActor>, ConnectError>")]
pub struct Connect {
    pub claims: Claims,
    pub conn: ConnId,
    pub session: Addr<SessionActor>,
    /// Where frames for this connection go (community updates reach it directly).
    pub outbox: Outbox,
}

impl Handler<Connect> for RegistryActor {
    type Result = ResponseFuture<Result<Addr<UserActor>, ConnectError>>;

    fn handle(&mut self, msg: Connect, ctx: &mut Context<Self>) -> Self::Result {
        let user = self.user(msg.claims.user_id);
        let me = ctx.address();
        Box::pin(async move {
            let join = user::Join {
                conn: msg.conn,
                session_id: msg.claims.session_id,
                device_id: msg.claims.device_id,
                session: msg.session.clone(),
                outbox: msg.outbox.clone(),
            };
            match user.send(join).await {
                Ok(Ok(())) => Ok(user),
                Ok(Err(user::JoinError::TooManySessions)) => Err(ConnectError::TooManySessions),
                // the user actor was letting go: ask again, a fresh one is started
                Ok(Err(user::JoinError::Released)) | Err(_) => me
                    .send(Connect { ..msg })
                    .await
                    .unwrap_or(Err(ConnectError::Unavailable)),
            }
        })
    }
}

/// The actors of several channels, started if needed, in the order asked.
#[derive(Message)]
#[rtype(result = "Vec<Addr<ChannelActor>>")]
pub struct GetChannels {
    pub channel_ids: Vec<ChannelId>,
}

impl Handler<GetChannels> for RegistryActor {
    type Result = MessageResult<GetChannels>;

    fn handle(&mut self, msg: GetChannels, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            msg.channel_ids
                .into_iter()
                .map(|id| self.channel(id))
                .collect(),
        )
    }
}

/// One user's access changed in a community (joined or left a group, new role, kicked,
/// banned): the channels of that community the user's connections are subscribed to re-check
/// the user, however many there are.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecheckUser {
    pub user_id: UserId,
    pub community_id: CommunityId,
}

impl Handler<RecheckUser> for RegistryActor {
    type Result = ();

    fn handle(&mut self, msg: RecheckUser, _: &mut Context<Self>) {
        self.last_access_change = std::time::Instant::now();
        if let Some(user) = self.users.get(&msg.user_id) {
            user.do_send(user::RecheckUser {
                community_id: msg.community_id,
            });
        }
    }
}

/// Hands a message to a channel actor.
pub type Delivery = Box<dyn FnOnce(&Addr<ChannelActor>) + Send>;

/// Delivers a message to the current actor of a channel (used by a channel actor that is
/// letting go, to pass on what still reaches it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ToChannel {
    pub channel_id: ChannelId,
    pub deliver: Delivery,
}

impl Handler<ToChannel> for RegistryActor {
    type Result = ();

    fn handle(&mut self, msg: ToChannel, _: &mut Context<Self>) {
        let addr = self.channel(msg.channel_id);
        (msg.deliver)(&addr);
    }
}

/// An idle user actor asks to be let go; true if it was removed.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct ReleaseUser {
    pub user_id: UserId,
    pub addr: Addr<UserActor>,
}

impl Handler<ReleaseUser> for RegistryActor {
    type Result = bool;

    fn handle(&mut self, msg: ReleaseUser, _: &mut Context<Self>) -> bool {
        if self.users.get(&msg.user_id) == Some(&msg.addr) {
            self.users.remove(&msg.user_id);
            self.user_generations.remove(&msg.user_id);
            true
        } else {
            false
        }
    }
}

/// An idle channel actor asks to be let go; true if it was removed.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct ReleaseChannel {
    pub channel_id: ChannelId,
    pub addr: Addr<ChannelActor>,
}

impl Handler<ReleaseChannel> for RegistryActor {
    type Result = bool;

    fn handle(&mut self, msg: ReleaseChannel, _: &mut Context<Self>) -> bool {
        if self.channels.get(&msg.channel_id) == Some(&msg.addr) {
            self.channels.remove(&msg.channel_id);
            self.channel_generations.remove(&msg.channel_id);
            true
        } else {
            false
        }
    }
}

/// Sessions were revoked (logout, password change, suspension...): their connections close.
/// `sessions: None` means every session of the user.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RevokeSessions {
    pub user_id: UserId,
    pub sessions: Option<Vec<SessionId>>,
}

impl Handler<RevokeSessions> for RegistryActor {
    type Result = ();

    fn handle(&mut self, msg: RevokeSessions, _: &mut Context<Self>) {
        if let Some(user) = self.users.get(&msg.user_id) {
            user.do_send(user::Revoke {
                sessions: msg.sessions,
            });
        }
    }
}

/// Channels whose membership, roles or settings changed: their actors (if running) reload the
/// channel and re-check every subscriber, ending the subscriptions of those who lost access.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecheckChannels {
    pub channel_ids: Vec<ChannelId>,
}

impl Handler<RecheckChannels> for RegistryActor {
    type Result = ();

    fn handle(&mut self, msg: RecheckChannels, _: &mut Context<Self>) {
        self.last_access_change = std::time::Instant::now();
        for id in msg.channel_ids {
            if let Some(channel) = self.channels.get(&id) {
                channel.do_send(crate::channel::Recheck);
            }
        }
    }
}

/// Frames for some users' live connections (community and channel updates). Each user gets
/// their own frame; users without a connection are skipped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PushToUsers {
    pub frames: Vec<(UserId, ByteString)>,
}

impl Handler<PushToUsers> for RegistryActor {
    type Result = ();

    fn handle(&mut self, msg: PushToUsers, _: &mut Context<Self>) {
        for (user, frame) in msg.frames {
            if let Some(addr) = self.users.get(&user) {
                addr.do_send(user::Push { frame });
            }
        }
    }
}

/// The server is stopping: every connection is told and closed.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Shutdown;

impl Handler<Shutdown> for RegistryActor {
    type Result = ResponseFuture<usize>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        let users: Vec<Addr<UserActor>> = self.users.values().cloned().collect();
        Box::pin(async move {
            let mut closed = 0;
            for u in users {
                closed += u
                    .send(user::CloseAll(
                        chatalot_protocol::ws::CloseReason::ShuttingDown,
                    ))
                    .await
                    .unwrap_or(0);
            }
            closed
        })
    }
}

/// How many user and channel actors are running.
#[derive(Message)]
#[rtype(result = "(usize, usize)")]
pub struct GetCounts;

impl Handler<GetCounts> for RegistryActor {
    type Result = MessageResult<GetCounts>;

    fn handle(&mut self, _: GetCounts, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.users.len(), self.channels.len()))
    }
}

/// A frame for the live connections of one device (an envelope queued for it). Offline
/// devices get nothing here: they fetch their queue when they come back.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverToDevice {
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub frame: bytestring::ByteString,
}

impl Handler<DeliverToDevice> for RegistryActor {
    type Result = ();

    fn handle(&mut self, msg: DeliverToDevice, _: &mut Context<Self>) {
        if let Some(user) = self.users.get(&msg.user_id) {
            user.do_send(user::DeliverToDevice {
                device_id: msg.device_id,
                frame: msg.frame,
            });
        }
    }
}
