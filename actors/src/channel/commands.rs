//! What a subscriber asks to change: each message checks the subscriber's rights and the
//! channel's rules, then queues the change (`store`) or, for read markers, stores it.

use super::{ChannelActor, Op};
use crate::frames;
use crate::outbox::Outbox;
use actix::prelude::*;
use chatalot_protocol::api::ChannelKind;
use chatalot_protocol::ids::{DeviceId, FileId, MessageId};
use chatalot_protocol::perms::{self, Decision};
use chatalot_protocol::ws::{Content, ServerFrame};
use chatalot_protocol::ErrorCode;
use chatalot_storage::channels::{self};
use chatalot_storage::messages::NewMessage;
use std::time::{Duration, Instant};

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
    /// Files the message refers to (checked against the store with the insert).
    pub files: Vec<FileId>,
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
        if info.kind == ChannelKind::Dm && !self.apart_from(user).is_empty() {
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
                files: msg.files,
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
