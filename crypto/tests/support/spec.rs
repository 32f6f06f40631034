//! An independent re-implementation of the formulas in docs/e2e.md, written against the
//! raw primitives (not the crate), used to check that the document is complete and
//! true: `tests/spec.rs` recomputes the vector outputs with it.

#![allow(dead_code)]

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use ed25519_dalek::{Signer, SigningKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::{PublicKey, StaticSecret};

pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    let out = StaticSecret::from(*secret)
        .diffie_hellman(&PublicKey::from(*public))
        .to_bytes();
    assert_ne!(out, [0u8; 32], "non-contributory");
    out
}

pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

pub fn sign(seed: &[u8; 32], label: &str, body: &[u8]) -> [u8; 64] {
    let mut m = vec![label.len() as u8];
    m.extend_from_slice(label.as_bytes());
    m.extend_from_slice(body);
    SigningKey::from_bytes(seed).sign(&m).to_bytes()
}

pub fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

pub fn hkdf(salt: Option<&[u8]>, ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let zero = [0u8; 32];
    let mut out = vec![0u8; len];
    Hkdf::<Sha256>::new(Some(salt.unwrap_or(&zero)), ikm)
        .expand(info, &mut out)
        .expect("length");
    out
}

pub fn hmac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("key");
    m.update(data);
    m.finalize().into_bytes().into()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn aead(key: &[u8], nonce: &[u8], pt: &[u8], aad: &[u8]) -> Vec<u8> {
    let key: [u8; 32] = key.try_into().expect("32");
    let nonce: [u8; 12] = nonce.try_into().expect("12");
    ChaCha20Poly1305::new(&key.into())
        .encrypt(&nonce.into(), Payload { msg: pt, aad })
        .expect("encrypt")
}

/// X3DH SK per section 4.3.
pub fn x3dh_sk(dhs: &[[u8; 32]]) -> [u8; 32] {
    let mut ikm = vec![0xFF; 32];
    for d in dhs {
        ikm.extend_from_slice(d);
    }
    hkdf(Some(&[0u8; 32]), &ikm, b"Chatalot-X3DH-v1", 32)
        .try_into()
        .expect("32")
}

/// KDF_RK per section 5.1: (root, chain).
pub fn kdf_rk(rk: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let o = hkdf(Some(rk), dh, b"Chatalot-Ratchet-RK-v1", 64);
    (
        o[..32].try_into().expect("32"),
        o[32..].try_into().expect("32"),
    )
}

/// KDF_CK: (message key, next chain key).
pub fn kdf_ck(ck: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    (hmac(ck, &[1]), hmac(ck, &[2]))
}

/// Message key -> (AEAD key, nonce).
pub fn message_key_material(mk: &[u8; 32], info: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let o = hkdf(None, mk, info, 44);
    (o[..32].to_vec(), o[32..].to_vec())
}

/// Fingerprint digits per section 8.
pub fn fingerprint(key: &[u8; 32], user_id: &[u8; 16]) -> String {
    let mut h = Sha512::new();
    h.update([0u8, 1]);
    h.update(key);
    h.update(user_id);
    let mut hash = h.finalize();
    for _ in 0..5200 {
        let mut h = Sha512::new();
        h.update(hash);
        h.update(key);
        hash = h.finalize();
    }
    hash[..30]
        .chunks(5)
        .map(|c| {
            format!(
                "{:05}",
                c.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)) % 100_000
            )
        })
        .collect()
}
