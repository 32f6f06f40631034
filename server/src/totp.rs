//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step of clock skew either way) and
//! the sealing of TOTP secrets at rest with ChaCha20-Poly1305 under a server key.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

/// Seconds per TOTP step.
pub const STEP_SECS: u64 = 30;
/// Bytes of a TOTP secret (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;

/// The 6-digit code of `secret` at time step `step`.
pub fn code_at(secret: &[u8], step: u64) -> u32 {
    let mut mac = <Hmac<Sha1> as hmac::KeyInit>::new_from_slice(secret)
        .expect("HMAC accepts keys of any length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[digest.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    bin % 1_000_000
}

/// The step (within one step of `unix_secs`) whose code is `code`, if any. The caller records
/// the step so that the code is accepted only once.
pub fn matching_step(secret: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let now = unix_secs / STEP_SECS;
    // constant work: check all three candidate steps
    let mut found = None;
    for step in [now.saturating_sub(1), now, now + 1] {
        if code_at(secret, step) == wanted && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding, as authenticator apps expect.
pub fn base32(data: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(A[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(A[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes RFC 4648 base32 (upper case, no padding); None on any other character.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The `otpauth://` URL for authenticator apps.
pub fn otpauth_url(issuer: &str, username: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits=6&period={STEP_SECS}",
        percent_encode(username),
        base32(secret)
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Seals and opens TOTP secrets with the server's 256-bit key.
#[derive(Clone)]
pub struct Sealer {
    key: Zeroizing<[u8; 32]>,
}

impl Sealer {
    pub fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Sealer { key }
    }

    /// `nonce (12 bytes) || ciphertext`, with `user_id` bound as associated data so a sealed
    /// secret cannot be moved to another account.
    pub fn seal(&self, user_id: &[u8], secret: &[u8]) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(&Key::from(*self.key));
        let nonce = crate::codes::random_bytes::<12>();
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                chacha20poly1305::aead::Payload {
                    msg: secret,
                    aad: user_id,
                },
            )
            .expect("encryption of a short buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    /// The secret inside `sealed`, or None if it was not sealed by this key for this user.
    pub fn open(&self, user_id: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = sealed.split_at(12);
        let nonce = Nonce::from(<[u8; 12]>::try_from(nonce).ok()?);
        let cipher = ChaCha20Poly1305::new(&Key::from(*self.key));
        cipher
            .decrypt(
                &nonce,
                chacha20poly1305::aead::Payload {
                    msg: ct,
                    aad: user_id,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 seed, last 6 digits
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59u64, 287_082u32),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
        ] {
            assert_eq!(code_at(secret, t / STEP_SECS), code, "t={t}");
        }
    }

    #[test]
    fn matching_step_accepts_one_step_of_skew_only() {
        let secret = b"12345678901234567890";
        let t = 1_234_567_890;
        let code = format!("{:06}", code_at(secret, t / STEP_SECS - 1));
        assert_eq!(matching_step(secret, &code, t), Some(t / STEP_SECS - 1));
        let old = format!("{:06}", code_at(secret, t / STEP_SECS - 3));
        assert_eq!(matching_step(secret, &old, t), None);
        assert_eq!(matching_step(secret, "12345", t), None);
        assert_eq!(matching_step(secret, "abcdef", t), None);
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").expect("decodes"), b"foobar");
        assert_eq!(base32_decode("mz"), None);
    }

    #[test]
    fn sealed_secret_opens_only_for_its_user() {
        let s = Sealer::new(Zeroizing::new([9u8; 32]));
        let sealed = s.seal(b"user-a", b"secret");
        assert_eq!(
            s.open(b"user-a", &sealed).expect("opens").as_slice(),
            b"secret"
        );
        assert!(s.open(b"user-b", &sealed).is_none());
        assert!(s.open(b"user-a", &sealed[..10]).is_none());
    }
}
