//! Identities: the user key (Ed25519) that cross-signs the user's devices, and the
//! device identity (an Ed25519 signing key plus a separate X25519 key), bound together
//! by a [`DeviceCertificate`] signed by the user key.

use core::fmt;

use ed25519_dalek::SigningKey;
use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::encoding::{tag, Reader};
use crate::error::{CryptoError, Result};
use crate::limits::{ID_LEN, KEY_LEN, SIGNATURE_LEN};
use crate::primitives::{ct_eq, random_secret, sign, verify, verifying_key, x25519_public};

/// Signature label of device certificates.
pub const DEVICE_CERT_LABEL: &[u8] = b"Chatalot-DeviceCert-v1";

/// Length of the [`UserKeyPair`] storage encoding (tag 0x20).
pub const USER_KEY_PAIR_LEN: usize = 1 + ID_LEN + KEY_LEN;

/// Encoded length of a [`DeviceCertificate`].
pub const DEVICE_CERTIFICATE_LEN: usize =
    1 + KEY_LEN + ID_LEN + ID_LEN + KEY_LEN + KEY_LEN + SIGNATURE_LEN;

/// A user's long-term key pair. It signs the user's device certificates; its public
/// half is what safety numbers are computed over.
pub struct UserKeyPair {
    user_id: [u8; ID_LEN],
    signing: SigningKey,
}

impl fmt::Debug for UserKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserKeyPair")
            .field("public", &self.public_key())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl UserKeyPair {
    /// Generates a user key: draws one 32-byte Ed25519 seed from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, user_id: [u8; ID_LEN]) -> Self {
        let seed = random_secret(rng);
        UserKeyPair {
            user_id,
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The user id this key belongs to.
    pub fn user_id(&self) -> [u8; ID_LEN] {
        self.user_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; KEY_LEN] {
        self.signing.verifying_key().to_bytes()
    }

    /// Signs a certificate for one of this user's devices.
    pub fn certify_device(&self, device: &DevicePublicKeys) -> DeviceCertificate {
        let mut cert = DeviceCertificate {
            user_key: self.public_key(),
            user_id: self.user_id,
            device_id: device.device_id,
            device_signing_key: device.signing_key,
            device_dh_key: device.dh_key,
            signature: [0u8; SIGNATURE_LEN],
        };
        cert.signature = sign(&self.signing, DEVICE_CERT_LABEL, &cert.signed_body());
        cert
    }

    /// Storage encoding (tag 0x20): `tag | user_id(16) | ed25519 seed(32)`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(1 + ID_LEN + KEY_LEN));
        out.push(tag::USER_KEY_SECRET);
        out.extend_from_slice(&self.user_id);
        out.extend_from_slice(self.signing.as_bytes());
        out
    }

    /// Decodes [`UserKeyPair::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::USER_KEY_SECRET)?;
        let user_id = r.array()?;
        let seed = Zeroizing::new(r.array::<KEY_LEN>()?);
        r.finish()?;
        Ok(UserKeyPair {
            user_id,
            signing: SigningKey::from_bytes(&seed),
        })
    }
}

/// The public keys of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePublicKeys {
    /// Device id (UUID bytes).
    pub device_id: [u8; ID_LEN],
    /// Device Ed25519 public key (signs prekeys).
    pub signing_key: [u8; KEY_LEN],
    /// Device X25519 identity public key (used in X3DH).
    pub dh_key: [u8; KEY_LEN],
}

/// A device's private identity: an Ed25519 signing key and an X25519 key.
#[derive(Clone)]
pub struct DeviceIdentity {
    user_id: [u8; ID_LEN],
    device_id: [u8; ID_LEN],
    signing: SigningKey,
    dh: StaticSecret,
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("public", &self.public_keys())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

impl DeviceIdentity {
    /// Generates a device identity: draws the Ed25519 seed (32 bytes) then the X25519
    /// secret (32 bytes) from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        user_id: [u8; ID_LEN],
        device_id: [u8; ID_LEN],
    ) -> Self {
        let seed = random_secret(rng);
        let dh = random_secret(rng);
        DeviceIdentity {
            user_id,
            device_id,
            signing: SigningKey::from_bytes(&seed),
            dh: StaticSecret::from(*dh),
        }
    }

    /// The owning user's id.
    pub fn user_id(&self) -> [u8; ID_LEN] {
        self.user_id
    }

    /// This device's id.
    pub fn device_id(&self) -> [u8; ID_LEN] {
        self.device_id
    }

    /// The public keys, to be certified by the user key.
    pub fn public_keys(&self) -> DevicePublicKeys {
        DevicePublicKeys {
            device_id: self.device_id,
            signing_key: self.signing.verifying_key().to_bytes(),
            dh_key: x25519_public(&self.dh),
        }
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub(crate) fn dh_secret(&self) -> &StaticSecret {
        &self.dh
    }

    /// Storage encoding (tag 0x21): `tag | user_id(16) | device_id(16) | ed25519 seed(32) |
    /// x25519 secret(32)`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(1 + 2 * ID_LEN + 2 * KEY_LEN));
        out.push(tag::DEVICE_IDENTITY_SECRET);
        out.extend_from_slice(&self.user_id);
        out.extend_from_slice(&self.device_id);
        out.extend_from_slice(self.signing.as_bytes());
        out.extend_from_slice(self.dh.as_bytes());
        out
    }

    /// Decodes [`DeviceIdentity::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::DEVICE_IDENTITY_SECRET)?;
        let user_id = r.array()?;
        let device_id = r.array()?;
        let seed = Zeroizing::new(r.array::<KEY_LEN>()?);
        let dh = Zeroizing::new(r.array::<KEY_LEN>()?);
        r.finish()?;
        Ok(DeviceIdentity {
            user_id,
            device_id,
            signing: SigningKey::from_bytes(&seed),
            dh: StaticSecret::from(*dh),
        })
    }
}

/// A user key's signature over one device's keys: a device the server invents has no
/// valid certificate under the user key a peer has pinned, so it is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCertificate {
    /// The signing user key (Ed25519 public).
    pub user_key: [u8; KEY_LEN],
    /// The user id.
    pub user_id: [u8; ID_LEN],
    /// The device id.
    pub device_id: [u8; ID_LEN],
    /// The device's Ed25519 public key.
    pub device_signing_key: [u8; KEY_LEN],
    /// The device's X25519 identity public key.
    pub device_dh_key: [u8; KEY_LEN],
    /// Ed25519 signature by `user_key` over `DEVICE_CERT_LABEL` and the body.
    pub signature: [u8; SIGNATURE_LEN],
}

impl DeviceCertificate {
    /// The signed body: the encoding without the trailing signature.
    fn signed_body(&self) -> Vec<u8> {
        let mut out = self.to_bytes();
        out.truncate(DEVICE_CERTIFICATE_LEN - SIGNATURE_LEN);
        out
    }

    /// Encoding (tag 0x01, 193 bytes): `tag | user_key(32) | user_id(16) | device_id(16) |
    /// device_signing_key(32) | device_dh_key(32) | signature(64)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DEVICE_CERTIFICATE_LEN);
        out.push(tag::DEVICE_CERTIFICATE);
        out.extend_from_slice(&self.user_key);
        out.extend_from_slice(&self.user_id);
        out.extend_from_slice(&self.device_id);
        out.extend_from_slice(&self.device_signing_key);
        out.extend_from_slice(&self.device_dh_key);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Strict decoding without verification (see [`DeviceCertificate::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::DEVICE_CERTIFICATE)?;
        let cert = Self::read(&mut r)?;
        r.finish()?;
        Ok(cert)
    }

    /// Reads the fields after the tag.
    pub(crate) fn read_tagged(r: &mut Reader<'_>) -> Result<Self> {
        let t = r.u8()?;
        if t != tag::DEVICE_CERTIFICATE {
            return Err(CryptoError::WrongTag(t));
        }
        Self::read(r)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(DeviceCertificate {
            user_key: r.array()?,
            user_id: r.array()?,
            device_id: r.array()?,
            device_signing_key: r.array()?,
            device_dh_key: r.array()?,
            signature: r.array()?,
        })
    }

    /// Verifies the certificate against the user key the caller trusts (pinned or
    /// verified through the safety number). Fails with [`CryptoError::IdentityMismatch`]
    /// when signed by another key, [`CryptoError::BadSignature`] when forged.
    pub fn verify(&self, trusted_user_key: &[u8; KEY_LEN]) -> Result<()> {
        if !ct_eq(&self.user_key, trusted_user_key) {
            return Err(CryptoError::IdentityMismatch);
        }
        verifying_key(&self.device_signing_key)?;
        verify(
            &self.user_key,
            DEVICE_CERT_LABEL,
            &self.signed_body(),
            &self.signature,
        )
    }

    /// The certified device public keys.
    pub fn device_keys(&self) -> DevicePublicKeys {
        DevicePublicKeys {
            device_id: self.device_id,
            signing_key: self.device_signing_key,
            dh_key: self.device_dh_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    fn setup() -> (UserKeyPair, DeviceIdentity, DeviceCertificate) {
        let mut rng = TestRng::new(1);
        let user = UserKeyPair::generate(&mut rng, [1; 16]);
        let dev = DeviceIdentity::generate(&mut rng, [1; 16], [2; 16]);
        let cert = user.certify_device(&dev.public_keys());
        (user, dev, cert)
    }

    #[test]
    fn certificate_verifies_and_roundtrips() {
        let (user, dev, cert) = setup();
        cert.verify(&user.public_key()).expect("valid cert");
        let bytes = cert.to_bytes();
        assert_eq!(bytes.len(), DEVICE_CERTIFICATE_LEN);
        assert_eq!(DeviceCertificate::from_bytes(&bytes), Ok(cert));
        assert_eq!(cert.device_keys(), dev.public_keys());
    }

    #[test]
    fn certificate_rejected_when_tampered_or_other_user_key() {
        let (user, dev, cert) = setup();
        let mut rng = TestRng::new(2);
        let other = UserKeyPair::generate(&mut rng, [1; 16]);
        // A device the server invents, certified by a key the peer does not trust.
        let forged = other.certify_device(&dev.public_keys());
        assert_eq!(
            forged.verify(&user.public_key()),
            Err(CryptoError::IdentityMismatch)
        );
        // Same user key claimed, but signed by another key.
        let mut swapped = forged;
        swapped.user_key = user.public_key();
        assert_eq!(
            swapped.verify(&user.public_key()),
            Err(CryptoError::BadSignature)
        );
        for field in 0..4 {
            let mut c = cert;
            match field {
                0 => c.device_id[0] ^= 1,
                1 => c.device_dh_key[5] ^= 1,
                2 => c.user_id[3] ^= 1,
                _ => c.signature[10] ^= 1,
            }
            assert!(c.verify(&user.public_key()).is_err(), "field {field}");
        }
    }

    #[test]
    fn certificate_decoding_is_strict() {
        let (_, _, cert) = setup();
        let bytes = cert.to_bytes();
        assert_eq!(
            DeviceCertificate::from_bytes(&bytes[..bytes.len() - 1]),
            Err(CryptoError::Truncated)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            DeviceCertificate::from_bytes(&long),
            Err(CryptoError::TrailingBytes)
        );
        let mut wrong = bytes;
        wrong[0] = 0x7f;
        assert_eq!(
            DeviceCertificate::from_bytes(&wrong),
            Err(CryptoError::WrongTag(0x7f))
        );
    }

    #[test]
    fn secrets_roundtrip_and_debug_redacts() {
        let (user, dev, _) = setup();
        let u2 = UserKeyPair::from_bytes(&user.to_bytes()).expect("decode");
        assert_eq!(u2.public_key(), user.public_key());
        let d2 = DeviceIdentity::from_bytes(&dev.to_bytes()).expect("decode");
        assert_eq!(d2.public_keys(), dev.public_keys());
        let dbg = format!("{dev:?} {user:?}");
        assert!(dbg.contains("redacted"));
        let seed_hex: String = dev.to_bytes()[33..65]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!dbg.contains(&seed_hex));
        assert!(UserKeyPair::from_bytes(&user.to_bytes()[..10]).is_err());
        assert!(DeviceIdentity::from_bytes(&user.to_bytes()).is_err());
    }
}
