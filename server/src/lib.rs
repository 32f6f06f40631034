//! The Chatalot server: REST API and web app in one actix-web server over a PostgreSQL pool.
//!
//! `run` is the entry point; the binary (`main.rs`) adds configuration loading, logging and the
//! embedded database, and tests call `run` directly on a port-0 listener.
#![forbid(unsafe_code)]

mod access;
mod auth;
pub mod backup;
mod codes;
pub mod config;
mod convert;
pub mod embedded_pg;
mod error;
mod extract;
pub mod gifs;
pub mod imaging;
mod limits;
mod live;
mod media;
pub mod metrics;
pub mod openapi;
mod password;
pub mod previews;
pub mod reclaim;
pub mod routes;
pub mod secrets;
mod state;
mod tokens;
pub mod totp;
mod validate;
mod ws;

/// Public images decoded at once: two, each bounded to 200 MiB (`imaging`).
const IMAGING_AT_ONCE: usize = 2;

use crate::config::Config;
use crate::state::{AppState, Limiters};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpServer};
use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

pub use error::ApiError;

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error("database: {0}")]
    Storage(#[from] chatalot_storage::StorageError),
    #[error("{0}")]
    Setup(String),
    #[error("http server: {0}")]
    Io(#[from] std::io::Error),
}

/// While the instance has no owner, stores the hash of a setup token (the configured one, or
/// a fresh random one that goes to the log with a link) for the owner's registration; once
/// there is an owner, forgets it.
async fn prepare_setup(db: &chatalot_storage::Db, config: &Config) -> Result<(), ServerError> {
    use chatalot_storage::accounts::SETUP_TOKEN_KEY;
    use chatalot_storage::{settings, users};
    let mut conn = db
        .conn()
        .await
        .map_err(|e| ServerError::Setup(e.to_string()))?;
    let setup = async {
        if users::owner_exists(&mut conn).await? {
            settings::delete(&mut conn, SETUP_TOKEN_KEY).await?;
            return Ok(None);
        }
        let (token, printed) = match &config.auth.setup_token {
            Some(t) => (t.clone(), false),
            None => (codes::new_setup_token(), true),
        };
        let hash: String = codes::hash_code(&token)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        settings::upsert(&mut conn, SETUP_TOKEN_KEY, &hash).await?;
        Ok::<_, chatalot_storage::StorageError>(Some((token, printed)))
    };
    match setup.await.map_err(|e| ServerError::Setup(e.to_string()))? {
        Some((token, true)) => {
            let bind = config.server.bind;
            let host = match bind.ip() {
                ip if ip.is_unspecified() || ip.is_loopback() => "localhost".to_owned(),
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                ip => ip.to_string(),
            };
            tracing::warn!(
                target: "chatalot::setup",
                "this instance has no owner yet: register the owner account with the setup \
                 token {token}, or open http://{host}:{port}/#setup={token}",
                port = bind.port()
            );
        }
        Some((_, false)) => tracing::warn!(
            target: "chatalot::setup",
            "this instance has no owner yet: register the owner account with the configured \
             setup token (auth.setup_token)"
        ),
        None => {}
    }
    Ok(())
}

/// Sets TCP_USER_TIMEOUT on the listening socket; accepted connections inherit it, so the
/// kernel drops a connection whose peer has stopped reading (a zero window) or vanished once
/// data has waited that long, and the HTTP layer sees the error instead of waiting for ever.
fn set_user_timeout(listener: &TcpListener, secs: u64) -> std::io::Result<()> {
    if secs == 0 {
        return Ok(());
    }
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
    socket2::SockRef::from(listener).set_tcp_user_timeout(Some(Duration::from_secs(secs)))?;
    Ok(())
}

/// Serves on `listener` until `shutdown` completes, then drains in-flight requests (up to
/// `server.shutdown_timeout_secs`) and returns. `config.database.url` must be set: the binary
/// fills it in from the embedded cluster when the operator gave none.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    metrics::mark_start();
    let url = config
        .database
        .url
        .clone()
        .ok_or_else(|| ServerError::Setup("no database URL".into()))?;
    let applied = chatalot_storage::run_migrations(&url)?;
    tracing::info!(applied, "database migrations up to date");
    let db = chatalot_storage::Db::new(
        &url,
        config.database.pool_size,
        Duration::from_secs(config.database.timeout_secs),
    )?;

    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let token_key = secrets::load_or_create::<32>(&config.token_key_path())?;
    let totp_key = secrets::load_or_create::<32>(&config.totp_key_path())?;
    let tokens = tokens::Tokens::new(
        &token_key,
        Duration::from_secs(config.auth.access_token_ttl_secs),
    )
    .map_err(|e| ServerError::Setup(e.to_string()))?;
    warm_revocations(&db, &tokens).await?;
    prepare_setup(&db, &config).await?;
    let files = chatalot_storage::blobs::LocalBlobs::open(config.files_dir())
        .await
        .map_err(|e| ServerError::Setup(format!("file store: {e}")))?;
    let hash_concurrency = match config.auth.hash_concurrency {
        0 => cores,
        n => n,
    };
    let passwords = password::Passwords::new(
        config.auth.argon2_memory_kib,
        config.auth.argon2_iterations,
        hash_concurrency,
    )
    .map_err(ServerError::Setup)?;
    let realtime = chatalot_actors::registry::Realtime::start(
        db.clone(),
        std::sync::Arc::new(tokens.clone()),
        config.realtime(),
    );
    let registry = realtime.registry.clone();
    reclaim::spawn(db.clone(), files.clone(), config.files.clone());
    let state = web::Data::new(AppState {
        hub: realtime.hub.clone(),
        pre_auth: limits::PreAuthCounter::default(),
        client_ip: limits::ClientIpResolver::new(&config.server.trusted_proxies)
            .map_err(ServerError::Setup)?,
        limits: Limiters::new(&config.limits),
        totp_sealer: totp::Sealer::new(totp_key),
        tokens,
        passwords,
        db,
        files,
        imaging: std::sync::Arc::new(tokio::sync::Semaphore::new(IMAGING_AT_ONCE)),
        previews: std::sync::Arc::new(previews::Previews::new(&config.link_previews)),
        gifs: std::sync::Arc::new(gifs::Gifs::new(&config.gifs)),
        config: config.clone(),
    });

    let workers = match config.server.workers {
        0 => cores,
        n => n,
    };
    let json_limit = config.limits.json_body_bytes;
    let web_root = config.server.web_root.clone();
    let hsts = config.server.hsts;
    let addr = listener.local_addr()?;
    set_user_timeout(&listener, config.server.tcp_user_timeout_secs)?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(security_headers(hsts))
            .wrap(actix_web::middleware::Logger::new("%r %s %Dms").log_target("chatalot::http"))
            .wrap(actix_web::middleware::from_fn(metrics::record))
            .route("/metrics", web::get().to(metrics::get_metrics))
            .configure(|cfg| routes::configure(cfg, json_limit, openapi::json))
            .configure(|cfg| routes::web::configure(cfg, web_root.clone()))
    })
    .workers(workers)
    .shutdown_timeout(config.server.shutdown_timeout_secs)
    .disable_signals()
    .listen(listener)?
    .run();
    tracing::info!(%addr, workers, "listening");
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: closing WebSockets, draining requests");
        // every connection gets a closing frame; sends in flight finish or are refused
        let closed = registry
            .send(chatalot_actors::registry::Shutdown)
            .await
            .unwrap_or(0);
        tracing::info!(closed, "WebSocket sessions closed");
        handle.stop(true).await;
    });
    server.await?;
    realtime.stop();
    tracing::info!("server stopped");
    Ok(())
}

/// Loads sessions revoked recently enough that their access tokens could still be unexpired.
async fn warm_revocations(
    db: &chatalot_storage::Db,
    tokens: &tokens::Tokens,
) -> Result<(), ServerError> {
    let mut conn = db.conn().await?;
    let keep = tokens.revocations().keep_for();
    let since = time::OffsetDateTime::now_utc() - keep;
    let ids = chatalot_storage::sessions::list_revoked_since(&mut conn, since, 1_000_000).await?;
    tokens.revocations().insert_all(ids);
    Ok(())
}

/// Headers on every response: a strict CSP (no inline or eval'd script), no framing, no
/// sniffing, no referrer, and HSTS when served over TLS.
fn security_headers(hsts: bool) -> DefaultHeaders {
    let mut h = DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
             font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add((
            "Permissions-Policy",
            "camera=(self), microphone=(self), geolocation=(), payment=()",
        ))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"));
    if hsts {
        h = h.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ));
    }
    h
}
