//! The WebSocket protocol at `/api/v1/ws`: JSON text frames tagged by `type`.
//!
//! A connection authenticates with its first frame, then subscribes to channels. Every stored
//! change of a channel (a message, an edit, a deletion, a reaction) carries the channel's
//! sequence number `event_seq`; a client keeps the highest it has seen per channel and passes
//! it as `after_seq` when it subscribes again, to receive exactly what it missed.

use crate::api::{Channel, Community, Group, Member};
use crate::bytes::Base64Bytes;
use crate::error::ErrorCode;
use crate::ids::{ChannelId, CommunityId, GroupId, MessageId, SessionId, UserId};
use crate::perms::CommunityRole;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Bounds of the WebSocket protocol.
pub mod limits {
    /// Largest frame a client may send, bytes.
    pub const MAX_FRAME_BYTES: usize = 128 * 1024;
    /// Longest plaintext message body, characters.
    pub const MAX_TEXT_CHARS: usize = 4000;
    /// Largest end-to-end ciphertext, bytes.
    pub const MAX_CIPHERTEXT_BYTES: usize = 64 * 1024;
    /// Longest client nonce, bytes.
    pub const MAX_NONCE_BYTES: usize = 64;
    /// Longest reaction emoji, bytes.
    pub const MAX_EMOJI_BYTES: usize = 64;
    /// Most distinct reactions on one message.
    pub const MAX_REACTIONS_PER_MESSAGE: usize = 20;
    /// Most times one message may be edited (each edit keeps the earlier version).
    pub const MAX_EDITS_PER_MESSAGE: usize = 50;
    /// Most channels one connection may subscribe to.
    pub const MAX_SUBSCRIPTIONS: usize = 500;
    /// Most users listed per reaction in a message.
    pub const MAX_REACTION_USERS_LISTED: usize = 100;
}

/// A message body: plaintext in plaintext channels, opaque ciphertext in end-to-end channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Content {
    Text { text: String },
    Encrypted { ciphertext: Base64Bytes },
}

/// Presence states a user can choose. `Invisible` appears as offline to others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Idle,
    Dnd,
    Invisible,
    Offline,
}

/// Where a client left a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    pub channel_id: ChannelId,
    /// Highest `event_seq` seen; the server sends every change after it. Absent: no backlog.
    #[serde(default)]
    pub after_seq: Option<i64>,
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Must be the first frame, within 10 seconds of connecting. Sent again on an
    /// authenticated connection with a newer access token of the same session, it extends the
    /// connection past the first token's expiry (answered with `reauthenticated`).
    Authenticate {
        token: String,
    },
    /// Application-level keep-alive; answered with `pong`.
    Ping {},
    /// Receive a channel's changes after `after_seq`, then its live traffic.
    Subscribe {
        channels: Vec<Cursor>,
    },
    Unsubscribe {
        channel_id: ChannelId,
    },
    /// Sends a message; answered with `message_acked` once it is stored. Retrying with the same
    /// `nonce` never stores it twice.
    SendMessage {
        channel_id: ChannelId,
        nonce: String,
        content: Content,
        #[serde(default)]
        reply_to: Option<MessageId>,
    },
    EditMessage {
        channel_id: ChannelId,
        message_id: MessageId,
        content: Content,
    },
    DeleteMessage {
        channel_id: ChannelId,
        message_id: MessageId,
    },
    AddReaction {
        channel_id: ChannelId,
        message_id: MessageId,
        emoji: String,
    },
    RemoveReaction {
        channel_id: ChannelId,
        message_id: MessageId,
        emoji: String,
    },
    StartTyping {
        channel_id: ChannelId,
    },
    SetPresence {
        presence: Presence,
    },
    /// Everything up to `seq` has been read.
    MarkRead {
        channel_id: ChannelId,
        seq: i64,
    },
}

impl ClientFrame {
    /// The `type` tag, for error reports.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientFrame::Authenticate { .. } => "authenticate",
            ClientFrame::Ping {} => "ping",
            ClientFrame::Subscribe { .. } => "subscribe",
            ClientFrame::Unsubscribe { .. } => "unsubscribe",
            ClientFrame::SendMessage { .. } => "send_message",
            ClientFrame::EditMessage { .. } => "edit_message",
            ClientFrame::DeleteMessage { .. } => "delete_message",
            ClientFrame::AddReaction { .. } => "add_reaction",
            ClientFrame::RemoveReaction { .. } => "remove_reaction",
            ClientFrame::StartTyping { .. } => "start_typing",
            ClientFrame::SetPresence { .. } => "set_presence",
            ClientFrame::MarkRead { .. } => "mark_read",
        }
    }

    /// Every frame type, for tests that must cover them all.
    pub const KINDS: &'static [&'static str] = &[
        "authenticate",
        "ping",
        "subscribe",
        "unsubscribe",
        "send_message",
        "edit_message",
        "delete_message",
        "add_reaction",
        "remove_reaction",
        "start_typing",
        "set_presence",
        "mark_read",
    ];
}

/// Users who reacted with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reaction {
    pub emoji: String,
    pub count: u32,
    /// Up to `MAX_REACTION_USERS_LISTED` of them.
    pub user_ids: Vec<UserId>,
}

/// A stored message as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub seq: i64,
    /// The sequence number of the latest change to this message (= `seq` if none).
    pub updated_seq: i64,
    pub sender_id: Option<UserId>,
    /// Absent once deleted.
    pub content: Option<Content>,
    pub reply_to: Option<MessageId>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub edited_at: Option<OffsetDateTime>,
    pub deleted: bool,
    pub reactions: Vec<Reaction>,
}

/// Why the server ended a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnsubscribeReason {
    /// The user can no longer read the channel (removed, kicked, banned, or it changed).
    Removed,
}

/// Why a member is no longer in a community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Left,
    Kicked,
    Banned,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Authentication succeeded.
    Ready {
        protocol_version: u32,
        user_id: UserId,
        session_id: SessionId,
        /// Send something (a `ping` will do) at least this often.
        heartbeat_secs: u64,
        /// When the access token expires: the server closes the connection (4001) then,
        /// unless the client has sent `authenticate` with a newer token of the session first.
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
        token_expires_at: OffsetDateTime,
    },
    /// A newer token of the session was accepted; the connection lasts until its expiry.
    Reauthenticated {
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
        token_expires_at: OffsetDateTime,
    },
    Pong,
    /// A channel's backlog has been sent; live traffic follows.
    Subscribed {
        channel_id: ChannelId,
        last_seq: i64,
        /// Users currently connected to this channel, with their presence.
        present: Vec<(UserId, Presence)>,
    },
    Unsubscribed {
        channel_id: ChannelId,
        /// Set when the server ended the subscription; absent when the client asked.
        reason: Option<UnsubscribeReason>,
    },
    /// The caller's message is stored.
    MessageAcked {
        channel_id: ChannelId,
        nonce: String,
        message_id: MessageId,
        seq: i64,
    },
    /// A new message (live, or from the backlog).
    MessageCreated {
        event_seq: i64,
        message: Message,
    },
    /// A message changed: edited or deleted (live), or in any way (backlog). Carries its whole
    /// current state.
    MessageUpdated {
        event_seq: i64,
        message: Message,
    },
    /// A user added (`present`) or removed a reaction; `count` is how many users now react
    /// with `emoji`. Live only: a backlog carries the message's state in `message_updated`.
    ReactionChanged {
        channel_id: ChannelId,
        message_id: MessageId,
        event_seq: i64,
        user_id: UserId,
        emoji: String,
        present: bool,
        count: u32,
    },
    Typing {
        channel_id: ChannelId,
        user_id: UserId,
    },
    PresenceChanged {
        channel_id: ChannelId,
        user_id: UserId,
        presence: Presence,
    },
    /// Another session of the same user read up to `seq`.
    ReadMarker {
        channel_id: ChannelId,
        seq: i64,
    },
    /// A request failed; `frame` names the client frame type, `nonce` the send it belongs to.
    Error {
        code: ErrorCode,
        message: String,
        frame: Option<String>,
        nonce: Option<String>,
    },
    /// The server is closing this connection (revoked session, shutdown, slow reader).
    Closing {
        reason: String,
    },
    /// A community the user belongs to changed its settings.
    CommunityUpdated {
        community: Community,
    },
    /// A community the user belonged to was deleted.
    CommunityDeleted {
        community_id: CommunityId,
    },
    /// A channel the user may read appeared (created, opened as a DM, or newly visible).
    ChannelCreated {
        channel: Channel,
    },
    /// A channel the user may read changed.
    ChannelUpdated {
        channel: Channel,
    },
    /// A channel the user could read is gone for them (deleted, or no longer visible).
    ChannelDeleted {
        channel_id: ChannelId,
        community_id: Option<CommunityId>,
    },
    /// A group the user may see appeared or became visible.
    GroupCreated {
        group: Group,
    },
    GroupUpdated {
        group: Group,
    },
    /// A group is gone for the user (deleted, or no longer visible).
    GroupDeleted {
        group_id: GroupId,
        community_id: CommunityId,
    },
    MemberJoined {
        community_id: CommunityId,
        member: Member,
    },
    /// A member left or was removed. A user who is removed receives this about themselves,
    /// and then nothing more of the community.
    MemberLeft {
        community_id: CommunityId,
        user_id: UserId,
        reason: LeaveReason,
    },
    MemberRoleChanged {
        community_id: CommunityId,
        user_id: UserId,
        role: CommunityRole,
    },
    /// An envelope was queued for this connection's device. It stays queued until the device
    /// acknowledges it (`POST /api/v1/devices/{id}/envelope_acks`).
    EnvelopeReceived {
        envelope: crate::keys::Envelope,
    },
}

impl ServerFrame {
    /// Every frame type the server sends, for tests that must cover them all.
    pub const KINDS: &'static [&'static str] = &[
        "ready",
        "reauthenticated",
        "pong",
        "subscribed",
        "unsubscribed",
        "message_acked",
        "message_created",
        "message_updated",
        "reaction_changed",
        "typing",
        "presence_changed",
        "read_marker",
        "error",
        "closing",
        "community_updated",
        "community_deleted",
        "channel_created",
        "channel_updated",
        "channel_deleted",
        "group_created",
        "group_updated",
        "group_deleted",
        "member_joined",
        "member_left",
        "member_role_changed",
        "envelope_received",
    ];
}
