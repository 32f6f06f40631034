//! The application layer of end-to-end messages (docs/e2e.md section 17): the message
//! bodies the server stores ([`DirectPayload`], [`ChannelPayload`]), the plaintexts inside
//! their ciphertexts ([`DirectPlaintext`], [`Body`]) and the plaintext of a key envelope
//! ([`EnvelopePlaintext`]).
//!
//! These encodings frame the crypto encodings: the pairwise messages of a `DirectPayload`,
//! the sender-key message of a `ChannelPayload` and the body of an `EnvelopePlaintext` are
//! carried as opaque bytes and decoded by the module that decrypts or applies them; the
//! attachment pointer of a [`Body`] is decoded here. Decoding is strict (tag, exact lengths,
//! the limits of [`crate::limits`], valid UTF-8, no trailing bytes); encoding refuses what
//! decoding would refuse. Plaintext-side encodings are [`Zeroizing`] buffers (they carry
//! message text, a file key or a chain key) and their `Debug` output shows lengths only.

use core::fmt;

use zeroize::Zeroizing;

use crate::attachment::{AttachmentPointer, POINTER_LEN};
use crate::encoding::{put_var, tag, Reader};
use crate::error::{CryptoError, Result};
use crate::limits::{
    ID_LEN, MAX_BODY_LEN, MAX_DIRECT_RECIPIENTS, MAX_FILE_NAME_LEN, MAX_LINK_DESCRIPTION_LEN,
    MAX_LINK_SITE_NAME_LEN, MAX_LINK_TITLE_LEN, MAX_LINK_URL_LEN, MAX_MIME_TYPE_LEN,
    MAX_PAIRWISE_MESSAGE_LEN,
};

/// [`EnvelopePlaintext`] kind: a sender-key distribution (tag 0x07) for the envelope's
/// channel.
pub const ENVELOPE_KIND_SENDER_KEY: u8 = 0x01;
/// [`EnvelopePlaintext`] kind: a history share for the envelope's channel (tag 0x69,
/// docs/e2e.md 18.5).
pub const ENVELOPE_KIND_HISTORY_SHARE: u8 = 0x02;
/// [`EnvelopePlaintext`] kind: a sender-key distribution attested by the sending device, sent
/// as its history key (tag 0x65) for the envelope's channel, so that the receiver can keep it
/// in its key backup and share it as history (docs/e2e.md 17.2, 18.4).
pub const ENVELOPE_KIND_ATTESTED_SENDER_KEY: u8 = 0x03;

fn check_len(len: usize, max: usize, what: &'static str) -> Result<()> {
    if len > max {
        Err(CryptoError::LimitExceeded(what))
    } else {
        Ok(())
    }
}

fn utf8(bytes: &[u8]) -> Result<String> {
    core::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| CryptoError::InvalidField("text is not UTF-8"))
}

// ---- bodies

/// The decrypted content of a DM or channel message.
#[derive(Clone, PartialEq, Eq)]
pub enum Body {
    /// `0x50 | UTF-8 text` (the text runs to the end of the body).
    Text(String),
    /// `0x51 | blob_message_id[16] | AttachmentPointer (73 bytes) | var(file name) |
    /// var(MIME type)`.
    Attachment(AttachmentBody),
    /// `0x52 | file_id[16] | AttachmentPointer | var(file name) | var(MIME type) | flags u8 |
    /// [width u32 | height u32] | [duration_ms u32] | [thumb_file_id[16] | AttachmentPointer]`
    /// (flags bits 0, 1, 2 say which of the three follow; no other bit may be set).
    File(FileBody),
    /// `0x53 | var(text) | var(url) | var(final_url) | var(title) | var(description) |
    /// var(site_name)`: a text and the preview of a link in it, fetched by the sender.
    LinkText(LinkTextBody),
}

/// A text with a link preview its sender made (docs/e2e.md 19.5): readers show the preview
/// from here and never fetch the address themselves.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkTextBody {
    /// The message's text (bounded by the body's bound).
    pub text: String,
    /// The address previewed, 1 to [`MAX_LINK_URL_LEN`] bytes.
    pub url: String,
    /// Where the page was found after redirects, 1 to [`MAX_LINK_URL_LEN`] bytes.
    pub final_url: String,
    /// At most [`MAX_LINK_TITLE_LEN`] bytes.
    pub title: String,
    /// At most [`MAX_LINK_DESCRIPTION_LEN`] bytes.
    pub description: String,
    /// At most [`MAX_LINK_SITE_NAME_LEN`] bytes.
    pub site_name: String,
}

impl fmt::Debug for LinkTextBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkTextBody")
            .field("text_len", &self.text.len())
            .field("url_len", &self.url.len())
            .field("title_len", &self.title.len())
            .finish()
    }
}

fn check_url(len: usize, what: &'static str) -> Result<()> {
    if len == 0 {
        return Err(CryptoError::InvalidField(what));
    }
    check_len(len, MAX_LINK_URL_LEN, what)
}

/// A file uploaded to the server's file store (docs/e2e.md 19.2): its id there, its key and
/// digest, what it is, and for an image or video its dimensions and an encrypted thumbnail.
#[derive(Clone, PartialEq, Eq)]
pub struct FileBody {
    /// The file's id in the store (`POST /channels/{id}/files`).
    pub file_id: [u8; ID_LEN],
    /// File key, blob digest and plaintext size. Secret.
    pub pointer: AttachmentPointer,
    /// File name, at most [`MAX_FILE_NAME_LEN`] bytes.
    pub name: String,
    /// MIME type, at most [`MAX_MIME_TYPE_LEN`] bytes (may be empty).
    pub mime: String,
    /// Width and height in pixels (an image or a video).
    pub dimensions: Option<(u32, u32)>,
    /// Length of a video or a recording, milliseconds.
    pub duration_ms: Option<u32>,
    /// The thumbnail's file id and pointer (its own file and key).
    pub thumbnail: Option<([u8; ID_LEN], AttachmentPointer)>,
}

const FILE_HAS_DIMENSIONS: u8 = 1;
const FILE_HAS_DURATION: u8 = 2;
const FILE_HAS_THUMBNAIL: u8 = 4;

impl fmt::Debug for FileBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileBody")
            .field("file_id", &self.file_id)
            .field("pointer", &self.pointer)
            .field("name_len", &self.name.len())
            .field("mime_len", &self.mime.len())
            .field("dimensions", &self.dimensions)
            .field("duration_ms", &self.duration_ms)
            .field("thumbnail", &self.thumbnail.as_ref().map(|t| t.0))
            .finish()
    }
}

/// An attachment sent as its own message (the blob, tag 0x09), referenced by the message
/// carrying this body.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentBody {
    /// Server id of the message holding the blob, in the same channel.
    pub blob_message_id: [u8; ID_LEN],
    /// File key, blob digest and plaintext size. Secret.
    pub pointer: AttachmentPointer,
    /// File name, at most [`MAX_FILE_NAME_LEN`] bytes.
    pub name: String,
    /// MIME type, at most [`MAX_MIME_TYPE_LEN`] bytes (may be empty).
    pub mime: String,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Text(t) => f.debug_struct("Text").field("len", &t.len()).finish(),
            Body::Attachment(a) => a.fmt(f),
            Body::File(b) => b.fmt(f),
            Body::LinkText(l) => l.fmt(f),
        }
    }
}

impl fmt::Debug for AttachmentBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentBody")
            .field("blob_message_id", &self.blob_message_id)
            .field("pointer", &self.pointer)
            .field("name_len", &self.name.len())
            .field("mime_len", &self.mime.len())
            .finish()
    }
}

/// `0x50 | text`: the encoding of [`Body::Text`]. A text has no bound of its own; the
/// encryptor bounds the whole plaintext.
pub fn text_body(text: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(1 + text.len()));
    out.push(tag::BODY_TEXT);
    out.extend_from_slice(text.as_bytes());
    out
}

impl Body {
    /// Encoding (tag 0x50, 0x51, 0x52 or 0x53). Secret.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            Body::Text(t) => Ok(text_body(t)),
            Body::Attachment(a) => {
                check_len(a.name.len(), MAX_FILE_NAME_LEN, "file name")?;
                check_len(a.mime.len(), MAX_MIME_TYPE_LEN, "MIME type")?;
                let mut out = Zeroizing::new(Vec::with_capacity(
                    1 + ID_LEN + POINTER_LEN + 8 + a.name.len() + a.mime.len(),
                ));
                out.push(tag::BODY_ATTACHMENT);
                out.extend_from_slice(&a.blob_message_id);
                out.extend_from_slice(&a.pointer.to_bytes());
                put_var(&mut out, a.name.as_bytes());
                put_var(&mut out, a.mime.as_bytes());
                Ok(out)
            }
            Body::File(b) => {
                check_len(b.name.len(), MAX_FILE_NAME_LEN, "file name")?;
                check_len(b.mime.len(), MAX_MIME_TYPE_LEN, "MIME type")?;
                let mut out = Zeroizing::new(Vec::with_capacity(
                    2 + 2 * (ID_LEN + POINTER_LEN) + 20 + b.name.len() + b.mime.len(),
                ));
                out.push(tag::BODY_FILE);
                out.extend_from_slice(&b.file_id);
                out.extend_from_slice(&b.pointer.to_bytes());
                put_var(&mut out, b.name.as_bytes());
                put_var(&mut out, b.mime.as_bytes());
                let mut flags = 0;
                if b.dimensions.is_some() {
                    flags |= FILE_HAS_DIMENSIONS;
                }
                if b.duration_ms.is_some() {
                    flags |= FILE_HAS_DURATION;
                }
                if b.thumbnail.is_some() {
                    flags |= FILE_HAS_THUMBNAIL;
                }
                out.push(flags);
                if let Some((w, h)) = b.dimensions {
                    out.extend_from_slice(&w.to_be_bytes());
                    out.extend_from_slice(&h.to_be_bytes());
                }
                if let Some(d) = b.duration_ms {
                    out.extend_from_slice(&d.to_be_bytes());
                }
                if let Some((id, p)) = &b.thumbnail {
                    out.extend_from_slice(id);
                    out.extend_from_slice(&p.to_bytes());
                }
                Ok(out)
            }
            Body::LinkText(l) => {
                check_len(l.text.len(), MAX_BODY_LEN, "text")?;
                check_url(l.url.len(), "link address")?;
                check_url(l.final_url.len(), "link address after redirects")?;
                check_len(l.title.len(), MAX_LINK_TITLE_LEN, "link title")?;
                check_len(
                    l.description.len(),
                    MAX_LINK_DESCRIPTION_LEN,
                    "link description",
                )?;
                check_len(l.site_name.len(), MAX_LINK_SITE_NAME_LEN, "link site name")?;
                let fields = [
                    &l.text,
                    &l.url,
                    &l.final_url,
                    &l.title,
                    &l.description,
                    &l.site_name,
                ];
                let mut out = Zeroizing::new(Vec::with_capacity(
                    1 + fields.iter().map(|f| 4 + f.len()).sum::<usize>(),
                ));
                out.push(tag::BODY_LINK_TEXT);
                for f in fields {
                    put_var(&mut out, f.as_bytes());
                }
                Ok(out)
            }
        }
    }

    /// Strict decoding; the pointer is decoded (and bounded) as
    /// [`AttachmentPointer::from_bytes`] does.
    pub fn decode(bytes: &[u8]) -> Result<Body> {
        let mut r = Reader::new(bytes);
        match r.u8()? {
            tag::BODY_TEXT => Ok(Body::Text(utf8(r.rest())?)),
            tag::BODY_ATTACHMENT => {
                let blob_message_id = r.array()?;
                let pointer = AttachmentPointer::from_bytes(r.bytes(POINTER_LEN)?)?;
                let name = utf8(r.var_bytes(MAX_FILE_NAME_LEN, "file name")?)?;
                let mime = utf8(r.var_bytes(MAX_MIME_TYPE_LEN, "MIME type")?)?;
                r.finish()?;
                Ok(Body::Attachment(AttachmentBody {
                    blob_message_id,
                    pointer,
                    name,
                    mime,
                }))
            }
            tag::BODY_FILE => {
                let file_id = r.array()?;
                let pointer = AttachmentPointer::from_bytes(r.bytes(POINTER_LEN)?)?;
                let name = utf8(r.var_bytes(MAX_FILE_NAME_LEN, "file name")?)?;
                let mime = utf8(r.var_bytes(MAX_MIME_TYPE_LEN, "MIME type")?)?;
                let flags = r.u8()?;
                if flags & !(FILE_HAS_DIMENSIONS | FILE_HAS_DURATION | FILE_HAS_THUMBNAIL) != 0 {
                    return Err(CryptoError::InvalidField("file body flags"));
                }
                let dimensions = if flags & FILE_HAS_DIMENSIONS != 0 {
                    Some((r.u32()?, r.u32()?))
                } else {
                    None
                };
                let duration_ms = if flags & FILE_HAS_DURATION != 0 {
                    Some(r.u32()?)
                } else {
                    None
                };
                let thumbnail = if flags & FILE_HAS_THUMBNAIL != 0 {
                    let id = r.array()?;
                    Some((id, AttachmentPointer::from_bytes(r.bytes(POINTER_LEN)?)?))
                } else {
                    None
                };
                r.finish()?;
                Ok(Body::File(FileBody {
                    file_id,
                    pointer,
                    name,
                    mime,
                    dimensions,
                    duration_ms,
                    thumbnail,
                }))
            }
            tag::BODY_LINK_TEXT => {
                let text = utf8(r.var_bytes(MAX_BODY_LEN, "text")?)?;
                let mut url = |what| {
                    let b = r.var_bytes(MAX_LINK_URL_LEN, what)?;
                    check_url(b.len(), what)?;
                    utf8(b)
                };
                let url_ = url("link address")?;
                let final_url = url("link address after redirects")?;
                let title = utf8(r.var_bytes(MAX_LINK_TITLE_LEN, "link title")?)?;
                let description = utf8(r.var_bytes(MAX_LINK_DESCRIPTION_LEN, "link description")?)?;
                let site_name = utf8(r.var_bytes(MAX_LINK_SITE_NAME_LEN, "link site name")?)?;
                r.finish()?;
                Ok(Body::LinkText(LinkTextBody {
                    text,
                    url: url_,
                    final_url,
                    title,
                    description,
                    site_name,
                }))
            }
            t => Err(CryptoError::WrongTag(t)),
        }
    }
}

// ---- DMs

/// The plaintext of each pairwise ciphertext of a [`DirectPayload`] (tag 0x42):
/// `0x42 | channel_id[16] | var(body)`. The receiver requires `channel_id` to be the channel
/// the message arrived in.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectPlaintext {
    /// The channel (DM or group DM) the message is sent in.
    pub channel_id: [u8; ID_LEN],
    /// An encoded [`Body`], at most [`MAX_BODY_LEN`] bytes. Secret.
    pub body: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for DirectPlaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectPlaintext")
            .field("channel_id", &self.channel_id)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl DirectPlaintext {
    /// Encoding (tag 0x42). Secret.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        check_len(self.body.len(), MAX_BODY_LEN, "body")?;
        let mut out = Zeroizing::new(Vec::with_capacity(1 + ID_LEN + 4 + self.body.len()));
        out.push(tag::DIRECT_PLAINTEXT);
        out.extend_from_slice(&self.channel_id);
        put_var(&mut out, &self.body);
        Ok(out)
    }

    /// Strict decoding.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::DIRECT_PLAINTEXT)?;
        let channel_id = r.array()?;
        let body = Zeroizing::new(r.var_bytes(MAX_BODY_LEN, "body")?.to_vec());
        r.finish()?;
        Ok(DirectPlaintext { channel_id, body })
    }
}

/// One recipient device of a [`DirectPayload`] and the pairwise message made for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectRecipient {
    /// Recipient device id.
    pub device_id: [u8; ID_LEN],
    /// The pairwise message (tag 0x05 or 0x06, opaque here), at most
    /// [`MAX_PAIRWISE_MESSAGE_LEN`] bytes.
    pub message: Vec<u8>,
}

/// The message body of a DM or group DM (tag 0x40): `0x40 | sender_device_id[16] |
/// count u16 | count × (recipient_device_id[16] | var(pairwise message))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectPayload {
    /// The sending device (tells the receiver which session to use).
    pub sender_device_id: [u8; ID_LEN],
    /// In order; at most [`MAX_DIRECT_RECIPIENTS`].
    pub recipients: Vec<DirectRecipient>,
}

impl DirectPayload {
    /// Encoding (tag 0x40).
    pub fn encode(&self) -> Result<Vec<u8>> {
        check_len(
            self.recipients.len(),
            MAX_DIRECT_RECIPIENTS,
            "recipient count",
        )?;
        let count = u16::try_from(self.recipients.len())
            .map_err(|_| CryptoError::LimitExceeded("recipient count"))?;
        let mut len = 1 + ID_LEN + 2;
        for rcpt in &self.recipients {
            check_len(
                rcpt.message.len(),
                MAX_PAIRWISE_MESSAGE_LEN,
                "pairwise message",
            )?;
            len += ID_LEN + 4 + rcpt.message.len();
        }
        let mut out = Vec::with_capacity(len);
        out.push(tag::DIRECT_PAYLOAD);
        out.extend_from_slice(&self.sender_device_id);
        out.extend_from_slice(&count.to_be_bytes());
        for rcpt in &self.recipients {
            out.extend_from_slice(&rcpt.device_id);
            put_var(&mut out, &rcpt.message);
        }
        Ok(out)
    }

    /// Strict decoding. A device listed more than once is kept as listed (see
    /// [`DirectPayload::message_for`]).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::DIRECT_PAYLOAD)?;
        let sender_device_id = r.array()?;
        let count = r.u16()?;
        let mut recipients = Vec::new();
        for _ in 0..count {
            let device_id = r.array()?;
            let message = r
                .var_bytes(MAX_PAIRWISE_MESSAGE_LEN, "pairwise message")?
                .to_vec();
            recipients.push(DirectRecipient { device_id, message });
        }
        r.finish()?;
        Ok(DirectPayload {
            sender_device_id,
            recipients,
        })
    }

    /// The pairwise message for `device_id`: the last entry naming it, if any.
    pub fn message_for(&self, device_id: &[u8; ID_LEN]) -> Option<&[u8]> {
        self.recipients
            .iter()
            .rfind(|r| r.device_id == *device_id)
            .map(|r| r.message.as_slice())
    }
}

// ---- channels

/// The message body of an end-to-end community channel (tag 0x41): `0x41 |
/// sender_device_id[16] | SenderKeyMessage` (tag 0x08, opaque here, running to the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPayload {
    /// The sending device (with the channel, selects the sender key).
    pub sender_device_id: [u8; ID_LEN],
    /// The sender-key message.
    pub message: Vec<u8>,
}

impl ChannelPayload {
    /// Encoding (tag 0x41).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + ID_LEN + self.message.len());
        out.push(tag::CHANNEL_PAYLOAD);
        out.extend_from_slice(&self.sender_device_id);
        out.extend_from_slice(&self.message);
        out
    }

    /// Strict decoding.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::CHANNEL_PAYLOAD)?;
        let sender_device_id = r.array()?;
        let message = r.rest().to_vec();
        r.finish()?;
        Ok(ChannelPayload {
            sender_device_id,
            message,
        })
    }
}

/// An encrypted message body, as the server stores it (`Content::Encrypted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Tag 0x40.
    Direct(DirectPayload),
    /// Tag 0x41.
    Channel(ChannelPayload),
}

impl Payload {
    /// Encoding (tag 0x40 or 0x41).
    pub fn encode(&self) -> Result<Vec<u8>> {
        match self {
            Payload::Direct(p) => p.encode(),
            Payload::Channel(p) => Ok(p.encode()),
        }
    }

    /// Strict decoding of either payload, by its tag.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        match bytes.first() {
            None => Err(CryptoError::Truncated),
            Some(&tag::DIRECT_PAYLOAD) => DirectPayload::decode(bytes).map(Payload::Direct),
            Some(&tag::CHANNEL_PAYLOAD) => ChannelPayload::decode(bytes).map(Payload::Channel),
            Some(&t) => Err(CryptoError::WrongTag(t)),
        }
    }

    /// The sending device named in clear.
    pub fn sender_device_id(&self) -> [u8; ID_LEN] {
        match self {
            Payload::Direct(p) => p.sender_device_id,
            Payload::Channel(p) => p.sender_device_id,
        }
    }
}

// ---- envelopes

/// The plaintext inside an envelope's pairwise ciphertext (tag 0x43): `0x43 | kind u8 |
/// flag | [channel_id[16]] | var(body)`. The kind is not checked here (the receiver
/// dispatches on it; [`ENVELOPE_KIND_SENDER_KEY`] is the only one defined).
#[derive(Clone, PartialEq, Eq)]
pub struct EnvelopePlaintext {
    /// What the body is.
    pub kind: u8,
    /// The channel the envelope is bound to (must equal the envelope's `channel_id`).
    pub channel_id: Option<[u8; ID_LEN]>,
    /// For [`ENVELOPE_KIND_SENDER_KEY`], a `SenderKeyDistribution` encoding; at most
    /// [`MAX_BODY_LEN`] bytes. Secret.
    pub body: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for EnvelopePlaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopePlaintext")
            .field("kind", &self.kind)
            .field("channel_id", &self.channel_id)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl EnvelopePlaintext {
    /// Encoding (tag 0x43). Secret.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        check_len(self.body.len(), MAX_BODY_LEN, "body")?;
        let mut out = Zeroizing::new(Vec::with_capacity(3 + ID_LEN + 4 + self.body.len()));
        out.push(tag::ENVELOPE_PLAINTEXT);
        out.push(self.kind);
        match &self.channel_id {
            Some(c) => {
                out.push(1);
                out.extend_from_slice(c);
            }
            None => out.push(0),
        }
        put_var(&mut out, &self.body);
        Ok(out)
    }

    /// Strict decoding.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::ENVELOPE_PLAINTEXT)?;
        let kind = r.u8()?;
        let channel_id = if r.flag()? { Some(r.array()?) } else { None };
        let body = Zeroizing::new(r.var_bytes(MAX_BODY_LEN, "body")?.to_vec());
        r.finish()?;
        Ok(EnvelopePlaintext {
            kind,
            channel_id,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer() -> AttachmentPointer {
        AttachmentPointer {
            key: Zeroizing::new([0x61; 32]),
            digest: [0x62; 32],
            size: 1234,
        }
    }

    fn attachment(name: &str, mime: &str) -> Body {
        Body::Attachment(AttachmentBody {
            blob_message_id: [7; ID_LEN],
            pointer: pointer(),
            name: name.to_owned(),
            mime: mime.to_owned(),
        })
    }

    fn direct(n: usize, len: usize) -> DirectPayload {
        DirectPayload {
            sender_device_id: [1; ID_LEN],
            recipients: (0..n)
                .map(|i| DirectRecipient {
                    device_id: [i as u8 + 2; ID_LEN],
                    message: vec![0x06; len],
                })
                .collect(),
        }
    }

    fn envelope(body: Vec<u8>) -> EnvelopePlaintext {
        EnvelopePlaintext {
            kind: ENVELOPE_KIND_SENDER_KEY,
            channel_id: Some([9; ID_LEN]),
            body: Zeroizing::new(body),
        }
    }

    #[test]
    fn bodies_roundtrip_with_the_documented_layout() {
        let t = Body::Text("hello".into()).encode().expect("encode");
        assert_eq!(&t[..], b"\x50hello");
        assert_eq!(&text_body("hello")[..], &t[..]);
        assert_eq!(Body::decode(&t), Ok(Body::Text("hello".into())));
        assert_eq!(
            Body::decode(&[tag::BODY_TEXT]),
            Ok(Body::Text(String::new()))
        );
        let a = attachment("a.txt", "text/plain");
        let e = a.encode().expect("encode");
        assert_eq!(e.len(), 1 + 16 + POINTER_LEN + 4 + 5 + 4 + 10);
        assert_eq!(e[0], tag::BODY_ATTACHMENT);
        assert_eq!(&e[17..17 + POINTER_LEN], &pointer().to_bytes()[..]);
        assert_eq!(Body::decode(&e), Ok(a));
    }

    #[test]
    fn attachment_name_and_type_are_bounded() {
        let max = attachment(
            &"n".repeat(MAX_FILE_NAME_LEN),
            &"m".repeat(MAX_MIME_TYPE_LEN),
        );
        let e = max.encode().expect("at the limits");
        assert_eq!(Body::decode(&e), Ok(max));
        let long = attachment(&"n".repeat(MAX_FILE_NAME_LEN + 1), "");
        assert_eq!(
            long.encode().err(),
            Some(CryptoError::LimitExceeded("file name"))
        );
        let long = attachment("", &"m".repeat(MAX_MIME_TYPE_LEN + 1));
        assert_eq!(
            long.encode().err(),
            Some(CryptoError::LimitExceeded("MIME type"))
        );
        // declared above the limit
        let mut e = attachment("", "").encode().expect("encode").to_vec();
        let at = 1 + 16 + POINTER_LEN;
        e[at..at + 4].copy_from_slice(&(MAX_FILE_NAME_LEN as u32 + 1).to_be_bytes());
        assert_eq!(
            Body::decode(&e),
            Err(CryptoError::LimitExceeded("file name"))
        );
    }

    #[test]
    fn bodies_reject_bad_text_pointer_and_trailing_bytes() {
        assert_eq!(Body::decode(&[]), Err(CryptoError::Truncated));
        assert_eq!(Body::decode(&[0x54]), Err(CryptoError::WrongTag(0x54)));
        assert_eq!(Body::decode(&[tag::BODY_FILE]), Err(CryptoError::Truncated));
        assert!(matches!(
            Body::decode(&[tag::BODY_TEXT, 0xff]),
            Err(CryptoError::InvalidField(_))
        ));
        let good = attachment("x", "y").encode().expect("encode").to_vec();
        let mut bad_tag = good.clone();
        bad_tag[17] = tag::ATTACHMENT_BLOB;
        assert_eq!(
            Body::decode(&bad_tag),
            Err(CryptoError::WrongTag(tag::ATTACHMENT_BLOB))
        );
        let mut too_big = good.clone();
        too_big[17 + 65..17 + 73].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            Body::decode(&too_big),
            Err(CryptoError::LimitExceeded("attachment size"))
        );
        let mut name_not_utf8 = good.clone();
        name_not_utf8[17 + 73 + 4] = 0xc3;
        assert!(matches!(
            Body::decode(&name_not_utf8),
            Err(CryptoError::InvalidField(_))
        ));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(Body::decode(&trailing), Err(CryptoError::TrailingBytes));
        assert_eq!(
            Body::decode(&good[..good.len() - 1]),
            Err(CryptoError::Truncated)
        );
    }

    #[test]
    fn direct_plaintext_holds_a_body_up_to_the_limit() {
        let p = DirectPlaintext {
            channel_id: [3; ID_LEN],
            body: Zeroizing::new(vec![0x50; MAX_BODY_LEN]),
        };
        let e = p.encode().expect("at the limit");
        assert_eq!(e.len(), 1 + 16 + 4 + MAX_BODY_LEN);
        assert_eq!(DirectPlaintext::decode(&e), Ok(p));
        let over = DirectPlaintext {
            channel_id: [3; ID_LEN],
            body: Zeroizing::new(vec![0x50; MAX_BODY_LEN + 1]),
        };
        assert_eq!(
            over.encode().err(),
            Some(CryptoError::LimitExceeded("body"))
        );
        let empty = DirectPlaintext {
            channel_id: [3; ID_LEN],
            body: Zeroizing::new(Vec::new()),
        };
        let e = empty.encode().expect("encode");
        assert_eq!(DirectPlaintext::decode(&e), Ok(empty));
        assert_eq!(
            DirectPlaintext::decode(&e[..e.len() - 1]),
            Err(CryptoError::Truncated)
        );
        assert_eq!(
            DirectPlaintext::decode(&[tag::ENVELOPE_PLAINTEXT]),
            Err(CryptoError::WrongTag(tag::ENVELOPE_PLAINTEXT))
        );
    }

    #[test]
    fn direct_payload_lists_recipients_and_finds_the_last_entry() {
        for n in [0usize, 1, 3] {
            let p = direct(n, 5);
            let e = p.encode().expect("encode");
            assert_eq!(e.len(), 1 + 16 + 2 + n * (16 + 4 + 5));
            assert_eq!(DirectPayload::decode(&e), Ok(p.clone()));
            assert_eq!(Payload::decode(&e), Ok(Payload::Direct(p)));
        }
        let mut p = direct(2, 1);
        p.recipients.push(DirectRecipient {
            device_id: [2; ID_LEN],
            message: vec![0x05],
        });
        assert_eq!(p.message_for(&[2; ID_LEN]), Some(&[0x05][..]));
        assert_eq!(p.message_for(&[3; ID_LEN]), Some(&[0x06][..]));
        assert_eq!(p.message_for(&[4; ID_LEN]), None);
        let e = p.encode().expect("encode");
        assert_eq!(
            DirectPayload::decode(&e)
                .expect("decode")
                .message_for(&[2; ID_LEN]),
            Some(&[0x05][..])
        );
    }

    #[test]
    fn direct_payload_is_bounded() {
        let p = direct(1, MAX_PAIRWISE_MESSAGE_LEN);
        let e = p.encode().expect("at the limit");
        assert_eq!(DirectPayload::decode(&e), Ok(p));
        assert_eq!(
            direct(1, MAX_PAIRWISE_MESSAGE_LEN + 1).encode().err(),
            Some(CryptoError::LimitExceeded("pairwise message"))
        );
        let many = DirectPayload {
            sender_device_id: [1; ID_LEN],
            recipients: vec![
                DirectRecipient {
                    device_id: [2; ID_LEN],
                    message: Vec::new(),
                };
                MAX_DIRECT_RECIPIENTS + 1
            ],
        };
        assert_eq!(
            many.encode().err(),
            Some(CryptoError::LimitExceeded("recipient count"))
        );
        let mut e = direct(2, 1).encode().expect("encode");
        e.push(0);
        assert_eq!(DirectPayload::decode(&e), Err(CryptoError::TrailingBytes));
        e.truncate(e.len() - 2);
        assert_eq!(DirectPayload::decode(&e), Err(CryptoError::Truncated));
    }

    #[test]
    fn channel_payload_carries_the_message_to_the_end() {
        let p = ChannelPayload {
            sender_device_id: [4; ID_LEN],
            message: vec![0x08, 1, 2, 3],
        };
        let e = p.encode();
        assert_eq!(e.len(), 1 + 16 + 4);
        assert_eq!(ChannelPayload::decode(&e), Ok(p.clone()));
        assert_eq!(Payload::decode(&e), Ok(Payload::Channel(p.clone())));
        assert_eq!(Payload::Channel(p).sender_device_id(), [4; ID_LEN]);
        assert_eq!(
            ChannelPayload::decode(&e[..16]),
            Err(CryptoError::Truncated)
        );
        assert_eq!(Payload::decode(&[]), Err(CryptoError::Truncated));
        assert_eq!(
            Payload::decode(&[tag::DIRECT_PLAINTEXT; 20]),
            Err(CryptoError::WrongTag(tag::DIRECT_PLAINTEXT))
        );
    }

    #[test]
    fn envelope_plaintext_binds_an_optional_channel() {
        let p = envelope(vec![0x07; 105]);
        let e = p.encode().expect("encode");
        assert_eq!(
            &e[..3],
            &[tag::ENVELOPE_PLAINTEXT, ENVELOPE_KIND_SENDER_KEY, 1]
        );
        assert_eq!(e.len(), 3 + 16 + 4 + 105);
        assert_eq!(EnvelopePlaintext::decode(&e), Ok(p));
        let none = EnvelopePlaintext {
            kind: ENVELOPE_KIND_SENDER_KEY,
            channel_id: None,
            body: Zeroizing::new(Vec::new()),
        };
        let e = none.encode().expect("encode");
        assert_eq!(&e[..], &[tag::ENVELOPE_PLAINTEXT, 1, 0, 0, 0, 0, 0]);
        assert_eq!(EnvelopePlaintext::decode(&e), Ok(none));
        let mut bad_flag = e.to_vec();
        bad_flag[2] = 2;
        assert!(matches!(
            EnvelopePlaintext::decode(&bad_flag),
            Err(CryptoError::InvalidField(_))
        ));
        let max = envelope(vec![0; MAX_BODY_LEN]);
        assert_eq!(
            EnvelopePlaintext::decode(&max.encode().expect("at the limit")),
            Ok(max)
        );
        assert_eq!(
            envelope(vec![0; MAX_BODY_LEN + 1]).encode().err(),
            Some(CryptoError::LimitExceeded("body"))
        );
    }

    #[test]
    fn debug_output_shows_no_plaintext_or_key() {
        let shown = format!(
            "{:?} {:?} {:?} {:?}",
            Body::Text("secret words".into()),
            attachment("secret.pdf", "secret/type"),
            DirectPlaintext {
                channel_id: [0; ID_LEN],
                body: Zeroizing::new(b"secret".to_vec()),
            },
            envelope(b"secret".to_vec()),
        );
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains("97, 97"), "{shown}");
    }
}
