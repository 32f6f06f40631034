//! Device linking (docs/e2e.md section 18.2): a device of the account that holds the user key
//! (`E`) hands a new device (`N`) its certificate, the user key and the backup key, over a
//! channel the server only relays. The user carries a 128-bit code from `N` to `E` (typed or
//! scanned); the server knows neither the code nor the X25519 secrets, so it can neither read
//! nor forge the exchange, nor make `E` answer a request `N` did not make.
//!
//! `N`: [`PendingLink::start`] → send [`PendingLink::request`] to the server, show
//! [`PendingLink::code`] → [`PendingLink::finish`] with the response. `E`:
//! [`LinkRequest::matches`] to find the request of the code typed in → [`respond`].

use core::fmt;

use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::encoding::{put_var, tag, Reader};
use crate::error::{CryptoError, Result};
use crate::identity::{
    DeviceCertificate, DeviceIdentity, DevicePublicKeys, UserKeyPair, USER_KEY_PAIR_LEN,
};
use crate::limits::{ID_LEN, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::primitives::{
    aead_decrypt, aead_encrypt, ct_eq, dh, hkdf_sha256, hmac_sha256, random_array, random_secret,
    sha256, x25519_public, Secret32,
};

/// Bytes of a link code.
pub const LINK_CODE_LEN: usize = 16;
/// Characters of a link code's text (Crockford base32; the last 2 bits are zero).
pub const LINK_CODE_CHARS: usize = 26;
/// Length of a [`LinkRequest`] encoding.
pub const LINK_REQUEST_LEN: usize = 1 + ID_LEN + ID_LEN + 3 * KEY_LEN + KEY_LEN;
/// HKDF info of the request MAC key.
pub const LINK_REQUEST_LABEL: &[u8] = b"Chatalot-LinkRequest-v1";
/// HKDF info prefix of the link key (followed by the request digest).
pub const LINK_KEY_LABEL: &[u8] = b"Chatalot-Link-v1";

const CERTIFICATE_LEN: usize = crate::identity::DEVICE_CERTIFICATE_LEN;
const LINK_SECRETS_LEN: usize = 1 + CERTIFICATE_LEN + USER_KEY_PAIR_LEN + KEY_LEN + 8 + 8;
/// Length of a `LinkResponse` encoding: tag, ephemeral key, nonce, and the sealed secrets
/// with their 4-byte length.
pub const LINK_RESPONSE_LEN: usize = 1 + KEY_LEN + NONCE_LEN + 4 + LINK_SECRETS_LEN + TAG_LEN;

/// The secret the user carries from the new device to the linking one.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkCode(Zeroizing<[u8; LINK_CODE_LEN]>);

impl fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkCode(<redacted>)")
    }
}

impl LinkCode {
    /// The code as raw bytes.
    pub fn from_bytes(bytes: [u8; LINK_CODE_LEN]) -> LinkCode {
        LinkCode(Zeroizing::new(bytes))
    }

    /// The 26-character text to show (and to put in a QR code), in groups of four joined
    /// by `-`.
    pub fn to_text(&self) -> String {
        crate::encoding::crockford_text(&self.0[..])
    }

    /// Reads a typed code: case, `-` and spaces do not matter; `I`/`L` read as `1` and `O`
    /// as `0`. Anything else, another length, or nonzero padding bits is `InvalidField`.
    pub fn parse(text: &str) -> Result<LinkCode> {
        let mut out = [0u8; LINK_CODE_LEN];
        crate::encoding::read_crockford(text, &mut out, "link code")?;
        Ok(LinkCode::from_bytes(out))
    }

    fn mac_key(&self) -> Secret32 {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        hkdf_sha256(None, &self.0[..], LINK_REQUEST_LABEL, &mut k[..]);
        k
    }
}

/// What the new device asks the server to hold for the account (tag 0x62, 161 bytes):
/// its public keys, an ephemeral X25519 key, and a MAC under the link code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    /// The account.
    pub user_id: [u8; ID_LEN],
    /// The new device's public keys (its device id, signing key and X25519 key).
    pub device: DevicePublicKeys,
    /// The new device's ephemeral X25519 public key for this link.
    pub ephemeral: [u8; KEY_LEN],
    /// `HMAC(HKDF(code, "Chatalot-LinkRequest-v1"), first 129 bytes)`.
    pub mac: [u8; KEY_LEN],
}

impl LinkRequest {
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LINK_REQUEST_LEN);
        out.push(tag::LINK_REQUEST);
        out.extend_from_slice(&self.user_id);
        out.extend_from_slice(&self.device.device_id);
        out.extend_from_slice(&self.device.signing_key);
        out.extend_from_slice(&self.device.dh_key);
        out.extend_from_slice(&self.ephemeral);
        out
    }

    /// Encoding: `0x62 | user_id | device_id | device_signing_key | device_dh_key |
    /// ephemeral | mac`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.mac);
        out
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<LinkRequest> {
        let mut r = Reader::with_tag(bytes, tag::LINK_REQUEST)?;
        let request = LinkRequest {
            user_id: r.array()?,
            device: DevicePublicKeys {
                device_id: r.array()?,
                signing_key: r.array()?,
                dh_key: r.array()?,
            },
            ephemeral: r.array()?,
            mac: r.array()?,
        };
        r.finish()?;
        Ok(request)
    }

    /// True when this request was made with `code` (constant-time MAC comparison): the
    /// request the linking device answers.
    pub fn matches(&self, code: &LinkCode) -> bool {
        ct_eq(&hmac_sha256(&code.mac_key(), &self.body())[..], &self.mac)
    }

    /// SHA-256 of the whole encoding, which the response is bound to.
    pub fn digest(&self) -> [u8; KEY_LEN] {
        sha256(&[&self.to_bytes()])
    }
}

/// What the linking device hands over (tag 0x64, inside the response's AEAD).
pub struct LinkSecrets {
    /// The new device's certificate, signed by the user key.
    pub certificate: DeviceCertificate,
    /// The account's user key.
    pub user_key: UserKeyPair,
    /// The account's backup key.
    pub backup_key: Secret32,
    /// The latest version of the account's secret storage the linking device knows.
    pub storage_version: u64,
    /// The latest backup head the linking device knows: the new device refuses older ones.
    pub head_seq: u64,
}

impl fmt::Debug for LinkSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSecrets")
            .field("certificate", &self.certificate)
            .field("user_key", &"<redacted>")
            .field("backup_key", &"<redacted>")
            .field("storage_version", &self.storage_version)
            .field("head_seq", &self.head_seq)
            .finish()
    }
}

impl LinkSecrets {
    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(LINK_SECRETS_LEN));
        out.push(tag::LINK_SECRETS);
        out.extend_from_slice(&self.certificate.to_bytes());
        out.extend_from_slice(&self.user_key.to_bytes());
        out.extend_from_slice(&self.backup_key[..]);
        out.extend_from_slice(&self.storage_version.to_be_bytes());
        out.extend_from_slice(&self.head_seq.to_be_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<LinkSecrets> {
        let mut r = Reader::with_tag(bytes, tag::LINK_SECRETS)?;
        let certificate = DeviceCertificate::read_tagged(&mut r)?;
        let user_key = UserKeyPair::from_bytes(r.bytes(USER_KEY_PAIR_LEN)?)?;
        let backup_key = Zeroizing::new(r.array()?);
        let storage_version = r.u64()?;
        let head_seq = r.u64()?;
        r.finish()?;
        Ok(LinkSecrets {
            certificate,
            user_key,
            backup_key,
            storage_version,
            head_seq,
        })
    }
}

/// The link key and nonce-free AEAD key of one exchange.
fn link_key(code: &LinkCode, shared: &[u8; KEY_LEN], digest: &[u8; KEY_LEN]) -> Secret32 {
    let mut info = Vec::with_capacity(LINK_KEY_LABEL.len() + KEY_LEN);
    info.extend_from_slice(LINK_KEY_LABEL);
    info.extend_from_slice(digest);
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    hkdf_sha256(Some(&code.0[..]), shared, &info, &mut k[..]);
    k
}

fn response_aad(ephemeral: &[u8; KEY_LEN], digest: &[u8; KEY_LEN]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + 2 * KEY_LEN);
    aad.push(tag::LINK_RESPONSE);
    aad.extend_from_slice(ephemeral);
    aad.extend_from_slice(digest);
    aad
}

/// The new device's side of a link in progress.
pub struct PendingLink {
    identity: DeviceIdentity,
    ephemeral: StaticSecret,
    code: LinkCode,
    request: LinkRequest,
}

impl fmt::Debug for PendingLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLink")
            .field("request", &self.request)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

/// A device linked: its identity, the certificate to publish, and what it now holds.
#[derive(Debug)]
pub struct Linked {
    /// The device's own identity (made at [`PendingLink::start`]).
    pub identity: DeviceIdentity,
    /// What the linking device handed over; the certificate names `identity`'s keys.
    pub secrets: LinkSecrets,
}

impl PendingLink {
    /// Starts linking `identity` (the new device's keys): draws the ephemeral X25519 secret
    /// (32 bytes), then the code (16 bytes).
    pub fn start<R: CryptoRng + ?Sized>(rng: &mut R, identity: DeviceIdentity) -> PendingLink {
        let ephemeral = StaticSecret::from(*random_secret(rng));
        let code = LinkCode::from_bytes(random_array(rng));
        let mut request = LinkRequest {
            user_id: identity.user_id(),
            device: identity.public_keys(),
            ephemeral: x25519_public(&ephemeral),
            mac: [0; KEY_LEN],
        };
        request.mac = *hmac_sha256(&code.mac_key(), &request.body());
        PendingLink {
            identity,
            ephemeral,
            code,
            request,
        }
    }

    /// The request to hand to the server.
    pub fn request(&self) -> &LinkRequest {
        &self.request
    }

    /// The code to show.
    pub fn code(&self) -> &LinkCode {
        &self.code
    }

    /// Opens the linking device's response. `published_user_key` is the user key the server
    /// publishes for the account: the handed-over user key must be that one
    /// (`IdentityMismatch`), and the certificate must name this device's keys and verify under
    /// it. A response not made for this request and code is `DecryptFailed`. A refused
    /// response changes nothing: the genuine one can still be opened after it.
    pub fn finish(&self, response: &[u8], published_user_key: &[u8; KEY_LEN]) -> Result<Linked> {
        let mut r = Reader::with_tag(response, tag::LINK_RESPONSE)?;
        let ephemeral: [u8; KEY_LEN] = r.array()?;
        let nonce: [u8; NONCE_LEN] = r.array()?;
        let ciphertext = r.var_bytes(LINK_SECRETS_LEN + TAG_LEN, "link response")?;
        r.finish()?;
        let digest = self.request.digest();
        let shared = dh(&self.ephemeral, &ephemeral)?;
        let key = link_key(&self.code, &shared, &digest);
        let plain = aead_decrypt(&key, &nonce, ciphertext, &response_aad(&ephemeral, &digest))?;
        let secrets = LinkSecrets::from_bytes(&plain)?;
        let user_key = secrets.user_key.public_key();
        if !ct_eq(&user_key, published_user_key)
            || secrets.user_key.user_id() != self.request.user_id
        {
            return Err(CryptoError::IdentityMismatch);
        }
        secrets.certificate.verify(&user_key)?;
        if secrets.certificate.device_keys() != self.identity.public_keys()
            || secrets.certificate.user_id != self.request.user_id
        {
            return Err(CryptoError::IdentityMismatch);
        }
        Ok(Linked {
            identity: self.identity.clone(),
            secrets,
        })
    }
}

/// The linking device's answer to `request`, for the user who typed `code`: certifies the
/// new device with `user_key` and seals the user key, the backup key and the versions for it.
/// Draws the ephemeral X25519 secret (32 bytes), then the nonce (12 bytes). A request that
/// does not match the code, or is for another account, is refused (`IdentityMismatch`) before
/// anything is drawn or signed.
pub fn respond<R: CryptoRng + ?Sized>(
    rng: &mut R,
    code: &LinkCode,
    request: &LinkRequest,
    user_key: &UserKeyPair,
    backup_key: &[u8; KEY_LEN],
    storage_version: u64,
    head_seq: u64,
) -> Result<Vec<u8>> {
    if !request.matches(code) || request.user_id != user_key.user_id() {
        return Err(CryptoError::IdentityMismatch);
    }
    crate::primitives::verifying_key(&request.device.signing_key)?;
    let secrets = LinkSecrets {
        certificate: user_key.certify_device(&request.device),
        user_key: UserKeyPair::from_bytes(&user_key.to_bytes())?,
        backup_key: Zeroizing::new(*backup_key),
        storage_version,
        head_seq,
    };
    let ephemeral_secret = StaticSecret::from(*random_secret(rng));
    let ephemeral = x25519_public(&ephemeral_secret);
    let nonce: [u8; NONCE_LEN] = random_array(rng);
    let digest = request.digest();
    let shared = dh(&ephemeral_secret, &request.ephemeral)?;
    let key = link_key(code, &shared, &digest);
    let ciphertext = aead_encrypt(
        &key,
        &nonce,
        &secrets.to_bytes(),
        &response_aad(&ephemeral, &digest),
    );
    let mut out = Vec::with_capacity(1 + KEY_LEN + NONCE_LEN + 4 + ciphertext.len());
    out.push(tag::LINK_RESPONSE);
    out.extend_from_slice(&ephemeral);
    out.extend_from_slice(&nonce);
    put_var(&mut out, &ciphertext);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    const USER: [u8; ID_LEN] = [0x11; ID_LEN];

    fn setup(seed: u64) -> (TestRng, UserKeyPair, DeviceIdentity) {
        let mut rng = TestRng::new(seed);
        let user_key = UserKeyPair::generate(&mut rng, USER);
        let new_device = DeviceIdentity::generate(&mut rng, USER, [0x22; ID_LEN]);
        (rng, user_key, new_device)
    }

    #[test]
    fn a_device_is_linked_through_a_relay_that_learns_nothing() {
        let (mut rng, user_key, new_device) = setup(1);
        let expected = new_device.public_keys();
        let pending = PendingLink::start(&mut rng, new_device);
        // the server relays the request as bytes; the user carries the code as text
        let on_server = LinkRequest::from_bytes(&pending.request().to_bytes()).expect("decode");
        assert_eq!(on_server.to_bytes().len(), LINK_REQUEST_LEN);
        let typed = LinkCode::parse(&pending.code().to_text().to_lowercase()).expect("code");
        assert!(on_server.matches(&typed));
        let response =
            respond(&mut rng, &typed, &on_server, &user_key, &[7; KEY_LEN], 3, 9).expect("respond");
        let linked = pending
            .finish(&response, &user_key.public_key())
            .expect("linked");
        assert_eq!(linked.identity.public_keys(), expected);
        assert_eq!(linked.secrets.certificate.device_keys(), expected);
        linked
            .secrets
            .certificate
            .verify(&user_key.public_key())
            .expect("certified by the user key");
        assert_eq!(linked.secrets.user_key.public_key(), user_key.public_key());
        assert_eq!(*linked.secrets.backup_key, [7; KEY_LEN]);
        assert_eq!(
            (linked.secrets.storage_version, linked.secrets.head_seq),
            (3, 9)
        );
    }

    #[test]
    fn a_request_the_server_changed_or_made_does_not_match_the_code() {
        let (mut rng, user_key, new_device) = setup(2);
        let pending = PendingLink::start(&mut rng, new_device);
        let code = pending.code().clone();
        // the server swaps in its own device keys or ephemeral key
        let mut swapped = pending.request().clone();
        swapped.device.signing_key[0] ^= 1;
        assert!(!swapped.matches(&code));
        let mut swapped = pending.request().clone();
        swapped.ephemeral[5] ^= 1;
        assert!(!swapped.matches(&code));
        assert_eq!(
            respond(&mut rng, &code, &swapped, &user_key, &[0; KEY_LEN], 0, 0).err(),
            Some(CryptoError::IdentityMismatch)
        );
        // another code (a typo) matches nothing
        let other = LinkCode::from_bytes([9; LINK_CODE_LEN]);
        assert!(!pending.request().matches(&other));
        // a request of another account is not answered
        let mut rng2 = TestRng::new(20);
        let stranger = DeviceIdentity::generate(&mut rng2, [0x33; ID_LEN], [0x44; ID_LEN]);
        let theirs = PendingLink::start(&mut rng2, stranger);
        assert_eq!(
            respond(
                &mut rng,
                theirs.code(),
                theirs.request(),
                &user_key,
                &[0; KEY_LEN],
                0,
                0
            )
            .err(),
            Some(CryptoError::IdentityMismatch)
        );
    }

    #[test]
    fn a_response_is_bound_to_its_request_code_and_the_published_user_key() {
        let (mut rng, user_key, new_device) = setup(3);
        let pending = PendingLink::start(&mut rng, new_device);
        let response = respond(
            &mut rng,
            pending.code(),
            pending.request(),
            &user_key,
            &[1; KEY_LEN],
            0,
            0,
        )
        .expect("respond");
        // tampered anywhere (the ephemeral key, the nonce, the ciphertext): refused
        for i in [1, 40, 50, response.len() - 1] {
            let mut bad = response.clone();
            bad[i] ^= 1;
            assert!(
                pending.finish(&bad, &user_key.public_key()).is_err(),
                "byte {i}"
            );
        }
        assert!(pending
            .finish(&response[..response.len() - 1], &user_key.public_key())
            .is_err());
        // a responder with another user key (the server answering itself) is refused even
        // when it knew the code: the user key must be the published one
        let (mut rng4, _, device4) = setup(4);
        let impostor = UserKeyPair::generate(&mut rng4, USER);
        let pending4 = PendingLink::start(&mut rng4, device4);
        let forged = respond(
            &mut rng4,
            pending4.code(),
            pending4.request(),
            &impostor,
            &[0; KEY_LEN],
            0,
            0,
        )
        .expect("respond");
        assert_eq!(
            pending4.finish(&forged, &user_key.public_key()).err(),
            Some(CryptoError::IdentityMismatch)
        );
        // a response made for one request opens no other
        let (mut rng5, _, device5) = setup(5);
        let pending5 = PendingLink::start(&mut rng5, device5);
        assert_eq!(
            pending5.finish(&response, &user_key.public_key()).err(),
            Some(CryptoError::DecryptFailed)
        );
        assert!(pending.finish(&response, &user_key.public_key()).is_ok());
    }

    #[test]
    fn codes_read_back_as_typed_and_refuse_anything_else() {
        let code = LinkCode::from_bytes([
            0x00, 0x44, 0x32, 0x14, 0xC7, 0x42, 0x54, 0xB6, 0x35, 0xCF, 0x84, 0x65, 0x3A, 0x56,
            0xD7, 0xC6,
        ]);
        let text = code.to_text();
        assert_eq!(text.replace('-', "").len(), LINK_CODE_CHARS);
        assert_eq!(text.split('-').count(), 7);
        assert_eq!(LinkCode::parse(&text).expect("round trip"), code);
        let spaced = text.replace('-', " ").to_lowercase();
        assert_eq!(LinkCode::parse(&spaced).expect("spaces, lower case"), code);
        let confusable = text.replace('0', "O").replace('1', "I");
        assert_eq!(LinkCode::parse(&confusable).expect("confusables"), code);
        assert!(LinkCode::parse(&text[..text.len() - 1]).is_err(), "short");
        assert!(LinkCode::parse(&format!("{text}0")).is_err(), "long");
        assert!(
            LinkCode::parse(&text.replace(&text[..1], "U")).is_err(),
            "U"
        );
        // the last character carries 3 bits of the code and 2 of padding, which must be zero
        let mut padded: Vec<char> = text.replace('-', "").chars().collect();
        let alphabet = crate::encoding::CROCKFORD;
        let last = alphabet
            .iter()
            .position(|c| char::from(*c) == padded[25])
            .expect("char");
        padded[25] = char::from(alphabet[last | 1]);
        let padded: String = padded.into_iter().collect();
        assert_eq!(
            LinkCode::parse(&padded).err(),
            Some(CryptoError::InvalidField("link code"))
        );
        assert!(!format!("{code:?}").contains("44"));
    }
}
