//! Argon2id password hashing on the blocking pool, behind a semaphore so that a burst of logins
//! never occupies the async workers or more than `concurrency` blocking threads.

use crate::error::ApiError;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// How long a request waits for a hashing slot before it gets 503.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    /// Hash of a random password: verified against when the account does not exist, so that
    /// unknown and known usernames take the same time.
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// A hasher with Argon2id at `memory_kib` and `iterations`, at most `concurrency` at once.
    pub fn new(memory_kib: u32, iterations: u32, concurrency: usize) -> Result<Self, String> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| e.to_string())?;
        let dummy = crate::codes::new_token();
        let dummy_hash = hash_blocking(&params, dummy.as_bytes()).map_err(|e| e.to_string())?;
        Ok(Passwords {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The PHC string of `password` with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let params = self.params.clone();
        let password = Zeroizing::new(password.as_bytes().to_vec());
        self.run(move || hash_blocking(&params, &password).map_err(ApiError::internal))
            .await?
    }

    /// True if `password` matches `hash`. With `None` it verifies against a dummy hash and
    /// returns false, taking the same time as a real check.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        let (hash, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let password = Zeroizing::new(password.as_bytes().to_vec());
        let ok = self
            .run(move || {
                Argon2::default()
                    .verify_password(&password, hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(ok && real)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(QUEUE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::unavailable("password hashing queue is full"))?
            .map_err(ApiError::internal)?;
        let out = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(out)
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, argon2::password_hash::Error> {
    let salt = crate::codes::random_bytes::<16>();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    Ok(argon.hash_password_with_salt(password, &salt)?.to_string())
}
