//! The write queue: one database transaction at a time (consecutive sends together), then
//! the acknowledgements and the fan-out, in sequence order.

use super::ChannelActor;
use crate::frames;
use crate::outbox::Outbox;
use crate::stats::{stats, Stats};
use actix::prelude::*;
use chatalot_protocol::ids::{MessageId, UserId};
use chatalot_protocol::ws::ServerFrame;
use chatalot_protocol::ErrorCode;
use chatalot_storage::messages::{self, Change, Inserted, NewMessage};

/// Most sends stored in one transaction.
const MAX_BATCH: usize = 1000;

/// A change waiting for its turn in the queue.
pub(super) enum Op {
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

impl ChannelActor {
    /// Starts the next queued operation when none is running.
    pub(super) fn pump(&mut self, ctx: &mut Context<Self>) {
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
                Inserted::UnknownFile(id) => Self::reject(
                    &outbox,
                    ErrorCode::NotFound,
                    &format!(
                        "files: {} is no file you uploaded to this channel that another message does not name already",
                        id.0
                    ),
                    "send_message",
                    Some(&nonce),
                ),
            }
        }
        Stats::add(&stats().messages_stored, stored);
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
