//! X3DH key agreement (Signal specification) with a separate X25519 device identity
//! key certified by the user key, signed prekeys signed by the device Ed25519 key, and
//! optional one-time prekeys.

use core::fmt;

use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::encoding::{tag, Reader};
use crate::error::{CryptoError, Result};
use crate::identity::{DeviceCertificate, DeviceIdentity};
use crate::limits::{ID_LEN, KEY_LEN, SIGNATURE_LEN};
use crate::primitives::{dh, hkdf_sha256, random_secret, sign, verify, x25519_public, Secret32};

/// Signature label of signed prekeys.
pub const SIGNED_PREKEY_LABEL: &[u8] = b"Chatalot-SignedPreKey-v1";
/// HKDF info string of the X3DH shared secret.
pub const X3DH_INFO: &[u8] = b"Chatalot-X3DH-v1";

/// Private half of a signed prekey, kept by its device.
#[derive(Clone)]
pub struct SignedPreKeySecret {
    key_id: u32,
    secret: StaticSecret,
    signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for SignedPreKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPreKeySecret")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn signed_prekey_body(device_id: &[u8; ID_LEN], key_id: u32, public: &[u8; KEY_LEN]) -> Vec<u8> {
    let mut body = Vec::with_capacity(ID_LEN + 4 + KEY_LEN);
    body.extend_from_slice(device_id);
    body.extend_from_slice(&key_id.to_be_bytes());
    body.extend_from_slice(public);
    body
}

impl SignedPreKeySecret {
    /// Generates a signed prekey (draws one 32-byte X25519 secret) and signs it with the
    /// device Ed25519 key over `device_id || key_id || public`.
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        device: &DeviceIdentity,
        key_id: u32,
    ) -> Self {
        let secret = StaticSecret::from(*random_secret(rng));
        let public = x25519_public(&secret);
        let signature = sign(
            device.signing_key(),
            SIGNED_PREKEY_LABEL,
            &signed_prekey_body(&device.device_id(), key_id, &public),
        );
        SignedPreKeySecret {
            key_id,
            secret,
            signature,
        }
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public half to publish.
    pub fn public(&self) -> SignedPreKeyPublic {
        SignedPreKeyPublic {
            key_id: self.key_id,
            public_key: x25519_public(&self.secret),
            signature: self.signature,
        }
    }

    pub(crate) fn secret(&self) -> &StaticSecret {
        &self.secret
    }

    /// Storage encoding (tag 0x22): `tag | key_id u32 | secret(32) | signature(64)`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(1 + 4 + KEY_LEN + SIGNATURE_LEN));
        out.push(tag::SIGNED_PREKEY_SECRET);
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(self.secret.as_bytes());
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes [`SignedPreKeySecret::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::SIGNED_PREKEY_SECRET)?;
        let key_id = r.u32()?;
        let secret = Zeroizing::new(r.array::<KEY_LEN>()?);
        let signature = r.array()?;
        r.finish()?;
        Ok(SignedPreKeySecret {
            key_id,
            secret: StaticSecret::from(*secret),
            signature,
        })
    }
}

/// Public half of a signed prekey, as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedPreKeyPublic {
    /// Key id chosen by the device.
    pub key_id: u32,
    /// X25519 public key.
    pub public_key: [u8; KEY_LEN],
    /// Device Ed25519 signature over `SIGNED_PREKEY_LABEL`, device id, key id, public key.
    pub signature: [u8; SIGNATURE_LEN],
}

impl SignedPreKeyPublic {
    /// Verifies the signature with the device's certified Ed25519 key.
    pub fn verify(
        &self,
        device_signing_key: &[u8; KEY_LEN],
        device_id: &[u8; ID_LEN],
    ) -> Result<()> {
        verify(
            device_signing_key,
            SIGNED_PREKEY_LABEL,
            &signed_prekey_body(device_id, self.key_id, &self.public_key),
            &self.signature,
        )
    }

    /// Encoding (tag 0x02, 101 bytes): `tag | key_id u32 | public(32) | signature(64)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![tag::SIGNED_PREKEY];
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&self.signature);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(SignedPreKeyPublic {
            key_id: r.u32()?,
            public_key: r.array()?,
            signature: r.array()?,
        })
    }

    /// Strict decoding (no verification).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::SIGNED_PREKEY)?;
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

/// Private half of a one-time prekey. Delete it only after the first message that used
/// it decrypted successfully.
#[derive(Clone)]
pub struct OneTimePreKeySecret {
    key_id: u32,
    secret: StaticSecret,
}

impl fmt::Debug for OneTimePreKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimePreKeySecret")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl OneTimePreKeySecret {
    /// Generates a one-time prekey (draws one 32-byte X25519 secret).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, key_id: u32) -> Self {
        OneTimePreKeySecret {
            key_id,
            secret: StaticSecret::from(*random_secret(rng)),
        }
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public half to upload.
    pub fn public(&self) -> OneTimePreKeyPublic {
        OneTimePreKeyPublic {
            key_id: self.key_id,
            public_key: x25519_public(&self.secret),
        }
    }

    /// Storage encoding (tag 0x23): `tag | key_id u32 | secret(32)`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(1 + 4 + KEY_LEN));
        out.push(tag::ONE_TIME_PREKEY_SECRET);
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(self.secret.as_bytes());
        out
    }

    /// Decodes [`OneTimePreKeySecret::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::ONE_TIME_PREKEY_SECRET)?;
        let key_id = r.u32()?;
        let secret = Zeroizing::new(r.array::<KEY_LEN>()?);
        r.finish()?;
        Ok(OneTimePreKeySecret {
            key_id,
            secret: StaticSecret::from(*secret),
        })
    }
}

/// Public half of a one-time prekey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneTimePreKeyPublic {
    /// Key id chosen by the device.
    pub key_id: u32,
    /// X25519 public key.
    pub public_key: [u8; KEY_LEN],
}

impl OneTimePreKeyPublic {
    /// Encoding (tag 0x03, 37 bytes): `tag | key_id u32 | public(32)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![tag::ONE_TIME_PREKEY];
        out.extend_from_slice(&self.key_id.to_be_bytes());
        out.extend_from_slice(&self.public_key);
        out
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::ONE_TIME_PREKEY)?;
        let v = OneTimePreKeyPublic {
            key_id: r.u32()?,
            public_key: r.array()?,
        };
        r.finish()?;
        Ok(v)
    }
}

/// What a client fetches to start a session with a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The device's certificate (signed by the owner's user key).
    pub certificate: DeviceCertificate,
    /// The device's current signed prekey.
    pub signed_prekey: SignedPreKeyPublic,
    /// A one-time prekey, when the server had one left.
    pub one_time_prekey: Option<OneTimePreKeyPublic>,
}

impl PreKeyBundle {
    /// Verifies the certificate against the trusted user key and the signed prekey
    /// signature against the certified device key.
    pub fn verify(&self, trusted_user_key: &[u8; KEY_LEN]) -> Result<()> {
        self.certificate.verify(trusted_user_key)?;
        self.signed_prekey.verify(
            &self.certificate.device_signing_key,
            &self.certificate.device_id,
        )
    }

    /// Encoding (tag 0x04): `tag | certificate(193, with its tag) | key_id u32 | spk(32) |
    /// spk signature(64) | opk flag u8 | [opk key_id u32 | opk(32)]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![tag::PREKEY_BUNDLE];
        out.extend_from_slice(&self.certificate.to_bytes());
        self.signed_prekey.write(&mut out);
        match &self.one_time_prekey {
            None => out.push(0),
            Some(opk) => {
                out.push(1);
                out.extend_from_slice(&opk.key_id.to_be_bytes());
                out.extend_from_slice(&opk.public_key);
            }
        }
        out
    }

    /// Strict decoding (no verification).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::PREKEY_BUNDLE)?;
        let certificate = DeviceCertificate::read_tagged(&mut r)?;
        let signed_prekey = SignedPreKeyPublic::read(&mut r)?;
        let one_time_prekey = if r.flag()? {
            Some(OneTimePreKeyPublic {
                key_id: r.u32()?,
                public_key: r.array()?,
            })
        } else {
            None
        };
        r.finish()?;
        Ok(PreKeyBundle {
            certificate,
            signed_prekey,
            one_time_prekey,
        })
    }
}

/// The X3DH part of the first message(s) of a session, sent by the initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreKeyHeader {
    /// The initiator's device certificate.
    pub initiator: DeviceCertificate,
    /// The initiator's ephemeral X25519 public key (also the session's base key).
    pub ephemeral_key: [u8; KEY_LEN],
    /// Id of the responder's signed prekey that was used.
    pub signed_prekey_id: u32,
    /// Id of the responder's one-time prekey that was used, if any.
    pub one_time_prekey_id: Option<u32>,
}

impl PreKeyHeader {
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.initiator.to_bytes());
        out.extend_from_slice(&self.ephemeral_key);
        out.extend_from_slice(&self.signed_prekey_id.to_be_bytes());
        match self.one_time_prekey_id {
            None => out.push(0),
            Some(id) => {
                out.push(1);
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let initiator = DeviceCertificate::read_tagged(r)?;
        let ephemeral_key = r.array()?;
        let signed_prekey_id = r.u32()?;
        let one_time_prekey_id = if r.flag()? { Some(r.u32()?) } else { None };
        Ok(PreKeyHeader {
            initiator,
            ephemeral_key,
            signed_prekey_id,
            one_time_prekey_id,
        })
    }
}

/// Output of X3DH on either side.
pub struct X3dhOutput {
    /// SK: the 32-byte shared secret (becomes the first root key).
    pub shared_secret: Secret32,
    /// AD = initiator certificate (193 bytes) || responder certificate (193 bytes).
    pub associated_data: Vec<u8>,
}

impl fmt::Debug for X3dhOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X3dhOutput")
            .field("shared_secret", &"<redacted>")
            .finish()
    }
}

/// Initiator output: the shared secret, AD, the header to send, and the responder's
/// signed prekey (the first ratchet public key of the responder).
#[derive(Debug)]
pub struct Initiation {
    /// Shared secret and associated data.
    pub output: X3dhOutput,
    /// The header to put in front of the first messages.
    pub header: PreKeyHeader,
    /// The responder's signed prekey public key.
    pub their_signed_prekey: [u8; KEY_LEN],
}

fn kdf(dhs: &[&Secret32]) -> Secret32 {
    let mut ikm = Zeroizing::new(Vec::with_capacity(KEY_LEN * (1 + dhs.len())));
    ikm.extend_from_slice(&[0xFF; KEY_LEN]);
    for d in dhs {
        ikm.extend_from_slice(d.as_ref());
    }
    let mut sk = Zeroizing::new([0u8; KEY_LEN]);
    hkdf_sha256(Some(&[0u8; KEY_LEN]), &ikm, X3DH_INFO, sk.as_mut());
    sk
}

fn associated_data(initiator: &DeviceCertificate, responder: &DeviceCertificate) -> Vec<u8> {
    let mut ad = initiator.to_bytes();
    ad.extend_from_slice(&responder.to_bytes());
    ad
}

fn check_own_certificate(ours: &DeviceIdentity, cert: &DeviceCertificate) -> Result<()> {
    if cert.device_keys() != ours.public_keys() || cert.user_id != ours.user_id() {
        return Err(CryptoError::InvalidState(
            "own certificate does not match own device identity",
        ));
    }
    Ok(())
}

/// Alice's side: verifies the bundle against the user key Alice trusts for Bob, draws
/// one ephemeral key (32 bytes) and computes SK from DH1..DH4.
pub fn initiate<R: CryptoRng + ?Sized>(
    rng: &mut R,
    ours: &DeviceIdentity,
    our_certificate: &DeviceCertificate,
    bundle: &PreKeyBundle,
    trusted_peer_user_key: &[u8; KEY_LEN],
) -> Result<Initiation> {
    check_own_certificate(ours, our_certificate)?;
    bundle.verify(trusted_peer_user_key)?;
    let ephemeral = StaticSecret::from(*random_secret(rng));
    let spk = bundle.signed_prekey.public_key;
    let dh1 = dh(ours.dh_secret(), &spk)?;
    let dh2 = dh(&ephemeral, &bundle.certificate.device_dh_key)?;
    let dh3 = dh(&ephemeral, &spk)?;
    let shared_secret = match &bundle.one_time_prekey {
        Some(opk) => {
            let dh4 = dh(&ephemeral, &opk.public_key)?;
            kdf(&[&dh1, &dh2, &dh3, &dh4])
        }
        None => kdf(&[&dh1, &dh2, &dh3]),
    };
    Ok(Initiation {
        output: X3dhOutput {
            shared_secret,
            associated_data: associated_data(our_certificate, &bundle.certificate),
        },
        header: PreKeyHeader {
            initiator: *our_certificate,
            ephemeral_key: x25519_public(&ephemeral),
            signed_prekey_id: bundle.signed_prekey.key_id,
            one_time_prekey_id: bundle.one_time_prekey.map(|o| o.key_id),
        },
        their_signed_prekey: spk,
    })
}

/// Bob's side: verifies the initiator's certificate against the user key Bob trusts for
/// the initiator, checks the prekey ids, and computes SK.
pub fn respond(
    ours: &DeviceIdentity,
    our_certificate: &DeviceCertificate,
    signed_prekey: &SignedPreKeySecret,
    one_time_prekey: Option<&OneTimePreKeySecret>,
    header: &PreKeyHeader,
    trusted_initiator_user_key: &[u8; KEY_LEN],
) -> Result<X3dhOutput> {
    check_own_certificate(ours, our_certificate)?;
    header.initiator.verify(trusted_initiator_user_key)?;
    if header.signed_prekey_id != signed_prekey.key_id {
        return Err(CryptoError::InvalidField("signed prekey id mismatch"));
    }
    let dh1 = dh(signed_prekey.secret(), &header.initiator.device_dh_key)?;
    let dh2 = dh(ours.dh_secret(), &header.ephemeral_key)?;
    let dh3 = dh(signed_prekey.secret(), &header.ephemeral_key)?;
    let shared_secret = match (header.one_time_prekey_id, one_time_prekey) {
        (None, None) => kdf(&[&dh1, &dh2, &dh3]),
        (Some(id), Some(opk)) if id == opk.key_id => {
            let dh4 = dh(&opk.secret, &header.ephemeral_key)?;
            kdf(&[&dh1, &dh2, &dh3, &dh4])
        }
        _ => return Err(CryptoError::InvalidField("one-time prekey mismatch")),
    };
    Ok(X3dhOutput {
        shared_secret,
        associated_data: associated_data(&header.initiator, our_certificate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;
    use crate::test_support::{party, Party};

    fn bob_keys(rng: &mut TestRng, bob: &Party) -> (SignedPreKeySecret, OneTimePreKeySecret) {
        (
            SignedPreKeySecret::generate(rng, &bob.device, 7),
            OneTimePreKeySecret::generate(rng, 42),
        )
    }

    #[test]
    fn both_sides_agree_with_and_without_one_time_prekey() {
        let mut rng = TestRng::new(10);
        let alice = party(&mut rng, 1);
        let bob = party(&mut rng, 2);
        let (spk, opk) = bob_keys(&mut rng, &bob);
        for with_opk in [true, false] {
            let bundle = PreKeyBundle {
                certificate: bob.cert,
                signed_prekey: spk.public(),
                one_time_prekey: with_opk.then(|| opk.public()),
            };
            let bundle = PreKeyBundle::from_bytes(&bundle.to_bytes()).expect("roundtrip");
            let init = initiate(
                &mut rng,
                &alice.device,
                &alice.cert,
                &bundle,
                &bob.user.public_key(),
            )
            .expect("initiate");
            let resp = respond(
                &bob.device,
                &bob.cert,
                &spk,
                with_opk.then_some(&opk),
                &init.header,
                &alice.user.public_key(),
            )
            .expect("respond");
            assert_eq!(*init.output.shared_secret, *resp.shared_secret);
            assert_eq!(init.output.associated_data, resp.associated_data);
            assert_eq!(init.output.associated_data.len(), 386);
        }
    }

    #[test]
    fn bad_bundles_are_rejected() {
        let mut rng = TestRng::new(11);
        let alice = party(&mut rng, 1);
        let bob = party(&mut rng, 2);
        let mallory = party(&mut rng, 3);
        let (spk, _) = bob_keys(&mut rng, &bob);
        let good = PreKeyBundle {
            certificate: bob.cert,
            signed_prekey: spk.public(),
            one_time_prekey: None,
        };
        let bk = bob.user.public_key();
        // Tampered signed prekey signature or key.
        let mut b = good;
        b.signed_prekey.signature[3] ^= 1;
        assert_eq!(
            initiate(&mut rng, &alice.device, &alice.cert, &b, &bk).err(),
            Some(CryptoError::BadSignature)
        );
        let mut b = good;
        b.signed_prekey.public_key[3] ^= 1;
        assert!(initiate(&mut rng, &alice.device, &alice.cert, &b, &bk).is_err());
        // Swapped bundle: the server substitutes Mallory's device.
        let mspk = SignedPreKeySecret::generate(&mut rng, &mallory.device, 1);
        let swapped = PreKeyBundle {
            certificate: mallory.cert,
            signed_prekey: mspk.public(),
            one_time_prekey: None,
        };
        assert_eq!(
            initiate(&mut rng, &alice.device, &alice.cert, &swapped, &bk).err(),
            Some(CryptoError::IdentityMismatch)
        );
        // Signed prekey of another device re-used in Bob's bundle.
        let mut b = good;
        b.signed_prekey = mspk.public();
        assert_eq!(
            initiate(&mut rng, &alice.device, &alice.cert, &b, &bk).err(),
            Some(CryptoError::BadSignature)
        );
        // Low-order one-time prekey (all zero) gives a zero DH output.
        let mut b = good;
        b.one_time_prekey = Some(OneTimePreKeyPublic {
            key_id: 1,
            public_key: [0; 32],
        });
        assert_eq!(
            initiate(&mut rng, &alice.device, &alice.cert, &b, &bk).err(),
            Some(CryptoError::InvalidPublicKey)
        );
    }

    #[test]
    fn responder_rejects_bad_headers() {
        let mut rng = TestRng::new(12);
        let alice = party(&mut rng, 1);
        let bob = party(&mut rng, 2);
        let (spk, opk) = bob_keys(&mut rng, &bob);
        let bundle = PreKeyBundle {
            certificate: bob.cert,
            signed_prekey: spk.public(),
            one_time_prekey: Some(opk.public()),
        };
        let init = initiate(
            &mut rng,
            &alice.device,
            &alice.cert,
            &bundle,
            &bob.user.public_key(),
        )
        .expect("initiate");
        let ak = alice.user.public_key();
        // Missing one-time prekey.
        assert!(respond(&bob.device, &bob.cert, &spk, None, &init.header, &ak).is_err());
        // Wrong signed prekey id.
        let mut h = init.header;
        h.signed_prekey_id = 8;
        assert!(respond(&bob.device, &bob.cert, &spk, Some(&opk), &h, &ak).is_err());
        // Untrusted initiator user key.
        assert_eq!(
            respond(
                &bob.device,
                &bob.cert,
                &spk,
                Some(&opk),
                &init.header,
                &bob.user.public_key()
            )
            .err(),
            Some(CryptoError::IdentityMismatch)
        );
        // Low-order ephemeral key.
        let mut h = init.header;
        h.ephemeral_key = [0; 32];
        assert_eq!(
            respond(&bob.device, &bob.cert, &spk, Some(&opk), &h, &ak).err(),
            Some(CryptoError::InvalidPublicKey)
        );
        // Own certificate that does not match the identity.
        assert!(respond(
            &bob.device,
            &alice.cert,
            &spk,
            Some(&opk),
            &init.header,
            &ak
        )
        .is_err());
    }

    #[test]
    fn prekey_encodings_are_strict() {
        let mut rng = TestRng::new(13);
        let bob = party(&mut rng, 2);
        let (spk, opk) = bob_keys(&mut rng, &bob);
        let bundle = PreKeyBundle {
            certificate: bob.cert,
            signed_prekey: spk.public(),
            one_time_prekey: Some(opk.public()),
        };
        let bytes = bundle.to_bytes();
        assert_eq!(PreKeyBundle::from_bytes(&bytes), Ok(bundle));
        assert_eq!(
            PreKeyBundle::from_bytes(&bytes[..bytes.len() - 1]),
            Err(CryptoError::Truncated)
        );
        let mut long = bytes.clone();
        long.push(1);
        assert_eq!(
            PreKeyBundle::from_bytes(&long),
            Err(CryptoError::TrailingBytes)
        );
        let mut bad_flag = bundle;
        bad_flag.one_time_prekey = None;
        let mut b = bad_flag.to_bytes();
        let last = b.len() - 1;
        b[last] = 2;
        assert!(PreKeyBundle::from_bytes(&b).is_err());
        let mut b = bytes.clone();
        b[1] = 0x02; // inner certificate tag wrong
        assert_eq!(
            PreKeyBundle::from_bytes(&b),
            Err(CryptoError::WrongTag(0x02))
        );
        let spk_pub = spk.public();
        assert_eq!(
            SignedPreKeyPublic::from_bytes(&spk_pub.to_bytes()),
            Ok(spk_pub)
        );
        assert_eq!(
            OneTimePreKeyPublic::from_bytes(&opk.public().to_bytes()),
            Ok(opk.public())
        );
        let s2 = SignedPreKeySecret::from_bytes(&spk.to_bytes()).expect("decode");
        assert_eq!(s2.public(), spk.public());
        let o2 = OneTimePreKeySecret::from_bytes(&opk.to_bytes()).expect("decode");
        assert_eq!(o2.public(), opk.public());
        assert!(!format!("{spk:?}{opk:?}").contains(&format!("{:?}", spk.secret().as_bytes())));
    }
}
