//! Deterministic RNG for tests and vector generation only (SHA-256 in counter mode
//! over a seed). It is NOT a secure source of randomness for real keys: it exists so
//! vectors and model tests are reproducible. Real callers inject an OS-backed RNG.

use core::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};

/// Deterministic, seedable byte stream: block i = SHA-256("Chatalot-TestRng" || seed || i).
#[derive(Clone)]
pub struct TestRng {
    seed: u64,
    counter: u64,
    buf: [u8; 32],
    used: usize,
}

impl TestRng {
    /// A new stream for `seed`.
    pub fn new(seed: u64) -> Self {
        TestRng {
            seed,
            counter: 0,
            buf: [0; 32],
            used: 32,
        }
    }

    fn refill(&mut self) {
        let mut h = Sha256::new();
        h.update(b"Chatalot-TestRng");
        h.update(self.seed.to_be_bytes());
        h.update(self.counter.to_be_bytes());
        self.buf.copy_from_slice(&h.finalize());
        self.counter += 1;
        self.used = 0;
    }

    /// A uniform-ish value in `0..n` (n > 0); for driving model tests.
    #[allow(dead_code)]
    pub fn below(&mut self, n: u64) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_be_bytes(b) % n
    }

    fn fill(&mut self, dst: &mut [u8]) {
        for byte in dst.iter_mut() {
            if self.used == 32 {
                self.refill();
            }
            *byte = self.buf[self.used];
            self.used += 1;
        }
    }
}

impl TryRng for TestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        Ok(u32::from_be_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        Ok(u64::from_be_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}
