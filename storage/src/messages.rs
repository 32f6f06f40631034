//! Messages: batched inserts with per-channel sequence numbers, history pages, changes after a
//! sequence number, edits with history, deletion, reactions.
//!
//! Every stored change takes the channel's next sequence number from `channels.last_seq`, under
//! that row's lock, in the same transaction as the change: sequence numbers are unique and
//! increasing per channel, and a change is visible exactly when its number is.

use crate::error::{Result, StorageError};
use crate::schema::{channels, files, message_edits, messages, reactions};
use chatalot_protocol::ids::{ChannelId, DeviceId, FileId, MessageId, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Most distinct reactions on one message.
pub const MAX_REACTIONS_PER_MESSAGE: usize = 20;
/// Most users listed per reaction.
pub const MAX_REACTION_USERS: usize = 100;

/// A message body.
#[derive(Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    Cipher(Vec<u8>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // message content never reaches logs
        match self {
            Body::Text(t) => write!(f, "Text({} chars)", t.chars().count()),
            Body::Cipher(c) => write!(f, "Cipher({} bytes)", c.len()),
        }
    }
}

/// Users who reacted with one emoji.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionGroup {
    pub emoji: String,
    pub count: u32,
    pub user_ids: Vec<UserId>,
}

/// A stored message with its reactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub seq: i64,
    pub updated_seq: i64,
    pub sender_id: Option<UserId>,
    pub nonce: String,
    pub body: Option<Body>,
    pub reply_to: Option<MessageId>,
    pub created_at: OffsetDateTime,
    pub edited_at: Option<OffsetDateTime>,
    pub deleted: bool,
    pub reactions: Vec<ReactionGroup>,
    /// The files it names, in the order of their ids (none once deleted: deleting a message
    /// deletes its file rows).
    pub files: Vec<FileId>,
    /// Of those, the files of a plaintext channel with what the server knows of them, in the
    /// same order (none in an end-to-end channel).
    pub attachments: Vec<crate::files::Attachment>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct MessageRow {
    id: Uuid,
    channel_id: Uuid,
    seq: i64,
    updated_seq: i64,
    sender_id: Option<Uuid>,
    nonce: String,
    body_text: Option<String>,
    body_cipher: Option<Vec<u8>>,
    reply_to: Option<Uuid>,
    created_at: OffsetDateTime,
    edited_at: Option<OffsetDateTime>,
    deleted_at: Option<OffsetDateTime>,
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        let body = match (r.body_text, r.body_cipher) {
            (Some(t), _) => Some(Body::Text(t)),
            (None, Some(c)) => Some(Body::Cipher(c)),
            (None, None) => None,
        };
        Message {
            id: MessageId(r.id),
            channel_id: ChannelId(r.channel_id),
            seq: r.seq,
            updated_seq: r.updated_seq,
            sender_id: r.sender_id.map(UserId),
            nonce: r.nonce,
            body,
            reply_to: r.reply_to.map(MessageId),
            created_at: r.created_at,
            edited_at: r.edited_at,
            deleted: r.deleted_at.is_some(),
            reactions: Vec::new(),
            files: Vec::new(),
            attachments: Vec::new(),
        }
    }
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub sender: UserId,
    pub device: DeviceId,
    pub nonce: String,
    pub body: Body,
    pub reply_to: Option<MessageId>,
    /// Files it names: each uploaded to this channel by the sender and named by no message yet
    /// (at most `MAX_MESSAGE_FILES`, checked by the protocol).
    pub files: Vec<FileId>,
}

/// The result of storing one message of a batch.
#[derive(Debug, Clone)]
pub enum Inserted {
    /// Stored now.
    Fresh(Message),
    /// Stored before under the same sender and nonce: the earlier message.
    Duplicate(Message),
    /// `reply_to` names no message of this channel; nothing stored.
    UnknownReply,
    /// This file is not one the sender uploaded to this channel, or a message names it
    /// already; nothing stored.
    UnknownFile(FileId),
}

/// What `insert_batch` does with one message of a batch.
enum Plan {
    /// Stored before: answered with that message.
    Known,
    /// The `i`-th message stored now (a repeat in the batch shares it).
    Fresh(usize),
    UnknownReply,
    UnknownFile(FileId),
}

fn split_body(body: &Body) -> (Option<&str>, Option<&[u8]>) {
    match body {
        Body::Text(t) => (Some(t.as_str()), None),
        Body::Cipher(c) => (None, Some(c.as_slice())),
    }
}

/// Takes `n` sequence numbers of `channel` (locking its row until the transaction ends) and
/// returns the first.
async fn take_seqs(conn: &mut AsyncPgConnection, channel: ChannelId, n: i64) -> Result<i64> {
    let last: i64 = diesel::update(channels::table.find(channel.0))
        .set(channels::last_seq.eq(channels::last_seq + n))
        .returning(channels::last_seq)
        .get_result(conn)
        .await?;
    Ok(last - n + 1)
}

/// As `take_seqs`, for new messages: the channel's last activity moves to now.
async fn take_seqs_for_messages(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    n: i64,
) -> Result<i64> {
    let last: i64 = diesel::update(channels::table.find(channel.0))
        .set((
            channels::last_seq.eq(channels::last_seq + n),
            channels::last_activity_at.eq(diesel::dsl::now),
        ))
        .returning(channels::last_seq)
        .get_result(conn)
        .await?;
    Ok(last - n + 1)
}

/// Stores a batch of messages in one transaction (group commit), in order, with consecutive
/// sequence numbers. Results are in the order of `batch`.
pub async fn insert_batch(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    batch: &[NewMessage],
) -> Result<Vec<Inserted>> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        // the channel's row first: batches of one channel are stored one after another, so
        // the nonces read next include every batch committed before (one writer per channel
        // is the rule, but a race must not store a nonce twice or refuse a batch). The lock is
        // the one the sequence update takes anyway, so rows that only refer to the channel
        // (read markers, envelopes, members) do not wait for it
        channels::table
            .find(channel.0)
            .select(channels::last_seq)
            .for_no_key_update()
            .first::<i64>(conn)
            .await?;
        // earlier sends with the same (sender, nonce): answered with what was stored then
        // (channel, sender, nonce) is indexed: narrowing by both keeps this lookup independent
        // of the channel's size
        let nonces: Vec<&str> = batch.iter().map(|m| m.nonce.as_str()).collect();
        let mut senders: Vec<Uuid> = batch.iter().map(|m| m.sender.0).collect();
        senders.sort();
        senders.dedup();
        let existing: Vec<MessageRow> = messages::table
            .filter(messages::channel_id.eq(channel.0))
            .filter(messages::sender_id.eq_any(&senders))
            .filter(messages::nonce.eq_any(&nonces))
            .select(MessageRow::as_select())
            .load(conn)
            .await?;
        let mut known: HashMap<(Uuid, String), Message> = existing
            .into_iter()
            .filter_map(|r| Some(((r.sender_id?, r.nonce.clone()), Message::from(r))))
            .collect();
        let replies: Vec<Uuid> = batch
            .iter()
            .filter_map(|m| m.reply_to.map(|r| r.0))
            .collect();
        let reply_ok: Vec<Uuid> = if replies.is_empty() {
            Vec::new()
        } else {
            messages::table
                .filter(messages::channel_id.eq(channel.0))
                .filter(messages::id.eq_any(&replies))
                .select(messages::id)
                .load(conn)
                .await?
        };

        // the files named, locked until the batch commits: each may be claimed once
        let wanted: Vec<Uuid> = batch
            .iter()
            .flat_map(|m| m.files.iter().map(|f| f.0))
            .collect();
        let rows: Vec<(Uuid, Uuid, i64, crate::files::MetaColumns)> = if wanted.is_empty() {
            Vec::new()
        } else {
            files::table
                .filter(files::id.eq_any(&wanted))
                .filter(files::channel_id.eq(channel.0))
                .filter(files::message_id.is_null())
                .select((files::id, files::uploader_id, files::size, META_COLUMNS))
                .for_update()
                .load(conn)
                .await?
        };
        let mut claimable: HashMap<Uuid, Uuid> = HashMap::new();
        let mut described: HashMap<Uuid, crate::files::Attachment> = HashMap::new();
        for (id, uploader, size, cols) in rows {
            claimable.insert(id, uploader);
            if let Some(a) = attachment(id, size, cols) {
                described.insert(id, a);
            }
        }

        let mut plan: Vec<Plan> = Vec::with_capacity(batch.len());
        let mut fresh: Vec<&NewMessage> = Vec::new();
        let mut pending: HashMap<(Uuid, &str), usize> = HashMap::new();
        for m in batch {
            let key = (m.sender.0, m.nonce.as_str());
            if known.contains_key(&(m.sender.0, m.nonce.clone())) {
                plan.push(Plan::Known);
            } else if let Some(i) = pending.get(&key) {
                plan.push(Plan::Fresh(*i));
            } else if m.reply_to.is_some_and(|r| !reply_ok.contains(&r.0)) {
                plan.push(Plan::UnknownReply);
            } else if let Some(bad) = m
                .files
                .iter()
                .find(|f| claimable.get(&f.0) != Some(&m.sender.0))
            {
                plan.push(Plan::UnknownFile(*bad));
            } else {
                for f in &m.files {
                    claimable.remove(&f.0);
                }
                pending.insert(key, fresh.len());
                plan.push(Plan::Fresh(fresh.len()));
                fresh.push(m);
            }
        }

        let mut stored: Vec<Message> = Vec::new();
        if !fresh.is_empty() {
            let first = take_seqs_for_messages(conn, channel, fresh.len() as i64).await?;
            let rows: Vec<_> = fresh
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let (text, cipher) = split_body(&m.body);
                    let seq = first + i as i64;
                    (
                        messages::id.eq(m.id.0),
                        messages::channel_id.eq(channel.0),
                        messages::seq.eq(seq),
                        messages::updated_seq.eq(seq),
                        messages::sender_id.eq(Some(m.sender.0)),
                        messages::sender_device_id.eq(Some(m.device.0)),
                        messages::nonce.eq(m.nonce.as_str()),
                        messages::body_text.eq(text),
                        messages::body_cipher.eq(cipher),
                        messages::reply_to.eq(m.reply_to.map(|r| r.0)),
                    )
                })
                .collect();
            let mut inserted: Vec<MessageRow> = diesel::insert_into(messages::table)
                .values(&rows)
                .returning(MessageRow::as_returning())
                .get_results(conn)
                .await?;
            inserted.sort_by_key(|r| r.seq);
            stored = inserted.into_iter().map(Message::from).collect();
            for (m, msg) in fresh.iter().zip(stored.iter_mut()) {
                if m.files.is_empty() {
                    continue;
                }
                let ids: Vec<Uuid> = m.files.iter().map(|f| f.0).collect();
                diesel::update(files::table.filter(files::id.eq_any(&ids)))
                    .set(files::message_id.eq(Some(m.id.0)))
                    .execute(conn)
                    .await?;
                msg.files = m.files.clone();
                // as loaded later: in the order of their ids (the order of their uploads)
                msg.files.sort_by_key(|f| f.0);
                msg.attachments = msg
                    .files
                    .iter()
                    .filter_map(|f| described.get(&f.0).cloned())
                    .collect();
            }
        }

        let mut out = Vec::with_capacity(batch.len());
        let mut seen_fresh = vec![false; stored.len()];
        for (m, p) in batch.iter().zip(plan) {
            out.push(match p {
                Plan::Known => Inserted::Duplicate(
                    known
                        .get(&(m.sender.0, m.nonce.clone()))
                        .cloned()
                        .ok_or_else(|| StorageError::Query("lost duplicate".into()))?,
                ),
                Plan::UnknownReply => Inserted::UnknownReply,
                Plan::UnknownFile(f) => Inserted::UnknownFile(f),
                Plan::Fresh(i) => {
                    let msg = stored
                        .get(i)
                        .cloned()
                        .ok_or_else(|| StorageError::Query("lost insert".into()))?;
                    if std::mem::replace(&mut seen_fresh[i], true) {
                        Inserted::Duplicate(msg)
                    } else {
                        known.insert((m.sender.0, m.nonce.clone()), msg.clone());
                        Inserted::Fresh(msg)
                    }
                }
            });
        }
        Ok(out)
    })
    .await
}

/// Loads the reactions of `list` into it.
async fn with_reactions(conn: &mut AsyncPgConnection, list: &mut [Message]) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = list.iter().map(|m| m.id.0).collect();
    let rows: Vec<(Uuid, String, Uuid)> = reactions::table
        .filter(reactions::message_id.eq_any(&ids))
        .order((reactions::created_at.asc(), reactions::user_id.asc()))
        .select((reactions::message_id, reactions::emoji, reactions::user_id))
        .load(conn)
        .await?;
    let mut by_message: HashMap<Uuid, Vec<ReactionGroup>> = HashMap::new();
    for (mid, emoji, user) in rows {
        let groups = by_message.entry(mid).or_default();
        match groups.iter_mut().find(|g| g.emoji == emoji) {
            Some(g) => {
                g.count += 1;
                if g.user_ids.len() < MAX_REACTION_USERS {
                    g.user_ids.push(UserId(user));
                }
            }
            None => groups.push(ReactionGroup {
                emoji,
                count: 1,
                user_ids: vec![UserId(user)],
            }),
        }
    }
    for m in list.iter_mut() {
        m.reactions = by_message.remove(&m.id.0).unwrap_or_default();
    }
    let named: Vec<(Uuid, Uuid, i64, crate::files::MetaColumns)> = files::table
        .filter(files::message_id.eq_any(ids.iter().map(|i| Some(*i))))
        .order(files::id.asc())
        .select((
            files::message_id.assume_not_null(),
            files::id,
            files::size,
            META_COLUMNS,
        ))
        .load(conn)
        .await?;
    let mut files_of: HashMap<Uuid, Vec<FileId>> = HashMap::new();
    let mut attachments_by: HashMap<Uuid, Vec<crate::files::Attachment>> = HashMap::new();
    for (mid, fid, size, cols) in named {
        files_of.entry(mid).or_default().push(FileId(fid));
        // what the server knows of it: only files of plaintext channels have names
        if let Some(a) = attachment(fid, size, cols) {
            attachments_by.entry(mid).or_default().push(a);
        }
    }
    for m in list.iter_mut() {
        m.files = files_of.remove(&m.id.0).unwrap_or_default();
        m.attachments = attachments_by.remove(&m.id.0).unwrap_or_default();
    }
    Ok(())
}

/// The columns of [`crate::files::FileMeta`].
const META_COLUMNS: (
    files::name,
    files::content_type,
    files::width,
    files::height,
    files::thumb_sha256,
) = (
    files::name,
    files::content_type,
    files::width,
    files::height,
    files::thumb_sha256,
);

/// A file as a message carries it, when it has what a plaintext channel's file has.
fn attachment(
    id: Uuid,
    size: i64,
    cols: crate::files::MetaColumns,
) -> Option<crate::files::Attachment> {
    Some(crate::files::Attachment {
        id: FileId(id),
        size: u64::try_from(size).unwrap_or(0),
        meta: crate::files::meta_of(cols)?,
    })
}

/// One message of `channel` with its reactions; `NotFound` if none.
pub async fn get(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    id: MessageId,
) -> Result<Message> {
    let row: MessageRow = messages::table
        .filter(messages::channel_id.eq(channel.0))
        .filter(messages::id.eq(id.0))
        .select(MessageRow::as_select())
        .first(conn)
        .await?;
    let mut list = vec![Message::from(row)];
    with_reactions(conn, &mut list).await?;
    Ok(list.remove(0))
}

/// A page of history in sequence order: the `limit` messages before `before_seq` (newest page
/// when absent), or, with `after_seq`, the `limit` messages after it.
pub async fn page(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<Message>> {
    let base = messages::table
        .filter(messages::channel_id.eq(channel.0))
        .select(MessageRow::as_select())
        .limit(limit);
    let mut rows: Vec<MessageRow> = match (after_seq, before_seq) {
        (Some(after), before) => {
            base.filter(messages::seq.gt(after))
                .filter(messages::seq.lt(before.unwrap_or(i64::MAX)))
                .order(messages::seq.asc())
                .load(conn)
                .await?
        }
        (None, before) => {
            let mut r: Vec<MessageRow> = base
                .filter(messages::seq.lt(before.unwrap_or(i64::MAX)))
                .order(messages::seq.desc())
                .load(conn)
                .await?;
            r.reverse();
            r
        }
    };
    rows.sort_by_key(|r| r.seq);
    let mut list: Vec<Message> = rows.into_iter().map(Message::from).collect();
    with_reactions(conn, &mut list).await?;
    Ok(list)
}

/// Every message of `channel` created or changed after `after_seq` and up to `upto_seq`, in the
/// order of their latest change, at most `limit`.
pub async fn changes(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    after_seq: i64,
    upto_seq: i64,
    limit: i64,
) -> Result<Vec<Message>> {
    let rows: Vec<MessageRow> = messages::table
        .filter(messages::channel_id.eq(channel.0))
        .filter(messages::updated_seq.gt(after_seq))
        .filter(messages::updated_seq.le(upto_seq))
        .order(messages::updated_seq.asc())
        .limit(limit)
        .select(MessageRow::as_select())
        .load(conn)
        .await?;
    let mut list: Vec<Message> = rows.into_iter().map(Message::from).collect();
    with_reactions(conn, &mut list).await?;
    Ok(list)
}

/// What became of a change to an existing message.
#[derive(Debug, Clone)]
pub enum Change {
    /// Stored; the message in its new state.
    Done(Box<Message>),
    /// Nothing to change (the reaction was already there or already gone).
    Unchanged,
    /// No such message in this channel, or it is deleted.
    NotFound,
    /// The caller may not change this message.
    NotAllowed,
    /// The message already has the most distinct reactions allowed.
    TooManyReactions,
    /// The message was already edited the most times allowed.
    TooManyEdits,
}

async fn lock_message(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    id: MessageId,
) -> Result<Option<MessageRow>> {
    Ok(messages::table
        .filter(messages::channel_id.eq(channel.0))
        .filter(messages::id.eq(id.0))
        .filter(messages::deleted_at.is_null())
        .select(MessageRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

async fn bump(conn: &mut AsyncPgConnection, channel: ChannelId, id: MessageId) -> Result<Message> {
    let seq = take_seqs(conn, channel, 1).await?;
    diesel::update(messages::table.find(id.0))
        .set(messages::updated_seq.eq(seq))
        .execute(conn)
        .await?;
    get(conn, channel, id).await
}

/// Replaces the body of the caller's own message, keeping the previous version.
pub async fn edit(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    id: MessageId,
    editor: UserId,
    body: &Body,
) -> Result<Change> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let Some(row) = lock_message(conn, channel, id).await? else {
            return Ok(Change::NotFound);
        };
        if row.sender_id != Some(editor.0) {
            return Ok(Change::NotAllowed);
        }
        let versions: i64 = message_edits::table
            .filter(message_edits::message_id.eq(row.id))
            .count()
            .get_result(conn)
            .await?;
        if versions >= chatalot_protocol::ws::limits::MAX_EDITS_PER_MESSAGE as i64 {
            return Ok(Change::TooManyEdits);
        }
        let now = OffsetDateTime::now_utc();
        diesel::insert_into(message_edits::table)
            .values((
                message_edits::message_id.eq(row.id),
                message_edits::edited_at.eq(now),
                message_edits::body_text.eq(&row.body_text),
                message_edits::body_cipher.eq(&row.body_cipher),
            ))
            .execute(conn)
            .await?;
        let (text, cipher) = split_body(body);
        diesel::update(messages::table.find(row.id))
            .set((
                messages::body_text.eq(text),
                messages::body_cipher.eq(cipher),
                messages::edited_at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(Change::Done(Box::new(bump(conn, channel, id).await?)))
    })
    .await
}

/// Deletes a message: its body and edit history are erased, a tombstone stays in sequence.
/// The sender may delete it, and so may a moderator (`may_moderate`).
pub async fn delete(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    id: MessageId,
    actor: UserId,
    may_moderate: bool,
) -> Result<Change> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let Some(row) = lock_message(conn, channel, id).await? else {
            return Ok(Change::NotFound);
        };
        if row.sender_id != Some(actor.0) && !may_moderate {
            return Ok(Change::NotAllowed);
        }
        diesel::delete(message_edits::table.filter(message_edits::message_id.eq(row.id)))
            .execute(conn)
            .await?;
        diesel::delete(reactions::table.filter(reactions::message_id.eq(row.id)))
            .execute(conn)
            .await?;
        // its files go with it (the bytes are reclaimed once no row names them)
        diesel::delete(files::table.filter(files::message_id.eq(Some(row.id))))
            .execute(conn)
            .await?;
        diesel::update(messages::table.find(row.id))
            .set((
                messages::body_text.eq(None::<String>),
                messages::body_cipher.eq(None::<Vec<u8>>),
                messages::deleted_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
        Ok(Change::Done(Box::new(bump(conn, channel, id).await?)))
    })
    .await
}

/// Adds or removes the caller's reaction `emoji`.
pub async fn set_reaction(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    id: MessageId,
    user: UserId,
    emoji: &str,
    present: bool,
) -> Result<Change> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        if lock_message(conn, channel, id).await?.is_none() {
            return Ok(Change::NotFound);
        }
        let changed = if present {
            let distinct: Vec<String> = reactions::table
                .filter(reactions::message_id.eq(id.0))
                .select(reactions::emoji)
                .distinct()
                .load(conn)
                .await?;
            if !distinct.iter().any(|e| e == emoji) && distinct.len() >= MAX_REACTIONS_PER_MESSAGE {
                return Ok(Change::TooManyReactions);
            }
            diesel::insert_into(reactions::table)
                .values((
                    reactions::message_id.eq(id.0),
                    reactions::user_id.eq(user.0),
                    reactions::emoji.eq(emoji),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?
        } else {
            diesel::delete(
                reactions::table
                    .filter(reactions::message_id.eq(id.0))
                    .filter(reactions::user_id.eq(user.0))
                    .filter(reactions::emoji.eq(emoji)),
            )
            .execute(conn)
            .await?
        };
        if changed == 0 {
            return Ok(Change::Unchanged);
        }
        Ok(Change::Done(Box::new(bump(conn, channel, id).await?)))
    })
    .await
}

/// The earlier versions of a message, oldest first.
pub async fn list_edits(
    conn: &mut AsyncPgConnection,
    id: MessageId,
    limit: i64,
) -> Result<Vec<(OffsetDateTime, Option<Body>)>> {
    let rows: Vec<(OffsetDateTime, Option<String>, Option<Vec<u8>>)> = message_edits::table
        .filter(message_edits::message_id.eq(id.0))
        .order(message_edits::edited_at.asc())
        .limit(limit)
        .select((
            message_edits::edited_at,
            message_edits::body_text,
            message_edits::body_cipher,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(at, t, c)| {
            let body = match (t, c) {
                (Some(t), _) => Some(Body::Text(t)),
                (None, Some(c)) => Some(Body::Cipher(c)),
                _ => None,
            };
            (at, body)
        })
        .collect())
}

/// How many messages a channel holds (for load checks and tests).
pub async fn count_in_channel(conn: &mut AsyncPgConnection, channel: ChannelId) -> Result<i64> {
    Ok(messages::table
        .filter(messages::channel_id.eq(channel.0))
        .count()
        .get_result(conn)
        .await?)
}
