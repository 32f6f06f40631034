//! Sender Keys for channels: one symmetric chain and one Ed25519 signing key per
//! (sender device, channel, key id). Distribution messages travel only inside pairwise
//! Double Ratchet sessions; every group message is signed and binds channel id, sender
//! device id, key id, iteration and a sender-chosen message id.

use core::fmt;
use std::collections::VecDeque;

use ed25519_dalek::SigningKey;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::encoding::{put_var, tag, Reader};
use crate::error::{CryptoError, Result};
use crate::limits::{
    ID_LEN, KEY_LEN, MAX_PLAINTEXT_LEN, MAX_SENDER_SKIP, MAX_SENDER_SKIPPED_KEYS, SIGNATURE_LEN,
    TAG_LEN,
};
use crate::primitives::{
    chain_step, ct_eq, random_array, random_secret, sign, verify, verifying_key, AeadKey, Secret32,
};

/// HKDF info deriving the AEAD key and nonce from a sender-key message key.
pub const SENDER_MESSAGE_KEY_INFO: &[u8] = b"Chatalot-SenderKey-MK-v1";
/// Signature label of sender-key messages.
pub const SENDER_MESSAGE_LABEL: &[u8] = b"Chatalot-SenderKeyMessage-v1";
/// Length of the sender-chosen message id.
pub const MESSAGE_ID_LEN: usize = 16;
/// Encoded length of a [`SenderKeyDistribution`].
pub const DISTRIBUTION_LEN: usize = 1 + 2 * ID_LEN + 4 + 4 + 2 * KEY_LEN;

/// The secret a sender hands to each member (inside a pairwise session): the current
/// chain key and iteration, so the member can read from this iteration on only.
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKeyDistribution {
    /// Channel id.
    pub channel_id: [u8; ID_LEN],
    /// Sending device id.
    pub sender_device_id: [u8; ID_LEN],
    /// Key id (random, chosen at generation; a new one at every rotation).
    pub key_id: u32,
    /// Iteration of `chain_key`.
    pub iteration: u32,
    /// Chain key at `iteration`. Secret.
    pub chain_key: Secret32,
    /// Ed25519 public key that signs this sender key's messages.
    pub signing_key: [u8; KEY_LEN],
}

impl fmt::Debug for SenderKeyDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyDistribution")
            .field("key_id", &self.key_id)
            .field("iteration", &self.iteration)
            .field("chain_key", &"<redacted>")
            .finish()
    }
}

impl SenderKeyDistribution {
    /// Encoding (tag 0x07, 105 bytes): `tag | channel_id(16) | sender_device_id(16) |
    /// key_id u32 | iteration u32 | chain_key(32) | signing_key(32)`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(DISTRIBUTION_LEN));
        out.push(tag::SENDER_KEY_DISTRIBUTION);
        out.extend_from_slice(&self.channel_id);
        out.extend_from_slice(&self.sender_device_id);
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(&self.iteration.to_be_bytes());
        out.extend_from_slice(self.chain_key.as_ref());
        out.extend_from_slice(&self.signing_key);
        out
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::SENDER_KEY_DISTRIBUTION)?;
        let d = SenderKeyDistribution {
            channel_id: r.array()?,
            sender_device_id: r.array()?,
            key_id: r.u32()?,
            iteration: r.u32()?,
            chain_key: Zeroizing::new(r.array()?),
            signing_key: r.array()?,
        };
        r.finish()?;
        Ok(d)
    }
}

/// A decoded group message (tag 0x08).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderKeyMessage {
    /// Sender key id.
    pub key_id: u32,
    /// Iteration (message number in the sender chain).
    pub iteration: u32,
    /// Sender-chosen random id; also usable as the idempotency nonce with the server.
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// ChaCha20-Poly1305 ciphertext and tag.
    pub ciphertext: Vec<u8>,
    /// Ed25519 signature (see docs/e2e.md).
    pub signature: [u8; SIGNATURE_LEN],
}

fn message_aad(
    channel_id: &[u8; ID_LEN],
    sender_device_id: &[u8; ID_LEN],
    key_id: u32,
    iteration: u32,
    message_id: &[u8; MESSAGE_ID_LEN],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 2 * ID_LEN + 8 + MESSAGE_ID_LEN);
    out.push(tag::SENDER_KEY_MESSAGE);
    out.extend_from_slice(channel_id);
    out.extend_from_slice(sender_device_id);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&iteration.to_be_bytes());
    out.extend_from_slice(message_id);
    out
}

fn signature_body(
    channel_id: &[u8; ID_LEN],
    sender_device_id: &[u8; ID_LEN],
    unsigned: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 * ID_LEN + unsigned.len());
    out.extend_from_slice(channel_id);
    out.extend_from_slice(sender_device_id);
    out.extend_from_slice(unsigned);
    out
}

impl SenderKeyMessage {
    fn unsigned_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(1 + 8 + MESSAGE_ID_LEN + 4 + self.ciphertext.len() + SIGNATURE_LEN);
        out.push(tag::SENDER_KEY_MESSAGE);
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(&self.iteration.to_be_bytes());
        out.extend_from_slice(&self.message_id);
        put_var(&mut out, &self.ciphertext);
        out
    }

    /// Encoding: `tag | key_id u32 | iteration u32 | message_id(16) | ct_len u32 |
    /// ciphertext | signature(64)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.unsigned_bytes();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Strict decoding (no verification).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::SENDER_KEY_MESSAGE)?;
        let key_id = r.u32()?;
        let iteration = r.u32()?;
        let message_id = r.array()?;
        let ciphertext = r.var_bytes(MAX_PLAINTEXT_LEN + TAG_LEN, "sender key ciphertext")?;
        if ciphertext.len() < TAG_LEN {
            return Err(CryptoError::InvalidField("ciphertext shorter than tag"));
        }
        let signature = r.array()?;
        r.finish()?;
        Ok(SenderKeyMessage {
            key_id,
            iteration,
            message_id,
            ciphertext: ciphertext.to_vec(),
            signature,
        })
    }
}

/// The sending side of a sender key (kept only by the sending device).
#[derive(Clone)]
pub struct SenderKeySender {
    channel_id: [u8; ID_LEN],
    sender_device_id: [u8; ID_LEN],
    key_id: u32,
    iteration: u32,
    chain_key: Secret32,
    signing: SigningKey,
}

impl fmt::Debug for SenderKeySender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeySender")
            .field("key_id", &self.key_id)
            .field("iteration", &self.iteration)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

impl SenderKeySender {
    /// A new sender key for a channel. Draws, in order: key id (4 bytes, big-endian),
    /// chain key (32 bytes), signing seed (32 bytes).
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        channel_id: [u8; ID_LEN],
        sender_device_id: [u8; ID_LEN],
    ) -> Self {
        let key_id = u32::from_be_bytes(random_array(rng));
        let chain_key = random_secret(rng);
        let seed = random_secret(rng);
        SenderKeySender {
            channel_id,
            sender_device_id,
            key_id,
            iteration: 0,
            chain_key,
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Iteration of the next message.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The distribution for members (current iteration: no access to earlier messages).
    pub fn distribution(&self) -> SenderKeyDistribution {
        SenderKeyDistribution {
            channel_id: self.channel_id,
            sender_device_id: self.sender_device_id,
            key_id: self.key_id,
            iteration: self.iteration,
            chain_key: self.chain_key.clone(),
            signing_key: self.signing.verifying_key().to_bytes(),
        }
    }

    /// Encrypts and signs one message. Draws the 16-byte message id.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(CryptoError::LimitExceeded("plaintext"));
        }
        if self.iteration == u32::MAX {
            return Err(CryptoError::CounterExhausted);
        }
        let message_id: [u8; MESSAGE_ID_LEN] = random_array(rng);
        let (mk, next) = chain_step(&self.chain_key);
        let aad = message_aad(
            &self.channel_id,
            &self.sender_device_id,
            self.key_id,
            self.iteration,
            &message_id,
        );
        let ciphertext =
            AeadKey::from_message_key(&mk, SENDER_MESSAGE_KEY_INFO).encrypt(plaintext, &aad);
        let mut msg = SenderKeyMessage {
            key_id: self.key_id,
            iteration: self.iteration,
            message_id,
            ciphertext,
            signature: [0; SIGNATURE_LEN],
        };
        msg.signature = sign(
            &self.signing,
            SENDER_MESSAGE_LABEL,
            &signature_body(
                &self.channel_id,
                &self.sender_device_id,
                &msg.unsigned_bytes(),
            ),
        );
        self.chain_key = next;
        self.iteration += 1;
        Ok(msg.to_bytes())
    }

    /// Storage encoding (tag 0x25): `tag | channel_id(16) | sender_device_id(16) |
    /// key_id u32 | iteration u32 | chain_key(32) | signing seed(32)`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(1 + 2 * ID_LEN + 8 + 2 * KEY_LEN));
        out.push(tag::SENDER_KEY_SENDER_STATE);
        out.extend_from_slice(&self.channel_id);
        out.extend_from_slice(&self.sender_device_id);
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(&self.iteration.to_be_bytes());
        out.extend_from_slice(self.chain_key.as_ref());
        out.extend_from_slice(self.signing.as_bytes());
        out
    }

    /// Decodes [`SenderKeySender::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::SENDER_KEY_SENDER_STATE)?;
        let channel_id = r.array()?;
        let sender_device_id = r.array()?;
        let key_id = r.u32()?;
        let iteration = r.u32()?;
        let chain_key = Zeroizing::new(r.array()?);
        let seed = Zeroizing::new(r.array::<KEY_LEN>()?);
        r.finish()?;
        Ok(SenderKeySender {
            channel_id,
            sender_device_id,
            key_id,
            iteration,
            chain_key,
            signing: SigningKey::from_bytes(&seed),
        })
    }
}

/// A member's view of one sender key of one (channel, sender device).
#[derive(Clone)]
pub struct SenderKeyReceiver {
    channel_id: [u8; ID_LEN],
    sender_device_id: [u8; ID_LEN],
    key_id: u32,
    signing_key: [u8; KEY_LEN],
    iteration: u32,
    chain_key: Secret32,
    skipped: VecDeque<(u32, Secret32)>,
}

impl fmt::Debug for SenderKeyReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyReceiver")
            .field("key_id", &self.key_id)
            .field("iteration", &self.iteration)
            .field("skipped_keys", &self.skipped.len())
            .field("chain_key", &"<redacted>")
            .finish()
    }
}

impl SenderKeyReceiver {
    /// Creates the receiving state from a distribution that arrived inside the pairwise
    /// session with device `pairwise_peer_device_id`: the distribution must name that
    /// device as its sender (a member cannot hand out a key in another's name).
    pub fn from_distribution(
        distribution: &SenderKeyDistribution,
        pairwise_peer_device_id: &[u8; ID_LEN],
    ) -> Result<Self> {
        if !ct_eq(&distribution.sender_device_id, pairwise_peer_device_id) {
            return Err(CryptoError::IdentityMismatch);
        }
        verifying_key(&distribution.signing_key)?;
        Ok(SenderKeyReceiver {
            channel_id: distribution.channel_id,
            sender_device_id: distribution.sender_device_id,
            key_id: distribution.key_id,
            signing_key: distribution.signing_key,
            iteration: distribution.iteration,
            chain_key: distribution.chain_key.clone(),
            skipped: VecDeque::new(),
        })
    }

    /// Channel id.
    pub fn channel_id(&self) -> [u8; ID_LEN] {
        self.channel_id
    }

    /// Sending device id.
    pub fn sender_device_id(&self) -> [u8; ID_LEN] {
        self.sender_device_id
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Number of stored skipped message keys.
    pub fn skipped_key_count(&self) -> usize {
        self.skipped.len()
    }

    /// Verifies and decrypts a message received in `channel_id` from `sender_device_id`
    /// (both as stated by the delivering envelope). A message from another channel or
    /// sender, a forged or tampered one, or a replay fails; on any failure the state is
    /// unchanged.
    pub fn decrypt(
        &mut self,
        channel_id: &[u8; ID_LEN],
        sender_device_id: &[u8; ID_LEN],
        bytes: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let msg = SenderKeyMessage::from_bytes(bytes)?;
        if channel_id != &self.channel_id || sender_device_id != &self.sender_device_id {
            return Err(CryptoError::IdentityMismatch);
        }
        if msg.key_id != self.key_id {
            return Err(CryptoError::InvalidField("sender key id"));
        }
        verify(
            &self.signing_key,
            SENDER_MESSAGE_LABEL,
            &signature_body(channel_id, sender_device_id, &msg.unsigned_bytes()),
            &msg.signature,
        )?;
        let aad = message_aad(
            channel_id,
            sender_device_id,
            msg.key_id,
            msg.iteration,
            &msg.message_id,
        );
        if msg.iteration < self.iteration {
            let i = self
                .skipped
                .iter()
                .position(|(it, _)| *it == msg.iteration)
                .ok_or(CryptoError::Duplicate)?;
            let pt = AeadKey::from_message_key(&self.skipped[i].1, SENDER_MESSAGE_KEY_INFO)
                .decrypt(&msg.ciphertext, &aad)?;
            self.skipped.remove(i);
            return Ok(pt);
        }
        if msg.iteration - self.iteration > MAX_SENDER_SKIP {
            return Err(CryptoError::TooFarAhead);
        }
        let next_iteration = msg
            .iteration
            .checked_add(1)
            .ok_or(CryptoError::CounterExhausted)?;
        let mut ck = self.chain_key.clone();
        let mut new_skipped = Vec::new();
        for it in self.iteration..msg.iteration {
            let (mk, next) = chain_step(&ck);
            new_skipped.push((it, mk));
            ck = next;
        }
        let (mk, next) = chain_step(&ck);
        let pt = AeadKey::from_message_key(&mk, SENDER_MESSAGE_KEY_INFO)
            .decrypt(&msg.ciphertext, &aad)?;
        // Commit.
        self.chain_key = next;
        self.iteration = next_iteration;
        for k in new_skipped {
            if self.skipped.len() == MAX_SENDER_SKIPPED_KEYS {
                self.skipped.pop_front();
            }
            self.skipped.push_back(k);
        }
        Ok(pt)
    }

    /// Storage encoding (tag 0x26): `tag | channel_id(16) | sender_device_id(16) | key_id
    /// u32 | signing_key(32) | iteration u32 | chain_key(32) | count u32 | count x
    /// (iteration u32 | message key(32))`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(128 + self.skipped.len() * 36));
        out.push(tag::SENDER_KEY_RECEIVER_STATE);
        out.extend_from_slice(&self.channel_id);
        out.extend_from_slice(&self.sender_device_id);
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(&self.signing_key);
        out.extend_from_slice(&self.iteration.to_be_bytes());
        out.extend_from_slice(self.chain_key.as_ref());
        let count = u32::try_from(self.skipped.len()).expect("bounded by MAX_SENDER_SKIPPED_KEYS");
        out.extend_from_slice(&count.to_be_bytes());
        for (it, mk) in &self.skipped {
            out.extend_from_slice(&it.to_be_bytes());
            out.extend_from_slice(mk.as_ref());
        }
        out
    }

    /// Decodes [`SenderKeyReceiver::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::SENDER_KEY_RECEIVER_STATE)?;
        let channel_id = r.array()?;
        let sender_device_id = r.array()?;
        let key_id = r.u32()?;
        let signing_key = r.array()?;
        verifying_key(&signing_key)?;
        let iteration = r.u32()?;
        let chain_key = Zeroizing::new(r.array()?);
        let count = r.u32()? as usize;
        if count > MAX_SENDER_SKIPPED_KEYS {
            return Err(CryptoError::LimitExceeded("skipped keys"));
        }
        let mut skipped = VecDeque::with_capacity(count);
        for _ in 0..count {
            let it = r.u32()?;
            if it >= iteration {
                return Err(CryptoError::InvalidField(
                    "skipped iteration not in the past",
                ));
            }
            skipped.push_back((it, Zeroizing::new(r.array()?)));
        }
        r.finish()?;
        Ok(SenderKeyReceiver {
            channel_id,
            sender_device_id,
            key_id,
            signing_key,
            iteration,
            chain_key,
            skipped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    const CH: [u8; 16] = [7; 16];
    const DEV: [u8; 16] = [8; 16];

    fn setup(seed: u64) -> (TestRng, SenderKeySender, SenderKeyReceiver) {
        let mut rng = TestRng::new(seed);
        let s = SenderKeySender::generate(&mut rng, CH, DEV);
        let d = SenderKeyDistribution::from_bytes(&s.distribution().to_bytes()).expect("decode");
        let r = SenderKeyReceiver::from_distribution(&d, &DEV).expect("receiver");
        (rng, s, r)
    }

    fn rejects(
        r: &mut SenderKeyReceiver,
        ch: &[u8; 16],
        dev: &[u8; 16],
        m: &[u8],
        err: CryptoError,
    ) {
        let before = r.to_bytes();
        assert_eq!(r.decrypt(ch, dev, m).map(|p| p.to_vec()), Err(err));
        assert_eq!(*r.to_bytes(), *before, "state changed after failed decrypt");
    }

    #[test]
    fn roundtrip_out_of_order_and_replay() {
        let (mut rng, mut s, mut r) = setup(1);
        let msgs: Vec<_> = (0..5u8)
            .map(|i| s.encrypt(&mut rng, &[i; 10]).expect("enc"))
            .collect();
        for i in [2usize, 0, 4, 1, 3] {
            assert_eq!(
                r.decrypt(&CH, &DEV, &msgs[i]).expect("dec")[..],
                [i as u8; 10]
            );
        }
        assert_eq!(r.skipped_key_count(), 0);
        for m in &msgs {
            rejects(&mut r, &CH, &DEV, m, CryptoError::Duplicate);
        }
    }

    #[test]
    fn cross_channel_cross_sender_and_forgery_rejected() {
        let (mut rng, mut s, mut r) = setup(2);
        let m = s.encrypt(&mut rng, b"secret").expect("enc");
        rejects(&mut r, &[9; 16], &DEV, &m, CryptoError::IdentityMismatch);
        rejects(&mut r, &CH, &[9; 16], &m, CryptoError::IdentityMismatch);
        // A receiver state for the same key id in another channel (worst case: the
        // same sender key material handed out for two channels) still fails: the
        // channel id is in the signature and the AEAD associated data.
        let mut d = s.distribution();
        d.channel_id = [9; 16];
        let mut other = SenderKeyReceiver::from_distribution(&d, &DEV).expect("receiver");
        rejects(&mut other, &[9; 16], &DEV, &m, CryptoError::BadSignature);
        // Every single-bit change fails.
        for i in 1..m.len() {
            let mut t = m.clone();
            t[i] ^= 0x10;
            let before = r.to_bytes();
            assert!(r.decrypt(&CH, &DEV, &t).is_err(), "byte {i}");
            assert_eq!(*r.to_bytes(), *before);
        }
        // A member holding the chain key but not the signing key cannot forge.
        let mut forger = s.clone();
        forger.signing = SigningKey::from_bytes(&[3; 32]);
        let forged = forger.encrypt(&mut rng, b"forged").expect("enc");
        rejects(&mut r, &CH, &DEV, &forged, CryptoError::BadSignature);
        assert_eq!(&r.decrypt(&CH, &DEV, &m).expect("dec")[..], b"secret");
    }

    #[test]
    fn distribution_must_come_from_its_sender() {
        let (_, s, _) = setup(3);
        assert_eq!(
            SenderKeyReceiver::from_distribution(&s.distribution(), &[1; 16]).err(),
            Some(CryptoError::IdentityMismatch)
        );
        let mut d = s.distribution();
        d.signing_key = [0; 32];
        assert!(SenderKeyReceiver::from_distribution(&d, &DEV).is_err());
        assert!(!format!("{d:?}").contains(&format!("{:?}", &d.chain_key[..4])));
    }

    #[test]
    fn late_joiner_cannot_read_history() {
        let (mut rng, mut s, _) = setup(4);
        let old = s.encrypt(&mut rng, b"old").expect("enc");
        let mut late = SenderKeyReceiver::from_distribution(&s.distribution(), &DEV).expect("recv");
        rejects(&mut late, &CH, &DEV, &old, CryptoError::Duplicate);
        let new = s.encrypt(&mut rng, b"new").expect("enc");
        assert_eq!(&late.decrypt(&CH, &DEV, &new).expect("dec")[..], b"new");
    }

    #[test]
    fn rotation_gives_a_new_key_id_unknown_to_old_state() {
        let (mut rng, _, mut r) = setup(5);
        let mut rotated = SenderKeySender::generate(&mut rng, CH, DEV);
        let m = rotated.encrypt(&mut rng, b"after removal").expect("enc");
        rejects(
            &mut r,
            &CH,
            &DEV,
            &m,
            CryptoError::InvalidField("sender key id"),
        );
    }

    #[test]
    fn forward_jump_and_store_bounds() {
        let (mut rng, mut s, mut r) = setup(6);
        let mut msgs = Vec::new();
        for _ in 0..(MAX_SENDER_SKIP + 2) {
            msgs.push(s.encrypt(&mut rng, b"z").expect("enc"));
        }
        let too_far = &msgs[MAX_SENDER_SKIP as usize + 1];
        rejects(&mut r, &CH, &DEV, too_far, CryptoError::TooFarAhead);
        r.decrypt(&CH, &DEV, &msgs[MAX_SENDER_SKIP as usize])
            .expect("exactly MAX_SENDER_SKIP");
        assert_eq!(r.skipped_key_count(), MAX_SENDER_SKIP as usize);
        r.decrypt(&CH, &DEV, too_far).expect("now in range");
        // One more full jump evicts the oldest keys; the store stays at the bound.
        let mut more = Vec::new();
        for _ in 0..=MAX_SENDER_SKIP {
            more.push(s.encrypt(&mut rng, b"w").expect("enc"));
        }
        r.decrypt(&CH, &DEV, more.last().expect("non-empty"))
            .expect("dec");
        assert_eq!(r.skipped_key_count(), MAX_SENDER_SKIPPED_KEYS);
        rejects(&mut r, &CH, &DEV, &msgs[0], CryptoError::Duplicate);
        r.decrypt(&CH, &DEV, &more[0])
            .expect("recent skipped key still stored");
    }

    #[test]
    fn encodings_roundtrip_and_are_strict() {
        let (mut rng, mut s, mut r) = setup(7);
        let m = s.encrypt(&mut rng, b"a").expect("enc");
        let m2 = s.encrypt(&mut rng, b"b").expect("enc");
        r.decrypt(&CH, &DEV, &m2).expect("dec");
        let s2 = SenderKeySender::from_bytes(&s.to_bytes()).expect("restore");
        assert_eq!(*s2.to_bytes(), *s.to_bytes());
        let mut r2 = SenderKeyReceiver::from_bytes(&r.to_bytes()).expect("restore");
        assert_eq!(*r2.to_bytes(), *r.to_bytes());
        assert_eq!(&r2.decrypt(&CH, &DEV, &m).expect("dec")[..], b"a");
        for bytes in [
            m.clone(),
            s.to_bytes().to_vec(),
            r.to_bytes().to_vec(),
            s.distribution().to_bytes().to_vec(),
        ] {
            let short = &bytes[..bytes.len() - 1];
            let mut long = bytes.clone();
            long.push(0);
            let mut wrong = bytes.clone();
            wrong[0] = 0x55;
            for b in [short, &long[..], &wrong[..]] {
                assert!(SenderKeyMessage::from_bytes(b).is_err());
                assert!(SenderKeySender::from_bytes(b).is_err());
                assert!(SenderKeyReceiver::from_bytes(b).is_err());
                assert!(SenderKeyDistribution::from_bytes(b).is_err());
            }
        }
        assert_eq!(
            s.encrypt(&mut rng, &vec![0; MAX_PLAINTEXT_LEN + 1]),
            Err(CryptoError::LimitExceeded("plaintext"))
        );
    }
}
