//! The Double Ratchet (Signal specification, without header encryption) on top of
//! X3DH. Headers are authenticated as AEAD associated data together with the hash of
//! the X3DH associated data. Decryption is transactional: a message that fails for any
//! reason leaves the session exactly as it was.

use core::fmt;
use std::collections::VecDeque;

use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::encoding::{put_var, tag, Reader};
use crate::error::{CryptoError, Result};
use crate::identity::{DeviceCertificate, DeviceIdentity};
use crate::limits::{KEY_LEN, MAX_PLAINTEXT_LEN, MAX_SKIP, MAX_SKIPPED_KEYS, TAG_LEN};
use crate::primitives::{
    chain_step, dh, hkdf_sha256, random_secret, sha256, x25519_public, AeadKey, Secret32,
};
use crate::x3dh::{self, OneTimePreKeySecret, PreKeyBundle, PreKeyHeader, SignedPreKeySecret};

/// HKDF info of KDF_RK.
pub const ROOT_KDF_INFO: &[u8] = b"Chatalot-Ratchet-RK-v1";
/// HKDF info deriving the AEAD key and nonce from a message key.
pub const MESSAGE_KEY_INFO: &[u8] = b"Chatalot-Ratchet-MK-v1";
/// Length of an encoded message header (ratchet key, previous chain length, number).
pub const HEADER_LEN: usize = KEY_LEN + 4 + 4;

/// Upper bound of the fixed part of an encoded session state (so the buffer never
/// reallocates and leaves copies of secrets behind).
const SESSION_STATE_MAX_FIXED_LEN: usize =
    1 + 4 * KEY_LEN + 3 * (1 + KEY_LEN) + 12 + 1 + 193 + KEY_LEN + 4 + 1 + 4 + 4;

/// Message header: sent in clear, authenticated as associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Sender's current ratchet public key.
    pub ratchet_key: [u8; KEY_LEN],
    /// Number of messages in the sender's previous sending chain (PN).
    pub previous_chain_length: u32,
    /// Number of this message in the current sending chain (N).
    pub message_number: u32,
}

/// A decoded ratchet message (tag 0x06).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatchetMessage {
    /// The header.
    pub header: Header,
    /// ChaCha20-Poly1305 ciphertext with its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl RatchetMessage {
    /// `tag | ratchet_key(32) | pn u32 | n u32`: the authenticated prefix.
    fn header_bytes(h: &Header) -> [u8; 1 + HEADER_LEN] {
        let mut out = [0u8; 1 + HEADER_LEN];
        out[0] = tag::RATCHET_MESSAGE;
        out[1..33].copy_from_slice(&h.ratchet_key);
        out[33..37].copy_from_slice(&h.previous_chain_length.to_be_bytes());
        out[37..41].copy_from_slice(&h.message_number.to_be_bytes());
        out
    }

    /// Encoding: `tag | ratchet_key(32) | pn u32 | n u32 | ct_len u32 | ciphertext`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + HEADER_LEN + 4 + self.ciphertext.len());
        out.extend_from_slice(&Self::header_bytes(&self.header));
        put_var(&mut out, &self.ciphertext);
        out
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let header = Header {
            ratchet_key: r.array()?,
            previous_chain_length: r.u32()?,
            message_number: r.u32()?,
        };
        let ciphertext = r.var_bytes(MAX_PLAINTEXT_LEN + TAG_LEN, "ratchet ciphertext")?;
        if ciphertext.len() < TAG_LEN {
            return Err(CryptoError::InvalidField("ciphertext shorter than tag"));
        }
        Ok(RatchetMessage {
            header,
            ciphertext: ciphertext.to_vec(),
        })
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::RATCHET_MESSAGE)?;
        let m = Self::read(&mut r)?;
        r.finish()?;
        Ok(m)
    }
}

/// The initiator's messages until the first reply: X3DH header + ratchet message (tag 0x05).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyMessage {
    /// X3DH header.
    pub header: PreKeyHeader,
    /// The ratchet message.
    pub message: RatchetMessage,
}

impl PreKeyMessage {
    /// Encoding: `tag | certificate(193) | ephemeral(32) | spk_id u32 | opk flag |
    /// [opk_id u32] | ratchet message length u32 | ratchet message (tag 0x06 encoding)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![tag::PREKEY_MESSAGE];
        self.header.write(&mut out);
        put_var(&mut out, &self.message.to_bytes());
        out
    }

    /// Strict decoding (no verification).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::PREKEY_MESSAGE)?;
        let header = PreKeyHeader::read(&mut r)?;
        let inner = r.var_bytes(
            1 + HEADER_LEN + 4 + MAX_PLAINTEXT_LEN + TAG_LEN,
            "inner message",
        )?;
        let message = RatchetMessage::from_bytes(inner)?;
        r.finish()?;
        Ok(PreKeyMessage { header, message })
    }
}

/// A message as received: either kind, by tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncomingMessage {
    /// A first message carrying the X3DH header.
    PreKey(Box<PreKeyMessage>),
    /// A normal ratchet message.
    Ratchet(RatchetMessage),
}

impl IncomingMessage {
    /// Decodes by the leading tag (0x05 or 0x06).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        match bytes.first() {
            Some(&tag::PREKEY_MESSAGE) => {
                PreKeyMessage::from_bytes(bytes).map(|m| Self::PreKey(Box::new(m)))
            }
            Some(&tag::RATCHET_MESSAGE) => RatchetMessage::from_bytes(bytes).map(Self::Ratchet),
            Some(&t) => Err(CryptoError::WrongTag(t)),
            None => Err(CryptoError::Truncated),
        }
    }
}

#[derive(Clone)]
struct SkippedKey {
    ratchet_key: [u8; KEY_LEN],
    n: u32,
    mk: Secret32,
}

/// The part of the state a decryption may change (everything but the skipped store).
#[derive(Clone)]
struct Chains {
    root: Secret32,
    dhs: StaticSecret,
    dhs_public: [u8; KEY_LEN],
    dhr: Option<[u8; KEY_LEN]>,
    cks: Option<Secret32>,
    ckr: Option<Secret32>,
    ns: u32,
    nr: u32,
    pn: u32,
}

/// A pairwise Double Ratchet session.
#[derive(Clone)]
pub struct Session {
    ad_hash: [u8; KEY_LEN],
    base_key: [u8; KEY_LEN],
    chains: Chains,
    skipped: VecDeque<SkippedKey>,
    pending_prekey: Option<PreKeyHeader>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("send_count", &self.chains.ns)
            .field("receive_count", &self.chains.nr)
            .field("skipped_keys", &self.skipped.len())
            .field("pending_prekey", &self.pending_prekey.is_some())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

/// KDF_RK: HKDF-SHA256(salt = root key, IKM = DH output, info) -> (root key, chain key).
fn kdf_rk(root: &[u8; KEY_LEN], dh_out: &[u8; KEY_LEN]) -> (Secret32, Secret32) {
    let mut okm = Zeroizing::new([0u8; 2 * KEY_LEN]);
    hkdf_sha256(Some(root), dh_out, ROOT_KDF_INFO, okm.as_mut());
    let mut rk = Zeroizing::new([0u8; KEY_LEN]);
    let mut ck = Zeroizing::new([0u8; KEY_LEN]);
    rk.copy_from_slice(&okm[..KEY_LEN]);
    ck.copy_from_slice(&okm[KEY_LEN..]);
    (rk, ck)
}

/// AEAD associated data: `ad_hash || [0x05 || prekey header] || 0x06 || header`. The
/// bracketed part is present exactly when the message travels inside a
/// [`PreKeyMessage`], so the outer X3DH header is authenticated too and a ratchet
/// message cannot be moved between the two envelopes.
fn aad(ad_hash: &[u8; KEY_LEN], prekey: Option<&PreKeyHeader>, header: &Header) -> Vec<u8> {
    let mut out = Vec::with_capacity(KEY_LEN + 1 + 193 + KEY_LEN + 9 + 1 + HEADER_LEN);
    out.extend_from_slice(ad_hash);
    if let Some(p) = prekey {
        out.push(tag::PREKEY_MESSAGE);
        p.write(&mut out);
    }
    out.extend_from_slice(&RatchetMessage::header_bytes(header));
    out
}

impl Chains {
    /// Derives and returns the skipped keys of the receiving chain up to `until`
    /// (exclusive); at most [`MAX_SKIP`] at once.
    fn skip_to(&mut self, until: u32, out: &mut Vec<SkippedKey>) -> Result<()> {
        let (Some(ckr), Some(dhr)) = (self.ckr.as_mut(), self.dhr) else {
            return Ok(());
        };
        if until <= self.nr {
            return Ok(());
        }
        if until - self.nr > MAX_SKIP {
            return Err(CryptoError::TooFarAhead);
        }
        while self.nr < until {
            let (mk, next) = chain_step(ckr);
            *ckr = next;
            out.push(SkippedKey {
                ratchet_key: dhr,
                n: self.nr,
                mk,
            });
            self.nr += 1;
        }
        Ok(())
    }

    /// DH ratchet step on receiving a new ratchet key: draws one 32-byte secret.
    fn dh_ratchet<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        their: &[u8; KEY_LEN],
    ) -> Result<()> {
        self.pn = self.ns;
        self.ns = 0;
        self.nr = 0;
        self.dhr = Some(*their);
        let shared = dh(&self.dhs, their)?;
        let (rk, ckr) = kdf_rk(&self.root, &shared);
        self.ckr = Some(ckr);
        self.dhs = StaticSecret::from(*random_secret(rng));
        self.dhs_public = x25519_public(&self.dhs);
        let shared = dh(&self.dhs, their)?;
        let (rk, cks) = kdf_rk(&rk, &shared);
        self.root = rk;
        self.cks = Some(cks);
        Ok(())
    }
}

impl Session {
    /// Alice: runs X3DH against Bob's bundle (verified against the user key Alice trusts
    /// for Bob) and creates the session. Draws two 32-byte secrets: the X3DH ephemeral
    /// key, then the first ratchet key.
    pub fn initiate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        ours: &DeviceIdentity,
        our_certificate: &DeviceCertificate,
        bundle: &PreKeyBundle,
        trusted_peer_user_key: &[u8; KEY_LEN],
    ) -> Result<Self> {
        let init = x3dh::initiate(rng, ours, our_certificate, bundle, trusted_peer_user_key)?;
        let dhs = StaticSecret::from(*random_secret(rng));
        let shared = dh(&dhs, &init.their_signed_prekey)?;
        let (root, cks) = kdf_rk(&init.output.shared_secret, &shared);
        Ok(Session {
            ad_hash: sha256(&[&init.output.associated_data]),
            base_key: init.header.ephemeral_key,
            chains: Chains {
                root,
                dhs_public: x25519_public(&dhs),
                dhs,
                dhr: Some(init.their_signed_prekey),
                cks: Some(cks),
                ckr: None,
                ns: 0,
                nr: 0,
                pn: 0,
            },
            skipped: VecDeque::new(),
            pending_prekey: Some(init.header),
        })
    }

    /// Bob: answers a [`PreKeyMessage`] with his signed prekey and the one-time prekey it
    /// names (if any), verifying the initiator's certificate against the user key Bob
    /// trusts for that user, and decrypts the first message. Nothing is created unless
    /// the message decrypts; delete the one-time prekey only after this succeeds. Draws
    /// one 32-byte secret (Bob's first sending ratchet key).
    pub fn respond<R: CryptoRng + ?Sized>(
        rng: &mut R,
        ours: &DeviceIdentity,
        our_certificate: &DeviceCertificate,
        signed_prekey: &SignedPreKeySecret,
        one_time_prekey: Option<&OneTimePreKeySecret>,
        trusted_initiator_user_key: &[u8; KEY_LEN],
        message: &PreKeyMessage,
    ) -> Result<(Self, Zeroizing<Vec<u8>>)> {
        let out = x3dh::respond(
            ours,
            our_certificate,
            signed_prekey,
            one_time_prekey,
            &message.header,
            trusted_initiator_user_key,
        )?;
        let dhs = signed_prekey.secret().clone();
        let mut session = Session {
            ad_hash: sha256(&[&out.associated_data]),
            base_key: message.header.ephemeral_key,
            chains: Chains {
                root: out.shared_secret,
                dhs_public: x25519_public(&dhs),
                dhs,
                dhr: None,
                cks: None,
                ckr: None,
                ns: 0,
                nr: 0,
                pn: 0,
            },
            skipped: VecDeque::new(),
            pending_prekey: None,
        };
        let plaintext = session.decrypt_ratchet(rng, Some(&message.header), &message.message)?;
        Ok((session, plaintext))
    }

    /// The X3DH base key (initiator's ephemeral public key): identifies the session on
    /// both sides, e.g. to route a repeated [`PreKeyMessage`] to the existing session.
    pub fn base_key(&self) -> [u8; KEY_LEN] {
        self.base_key
    }

    /// Number of skipped message keys currently stored.
    pub fn skipped_key_count(&self) -> usize {
        self.skipped.len()
    }

    /// True while this (initiator) session still sends [`PreKeyMessage`]s, i.e. until
    /// the first message from the responder decrypted.
    pub fn is_pending_prekey(&self) -> bool {
        self.pending_prekey.is_some()
    }

    /// Encrypts one message. Returns the wire encoding: a [`PreKeyMessage`] (tag 0x05)
    /// while no reply has been received, otherwise a [`RatchetMessage`] (tag 0x06).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(CryptoError::LimitExceeded("plaintext"));
        }
        let c = &mut self.chains;
        let cks = c
            .cks
            .as_mut()
            .ok_or(CryptoError::InvalidState("no sending chain"))?;
        if c.ns == u32::MAX {
            return Err(CryptoError::CounterExhausted);
        }
        let (mk, next) = chain_step(cks);
        *cks = next;
        let header = Header {
            ratchet_key: c.dhs_public,
            previous_chain_length: c.pn,
            message_number: c.ns,
        };
        c.ns += 1;
        let ciphertext = AeadKey::from_message_key(&mk, MESSAGE_KEY_INFO).encrypt(
            plaintext,
            &aad(&self.ad_hash, self.pending_prekey.as_ref(), &header),
        );
        let message = RatchetMessage { header, ciphertext };
        Ok(match &self.pending_prekey {
            Some(h) => PreKeyMessage {
                header: *h,
                message,
            }
            .to_bytes(),
            None => message.to_bytes(),
        })
    }

    /// Decrypts a received message (either encoding). A [`PreKeyMessage`] is accepted
    /// only by the responder's session with the same base key; its inner ratchet message
    /// is authenticated like any other (the X3DH associated data is in its AEAD data).
    /// On any error the session is unchanged. May draw one 32-byte secret (DH step).
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        bytes: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        match IncomingMessage::from_bytes(bytes)? {
            IncomingMessage::Ratchet(m) => self.decrypt_ratchet(rng, None, &m),
            IncomingMessage::PreKey(p) => {
                if p.header.ephemeral_key != self.base_key || self.pending_prekey.is_some() {
                    return Err(CryptoError::InvalidState(
                        "prekey message does not belong to this session",
                    ));
                }
                self.decrypt_ratchet(rng, Some(&p.header), &p.message)
            }
        }
    }

    fn decrypt_with(
        &self,
        mk: &[u8; KEY_LEN],
        prekey: Option<&PreKeyHeader>,
        m: &RatchetMessage,
    ) -> Result<Zeroizing<Vec<u8>>> {
        AeadKey::from_message_key(mk, MESSAGE_KEY_INFO)
            .decrypt(&m.ciphertext, &aad(&self.ad_hash, prekey, &m.header))
    }

    fn decrypt_ratchet<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        prekey: Option<&PreKeyHeader>,
        m: &RatchetMessage,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let h = &m.header;
        // 1. A stored skipped key: use it and delete it (a second use is a replay).
        if let Some(i) = self
            .skipped
            .iter()
            .position(|k| k.n == h.message_number && k.ratchet_key == h.ratchet_key)
        {
            let pt = self.decrypt_with(&self.skipped[i].mk, prekey, m)?;
            self.skipped.remove(i);
            self.pending_prekey = None;
            return Ok(pt);
        }
        // 2. Work on a copy of the chains; commit only after the AEAD succeeded.
        let mut c = self.chains.clone();
        let mut new_skipped = Vec::new();
        if c.dhr != Some(h.ratchet_key) {
            c.skip_to(h.previous_chain_length, &mut new_skipped)?;
            c.dh_ratchet(rng, &h.ratchet_key)?;
        }
        if h.message_number < c.nr {
            return Err(CryptoError::Duplicate);
        }
        c.skip_to(h.message_number, &mut new_skipped)?;
        let ckr = c
            .ckr
            .as_mut()
            .ok_or(CryptoError::InvalidState("no receiving chain"))?;
        let (mk, next) = chain_step(ckr);
        *ckr = next;
        c.nr = h
            .message_number
            .checked_add(1)
            .ok_or(CryptoError::CounterExhausted)?;
        let pt = self.decrypt_with(&mk, prekey, m)?;
        // Commit.
        self.chains = c;
        for k in new_skipped {
            if self.skipped.len() == MAX_SKIPPED_KEYS {
                self.skipped.pop_front();
            }
            self.skipped.push_back(k);
        }
        self.pending_prekey = None;
        Ok(pt)
    }

    /// Storage encoding (tag 0x24); see docs/e2e.md for the layout. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let c = &self.chains;
        let mut out = Zeroizing::new(Vec::with_capacity(
            SESSION_STATE_MAX_FIXED_LEN + self.skipped.len() * 68,
        ));
        out.push(tag::SESSION_STATE);
        out.extend_from_slice(&self.ad_hash);
        out.extend_from_slice(&self.base_key);
        out.extend_from_slice(c.root.as_ref());
        out.extend_from_slice(c.dhs.as_bytes());
        for opt in [c.dhr.as_ref(), c.cks.as_deref(), c.ckr.as_deref()] {
            match opt {
                None => out.push(0),
                Some(k) => {
                    out.push(1);
                    out.extend_from_slice(k);
                }
            }
        }
        out.extend_from_slice(&c.ns.to_be_bytes());
        out.extend_from_slice(&c.nr.to_be_bytes());
        out.extend_from_slice(&c.pn.to_be_bytes());
        match &self.pending_prekey {
            None => out.push(0),
            Some(h) => {
                out.push(1);
                h.write(&mut out);
            }
        }
        let count = u32::try_from(self.skipped.len()).expect("bounded by MAX_SKIPPED_KEYS");
        out.extend_from_slice(&count.to_be_bytes());
        for k in &self.skipped {
            out.extend_from_slice(&k.ratchet_key);
            out.extend_from_slice(&k.n.to_be_bytes());
            out.extend_from_slice(k.mk.as_ref());
        }
        out
    }

    /// Restores a session from [`Session::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::SESSION_STATE)?;
        let ad_hash = r.array()?;
        let base_key = r.array()?;
        let root = Zeroizing::new(r.array()?);
        let dhs = StaticSecret::from(*Zeroizing::new(r.array::<KEY_LEN>()?));
        let dhr = if r.flag()? { Some(r.array()?) } else { None };
        let cks = if r.flag()? {
            Some(Zeroizing::new(r.array()?))
        } else {
            None
        };
        let ckr = if r.flag()? {
            Some(Zeroizing::new(r.array()?))
        } else {
            None
        };
        let ns = r.u32()?;
        let nr = r.u32()?;
        let pn = r.u32()?;
        let pending_prekey = if r.flag()? {
            let h = PreKeyHeader::read(&mut r)?;
            if h.ephemeral_key != base_key {
                return Err(CryptoError::InvalidField("pending header base key"));
            }
            Some(h)
        } else {
            None
        };
        let count = r.u32()? as usize;
        if count > MAX_SKIPPED_KEYS {
            return Err(CryptoError::LimitExceeded("skipped keys"));
        }
        let mut skipped = VecDeque::with_capacity(count);
        for _ in 0..count {
            skipped.push_back(SkippedKey {
                ratchet_key: r.array()?,
                n: r.u32()?,
                mk: Zeroizing::new(r.array()?),
            });
        }
        r.finish()?;
        Ok(Session {
            ad_hash,
            base_key,
            chains: Chains {
                root,
                dhs_public: x25519_public(&dhs),
                dhs,
                dhr,
                cks,
                ckr,
                ns,
                nr,
                pn,
            },
            skipped,
            pending_prekey,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;
    use crate::test_support::{pair, party};

    fn dec(rng: &mut TestRng, s: &mut Session, m: &[u8]) -> Result<Vec<u8>> {
        s.decrypt(rng, m).map(|p| p.to_vec())
    }

    /// Asserts that decrypting `m` fails with `err` and leaves `s` byte-identical.
    fn rejects(rng: &mut TestRng, s: &mut Session, m: &[u8], err: CryptoError) {
        let before = s.to_bytes();
        assert_eq!(dec(rng, s, m), Err(err));
        assert_eq!(
            *s.to_bytes(),
            *before,
            "state changed after a failed decrypt"
        );
    }

    #[test]
    fn conversation_roundtrips_and_prekey_header_stops_after_reply() {
        let (mut rng, mut a, mut b) = pair(1);
        let m2 = a.encrypt(b"second").expect("enc");
        assert_eq!(m2[0], tag::PREKEY_MESSAGE, "repeated until first reply");
        // Bob's session routes the repeated prekey message by base key.
        assert_eq!(dec(&mut rng, &mut b, &m2).expect("dec"), b"second");
        let r = b.encrypt(b"reply").expect("enc");
        assert_eq!(r[0], tag::RATCHET_MESSAGE);
        assert_eq!(dec(&mut rng, &mut a, &r).expect("dec"), b"reply");
        assert!(!a.is_pending_prekey());
        let m3 = a.encrypt(b"third").expect("enc");
        assert_eq!(m3[0], tag::RATCHET_MESSAGE);
        assert_eq!(dec(&mut rng, &mut b, &m3).expect("dec"), b"third");
        for i in 0..5u8 {
            let x = b.encrypt(&[i; 3]).expect("enc");
            assert_eq!(dec(&mut rng, &mut a, &x).expect("dec"), vec![i; 3]);
            let y = a.encrypt(&[i; 4]).expect("enc");
            assert_eq!(dec(&mut rng, &mut b, &y).expect("dec"), vec![i; 4]);
        }
        assert_eq!(a.base_key(), b.base_key());
    }

    #[test]
    fn prekey_envelope_is_authenticated() {
        let (mut rng, mut a, mut b) = pair(30);
        let m = a.encrypt(b"second").expect("enc");
        let pm = PreKeyMessage::from_bytes(&m).expect("decode");
        // Stripped to the bare ratchet message: rejected.
        rejects(
            &mut rng,
            &mut b,
            &pm.message.to_bytes(),
            CryptoError::DecryptFailed,
        );
        // Outer header fields changed (certificate, prekey ids): rejected.
        let mut changed = pm.clone();
        changed.header.initiator.device_id[0] ^= 1;
        rejects(
            &mut rng,
            &mut b,
            &changed.to_bytes(),
            CryptoError::DecryptFailed,
        );
        let mut changed = pm.clone();
        changed.header.one_time_prekey_id = None;
        rejects(
            &mut rng,
            &mut b,
            &changed.to_bytes(),
            CryptoError::DecryptFailed,
        );
        assert_eq!(dec(&mut rng, &mut b, &m).expect("dec"), b"second");
    }

    #[test]
    fn out_of_order_across_dh_steps() {
        let (mut rng, mut a, mut b) = pair(2);
        let r = b.encrypt(b"r").expect("enc");
        dec(&mut rng, &mut a, &r).expect("dec");
        let a1: Vec<_> = (0..4).map(|i| a.encrypt(&[i]).expect("enc")).collect();
        // Bob receives a1[3] first, then replies, Alice sends a new chain.
        assert_eq!(dec(&mut rng, &mut b, &a1[3]).expect("dec"), vec![3]);
        assert_eq!(b.skipped_key_count(), 3);
        let r2 = b.encrypt(b"r2").expect("enc");
        dec(&mut rng, &mut a, &r2).expect("dec");
        let a2 = a.encrypt(b"new chain").expect("enc");
        let a2b = a.encrypt(b"new chain 2").expect("enc");
        assert_eq!(dec(&mut rng, &mut b, &a2b).expect("dec"), b"new chain 2");
        assert_eq!(dec(&mut rng, &mut b, &a1[1]).expect("dec"), vec![1]);
        assert_eq!(dec(&mut rng, &mut b, &a2).expect("dec"), b"new chain");
        assert_eq!(dec(&mut rng, &mut b, &a1[0]).expect("dec"), vec![0]);
        assert_eq!(dec(&mut rng, &mut b, &a1[2]).expect("dec"), vec![2]);
        assert_eq!(b.skipped_key_count(), 0);
        // Every one of them is now a replay.
        for m in a1.iter().chain([&a2, &a2b]) {
            let before = b.to_bytes();
            assert!(dec(&mut rng, &mut b, m).is_err());
            assert_eq!(*b.to_bytes(), *before);
        }
    }

    #[test]
    fn replay_is_rejected_and_state_unchanged() {
        let (mut rng, mut a, mut b) = pair(3);
        let m = a.encrypt(b"once").expect("enc");
        dec(&mut rng, &mut b, &m).expect("dec");
        rejects(&mut rng, &mut b, &m, CryptoError::Duplicate);
        // Replay of a message decrypted via a skipped key.
        let m1 = a.encrypt(b"1").expect("enc");
        let m2 = a.encrypt(b"2").expect("enc");
        dec(&mut rng, &mut b, &m2).expect("dec");
        dec(&mut rng, &mut b, &m1).expect("dec");
        rejects(&mut rng, &mut b, &m1, CryptoError::Duplicate);
        rejects(&mut rng, &mut b, &m2, CryptoError::Duplicate);
    }

    #[test]
    fn tampering_is_rejected_and_state_unchanged() {
        let (mut rng, mut a, mut b) = pair(4);
        let r = b.encrypt(b"r").expect("enc");
        dec(&mut rng, &mut a, &r).expect("dec");
        let m = a.encrypt(b"payload").expect("enc");
        assert_eq!(m[0], tag::RATCHET_MESSAGE);
        // Flip a bit in every position: header, length, ciphertext, tag.
        for i in 1..m.len() {
            let mut t = m.clone();
            t[i] ^= 0x01;
            let before = b.to_bytes();
            assert!(dec(&mut rng, &mut b, &t).is_err(), "byte {i}");
            assert_eq!(*b.to_bytes(), *before, "byte {i}");
        }
        // A low-order ratchet key in the header.
        let mut msg = RatchetMessage::from_bytes(&m).expect("decode");
        msg.header.ratchet_key = [0; 32];
        rejects(
            &mut rng,
            &mut b,
            &msg.to_bytes(),
            CryptoError::InvalidPublicKey,
        );
        // The genuine message still decrypts afterwards.
        assert_eq!(dec(&mut rng, &mut b, &m).expect("dec"), b"payload");
    }

    #[test]
    fn forward_jump_bound() {
        let (mut rng, mut a, mut b) = pair(5);
        let mut msgs = Vec::new();
        for _ in 0..=(MAX_SKIP + 1) {
            msgs.push(a.encrypt(b"x").expect("enc"));
        }
        // Bob has received message 0 of this chain ("hello"); nr = 1.
        // Message MAX_SKIP+1 needs exactly MAX_SKIP skipped keys: allowed.
        // Message MAX_SKIP+2 would need MAX_SKIP+1: rejected.
        let too_far = &msgs[MAX_SKIP as usize + 1];
        rejects(&mut rng, &mut b, too_far, CryptoError::TooFarAhead);
        let just_ok = &msgs[MAX_SKIP as usize];
        dec(&mut rng, &mut b, just_ok).expect("exactly MAX_SKIP skipped keys is allowed");
        assert_eq!(b.skipped_key_count(), MAX_SKIP as usize);
        dec(&mut rng, &mut b, too_far).expect("now in range");
    }

    #[test]
    fn skipped_key_store_is_bounded_and_evicts_oldest() {
        let (mut rng, mut a, mut b) = pair(6);
        let mut first_of_chain = Vec::new();
        // Three chains from Alice, each with MAX_SKIP skipped messages at Bob.
        for _round in 0..3 {
            let mut chain = Vec::new();
            for _ in 0..=MAX_SKIP {
                chain.push(a.encrypt(b"y").expect("enc"));
            }
            dec(&mut rng, &mut b, chain.last().expect("non-empty")).expect("dec");
            first_of_chain.push(chain.swap_remove(0));
            assert!(b.skipped_key_count() <= MAX_SKIPPED_KEYS);
            let r = b.encrypt(b"r").expect("enc");
            dec(&mut rng, &mut a, &r).expect("dec");
        }
        assert_eq!(b.skipped_key_count(), MAX_SKIPPED_KEYS);
        // The oldest chain's keys were evicted; the newest are still there.
        assert!(dec(&mut rng, &mut b, &first_of_chain[0]).is_err());
        assert_eq!(
            dec(&mut rng, &mut b, &first_of_chain[2]).expect("dec"),
            b"y"
        );
        let restored = Session::from_bytes(&b.to_bytes()).expect("restore");
        assert_eq!(restored.skipped_key_count(), MAX_SKIPPED_KEYS - 1);
    }

    #[test]
    fn serialization_roundtrip_preserves_behaviour() {
        let (mut rng, mut a, mut b) = pair(7);
        let m1 = a.encrypt(b"1").expect("enc");
        let m2 = a.encrypt(b"2").expect("enc");
        dec(&mut rng, &mut b, &m2).expect("dec");
        let a_bytes = a.to_bytes();
        let b_bytes = b.to_bytes();
        let mut a2 = Session::from_bytes(&a_bytes).expect("restore");
        let mut b2 = Session::from_bytes(&b_bytes).expect("restore");
        assert_eq!(*a2.to_bytes(), *a_bytes);
        assert_eq!(*b2.to_bytes(), *b_bytes);
        assert_eq!(dec(&mut rng, &mut b2, &m1).expect("dec"), b"1");
        let r = b2.encrypt(b"r").expect("enc");
        assert_eq!(dec(&mut rng, &mut a2, &r).expect("dec"), b"r");
        assert!(format!("{a2:?}").contains("redacted"));
    }

    #[test]
    fn state_decoding_is_strict() {
        let (_, a, _) = pair(8);
        let bytes = a.to_bytes();
        for cut in [0, 1, 40, bytes.len() - 1] {
            assert!(Session::from_bytes(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(
            Session::from_bytes(&long).err(),
            Some(CryptoError::TrailingBytes)
        );
        let mut wrong = bytes.to_vec();
        wrong[0] = tag::SENDER_KEY_SENDER_STATE;
        assert!(Session::from_bytes(&wrong).is_err());
        // Skipped count above the limit.
        let mut over = bytes.to_vec();
        let n = over.len();
        over[n - 4..].copy_from_slice(&((MAX_SKIPPED_KEYS as u32) + 1).to_be_bytes());
        assert_eq!(
            Session::from_bytes(&over).err(),
            Some(CryptoError::LimitExceeded("skipped keys"))
        );
    }

    #[test]
    fn message_decoding_is_strict() {
        let (mut rng, mut a, mut b) = pair(9);
        let p = a.encrypt(b"p").expect("enc");
        let r = b.encrypt(b"r").expect("enc");
        for m in [&p, &r] {
            assert!(IncomingMessage::from_bytes(&m[..m.len() - 1]).is_err());
            let mut long = m.clone();
            long.push(0);
            assert_eq!(
                IncomingMessage::from_bytes(&long),
                Err(CryptoError::TrailingBytes)
            );
        }
        assert_eq!(
            IncomingMessage::from_bytes(&[]),
            Err(CryptoError::Truncated)
        );
        assert_eq!(
            IncomingMessage::from_bytes(&[0x42]),
            Err(CryptoError::WrongTag(0x42))
        );
        // Oversized length prefix.
        let mut big = r[..41].to_vec();
        big.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            RatchetMessage::from_bytes(&big),
            Err(CryptoError::LimitExceeded("ratchet ciphertext"))
        );
        // Too long plaintext refused at encryption.
        assert_eq!(
            a.encrypt(&vec![0; MAX_PLAINTEXT_LEN + 1]),
            Err(CryptoError::LimitExceeded("plaintext"))
        );
        let _ = dec(&mut rng, &mut a, &r).expect("dec");
    }

    #[test]
    fn forged_first_message_creates_nothing() {
        let mut rng = TestRng::new(20);
        let alice = party(&mut rng, 1);
        let bob = party(&mut rng, 2);
        let spk = SignedPreKeySecret::generate(&mut rng, &bob.device, 1);
        let bundle = PreKeyBundle {
            certificate: bob.cert,
            signed_prekey: spk.public(),
            one_time_prekey: None,
        };
        let mut a = Session::initiate(
            &mut rng,
            &alice.device,
            &alice.cert,
            &bundle,
            &bob.user.public_key(),
        )
        .expect("initiate");
        let m = a.encrypt(b"hi").expect("enc");
        let mut pm = PreKeyMessage::from_bytes(&m).expect("decode");
        let last = pm.message.ciphertext.len() - 1;
        pm.message.ciphertext[last] ^= 1;
        let res = Session::respond(
            &mut rng,
            &bob.device,
            &bob.cert,
            &spk,
            None,
            &alice.user.public_key(),
            &pm,
        );
        assert_eq!(res.err(), Some(CryptoError::DecryptFailed));
        // A prekey message with another base key is refused by an existing session.
        let (mut rng2, _, mut b) = pair(21);
        assert!(b.decrypt(&mut rng2, &m).is_err());
    }
}
