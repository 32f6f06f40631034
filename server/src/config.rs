//! Configuration: built-in defaults, then an optional TOML file, then environment variables.
//! Validated once at start; `deploy/config.example.toml` documents every key.

use chatalot_protocol::api::RegistrationMode;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub realtime: RealtimeSection,
    pub files: FilesConfig,
    pub link_previews: LinkPreviewsConfig,
    pub gifs: GifsConfig,
    pub log: LogConfig,
}

/// `[gifs]`: GIF search through a provider speaking the Tenor v2 API (docs/api.md "GIF
/// search"). Off without an API key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GifsConfig {
    /// The provider's API key; empty: no GIF search.
    pub api_key: String,
    /// The API's base address (`…/search` is asked).
    pub base_url: String,
    /// The `client_key` the provider is told.
    pub client_key: String,
    /// `contentfilter`: off, low, medium or high.
    pub content_filter: String,
    /// Origins (`scheme://host[:port]`) the provider's media may come from; the server fetches
    /// media from nowhere else.
    pub media_origins: Vec<String>,
    /// Addresses (`ip:port`) the fetcher may reach although they are not public.
    pub allow: Vec<String>,
    /// One request to the provider, milliseconds.
    pub timeout_ms: u64,
    /// The largest GIF fetched, bytes.
    pub max_bytes: u64,
}

impl Default for GifsConfig {
    fn default() -> Self {
        GifsConfig {
            api_key: String::new(),
            base_url: "https://tenor.googleapis.com/v2".into(),
            client_key: "chatalot".into(),
            content_filter: "medium".into(),
            media_origins: vec!["https://media.tenor.com".into()],
            allow: Vec::new(),
            timeout_ms: 5000,
            max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// `[link_previews]`: the server's fetcher of link previews (docs/api.md "Link previews").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkPreviewsConfig {
    /// Whether the server fetches previews at all.
    pub enabled: bool,
    /// Addresses (`ip:port`) the fetcher may reach although they are not public (an intranet
    /// wiki, say). Empty by default: only public addresses on ports 80 and 443.
    pub allow: Vec<String>,
    /// The whole fetch, redirects included, milliseconds.
    pub timeout_ms: u64,
    /// The most bytes of a page read.
    pub max_bytes: u64,
    /// Previews remembered, and for how long, seconds.
    pub cache_entries: usize,
    pub cache_secs: u64,
}

impl Default for LinkPreviewsConfig {
    fn default() -> Self {
        LinkPreviewsConfig {
            enabled: true,
            allow: Vec::new(),
            timeout_ms: 5000,
            max_bytes: 512 * 1024,
            cache_entries: 1000,
            cache_secs: 3600,
        }
    }
}

/// `[files]`: reclaiming the space of files (docs/e2e.md 19.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// A file no message names this long after its upload is deleted, seconds.
    pub unclaimed_secs: u64,
    /// A blob no file names is deleted once it is this old, seconds.
    pub orphan_grace_secs: u64,
    /// How often reclamation runs, seconds (0: never).
    pub reclaim_interval_secs: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            unclaimed_secs: 24 * 3600,
            orphan_grace_secs: 3600,
            reclaim_interval_secs: 600,
        }
    }
}

/// `[realtime]`: the WebSocket gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RealtimeSection {
    /// Seconds a new connection has to authenticate.
    pub auth_timeout_secs: u64,
    /// Seconds between server pings; clients should send something this often.
    pub heartbeat_secs: u64,
    /// Seconds of silence after which a connection is closed.
    pub idle_timeout_secs: u64,
    /// Most WebSocket sessions per user.
    pub max_sessions_per_user: usize,
    /// Frames queued for one connection before it counts as a slow reader and is dropped.
    pub outbox_frames: usize,
    /// Bytes of frames queued for one connection before it counts as a slow reader.
    pub outbox_bytes: usize,
    /// Seconds queued frames may wait without the socket taking any before the connection is
    /// closed as a slow reader.
    pub write_timeout_secs: u64,
    /// Client frames per connection: bucket size and refill per second.
    pub frames_burst: u32,
    pub frames_per_sec: u32,
    /// Unauthenticated sockets allowed per client address.
    pub unauthenticated_per_ip: usize,
    /// Seconds without activity after which a user shows as idle.
    pub auto_idle_secs: u64,
}

impl Default for RealtimeSection {
    fn default() -> Self {
        RealtimeSection {
            auth_timeout_secs: 10,
            heartbeat_secs: 30,
            idle_timeout_secs: 90,
            max_sessions_per_user: 8,
            outbox_frames: 512,
            outbox_bytes: 1024 * 1024,
            write_timeout_secs: 15,
            frames_burst: 60,
            frames_per_sec: 20,
            unauthenticated_per_ip: 32,
            auto_idle_secs: 300,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// Name shown to users.
    pub instance_name: String,
    /// Where state lives: the embedded database, secrets.
    pub data_dir: PathBuf,
    /// Directory of the built web app; a built-in page is served when it does not exist.
    pub web_root: PathBuf,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Peers (address or CIDR) whose `X-Forwarded-For` header is believed.
    pub trusted_proxies: Vec<String>,
    /// Send `Strict-Transport-Security` (enable when served over HTTPS).
    pub hsts: bool,
    /// Seconds to let requests finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Seconds data sent on a connection may stay unacknowledged, or unsent because the peer
    /// stopped reading, before the kernel drops the connection (TCP_USER_TIMEOUT); 0 leaves the
    /// system's default (many minutes).
    pub tcp_user_timeout_secs: u64,
    /// Bearer token `GET /metrics` requires; unset: metrics are served to loopback and trusted
    /// proxies only.
    pub metrics_token: Option<String>,
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// PostgreSQL URL. Empty: run the embedded cluster in `<data_dir>/postgres`.
    pub url: Option<String>,
    /// Largest number of pooled connections.
    pub pool_size: usize,
    /// Seconds to wait for a connection before answering 503.
    pub timeout_secs: u64,
    /// Directory of PostgreSQL's server binaries for the embedded cluster; found automatically
    /// when empty.
    pub pg_bin_dir: Option<PathBuf>,
    /// File holding the database password, added to `url` when connecting (keeps it out of the
    /// URL and of process listings).
    pub password_file: Option<PathBuf>,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Registration mode used until an admin changes it in the instance settings.
    pub registration_mode: RegistrationMode,
    /// Lifetime of access tokens, seconds.
    pub access_token_ttl_secs: u64,
    /// A session ends after this many days without a refresh.
    pub session_ttl_days: u64,
    /// Argon2id memory cost in KiB.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    pub argon2_iterations: u32,
    /// Password hashes computed at once; 0 means one per CPU core.
    pub hash_concurrency: usize,
    /// File holding the token signing key; default `<data_dir>/secrets/token.key`.
    pub token_key_file: Option<PathBuf>,
    /// File holding the key that seals TOTP secrets; default `<data_dir>/secrets/totp.key`.
    pub totp_key_file: Option<PathBuf>,
    /// The setup token that makes the first owner, instead of a random one printed at start
    /// (for scripted installs); 16 to 128 visible ASCII characters.
    pub setup_token: Option<String>,
}

/// `[limits]`: token buckets. `*_burst` is the bucket size, `*_per_minute` its refill rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Account requests (register, log in, refresh, recover) per client IP.
    pub auth_ip_burst: u32,
    pub auth_ip_per_minute: u32,
    /// Registrations per client IP.
    pub register_ip_burst: u32,
    pub register_ip_per_hour: u32,
    /// Failed logins for one account from one IP.
    pub login_fail_ip_burst: u32,
    pub login_fail_ip_per_minute: u32,
    /// Failed logins for one account from anywhere (known devices are exempt).
    pub login_fail_account_burst: u32,
    pub login_fail_account_per_minute: u32,
    /// Authenticated requests per user.
    pub user_burst: u32,
    pub user_per_minute: u32,
    /// Largest JSON body, bytes.
    pub json_body_bytes: usize,
    /// Prekey bundles one user may claim of another user (each bundle takes a token).
    pub key_claim_burst: u32,
    pub key_claim_per_hour: u32,
    /// New DMs and group DMs one user may open (reopening one costs nothing).
    pub dm_create_burst: u32,
    pub dm_create_per_hour: u32,
    /// Messages (edits included) one user may send per UTC day, and their bytes.
    pub messages_per_day: u64,
    pub message_bytes_per_day: u64,
    /// Most chunks of one account's encrypted key backup.
    pub key_backup_chunks: u64,
    /// Most bytes of one account's encrypted key backup.
    pub key_backup_bytes: u64,
    /// The largest file one upload may store, bytes.
    pub file_upload_bytes: u64,
    /// Bytes of files one user may have stored.
    pub file_quota_bytes: u64,
    /// Bytes of files the whole instance may hold (0: bounded only by the disk).
    pub file_instance_bytes: u64,
    /// Public images (avatars, banners, icons, emoji) one user may upload.
    pub image_upload_burst: u32,
    pub image_upload_per_hour: u32,
    /// Downloads of files per user, and of public images per client IP.
    pub download_burst: u32,
    pub download_per_minute: u32,
    /// Link previews one user may ask for.
    pub preview_burst: u32,
    pub preview_per_minute: u32,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `chatalot_server=debug,info`.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            instance_name: "Chatalot".into(),
            data_dir: PathBuf::from("data"),
            web_root: PathBuf::from("frontend/dist"),
            workers: 0,
            trusted_proxies: Vec::new(),
            hsts: false,
            shutdown_timeout_secs: 10,
            tcp_user_timeout_secs: 30,
            metrics_token: None,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            pool_size: 16,
            timeout_secs: 5,
            pg_bin_dir: None,
            password_file: None,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            registration_mode: RegistrationMode::InviteOnly,
            access_token_ttl_secs: 900,
            session_ttl_days: 30,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            hash_concurrency: 0,
            token_key_file: None,
            totp_key_file: None,
            setup_token: None,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            auth_ip_burst: 30,
            auth_ip_per_minute: 30,
            register_ip_burst: 5,
            register_ip_per_hour: 10,
            login_fail_ip_burst: 5,
            login_fail_ip_per_minute: 2,
            login_fail_account_burst: 20,
            login_fail_account_per_minute: 4,
            user_burst: 300,
            user_per_minute: 1200,
            json_body_bytes: 64 * 1024,
            key_claim_burst: 20,
            key_claim_per_hour: 60,
            dm_create_burst: 10,
            dm_create_per_hour: 30,
            messages_per_day: 20_000,
            message_bytes_per_day: 512 * 1024 * 1024,
            key_backup_chunks: 100_000,
            key_backup_bytes: 256 * 1024 * 1024,
            file_upload_bytes: 100 * 1024 * 1024,
            file_quota_bytes: 1024 * 1024 * 1024,
            file_instance_bytes: 0,
            image_upload_burst: 20,
            image_upload_per_hour: 60,
            download_burst: 300,
            download_per_minute: 600,
            preview_burst: 30,
            preview_per_minute: 60,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Every environment variable read, with the key it sets. `DATABASE_URL` also sets
/// `database.url`.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("CHATALOT_BIND", "server.bind"),
    ("CHATALOT_INSTANCE_NAME", "server.instance_name"),
    ("CHATALOT_DATA_DIR", "server.data_dir"),
    ("CHATALOT_WEB_ROOT", "server.web_root"),
    ("CHATALOT_WORKERS", "server.workers"),
    ("CHATALOT_TRUSTED_PROXIES", "server.trusted_proxies"),
    ("CHATALOT_HSTS", "server.hsts"),
    (
        "CHATALOT_SHUTDOWN_TIMEOUT_SECS",
        "server.shutdown_timeout_secs",
    ),
    ("CHATALOT_METRICS_TOKEN", "server.metrics_token"),
    ("CHATALOT_GIFS_API_KEY", "gifs.api_key"),
    ("DATABASE_URL", "database.url"),
    ("CHATALOT_DATABASE_URL", "database.url"),
    ("CHATALOT_DATABASE_POOL_SIZE", "database.pool_size"),
    ("CHATALOT_DATABASE_TIMEOUT_SECS", "database.timeout_secs"),
    ("CHATALOT_PG_BIN_DIR", "database.pg_bin_dir"),
    ("CHATALOT_DATABASE_PASSWORD_FILE", "database.password_file"),
    ("CHATALOT_REGISTRATION_MODE", "auth.registration_mode"),
    (
        "CHATALOT_ACCESS_TOKEN_TTL_SECS",
        "auth.access_token_ttl_secs",
    ),
    ("CHATALOT_SESSION_TTL_DAYS", "auth.session_ttl_days"),
    ("CHATALOT_TOKEN_KEY_FILE", "auth.token_key_file"),
    ("CHATALOT_TOTP_KEY_FILE", "auth.totp_key_file"),
    ("CHATALOT_SETUP_TOKEN", "auth.setup_token"),
    ("CHATALOT_LOG_FORMAT", "log.format"),
    ("CHATALOT_LOG", "log.level"),
];

impl Config {
    /// Defaults, overlaid by the file at `path` (if given), overlaid by `env`, then validated.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML file; unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text; unknown keys are errors.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies the variables of `env` that `ENV_VARS` lists, in the order of that list (so
    /// `CHATALOT_DATABASE_URL` wins over `DATABASE_URL`).
    fn apply_env(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        for (name, key) in ENV_VARS {
            let Some(value) = env.get(*name) else {
                continue;
            };
            let name = (*name).to_owned();
            let bad = |message: String| ConfigError::Env {
                name: name.clone(),
                message,
            };
            let value = value.trim().to_owned();
            match *key {
                "server.bind" => {
                    self.server.bind = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "server.instance_name" => self.server.instance_name = value,
                "server.data_dir" => self.server.data_dir = value.into(),
                "server.web_root" => self.server.web_root = value.into(),
                "server.workers" => self.server.workers = parse_num(&value).map_err(bad)?,
                "server.trusted_proxies" => {
                    self.server.trusted_proxies = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                "server.hsts" => self.server.hsts = parse_bool(&value).map_err(bad)?,
                "server.shutdown_timeout_secs" => {
                    self.server.shutdown_timeout_secs = parse_num(&value).map_err(bad)?
                }
                "server.metrics_token" => {
                    self.server.metrics_token = (!value.is_empty()).then_some(value)
                }
                "gifs.api_key" => self.gifs.api_key = value,
                // an empty variable leaves the URL of the file in place
                "database.url" if value.is_empty() => {}
                "database.url" => self.database.url = Some(value),
                "database.pool_size" => self.database.pool_size = parse_num(&value).map_err(bad)?,
                "database.timeout_secs" => {
                    self.database.timeout_secs = parse_num(&value).map_err(bad)?
                }
                "database.pg_bin_dir" => {
                    self.database.pg_bin_dir = (!value.is_empty()).then(|| value.into())
                }
                "database.password_file" => {
                    self.database.password_file = (!value.is_empty()).then(|| value.into())
                }
                "auth.registration_mode" => {
                    self.auth.registration_mode = parse_mode(&value).map_err(bad)?
                }
                "auth.access_token_ttl_secs" => {
                    self.auth.access_token_ttl_secs = parse_num(&value).map_err(bad)?
                }
                "auth.session_ttl_days" => {
                    self.auth.session_ttl_days = parse_num(&value).map_err(bad)?
                }
                "auth.token_key_file" => self.auth.token_key_file = Some(value.into()),
                "auth.totp_key_file" => self.auth.totp_key_file = Some(value.into()),
                "auth.setup_token" => self.auth.setup_token = Some(value),
                "log.format" => {
                    self.log.format = match value.as_str() {
                        "text" => LogFormat::Text,
                        "json" => LogFormat::Json,
                        _ => return Err(bad("expected `text` or `json`".into())),
                    }
                }
                "log.level" => self.log.level = value,
                other => unreachable_key(other),
            }
        }
        Ok(())
    }

    /// Checks ranges and formats that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let name = self.server.instance_name.trim();
        if name.is_empty()
            || name.chars().count() > chatalot_protocol::api::limits::INSTANCE_NAME_MAX
            || name.chars().any(char::is_control)
        {
            return invalid(
                "server.instance_name must be 1 to 64 characters, no control characters",
            );
        }
        for p in &self.server.trusted_proxies {
            parse_cidr(p).map_err(ConfigError::Invalid)?;
        }
        for a in &self.link_previews.allow {
            if a.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::Invalid(format!(
                    "link_previews.allow: {a:?} is not an ip:port address"
                )));
            }
        }
        let g = &self.gifs;
        if url::Url::parse(&g.base_url)
            .map(|u| !matches!(u.scheme(), "http" | "https"))
            .unwrap_or(true)
        {
            return invalid("gifs.base_url must be an http(s) address");
        }
        for o in &g.media_origins {
            match url::Url::parse(o) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.path() == "/" => {}
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "gifs.media_origins: {o:?} is not an origin such as https://media.tenor.com"
                    )))
                }
            }
        }
        for a in &g.allow {
            if a.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::Invalid(format!(
                    "gifs.allow: {a:?} is not an ip:port address"
                )));
            }
        }
        if !["off", "low", "medium", "high"].contains(&g.content_filter.as_str())
            || !(100..=60_000).contains(&g.timeout_ms)
            || !(1024..=64 * 1024 * 1024).contains(&g.max_bytes)
        {
            return invalid(
                "gifs: content_filter off, low, medium or high; timeout_ms 100 to 60000; max_bytes 1024 to 67108864",
            );
        }
        let lp = &self.link_previews;
        if !(100..=60_000).contains(&lp.timeout_ms)
            || !(1024..=16 * 1024 * 1024).contains(&lp.max_bytes)
            || lp.cache_entries > 1_000_000
        {
            return invalid(
                "link_previews: timeout_ms 100 to 60000, max_bytes 1024 to 16777216, cache_entries at most 1000000",
            );
        }
        if let Some(t) = &self.server.metrics_token {
            if t.chars().count() < 16 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return invalid(
                    "server.metrics_token must be at least 16 characters, without spaces",
                );
            }
        }
        if self.database.password_file.is_some() && self.database.url.is_none() {
            return invalid("database.password_file needs database.url (DATABASE_URL)");
        }
        if !(1..=1024).contains(&self.database.pool_size) {
            return invalid("database.pool_size must be between 1 and 1024");
        }
        if !(1..=300).contains(&self.database.timeout_secs) {
            return invalid("database.timeout_secs must be between 1 and 300");
        }
        if !(1..=86_400).contains(&self.auth.access_token_ttl_secs) {
            return invalid("auth.access_token_ttl_secs must be between 1 and 86400");
        }
        if !(1..=365).contains(&self.auth.session_ttl_days) {
            return invalid("auth.session_ttl_days must be between 1 and 365");
        }
        if !(8..=4 * 1024 * 1024).contains(&self.auth.argon2_memory_kib) {
            return invalid("auth.argon2_memory_kib must be between 8 and 4194304");
        }
        if !(1..=100).contains(&self.auth.argon2_iterations) {
            return invalid("auth.argon2_iterations must be between 1 and 100");
        }
        let l = &self.limits;
        for (v, n) in [
            (l.auth_ip_burst, "limits.auth_ip_burst"),
            (l.auth_ip_per_minute, "limits.auth_ip_per_minute"),
            (l.register_ip_burst, "limits.register_ip_burst"),
            (l.register_ip_per_hour, "limits.register_ip_per_hour"),
            (l.login_fail_ip_burst, "limits.login_fail_ip_burst"),
            (
                l.login_fail_ip_per_minute,
                "limits.login_fail_ip_per_minute",
            ),
            (
                l.login_fail_account_burst,
                "limits.login_fail_account_burst",
            ),
            (
                l.login_fail_account_per_minute,
                "limits.login_fail_account_per_minute",
            ),
            (l.user_burst, "limits.user_burst"),
            (l.user_per_minute, "limits.user_per_minute"),
            (l.key_claim_burst, "limits.key_claim_burst"),
            (l.key_claim_per_hour, "limits.key_claim_per_hour"),
            (l.dm_create_burst, "limits.dm_create_burst"),
            (l.dm_create_per_hour, "limits.dm_create_per_hour"),
            (l.image_upload_burst, "limits.image_upload_burst"),
            (l.image_upload_per_hour, "limits.image_upload_per_hour"),
            (l.download_burst, "limits.download_burst"),
            (l.download_per_minute, "limits.download_per_minute"),
            (l.preview_burst, "limits.preview_burst"),
            (l.preview_per_minute, "limits.preview_per_minute"),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid(format!("{n} must be at least 1")));
            }
        }
        if l.key_backup_chunks == 0 || l.key_backup_bytes < 1024 * 1024 {
            return invalid(
                "limits.key_backup_chunks must be at least 1 and limits.key_backup_bytes at least 1048576",
            );
        }
        if l.file_upload_bytes < 1024 || l.file_quota_bytes < 1024 {
            return invalid(
                "limits.file_upload_bytes and limits.file_quota_bytes must be at least 1024",
            );
        }
        if l.messages_per_day == 0 || l.message_bytes_per_day < 64 * 1024 {
            return invalid(
                "limits.messages_per_day must be at least 1 and limits.message_bytes_per_day at least 65536",
            );
        }
        if !(1024..=16 * 1024 * 1024).contains(&l.json_body_bytes) {
            return invalid("limits.json_body_bytes must be between 1024 and 16777216");
        }
        if let Some(t) = &self.auth.setup_token {
            if !(16..=128).contains(&t.len()) || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return invalid("auth.setup_token must be 16 to 128 visible ASCII characters");
            }
        }
        if self.server.tcp_user_timeout_secs > 3600 {
            return invalid("server.tcp_user_timeout_secs must be between 0 and 3600");
        }
        let r = &self.realtime;
        for (v, lo, hi, n) in [
            (r.auth_timeout_secs, 1, 300, "realtime.auth_timeout_secs"),
            (r.heartbeat_secs, 1, 3600, "realtime.heartbeat_secs"),
            (r.idle_timeout_secs, 2, 7200, "realtime.idle_timeout_secs"),
            (r.auto_idle_secs, 1, 86_400, "realtime.auto_idle_secs"),
            (
                r.max_sessions_per_user as u64,
                1,
                1000,
                "realtime.max_sessions_per_user",
            ),
            (
                r.outbox_frames as u64,
                16,
                1_000_000,
                "realtime.outbox_frames",
            ),
            (
                r.outbox_bytes as u64,
                64 * 1024,
                256 * 1024 * 1024,
                "realtime.outbox_bytes",
            ),
            (r.write_timeout_secs, 1, 600, "realtime.write_timeout_secs"),
            (
                u64::from(r.frames_burst),
                1,
                100_000,
                "realtime.frames_burst",
            ),
            (
                u64::from(r.frames_per_sec),
                1,
                100_000,
                "realtime.frames_per_sec",
            ),
            (
                r.unauthenticated_per_ip as u64,
                1,
                1_000_000,
                "realtime.unauthenticated_per_ip",
            ),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(ConfigError::Invalid(format!(
                    "{n} must be between {lo} and {hi}"
                )));
            }
        }
        if r.idle_timeout_secs <= r.heartbeat_secs {
            return invalid(
                "realtime.idle_timeout_secs must be longer than realtime.heartbeat_secs",
            );
        }
        Ok(())
    }

    /// The gateway settings in the form the actors take.
    pub fn realtime(&self) -> chatalot_actors::RealtimeConfig {
        use std::time::Duration;
        let r = &self.realtime;
        chatalot_actors::RealtimeConfig {
            auth_timeout: Duration::from_secs(r.auth_timeout_secs),
            heartbeat: Duration::from_secs(r.heartbeat_secs),
            idle_timeout: Duration::from_secs(r.idle_timeout_secs),
            max_sessions_per_user: r.max_sessions_per_user,
            outbox_frames: r.outbox_frames,
            outbox_bytes: r.outbox_bytes,
            write_timeout: Duration::from_secs(r.write_timeout_secs),
            frames_burst: r.frames_burst,
            frames_per_sec: r.frames_per_sec,
            auto_idle: Duration::from_secs(r.auto_idle_secs),
            actor_idle: Duration::from_secs(120),
            arbiters: std::thread::available_parallelism().map_or(2, |n| n.get()),
            messages_per_day: self.limits.messages_per_day,
            message_bytes_per_day: self.limits.message_bytes_per_day,
        }
    }

    /// The password in `database.password_file`, without trailing line breaks.
    pub fn database_password(&self) -> Result<Option<String>, ConfigError> {
        let Some(path) = &self.database.password_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let password = text.trim_end_matches(['\n', '\r']).to_owned();
        if password.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "database password file {} is empty",
                path.display()
            )));
        }
        Ok(Some(password))
    }

    /// Where the token signing key lives.
    /// The file store's directory.
    pub fn files_dir(&self) -> PathBuf {
        self.server.data_dir.join("files")
    }

    pub fn token_key_path(&self) -> PathBuf {
        self.auth
            .token_key_file
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("secrets").join("token.key"))
    }

    /// Where the TOTP sealing key lives.
    pub fn totp_key_path(&self) -> PathBuf {
        self.auth
            .totp_key_file
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("secrets").join("totp.key"))
    }
}

/// `url` with `password` added: a `password=` pair for a key-value connection string, the
/// percent-encoded password in the user part of a `postgres://` URL.
pub fn with_password(url: &str, password: &str) -> String {
    let Some(scheme_end) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .map(|rest| url.len() - rest.len())
    else {
        let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
        return format!("{url} password='{quoted}'");
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (user, host) = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            (user, &authority[at + 1..])
        }
        None => ("", authority),
    };
    let mut encoded = String::new();
    for b in password.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!(
        "{}{user}:{encoded}@{host}{}",
        &url[..scheme_end],
        &rest[authority_end..]
    )
}

fn unreachable_key(key: &str) -> ! {
    // ENV_VARS and the match above list the same keys; a test keeps them in step.
    panic!("environment key {key} has no handler")
}

fn parse_num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("expected a number, got {v:?}"))
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {v:?}")),
    }
}

fn parse_mode(v: &str) -> Result<RegistrationMode, String> {
    match v {
        "open" => Ok(RegistrationMode::Open),
        "invite_only" => Ok(RegistrationMode::InviteOnly),
        "closed" => Ok(RegistrationMode::Closed),
        _ => Err(format!("expected open, invite_only or closed, got {v:?}")),
    }
}

/// Parses `addr` or `addr/prefix` into a network address and prefix length.
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("trusted proxy {s:?} is not an IP address or CIDR"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("trusted proxy {s:?} has a bad prefix length"))?,
        None => max,
    };
    Ok((addr, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_validates() {
        let text = include_str!("../../deploy/config.example.toml");
        let config = Config::from_toml(text).expect("example parses");
        config.validate().expect("example validates");
    }

    #[test]
    fn example_config_documents_every_env_var() {
        let text = include_str!("../../deploy/config.example.toml");
        for (name, _) in ENV_VARS {
            assert!(
                text.contains(name),
                "{name} missing from config.example.toml"
            );
        }
    }

    #[test]
    fn every_env_var_is_applied() {
        for (name, key) in ENV_VARS {
            let value = match *key {
                "server.bind" => "0.0.0.0:9000",
                "server.workers" | "database.pool_size" | "database.timeout_secs" => "3",
                "server.shutdown_timeout_secs" | "auth.access_token_ttl_secs" => "3",
                "auth.session_ttl_days" => "3",
                "server.hsts" => "true",
                "auth.registration_mode" => "open",
                "log.format" => "json",
                "server.trusted_proxies" => "10.0.0.0/8",
                "server.metrics_token" => "0123456789abcdef0123",
                _ => "x",
            };
            let mut c = Config::default();
            c.apply_env([(name.to_string(), value.to_string())])
                .expect("applies");
        }
    }

    #[test]
    fn chatalot_database_url_wins_and_empty_values_are_ignored() {
        let mut c = Config::default();
        c.database.url = Some("from-file".into());
        c.apply_env([("DATABASE_URL".to_string(), String::new())])
            .expect("applies");
        assert_eq!(c.database.url.as_deref(), Some("from-file"));
        for order in [[0, 1], [1, 0]] {
            let vars = [
                ("DATABASE_URL".to_string(), "plain".to_string()),
                ("CHATALOT_DATABASE_URL".to_string(), "specific".to_string()),
            ];
            let mut c = Config::default();
            c.apply_env(order.map(|i| vars[i].clone()))
                .expect("applies");
            assert_eq!(c.database.url.as_deref(), Some("specific"));
        }
    }

    #[test]
    fn passwords_are_added_to_both_forms_of_url() {
        assert_eq!(
            with_password("host=db user=chatalot dbname=chatalot", "p'w\\x"),
            "host=db user=chatalot dbname=chatalot password='p\\'w\\\\x'"
        );
        assert_eq!(
            with_password(
                "postgres://chatalot@db:5432/chatalot?sslmode=disable",
                "a b/c"
            ),
            "postgres://chatalot:a%20b%2Fc@db:5432/chatalot?sslmode=disable"
        );
        assert_eq!(
            with_password("postgresql://u:old@db/x", "new"),
            "postgresql://u:new@db/x"
        );
        assert_eq!(with_password("postgres://db", "pw"), "postgres://:pw@db");
    }

    #[test]
    fn metrics_token_and_password_file_are_checked() {
        let mut c = Config::default();
        c.server.metrics_token = Some("short".into());
        assert!(c.validate().is_err());
        c.server.metrics_token = Some("0123456789abcdef".into());
        assert!(c.validate().is_ok());
        c.database.password_file = Some("/nonexistent".into());
        assert!(c.validate().is_err(), "a password file needs a URL");
        c.database.url = Some("host=db".into());
        assert!(c.validate().is_ok());
        assert!(c.database_password().is_err(), "a missing file is an error");
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = Config::default();
        assert!(c
            .apply_env([("CHATALOT_WORKERS".into(), "many".into())])
            .is_err());
        assert!(Config::from_toml("[server]\nbogus = 1\n").is_err());
        let mut c = Config::default();
        c.database.pool_size = 0;
        assert!(c.validate().is_err());
        let mut c = Config::default();
        c.server.trusted_proxies = vec!["10.0.0.0/40".into()];
        assert!(c.validate().is_err());
    }
}
