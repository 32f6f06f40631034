//! `chatalot-server [--config FILE] [COMMAND]`: loads the configuration, starts the embedded
//! PostgreSQL cluster unless a database URL is configured, and serves until SIGTERM or Ctrl-C;
//! or runs one of the maintenance commands (backup, verify-backup, restore, healthcheck).

use chatalot_server::backup;
use chatalot_server::config::{with_password, Config, LogFormat};
use chatalot_server::embedded_pg::{self, EmbeddedPostgres};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

/// What the binary was asked to do.
enum Task {
    Serve,
    Backup { out: PathBuf },
    VerifyBackup { dir: PathBuf },
    Restore { dir: PathBuf, force: bool },
    Healthcheck,
}

const USAGE: &str = "usage: chatalot-server [--config FILE] [COMMAND]

Commands:
  (none)                  serve the API and the web app
  backup --out DIR        write a backup (database dump, stored files, keys, manifest) to DIR
  verify-backup DIR       check a backup: checksums, and a trial restore into a scratch database
  restore DIR [--force]   load a backup into the configured database and data directory;
                          a target holding data is refused unless --force
  healthcheck             exit 0 when the server on server.bind answers /api/v1/ready

Configuration: defaults, then FILE (or $CHATALOT_CONFIG), then environment variables; see
deploy/config.example.toml. Without DATABASE_URL the server runs its own PostgreSQL cluster in
<data_dir>/postgres.";

fn main() -> ExitCode {
    let (config, task) = match load_config() {
        Ok(c) => c,
        Err(message) => {
            eprintln!("chatalot-server: {message}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let serving = matches!(task, Task::Serve);
    let result = match task {
        Task::Serve => serve(config).map(|()| None),
        Task::Backup { out } => backup::backup(&config, &out)
            .map(|m| {
                let s = summary(&m);
                Some(format!("backup written to {}: {s}", out.display()))
            })
            .map_err(backup_error),
        Task::VerifyBackup { dir } => backup::verify(&config, &dir)
            .map(|s| Some(format!("backup {} verified: {s}", dir.display())))
            .map_err(backup_error),
        Task::Restore { dir, force } => backup::restore(&config, &dir, force)
            .map(|s| Some(format!("backup {} restored: {s}", dir.display())))
            .map_err(backup_error),
        Task::Healthcheck => healthcheck(&config).map(Some),
    };
    match result {
        Ok(message) => {
            if let Some(m) = message {
                println!("{m}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = e
                .downcast_ref::<backup::BackupError>()
                .map_or(1, backup::BackupError::exit_code);
            if serving {
                tracing::error!("{e:#}");
            }
            eprintln!("chatalot-server: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn backup_error(e: backup::BackupError) -> anyhow::Error {
    anyhow::Error::new(e)
}

fn summary(m: &backup::Manifest) -> String {
    let rows: u64 = m.tables.values().sum();
    format!(
        "{} tables, {rows} rows, {} files",
        m.tables.len(),
        m.files.len()
    )
}

fn load_config() -> Result<(Config, Task), String> {
    let mut args = std::env::args().skip(1);
    let mut path: Option<PathBuf> = std::env::var_os("CHATALOT_CONFIG").map(PathBuf::from);
    let mut command: Option<String> = None;
    let mut positional: Vec<String> = Vec::new();
    let mut out: Option<PathBuf> = None;
    let mut force = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                path = Some(args.next().ok_or("--config needs a file")?.into());
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--version" | "-V" => {
                println!("chatalot-server {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "--out" | "-o" if command.as_deref() == Some("backup") => {
                out = Some(args.next().ok_or("--out needs a directory")?.into());
            }
            "--force" if command.as_deref() == Some("restore") => force = true,
            "backup" | "verify-backup" | "restore" | "healthcheck" if command.is_none() => {
                command = Some(arg);
            }
            other if command.is_some() && !other.starts_with('-') => positional.push(arg),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let one_dir = |name: &str, positional: &[String]| match positional {
        [dir] if !dir.is_empty() => Ok(PathBuf::from(dir)),
        [] => Err(format!("{name} needs the backup directory (try --help)")),
        _ => Err(format!("{name} takes one backup directory (try --help)")),
    };
    let task = match command.as_deref() {
        None => Task::Serve,
        Some("backup") => {
            if !positional.is_empty() {
                return Err("backup takes its directory as --out DIR (try --help)".into());
            }
            Task::Backup {
                out: out.ok_or("backup needs --out DIR (try --help)")?,
            }
        }
        Some("verify-backup") => Task::VerifyBackup {
            dir: one_dir("verify-backup", &positional)?,
        },
        Some("restore") => Task::Restore {
            dir: one_dir("restore", &positional)?,
            force,
        },
        Some(_) => {
            if !positional.is_empty() {
                return Err("healthcheck takes no arguments (try --help)".into());
            }
            Task::Healthcheck
        }
    };
    let mut config = Config::load(path.as_deref(), std::env::vars()).map_err(|e| e.to_string())?;
    if let (Some(password), Some(url)) = (
        config.database_password().map_err(|e| e.to_string())?,
        config.database.url.as_deref(),
    ) {
        if matches!(task, Task::Serve) {
            config.database.url = Some(with_password(url, &password));
        }
    }
    Ok((config, task))
}

/// `GET /api/v1/ready` on the configured address (a wildcard address is reached over loopback).
fn healthcheck(config: &Config) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
    use std::time::Duration;
    let mut addr = config.server.bind;
    if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        addr = SocketAddr::new(ip, addr.port());
    }
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| anyhow::anyhow!("cannot reach {addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream
        .write_all(b"GET /api/v1/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = Vec::new();
    stream.take(4096).read_to_end(&mut head)?;
    let head = String::from_utf8_lossy(&head);
    let status = head.lines().next().unwrap_or("").to_owned();
    if status.split(' ').nth(1) == Some("200") {
        Ok(format!("{addr}: ready"))
    } else {
        anyhow::bail!("{addr} is not ready: {status:?}")
    }
}

/// The database driver prints every statement's parameters (password hashes, sealed secrets,
/// invite codes) at debug level: it is held at `info` whatever the filter says.
const QUIET_DRIVER: &str = "tokio_postgres=info";

fn init_tracing(config: &Config) {
    let level = format!("{},{QUIET_DRIVER}", config.log.level);
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("info,{QUIET_DRIVER}")));
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
