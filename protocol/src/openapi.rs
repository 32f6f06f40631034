//! Schema helpers for the OpenAPI description (feature `openapi`): the wire types derive their
//! schemas; ids and byte strings are described here.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

/// A UUID carried as a string.
pub fn uuid_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .into()
}

/// Bytes carried as standard base64 with padding.
pub fn base64_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Byte)))
        .into()
}

// The rules of request fields, so that what the schema calls valid the server accepts. Where
// the server normalises input (trims names, lower-cases usernames), the schema describes the
// normal form; patterns use only what ECMA-262 and Python regular expressions share.

use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};

/// The characters a name may start and end with: printable characters of the Basic
/// Multilingual Plane without controls, spaces, direction controls, invisible and filler
/// characters (as `deceptive` in the server's validation). Written as positive ranges, so
/// no surrogate can be drawn from it.
const VISIBLE: &str = "\\x21-\\x7e\\xa1-\\xac\\xae-\\u034e\\u0350-\\u061b\\u061d-\\u115e\\u1161-\\u167f\\u1681-\\u180d\\u180f-\\u1fff\\u2010-\\u2027\\u2030-\\u205e\\u2065\\u206a-\\u27ff\\u2801-\\u2fff\\u3001-\\u3163\\u3165-\\ud7ff\\ue000-\\ufefe\\uff00-\\uff9f\\uffa1-\\ufffd";

fn string(pattern: String, min: usize, max: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .min_length(Some(min))
        .max_length(Some(max))
        .into()
}

/// A one-line name of `min` to `max` characters (`max` ≥ 2): visible characters with single
/// spaces inside, nothing to trim.
fn line(min: usize, max: usize) -> RefOr<Schema> {
    let one = format!("[{VISIBLE}](?:[{VISIBLE} ]{{0,{}}}[{VISIBLE}])?", max - 2);
    let pattern = if min == 0 {
        format!("^(?:{one})?$")
    } else {
        format!("^{one}$")
    };
    string(pattern, min, max)
}

/// Free text of at most `max` characters: visible characters, spaces and line breaks.
fn text(max: usize) -> RefOr<Schema> {
    string(format!("^[{VISIBLE} \\n]*$"), 0, max)
}

/// Printable ASCII of `min` to `max` characters (bytes).
fn ascii(min: usize, max: usize) -> RefOr<Schema> {
    string("^[\\x21-\\x7e]*$".to_owned(), min, max)
}

fn nullable(s: RefOr<Schema>) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(s)
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

/// An integer from `min` to `max`.
pub fn integer(min: i64, max: i64) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
        .into()
}

fn uuids(min: usize, max: usize) -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(uuid_schema())
        .min_items(Some(min))
        .max_items(Some(max))
        .unique_items(true)
        .into()
}

/// A username at registration: 3 to 32 of `a-z 0-9 _ . -`, starting with a letter or digit.
pub fn username() -> RefOr<Schema> {
    string("^[a-z0-9][a-z0-9_.-]*$".to_owned(), 3, 32)
}
/// A username given to log in or recover (looked up as typed).
pub fn login_username() -> RefOr<Schema> {
    ascii(1, 64)
}
/// A password being checked: 1 to 256 bytes.
pub fn password() -> RefOr<Schema> {
    string("^[\\x20-\\x7e]*$".to_owned(), 1, 256)
}
/// A new password: 10 to 256 bytes (and neither the username inside nor one character
/// repeated, which a schema cannot say).
pub fn new_password() -> RefOr<Schema> {
    string("^[\\x20-\\x7e]*$".to_owned(), 10, 256)
}
/// A code typed by a person: a TOTP or backup code, a recovery code, a setup token.
pub fn code() -> RefOr<Schema> {
    ascii(1, 64)
}
/// The six digits of an authenticator app.
pub fn totp_code() -> RefOr<Schema> {
    string("^[0-9]{6}$".to_owned(), 6, 6)
}
/// An invite code: 16 Crockford base32 symbols in groups of four.
pub fn invite_code() -> RefOr<Schema> {
    string(
        "^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$"
            .to_owned(),
        19,
        19,
    )
}
/// A refresh token: 1 to 128 bytes.
pub fn refresh_token() -> RefOr<Schema> {
    ascii(1, 128)
}
/// A device secret: at most 128 bytes.
pub fn device_secret() -> RefOr<Schema> {
    ascii(1, 128)
}
/// A display, device or instance name: 1 to 64 characters.
pub fn name_64() -> RefOr<Schema> {
    line(1, 64)
}
/// A community, group or channel name: 1 to 100 characters.
pub fn name_100() -> RefOr<Schema> {
    line(1, 100)
}
/// A community description, a welcome message, a bio: at most 1000 characters.
pub fn text_1000() -> RefOr<Schema> {
    text(1000)
}
/// A channel topic: at most 1000 characters.
pub fn topic() -> RefOr<Schema> {
    text(1000)
}
/// A ban reason: at most 500 characters.
pub fn reason() -> RefOr<Schema> {
    text(500)
}
/// Pronouns: at most 40 characters, one line.
pub fn pronouns() -> RefOr<Schema> {
    line(0, 40)
}
/// A custom status: at most 128 characters, one line.
pub fn custom_status() -> RefOr<Schema> {
    line(0, 128)
}
/// The ref of a public image (a SHA-256 in lowercase hex), or null to clear it.
pub fn file_ref() -> RefOr<Schema> {
    nullable(string("^[0-9a-f]{64}$".to_owned(), 64, 64))
}
/// Invite uses: 1 to 10,000.
pub fn max_uses() -> RefOr<Schema> {
    integer(1, 10_000)
}
/// Invite lifetime: 60 seconds to a year.
pub fn expires_in_secs() -> RefOr<Schema> {
    integer(60, 31_622_400)
}
/// Slow mode: 0 (off) or 5 to 600 seconds.
pub fn slow_mode() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(integer(0, 0))
        .item(integer(5, 600))
        .into()
}
/// A position in a list.
pub fn position() -> RefOr<Schema> {
    integer(-1_000_000, 1_000_000)
}
/// The other members of a DM or group DM: 1 to 9 users.
pub fn dm_users() -> RefOr<Schema> {
    uuids(1, 9)
}
/// Devices named in a claim: 1 to 16.
pub fn claim_devices() -> RefOr<Schema> {
    uuids(1, 16)
}
/// Envelope ids acknowledged at once: 1 to 500.
pub fn ack_ids() -> RefOr<Schema> {
    uuids(1, 500)
}
/// Envelope ciphertext: 1 to 16384 bytes, base64.
pub fn envelope_ciphertext() -> RefOr<Schema> {
    string("^(?:[A-Za-z0-9+/]{4})+$".to_owned(), 4, 21_844)
}

const B64: &str = "[A-Za-z0-9+/]";

/// The first two base64 characters of data starting with `tag`: the first tells the tag's
/// six high bits, the second its two low bits.
fn tag_prefix(tag: u8) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let first = char::from(ALPHABET[usize::from(tag >> 2)]);
    let second = ["[A-P]", "[Q-Za-f]", "[g-v]", "[w-z0-9+/]"][usize::from(tag & 3)];
    format!("{first}{second}")
}

/// A key encoding of the `crypto` crate, as base64: `len` bytes, the first of them `tag`.
fn tagged_encoding((tag, len): (u8, usize)) -> RefOr<Schema> {
    let data_chars = len / 3 * 4 + [0, 2, 3][len % 3];
    let padding = "=".repeat(len.div_ceil(3) * 4 - data_chars);
    let chars = len.div_ceil(3) * 4;
    string(
        format!("^{}{B64}{{{}}}{padding}$", tag_prefix(tag), data_chars - 2),
        chars,
        chars,
    )
}

/// A `LinkRequest` encoding.
pub fn link_request_encoding() -> RefOr<Schema> {
    tagged_encoding(crate::multi_device::limits::LINK_REQUEST_ENCODING)
}
/// A `LinkResponse` encoding.
pub fn link_response_encoding() -> RefOr<Schema> {
    tagged_encoding(crate::multi_device::limits::LINK_RESPONSE_ENCODING)
}
/// A `SecretStorage` encoding.
pub fn secret_storage_encoding() -> RefOr<Schema> {
    tagged_encoding(crate::multi_device::limits::SECRET_STORAGE_ENCODING)
}
/// A `BackupHead` encoding.
pub fn backup_head_encoding() -> RefOr<Schema> {
    tagged_encoding(crate::multi_device::limits::BACKUP_HEAD_ENCODING)
}
/// A `BackupChunk` encoding: 61 bytes to 1 MiB and 57 bytes, starting with tag 0x67.
pub fn backup_chunk_encoding() -> RefOr<Schema> {
    use crate::multi_device::limits::{
        BACKUP_CHUNK_TAG, MAX_BACKUP_CHUNK_BYTES, MIN_BACKUP_CHUNK_BYTES,
    };
    string(
        format!(
            "^{}{B64}{{2}}(?:{B64}{{4}})*(?:{B64}{{4}}|{B64}{{3}}=|{B64}{{2}}==)$",
            tag_prefix(BACKUP_CHUNK_TAG)
        ),
        MIN_BACKUP_CHUNK_BYTES.div_ceil(3) * 4,
        MAX_BACKUP_CHUNK_BYTES.div_ceil(3) * 4,
    )
}
/// A device certificate encoding.
pub fn certificate_encoding() -> RefOr<Schema> {
    tagged_encoding(crate::keys::limits::CERTIFICATE_ENCODING)
}
/// A signed prekey encoding.
pub fn signed_prekey_encoding() -> RefOr<Schema> {
    tagged_encoding(crate::keys::limits::SIGNED_PREKEY_ENCODING)
}
fn one_time_prekeys(min: usize) -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(tagged_encoding(
            crate::keys::limits::ONE_TIME_PREKEY_ENCODING,
        ))
        .min_items(Some(min))
        .max_items(Some(crate::keys::limits::MAX_ONE_TIME_PREKEYS_PER_UPLOAD))
        .into()
}
/// Up to 100 one-time prekey encodings.
pub fn one_time_prekeys_0() -> RefOr<Schema> {
    one_time_prekeys(0)
}
/// 1 to 100 one-time prekey encodings.
pub fn one_time_prekeys_1() -> RefOr<Schema> {
    one_time_prekeys(1)
}

/// An instance role that can be given: admin or member (ownership is not given away).
pub fn assignable_instance_role() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["admin", "member"]))
        .into()
}

/// The kind of a new community channel (DMs are opened with `POST /api/v1/dms`).
pub fn community_channel_kind() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["text", "voice", "announcement"]))
        .into()
}
