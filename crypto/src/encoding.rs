//! Strict binary reading/writing helpers and the table of encoding tags.
//!
//! Every encoding starts with one tag byte naming both the type and its version.
//! Integers are big-endian. Decoders reject short input, trailing bytes, unknown
//! tags and out-of-range fields; they never panic.

use crate::error::{CryptoError, Result};

/// Tag bytes: one per (encoding, version). A new version gets a new tag.
pub mod tag {
    /// `DeviceCertificate` v1.
    pub const DEVICE_CERTIFICATE: u8 = 0x01;
    /// `SignedPreKeyPublic` v1.
    pub const SIGNED_PREKEY: u8 = 0x02;
    /// `OneTimePreKeyPublic` v1.
    pub const ONE_TIME_PREKEY: u8 = 0x03;
    /// `PreKeyBundle` v1.
    pub const PREKEY_BUNDLE: u8 = 0x04;
    /// `PreKeyMessage` v1 (X3DH header + first ratchet message).
    pub const PREKEY_MESSAGE: u8 = 0x05;
    /// `RatchetMessage` v1.
    pub const RATCHET_MESSAGE: u8 = 0x06;
    /// `SenderKeyDistribution` v1.
    pub const SENDER_KEY_DISTRIBUTION: u8 = 0x07;
    /// `SenderKeyMessage` v1.
    pub const SENDER_KEY_MESSAGE: u8 = 0x08;
    /// Attachment blob header v1.
    pub const ATTACHMENT_BLOB: u8 = 0x09;
    /// `AttachmentPointer` v1.
    pub const ATTACHMENT_POINTER: u8 = 0x0A;

    /// `UserKeyPair` secret storage v1.
    pub const USER_KEY_SECRET: u8 = 0x20;
    /// `DeviceIdentity` secret storage v1.
    pub const DEVICE_IDENTITY_SECRET: u8 = 0x21;
    /// `SignedPreKeySecret` storage v1.
    pub const SIGNED_PREKEY_SECRET: u8 = 0x22;
    /// `OneTimePreKeySecret` storage v1.
    pub const ONE_TIME_PREKEY_SECRET: u8 = 0x23;
    /// `Session` (Double Ratchet state) storage v1.
    pub const SESSION_STATE: u8 = 0x24;
    /// `SenderKeySender` state storage v1.
    pub const SENDER_KEY_SENDER_STATE: u8 = 0x25;
    /// `SenderKeyReceiver` state storage v1.
    pub const SENDER_KEY_RECEIVER_STATE: u8 = 0x26;

    /// Application layer ([`crate::app`]): `DirectPayload` v1, a DM message body.
    pub const DIRECT_PAYLOAD: u8 = 0x40;
    /// Application layer: `ChannelPayload` v1, a community-channel message body.
    pub const CHANNEL_PAYLOAD: u8 = 0x41;
    /// Application layer: `DirectPlaintext` v1, inside each pairwise ciphertext of a DM.
    pub const DIRECT_PLAINTEXT: u8 = 0x42;
    /// Application layer: `EnvelopePlaintext` v1, inside an envelope's pairwise ciphertext.
    pub const ENVELOPE_PLAINTEXT: u8 = 0x43;
    /// Application layer: text body v1.
    pub const BODY_TEXT: u8 = 0x50;
    /// Application layer: attachment body v1.
    pub const BODY_ATTACHMENT: u8 = 0x51;
    /// Application layer: file body v1 (a file in the server's file store, docs/e2e.md 19.2).
    pub const BODY_FILE: u8 = 0x52;
    /// Application layer: a text with the preview of a link in it, made by the sender
    /// (docs/e2e.md 19.5).
    pub const BODY_LINK_TEXT: u8 = 0x53;

    /// Secret storage ([`crate::secret_storage`]): `SecretStorage` v1.
    pub const SECRET_STORAGE: u8 = 0x60;
    /// Secret storage: its plaintext v1, only inside a `SecretStorage`.
    pub const SECRET_STORAGE_PLAINTEXT: u8 = 0x61;
    /// Device linking ([`crate::link`]): `LinkRequest` v1.
    pub const LINK_REQUEST: u8 = 0x62;
    /// Device linking: `LinkResponse` v1.
    pub const LINK_RESPONSE: u8 = 0x63;
    /// Device linking: `LinkSecrets` v1, only inside a `LinkResponse`.
    pub const LINK_SECRETS: u8 = 0x64;
    /// History ([`crate::history`]): `HistoryKey` v1.
    pub const HISTORY_KEY: u8 = 0x65;
    /// Backup ([`crate::backup`]): `ArchivedMessage` v1, only inside a `BackupChunk`.
    pub const ARCHIVED_MESSAGE: u8 = 0x66;
    /// Backup: `BackupChunk` v1.
    pub const BACKUP_CHUNK: u8 = 0x67;
    /// Backup: `BackupHead` v1.
    pub const BACKUP_HEAD: u8 = 0x68;
    /// History: `HistoryBundle` v1 (history keys shared with a new member).
    pub const HISTORY_BUNDLE: u8 = 0x69;
}

/// Strict cursor over an input slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `buf` at its first byte (for encodings with several possible tags:
    /// the caller reads the tag with [`Reader::u8`]).
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Starts reading `buf`, requiring its first byte to be `expected_tag`.
    pub(crate) fn with_tag(buf: &'a [u8], expected_tag: u8) -> Result<Self> {
        let mut r = Reader::new(buf);
        let t = r.u8()?;
        if t != expected_tag {
            return Err(CryptoError::WrongTag(t));
        }
        Ok(r)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(CryptoError::Truncated)?;
        if end > self.buf.len() {
            return Err(CryptoError::Truncated);
        }
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A presence flag: 0x00 = absent, 0x01 = present, anything else is an error.
    pub(crate) fn flag(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CryptoError::InvalidField("flag byte must be 0 or 1")),
        }
    }

    /// A u32 length prefix (at most `max`) followed by that many bytes.
    pub(crate) fn var_bytes(&mut self, max: usize, what: &'static str) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(CryptoError::LimitExceeded(what));
        }
        self.bytes(len)
    }

    /// Everything not read yet, left unread (to look at the next tag).
    pub(crate) fn rest_peek(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Everything not read yet (for a last field that runs to the end of the input).
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Ends decoding: any unread byte is an error.
    pub(crate) fn finish(self) -> Result<()> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(CryptoError::TrailingBytes)
        }
    }
}

/// Appends a u32 length prefix and the bytes.
pub(crate) fn put_var(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("callers bound lengths far below u32::MAX");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The Crockford base32 alphabet of codes people type (link codes, recovery keys).
pub(crate) const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `bytes` as Crockford base32 (the last character padded with zero bits), in groups of four
/// joined by `-`.
pub(crate) fn crockford_text(bytes: &[u8]) -> String {
    let mut chars = Vec::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            chars.push(CROCKFORD[((acc >> bits) & 31) as usize]);
        }
    }
    if bits > 0 {
        chars.push(CROCKFORD[((acc << (5 - bits)) & 31) as usize]);
    }
    chars
        .chunks(4)
        .map(|g| String::from_utf8_lossy(g).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Reads what [`crockford_text`] writes into `out`, exactly: case, `-` and spaces do not
/// matter, `I`/`L` read as `1` and `O` as `0`. Another character or length, or nonzero
/// padding bits, is `InvalidField` naming `what`.
pub(crate) fn read_crockford(text: &str, out: &mut [u8], what: &'static str) -> Result<()> {
    let chars = (out.len() * 8).div_ceil(5);
    let (mut acc, mut bits, mut n, mut len) = (0u32, 0u32, 0usize, 0usize);
    for c in text.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        };
        let v = CROCKFORD
            .iter()
            .position(|x| char::from(*x) == c)
            .ok_or(CryptoError::InvalidField(what))?;
        len += 1;
        if len > chars {
            return Err(CryptoError::InvalidField(what));
        }
        acc = (acc << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out[n] = (acc >> bits) as u8;
            n += 1;
            acc &= (1 << bits) - 1;
        }
    }
    if len != chars || n != out.len() {
        return Err(CryptoError::InvalidField(what));
    }
    if acc != 0 {
        return Err(CryptoError::InvalidField(what));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_short_trailing_and_wrong_tag() {
        assert_eq!(Reader::with_tag(&[], 1).err(), Some(CryptoError::Truncated));
        assert_eq!(
            Reader::with_tag(&[2], 1).err(),
            Some(CryptoError::WrongTag(2))
        );
        let mut r = Reader::with_tag(&[1, 0, 0, 0], 1).expect("tag ok");
        assert_eq!(r.u32().err(), Some(CryptoError::Truncated));
        let mut r = Reader::with_tag(&[1, 7, 9], 1).expect("tag ok");
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.finish(), Err(CryptoError::TrailingBytes));
        let mut r = Reader::with_tag(&[1, 2], 1).expect("tag ok");
        assert!(r.flag().is_err());
        let mut r = Reader::with_tag(&[1, 0, 0, 0, 9, 1], 1).expect("tag ok");
        assert_eq!(
            r.var_bytes(8, "x").err(),
            Some(CryptoError::LimitExceeded("x"))
        );
        let mut r = Reader::with_tag(&[1, 0xff, 0xff, 0xff, 0xff], 1).expect("tag ok");
        assert_eq!(
            r.var_bytes(usize::MAX, "x").err(),
            Some(CryptoError::Truncated)
        );
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u16().err(), Some(CryptoError::Truncated));
        let mut r = Reader::new(&[7, 8, 9]);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.rest(), &[8, 9]);
        assert_eq!(r.rest(), &[] as &[u8]);
        assert_eq!(r.finish(), Ok(()));
    }
}
