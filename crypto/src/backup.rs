//! Encrypted key backup (docs/e2e.md section 18.4): append-only chunks of history keys and
//! archived direct messages sealed under the account's backup key, and a head that chains
//! them and is authenticated with a key derived from it. The server stores both and can read
//! neither; a swapped, reordered, dropped or foreign chunk, a forged head, and a head older
//! than one already seen are refused.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::encoding::{put_var, tag, Reader};
use crate::error::{CryptoError, Result};
use crate::history::{HistoryKey, HISTORY_KEY_LEN};
use crate::limits::{ID_LEN, KEY_LEN, MAX_BODY_LEN, NONCE_LEN, TAG_LEN};
use crate::primitives::{
    aead_decrypt, aead_encrypt, ct_eq, hkdf_sha256, hmac_sha256, random_array, sha256, Secret32,
};

/// Largest plaintext of one chunk.
pub const MAX_BACKUP_CHUNK_LEN: usize = 1024 * 1024;
/// HKDF info of the head's MAC key.
pub const BACKUP_HEAD_LABEL: &[u8] = b"Chatalot-BackupHead-v1";
/// Length of a [`BackupHead`] encoding.
pub const BACKUP_HEAD_LEN: usize = 1 + ID_LEN + 8 + 8 + 2 * KEY_LEN;

const CHUNK_HEADER_LEN: usize = 1 + ID_LEN + 8;
/// Length of the shortest `BackupChunk` encoding (no entries).
pub const MIN_BACKUP_CHUNK_ENCODING_LEN: usize = CHUNK_HEADER_LEN + NONCE_LEN + 4 + 4 + TAG_LEN;
/// Length of the longest `BackupChunk` encoding.
pub const MAX_BACKUP_CHUNK_ENCODING_LEN: usize =
    CHUNK_HEADER_LEN + NONCE_LEN + 4 + MAX_BACKUP_CHUNK_LEN + TAG_LEN;

/// A direct message's decrypted body, kept for devices linked later (tag 0x66). Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ArchivedMessage {
    /// The DM or group DM.
    pub channel_id: [u8; ID_LEN],
    /// The server's message id.
    pub message_id: [u8; ID_LEN],
    /// The message's sequence number in the channel.
    pub seq: u64,
    /// The body (section 17.1), at most `MAX_BODY_LEN` bytes.
    pub body: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ArchivedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArchivedMessage")
            .field("seq", &self.seq)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// One entry of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupEntry {
    /// A channel's sender key from its first readable iteration.
    History(HistoryKey),
    /// A direct message's body.
    Message(ArchivedMessage),
}

fn put_entry(out: &mut Vec<u8>, entry: &BackupEntry) -> Result<()> {
    match entry {
        BackupEntry::History(k) => out.extend_from_slice(&k.to_bytes()),
        BackupEntry::Message(m) => {
            if m.body.len() > MAX_BODY_LEN {
                return Err(CryptoError::LimitExceeded("archived body"));
            }
            out.push(tag::ARCHIVED_MESSAGE);
            out.extend_from_slice(&m.channel_id);
            out.extend_from_slice(&m.message_id);
            out.extend_from_slice(&m.seq.to_be_bytes());
            put_var(out, &m.body);
        }
    }
    Ok(())
}

fn read_entry(r: &mut Reader<'_>) -> Result<BackupEntry> {
    let rest = r.rest_peek();
    match rest.first() {
        Some(&tag::HISTORY_KEY) => Ok(BackupEntry::History(HistoryKey::from_bytes(
            r.bytes(HISTORY_KEY_LEN)?,
        )?)),
        Some(&tag::ARCHIVED_MESSAGE) => {
            r.u8()?;
            Ok(BackupEntry::Message(ArchivedMessage {
                channel_id: r.array()?,
                message_id: r.array()?,
                seq: r.u64()?,
                body: Zeroizing::new(r.var_bytes(MAX_BODY_LEN, "archived body")?.to_vec()),
            }))
        }
        Some(other) => Err(CryptoError::WrongTag(*other)),
        None => Err(CryptoError::Truncated),
    }
}

fn chunk_header(user_id: &[u8; ID_LEN], seq: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(CHUNK_HEADER_LEN);
    h.push(tag::BACKUP_CHUNK);
    h.extend_from_slice(user_id);
    h.extend_from_slice(&seq.to_be_bytes());
    h
}

/// Seals chunk `seq` of `user_id`'s backup (tag 0x67): `0x67 | user_id | seq u64 | nonce |
/// var(AEAD(backup_key, nonce, count u32 | entries, aad = the first 25 bytes))`. Draws the
/// nonce (12 bytes). More than `MAX_BACKUP_CHUNK_LEN` of entries is `LimitExceeded`.
pub fn seal_chunk<R: CryptoRng + ?Sized>(
    rng: &mut R,
    backup_key: &[u8; KEY_LEN],
    user_id: &[u8; ID_LEN],
    seq: u64,
    entries: &[BackupEntry],
) -> Result<Vec<u8>> {
    let count = u32::try_from(entries.len()).map_err(|_| CryptoError::LimitExceeded("entries"))?;
    let mut plain = Zeroizing::new(Vec::new());
    plain.extend_from_slice(&count.to_be_bytes());
    for e in entries {
        put_entry(&mut plain, e)?;
        if plain.len() > MAX_BACKUP_CHUNK_LEN {
            return Err(CryptoError::LimitExceeded("backup chunk"));
        }
    }
    let mut out = chunk_header(user_id, seq);
    let nonce: [u8; NONCE_LEN] = random_array(rng);
    let ciphertext = aead_encrypt(backup_key, &nonce, &plain, &out);
    out.extend_from_slice(&nonce);
    put_var(&mut out, &ciphertext);
    Ok(out)
}

/// Opens chunk `seq` of `user_id`'s backup: a chunk of another account or at another place
/// is `IdentityMismatch`, a changed byte or another key `DecryptFailed`.
pub fn open_chunk(
    backup_key: &[u8; KEY_LEN],
    user_id: &[u8; ID_LEN],
    seq: u64,
    bytes: &[u8],
) -> Result<Vec<BackupEntry>> {
    let mut r = Reader::with_tag(bytes, tag::BACKUP_CHUNK)?;
    let stored_for: [u8; ID_LEN] = r.array()?;
    let stored_seq = r.u64()?;
    let nonce: [u8; NONCE_LEN] = r.array()?;
    let ciphertext = r.var_bytes(MAX_BACKUP_CHUNK_LEN + TAG_LEN, "backup chunk")?;
    r.finish()?;
    if &stored_for != user_id || stored_seq != seq {
        return Err(CryptoError::IdentityMismatch);
    }
    let plain = aead_decrypt(backup_key, &nonce, ciphertext, &bytes[..CHUNK_HEADER_LEN])?;
    let mut p = Reader::new(&plain);
    let count = p.u32()?;
    let mut entries = Vec::new();
    for _ in 0..count {
        entries.push(read_entry(&mut p)?);
    }
    p.finish()?;
    Ok(entries)
}

/// The head of a backup (tag 0x68, 97 bytes): how many chunks there are and the digest chain
/// over them, authenticated with `HMAC(HKDF(backup_key, "Chatalot-BackupHead-v1"), ...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupHead {
    /// The account.
    pub user_id: [u8; ID_LEN],
    /// Raised by one at every write of the head; a device refuses a head below one it saw.
    pub head_seq: u64,
    /// Chunks `1..=count` make the backup.
    pub count: u64,
    /// `d_count`, where `d_0` = 32 zero bytes and `d_i = SHA-256(d_{i-1} || SHA-256(chunk i))`.
    pub digest: [u8; KEY_LEN],
}

fn head_mac_key(backup_key: &[u8; KEY_LEN]) -> Secret32 {
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    hkdf_sha256(None, backup_key, BACKUP_HEAD_LABEL, &mut k[..]);
    k
}

impl BackupHead {
    /// The head of an empty backup.
    pub fn empty(user_id: [u8; ID_LEN]) -> BackupHead {
        BackupHead {
            user_id,
            head_seq: 0,
            count: 0,
            digest: [0; KEY_LEN],
        }
    }

    /// The head after appending `chunks` (their encodings, in order, at `count + 1`, ...).
    pub fn after(&self, chunks: &[&[u8]]) -> BackupHead {
        let mut next = *self;
        for c in chunks {
            next.digest = sha256(&[&next.digest, &sha256(&[c])]);
            next.count += 1;
        }
        next.head_seq += 1;
        next
    }

    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BACKUP_HEAD_LEN);
        out.push(tag::BACKUP_HEAD);
        out.extend_from_slice(&self.user_id);
        out.extend_from_slice(&self.head_seq.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.digest);
        out
    }

    /// Encoding: `0x68 | user_id | head_seq u64 | count u64 | digest | mac`.
    pub fn seal(&self, backup_key: &[u8; KEY_LEN]) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&hmac_sha256(&head_mac_key(backup_key), &out)[..]);
        out
    }

    /// Opens a head: another account's is `IdentityMismatch`, a forged or changed one
    /// `BadSignature`, one below `min_head_seq` (the highest this device has seen, or the
    /// linking device's) `InvalidState("backup rolled back")`.
    pub fn open(
        backup_key: &[u8; KEY_LEN],
        bytes: &[u8],
        user_id: &[u8; ID_LEN],
        min_head_seq: u64,
    ) -> Result<BackupHead> {
        let mut r = Reader::with_tag(bytes, tag::BACKUP_HEAD)?;
        let head = BackupHead {
            user_id: r.array()?,
            head_seq: r.u64()?,
            count: r.u64()?,
            digest: r.array()?,
        };
        let mac: [u8; KEY_LEN] = r.array()?;
        r.finish()?;
        if !ct_eq(
            &hmac_sha256(&head_mac_key(backup_key), &head.body())[..],
            &mac,
        ) {
            return Err(CryptoError::BadSignature);
        }
        if &head.user_id != user_id {
            return Err(CryptoError::IdentityMismatch);
        }
        if head.head_seq < min_head_seq {
            return Err(CryptoError::InvalidState("backup rolled back"));
        }
        Ok(head)
    }

    /// Checks that `chunks` (the encodings of chunks `1..=count`, in order) are exactly the
    /// backup this head names: a missing, extra, reordered or swapped chunk is
    /// `DigestMismatch`.
    pub fn check_chunks(&self, chunks: &[&[u8]]) -> Result<()> {
        let rebuilt = BackupHead::empty(self.user_id).after(chunks);
        if rebuilt.count != self.count || !ct_eq(&rebuilt.digest, &self.digest) {
            return Err(CryptoError::DigestMismatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::DeviceIdentity;
    use crate::sender_key::SenderKeySender;
    use crate::test_rng::TestRng;

    const USER: [u8; ID_LEN] = [0x91; ID_LEN];
    const BK: [u8; KEY_LEN] = [0x92; KEY_LEN];

    fn entries(rng: &mut TestRng) -> Vec<BackupEntry> {
        let device = DeviceIdentity::generate(rng, USER, [0x93; ID_LEN]);
        let sender = SenderKeySender::generate(rng, [0x94; ID_LEN], device.device_id());
        let history = HistoryKey::attest(&device, &sender.distribution()).expect("attest");
        vec![
            BackupEntry::History(history),
            BackupEntry::Message(ArchivedMessage {
                channel_id: [0x95; ID_LEN],
                message_id: [0x96; ID_LEN],
                seq: 42,
                body: Zeroizing::new(b"\x50in a DM".to_vec()),
            }),
        ]
    }

    #[test]
    fn a_backup_restores_exactly_what_was_appended() {
        let mut rng = TestRng::new(21);
        let first = entries(&mut rng);
        let c1 = seal_chunk(&mut rng, &BK, &USER, 1, &first).expect("seal");
        let c2 = {
            let e = entries(&mut rng);
            seal_chunk(&mut rng, &BK, &USER, 2, &e)
        }
        .expect("seal");
        let head = BackupHead::empty(USER).after(&[&c1]).after(&[&c2]);
        assert_eq!((head.head_seq, head.count), (2, 2));
        let sealed = head.seal(&BK);
        assert_eq!(sealed.len(), BACKUP_HEAD_LEN);
        let opened = BackupHead::open(&BK, &sealed, &USER, 2).expect("head");
        opened.check_chunks(&[&c1, &c2]).expect("chain");
        assert_eq!(open_chunk(&BK, &USER, 1, &c1).expect("chunk"), first);
        assert!(!format!("{first:?}").contains("in a DM"));
    }

    #[test]
    fn a_swapped_dropped_reordered_or_foreign_chunk_and_a_stale_or_forged_head_are_refused() {
        let mut rng = TestRng::new(22);
        let c1 = {
            let e = entries(&mut rng);
            seal_chunk(&mut rng, &BK, &USER, 1, &e)
        }
        .expect("seal");
        let c2 = {
            let e = entries(&mut rng);
            seal_chunk(&mut rng, &BK, &USER, 2, &e)
        }
        .expect("seal");
        let c3 = {
            let e = entries(&mut rng);
            seal_chunk(&mut rng, &BK, &USER, 3, &e)
        }
        .expect("seal");
        let old = BackupHead::empty(USER).after(&[&c1, &c2]);
        let head = old.after(&[&c3]);
        for wrong in [
            vec![&c1[..], &c2[..]],
            vec![&c1[..], &c3[..], &c2[..]],
            vec![&c1[..], &c2[..], &c3[..], &c3[..]],
        ] {
            assert_eq!(head.check_chunks(&wrong), Err(CryptoError::DigestMismatch));
        }
        // a chunk served at another place, or of another account, or with a changed byte
        assert_eq!(
            open_chunk(&BK, &USER, 2, &c1).err(),
            Some(CryptoError::IdentityMismatch)
        );
        assert_eq!(
            open_chunk(&BK, &[0x99; ID_LEN], 1, &c1).err(),
            Some(CryptoError::IdentityMismatch)
        );
        let mut moved = c1.clone();
        moved[1 + ID_LEN + 7] = 2; // relabelled as chunk 2: the AEAD data no longer matches
        assert_eq!(
            open_chunk(&BK, &USER, 2, &moved).err(),
            Some(CryptoError::DecryptFailed)
        );
        let mut flipped = c1.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            open_chunk(&BK, &USER, 1, &flipped).err(),
            Some(CryptoError::DecryptFailed)
        );
        assert_eq!(
            open_chunk(&[0; KEY_LEN], &USER, 1, &c1).err(),
            Some(CryptoError::DecryptFailed)
        );
        // the server serves an older head (a rollback), forges one, or another account's
        assert_eq!(
            BackupHead::open(&BK, &old.seal(&BK), &USER, head.head_seq).err(),
            Some(CryptoError::InvalidState("backup rolled back"))
        );
        let mut forged = head;
        forged.count = 2;
        let mut bytes = head.seal(&BK);
        bytes[1 + ID_LEN + 15] = 2;
        assert_eq!(
            BackupHead::open(&BK, &bytes, &USER, 0).err(),
            Some(CryptoError::BadSignature)
        );
        assert_eq!(
            BackupHead::open(&[1; KEY_LEN], &forged.seal(&[1; KEY_LEN]), &USER, 0)
                .map(|h| h.count)
                .ok(),
            Some(2),
            "a head sealed under another key opens only under that key"
        );
        assert_eq!(
            BackupHead::open(&BK, &forged.seal(&[1; KEY_LEN]), &USER, 0).err(),
            Some(CryptoError::BadSignature)
        );
        let theirs = BackupHead::empty([0x99; ID_LEN]).after(&[&c1]);
        assert_eq!(
            BackupHead::open(&BK, &theirs.seal(&BK), &USER, 0).err(),
            Some(CryptoError::IdentityMismatch)
        );
    }

    #[test]
    fn chunks_are_bounded() {
        let mut rng = TestRng::new(23);
        let big = BackupEntry::Message(ArchivedMessage {
            channel_id: [0; ID_LEN],
            message_id: [0; ID_LEN],
            seq: 1,
            body: Zeroizing::new(vec![0x50; MAX_BODY_LEN]),
        });
        let five = vec![big.clone(); 5];
        assert_eq!(
            seal_chunk(&mut rng, &BK, &USER, 1, &five).err(),
            Some(CryptoError::LimitExceeded("backup chunk"))
        );
        let three = vec![big; 3];
        let c = seal_chunk(&mut rng, &BK, &USER, 1, &three).expect("under 1 MiB");
        assert_eq!(open_chunk(&BK, &USER, 1, &c).expect("opens").len(), 3);
        let over = BackupEntry::Message(ArchivedMessage {
            channel_id: [0; ID_LEN],
            message_id: [0; ID_LEN],
            seq: 1,
            body: Zeroizing::new(vec![0; MAX_BODY_LEN + 1]),
        });
        assert_eq!(
            seal_chunk(&mut rng, &BK, &USER, 1, &[over]).err(),
            Some(CryptoError::LimitExceeded("archived body"))
        );
    }
}
