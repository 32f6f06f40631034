//! Attachment encryption: a random 32-byte key per file, the file split into chunks,
//! each sealed with ChaCha20-Poly1305 under a nonce derived from the chunk index, with
//! the blob header, the index and a last-chunk flag in the associated data, so that
//! truncation, reordering, duplication and splicing are detected. The SHA-256 digest
//! of the whole blob travels with the key inside the (end-to-end encrypted) message.

use core::fmt;

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::encoding::{tag, Reader};
use crate::error::{CryptoError, Result};
use crate::limits::{
    ATTACHMENT_CHUNK_SIZE, ATTACHMENT_MAX_CHUNK_SIZE, ATTACHMENT_MIN_CHUNK_SIZE, KEY_LEN,
    MAX_ATTACHMENT_SIZE, NONCE_LEN, TAG_LEN,
};
use crate::primitives::{aead_decrypt, aead_encrypt, ct_eq, hkdf_sha256, random_secret, Secret32};

/// HKDF info deriving the chunk cipher key from the file key.
pub const ATTACHMENT_KEY_INFO: &[u8] = b"Chatalot-Attachment-v1";
/// Length of the blob header: tag + chunk size.
pub const BLOB_HEADER_LEN: usize = 5;
/// Encoded length of an [`AttachmentPointer`].
pub const POINTER_LEN: usize = 1 + KEY_LEN + KEY_LEN + 8;

/// What the sender puts inside the encrypted message: key, blob digest, plaintext size.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentPointer {
    /// The random file key. Secret.
    pub key: Secret32,
    /// SHA-256 of the whole encrypted blob (header and all chunks).
    pub digest: [u8; KEY_LEN],
    /// Plaintext size in bytes.
    pub size: u64,
}

impl fmt::Debug for AttachmentPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentPointer")
            .field("size", &self.size)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl AttachmentPointer {
    /// Encoding (tag 0x0A, 73 bytes): `tag | key(32) | digest(32) | size u64`. Secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(POINTER_LEN));
        out.push(tag::ATTACHMENT_POINTER);
        out.extend_from_slice(self.key.as_ref());
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(&self.size.to_be_bytes());
        out
    }

    /// Strict decoding; the size must not exceed [`MAX_ATTACHMENT_SIZE`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::with_tag(bytes, tag::ATTACHMENT_POINTER)?;
        let p = AttachmentPointer {
            key: Zeroizing::new(r.array()?),
            digest: r.array()?,
            size: r.u64()?,
        };
        r.finish()?;
        if p.size > MAX_ATTACHMENT_SIZE {
            return Err(CryptoError::LimitExceeded("attachment size"));
        }
        Ok(p)
    }
}

fn cipher_key(file_key: &[u8; KEY_LEN]) -> Secret32 {
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    hkdf_sha256(None, file_key, ATTACHMENT_KEY_INFO, k.as_mut());
    k
}

fn chunk_nonce(index: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[4..].copy_from_slice(&index.to_be_bytes());
    n
}

fn chunk_aad(header: &[u8; BLOB_HEADER_LEN], index: u64, last: bool) -> [u8; BLOB_HEADER_LEN + 9] {
    let mut a = [0u8; BLOB_HEADER_LEN + 9];
    a[..BLOB_HEADER_LEN].copy_from_slice(header);
    a[BLOB_HEADER_LEN..BLOB_HEADER_LEN + 8].copy_from_slice(&index.to_be_bytes());
    a[BLOB_HEADER_LEN + 8] = u8::from(last);
    a
}

fn blob_header(chunk_size: u32) -> Result<[u8; BLOB_HEADER_LEN]> {
    if !(ATTACHMENT_MIN_CHUNK_SIZE..=ATTACHMENT_MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(CryptoError::InvalidField("attachment chunk size"));
    }
    let mut h = [0u8; BLOB_HEADER_LEN];
    h[0] = tag::ATTACHMENT_BLOB;
    h[1..].copy_from_slice(&chunk_size.to_be_bytes());
    Ok(h)
}

/// Number of chunks of a plaintext of `size` bytes (an empty file has one empty chunk).
pub fn chunk_count(size: u64, chunk_size: u32) -> u64 {
    if size == 0 {
        1
    } else {
        size.div_ceil(u64::from(chunk_size))
    }
}

/// Streaming encryptor: write [`AttachmentEncryptor::header`] first, then each chunk's
/// output in order, then call [`AttachmentEncryptor::finish`] for the pointer.
pub struct AttachmentEncryptor {
    file_key: Secret32,
    key: Secret32,
    header: [u8; BLOB_HEADER_LEN],
    chunk_size: u32,
    index: u64,
    size: u64,
    done: bool,
    hasher: Sha256,
}

impl fmt::Debug for AttachmentEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentEncryptor")
            .field("index", &self.index)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl AttachmentEncryptor {
    /// New encryptor with a fresh file key (draws 32 bytes) and the default chunk size.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::with_key(random_secret(rng), ATTACHMENT_CHUNK_SIZE)
            .expect("the default chunk size is within bounds")
    }

    /// New encryptor with a given file key and chunk size (for tests and vectors).
    pub fn with_key(file_key: Secret32, chunk_size: u32) -> Result<Self> {
        let header = blob_header(chunk_size)?;
        let mut hasher = Sha256::new();
        hasher.update(header);
        Ok(AttachmentEncryptor {
            key: cipher_key(&file_key),
            file_key,
            header,
            chunk_size,
            index: 0,
            size: 0,
            done: false,
            hasher,
        })
    }

    /// The blob header (first bytes of the blob).
    pub fn header(&self) -> [u8; BLOB_HEADER_LEN] {
        self.header
    }

    /// Plaintext chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Encrypts the next chunk. Non-last chunks must be exactly `chunk_size` bytes; the
    /// last one at most `chunk_size` (it may be empty only if it is the only chunk).
    pub fn encrypt_chunk(&mut self, chunk: &[u8], last: bool) -> Result<Vec<u8>> {
        if self.done {
            return Err(CryptoError::InvalidState("attachment already finished"));
        }
        let cs = self.chunk_size as usize;
        let ok = if last {
            chunk.len() <= cs && (!chunk.is_empty() || self.index == 0)
        } else {
            chunk.len() == cs
        };
        if !ok {
            return Err(CryptoError::InvalidField("attachment chunk length"));
        }
        let size = self.size + chunk.len() as u64;
        if size > MAX_ATTACHMENT_SIZE {
            return Err(CryptoError::LimitExceeded("attachment size"));
        }
        let ct = aead_encrypt(
            &self.key,
            &chunk_nonce(self.index),
            chunk,
            &chunk_aad(&self.header, self.index, last),
        );
        self.hasher.update(&ct);
        self.size = size;
        self.index += 1;
        self.done = last;
        Ok(ct)
    }

    /// The pointer (key, digest, size) once the last chunk was encrypted.
    pub fn finish(self) -> Result<AttachmentPointer> {
        if !self.done {
            return Err(CryptoError::InvalidState("last chunk not written"));
        }
        let mut digest = [0u8; KEY_LEN];
        digest.copy_from_slice(&self.hasher.finalize());
        Ok(AttachmentPointer {
            key: self.file_key,
            digest,
            size: self.size,
        })
    }
}

/// Streaming decryptor: construct with the pointer and the blob header, feed each
/// chunk's ciphertext (`chunk_size + 16` bytes, the last one shorter) in order, then
/// call [`AttachmentDecryptor::finish`], which checks the digest. Each returned chunk
/// is authentic (AEAD); the final digest check also rejects a blob other than the one
/// the sender committed to.
pub struct AttachmentDecryptor {
    key: Secret32,
    header: [u8; BLOB_HEADER_LEN],
    chunk_size: u32,
    chunks: u64,
    index: u64,
    remaining: u64,
    expected_digest: [u8; KEY_LEN],
    hasher: Sha256,
}

impl fmt::Debug for AttachmentDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentDecryptor")
            .field("index", &self.index)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl AttachmentDecryptor {
    /// Parses the blob header (exactly [`BLOB_HEADER_LEN`] bytes).
    pub fn new(pointer: &AttachmentPointer, header: &[u8]) -> Result<Self> {
        if pointer.size > MAX_ATTACHMENT_SIZE {
            return Err(CryptoError::LimitExceeded("attachment size"));
        }
        let mut r = Reader::with_tag(header, tag::ATTACHMENT_BLOB)?;
        let chunk_size = r.u32()?;
        r.finish()?;
        let header = blob_header(chunk_size)?;
        let mut hasher = Sha256::new();
        hasher.update(header);
        Ok(AttachmentDecryptor {
            key: cipher_key(&pointer.key),
            header,
            chunk_size,
            chunks: chunk_count(pointer.size, chunk_size),
            index: 0,
            remaining: pointer.size,
            expected_digest: pointer.digest,
            hasher,
        })
    }

    /// Ciphertext length of the next chunk, or None when all chunks were read.
    pub fn next_chunk_len(&self) -> Option<usize> {
        if self.index >= self.chunks {
            return None;
        }
        let pt = self.remaining.min(u64::from(self.chunk_size));
        Some(pt as usize + TAG_LEN)
    }

    /// Decrypts the next chunk.
    pub fn decrypt_chunk(&mut self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let expected = self.next_chunk_len().ok_or(CryptoError::TrailingBytes)?;
        if ciphertext.len() != expected {
            return Err(CryptoError::InvalidField("attachment chunk length"));
        }
        let last = self.index + 1 == self.chunks;
        let pt = aead_decrypt(
            &self.key,
            &chunk_nonce(self.index),
            ciphertext,
            &chunk_aad(&self.header, self.index, last),
        )?;
        self.hasher.update(ciphertext);
        self.remaining -= pt.len() as u64;
        self.index += 1;
        Ok(pt)
    }

    /// Checks that every chunk was read and the blob digest matches the pointer.
    pub fn finish(self) -> Result<()> {
        if self.index != self.chunks {
            return Err(CryptoError::Truncated);
        }
        if !ct_eq(&self.hasher.finalize(), &self.expected_digest) {
            return Err(CryptoError::DigestMismatch);
        }
        Ok(())
    }
}

/// Encrypts a whole file with a fresh key and the default chunk size.
pub fn encrypt_attachment<R: CryptoRng + ?Sized>(
    rng: &mut R,
    plaintext: &[u8],
) -> Result<(AttachmentPointer, Vec<u8>)> {
    encrypt_attachment_with_key(random_secret(rng), ATTACHMENT_CHUNK_SIZE, plaintext)
}

/// Encrypts a whole file with the given key and chunk size.
pub fn encrypt_attachment_with_key(
    file_key: Secret32,
    chunk_size: u32,
    plaintext: &[u8],
) -> Result<(AttachmentPointer, Vec<u8>)> {
    let mut enc = AttachmentEncryptor::with_key(file_key, chunk_size)?;
    let mut blob = Vec::with_capacity(BLOB_HEADER_LEN + plaintext.len() + TAG_LEN * 2);
    blob.extend_from_slice(&enc.header());
    let n = chunk_count(plaintext.len() as u64, chunk_size) as usize;
    if n == 1 {
        blob.extend_from_slice(&enc.encrypt_chunk(plaintext, true)?);
    } else {
        for (i, chunk) in plaintext.chunks(chunk_size as usize).enumerate() {
            blob.extend_from_slice(&enc.encrypt_chunk(chunk, i + 1 == n)?);
        }
    }
    Ok((enc.finish()?, blob))
}

/// Decrypts a whole blob: checks the digest first, then every chunk.
pub fn decrypt_attachment(pointer: &AttachmentPointer, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let digest = crate::primitives::sha256(&[blob]);
    if !ct_eq(&digest, &pointer.digest) {
        return Err(CryptoError::DigestMismatch);
    }
    if blob.len() < BLOB_HEADER_LEN {
        return Err(CryptoError::Truncated);
    }
    let mut dec = AttachmentDecryptor::new(pointer, &blob[..BLOB_HEADER_LEN])?;
    let mut rest = &blob[BLOB_HEADER_LEN..];
    let mut out = Zeroizing::new(Vec::with_capacity(rest.len()));
    while let Some(len) = dec.next_chunk_len() {
        if rest.len() < len {
            return Err(CryptoError::Truncated);
        }
        let (chunk, tail) = rest.split_at(len);
        out.extend_from_slice(&dec.decrypt_chunk(chunk)?);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(CryptoError::TrailingBytes);
    }
    dec.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn key(b: u8) -> Secret32 {
        Zeroizing::new([b; 32])
    }

    #[test]
    fn roundtrip_various_sizes() {
        for n in [0usize, 1, 63, 64, 65, 128, 200] {
            let (p, blob) = encrypt_attachment_with_key(key(1), 64, &data(n)).expect("enc");
            assert_eq!(p.size, n as u64);
            let expected_chunks = chunk_count(n as u64, 64) as usize;
            assert_eq!(blob.len(), BLOB_HEADER_LEN + n + expected_chunks * TAG_LEN);
            assert_eq!(
                &decrypt_attachment(&p, &blob).expect("dec")[..],
                &data(n)[..]
            );
            let p2 = AttachmentPointer::from_bytes(&p.to_bytes()).expect("pointer");
            assert_eq!(p2, p);
        }
        let mut rng = TestRng::new(1);
        let big = data(3 * ATTACHMENT_CHUNK_SIZE as usize + 17);
        let (p, blob) = encrypt_attachment(&mut rng, &big).expect("enc");
        assert_eq!(&decrypt_attachment(&p, &blob).expect("dec")[..], &big[..]);
    }

    /// Re-signs a manipulated blob's digest, as an attacker who also controls the
    /// message carrying the pointer might try; the AEAD must still catch it.
    fn with_digest(p: &AttachmentPointer, blob: &[u8]) -> AttachmentPointer {
        let mut q = p.clone();
        q.digest = crate::primitives::sha256(&[blob]);
        q
    }

    #[test]
    fn truncation_reordering_and_tampering_detected() {
        let pt = data(64 * 3 + 10);
        let (p, blob) = encrypt_attachment_with_key(key(2), 64, &pt).expect("enc");
        let c = 64 + TAG_LEN;
        let h = BLOB_HEADER_LEN;
        // Digest catches any change.
        let mut t = blob.clone();
        t[h + 3] ^= 1;
        assert_eq!(
            decrypt_attachment(&p, &t).err(),
            Some(CryptoError::DigestMismatch)
        );
        // Truncated at a chunk boundary (size adjusted as well): last flag mismatch.
        let cut = blob[..h + 3 * c].to_vec();
        let mut q = with_digest(&p, &cut);
        q.size = 64 * 3;
        assert_eq!(
            decrypt_attachment(&q, &cut).err(),
            Some(CryptoError::DecryptFailed)
        );
        // Truncated without adjusting the size.
        let q = with_digest(&p, &cut);
        assert_eq!(
            decrypt_attachment(&q, &cut).err(),
            Some(CryptoError::Truncated)
        );
        // Two chunks swapped.
        let mut swapped = blob[..h].to_vec();
        swapped.extend_from_slice(&blob[h + c..h + 2 * c]);
        swapped.extend_from_slice(&blob[h..h + c]);
        swapped.extend_from_slice(&blob[h + 2 * c..]);
        let q = with_digest(&p, &swapped);
        assert_eq!(
            decrypt_attachment(&q, &swapped).err(),
            Some(CryptoError::DecryptFailed)
        );
        // Chunk size in the header changed.
        let mut hdr = blob.clone();
        hdr[4] = 65;
        let q = with_digest(&p, &hdr);
        assert!(decrypt_attachment(&q, &hdr).is_err());
        // Trailing bytes.
        let mut long = blob.clone();
        long.push(0);
        let q = with_digest(&p, &long);
        assert_eq!(
            decrypt_attachment(&q, &long).err(),
            Some(CryptoError::TrailingBytes)
        );
        // Wrong key.
        let mut q = p.clone();
        q.key = key(3);
        assert_eq!(
            decrypt_attachment(&q, &blob).err(),
            Some(CryptoError::DecryptFailed)
        );
    }

    #[test]
    fn streaming_matches_whole_buffer_and_enforces_order() {
        let pt = data(64 * 2 + 5);
        let (p, blob) = encrypt_attachment_with_key(key(4), 64, &pt).expect("enc");
        let mut enc = AttachmentEncryptor::with_key(key(4), 64).expect("enc");
        let mut s = enc.header().to_vec();
        s.extend(enc.encrypt_chunk(&pt[..64], false).expect("c0"));
        assert!(
            enc.encrypt_chunk(&pt[..10], false).is_err(),
            "short non-last chunk"
        );
        s.extend(enc.encrypt_chunk(&pt[64..128], false).expect("c1"));
        s.extend(enc.encrypt_chunk(&pt[128..], true).expect("c2"));
        assert!(enc.encrypt_chunk(&pt[..1], true).is_err(), "after last");
        assert_eq!(s, blob);
        assert_eq!(enc.finish().expect("finish"), p);

        let mut dec = AttachmentDecryptor::new(&p, &blob[..5]).expect("dec");
        let c = 64 + TAG_LEN;
        assert_eq!(dec.next_chunk_len(), Some(c));
        // Out of order: chunk 1 given first.
        assert_eq!(
            dec.decrypt_chunk(&blob[5 + c..5 + 2 * c]).err(),
            Some(CryptoError::DecryptFailed)
        );
        dec.decrypt_chunk(&blob[5..5 + c]).expect("c0");
        dec.decrypt_chunk(&blob[5 + c..5 + 2 * c]).expect("c1");
        let dec_early = AttachmentDecryptor::new(&p, &blob[..5]).expect("dec");
        assert_eq!(dec_early.finish().err(), Some(CryptoError::Truncated));
        assert_eq!(dec.next_chunk_len(), Some(5 + TAG_LEN));
        dec.decrypt_chunk(&blob[5 + 2 * c..]).expect("c2");
        assert_eq!(dec.next_chunk_len(), None);
        dec.finish().expect("digest");
        // Unfinished encryptor has no pointer.
        let enc = AttachmentEncryptor::with_key(key(4), 64).expect("enc");
        assert!(enc.finish().is_err());
    }

    #[test]
    fn bad_headers_and_pointers_rejected() {
        let (p, _) = encrypt_attachment_with_key(key(5), 64, b"x").expect("enc");
        assert!(AttachmentDecryptor::new(&p, &[tag::ATTACHMENT_BLOB, 0, 0, 0, 1]).is_err());
        assert!(AttachmentDecryptor::new(&p, &[tag::ATTACHMENT_BLOB, 0, 0, 0]).is_err());
        assert!(AttachmentDecryptor::new(&p, &[0x01, 0, 0, 0, 64]).is_err());
        assert!(AttachmentEncryptor::with_key(key(5), 63).is_err());
        assert!(AttachmentEncryptor::with_key(key(5), ATTACHMENT_MAX_CHUNK_SIZE + 1).is_err());
        let bytes = p.to_bytes();
        assert!(AttachmentPointer::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut huge = bytes.to_vec();
        huge[65..].copy_from_slice(&(MAX_ATTACHMENT_SIZE + 1).to_be_bytes());
        assert_eq!(
            AttachmentPointer::from_bytes(&huge).err(),
            Some(CryptoError::LimitExceeded("attachment size"))
        );
        assert!(format!("{p:?}").contains("redacted"));
    }
}
