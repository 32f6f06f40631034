//! Random secrets handed to clients (refresh tokens, device secrets, recovery, backup and
//! invite codes) and the hashes they are stored as.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `n` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS random number generator is available");
    b
}

/// 256-bit opaque token, URL-safe base64 (refresh tokens, device secrets).
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// `groups` groups of 4 symbols joined by `-`, 20 bits per group.
fn grouped_code(groups: usize) -> String {
    let mut out = String::with_capacity(groups * 5);
    for g in 0..groups {
        if g > 0 {
            out.push('-');
        }
        // 4 symbols need 20 bits: take 3 bytes, keep 20 bits
        let b = random_bytes::<3>();
        let v = (u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2])) & 0xF_FFFF;
        for k in (0..4).rev() {
            out.push(ALPHABET[((v >> (5 * k)) & 31) as usize] as char);
        }
    }
    out
}

/// Account recovery code: 80 random bits, `XXXX-XXXX-XXXX-XXXX`.
pub fn new_recovery_code() -> String {
    grouped_code(4)
}

/// The setup token that makes the first owner: 120 random bits, six groups of four.
pub fn new_setup_token() -> String {
    grouped_code(6)
}

/// 2FA backup code: 80 random bits, `XXXX-XXXX-XXXX-XXXX` (long enough that the stored hashes
/// cannot be searched offline).
pub fn new_backup_code() -> String {
    grouped_code(4)
}

/// Registration invite code: 80 random bits, `XXXX-XXXX-XXXX-XXXX`.
pub fn new_invite_code() -> String {
    grouped_code(4)
}

/// Canonical form of a typed code: upper case, without separators or spaces, with the
/// look-alikes I, L and O read as 1, 1 and 0.
pub fn normalize_code(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        })
        .collect()
}

/// SHA-256, the stored form of high-entropy secrets.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// The stored hash of a code typed by a person (normalized first).
pub fn hash_code(code: &str) -> Vec<u8> {
    sha256(normalize_code(code).as_bytes())
}

/// Stored form of an invite code: the canonical `XXXX-XXXX-XXXX-XXXX` spelling.
pub fn canonical_invite(code: &str) -> Option<String> {
    let n = normalize_code(code);
    if n.len() != 16 || !n.bytes().all(|c| ALPHABET.contains(&c)) {
        return None;
    }
    Some(format!(
        "{}-{}-{}-{}",
        &n[0..4],
        &n[4..8],
        &n[8..12],
        &n[12..16]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_expected_shape_and_differ() {
        let a = new_recovery_code();
        let b = new_recovery_code();
        assert_eq!(a.len(), 19);
        assert_ne!(a, b);
        assert_eq!(new_backup_code().len(), 19);
        assert!(a
            .chars()
            .all(|c| c == '-' || c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_eq!(URL_SAFE_NO_PAD.decode(new_token()).expect("b64").len(), 32);
    }

    #[test]
    fn typed_codes_normalize() {
        let code = new_invite_code();
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(canonical_invite(&typed).as_deref(), Some(code.as_str()));
        assert_eq!(hash_code(&typed), hash_code(&code));
        assert_eq!(canonical_invite("short"), None);
    }
}
