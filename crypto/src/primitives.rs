//! Internal building blocks: KDFs, AEAD, X25519 with the contributory check,
//! domain-separated Ed25519 signatures, random bytes.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};
use crate::limits::{KEY_LEN, NONCE_LEN, SIGNATURE_LEN};

/// A 32-byte secret that is wiped on drop (re-exported as `chatalot_crypto::Secret32`).
pub type Secret32 = Zeroizing<[u8; KEY_LEN]>;

/// Draws `N` bytes from the injected RNG.
pub(crate) fn random_array<const N: usize, R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

/// Draws a 32-byte secret from the injected RNG (exactly one `fill_bytes` of 32 bytes).
pub(crate) fn random_secret<R: CryptoRng + ?Sized>(rng: &mut R) -> Secret32 {
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill_bytes(out.as_mut());
    out
}

/// HKDF-SHA256 with the given salt (None = 32 zero bytes per RFC 5869) into `okm`.
pub(crate) fn hkdf_sha256(salt: Option<&[u8]>, ikm: &[u8], info: &[u8], okm: &mut [u8]) {
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, okm)
        .expect("every output length used here is far below 255*32");
}

/// HMAC-SHA256(key, data).
pub(crate) fn hmac_sha256(key: &[u8; KEY_LEN], data: &[u8]) -> Secret32 {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// Symmetric chain step shared by the Double Ratchet and Sender Keys:
/// message key = HMAC-SHA256(ck, 0x01), next chain key = HMAC-SHA256(ck, 0x02).
pub(crate) fn chain_step(ck: &[u8; KEY_LEN]) -> (Secret32, Secret32) {
    (hmac_sha256(ck, &[0x01]), hmac_sha256(ck, &[0x02]))
}

/// AEAD key and nonce for one message key: HKDF-SHA256(salt = none, IKM = mk, info, 44 bytes).
pub(crate) struct AeadKey {
    key: Secret32,
    nonce: [u8; NONCE_LEN],
}

impl AeadKey {
    pub(crate) fn from_message_key(mk: &[u8; KEY_LEN], info: &[u8]) -> Self {
        let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN]);
        hkdf_sha256(None, mk, info, okm.as_mut());
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&okm[..KEY_LEN]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&okm[KEY_LEN..]);
        AeadKey { key, nonce }
    }

    pub(crate) fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        aead_encrypt(&self.key, &self.nonce, plaintext, aad)
    }

    pub(crate) fn decrypt(&self, ciphertext: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        aead_decrypt(&self.key, &self.nonce, ciphertext, aad)
    }
}

/// ChaCha20-Poly1305 (RFC 8439): returns ciphertext || 16-byte tag.
pub(crate) fn aead_encrypt(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    cipher
        .encrypt(
            &(*nonce).into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("ChaCha20-Poly1305 encryption only fails beyond 256 GiB")
}

/// ChaCha20-Poly1305 decryption; any failure is [`CryptoError::DecryptFailed`].
pub(crate) fn aead_decrypt(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    cipher
        .decrypt(
            &(*nonce).into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::DecryptFailed)
}

/// X25519 that rejects a non-contributory (all-zero) result, i.e. a low-order peer key.
pub(crate) fn dh(ours: &StaticSecret, theirs: &[u8; KEY_LEN]) -> Result<Secret32> {
    let shared = ours.diffie_hellman(&PublicKey::from(*theirs));
    if !shared.was_contributory() {
        return Err(CryptoError::InvalidPublicKey);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// X25519 public key of a secret.
pub(crate) fn x25519_public(secret: &StaticSecret) -> [u8; KEY_LEN] {
    PublicKey::from(secret).to_bytes()
}

/// The bytes an Ed25519 signature covers: `len(label) as u8 || label || body`.
fn signing_input(label: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(1 + label.len() + body.len());
    m.push(u8::try_from(label.len()).expect("labels are short constants"));
    m.extend_from_slice(label);
    m.extend_from_slice(body);
    m
}

/// Ed25519 signature over a domain-separated message.
pub(crate) fn sign(key: &SigningKey, label: &[u8], body: &[u8]) -> [u8; SIGNATURE_LEN] {
    key.sign(&signing_input(label, body)).to_bytes()
}

/// Strict Ed25519 verification (rejects small-order keys and non-canonical encodings).
pub(crate) fn verify(
    public: &[u8; KEY_LEN],
    label: &[u8],
    body: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<()> {
    let vk = verifying_key(public)?;
    let sig = ed25519_dalek::Signature::from_bytes(signature);
    vk.verify_strict(&signing_input(label, body), &sig)
        .map_err(|_| CryptoError::BadSignature)
}

/// Parses an Ed25519 public key, rejecting invalid and small-order points.
pub(crate) fn verifying_key(public: &[u8; KEY_LEN]) -> Result<VerifyingKey> {
    let vk = VerifyingKey::from_bytes(public).map_err(|_| CryptoError::InvalidPublicKey)?;
    if vk.is_weak() {
        return Err(CryptoError::InvalidPublicKey);
    }
    Ok(vk)
}

/// SHA-256 of the concatenation of the parts.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; KEY_LEN] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(&h.finalize());
    out
}

/// Constant-time equality of two byte strings.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
