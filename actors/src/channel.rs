//! `ChannelActor`: one per active channel. It keeps the channel's subscribers, enforces slow
//! mode, throttles typing, and serialises every stored change: a queue of operations runs one
//! database transaction at a time (consecutive sends are stored together, a group commit),
//! and only after the commit are the results acknowledged and fanned out, in sequence order.

use crate::frames;
use crate::hub::Hub;
use crate::outbox::{ConnId, Outbox};
use crate::registry::{ReleaseChannel, ToChannel};
use crate::stats::{stats, Stats};
use actix::prelude::*;
use bytestring::ByteString;
use chatalot_protocol::ids::{ChannelId, CommunityId, DeviceId, MessageId, UserId};
use chatalot_protocol::perms::{self, ChannelFacts, Decision};
use chatalot_protocol::ws::{CloseReason, Content, Presence, ServerFrame, UnsubscribeReason};
use chatalot_protocol::ErrorCode;
use chatalot_storage::channels::{self, Channel};
use chatalot_storage::messages::{self, Change, Inserted, NewMessage};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Most sends stored in one transaction.
const MAX_BATCH: usize = 1000;
/// Rows fetched per backlog query.
const BACKLOG_CHUNK: i64 = 250;
/// Live frames held for a subscriber still receiving its backlog before it counts as lagging
/// (their bytes are bounded by the outbox's byte limit too).
const MAX_BUFFERED_WHILE_CATCHING_UP: usize = 4096;
/// One typing notice per user per this interval.
const TYPING_INTERVAL: Duration = Duration::from_secs(3);

struct Sub {
    user: UserId,
    outbox: Outbox,
    /// What the permission rules know about this user here (refreshed by `Recheck`).
    facts: ChannelFacts,
    /// Live frames held back while the backlog is still being sent.
    catching_up: Option<Held>,
}

/// What a DM or group DM knows of its members: who accepted the conversation (created it or
/// posted in it) and which pairs a block stands between (stored lower id first).
#[derive(Default)]
struct Direct {
    accepted: std::collections::HashSet<UserId>,
    apart: std::collections::HashSet<(UserId, UserId)>,
}

impl Direct {
    fn from_state(s: channels::DirectState) -> Direct {
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

/// Live frames held for a subscriber receiving its backlog, bounded in count and bytes.
#[derive(Default)]
struct Held {
    frames: Vec<ByteString>,
    bytes: usize,
}

enum Op {
    Send {
        outbox: Outbox,
        nonce: String,
        message: NewMessage,
    },
    Edit {
        outbox: Outbox,
        user: UserId,
        message_id: MessageId,
        body: messages::Body,
    },
    Delete {
        outbox: Outbox,
        user: UserId,
        message_id: MessageId,
        /// A moderator may delete other people's messages.
        may_moderate: bool,
    },
    React {
        outbox: Outbox,
        user: UserId,
        message_id: MessageId,
        emoji: String,
        present: bool,
    },
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
}

impl ChannelActor {
    /// The actor of channel `id`; `last_recheck`: when access was last re-checked anywhere.
    pub fn new(id: ChannelId, hub: Hub, last_recheck: Instant) -> Self {
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
        }
    }

    /// True when a block stands between `a` and `b` in this DM or group DM: nothing of one
    /// reaches the other here.
    fn apart(&self, a: UserId, b: UserId) -> bool {
        self.direct
            .as_ref()
            .is_some_and(|d| d.apart.contains(&pair(a, b)))
    }

    /// Everyone a block keeps apart from `user` here.
    fn apart_from(&self, user: UserId) -> Vec<UserId> {
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

    /// Whether `user`'s presence may show here: always in community channels; in a DM or group
    /// DM only once the user accepted it (a stranger's request does not reveal the recipient).
    fn shows_presence(&self, user: UserId) -> bool {
        self.direct
            .as_ref()
            .is_none_or(|d| d.accepted.contains(&user))
    }

    /// Announces `user`'s presence here (to the others), if it may show.
    fn presence_out(&mut self, user: UserId, presence: Presence) {
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

    /// Starts the next queued operation when none is running.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.queue.is_empty() {
            return;
        }
        self.busy = true;
        let db = self.hub.db.clone();
        let id = self.id;
        if matches!(self.queue.front(), Some(Op::Send { .. })) {
            let mut metas = Vec::new();
            let mut batch = Vec::new();
            while batch.len() < MAX_BATCH {
                match self.queue.front() {
                    Some(Op::Send { .. }) => {}
                    _ => break,
                }
                if let Some(Op::Send {
                    outbox,
                    nonce,
                    message,
                }) = self.queue.pop_front()
                {
                    metas.push((outbox, nonce));
                    batch.push(message);
                }
            }
            async move {
                let mut conn = db.conn().await?;
                messages::insert_batch(&mut conn, id, &batch).await
            }
            .into_actor(self)
            .map(move |res, act, ctx| {
                act.busy = false;
                act.finish_sends(metas, res);
                act.pump(ctx);
            })
            .spawn(ctx);
            return;
        }
        let Some(op) = self.queue.pop_front() else {
            self.busy = false;
            return;
        };
        let (outbox, frame_kind) = match &op {
            Op::Edit { outbox, .. } => (outbox.clone(), "edit_message"),
            Op::Delete { outbox, .. } => (outbox.clone(), "delete_message"),
            Op::React {
                present: true,
                outbox,
                ..
            } => (outbox.clone(), "add_reaction"),
            Op::React { outbox, .. } => (outbox.clone(), "remove_reaction"),
            Op::Send { outbox, .. } => (outbox.clone(), "send_message"),
        };
        // a reaction goes out as a delta, not as the whole message again
        let reaction_from = match &op {
            Op::React { user, .. } => Some(*user),
            _ => None,
        };
        let reaction = match &op {
            Op::React {
                user,
                emoji,
                present,
                ..
            } => Some((*user, emoji.clone(), *present)),
            _ => None,
        };
        async move {
            let mut conn = db.conn().await?;
            match op {
                Op::Edit {
                    user,
                    message_id,
                    body,
                    ..
                } => messages::edit(&mut conn, id, message_id, user, &body).await,
                Op::Delete {
                    user,
                    message_id,
                    may_moderate,
                    ..
                } => messages::delete(&mut conn, id, message_id, user, may_moderate).await,
                Op::React {
                    user,
                    message_id,
                    emoji,
                    present,
                    ..
                } => messages::set_reaction(&mut conn, id, message_id, user, &emoji, present).await,
                Op::Send { .. } => Ok(Change::Unchanged),
            }
        }
        .into_actor(self)
        .map(move |res, act, ctx| {
            act.busy = false;
            match res {
                Ok(Change::Done(m)) => {
                    act.committed = act.committed.max(m.updated_seq);
                    let frame = match reaction {
                        Some((user_id, emoji, present)) => {
                            let message = frames::message(&m);
                            let count = message
                                .reactions
                                .iter()
                                .find(|r| r.emoji == emoji)
                                .map_or(0, |r| r.count);
                            frames::encode(&ServerFrame::ReactionChanged {
                                channel_id: act.id,
                                message_id: m.id,
                                event_seq: m.updated_seq,
                                user_id,
                                emoji,
                                present,
                                count,
                            })
                        }
                        None => frames::encode(&ServerFrame::MessageUpdated {
                            event_seq: m.updated_seq,
                            message: frames::message(&m),
                        }),
                    };
                    let from = reaction_from.or(m.sender_id);
                    act.fanout(&frame, None, from);
                }
                Ok(Change::Unchanged) => {}
                Ok(Change::NotFound) => Self::reject(
                    &outbox,
                    ErrorCode::NotFound,
                    "no such message",
                    frame_kind,
                    None,
                ),
                Ok(Change::NotAllowed) => Self::reject(
                    &outbox,
                    ErrorCode::Forbidden,
                    "only the sender may change this message",
                    frame_kind,
                    None,
                ),
                Ok(Change::TooManyEdits) => Self::reject(
                    &outbox,
                    ErrorCode::QuotaExceeded,
                    "this message was edited the most times allowed (50)",
                    frame_kind,
                    None,
                ),
                Ok(Change::TooManyReactions) => Self::reject(
                    &outbox,
                    ErrorCode::InvalidRequest,
                    "this message has the most distinct reactions allowed",
                    frame_kind,
                    None,
                ),
                Err(e) => {
                    tracing::warn!(channel = %act.id, error = %e, "change not stored");
                    let (code, why) = not_stored(&e);
                    Self::reject(&outbox, code, why, frame_kind, None);
                }
            }
            act.pump(ctx);
        })
        .spawn(ctx);
    }

    fn finish_sends(
        &mut self,
        metas: Vec<(Outbox, String)>,
        res: chatalot_storage::Result<Vec<Inserted>>,
    ) {
        let results = match res {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(channel = %self.id, error = %e, "messages not stored");
                let (code, why) = not_stored(&e);
                for (outbox, nonce) in &metas {
                    Self::reject(outbox, code, why, "send_message", Some(nonce));
                }
                return;
            }
        };
        let mut stored = 0u64;
        for ((outbox, nonce), result) in metas.into_iter().zip(results) {
            match result {
                Inserted::Fresh(m) => {
                    stored += 1;
                    self.committed = self.committed.max(m.seq);
                    let _ = outbox.push(frames::encode(&ServerFrame::MessageAcked {
                        channel_id: self.id,
                        nonce,
                        message_id: m.id,
                        seq: m.seq,
                    }));
                    if let (Some(d), Some(sender)) = (self.direct.as_mut(), m.sender_id) {
                        // posting accepts the conversation: presence shows from now on
                        if d.accepted.insert(sender) {
                            if let Some(p) = self.presence.get(&sender).copied() {
                                self.presence_out(sender, p);
                            }
                        }
                    }
                    let frame = frames::encode(&ServerFrame::MessageCreated {
                        event_seq: m.updated_seq,
                        message: frames::message(&m),
                    });
                    self.fanout(&frame, None, m.sender_id);
                }
                Inserted::Duplicate(m) => {
                    let _ = outbox.push(frames::encode(&ServerFrame::MessageAcked {
                        channel_id: self.id,
                        nonce,
                        message_id: m.id,
                        seq: m.seq,
                    }));
                }
                Inserted::UnknownReply => Self::reject(
                    &outbox,
                    ErrorCode::NotFound,
                    "reply_to names no message of this channel",
                    "send_message",
                    Some(&nonce),
                ),
            }
        }
        Stats::add(&stats().messages_stored, stored);
    }

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

macro_rules! forward_if_released {
    ($self:ident, $msg:ident) => {
        if $self.released {
            $self.forward($msg);
            return;
        }
    };
}

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
    fn drop_lagging(&mut self, conn: ConnId) {
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

/// A message to store and fan out.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    /// The sending connection.
    pub outbox: Outbox,
    pub device_id: DeviceId,
    pub nonce: String,
    pub content: Content,
    pub reply_to: Option<MessageId>,
}

impl Handler<Publish> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Publish, ctx: &mut Context<Self>) {
        forward_if_released!(self, msg);
        let Some(sub) = self.subscriber(&msg.outbox, "send_message", Some(&msg.nonce)) else {
            return;
        };
        let (user, outbox, facts) = (sub.user, sub.outbox.clone(), sub.facts);
        let nonce = Some(msg.nonce.as_str());
        let Some(info) = &self.info else {
            return Self::reject(
                &outbox,
                ErrorCode::NotFound,
                "no such channel",
                "send_message",
                nonce,
            );
        };
        match perms::post_channel(&facts) {
            Decision::Allow => {}
            Decision::Forbidden(why) => {
                return Self::reject(&outbox, ErrorCode::Forbidden, why, "send_message", nonce)
            }
            Decision::Invisible => {
                return Self::reject(
                    &outbox,
                    ErrorCode::NotFound,
                    "no such channel",
                    "send_message",
                    nonce,
                )
            }
        }
        if info.kind == "dm" && !self.apart_from(user).is_empty() {
            return Self::reject(
                &outbox,
                ErrorCode::Forbidden,
                "a block stands between the two of you: no new messages in this conversation",
                "send_message",
                nonce,
            );
        }
        let e2e_body = matches!(msg.content, Content::Encrypted { .. });
        if e2e_body != info.e2e {
            let why = if info.e2e {
                "this channel is end-to-end encrypted: send `encrypted` content"
            } else {
                "this channel is plaintext: send `text` content"
            };
            return Self::reject(
                &outbox,
                ErrorCode::InvalidRequest,
                why,
                "send_message",
                nonce,
            );
        }
        if info.slow_mode_secs > 0 {
            let gap = Duration::from_secs(info.slow_mode_secs as u64);
            if let Some(last) = self.last_send.get(&user) {
                if last.elapsed() < gap {
                    return Self::reject(
                        &outbox,
                        ErrorCode::SlowMode,
                        "slow mode: wait before sending again",
                        "send_message",
                        nonce,
                    );
                }
            }
            self.last_send.insert(user, Instant::now());
        }
        self.queue.push_back(Op::Send {
            outbox,
            nonce: msg.nonce.clone(),
            message: NewMessage {
                id: MessageId::new(),
                sender: user,
                device: msg.device_id,
                nonce: msg.nonce,
                body: frames::body_of(&msg.content),
                reply_to: msg.reply_to,
            },
        });
        self.pump(ctx);
    }
}

/// The sender replaces a message's content.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Edit {
    /// The sending connection.
    pub outbox: Outbox,
    pub message_id: MessageId,
    pub content: Content,
}

impl Handler<Edit> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Edit, ctx: &mut Context<Self>) {
        forward_if_released!(self, msg);
        let Some(sub) = self.subscriber(&msg.outbox, "edit_message", None) else {
            return;
        };
        let (user, outbox) = (sub.user, sub.outbox.clone());
        // an edit puts new words in the channel: it needs the right to post there now
        if let Decision::Forbidden(why) = perms::post_channel(&sub.facts) {
            return Self::reject(&outbox, ErrorCode::Forbidden, why, "edit_message", None);
        }
        let e2e = self.info.as_ref().is_some_and(|i| i.e2e);
        if e2e != matches!(msg.content, Content::Encrypted { .. }) {
            return Self::reject(
                &outbox,
                ErrorCode::InvalidRequest,
                "the content kind does not match the channel",
                "edit_message",
                None,
            );
        }
        self.queue.push_back(Op::Edit {
            outbox,
            user,
            message_id: msg.message_id,
            body: frames::body_of(&msg.content),
        });
        self.pump(ctx);
    }
}

/// The sender deletes a message.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Delete {
    /// The sending connection.
    pub outbox: Outbox,
    pub message_id: MessageId,
}

impl Handler<Delete> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: Delete, ctx: &mut Context<Self>) {
        forward_if_released!(self, msg);
        let Some(sub) = self.subscriber(&msg.outbox, "delete_message", None) else {
            return;
        };
        let op = Op::Delete {
            outbox: sub.outbox.clone(),
            user: sub.user,
            message_id: msg.message_id,
            may_moderate: perms::delete_others(&sub.facts),
        };
        self.queue.push_back(op);
        self.pump(ctx);
    }
}

/// Adds or removes a reaction.
#[derive(Message)]
#[rtype(result = "()")]
pub struct React {
    /// The sending connection.
    pub outbox: Outbox,
    pub message_id: MessageId,
    pub emoji: String,
    pub present: bool,
}

impl Handler<React> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: React, ctx: &mut Context<Self>) {
        forward_if_released!(self, msg);
        let kind = if msg.present {
            "add_reaction"
        } else {
            "remove_reaction"
        };
        let Some(sub) = self.subscriber(&msg.outbox, kind, None) else {
            return;
        };
        if sub.facts.archived {
            return Self::reject(
                &sub.outbox,
                ErrorCode::Forbidden,
                "the channel is archived",
                kind,
                None,
            );
        }
        let op = Op::React {
            outbox: sub.outbox.clone(),
            user: sub.user,
            message_id: msg.message_id,
            emoji: msg.emoji,
            present: msg.present,
        };
        self.queue.push_back(op);
        self.pump(ctx);
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

/// The user has read up to `seq`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MarkRead {
    /// The sending connection.
    pub outbox: Outbox,
    pub seq: i64,
}

impl Handler<MarkRead> for ChannelActor {
    type Result = ();

    fn handle(&mut self, msg: MarkRead, ctx: &mut Context<Self>) {
        forward_if_released!(self, msg);
        let Some(sub) = self.subscriber(&msg.outbox, "mark_read", None) else {
            return;
        };
        let (user, outbox) = (sub.user, sub.outbox.clone());
        if msg.seq < 0 || msg.seq > self.committed {
            return Self::reject(
                &outbox,
                ErrorCode::InvalidRequest,
                "seq: between 0 and the channel's last sequence number",
                "mark_read",
                None,
            );
        }
        let db = self.hub.db.clone();
        let id = self.id;
        let conn = msg.outbox.conn();
        async move {
            let mut c = db.conn().await?;
            channels::update_read_marker(&mut c, user, id, msg.seq).await
        }
        .into_actor(self)
        .map(move |res, act, _| match res {
            Ok(seq) => {
                let frame = frames::encode(&ServerFrame::ReadMarker {
                    channel_id: act.id,
                    seq,
                });
                act.send_to_user(user, conn, &frame);
            }
            Err(e) => {
                tracing::warn!(error = %e, "read marker not stored");
                Self::reject(
                    &outbox,
                    ErrorCode::Unavailable,
                    "try again",
                    "mark_read",
                    None,
                );
            }
        })
        .spawn(ctx);
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

/// The error frame for a change the database did not store: a full disk says so, anything
/// else is worth a retry (with the same nonce for sends).
fn not_stored(e: &chatalot_storage::StorageError) -> (ErrorCode, &'static str) {
    match e {
        chatalot_storage::StorageError::Full(_) => (
            ErrorCode::StorageFull,
            "the server's storage is full: not stored; try again later with the same nonce",
        ),
        _ => (
            ErrorCode::Unavailable,
            "not stored; retry (with the same nonce for a message)",
        ),
    }
}
