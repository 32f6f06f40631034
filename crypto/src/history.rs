//! History keys (docs/e2e.md section 18.4): what a device keeps, backs up and hands to new
//! members so that channel messages stay readable after its live receiver state has moved on.
//!
//! A history key is a sender key at the first iteration its holder could read, attested by
//! the sending device with its certified device key: whoever forwards it, a receiver checks
//! the attestation against the sender's certificate, so a member cannot hand out a sender key
//! in another's name. Reading a history message derives forward from the first iteration (at
//! most `SENDER_KEY_ROTATE_AFTER` steps) on a fresh receiver state; no live state changes.

use core::fmt;

use zeroize::Zeroizing;

use crate::encoding::{tag, Reader};
use crate::error::{CryptoError, Result};
use crate::identity::{DeviceCertificate, DeviceIdentity};
use crate::limits::{ID_LEN, KEY_LEN, SENDER_KEY_ROTATE_AFTER, SIGNATURE_LEN};
use crate::primitives::{chain_step, ct_eq, sign, verify, Secret32};
use crate::sender_key::{SenderKeyDistribution, SenderKeyMessage, SenderKeyReceiver};

/// Signature label of a sender-key attestation.
pub const ATTESTATION_LABEL: &[u8] = b"Chatalot-SenderKeyAttest-v1";
/// Length of a [`HistoryKey`] encoding.
pub const HISTORY_KEY_LEN: usize = 1 + 2 * ID_LEN + 4 + 4 + 2 * KEY_LEN + SIGNATURE_LEN;

/// A sender key from its first readable iteration on (tag 0x65, 169 bytes). Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct HistoryKey {
    /// The channel.
    pub channel_id: [u8; ID_LEN],
    /// The sending device.
    pub sender_device_id: [u8; ID_LEN],
    /// The sender key's id.
    pub key_id: u32,
    /// The first iteration `chain_key` reads.
    pub first_iteration: u32,
    /// The chain key at `first_iteration`. Secret.
    pub chain_key: Secret32,
    /// The Ed25519 key that signs the sender key's messages.
    pub signing_key: [u8; KEY_LEN],
    /// The sending device's signature over the above but the chain key.
    pub attestation: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for HistoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryKey")
            .field("key_id", &self.key_id)
            .field("first_iteration", &self.first_iteration)
            .field("chain_key", &"<redacted>")
            .finish()
    }
}

fn attested_body(
    channel_id: &[u8; ID_LEN],
    sender_device_id: &[u8; ID_LEN],
    key_id: u32,
    first_iteration: u32,
    signing_key: &[u8; KEY_LEN],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 * ID_LEN + 8 + KEY_LEN);
    body.extend_from_slice(channel_id);
    body.extend_from_slice(sender_device_id);
    body.extend_from_slice(&key_id.to_be_bytes());
    body.extend_from_slice(&first_iteration.to_be_bytes());
    body.extend_from_slice(signing_key);
    body
}

impl HistoryKey {
    /// The sender's own history key for `distribution` (its current sender key), attested
    /// with its device key. The distribution must be this device's (`IdentityMismatch`).
    pub fn attest(device: &DeviceIdentity, distribution: &SenderKeyDistribution) -> Result<Self> {
        if distribution.sender_device_id != device.device_id() {
            return Err(CryptoError::IdentityMismatch);
        }
        let attestation = sign(
            device.signing_key(),
            ATTESTATION_LABEL,
            &attested_body(
                &distribution.channel_id,
                &distribution.sender_device_id,
                distribution.key_id,
                distribution.iteration,
                &distribution.signing_key,
            ),
        );
        Ok(Self::with_attestation(distribution, attestation))
    }

    /// A history key from a distribution received with the sender's attestation.
    pub fn with_attestation(
        distribution: &SenderKeyDistribution,
        attestation: [u8; SIGNATURE_LEN],
    ) -> Self {
        HistoryKey {
            channel_id: distribution.channel_id,
            sender_device_id: distribution.sender_device_id,
            key_id: distribution.key_id,
            first_iteration: distribution.iteration,
            chain_key: distribution.chain_key.clone(),
            signing_key: distribution.signing_key,
            attestation,
        }
    }

    /// The distribution this key was made from (at `first_iteration`): what a receiver
    /// starts its live state from when the key arrives as an attested distribution.
    pub fn distribution(&self) -> SenderKeyDistribution {
        SenderKeyDistribution {
            channel_id: self.channel_id,
            sender_device_id: self.sender_device_id,
            key_id: self.key_id,
            iteration: self.first_iteration,
            chain_key: self.chain_key.clone(),
            signing_key: self.signing_key,
        }
    }

    /// Checks the attestation against the sender device's certificate, which the caller has
    /// verified under the sender's pinned user key: the certificate must be the sending
    /// device's (`IdentityMismatch`) and the attestation its signature (`BadSignature`).
    pub fn verify(&self, sender: &DeviceCertificate) -> Result<()> {
        if !ct_eq(&sender.device_id, &self.sender_device_id) {
            return Err(CryptoError::IdentityMismatch);
        }
        verify(
            &sender.device_signing_key,
            ATTESTATION_LABEL,
            &attested_body(
                &self.channel_id,
                &self.sender_device_id,
                self.key_id,
                self.first_iteration,
                &self.signing_key,
            ),
            &self.attestation,
        )
    }

    /// Verifies and decrypts a message of this sender key received in `channel_id` from
    /// `sender_device_id` (as the delivery states them). A message of another key is
    /// `InvalidField("sender key id")`, one before `first_iteration` is `Duplicate` (this
    /// key never read it), one more than `SENDER_KEY_ROTATE_AFTER` past it `TooFarAhead`;
    /// a forged or tampered one fails as on a live receiver.
    pub fn decrypt(
        &self,
        channel_id: &[u8; ID_LEN],
        sender_device_id: &[u8; ID_LEN],
        bytes: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let msg = SenderKeyMessage::from_bytes(bytes)?;
        if msg.key_id != self.key_id {
            return Err(CryptoError::InvalidField("sender key id"));
        }
        if msg.iteration < self.first_iteration {
            return Err(CryptoError::Duplicate);
        }
        let steps = msg.iteration - self.first_iteration;
        if steps > SENDER_KEY_ROTATE_AFTER {
            return Err(CryptoError::TooFarAhead);
        }
        let mut chain_key = self.chain_key.clone();
        for _ in 0..steps {
            chain_key = chain_step(&chain_key).1;
        }
        let at = SenderKeyDistribution {
            channel_id: self.channel_id,
            sender_device_id: self.sender_device_id,
            key_id: self.key_id,
            iteration: msg.iteration,
            chain_key,
            signing_key: self.signing_key,
        };
        SenderKeyReceiver::from_distribution(&at, &self.sender_device_id)?.decrypt(
            channel_id,
            sender_device_id,
            bytes,
        )
    }

    /// Encoding: `0x65 | channel_id | sender_device_id | key_id u32 | first_iteration u32 |
    /// chain_key | signing_key | attestation`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(HISTORY_KEY_LEN));
        out.push(tag::HISTORY_KEY);
        out.extend_from_slice(&self.channel_id);
        out.extend_from_slice(&self.sender_device_id);
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(&self.first_iteration.to_be_bytes());
        out.extend_from_slice(&self.chain_key[..]);
        out.extend_from_slice(&self.signing_key);
        out.extend_from_slice(&self.attestation);
        out
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::HISTORY_KEY)?;
        let key = HistoryKey {
            channel_id: r.array()?,
            sender_device_id: r.array()?,
            key_id: r.u32()?,
            first_iteration: r.u32()?,
            chain_key: Zeroizing::new(r.array()?),
            signing_key: r.array()?,
            attestation: r.array()?,
        };
        r.finish()?;
        Ok(key)
    }
}

/// Most history keys in one [`HistoryBundle`]: a bundle travels in one envelope, whose
/// ciphertext is at most 16 KiB (80 × 169 bytes is 13,520, leaving room for the pairwise
/// message around it).
pub const MAX_HISTORY_BUNDLE_KEYS: usize = 80;

/// History keys of one channel that a member's device hands to a new member's devices (tag
/// 0x69, docs/e2e.md 18.5): `0x69 | channel_id | count u16 | count × HistoryKey`. Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct HistoryBundle {
    /// The channel every key is of.
    pub channel_id: [u8; ID_LEN],
    /// At most [`MAX_HISTORY_BUNDLE_KEYS`], each of `channel_id`.
    pub keys: Vec<HistoryKey>,
}

impl fmt::Debug for HistoryBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryBundle")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl HistoryBundle {
    /// Encoding. More than [`MAX_HISTORY_BUNDLE_KEYS`] keys is `LimitExceeded`, a key of
    /// another channel `InvalidField("channel")`.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        if self.keys.len() > MAX_HISTORY_BUNDLE_KEYS {
            return Err(CryptoError::LimitExceeded("history keys"));
        }
        if self.keys.iter().any(|k| k.channel_id != self.channel_id) {
            return Err(CryptoError::InvalidField("channel"));
        }
        let mut out = Zeroizing::new(Vec::with_capacity(
            1 + ID_LEN + 2 + self.keys.len() * HISTORY_KEY_LEN,
        ));
        out.push(tag::HISTORY_BUNDLE);
        out.extend_from_slice(&self.channel_id);
        out.extend_from_slice(&(self.keys.len() as u16).to_be_bytes());
        for k in &self.keys {
            out.extend_from_slice(&k.to_bytes());
        }
        Ok(out)
    }

    /// Strict decoding, with the same rules as [`HistoryBundle::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::HISTORY_BUNDLE)?;
        let channel_id: [u8; ID_LEN] = r.array()?;
        let count = usize::from(r.u16()?);
        if count > MAX_HISTORY_BUNDLE_KEYS {
            return Err(CryptoError::LimitExceeded("history keys"));
        }
        let mut keys = Vec::with_capacity(count);
        for _ in 0..count {
            let k = HistoryKey::from_bytes(r.bytes(HISTORY_KEY_LEN)?)?;
            if k.channel_id != channel_id {
                return Err(CryptoError::InvalidField("channel"));
            }
            keys.push(k);
        }
        r.finish()?;
        Ok(HistoryBundle { channel_id, keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::UserKeyPair;
    use crate::sender_key::SenderKeySender;
    use crate::test_rng::TestRng;

    const USER: [u8; ID_LEN] = [0x61; ID_LEN];
    const CHANNEL: [u8; ID_LEN] = [0x62; ID_LEN];

    #[test]
    fn bundles_round_trip_and_refuse_too_many_keys_or_another_channel() {
        let mut rng = TestRng::new(7);
        let device = DeviceIdentity::generate(&mut rng, USER, [0x63; ID_LEN]);
        let key = |rng: &mut TestRng, channel| {
            let s = SenderKeySender::generate(rng, channel, device.device_id());
            HistoryKey::attest(&device, &s.distribution()).expect("attest")
        };
        let keys: Vec<HistoryKey> = (0..3).map(|_| key(&mut rng, CHANNEL)).collect();
        let bundle = HistoryBundle {
            channel_id: CHANNEL,
            keys: keys.clone(),
        };
        let bytes = bundle.to_bytes().expect("encode");
        assert_eq!(bytes.len(), 1 + ID_LEN + 2 + 3 * HISTORY_KEY_LEN);
        assert_eq!(HistoryBundle::from_bytes(&bytes).expect("decode"), bundle);
        assert!(HistoryBundle::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(HistoryBundle::from_bytes(&longer).is_err());
        // a key of another channel, in either direction
        let mut mixed = bundle.clone();
        mixed.keys.push(key(&mut rng, [0x64; ID_LEN]));
        assert_eq!(
            mixed.to_bytes().unwrap_err(),
            CryptoError::InvalidField("channel")
        );
        let mut relabelled = bytes.to_vec();
        relabelled[1] ^= 1;
        assert_eq!(
            HistoryBundle::from_bytes(&relabelled).unwrap_err(),
            CryptoError::InvalidField("channel")
        );
        // the bound, both ways
        let full = HistoryBundle {
            channel_id: CHANNEL,
            keys: vec![keys[0].clone(); MAX_HISTORY_BUNDLE_KEYS],
        };
        let full_bytes = full.to_bytes().expect("the most keys");
        assert!(full_bytes.len() < 14 * 1024);
        let over = HistoryBundle {
            channel_id: CHANNEL,
            keys: vec![keys[0].clone(); MAX_HISTORY_BUNDLE_KEYS + 1],
        };
        assert_eq!(
            over.to_bytes().unwrap_err(),
            CryptoError::LimitExceeded("history keys")
        );
        let mut counted = full_bytes.to_vec();
        counted[1 + ID_LEN..1 + ID_LEN + 2].copy_from_slice(&81u16.to_be_bytes());
        assert_eq!(
            HistoryBundle::from_bytes(&counted).unwrap_err(),
            CryptoError::LimitExceeded("history keys")
        );
    }

    #[test]
    fn history_reads_messages_a_live_receiver_has_moved_past_and_stays_read_only() {
        let mut rng = TestRng::new(11);
        let user_key = UserKeyPair::generate(&mut rng, USER);
        let device = DeviceIdentity::generate(&mut rng, USER, [0x63; ID_LEN]);
        let cert = user_key.certify_device(&device.public_keys());
        let me = device.device_id();
        let mut sender = SenderKeySender::generate(&mut rng, CHANNEL, me);
        let history = HistoryKey::attest(&device, &sender.distribution()).expect("attest");
        let sent: Vec<Vec<u8>> = (0..40)
            .map(|i| {
                sender
                    .encrypt(&mut rng, format!("message {i}").as_bytes())
                    .expect("encrypt")
            })
            .collect();
        // a live receiver that read everything can no longer read message 3 again
        let mut live =
            SenderKeyReceiver::from_distribution(&sender.distribution(), &me).expect("live");
        assert!(live.decrypt(&CHANNEL, &me, &sent[3]).is_err());
        // the history key, forwarded as bytes by anyone, reads every one, in any order, twice
        let forwarded = HistoryKey::from_bytes(&history.to_bytes()).expect("decode");
        assert_eq!(forwarded.to_bytes().len(), HISTORY_KEY_LEN);
        forwarded.verify(&cert).expect("attested by the sender");
        for i in [39, 0, 17, 3, 3] {
            let plain = forwarded.decrypt(&CHANNEL, &me, &sent[i]).expect("reads");
            assert_eq!(&plain[..], format!("message {i}").as_bytes());
        }
        assert!(!format!("{forwarded:?}").contains(&format!("{:?}", forwarded.chain_key[0])));
    }

    #[test]
    fn a_history_key_in_another_senders_name_or_channel_is_refused() {
        let mut rng = TestRng::new(12);
        let user_key = UserKeyPair::generate(&mut rng, USER);
        let alice = DeviceIdentity::generate(&mut rng, USER, [0x71; ID_LEN]);
        let mallory = DeviceIdentity::generate(&mut rng, USER, [0x72; ID_LEN]);
        let alice_cert = user_key.certify_device(&alice.public_keys());
        let mut alice_sender = SenderKeySender::generate(&mut rng, CHANNEL, alice.device_id());
        let genuine = HistoryKey::attest(&alice, &alice_sender.distribution()).expect("attest");
        let message = alice_sender.encrypt(&mut rng, b"hello").expect("encrypt");

        // mallory cannot attest a key in alice's name...
        assert_eq!(
            HistoryKey::attest(&mallory, &alice_sender.distribution()).err(),
            Some(CryptoError::IdentityMismatch)
        );
        // ...nor change what alice attested: another signing key, channel, first iteration
        let mut forged = genuine.clone();
        forged.signing_key = mallory.public_keys().signing_key;
        assert_eq!(forged.verify(&alice_cert), Err(CryptoError::BadSignature));
        let mut moved = genuine.clone();
        moved.channel_id = [0x99; ID_LEN];
        assert_eq!(moved.verify(&alice_cert), Err(CryptoError::BadSignature));
        let mut earlier = genuine.clone();
        earlier.first_iteration = 0;
        earlier.key_id ^= 1;
        assert_eq!(earlier.verify(&alice_cert), Err(CryptoError::BadSignature));
        // a certificate of another device does not vouch for alice's key
        let mallory_cert = user_key.certify_device(&mallory.public_keys());
        assert_eq!(
            genuine.verify(&mallory_cert),
            Err(CryptoError::IdentityMismatch)
        );
        // a message delivered in another channel or from another device is refused
        assert_eq!(
            genuine
                .decrypt(&[0x99; ID_LEN], &alice.device_id(), &message)
                .err(),
            Some(CryptoError::IdentityMismatch)
        );
        assert_eq!(
            genuine
                .decrypt(&CHANNEL, &mallory.device_id(), &message)
                .err(),
            Some(CryptoError::IdentityMismatch)
        );
        assert!(genuine
            .decrypt(&CHANNEL, &alice.device_id(), &message)
            .is_ok());
    }

    #[test]
    fn history_is_bounded_to_one_sender_key_from_its_first_iteration() {
        let mut rng = TestRng::new(13);
        let device = DeviceIdentity::generate(&mut rng, USER, [0x81; ID_LEN]);
        let me = device.device_id();
        let mut sender = SenderKeySender::generate(&mut rng, CHANNEL, me);
        let before = sender.encrypt(&mut rng, b"before").expect("encrypt");
        let late = HistoryKey::attest(&device, &sender.distribution()).expect("attest");
        assert_eq!(late.first_iteration, 1);
        assert_eq!(
            late.decrypt(&CHANNEL, &me, &before).err(),
            Some(CryptoError::Duplicate),
            "a key handed over at iteration 1 never read iteration 0"
        );
        let rotated = SenderKeySender::generate(&mut rng, CHANNEL, me);
        let mut rotated = rotated;
        let other_key = rotated.encrypt(&mut rng, b"x").expect("encrypt");
        assert_eq!(
            late.decrypt(&CHANNEL, &me, &other_key).err(),
            Some(CryptoError::InvalidField("sender key id"))
        );
        let mut far = late.clone();
        far.first_iteration = 0;
        let mut msg = SenderKeyMessage::from_bytes(&before).expect("decode");
        msg.iteration = SENDER_KEY_ROTATE_AFTER + 1;
        assert_eq!(
            far.decrypt(&CHANNEL, &me, &msg.to_bytes()).err(),
            Some(CryptoError::TooFarAhead)
        );
    }
}
