//! The recovery key and secret storage (docs/e2e.md section 18.3): the account's user key and
//! backup key, sealed on the server under a key derived from a 256-bit recovery key only the
//! user holds, so that a fresh device restores from the recovery key alone.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::encoding::{put_var, tag, Reader};
use crate::error::{CryptoError, Result};
use crate::identity::{UserKeyPair, USER_KEY_PAIR_LEN};
use crate::limits::{ID_LEN, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::primitives::{aead_decrypt, aead_encrypt, hkdf_sha256, random_array, Secret32};

/// Characters of a recovery key's text (Crockford base32; the last 4 bits are zero).
pub const RECOVERY_KEY_CHARS: usize = 52;
/// HKDF info of the secret-storage key.
pub const SECRET_STORAGE_LABEL: &[u8] = b"Chatalot-SecretStorage-v1";

const PLAINTEXT_LEN: usize = 1 + USER_KEY_PAIR_LEN + KEY_LEN;
const HEADER_LEN: usize = 1 + ID_LEN + 8;
/// Length of a `SecretStorage` encoding.
pub const SECRET_STORAGE_LEN: usize = HEADER_LEN + NONCE_LEN + 4 + PLAINTEXT_LEN + TAG_LEN;

/// The user's recovery key: 32 random bytes, shown once as 52 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryKey(Secret32);

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey(<redacted>)")
    }
}

impl RecoveryKey {
    /// A new recovery key: draws 32 bytes.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> RecoveryKey {
        RecoveryKey(Zeroizing::new(random_array(rng)))
    }

    /// The text to show: 13 groups of four characters joined by `-`.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(crate::encoding::crockford_text(&self.0[..]))
    }

    /// Reads a typed recovery key (case, `-` and spaces do not matter; `I`/`L` are `1`, `O`
    /// is `0`); anything else is `InvalidField("recovery key")`.
    pub fn parse(text: &str) -> Result<RecoveryKey> {
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        crate::encoding::read_crockford(text, &mut out[..], "recovery key")?;
        Ok(RecoveryKey(out))
    }

    fn storage_key(&self) -> Secret32 {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        hkdf_sha256(None, &self.0[..], SECRET_STORAGE_LABEL, &mut k[..]);
        k
    }
}

/// What the storage holds, once opened.
pub struct StoredSecrets {
    /// The account's user key.
    pub user_key: UserKeyPair,
    /// The account's backup key.
    pub backup_key: Secret32,
    /// The version it was stored under.
    pub version: u64,
}

impl fmt::Debug for StoredSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecrets")
            .field("user_key", &"<redacted>")
            .field("backup_key", &"<redacted>")
            .field("version", &self.version)
            .finish()
    }
}

/// Seals the user key and backup key as version `version` of the account's secret storage
/// (tag 0x60): `0x60 | user_id | version u64 | nonce | var(AEAD(SSK, nonce, 0x61 | UserKeyPair
/// | backup_key, aad = the first 25 bytes))`. Draws the nonce (12 bytes).
pub fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recovery_key: &RecoveryKey,
    user_key: &UserKeyPair,
    backup_key: &[u8; KEY_LEN],
    version: u64,
) -> Vec<u8> {
    let mut plaintext = Zeroizing::new(Vec::with_capacity(PLAINTEXT_LEN));
    plaintext.push(tag::SECRET_STORAGE_PLAINTEXT);
    plaintext.extend_from_slice(&user_key.to_bytes());
    plaintext.extend_from_slice(backup_key);
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + 4 + PLAINTEXT_LEN + TAG_LEN);
    out.push(tag::SECRET_STORAGE);
    out.extend_from_slice(&user_key.user_id());
    out.extend_from_slice(&version.to_be_bytes());
    let nonce: [u8; NONCE_LEN] = random_array(rng);
    let ciphertext = aead_encrypt(
        &recovery_key.storage_key(),
        &nonce,
        &plaintext,
        &out[..HEADER_LEN],
    );
    out.extend_from_slice(&nonce);
    put_var(&mut out, &ciphertext);
    out
}

/// Opens the account's secret storage with a recovery key. It must be for `user_id`
/// (`IdentityMismatch`) and not older than `min_version`, the highest this device has seen
/// (`InvalidState("secret storage rolled back")`); a wrong recovery key or a changed byte is
/// `DecryptFailed`; the user key inside must be the account's.
pub fn open(
    recovery_key: &RecoveryKey,
    bytes: &[u8],
    user_id: &[u8; ID_LEN],
    min_version: u64,
) -> Result<StoredSecrets> {
    let mut r = Reader::with_tag(bytes, tag::SECRET_STORAGE)?;
    let stored_for: [u8; ID_LEN] = r.array()?;
    let version = r.u64()?;
    let nonce: [u8; NONCE_LEN] = r.array()?;
    let ciphertext = r.var_bytes(PLAINTEXT_LEN + TAG_LEN, "secret storage")?;
    r.finish()?;
    if &stored_for != user_id {
        return Err(CryptoError::IdentityMismatch);
    }
    if version < min_version {
        return Err(CryptoError::InvalidState("secret storage rolled back"));
    }
    let plain = aead_decrypt(
        &recovery_key.storage_key(),
        &nonce,
        ciphertext,
        &bytes[..HEADER_LEN],
    )?;
    let mut p = Reader::with_tag(&plain, tag::SECRET_STORAGE_PLAINTEXT)?;
    let user_key = UserKeyPair::from_bytes(p.bytes(USER_KEY_PAIR_LEN)?)?;
    let backup_key = Zeroizing::new(p.array()?);
    p.finish()?;
    if &user_key.user_id() != user_id {
        return Err(CryptoError::IdentityMismatch);
    }
    Ok(StoredSecrets {
        user_key,
        backup_key,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    const USER: [u8; ID_LEN] = [0x51; ID_LEN];

    #[test]
    fn a_fresh_device_opens_the_storage_with_the_typed_recovery_key_only() {
        let mut rng = TestRng::new(7);
        let user_key = UserKeyPair::generate(&mut rng, USER);
        let rk = RecoveryKey::generate(&mut rng);
        let sealed = seal(&mut rng, &rk, &user_key, &[3; KEY_LEN], 1);
        let text = rk.to_text();
        assert_eq!(text.replace('-', "").len(), RECOVERY_KEY_CHARS);
        assert_eq!(text.split('-').count(), 13);
        let typed = RecoveryKey::parse(&text.to_lowercase().replace('-', " ")).expect("typed");
        let opened = open(&typed, &sealed, &USER, 0).expect("opens");
        assert_eq!(opened.user_key.public_key(), user_key.public_key());
        assert_eq!(*opened.backup_key, [3; KEY_LEN]);
        assert_eq!(opened.version, 1);
        assert!(!format!("{opened:?} {typed:?}").contains("3, 3"));
    }

    #[test]
    fn a_wrong_key_a_changed_byte_a_rollback_or_another_account_is_refused() {
        let mut rng = TestRng::new(8);
        let user_key = UserKeyPair::generate(&mut rng, USER);
        let rk = RecoveryKey::generate(&mut rng);
        let sealed = seal(&mut rng, &rk, &user_key, &[3; KEY_LEN], 5);
        let other = RecoveryKey::generate(&mut rng);
        assert_eq!(
            open(&other, &sealed, &USER, 0).err(),
            Some(CryptoError::DecryptFailed)
        );
        for i in [20, 25, 40, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open(&rk, &bad, &USER, 0).is_err(), "byte {i}");
        }
        // the version is authenticated: raising it to pass a rollback check fails the AEAD
        let mut raised = sealed.clone();
        raised[1 + ID_LEN + 7] = 9;
        assert_eq!(
            open(&rk, &raised, &USER, 9).err(),
            Some(CryptoError::DecryptFailed)
        );
        assert_eq!(
            open(&rk, &sealed, &USER, 6).err(),
            Some(CryptoError::InvalidState("secret storage rolled back"))
        );
        assert_eq!(
            open(&rk, &sealed, &[0x52; ID_LEN], 0).err(),
            Some(CryptoError::IdentityMismatch)
        );
        assert!(open(&rk, &sealed[..sealed.len() - 1], &USER, 0).is_err());
        let mut long = sealed.clone();
        long.push(0);
        assert_eq!(
            open(&rk, &long, &USER, 0).err(),
            Some(CryptoError::TrailingBytes)
        );
    }

    #[test]
    fn recovery_key_text_refuses_what_is_not_a_recovery_key() {
        let mut rng = TestRng::new(9);
        let text = RecoveryKey::generate(&mut rng).to_text();
        let compact = text.replace('-', "");
        assert!(RecoveryKey::parse(&compact[..51]).is_err());
        assert!(RecoveryKey::parse(&format!("{compact}0")).is_err());
        assert!(RecoveryKey::parse(&compact.replacen(&compact[..1], "U", 1)).is_err());
    }
}
