//! The WebSocket protocol at `/api/v1/ws`: JSON text frames tagged by `type`.
//!
//! A connection authenticates with its first frame, then subscribes to channels. Every stored
//! change of a channel (a message, an edit, a deletion, a reaction) carries the channel's
//! sequence number `event_seq`; a client keeps the highest it has seen per channel and passes
//! it as `after_seq` when it subscribes again, to receive exactly what it missed.

use crate::api::{Channel, Community, CustomEmoji, Group, Member};
use crate::bytes::Base64Bytes;
use crate::error::ErrorCode;
use crate::ids::{ChannelId, CommunityId, DeviceId, FileId, GroupId, MessageId, SessionId, UserId};
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
    /// Longest reaction emoji, bytes (a custom emoji, `<:name:ref>`, takes up to 100).
    pub const MAX_EMOJI_BYTES: usize = 100;
    /// Most distinct reactions on one message.
    pub const MAX_REACTIONS_PER_MESSAGE: usize = 20;
    /// Most times one message may be edited (each edit keeps the earlier version).
    pub const MAX_EDITS_PER_MESSAGE: usize = 50;
    /// Most channels one connection may subscribe to.
    pub const MAX_SUBSCRIPTIONS: usize = 500;
    /// Most users listed per reaction in a message.
    pub const MAX_REACTION_USERS_LISTED: usize = 100;
    /// Most files one message may name (an encrypted file and its thumbnail count as two).
    pub const MAX_MESSAGE_FILES: usize = 10;
}

/// A message body: plaintext in plaintext channels, opaque ciphertext in end-to-end channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Content {
    Text {
        /// 1 to `MAX_TEXT_CHARS` characters, not only whitespace.
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4000))]
        text: String,
    },
    Encrypted {
        ciphertext: Base64Bytes,
    },
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
        /// The files the message refers to (docs/e2e.md 19.2): uploaded to this channel by the
        /// sender and named by no other message; at most `MAX_MESSAGE_FILES`, each once.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<FileId>,
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

    /// The nonce of a send, when the frame carries one.
    pub fn nonce(&self) -> Option<&str> {
        match self {
            ClientFrame::SendMessage { nonce, .. } => Some(nonce),
            _ => None,
        }
    }

    /// The rules a frame must meet on its own, before any state is consulted: the text of a
    /// refusal names the field and its bound.
    pub fn check(&self) -> Result<(), String> {
        match self {
            ClientFrame::Subscribe { channels } => check_cursors(channels),
            ClientFrame::SendMessage {
                nonce,
                content,
                files,
                ..
            } => {
                check_nonce(nonce)?;
                check_files(files)?;
                match content {
                    // a file alone needs no caption
                    Content::Text { text } if text.is_empty() && !files.is_empty() => Ok(()),
                    _ => content.check(),
                }
            }
            ClientFrame::EditMessage { content, .. } => content.check(),
            ClientFrame::AddReaction { emoji, .. } | ClientFrame::RemoveReaction { emoji, .. } => {
                check_emoji(emoji)
            }
            ClientFrame::SetPresence {
                presence: Presence::Offline,
            } => Err("presence: online, idle, dnd or invisible".to_owned()),
            ClientFrame::Authenticate { .. }
            | ClientFrame::Ping {}
            | ClientFrame::Unsubscribe { .. }
            | ClientFrame::DeleteMessage { .. }
            | ClientFrame::StartTyping { .. }
            | ClientFrame::SetPresence { .. }
            | ClientFrame::MarkRead { .. } => Ok(()),
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

impl Content {
    /// A body within the protocol's bounds: text not blank and at most `MAX_TEXT_CHARS`
    /// characters, ciphertext 1 to `MAX_CIPHERTEXT_BYTES` bytes.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Content::Text { text } => {
                if text.trim().is_empty() {
                    return Err("content.text: must not be empty".to_owned());
                }
                if text.chars().count() > limits::MAX_TEXT_CHARS {
                    return Err(format!(
                        "content.text: at most {} characters",
                        limits::MAX_TEXT_CHARS
                    ));
                }
            }
            Content::Encrypted { ciphertext } => {
                if ciphertext.0.is_empty() || ciphertext.0.len() > limits::MAX_CIPHERTEXT_BYTES {
                    return Err(format!(
                        "content.ciphertext: 1 to {} bytes",
                        limits::MAX_CIPHERTEXT_BYTES
                    ));
                }
            }
        }
        Ok(())
    }

    /// The size a body counts for in quotas: text bytes or ciphertext bytes.
    pub fn len(&self) -> usize {
        match self {
            Content::Text { text } => text.len(),
            Content::Encrypted { ciphertext } => ciphertext.0.len(),
        }
    }

    /// True for an empty body (which `check` refuses).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A send's nonce: 1 to `MAX_NONCE_BYTES` bytes without control characters.
/// A message's list of files: at most `MAX_MESSAGE_FILES`, none twice.
pub fn check_files(files: &[FileId]) -> Result<(), String> {
    if files.len() > limits::MAX_MESSAGE_FILES {
        return Err(format!(
            "files: at most {} per message",
            limits::MAX_MESSAGE_FILES
        ));
    }
    for (i, f) in files.iter().enumerate() {
        if files[..i].contains(f) {
            return Err(format!("files: {} is listed twice", f.0));
        }
    }
    Ok(())
}

pub fn check_nonce(nonce: &str) -> Result<(), String> {
    if nonce.is_empty()
        || nonce.len() > limits::MAX_NONCE_BYTES
        || nonce.chars().any(char::is_control)
    {
        return Err(format!(
            "nonce: 1 to {} bytes without control characters",
            limits::MAX_NONCE_BYTES
        ));
    }
    Ok(())
}

/// A reaction: 1 to `MAX_EMOJI_BYTES` bytes, no whitespace or control characters.
pub fn check_emoji(emoji: &str) -> Result<(), String> {
    if emoji.is_empty()
        || emoji.len() > limits::MAX_EMOJI_BYTES
        || emoji.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "emoji: 1 to {} bytes, no spaces or control characters",
            limits::MAX_EMOJI_BYTES
        ));
    }
    Ok(())
}

/// The channels of one `subscribe`: 1 to `MAX_SUBSCRIPTIONS`, each at most once.
fn check_cursors(cursors: &[Cursor]) -> Result<(), String> {
    if cursors.is_empty() || cursors.len() > limits::MAX_SUBSCRIPTIONS {
        return Err(format!(
            "channels: 1 or more, at most {} subscriptions per connection",
            limits::MAX_SUBSCRIPTIONS
        ));
    }
    let mut ids: Vec<ChannelId> = cursors.iter().map(|c| c.channel_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != cursors.len() {
        return Err("channels: each channel at most once".to_owned());
    }
    Ok(())
}

/// Why the server closes a connection: the close code, and the reason sent with it and in the
/// `closing` frame before it. The one list of the protocol's closes (docs/protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The connection ended in the normal way (1000).
    Normal,
    /// No `authenticate` within the time allowed (4001).
    AuthTimeout,
    /// Another frame came before `authenticate` (4001).
    AuthenticateFirst,
    /// The access token is not valid (4001).
    Unauthorized,
    /// The session was revoked: logout, password change, suspension, refresh-token reuse (4001).
    SessionRevoked,
    /// The access token expired without being renewed (4001).
    TokenExpired,
    /// The user has the most connections allowed (4029).
    TooManySessions,
    /// Joining failed inside the server (1011).
    Unavailable,
    /// Nothing came for the idle timeout (1001).
    IdleTimeout,
    /// The server is shutting down (1001).
    ShuttingDown,
    /// The connection kept sending after rate-limit errors (1008).
    Flooding,
    /// A frame larger than `MAX_FRAME_BYTES` (1009).
    TooLarge,
    /// A slow reader: the outbound queue was full or untaken too long (4008).
    Lagged,
    /// A part of the server this connection used stopped after a fault and was restarted:
    /// reconnect and resubscribe with the cursors held (4012).
    Restarted,
}

impl CloseReason {
    /// Every close, for tests and documentation that must cover them all.
    pub const ALL: &'static [CloseReason] = &[
        CloseReason::Normal,
        CloseReason::AuthTimeout,
        CloseReason::AuthenticateFirst,
        CloseReason::Unauthorized,
        CloseReason::SessionRevoked,
        CloseReason::TokenExpired,
        CloseReason::TooManySessions,
        CloseReason::Unavailable,
        CloseReason::IdleTimeout,
        CloseReason::ShuttingDown,
        CloseReason::Flooding,
        CloseReason::TooLarge,
        CloseReason::Lagged,
        CloseReason::Restarted,
    ];

    /// The WebSocket close code.
    pub const fn code(self) -> u16 {
        match self {
            CloseReason::Normal => 1000,
            CloseReason::IdleTimeout | CloseReason::ShuttingDown => 1001,
            CloseReason::Flooding => 1008,
            CloseReason::TooLarge => 1009,
            CloseReason::Unavailable => 1011,
            CloseReason::AuthTimeout
            | CloseReason::AuthenticateFirst
            | CloseReason::Unauthorized
            | CloseReason::SessionRevoked
            | CloseReason::TokenExpired => 4001,
            CloseReason::Lagged => 4008,
            CloseReason::Restarted => 4012,
            CloseReason::TooManySessions => 4029,
        }
    }

    /// The reason text (at most 123 bytes, as a close frame allows).
    pub const fn text(self) -> &'static str {
        match self {
            CloseReason::Normal => "",
            CloseReason::AuthTimeout => "not authenticated in time",
            CloseReason::AuthenticateFirst => "authenticate first",
            CloseReason::Unauthorized => "unauthorized",
            CloseReason::SessionRevoked => "session revoked",
            CloseReason::TokenExpired => "access token expired",
            CloseReason::TooManySessions => "too many sessions",
            CloseReason::Unavailable => "unavailable",
            CloseReason::IdleTimeout => "idle timeout",
            CloseReason::ShuttingDown => "server shutting down",
            CloseReason::Flooding => "too many frames",
            CloseReason::TooLarge => "frame too large",
            CloseReason::Lagged => "too slow: reconnect and resubscribe",
            CloseReason::Restarted => "restarted after a fault: reconnect and resubscribe",
        }
    }
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
    /// The files the message refers to, in the order of their ids (ids only; in an end-to-end
    /// channel their names, types and keys are inside the encrypted body). Absent when none,
    /// and once deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileId>,
    /// In a plaintext channel, what the server knows of those files, in the same order
    /// (docs/e2e.md 19.1). Absent when none, and always in an end-to-end channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file of a plaintext channel as a message carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: FileId,
    /// As its uploader named it.
    pub name: String,
    /// The type the server recognised from the bytes (PNG, JPEG, GIF, WebP), else the one the
    /// uploader declared, else `application/octet-stream`.
    pub content_type: String,
    pub size: u64,
    /// An image's width and height in pixels, upright.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Whether `GET /files/{id}/thumbnail` has a picture the server made of it.
    pub thumbnail: bool,
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
    /// A community's custom emoji changed (one added or removed): the whole list as it now is.
    EmojiChanged {
        community_id: CommunityId,
        emoji: Vec<CustomEmoji>,
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
    /// A device of this account asks to be linked (`GET /api/v1/users/me/link_requests`).
    /// Sent to every connection of the account.
    LinkRequested {
        device_id: DeviceId,
    },
    /// A device of this account answered this connection's device's link request
    /// (`GET /api/v1/devices/{id}/link_response`).
    LinkAnswered {
        device_id: DeviceId,
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
        "emoji_changed",
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
        "link_requested",
        "link_answered",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Content {
        Content::Text { text: t.to_owned() }
    }

    fn send(nonce: &str, content: Content) -> ClientFrame {
        ClientFrame::SendMessage {
            channel_id: ChannelId(uuid::Uuid::nil()),
            nonce: nonce.to_owned(),
            content,
            reply_to: None,
            files: Vec::new(),
        }
    }

    #[test]
    fn frames_are_checked_against_the_named_bounds() {
        assert_eq!(send("n1", text("hi")).check(), Ok(()));
        let bad_nonce = send(&"n".repeat(limits::MAX_NONCE_BYTES + 1), text("hi")).check();
        assert!(bad_nonce.unwrap_err().starts_with("nonce: 1 to 64 bytes"));
        assert!(send("a\u{0}", text("hi")).check().is_err());
        assert_eq!(
            send("n", text(" \n")).check().unwrap_err(),
            "content.text: must not be empty"
        );
        let long = "é".repeat(limits::MAX_TEXT_CHARS);
        assert_eq!(
            send("n", text(&long)).check(),
            Ok(()),
            "characters, not bytes"
        );
        assert_eq!(
            send("n", text(&format!("{long}x"))).check().unwrap_err(),
            "content.text: at most 4000 characters"
        );
        let big = Content::Encrypted {
            ciphertext: Base64Bytes(vec![0; limits::MAX_CIPHERTEXT_BYTES + 1]),
        };
        assert_eq!(
            send("n", big).check().unwrap_err(),
            "content.ciphertext: 1 to 65536 bytes"
        );
        let with_files = |n: u128, repeat: bool| {
            let mut f = send("n", text("hi"));
            if let ClientFrame::SendMessage { files, .. } = &mut f {
                *files = (0..n).map(|i| FileId(uuid::Uuid::from_u128(i))).collect();
                if repeat {
                    files.push(FileId(uuid::Uuid::from_u128(0)));
                }
            }
            f.check()
        };
        assert_eq!(with_files(limits::MAX_MESSAGE_FILES as u128, false), Ok(()));
        assert_eq!(
            with_files(limits::MAX_MESSAGE_FILES as u128 + 1, false).unwrap_err(),
            "files: at most 10 per message"
        );
        assert!(with_files(2, true)
            .unwrap_err()
            .ends_with("is listed twice"));
        let react = |emoji: &str| ClientFrame::RemoveReaction {
            channel_id: ChannelId(uuid::Uuid::nil()),
            message_id: MessageId(uuid::Uuid::nil()),
            emoji: emoji.to_owned(),
        };
        assert_eq!(react("👍").check(), Ok(()));
        for bad in ["", "a b", "\t", &"x".repeat(limits::MAX_EMOJI_BYTES + 1)] {
            assert!(react(bad).check().is_err(), "{bad:?}");
        }
        let cursor = |n: u128| Cursor {
            channel_id: ChannelId(uuid::Uuid::from_u128(n)),
            after_seq: None,
        };
        let sub = |channels| ClientFrame::Subscribe { channels };
        assert!(sub(vec![]).check().is_err());
        assert!(sub(vec![cursor(1), cursor(1)]).check().is_err());
        assert_eq!(sub(vec![cursor(1), cursor(2)]).check(), Ok(()));
        assert!(sub((0..=500).map(cursor).collect()).check().is_err());
        let offline = ClientFrame::SetPresence {
            presence: Presence::Offline,
        };
        assert!(offline.check().is_err());
    }

    #[test]
    fn every_close_has_one_code_and_a_short_distinct_reason() {
        let mut texts: Vec<&str> = CloseReason::ALL.iter().map(|c| c.text()).collect();
        assert!(texts.iter().all(|t| t.len() <= 123));
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), CloseReason::ALL.len());
        assert!(CloseReason::ALL
            .iter()
            .all(|c| matches!(c.code(), 1000 | 1001 | 1008 | 1009 | 1011 | 4001..=4999)));
    }
}
