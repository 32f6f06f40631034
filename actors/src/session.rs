//! `SessionActor`: one per WebSocket connection. It authenticates the connection, enforces the
//! per-connection frame rate, keeps the connection's subscriptions and turns client frames into
//! typed messages for the user and channel actors.

use crate::channel::{self, ChannelActor};
use crate::frames;
use crate::hub::{Claims, Hub};
use crate::outbox::{Inbound, Outbox};
use crate::registry::{Connect, ConnectError, GetChannels};
use crate::user::{self, UserActor};
use actix::prelude::*;
use chatalot_protocol::ids::{ChannelId, FileId, MessageId};
use chatalot_protocol::perms::ChannelFacts;
use chatalot_protocol::ws::{
    limits, ClientFrame, CloseReason, Content, Cursor, Presence, ServerFrame,
};
use chatalot_protocol::{ErrorCode, PROTOCOL_VERSION};
use chatalot_storage::channels;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Report activity to the user actor at most this often.
const ACTIVITY_REPORT: Duration = Duration::from_secs(30);
/// Rate-limit violations tolerated before the connection is closed.
const MAX_VIOLATIONS: u32 = 50;

/// What a `send_message` frame asks to post.
struct Post {
    nonce: String,
    content: Content,
    reply_to: Option<MessageId>,
    files: Vec<FileId>,
}

/// Where the answers to one client frame go: the frame's type and, for a send whose nonce is
/// valid, the nonce, so that every error names the frame (and the send) it answers.
#[derive(Debug, Clone)]
struct Reply {
    kind: &'static str,
    nonce: Option<String>,
}

impl Reply {
    fn to(frame: &ClientFrame) -> Reply {
        Reply {
            kind: frame.kind(),
            nonce: frame
                .nonce()
                .filter(|n| chatalot_protocol::ws::check_nonce(n).is_ok())
                .map(str::to_owned),
        }
    }

    /// For a frame that did not decode: its type (when it is one of the protocol's) and
    /// nonce, read from the JSON object alone, so the client learns which send failed.
    fn peek(text: &str) -> Option<Reply> {
        #[derive(serde::Deserialize)]
        struct Peek<'a> {
            #[serde(rename = "type", borrow)]
            kind: Option<std::borrow::Cow<'a, str>>,
            // any JSON: a nonce of the wrong type must not hide the frame's type
            nonce: Option<serde_json::Value>,
        }
        let peek: Peek = serde_json::from_str(text).ok()?;
        let kind = peek.kind?;
        let kind = *ClientFrame::KINDS.iter().find(|k| **k == kind)?;
        let nonce = peek
            .nonce
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .filter(|n| chatalot_protocol::ws::check_nonce(n).is_ok())
            .filter(|_| kind == "send_message")
            .map(str::to_owned);
        Some(Reply { kind, nonce })
    }

    const AUTHENTICATE: Reply = Reply {
        kind: "authenticate",
        nonce: None,
    };
}

/// The actor of one WebSocket connection.
pub struct SessionActor {
    hub: Hub,
    outbox: Outbox,
    claims: Option<Claims>,
    user: Option<Addr<UserActor>>,
    subs: HashMap<ChannelId, Addr<ChannelActor>>,
    tokens: f64,
    refilled: Instant,
    violations: u32,
    last_seen: Instant,
    last_report: Instant,
    authenticating: bool,
    /// A close was asked for; waiting for the socket to go.
    closing: bool,
    /// Closes the connection when the access token expires (moved by re-authentication).
    expiry: Option<SpawnHandle>,
    /// Held until the connection authenticates (the transport's count of unauthenticated
    /// sockets per address).
    pre_auth: Option<Box<dyn std::any::Any>>,
}

impl SessionActor {
    /// Starts the actor of a new connection reading `inbound` and writing to `outbox`.
    pub fn start<S>(
        hub: Hub,
        outbox: Outbox,
        inbound: S,
        pre_auth: Option<Box<dyn std::any::Any>>,
    ) -> Addr<SessionActor>
    where
        S: futures_util::Stream<Item = Inbound> + 'static,
    {
        SessionActor::create(move |ctx| {
            ctx.add_stream(inbound);
            let burst = f64::from(hub.config.frames_burst);
            SessionActor {
                hub,
                outbox,
                claims: None,
                user: None,
                subs: HashMap::new(),
                tokens: burst,
                refilled: Instant::now(),
                violations: 0,
                last_seen: Instant::now(),
                last_report: Instant::now(),
                authenticating: false,
                closing: false,
                expiry: None,
                pre_auth,
            }
        })
    }

    fn push(&self, frame: &ServerFrame) {
        let _ = self.outbox.push(frames::encode(frame));
    }

    /// An error about no frame in particular (one that could not be read, or rate limiting).
    fn error(&self, code: ErrorCode, message: &str) {
        let _ = self.outbox.push(frames::error(code, message, None, None));
    }

    /// An error answering the frame `reply` was made for.
    fn refuse(&self, reply: &Reply, code: ErrorCode, message: &str) {
        let _ = self.outbox.push(frames::error(
            code,
            message,
            Some(reply.kind),
            reply.nonce.as_deref(),
        ));
    }

    /// Tells the client why, asks the transport to close, and leaves every channel. The actor
    /// itself stays (and keeps counting towards its user's connections) until the socket is
    /// gone: the transport then ends the incoming stream.
    fn close(&mut self, ctx: &mut Context<Self>, why: CloseReason) {
        if self.closing {
            return;
        }
        self.push(&ServerFrame::Closing {
            reason: why.text().to_owned(),
        });
        self.outbox.close(why);
        self.wind_down(ctx);
    }

    /// The connection is closing (asked by this session or by a channel that dropped it as a
    /// slow reader): no more subscriptions, timers or frames.
    fn wind_down(&mut self, ctx: &mut Context<Self>) {
        self.closing = true;
        if let Some(h) = self.expiry.take() {
            ctx.cancel_future(h);
        }
        let conn = self.outbox.conn();
        for (id, addr) in self.subs.drain() {
            addr.do_send(channel::Unsubscribe { conn });
            if let Some(user) = &self.user {
                user.do_send(user::ChannelsChanged {
                    conn,
                    joined: None,
                    left: Some(id),
                    checked_at: None,
                });
            }
        }
    }

    /// Takes a token from the frame bucket; false when the connection sends too fast.
    fn allow_frame(&mut self) -> bool {
        let cfg = &self.hub.config;
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * f64::from(cfg.frames_per_sec))
            .min(f64::from(cfg.frames_burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        if !self.allow_frame() {
            self.violations += 1;
            if self.violations > MAX_VIOLATIONS {
                return self.close(ctx, CloseReason::Flooding);
            }
            return self.error(ErrorCode::RateLimited, "too many frames; slow down");
        }
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let code = if e.is_data() {
                    ErrorCode::InvalidRequest
                } else {
                    ErrorCode::InvalidJson
                };
                let message = format!("invalid frame: {e}");
                return match Reply::peek(text) {
                    Some(reply) => self.refuse(&reply, code, &message),
                    None => self.error(code, &message),
                };
            }
        };
        let Some(claims) = self.claims else {
            return match frame {
                ClientFrame::Authenticate { token } if !self.authenticating => {
                    self.authenticate(token, ctx)
                }
                ClientFrame::Authenticate { .. } => self.refuse(
                    &Reply::AUTHENTICATE,
                    ErrorCode::InvalidRequest,
                    "authentication is in progress",
                ),
                _ => self.close(ctx, CloseReason::AuthenticateFirst),
            };
        };
        if !matches!(frame, ClientFrame::Ping {}) && self.last_report.elapsed() >= ACTIVITY_REPORT {
            self.last_report = Instant::now();
            if let Some(user) = &self.user {
                user.do_send(user::Active);
            }
        }
        let reply = Reply::to(&frame);
        if let Err(why) = frame.check() {
            return self.refuse(&reply, ErrorCode::InvalidRequest, &why);
        }
        self.dispatch(frame, reply, claims, ctx);
    }

    /// An invalid, expired or revoked token: an error, then close 4001.
    fn refuse_token(&mut self, ctx: &mut Context<Self>) {
        self.refuse(
            &Reply::AUTHENTICATE,
            ErrorCode::Unauthorized,
            "the access token is not valid",
        );
        self.close(ctx, CloseReason::Unauthorized);
    }

    fn authenticate(&mut self, token: String, ctx: &mut Context<Self>) {
        let Some(claims) = self.hub.auth.verify(&token) else {
            return self.refuse_token(ctx);
        };
        self.authenticating = true;
        let connect = Connect {
            claims,
            conn: self.outbox.conn(),
            session: ctx.address(),
            outbox: self.outbox.clone(),
        };
        self.hub
            .registry
            .send(connect)
            .into_actor(self)
            .map(move |res, act, ctx| {
                act.authenticating = false;
                match res {
                    Ok(Ok(user)) => {
                        // revoked while joining? the revocation set already knows
                        if act.hub.auth.is_revoked(claims.session_id) {
                            user.do_send(user::Left {
                                conn: act.outbox.conn(),
                            });
                            return act.close(ctx, CloseReason::SessionRevoked);
                        }
                        act.claims = Some(claims);
                        act.expire_at(claims.expires_at, ctx);
                        act.user = Some(user);
                        act.pre_auth = None;
                        crate::stats::stats()
                            .sessions
                            .fetch_add(1, Ordering::Relaxed);
                        act.push(&ServerFrame::Ready {
                            protocol_version: PROTOCOL_VERSION,
                            user_id: claims.user_id,
                            session_id: claims.session_id,
                            heartbeat_secs: act.hub.config.heartbeat.as_secs(),
                            token_expires_at: claims.expires_at,
                        });
                    }
                    Ok(Err(ConnectError::TooManySessions)) => {
                        act.refuse(
                            &Reply::AUTHENTICATE,
                            ErrorCode::TooManySessions,
                            "this account has the most connections allowed",
                        );
                        act.close(ctx, CloseReason::TooManySessions);
                    }
                    Ok(Err(ConnectError::Unavailable)) | Err(_) => {
                        act.refuse(&Reply::AUTHENTICATE, ErrorCode::Unavailable, "try again");
                        act.close(ctx, CloseReason::Unavailable);
                    }
                }
            })
            .wait(ctx);
    }

    /// (Re)arms the close at the access token's expiry.
    fn expire_at(&mut self, at: time::OffsetDateTime, ctx: &mut Context<Self>) {
        if let Some(h) = self.expiry.take() {
            ctx.cancel_future(h);
        }
        let left = at - time::OffsetDateTime::now_utc();
        let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
        self.expiry = Some(ctx.run_later(left, |act, ctx| {
            act.expiry = None;
            act.close(ctx, CloseReason::TokenExpired);
        }));
    }

    /// A newer token for this connection's session.
    fn reauthenticate(&mut self, token: &str, claims: Claims, ctx: &mut Context<Self>) {
        let Some(fresh) = self.hub.auth.verify(token) else {
            return self.refuse_token(ctx);
        };
        if fresh.user_id != claims.user_id || fresh.session_id != claims.session_id {
            return self.refuse(
                &Reply::AUTHENTICATE,
                ErrorCode::InvalidRequest,
                "a connection keeps its session: send a token of the same session, or reconnect",
            );
        }
        let expires_at = fresh.expires_at.max(claims.expires_at);
        self.claims = Some(Claims {
            expires_at,
            ..claims
        });
        self.expire_at(expires_at, ctx);
        self.push(&ServerFrame::Reauthenticated {
            token_expires_at: expires_at,
        });
    }

    /// One handler per frame type; the frame has passed `ClientFrame::check`.
    fn dispatch(
        &mut self,
        frame: ClientFrame,
        reply: Reply,
        claims: Claims,
        ctx: &mut Context<Self>,
    ) {
        match frame {
            ClientFrame::Authenticate { token } => self.reauthenticate(&token, claims, ctx),
            ClientFrame::Ping {} => self.push(&ServerFrame::Pong),
            ClientFrame::Subscribe { channels } => self.subscribe(channels, &reply, claims, ctx),
            ClientFrame::Unsubscribe { channel_id } => self.unsubscribe(channel_id),
            ClientFrame::SendMessage {
                channel_id,
                nonce,
                content,
                reply_to,
                files,
            } => self.send_message(
                &reply,
                claims,
                channel_id,
                Post {
                    nonce,
                    content,
                    reply_to,
                    files,
                },
            ),
            ClientFrame::EditMessage {
                channel_id,
                message_id,
                content,
            } => self.edit_message(&reply, claims, channel_id, message_id, content),
            ClientFrame::DeleteMessage {
                channel_id,
                message_id,
            } => {
                let outbox = self.outbox.clone();
                self.to_channel(&reply, channel_id, channel::Delete { outbox, message_id });
            }
            ClientFrame::AddReaction {
                channel_id,
                message_id,
                emoji,
            } => self.react(&reply, channel_id, message_id, emoji, true),
            ClientFrame::RemoveReaction {
                channel_id,
                message_id,
                emoji,
            } => self.react(&reply, channel_id, message_id, emoji, false),
            ClientFrame::StartTyping { channel_id } => {
                // typing is best effort: a busy channel drops it without an error
                if let Some(addr) = self.channel(&reply, channel_id) {
                    let _ = addr.try_send(channel::Typing {
                        outbox: self.outbox.clone(),
                    });
                }
            }
            ClientFrame::SetPresence { presence } => {
                if let Some(user) = &self.user {
                    user.do_send(user::SetPresence { presence });
                }
            }
            ClientFrame::MarkRead { channel_id, seq } => {
                let outbox = self.outbox.clone();
                self.to_channel(&reply, channel_id, channel::MarkRead { outbox, seq });
            }
        }
    }

    fn unsubscribe(&mut self, channel_id: ChannelId) {
        let conn = self.outbox.conn();
        if let Some(addr) = self.subs.remove(&channel_id) {
            addr.do_send(channel::Unsubscribe { conn });
            if let Some(user) = &self.user {
                user.do_send(user::ChannelsChanged {
                    conn,
                    joined: None,
                    left: Some(channel_id),
                    checked_at: None,
                });
            }
        }
        self.push(&ServerFrame::Unsubscribed {
            channel_id,
            reason: None,
        });
    }

    fn send_message(&mut self, reply: &Reply, claims: Claims, channel_id: ChannelId, send: Post) {
        let Some(addr) = self.channel(reply, channel_id) else {
            return;
        };
        if let Err(why) = self.within_quota(claims, &send.content) {
            return self.refuse(reply, ErrorCode::QuotaExceeded, &why);
        }
        let msg = channel::Publish {
            outbox: self.outbox.clone(),
            device_id: claims.device_id,
            nonce: send.nonce,
            content: send.content,
            reply_to: send.reply_to,
            files: send.files,
        };
        if addr.try_send(msg).is_err() {
            self.refuse(
                reply,
                ErrorCode::Busy,
                "the channel is busy; retry with the same nonce",
            );
        }
    }

    fn edit_message(
        &mut self,
        reply: &Reply,
        claims: Claims,
        channel_id: ChannelId,
        message_id: MessageId,
        content: Content,
    ) {
        let Some(addr) = self.channel(reply, channel_id) else {
            return;
        };
        if let Err(why) = self.within_quota(claims, &content) {
            return self.refuse(reply, ErrorCode::QuotaExceeded, &why);
        }
        let msg = channel::Edit {
            outbox: self.outbox.clone(),
            message_id,
            content,
        };
        self.deliver(reply, &addr, msg);
    }

    fn react(
        &mut self,
        reply: &Reply,
        channel_id: ChannelId,
        message_id: MessageId,
        emoji: String,
        present: bool,
    ) {
        let msg = channel::React {
            outbox: self.outbox.clone(),
            message_id,
            emoji,
            present,
        };
        self.to_channel(reply, channel_id, msg);
    }

    /// Counts a message or an edit against the user's daily allowance.
    fn within_quota(&self, claims: Claims, content: &Content) -> Result<(), String> {
        self.hub
            .quota
            .take(claims.user_id, content.len() as u64)
            .map_err(|e| match e {
                crate::quota::Exceeded::Messages(n) => {
                    format!("you have sent the most messages allowed today ({n}); try tomorrow")
                }
                crate::quota::Exceeded::Bytes(n) => format!(
                    "you have sent the most message bytes allowed today ({n}); try tomorrow"
                ),
            })
    }

    /// Hands `msg` to a subscribed channel's actor, or answers why not.
    fn to_channel<M>(&self, reply: &Reply, channel_id: ChannelId, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        ChannelActor: Handler<M>,
    {
        if let Some(addr) = self.channel(reply, channel_id) {
            self.deliver(reply, &addr, msg);
        }
    }

    fn deliver<M>(&self, reply: &Reply, addr: &Addr<ChannelActor>, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        ChannelActor: Handler<M>,
    {
        if addr.try_send(msg).is_err() {
            self.refuse(reply, ErrorCode::Busy, "the channel is busy; retry");
        }
    }

    /// The actor of a subscribed channel, or an error frame.
    fn channel(&self, reply: &Reply, id: ChannelId) -> Option<Addr<ChannelActor>> {
        let found = self.subs.get(&id).cloned();
        if found.is_none() {
            self.refuse(
                reply,
                ErrorCode::NotFound,
                "no such channel among this connection's subscriptions (subscribe first)",
            );
        }
        found
    }

    /// Subscribes to the listed channels (each at most once per frame, checked by the
    /// protocol), at most `MAX_SUBSCRIPTIONS` in all, their access checked together in one
    /// query.
    fn subscribe(
        &mut self,
        cursors: Vec<Cursor>,
        reply: &Reply,
        claims: Claims,
        ctx: &mut Context<Self>,
    ) {
        let ids: Vec<ChannelId> = cursors.iter().map(|c| c.channel_id).collect();
        let fresh = ids.iter().filter(|id| !self.subs.contains_key(id)).count();
        if self.subs.len() + fresh > limits::MAX_SUBSCRIPTIONS {
            return self.refuse(
                reply,
                ErrorCode::InvalidRequest,
                &format!(
                    "channels: 1 or more, at most {} subscriptions per connection",
                    limits::MAX_SUBSCRIPTIONS
                ),
            );
        }
        let Some(user) = self.user.clone() else {
            return;
        };
        let reply = reply.clone();
        let registry = self.hub.registry.clone();
        let db = self.hub.db.clone();
        let outbox = self.outbox.clone();
        let conn = outbox.conn();
        async move {
            let presence = user
                .send(user::GetPresence)
                .await
                .unwrap_or(Presence::Online);
            // one query for the whole list; channel actors start only for readable channels.
            // An access change after `checked_at` reaches the channel as a re-check (an actor
            // started later knows when the last change was), so stale facts do not stay.
            let checked_at = Instant::now();
            let mut db_conn = db.conn().await.map_err(|_| ())?;
            let visible = channels::find_visible_many(&mut db_conn, &ids, claims.user_id)
                .await
                .map_err(|_| ())?;
            drop(db_conn);
            let facts: HashMap<ChannelId, ChannelFacts> =
                visible.into_iter().map(|(c, f)| (c.id, f)).collect();
            let readable: Vec<ChannelId> = ids
                .iter()
                .copied()
                .filter(|id| facts.contains_key(id))
                .collect();
            let addrs = registry
                .send(GetChannels {
                    channel_ids: readable.clone(),
                })
                .await
                .map_err(|_| ())?;
            let addrs: HashMap<ChannelId, Addr<ChannelActor>> =
                readable.into_iter().zip(addrs).collect();
            let mut joined = Vec::with_capacity(cursors.len());
            let mut missing = Vec::new();
            for c in cursors {
                let (Some(f), Some(addr)) = (facts.get(&c.channel_id), addrs.get(&c.channel_id))
                else {
                    missing.push(c.channel_id);
                    continue;
                };
                addr.do_send(channel::Subscribe {
                    conn,
                    user_id: claims.user_id,
                    outbox: outbox.clone(),
                    after_seq: c.after_seq,
                    presence,
                    facts: *f,
                    checked_at,
                });
                user.do_send(user::ChannelsChanged {
                    conn,
                    joined: Some((c.channel_id, addr.clone())),
                    left: None,
                    checked_at: Some(checked_at),
                });
                joined.push((c.channel_id, addr.clone()));
            }
            Ok::<_, ()>((joined, missing))
        }
        .into_actor(self)
        .map(move |res, act, _| {
            let Ok((joined, missing)) = res else {
                return act.refuse(&reply, ErrorCode::Unavailable, "try again");
            };
            for id in missing {
                act.refuse(
                    &reply,
                    ErrorCode::NotFound,
                    &format!("channel {id}: no such channel"),
                );
            }
            let conn = act.outbox.conn();
            for (id, addr) in joined {
                if act.closing {
                    addr.do_send(channel::Unsubscribe { conn });
                } else {
                    act.subs.insert(id, addr);
                }
            }
        })
        .wait(ctx);
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(64);
        crate::stats::stats()
            .connections
            .fetch_add(1, Ordering::Relaxed);
        let cfg = self.hub.config.clone();
        ctx.run_later(cfg.auth_timeout, |act, ctx| {
            if act.claims.is_none() {
                act.close(ctx, CloseReason::AuthTimeout);
            }
        });
        ctx.run_interval(cfg.heartbeat, move |act, ctx| {
            if act.closing {
                return;
            }
            if act.last_seen.elapsed() >= cfg.idle_timeout {
                return act.close(ctx, CloseReason::IdleTimeout);
            }
            act.outbox.ping();
        });
        // a reader that takes nothing for `write_timeout`, or that a channel dropped, is let go
        let limit = self.hub.config.write_timeout;
        let check = (limit / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
        ctx.run_interval(check, move |act, ctx| {
            if act.closing {
                return;
            }
            if act.outbox.is_closing() {
                act.wind_down(ctx);
            } else if act.outbox.stalled(limit) {
                crate::stats::Stats::add(&crate::stats::stats().queue_drops, 1);
                act.close(ctx, CloseReason::Lagged);
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        let stats = crate::stats::stats();
        stats.connections.fetch_sub(1, Ordering::Relaxed);
        let conn = self.outbox.conn();
        for addr in self.subs.values() {
            addr.do_send(channel::Unsubscribe { conn });
        }
        if let Some(user) = &self.user {
            stats.sessions.fetch_sub(1, Ordering::Relaxed);
            user.do_send(user::Left { conn });
        }
        self.outbox.close(CloseReason::Normal);
    }
}

impl StreamHandler<Inbound> for SessionActor {
    fn handle(&mut self, item: Inbound, ctx: &mut Context<Self>) {
        self.last_seen = Instant::now();
        if self.closing {
            // only the end of the socket matters now
            if matches!(item, Inbound::Closed) {
                ctx.stop();
            }
            return;
        }
        match item {
            Inbound::Text(text) => self.on_text(&text, ctx),
            Inbound::Binary => self.error(
                ErrorCode::InvalidRequest,
                "binary frames are not part of the protocol; send JSON text",
            ),
            Inbound::Ping(data) => self.outbox.pong(data),
            Inbound::Heartbeat => {}
            Inbound::TooLarge => self.close(ctx, CloseReason::TooLarge),
            Inbound::Closed => ctx.stop(),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Close this connection (revocation, shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Close(pub CloseReason);

impl Handler<Close> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: Close, ctx: &mut Context<Self>) {
        self.close(ctx, msg.0);
    }
}

/// A frame for this connection from outside its channels (an envelope for its device). A full
/// outbox closes the connection like any slow reader; the frame's content stays queued on the
/// server and is fetched after reconnecting.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub frame: bytestring::ByteString,
}

impl Handler<Deliver> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        if self.claims.is_none() || self.closing {
            return;
        }
        if self.outbox.push(msg.frame).is_err() {
            crate::stats::Stats::add(&crate::stats::stats().queue_drops, 1);
            self.outbox.close(CloseReason::Lagged);
            self.wind_down(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    //! What a session decides before any database or other actor is involved, over a
    //! `QueueSocket`.
    use super::*;
    use crate::hub::Authenticator;
    use crate::registry::Realtime;
    use crate::testing::QueueSocket;
    use chatalot_protocol::ids::SessionId;

    /// Refuses every token.
    struct NoTokens;

    impl Authenticator for NoTokens {
        fn verify(&self, _: &str) -> Option<Claims> {
            None
        }
        fn is_revoked(&self, _: SessionId) -> bool {
            false
        }
    }

    /// Runs `test` against a gateway whose database is never reached.
    fn gateway<F>(config: crate::RealtimeConfig, test: impl FnOnce(Realtime) -> F)
    where
        F: std::future::Future<Output = ()>,
    {
        actix::System::new().block_on(async move {
            let db = chatalot_storage::Db::new(
                "host=/nonexistent dbname=none",
                1,
                Duration::from_millis(100),
            )
            .expect("a lazy pool");
            test(Realtime::start(db, std::sync::Arc::new(NoTokens), config)).await;
        });
    }

    #[test]
    fn frames_before_authentication_close_the_connection_with_4001() {
        gateway(Default::default(), |rt| async move {
            let mut s = QueueSocket::open(&rt.hub);
            s.send_text("{not json");
            let err = s.frame().await;
            assert_eq!(
                (err["type"].as_str(), err["code"].as_str()),
                (Some("error"), Some("invalid_json"))
            );
            s.send_text(r#"{"type": "ping"}"#);
            let (frames, why) = s.until_close().await;
            assert_eq!(why, CloseReason::AuthenticateFirst);
            assert_eq!(why.code(), 4001);
            assert_eq!(frames.last().expect("closing")["reason"], why.text());
        });
    }

    #[test]
    fn a_refused_token_is_answered_for_authenticate_then_closed() {
        gateway(Default::default(), |rt| async move {
            let mut s = QueueSocket::open(&rt.hub);
            s.send_text(r#"{"type": "authenticate", "token": "forged"}"#);
            let (frames, why) = s.until_close().await;
            assert_eq!(why, CloseReason::Unauthorized);
            assert_eq!(frames[0]["code"], "unauthorized");
            assert_eq!(frames[0]["frame"], "authenticate");
            assert_eq!(frames[1]["type"], "closing");
        });
    }

    #[test]
    fn silence_after_connecting_closes_when_the_time_to_authenticate_is_up() {
        let config = crate::RealtimeConfig {
            auth_timeout: Duration::from_millis(200),
            ..Default::default()
        };
        gateway(config, |rt| async move {
            let mut s = QueueSocket::open(&rt.hub);
            let started = Instant::now();
            let (_, why) = s.until_close().await;
            assert_eq!(why, CloseReason::AuthTimeout);
            assert!(started.elapsed() >= Duration::from_millis(150));
        });
    }

    #[test]
    fn a_flood_gets_rate_limit_errors_then_a_policy_close() {
        let config = crate::RealtimeConfig {
            frames_burst: 5,
            frames_per_sec: 1,
            ..Default::default()
        };
        gateway(config, |rt| async move {
            let mut s = QueueSocket::open(&rt.hub);
            for _ in 0..(5 + MAX_VIOLATIONS + 1) {
                s.send_text("{not json");
            }
            let (frames, why) = s.until_close().await;
            assert_eq!(why, CloseReason::Flooding);
            let limited = frames
                .iter()
                .filter(|f| f["code"] == "rate_limited")
                .count();
            assert_eq!(limited, MAX_VIOLATIONS as usize);
            assert_eq!(
                frames
                    .iter()
                    .filter(|f| f["code"] == "invalid_json")
                    .count(),
                5
            );
        });
    }

    #[test]
    fn an_oversized_frame_closes_with_1009_and_binary_frames_are_refused() {
        gateway(Default::default(), |rt| async move {
            let mut s = QueueSocket::open(&rt.hub);
            s.push(Inbound::Binary);
            assert_eq!(s.frame().await["code"], "invalid_request");
            s.push(Inbound::TooLarge);
            let (_, why) = s.until_close().await;
            assert_eq!((why, why.code()), (CloseReason::TooLarge, 1009));
        });
    }
}
