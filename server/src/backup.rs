//! Backups: `chatalot-server backup`, `verify-backup` and `restore`.
//!
//! A backup is a directory holding
//! - `database.dump`: `pg_dump` in custom format (one consistent snapshot of the database);
//! - `files/`: a copy of `<data_dir>/files` (taken after the dump, so every file the dump
//!   refers to is in it);
//! - `secrets/`: the token signing key and the TOTP sealing key;
//! - `manifest.json`: format, server version, creation time, the row count of every table in
//!   the dump, and the size and SHA-256 of every other file of the backup.
//!
//! PostgreSQL's own tools do the database work. Without a database URL they run against the
//! embedded cluster of the data directory (started for the command if it is not running, and
//! stopped again afterwards), as the cluster's owner; with one, against that server, with the
//! client programs found like the embedded cluster's binaries. The backup files themselves are
//! read and written by this process only: the tools get them through pipes.

use crate::config::Config;
use crate::embedded_pg::{self, EmbeddedError, EmbeddedPostgres};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The manifest's file name inside a backup.
pub const MANIFEST: &str = "manifest.json";
/// The database dump's file name inside a backup.
pub const DUMP: &str = "database.dump";
const FORMAT: u32 = 1;

/// Why a backup command failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The command was used wrongly; nothing was changed.
    #[error("{0}")]
    Usage(String),
    /// The target of a restore holds data; nothing was changed.
    #[error("{0}; nothing was changed (use --force to replace it)")]
    NotEmpty(String),
    /// The backup does not match its manifest.
    #[error("the backup is damaged:\n  {}", .0.join("\n  "))]
    Damaged(Vec<String>),
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tool(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

impl BackupError {
    /// Exit code of the binary: 2 for usage errors (nothing changed), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            BackupError::Usage(_) | BackupError::NotEmpty(_) => 2,
            _ => 1,
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    /// Version of the server that wrote the backup.
    pub version: String,
    /// RFC 3339.
    pub created_at: String,
    /// Rows per table (`schema.table`) in the dump.
    pub tables: BTreeMap<String, u64>,
    /// Every file of the backup but the manifest, by path relative to the backup directory.
    pub files: BTreeMap<String, FileEntry>,
}

/// Size and checksum of one file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub bytes: u64,
    pub sha256: String,
}

/// What a command did, for its closing message.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub tables: usize,
    pub rows: u64,
    pub files: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tables, {} rows, {} files",
            self.tables, self.rows, self.files
        )
    }
}

impl Manifest {
    fn summary(&self) -> Summary {
        Summary {
            tables: self.tables.len(),
            rows: self.tables.values().sum(),
            files: self.files.len(),
        }
    }
}

/// Where the database is and how to run PostgreSQL's programs against it.
enum Database {
    Embedded(EmbeddedPostgres),
    External {
        bin: PathBuf,
        url: String,
        password: Option<String>,
    },
}

impl Database {
    /// Opens the configured database. `must_exist`: refuse to create an embedded cluster.
    fn open(config: &Config, must_exist: bool) -> Result<Database, BackupError> {
        if let Some(url) = &config.database.url {
            let bin =
                find_client_bin_dir(config.database.pg_bin_dir.as_deref()).ok_or_else(|| {
                    BackupError::Tool(
                        "PostgreSQL's client programs (pg_dump, pg_restore, psql) were not found: \
                     install them (Debian: postgresql-client) or set CHATALOT_PG_BIN_DIR"
                            .into(),
                    )
                })?;
            return Ok(Database::External {
                bin,
                url: url.clone(),
                password: config.database_password()?,
            });
        }
        let root = config.server.data_dir.join("postgres");
        if must_exist && !root.join("data").join("PG_VERSION").is_file() {
            return Err(BackupError::Usage(format!(
                "there is no embedded database in {}: set CHATALOT_DATA_DIR (or --config) to the \
                 server's data directory, or DATABASE_URL",
                root.display()
            )));
        }
        let pg = EmbeddedPostgres::start(&root, config.database.pg_bin_dir.as_deref(), true)?;
        Ok(Database::Embedded(pg))
    }

    /// Connection string of database `name` (`None`: the server's own database).
    fn conninfo(&self, name: Option<&str>) -> String {
        match self {
            Database::Embedded(pg) => pg.url(name.unwrap_or(embedded_pg::DATABASE)),
            Database::External { url, .. } => match name {
                Some(n) => with_dbname(url, n),
                None => url.clone(),
            },
        }
    }

    fn command(&self, program: &str) -> Command {
        match self {
            Database::Embedded(pg) => pg.command(program),
            Database::External { bin, password, .. } => {
                let mut cmd = Command::new(bin.join(program));
                if let Some(p) = password {
                    cmd.env("PGPASSWORD", p);
                }
                cmd
            }
        }
    }

    /// `psql` on database `name` running `sql`; returns its unaligned, tuples-only output.
    fn psql(&self, name: Option<&str>, sql: &str) -> Result<String, BackupError> {
        let mut cmd = self.command("psql");
        cmd.args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.conninfo(name))
            .arg("-c")
            .arg(sql)
            .stdin(Stdio::null());
        let out = cmd
            .output()
            .map_err(|e| BackupError::Tool(format!("cannot run psql: {e}")))?;
        if !out.status.success() {
            return Err(BackupError::Tool(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Rows per ordinary table of database `name`, named like `pg_dump` names them.
    fn count_rows(&self, name: Option<&str>) -> Result<BTreeMap<String, u64>, BackupError> {
        let out = self.psql(name, COUNT_ROWS)?;
        let mut counts = BTreeMap::new();
        for line in out.lines().filter(|l| !l.is_empty()) {
            let (table, n) = line
                .rsplit_once('|')
                .ok_or_else(|| BackupError::Tool(format!("unexpected psql output {line:?}")))?;
            let n = n
                .trim()
                .parse()
                .map_err(|_| BackupError::Tool(format!("unexpected row count {line:?}")))?;
            counts.insert(table.to_owned(), n);
        }
        Ok(counts)
    }

    /// Stops the embedded cluster if this command started it.
    fn close(self) {
        if let Database::Embedded(pg) = self {
            if pg.started_here() {
                if let Err(e) = pg.stop() {
                    tracing::warn!("embedded PostgreSQL did not stop cleanly: {e}");
                }
            }
        }
    }
}

const COUNT_ROWS: &str = "SELECT format('%I.%I', n.nspname, c.relname), \
     (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', \
     n.nspname, c.relname), false, true, '')))[1]::text \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1";

/// `url` pointing at database `name` instead.
fn with_dbname(url: &str, name: &str) -> String {
    let Some(scheme_end) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .map(|rest| url.len() - rest.len())
    else {
        // in a key-value string the last of repeated keys wins
        return format!("{url} dbname='{name}'");
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let query = rest[authority_end..]
        .find('?')
        .map_or("", |q| &rest[authority_end + q..]);
    format!(
        "{}{}/{name}{query}",
        &url[..scheme_end],
        &rest[..authority_end]
    )
}

/// The directory of `pg_dump`, `pg_restore` and `psql`: the configured one, `pg_config
/// --bindir`, the newest `/usr/lib/postgresql/<version>/bin`, or one on `PATH`.
pub fn find_client_bin_dir(configured: Option<&Path>) -> Option<PathBuf> {
    crate::embedded_pg::find_dir_with(configured, |d| {
        ["pg_dump", "pg_restore", "psql"]
            .iter()
            .all(|b| d.join(b).is_file())
    })
}

/// A started PostgreSQL program whose error output is collected on a thread of its own, so
/// that a chatty program never blocks on a full pipe while its other output is consumed.
struct Running {
    child: Child,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

fn spawn(mut cmd: Command, name: &str) -> Result<Running, BackupError> {
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BackupError::Tool(format!("cannot run {name}: {e}")))?;
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    });
    Ok(Running { child, stderr })
}

fn finish(mut running: Running, name: &str) -> Result<(), BackupError> {
    let status = running
        .child
        .wait()
        .map_err(|e| BackupError::Tool(format!("{name}: {e}")))?;
    let stderr = running
        .stderr
        .take()
        .and_then(|t| t.join().ok())
        .unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool(format!(
            "{name} failed: {}",
            String::from_utf8_lossy(&stderr).trim()
        )))
    }
}

/// Rows per table in a custom-format dump, counted from its COPY data.
fn count_rows_in_dump(db: &Database, dump: &Path) -> Result<BTreeMap<String, u64>, BackupError> {
    let file = fs::File::open(dump).map_err(io(format!("cannot open {}", dump.display())))?;
    let mut cmd = db.command("pg_restore");
    cmd.args(["--data-only", "-f", "-"])
        .stdin(file)
        .stdout(Stdio::piped());
    let mut child = spawn(cmd, "pg_restore")?;
    let mut counts = BTreeMap::new();
    if let Some(stdout) = child.child.stdout.take() {
        let mut current: Option<(String, u64)> = None;
        for line in BufReader::new(stdout).split(b'\n') {
            let line = line.map_err(io("cannot read pg_restore's output"))?;
            match &mut current {
                Some((table, n)) => {
                    if line == b"\\." {
                        counts.insert(std::mem::take(table), *n);
                        current = None;
                    } else {
                        *n += 1;
                    }
                }
                None => {
                    let text = String::from_utf8_lossy(&line);
                    if let Some(rest) = text.strip_prefix("COPY ") {
                        if text.ends_with(" FROM stdin;") {
                            let table = rest.split(' ').next().unwrap_or_default().to_owned();
                            current = Some((table, 0));
                        }
                    }
                }
            }
        }
    }
    finish(child, "pg_restore")?;
    Ok(counts)
}

/// SHA-256 and size of a file, in hex.
fn hash_file(path: &Path) -> Result<FileEntry, BackupError> {
    let mut file = fs::File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io(format!("cannot read {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(FileEntry { bytes, sha256 })
}

/// Every regular file under `dir`, as paths relative to it; symbolic links are refused.
fn list_files(dir: &Path) -> Result<Vec<PathBuf>, BackupError> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        let entries = fs::read_dir(&here).map_err(io(format!("cannot list {}", here.display())))?;
        for entry in entries {
            let entry = entry.map_err(io(format!("cannot list {}", here.display())))?;
            let kind = entry
                .file_type()
                .map_err(io(format!("cannot inspect {}", entry.path().display())))?;
            let rel = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(rel);
            } else if kind.is_file() {
                out.push(rel);
            } else {
                return Err(BackupError::Tool(format!(
                    "{} is neither a file nor a directory",
                    entry.path().display()
                )));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn manifest_key(path: &Path) -> Result<String, BackupError> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| BackupError::Tool(format!("{} is not UTF-8", path.display())))
}

/// Copies `from` to `to` (a new file, mode 0600) and returns its size and checksum.
fn copy_private(from: &Path, to: &Path) -> Result<FileEntry, BackupError> {
    if let Some(parent) = to.parent() {
        make_private_dir(parent)?;
    }
    let mut src = fs::File::open(from).map_err(io(format!("cannot read {}", from.display())))?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(io(format!("cannot create {}", to.display())))?;
    std::io::copy(&mut src, &mut dst).map_err(io(format!("cannot copy {}", from.display())))?;
    dst.sync_all()
        .map_err(io(format!("cannot write {}", to.display())))?;
    hash_file(to)
}

fn make_private_dir(dir: &Path) -> Result<(), BackupError> {
    fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(io(format!("cannot restrict {}", dir.display())))
}

fn key_files(config: &Config) -> [(PathBuf, &'static str); 2] {
    [
        (config.token_key_path(), "secrets/token.key"),
        (config.totp_key_path(), "secrets/totp.key"),
    ]
}

/// `chatalot-server backup --out DIR`: writes a backup into `out`, which must not exist or be
/// empty. On failure, what was written is removed.
pub fn backup(config: &Config, out: &Path) -> Result<Manifest, BackupError> {
    if out.exists() {
        let empty = fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !out.is_dir() || !empty {
            return Err(BackupError::Usage(format!(
                "{} already exists and is not an empty directory; choose a new one",
                out.display()
            )));
        }
    }
    let db = Database::open(config, true)?;
    let existed = out.exists();
    let result = make_private_dir(out).and_then(|()| write_backup(config, &db, out));
    db.close();
    if result.is_err() {
        if existed {
            for name in [DUMP, "files", "secrets", MANIFEST] {
                let p = out.join(name);
                let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
            }
        } else {
            let _ = fs::remove_dir_all(out);
        }
    }
    result
}

fn write_backup(config: &Config, db: &Database, out: &Path) -> Result<Manifest, BackupError> {
    let dump_path = out.join(DUMP);
    let dump_file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&dump_path)
        .map_err(io(format!("cannot create {}", dump_path.display())))?;
    let mut cmd = db.command("pg_dump");
    cmd.args(["-Fc", "-d"])
        .arg(db.conninfo(None))
        .stdin(Stdio::null())
        .stdout(dump_file);
    finish(spawn(cmd, "pg_dump")?, "pg_dump")?;
    let tables = count_rows_in_dump(db, &dump_path)?;

    let mut files = BTreeMap::new();
    files.insert(DUMP.to_owned(), hash_file(&dump_path)?);
    let source = config.server.data_dir.join("files");
    for rel in list_files(&source)? {
        let key = manifest_key(&Path::new("files").join(&rel))?;
        let entry = copy_private(&source.join(&rel), &out.join(&key))?;
        files.insert(key, entry);
    }
    for (path, key) in key_files(config) {
        if path.is_file() {
            files.insert(key.to_owned(), copy_private(&path, &out.join(key))?);
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| BackupError::Tool(e.to_string()))?,
        tables,
        files,
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| BackupError::Tool(format!("cannot write the manifest: {e}")))?;
    let tmp = out.join(".manifest.json.tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("cannot write the manifest"))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(io("cannot write the manifest"))?;
    fs::rename(&tmp, out.join(MANIFEST)).map_err(io("cannot write the manifest"))?;
    Ok(manifest)
}

/// Reads the manifest of the backup in `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    if !dir.is_dir() {
        return Err(BackupError::Usage(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let text = fs::read_to_string(&path).map_err(|_| {
        BackupError::Usage(format!(
            "{} is not a backup: it has no readable {MANIFEST}",
            dir.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| BackupError::Damaged(vec![format!("{MANIFEST}: {e}")]))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Usage(format!(
            "{MANIFEST} has format {}; this server reads format {FORMAT}",
            manifest.format
        )));
    }
    Ok(manifest)
}

/// Compares the files of the backup in `dir` with its manifest; returns the differences.
fn check_files(dir: &Path, manifest: &Manifest) -> Result<Vec<String>, BackupError> {
    let mut problems = Vec::new();
    if !manifest.files.contains_key(DUMP) {
        problems.push(format!("{DUMP} is not in the manifest"));
    }
    for (key, want) in &manifest.files {
        let rel = Path::new(key);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            problems.push(format!("{key}: not a plain relative path"));
            continue;
        }
        let path = dir.join(rel);
        if !path.is_file() {
            problems.push(format!("{key}: missing"));
            continue;
        }
        let got = hash_file(&path)?;
        if got != *want {
            problems.push(format!(
                "{key}: checksum or size differs from the manifest ({} bytes, sha256 {})",
                got.bytes, got.sha256
            ));
        }
    }
    for rel in list_files(dir)? {
        let key = manifest_key(&rel)?;
        if key != MANIFEST && !manifest.files.contains_key(&key) {
            problems.push(format!("{key}: not in the manifest"));
        }
    }
    Ok(problems)
}

/// Feeds the dump to `pg_restore | psql` in one transaction on database `name`, after `prelude`.
fn load_dump(
    db: &Database,
    dump: &Path,
    name: Option<&str>,
    prelude: &[&str],
) -> Result<(), BackupError> {
    let file = fs::File::open(dump).map_err(io(format!("cannot open {}", dump.display())))?;
    let mut restore = db.command("pg_restore");
    restore
        .args(["--no-owner", "--no-privileges", "-f", "-"])
        .stdin(file)
        .stdout(Stdio::piped());
    let mut restore = spawn(restore, "pg_restore")?;
    let sql = restore
        .child
        .stdout
        .take()
        .ok_or_else(|| BackupError::Tool("pg_restore has no output".into()))?;
    let mut psql = db.command("psql");
    psql.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "--single-transaction",
        "-d",
    ])
    .arg(db.conninfo(name));
    for statement in prelude {
        psql.arg("-c").arg(statement);
    }
    psql.args(["-f", "-"]).stdin(sql).stdout(Stdio::null());
    let psql = spawn(psql, "psql")?;
    let loaded = finish(psql, "psql (loading the dump)");
    let dumped = finish(restore, "pg_restore");
    dumped.and(loaded)
}

/// `chatalot-server verify-backup DIR`: checks every file against the manifest, restores the
/// dump into a scratch database, compares its row counts with the manifest, and drops it.
pub fn verify(config: &Config, dir: &Path) -> Result<Summary, BackupError> {
    let manifest = read_manifest(dir)?;
    let mut problems = check_files(dir, &manifest)?;
    if problems.iter().any(|p| p.starts_with(DUMP)) {
        return Err(BackupError::Damaged(problems));
    }
    let db = Database::open(config, false)?;
    let scratch = format!("chatalot_verify_{}", uuid::Uuid::new_v4().simple());
    let result = (|| {
        db.psql(None, &format!("CREATE DATABASE {scratch}"))?;
        load_dump(&db, &dir.join(DUMP), Some(&scratch), &[])?;
        db.count_rows(Some(&scratch))
    })();
    let dropped = db.psql(
        None,
        &format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"),
    );
    db.close();
    let counts = result?;
    dropped?;
    for (table, want) in &manifest.tables {
        match counts.get(table) {
            Some(got) if got == want => {}
            Some(got) => problems.push(format!(
                "table {table}: {got} rows restored, the manifest says {want}"
            )),
            None => problems.push(format!("table {table}: missing after restoring the dump")),
        }
    }
    for (table, got) in &counts {
        if !manifest.tables.contains_key(table) && *got > 0 {
            problems.push(format!(
                "table {table}: {got} rows restored, not in the manifest"
            ));
        }
    }
    if problems.is_empty() {
        Ok(manifest.summary())
    } else {
        Err(BackupError::Damaged(problems))
    }
}

/// `chatalot-server restore DIR [--force]`: checks the backup, then loads it into the configured
/// database, `<data_dir>/files` and the key files. A target holding data is refused unless
/// `force`, in which case it is replaced.
pub fn restore(config: &Config, dir: &Path, force: bool) -> Result<Summary, BackupError> {
    let manifest = read_manifest(dir)?;
    let problems = check_files(dir, &manifest)?;
    if !problems.is_empty() {
        return Err(BackupError::Damaged(problems));
    }
    let files_dir = config.server.data_dir.join("files");
    let mut occupied = Vec::new();
    if !list_files(&files_dir)?.is_empty() {
        occupied.push(format!("{} holds files", files_dir.display()));
    }
    for (path, key) in key_files(config) {
        if path.exists() {
            let same = manifest
                .files
                .get(key)
                .is_some_and(|want| hash_file(&path).is_ok_and(|got| got == *want));
            if !same {
                occupied.push(format!("{} holds another key", path.display()));
            }
        }
    }
    let db = Database::open(config, false)?;
    if let Database::Embedded(pg) = &db {
        if !pg.started_here() {
            return Err(BackupError::Usage(
                "the embedded database is running: stop the server before restoring".into(),
            ));
        }
    }
    let result = (|| {
        let tables = db.count_rows(None)?;
        if !tables.is_empty() {
            occupied.push(format!("the database holds {} tables", tables.len()));
        }
        if !occupied.is_empty() && !force {
            return Err(BackupError::NotEmpty(format!(
                "the restore target is not empty: {}",
                occupied.join("; ")
            )));
        }
        load_dump(
            &db,
            &dir.join(DUMP),
            None,
            &[
                "DROP SCHEMA IF EXISTS public CASCADE",
                "CREATE SCHEMA public",
            ],
        )
    })();
    db.close();
    result?;

    // files: copied next to the target, then swapped in
    let staging = config.server.data_dir.join(".files.restoring");
    let _ = fs::remove_dir_all(&staging);
    for (key, _) in manifest
        .files
        .iter()
        .filter(|(k, _)| k.starts_with("files/"))
    {
        let rel = Path::new(key)
            .strip_prefix("files")
            .map_err(|_| BackupError::Tool(format!("bad path {key}")))?;
        copy_private(&dir.join(key), &staging.join(rel))?;
    }
    if files_dir.exists() {
        fs::remove_dir_all(&files_dir)
            .map_err(io(format!("cannot replace {}", files_dir.display())))?;
    }
    if staging.exists() {
        fs::rename(&staging, &files_dir).map_err(io(format!(
            "cannot move files into {}",
            files_dir.display()
        )))?;
    }
    for (path, key) in key_files(config) {
        if manifest.files.contains_key(key) {
            if path.exists() {
                fs::remove_file(&path).map_err(io(format!("cannot replace {}", path.display())))?;
            }
            copy_private(&dir.join(key), &path)?;
        }
    }
    Ok(manifest.summary())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced_in_both_url_forms() {
        assert_eq!(
            with_dbname("host=/run/pg user=postgres dbname=chatalot", "scratch"),
            "host=/run/pg user=postgres dbname=chatalot dbname='scratch'"
        );
        assert_eq!(
            with_dbname("postgres://u:p@db:5432/chatalot?sslmode=disable", "s"),
            "postgres://u:p@db:5432/s?sslmode=disable"
        );
        assert_eq!(with_dbname("postgresql://db", "s"), "postgresql://db/s");
    }

    #[test]
    fn manifest_paths_must_stay_inside_the_backup() {
        let dir = std::env::temp_dir().join(format!("chatalot-manifest-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("dir");
        let mut files = BTreeMap::new();
        let entry = FileEntry {
            bytes: 0,
            sha256: String::new(),
        };
        files.insert("../outside".to_owned(), entry.clone());
        files.insert("/etc/passwd".to_owned(), entry);
        let manifest = Manifest {
            format: FORMAT,
            version: "0".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            tables: BTreeMap::new(),
            files,
        };
        let problems = check_files(&dir, &manifest).expect("checks");
        assert_eq!(problems.len(), 3, "{problems:?}");
        let _ = fs::remove_dir_all(&dir);
    }
}
