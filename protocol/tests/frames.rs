//! The JSON of every WebSocket frame, pinned by snapshots: a change to the wire format shows up
//! as a snapshot diff. Each frame also round-trips through serde.

use chatalot_protocol::api::{
    Channel, ChannelKind, Community, CustomEmoji, Group, Member, Visibility,
};
use chatalot_protocol::bytes::Base64Bytes;
use chatalot_protocol::ids::{
    ChannelId, CommunityId, DeviceId, EmojiId, EnvelopeId, FileId, GroupId, MessageId, SessionId,
    UserId,
};
use chatalot_protocol::keys::Envelope;
use chatalot_protocol::perms::{CommunityRole, GroupKind};
use chatalot_protocol::ws::{
    ClientFrame, Content, Cursor, LeaveReason, Message, Presence, Reaction, ServerFrame,
    UnsubscribeReason,
};
use chatalot_protocol::ErrorCode;
use time::macros::datetime;
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn client_frames() -> Vec<(&'static str, ClientFrame)> {
    let channel = ChannelId(id(1));
    let message = MessageId(id(2));
    vec![
        (
            "authenticate",
            ClientFrame::Authenticate {
                token: "EsACCt...".into(),
            },
        ),
        ("ping", ClientFrame::Ping {}),
        (
            "subscribe",
            ClientFrame::Subscribe {
                channels: vec![
                    Cursor {
                        channel_id: channel,
                        after_seq: Some(41),
                    },
                    Cursor {
                        channel_id: ChannelId(id(3)),
                        after_seq: None,
                    },
                ],
            },
        ),
        (
            "unsubscribe",
            ClientFrame::Unsubscribe {
                channel_id: channel,
            },
        ),
        (
            "send_message",
            ClientFrame::SendMessage {
                channel_id: channel,
                nonce: "c-7f3a".into(),
                content: Content::Text {
                    text: "hello".into(),
                },
                reply_to: Some(message),
                files: vec![FileId(id(9))],
            },
        ),
        (
            "edit_message",
            ClientFrame::EditMessage {
                channel_id: channel,
                message_id: message,
                content: Content::Encrypted {
                    ciphertext: Base64Bytes(vec![1, 2, 3, 250]),
                },
            },
        ),
        (
            "delete_message",
            ClientFrame::DeleteMessage {
                channel_id: channel,
                message_id: message,
            },
        ),
        (
            "add_reaction",
            ClientFrame::AddReaction {
                channel_id: channel,
                message_id: message,
                emoji: "👍".into(),
            },
        ),
        (
            "remove_reaction",
            ClientFrame::RemoveReaction {
                channel_id: channel,
                message_id: message,
                emoji: "👍".into(),
            },
        ),
        (
            "start_typing",
            ClientFrame::StartTyping {
                channel_id: channel,
            },
        ),
        (
            "set_presence",
            ClientFrame::SetPresence {
                presence: Presence::Dnd,
            },
        ),
        (
            "mark_read",
            ClientFrame::MarkRead {
                channel_id: channel,
                seq: 42,
            },
        ),
    ]
}

fn message() -> Message {
    Message {
        id: MessageId(id(2)),
        channel_id: ChannelId(id(1)),
        seq: 42,
        updated_seq: 44,
        sender_id: Some(UserId(id(4))),
        content: Some(Content::Text {
            text: "hello".into(),
        }),
        reply_to: None,
        created_at: datetime!(2026-11-28 10:00:00 UTC),
        edited_at: Some(datetime!(2026-11-28 10:01:00 UTC)),
        deleted: false,
        reactions: vec![Reaction {
            emoji: "👍".into(),
            count: 1,
            user_ids: vec![UserId(id(5))],
        }],
        files: vec![],
        attachments: vec![],
    }
}

fn server_frames() -> Vec<(&'static str, ServerFrame)> {
    let channel = ChannelId(id(1));
    vec![
        (
            "ready",
            ServerFrame::Ready {
                protocol_version: 1,
                user_id: UserId(id(4)),
                session_id: SessionId(id(6)),
                heartbeat_secs: 30,
                token_expires_at: datetime!(2026-11-28 10:15:00 UTC),
            },
        ),
        (
            "reauthenticated",
            ServerFrame::Reauthenticated {
                token_expires_at: datetime!(2026-11-28 10:30:00 UTC),
            },
        ),
        ("pong", ServerFrame::Pong),
        (
            "subscribed",
            ServerFrame::Subscribed {
                channel_id: channel,
                last_seq: 44,
                present: vec![(UserId(id(5)), Presence::Online)],
            },
        ),
        (
            "unsubscribed",
            ServerFrame::Unsubscribed {
                channel_id: channel,
                reason: Some(UnsubscribeReason::Removed),
            },
        ),
        (
            "message_acked",
            ServerFrame::MessageAcked {
                channel_id: channel,
                nonce: "c-7f3a".into(),
                message_id: MessageId(id(2)),
                seq: 42,
            },
        ),
        (
            "message_created",
            ServerFrame::MessageCreated {
                event_seq: 44,
                message: message(),
            },
        ),
        (
            "message_updated",
            ServerFrame::MessageUpdated {
                event_seq: 44,
                message: Message {
                    deleted: true,
                    content: None,
                    reactions: vec![],
                    ..message()
                },
            },
        ),
        (
            "reaction_changed",
            ServerFrame::ReactionChanged {
                channel_id: channel,
                message_id: MessageId(id(2)),
                event_seq: 45,
                user_id: UserId(id(5)),
                emoji: "👍".into(),
                present: true,
                count: 2,
            },
        ),
        (
            "typing",
            ServerFrame::Typing {
                channel_id: channel,
                user_id: UserId(id(5)),
            },
        ),
        (
            "presence_changed",
            ServerFrame::PresenceChanged {
                channel_id: channel,
                user_id: UserId(id(5)),
                presence: Presence::Idle,
            },
        ),
        (
            "read_marker",
            ServerFrame::ReadMarker {
                channel_id: channel,
                seq: 42,
            },
        ),
        (
            "error",
            ServerFrame::Error {
                code: ErrorCode::SlowMode,
                message: "slow mode: wait before sending again".into(),
                frame: Some("send_message".into()),
                nonce: Some("c-7f3a".into()),
            },
        ),
        (
            "closing",
            ServerFrame::Closing {
                reason: "session revoked".into(),
            },
        ),
        (
            "community_updated",
            ServerFrame::CommunityUpdated {
                community: community(),
            },
        ),
        (
            "community_deleted",
            ServerFrame::CommunityDeleted {
                community_id: CommunityId(id(6)),
            },
        ),
        (
            "emoji_changed",
            ServerFrame::EmojiChanged {
                community_id: CommunityId(id(6)),
                emoji: vec![CustomEmoji {
                    id: EmojiId(id(9)),
                    community_id: CommunityId(id(6)),
                    name: "party_cat".into(),
                    image_ref: "5f".repeat(32),
                    created_by: Some(UserId(id(5))),
                    created_at: datetime!(2026-11-28 10:00:00 UTC),
                }],
            },
        ),
        (
            "channel_created",
            ServerFrame::ChannelCreated {
                channel: a_channel(),
            },
        ),
        (
            "channel_updated",
            ServerFrame::ChannelUpdated {
                channel: Channel {
                    slow_mode_secs: 30,
                    ..a_channel()
                },
            },
        ),
        (
            "channel_deleted",
            ServerFrame::ChannelDeleted {
                channel_id: channel,
                community_id: Some(CommunityId(id(6))),
            },
        ),
        (
            "group_created",
            ServerFrame::GroupCreated { group: group() },
        ),
        (
            "group_updated",
            ServerFrame::GroupUpdated {
                group: Group {
                    position: 2,
                    ..group()
                },
            },
        ),
        (
            "group_deleted",
            ServerFrame::GroupDeleted {
                group_id: GroupId(id(7)),
                community_id: CommunityId(id(6)),
            },
        ),
        (
            "member_joined",
            ServerFrame::MemberJoined {
                community_id: CommunityId(id(6)),
                member: Member {
                    user_id: UserId(id(5)),
                    username: "bob".into(),
                    display_name: "Bob".into(),
                    role: CommunityRole::Member,
                    joined_at: datetime!(2026-11-28 10:00:00 UTC),
                    avatar_ref: None,
                },
            },
        ),
        (
            "member_left",
            ServerFrame::MemberLeft {
                community_id: CommunityId(id(6)),
                user_id: UserId(id(5)),
                reason: LeaveReason::Kicked,
            },
        ),
        (
            "member_role_changed",
            ServerFrame::MemberRoleChanged {
                community_id: CommunityId(id(6)),
                user_id: UserId(id(5)),
                role: CommunityRole::Moderator,
            },
        ),
        (
            "envelope_received",
            ServerFrame::EnvelopeReceived {
                envelope: Envelope {
                    id: EnvelopeId(id(7)),
                    sender_user_id: UserId(id(4)),
                    sender_device_id: DeviceId(id(8)),
                    recipient_device_id: DeviceId(id(9)),
                    channel_id: Some(channel),
                    ciphertext: Base64Bytes(vec![6, 1, 2, 3]),
                    created_at: datetime!(2026-11-28 10:02:00 UTC),
                },
            },
        ),
        (
            "link_requested",
            ServerFrame::LinkRequested {
                device_id: DeviceId(id(9)),
            },
        ),
        (
            "link_answered",
            ServerFrame::LinkAnswered {
                device_id: DeviceId(id(9)),
            },
        ),
    ]
}

fn community() -> Community {
    Community {
        id: CommunityId(id(6)),
        name: "Rustaceans".into(),
        description: "systems chat".into(),
        visibility: Visibility::Public,
        discoverable: true,
        welcome_message: "Be kind.".into(),
        icon_ref: None,
        banner_ref: None,
        owner_id: UserId(id(4)),
        role: None,
        created_at: datetime!(2026-11-28 09:00:00 UTC),
    }
}

fn a_channel() -> Channel {
    Channel {
        id: ChannelId(id(1)),
        community_id: Some(CommunityId(id(6))),
        group_id: Some(GroupId(id(7))),
        kind: ChannelKind::Announcement,
        name: "news".into(),
        topic: "release notes".into(),
        e2e: true,
        slow_mode_secs: 0,
        archived: false,
        position: 1,
        view_role: CommunityRole::Member,
        post_role: CommunityRole::Moderator,
        can_post: false,
        last_seq: 44,
        last_read_seq: 0,
        unread: 0,
        joined_at: None,
        history_for_new_members: true,
    }
}

fn group() -> Group {
    Group {
        id: GroupId(id(7)),
        community_id: CommunityId(id(6)),
        name: "Projects".into(),
        kind: GroupKind::Public,
        assigned_to: None,
        position: 1,
    }
}

#[test]
fn every_client_frame_type_is_pinned_and_round_trips() {
    let frames = client_frames();
    let kinds: Vec<&str> = frames.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        ClientFrame::KINDS,
        "one example per frame type, in order"
    );
    for (kind, frame) in frames {
        assert_eq!(frame.kind(), kind);
        let json = serde_json::to_value(&frame).expect("serializes");
        assert_eq!(json["type"], kind);
        let back: ClientFrame = serde_json::from_value(json.clone()).expect("parses");
        assert_eq!(back, frame);
        insta::assert_json_snapshot!(format!("client_{kind}"), json);
    }
}

#[test]
fn every_server_frame_type_is_pinned_and_round_trips() {
    let frames = server_frames();
    let kinds: Vec<&str> = frames.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        ServerFrame::KINDS,
        "one example per frame type, in order"
    );
    for (kind, frame) in frames {
        let json = serde_json::to_value(&frame).expect("serializes");
        assert_eq!(json["type"], kind);
        let back: ServerFrame = serde_json::from_value(json.clone()).expect("parses");
        assert_eq!(back, frame);
        insta::assert_json_snapshot!(format!("server_{kind}"), json);
    }
}

#[test]
fn bytes_travel_as_base64_strings() {
    let json = serde_json::to_string(&Content::Encrypted {
        ciphertext: Base64Bytes(vec![0, 1, 2]),
    })
    .expect("serializes");
    assert_eq!(json, r#"{"kind":"encrypted","ciphertext":"AAEC"}"#);
    let bad: Result<Content, _> =
        serde_json::from_str(r#"{"kind":"encrypted","ciphertext":[0,1,2]}"#);
    assert!(bad.is_err(), "arrays of numbers are refused");
}
