//! Shared state handed to every handler.

use crate::config::Config;
use crate::limits::{ClientIpResolver, PreAuthCounter, RateLimiter};
use crate::password::Passwords;
use crate::tokens::Tokens;
use crate::totp::Sealer;
use chatalot_protocol::ids::UserId;
use chatalot_storage::Db;
use std::net::IpAddr;
use std::time::Duration;

/// Everything handlers share; cloned cheaply into each worker.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub tokens: Tokens,
    pub passwords: Passwords,
    pub totp_sealer: Sealer,
    pub client_ip: ClientIpResolver,
    pub limits: Limiters,
    /// The real-time gateway: registry, database, token check, limits.
    pub hub: chatalot_actors::Hub,
    /// Unauthenticated WebSockets per client address.
    pub pre_auth: PreAuthCounter,
    /// The file store (`<data_dir>/files`): uploaded files' bytes by their SHA-256.
    pub files: chatalot_storage::blobs::LocalBlobs,
    /// Public images being decoded and re-encoded at once (each may take 200 MiB).
    pub imaging: std::sync::Arc<tokio::sync::Semaphore>,
    /// The link preview fetcher and its cache.
    pub previews: std::sync::Arc<crate::previews::Previews>,
    /// GIF search, when an API key is configured.
    pub gifs: std::sync::Arc<crate::gifs::Gifs>,
}

/// The token buckets.
pub struct Limiters {
    pub auth_ip: RateLimiter<IpAddr>,
    pub register_ip: RateLimiter<IpAddr>,
    pub login_fail_ip: RateLimiter<(String, IpAddr)>,
    pub login_fail_account: RateLimiter<String>,
    /// Wrong passwords and codes given by a logged-in user to confirm a sensitive change.
    pub reauth_fail: RateLimiter<UserId>,
    pub user: RateLimiter<UserId>,
    /// Prekey bundles claimed, per (claimer, claimed user).
    pub key_claim: RateLimiter<(UserId, UserId)>,
    /// New DMs and group DMs per user.
    pub dm_create: RateLimiter<UserId>,
    /// Public images uploaded per user.
    pub image_upload: RateLimiter<UserId>,
    /// File downloads per user.
    pub download_user: RateLimiter<UserId>,
    /// Public image downloads per client address.
    pub download_ip: RateLimiter<IpAddr>,
    /// Link previews asked for per user.
    pub preview: RateLimiter<UserId>,
}

impl Limiters {
    pub fn new(c: &crate::config::LimitsConfig) -> Self {
        let minute = Duration::from_secs(60);
        Limiters {
            auth_ip: RateLimiter::new(c.auth_ip_burst, c.auth_ip_per_minute, minute),
            register_ip: RateLimiter::new(
                c.register_ip_burst,
                c.register_ip_per_hour,
                Duration::from_secs(3600),
            ),
            login_fail_ip: RateLimiter::new(
                c.login_fail_ip_burst,
                c.login_fail_ip_per_minute,
                minute,
            ),
            login_fail_account: RateLimiter::new(
                c.login_fail_account_burst,
                c.login_fail_account_per_minute,
                minute,
            ),
            reauth_fail: RateLimiter::new(
                c.login_fail_ip_burst,
                c.login_fail_ip_per_minute,
                minute,
            ),
            user: RateLimiter::new(c.user_burst, c.user_per_minute, minute),
            key_claim: RateLimiter::new(
                c.key_claim_burst,
                c.key_claim_per_hour,
                Duration::from_secs(3600),
            ),
            dm_create: RateLimiter::new(
                c.dm_create_burst,
                c.dm_create_per_hour,
                Duration::from_secs(3600),
            ),
            image_upload: RateLimiter::new(
                c.image_upload_burst,
                c.image_upload_per_hour,
                Duration::from_secs(3600),
            ),
            download_user: RateLimiter::new(c.download_burst, c.download_per_minute, minute),
            download_ip: RateLimiter::new(c.download_burst, c.download_per_minute, minute),
            preview: RateLimiter::new(c.preview_burst, c.preview_per_minute, minute),
        }
    }
}
