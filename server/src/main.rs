//! `chatalot-server [--config FILE]`: loads the configuration, starts the embedded PostgreSQL
//! cluster unless a database URL is configured, and serves until SIGTERM or Ctrl-C.

use chatalot_server::config::{Config, LogFormat};
use chatalot_server::embedded_pg::{self, EmbeddedPostgres};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(message) => {
            eprintln!("chatalot-server: {message}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("chatalot-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config() -> Result<Config, String> {
    let mut args = std::env::args().skip(1);
    let mut path: Option<PathBuf> = std::env::var_os("CHATALOT_CONFIG").map(PathBuf::from);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                path = Some(args.next().ok_or("--config needs a file")?.into());
            }
            "--help" | "-h" => {
                println!(
                    "usage: chatalot-server [--config FILE]\n\n\
                     Configuration: defaults, then FILE (or $CHATALOT_CONFIG), then environment\n\
                     variables; see deploy/config.example.toml. Without DATABASE_URL the server\n\
                     runs its own PostgreSQL cluster in <data_dir>/postgres."
                );
                std::process::exit(0);
            }
            "--version" | "-V" => {
                println!("chatalot-server {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Config::load(path.as_deref(), std::env::vars()).map_err(|e| e.to_string())
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn serve(mut config: Config) -> anyhow::Result<()> {
    let embedded = if config.database.url.is_none() {
        let root = config.server.data_dir.join("postgres");
        let pg = EmbeddedPostgres::start(&root, config.database.pg_bin_dir.as_deref(), true)?;
        config.database.url = Some(pg.url(embedded_pg::DATABASE));
        tracing::info!(dir = %root.display(), "embedded PostgreSQL started");
        Some(pg)
    } else {
        None
    };
    let result = (|| -> anyhow::Result<()> {
        let listener = TcpListener::bind(config.server.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.bind))?;
        actix_web::rt::System::new().block_on(chatalot_server::run(
            listener,
            config,
            shutdown_signal(),
        ))?;
        Ok(())
    })();
    if let Some(pg) = embedded {
        match pg.stop() {
            Ok(()) => tracing::info!("embedded PostgreSQL stopped"),
            Err(e) => tracing::warn!("embedded PostgreSQL did not stop cleanly: {e}"),
        }
    }
    result
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
