//! Fingerprints and safety numbers over user keys, comparable out of band.
//!
//! Per user: `h = SHA-512(version u16 = 1 || user_key(32) || user_id(16))`, then
//! [`FINGERPRINT_ITERATIONS`] times `h = SHA-512(h || user_key)`; the first 30 bytes are
//! read as six 5-byte big-endian integers, each reduced mod 100000 and printed as five
//! digits: 30 digits per user. The safety number of two users is the two 30-digit
//! strings sorted (ASCII order) and concatenated: 60 digits, identical on both sides.

use core::fmt;

use sha2::{Digest, Sha512};

use crate::limits::{FINGERPRINT_ITERATIONS, ID_LEN, KEY_LEN};

/// Version of the fingerprint construction (hashed in).
pub const FINGERPRINT_VERSION: u16 = 1;
/// Digits of one user's fingerprint.
pub const FINGERPRINT_DIGITS: usize = 30;

/// One user's 30-digit fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fingerprint {
    digits: String,
}

impl Fingerprint {
    /// Computes the fingerprint of a user key bound to its user id.
    pub fn new(user_key: &[u8; KEY_LEN], user_id: &[u8; ID_LEN]) -> Self {
        let mut h = Sha512::new();
        h.update(FINGERPRINT_VERSION.to_be_bytes());
        h.update(user_key);
        h.update(user_id);
        let mut hash = h.finalize();
        for _ in 0..FINGERPRINT_ITERATIONS {
            let mut h = Sha512::new();
            h.update(hash);
            h.update(user_key);
            hash = h.finalize();
        }
        let mut digits = String::with_capacity(FINGERPRINT_DIGITS);
        for chunk in hash[..30].chunks(5) {
            let v = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            digits.push_str(&format!("{:05}", v % 100_000));
        }
        Fingerprint { digits }
    }

    /// The 30 digits without separators.
    pub fn digits(&self) -> &str {
        &self.digits
    }
}

fn grouped(f: &mut fmt::Formatter<'_>, digits: &str) -> fmt::Result {
    for (i, group) in digits.as_bytes().chunks(5).enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        f.write_str(core::str::from_utf8(group).map_err(|_| fmt::Error)?)?;
    }
    Ok(())
}

impl fmt::Display for Fingerprint {
    /// Six groups of five digits separated by spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        grouped(f, &self.digits)
    }
}

/// The 60-digit safety number of two users; the same on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyNumber {
    digits: String,
}

impl SafetyNumber {
    /// Computes the safety number of (local user, remote user). Symmetric.
    pub fn new(
        local_key: &[u8; KEY_LEN],
        local_id: &[u8; ID_LEN],
        remote_key: &[u8; KEY_LEN],
        remote_id: &[u8; ID_LEN],
    ) -> Self {
        Self::from_fingerprints(
            &Fingerprint::new(local_key, local_id),
            &Fingerprint::new(remote_key, remote_id),
        )
    }

    /// Combines two already computed fingerprints.
    pub fn from_fingerprints(a: &Fingerprint, b: &Fingerprint) -> Self {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        SafetyNumber {
            digits: format!("{}{}", lo.digits, hi.digits),
        }
    }

    /// The 60 digits without separators.
    pub fn digits(&self) -> &str {
        &self.digits
    }
}

impl fmt::Display for SafetyNumber {
    /// Twelve groups of five digits separated by spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        grouped(f, &self.digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_well_formed() {
        let a = SafetyNumber::new(&[1; 32], &[2; 16], &[3; 32], &[4; 16]);
        let b = SafetyNumber::new(&[3; 32], &[4; 16], &[1; 32], &[2; 16]);
        assert_eq!(a, b);
        assert_eq!(a.digits().len(), 60);
        assert!(a.digits().bytes().all(|c| c.is_ascii_digit()));
        let shown = a.to_string();
        assert_eq!(shown.split(' ').count(), 12);
        assert!(shown.split(' ').all(|g| g.len() == 5));
        assert_eq!(Fingerprint::new(&[1; 32], &[2; 16]).to_string().len(), 35);
    }

    #[test]
    fn changes_with_key_or_user_id() {
        let base = SafetyNumber::new(&[1; 32], &[2; 16], &[3; 32], &[4; 16]);
        let mut k = [3; 32];
        k[31] = 4;
        assert_ne!(base, SafetyNumber::new(&[1; 32], &[2; 16], &k, &[4; 16]));
        assert_ne!(
            base,
            SafetyNumber::new(&[1; 32], &[2; 16], &[3; 32], &[5; 16])
        );
    }
}
