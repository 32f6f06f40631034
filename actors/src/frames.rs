//! Turning stored data into wire frames, serialized once and shared by every recipient.

use bytestring::ByteString;
use chatalot_protocol::bytes::Base64Bytes;
use chatalot_protocol::ws::{Content, Message, Reaction, ServerFrame};
use chatalot_protocol::ErrorCode;
use chatalot_storage::messages::{self, Body};

/// The JSON text of a frame.
pub fn encode(frame: &ServerFrame) -> ByteString {
    // serializing these plain structs cannot fail
    ByteString::from(serde_json::to_string(frame).unwrap_or_default())
}

/// An error frame.
pub fn error(
    code: ErrorCode,
    message: &str,
    frame: Option<&str>,
    nonce: Option<&str>,
) -> ByteString {
    encode(&ServerFrame::Error {
        code,
        message: message.to_owned(),
        frame: frame.map(str::to_owned),
        nonce: nonce.map(str::to_owned),
    })
}

/// A message body as stored, from the wire form.
pub fn body_of(content: &Content) -> Body {
    match content {
        Content::Text { text } => Body::Text(text.clone()),
        Content::Encrypted { ciphertext } => Body::Cipher(ciphertext.0.clone()),
    }
}

/// A stored message in wire form.
pub fn message(m: &messages::Message) -> Message {
    Message {
        id: m.id,
        channel_id: m.channel_id,
        seq: m.seq,
        updated_seq: m.updated_seq,
        sender_id: m.sender_id,
        content: m.body.as_ref().map(|b| match b {
            Body::Text(t) => Content::Text { text: t.clone() },
            Body::Cipher(c) => Content::Encrypted {
                ciphertext: Base64Bytes(c.clone()),
            },
        }),
        reply_to: m.reply_to,
        created_at: m.created_at,
        edited_at: m.edited_at,
        deleted: m.deleted,
        reactions: m
            .reactions
            .iter()
            .map(|r| Reaction {
                emoji: r.emoji.clone(),
                count: r.count,
                user_ids: r.user_ids.clone(),
            })
            .collect(),
        files: m.files.clone(),
        attachments: m.attachments.iter().map(attachment).collect(),
    }
}

/// A plaintext channel's file as a message carries it.
pub fn attachment(a: &chatalot_storage::files::Attachment) -> chatalot_protocol::ws::Attachment {
    chatalot_protocol::ws::Attachment {
        id: a.id,
        name: a.meta.name.clone(),
        content_type: a.meta.content_type.clone(),
        size: a.size,
        width: a.meta.dimensions.map(|d| d.0),
        height: a.meta.dimensions.map(|d| d.1),
        thumbnail: a.meta.thumbnail.is_some(),
    }
}
