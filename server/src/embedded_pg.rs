//! The embedded default database: a PostgreSQL cluster the server keeps in
//! `<data_dir>/postgres`, created on first start, reachable only through a private Unix socket,
//! started with the server and stopped with it. Running as root, the cluster runs as the
//! `postgres` system user (PostgreSQL refuses to run as root).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The database the server uses inside the cluster.
pub const DATABASE: &str = "chatalot";

/// What can go wrong managing the cluster; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. Install them \
         (Debian/Ubuntu: `sudo apt-get install postgresql`), or set CHATALOT_PG_BIN_DIR to the \
         directory holding them, or set DATABASE_URL to use an existing PostgreSQL server."
    )]
    BinariesNotFound,
    #[error(
        "running as root needs the `postgres` system user to own the embedded database \
         (it comes with the postgresql package); or run as an ordinary user, or set DATABASE_URL"
    )]
    NoPostgresUser,
    #[error(
        "the `postgres` user cannot reach {0}: choose a data directory all of whose parent \
         directories are world-searchable (CHATALOT_DATA_DIR), or set DATABASE_URL"
    )]
    Unreachable(PathBuf),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{command} failed: {output}")]
    Command { command: String, output: String },
}

/// A running embedded cluster.
pub struct EmbeddedPostgres {
    bin: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<(u32, u32)>,
    started: bool,
}

impl EmbeddedPostgres {
    /// Initialises (first time) and starts the cluster under `root`, creating the `chatalot`
    /// database. `durable = false` turns fsync off (for throwaway test clusters only).
    pub fn start(
        root: &Path,
        bin_dir: Option<&Path>,
        durable: bool,
    ) -> Result<Self, EmbeddedError> {
        let bin = find_bin_dir(bin_dir).ok_or(EmbeddedError::BinariesNotFound)?;
        fs::create_dir_all(root).map_err(io("create the database directory"))?;
        let root = root
            .canonicalize()
            .map_err(io("resolve the database directory"))?;
        let data = root.join("data");
        let socket_dir = root.join("run");
        fs::create_dir_all(&socket_dir).map_err(io("create the socket directory"))?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
            .map_err(io("restrict the database directory"))?;

        let run_as = if running_as_root() {
            let ids = postgres_user().ok_or(EmbeddedError::NoPostgresUser)?;
            check_reachable(&root)?;
            chown_tree(&root, ids)?;
            Some(ids)
        } else {
            None
        };
        let mut pg = EmbeddedPostgres {
            bin,
            data,
            socket_dir,
            run_as,
            started: false,
        };
        if !pg.data.join("PG_VERSION").is_file() {
            tracing::info!(dir = %pg.data.display(), "initialising the embedded PostgreSQL cluster");
            let mut cmd = pg.command("initdb");
            cmd.arg("-D").arg(&pg.data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
            ]);
            if !durable {
                cmd.arg("--no-sync");
            }
            run(cmd, "initdb")?;
        }
        pg.write_settings(durable)?;
        if pg.is_running() {
            tracing::info!("embedded PostgreSQL is already running; reusing it");
        } else {
            let mut cmd = pg.command("pg_ctl");
            cmd.arg("-D")
                .arg(&pg.data)
                .arg("-l")
                .arg(root.join("postgres.log"))
                .args(["-w", "-t", "60", "start"]);
            run(cmd, "pg_ctl start")?;
            pg.started = true;
        }
        pg.ensure_database()?;
        Ok(pg)
    }

    /// A connection string for `database` over the private socket.
    pub fn url(&self, database: &str) -> String {
        format!(
            "host={} user=postgres dbname={database}",
            self.socket_dir.display()
        )
    }

    /// Did `start` start the cluster (rather than find it running)?
    pub fn started_here(&self) -> bool {
        self.started
    }

    /// Creates `name` if it does not exist.
    pub fn create_database(&self, name: &str) -> Result<(), EmbeddedError> {
        let mut check = self.command("psql");
        check
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-U", "postgres", "-d", "postgres", "-tAc"])
            .arg(format!(
                "SELECT 1 FROM pg_database WHERE datname = '{name}'"
            ));
        let out = run(check, "psql")?;
        if String::from_utf8_lossy(&out.stdout).trim() != "1" {
            let mut create = self.command("createdb");
            create
                .arg("-h")
                .arg(&self.socket_dir)
                .args(["-U", "postgres", name]);
            run(create, "createdb")?;
        }
        Ok(())
    }

    fn ensure_database(&self) -> Result<(), EmbeddedError> {
        self.create_database(DATABASE)
    }

    /// Stops the cluster (fast mode: open transactions roll back, committed data is durable).
    pub fn stop(&self) -> Result<(), EmbeddedError> {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "60", "stop"]);
        run(cmd, "pg_ctl stop").map(|_| ())
    }

    fn is_running(&self) -> bool {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(&self.data).arg("status");
        cmd.output().map(|o| o.status.success()).unwrap_or(false)
    }

    /// Settings that make the cluster private: no TCP, socket only for its owner.
    fn write_settings(&self, durable: bool) -> Result<(), EmbeddedError> {
        let conf = self.data.join("postgresql.conf");
        let main = fs::read_to_string(&conf).map_err(io("read postgresql.conf"))?;
        let include = "include_if_exists = 'chatalot.conf'";
        if !main.contains(include) {
            fs::write(&conf, format!("{main}\n{include}\n"))
                .map_err(io("write postgresql.conf"))?;
        }
        let socket = self.socket_dir.display().to_string().replace('\'', "''");
        let mut extra = format!(
            "# written by chatalot-server at every start\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{socket}'\n\
             unix_socket_permissions = 0700\n\
             lc_messages = 'C'\n"
        );
        if !durable {
            extra.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let path = self.data.join("chatalot.conf");
        fs::write(&path, extra).map_err(io("write chatalot.conf"))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                .map_err(io("chown chatalot.conf"))?;
            std::os::unix::fs::chown(&conf, Some(uid), Some(gid))
                .map_err(io("chown postgresql.conf"))?;
        }
        Ok(())
    }

    /// A command for one of PostgreSQL's programs of this cluster, run as the cluster's owner.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        // PostgreSQL tools need a working directory they can read
        cmd.current_dir(self.data.parent().unwrap_or(Path::new("/")));
        cmd.env_remove("PGDATA")
            .env_remove("PGHOST")
            .env_remove("PGPORT");
        cmd
    }
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> EmbeddedError {
    move |source| EmbeddedError::Io {
        what: format!("cannot {what}"),
        source,
    }
}

fn run(mut cmd: Command, name: &str) -> Result<Output, EmbeddedError> {
    let out = cmd.output().map_err(|e| EmbeddedError::Command {
        command: name.to_owned(),
        output: e.to_string(),
    })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(EmbeddedError::Command {
            command: name.to_owned(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .trim()
            .to_owned(),
        })
    }
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres", "psql", "createdb"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

/// The directory of PostgreSQL's server programs: the configured one, `pg_config --bindir`, the
/// newest `/usr/lib/postgresql/<version>/bin`, or one on `PATH`.
pub fn find_bin_dir(configured: Option<&Path>) -> Option<PathBuf> {
    find_dir_with(configured, has_server_binaries)
}

/// The first of the candidate PostgreSQL program directories (as for `find_bin_dir`) that
/// satisfies `ok`.
pub fn find_dir_with(configured: Option<&Path>, ok: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    if let Some(dir) = configured {
        return ok(dir).then(|| dir.to_owned());
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && ok(&dir) {
            return Some(dir);
        }
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .filter(|(_, p)| ok(p))
            .collect();
        versions.sort();
        if let Some((_, dir)) = versions.pop() {
            return Some(dir);
        }
    }
    std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|d| ok(d)))
}

fn running_as_root() -> bool {
    // /proc/self belongs to the effective user of this process
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn postgres_user() -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == "postgres")
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .flatten()
    })
}

/// Every ancestor of `dir` must be searchable by others for the `postgres` user to reach it.
fn check_reachable(dir: &Path) -> Result<(), EmbeddedError> {
    for ancestor in dir.ancestors().skip(1) {
        let mode = fs::metadata(ancestor)
            .map_err(io("inspect a parent directory"))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(EmbeddedError::Unreachable(dir.to_owned()));
        }
    }
    Ok(())
}

fn chown_tree(dir: &Path, (uid, gid): (u32, u32)) -> Result<(), EmbeddedError> {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .map_err(io("hand the database directory to postgres"))?;
    let meta = fs::symlink_metadata(dir).map_err(io("inspect the database directory"))?;
    if meta.is_dir() {
        for entry in fs::read_dir(dir).map_err(io("list the database directory"))? {
            let entry = entry.map_err(io("list the database directory"))?;
            let path = entry.path();
            let m = fs::symlink_metadata(&path).map_err(io("inspect the database directory"))?;
            if m.uid() != uid {
                if m.is_dir() {
                    chown_tree(&path, (uid, gid))?;
                } else {
                    std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
                        .map_err(io("hand the database files to postgres"))?;
                }
            }
        }
    }
    Ok(())
}
