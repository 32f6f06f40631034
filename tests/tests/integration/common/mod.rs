//! Test harness: a real server on a loopback port over a real PostgreSQL database.
//!
//! All test processes share one throwaway PostgreSQL cluster under the cargo target directory
//! (started on first use with the server's own embedded-cluster code, fsync off); every test
//! server gets a fresh database in it, dropped when the server is dropped.
#![allow(dead_code)]

pub mod ws;

use chatalot_server::config::Config;
use chatalot_server::embedded_pg::EmbeddedPostgres;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use ureq::http;

/// The shared test cluster.
fn cluster() -> &'static EmbeddedPostgres {
    static CLUSTER: OnceLock<EmbeddedPostgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pg");
        std::fs::create_dir_all(&root).expect("test cluster directory");
        // serialise cluster creation across test processes
        let lock = std::fs::File::create(root.with_extension("lock")).expect("lock file");
        lock.lock().expect("lock the test cluster");
        let pg =
            EmbeddedPostgres::start(&root, None, false).expect("test PostgreSQL cluster starts");
        drop(lock);
        pg
    })
}

/// A running server and a client for it.
pub struct TestServer {
    pub base: String,
    pub config: Config,
    database: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    data_dir: PathBuf,
    /// Whether `register` has made the owner yet.
    owner_made: std::sync::atomic::AtomicBool,
}

/// Configuration for tests: fast password hashing, generous rate limits.
pub fn test_config() -> Config {
    let mut c = Config::default();
    c.auth.argon2_memory_kib = 1024;
    c.auth.argon2_iterations = 1;
    c.auth.registration_mode = chatalot_protocol::api::RegistrationMode::Open;
    c.server.workers = 2;
    c.server.shutdown_timeout_secs = 1;
    c.limits.auth_ip_burst = 10_000;
    c.limits.register_ip_burst = 10_000;
    c.limits.login_fail_ip_burst = 1_000;
    c.limits.login_fail_account_burst = 1_000;
    c.log.level = "warn".into();
    c.auth.setup_token = Some(SETUP_TOKEN.into());
    c
}

/// The setup token of test servers: `register` presents it for a server's first account,
/// which so becomes the instance owner.
pub const SETUP_TOKEN: &str = "test-setup-token-0123456789";

impl TestServer {
    /// A server with `test_config()`.
    pub fn start() -> TestServer {
        Self::start_with(|_| {})
    }

    /// A server with `test_config()` changed by `tweak`.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_on("127.0.0.1:0", tweak)
    }

    /// A server listening on `addr` (port 0: any free port).
    pub fn start_on(addr: &str, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let pg = cluster();
        let database = format!("t_{}", uuid::Uuid::new_v4().simple());
        pg.create_database(&database).expect("test database");
        let data_dir = std::env::temp_dir().join(format!("chatalot-test-{database}"));
        let mut config = test_config();
        config.server.data_dir = data_dir.clone();
        config.server.web_root = data_dir.join("no-web-app");
        config.database.url = Some(pg.url(&database));
        tweak(&mut config);
        let listener = TcpListener::bind(addr).expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let run_config = config.clone();
        let thread = std::thread::spawn(move || {
            let result = actix_rt::System::new().block_on(async move {
                let _ = ready_tx.send(());
                chatalot_server::run(listener, run_config, async move {
                    let _ = rx.await;
                })
                .await
            });
            if let Err(e) = result {
                panic!("test server failed: {e}");
            }
        });
        ready_rx.recv().expect("server thread started");
        let server = TestServer {
            base,
            config,
            database,
            stop: Some(tx),
            thread: Some(thread),
            data_dir,
            owner_made: std::sync::atomic::AtomicBool::new(false),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = agent().get(format!("{}/api/v1/health", self.base)).call() {
                if r.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("server did not become healthy");
    }

    /// A client for this server.
    pub fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            agent: agent(),
            token: None,
            forwarded_for: None,
        }
    }

    /// Runs a PostgreSQL client program (`psql`, `pg_dump`) against this server's database,
    /// as the `postgres` user when the tests run as root; its standard output.
    fn pg_client(&self, program: &str, args: &[&str]) -> Vec<u8> {
        let url = self.config.database.url.clone().expect("url");
        let host = url
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("host="))
            .expect("host")
            .to_owned();
        let bin = chatalot_server::embedded_pg::find_bin_dir(None).expect("pg binaries");
        let mut cmd = std::process::Command::new(bin.join(program));
        cmd.args(["-h", &host, "-U", "postgres", "-d", &self.database]);
        cmd.args(args);
        if running_as_root() {
            use std::os::unix::process::CommandExt;
            let (uid, gid) = postgres_ids();
            cmd.uid(uid).gid(gid).current_dir("/");
        }
        let out = cmd.output().expect("the PostgreSQL client runs");
        assert!(
            out.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs SQL in this server's database through psql and returns its text output.
    pub fn sql(&self, query: &str) -> String {
        let out = self.pg_client("psql", &["-tAc", query]);
        String::from_utf8_lossy(&out).trim().to_owned()
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// A plain-SQL dump of this server's database (`pg_dump`), as bytes.
    pub fn pg_dump(&self) -> Vec<u8> {
        self.pg_client("pg_dump", &[])
    }

    /// Registers `username` with a standard password and returns a logged-in client. The first
    /// account registered this way presents the setup token and is the instance owner.
    pub fn register(&self, username: &str) -> (Client, Value) {
        let mut c = self.client();
        let mut body = json!({"username": username, "password": password_of(username)});
        if !self
            .owner_made
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            body["setup_token"] = json!(SETUP_TOKEN);
        }
        let r = c.post("/api/v1/accounts", &body);
        assert_eq!(r.status, 201, "register {username}: {}", r.body);
        c.token = Some(r.body["access_token"].as_str().expect("token").to_owned());
        (c, r.body)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
        let drop_db = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database);
        let url = self.config.database.url.clone().unwrap_or_default();
        if let Some(host) = url
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("host="))
        {
            if let Some(bin) = chatalot_server::embedded_pg::find_bin_dir(None) {
                let mut cmd = std::process::Command::new(bin.join("psql"));
                cmd.args([
                    "-h", host, "-U", "postgres", "-d", "postgres", "-qc", &drop_db,
                ]);
                if running_as_root() {
                    use std::os::unix::process::CommandExt;
                    let (uid, gid) = postgres_ids();
                    cmd.uid(uid).gid(gid).current_dir("/");
                }
                let _ = cmd.output();
            }
        }
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn postgres_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("passwd");
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == "postgres").then(|| (f[2].parse().expect("uid"), f[3].parse().expect("gid")))
        })
        .expect("postgres user")
}

/// The password tests use for `username`.
pub fn password_of(username: &str) -> String {
    // distinct per account without containing the name
    let tag: u32 = username.bytes().map(u32::from).sum();
    format!("correct horse battery staple #{tag}")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// A response: status, headers and JSON body (Null when the body is empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The `code` of an error body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Asserts an error answer with this status and code and a non-empty message.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_eq!(self.code(), code, "code of {}", self.text);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message of {}",
            self.text
        );
    }
}

/// An HTTP client with an optional bearer token.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    agent: ureq::Agent,
    pub token: Option<String>,
    /// Sent as X-Forwarded-For (believed only when the server trusts 127.0.0.1).
    pub forwarded_for: Option<String>,
}

impl Client {
    /// Sends a request and answers the response, its body unread.
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> http::Response<ureq::Body> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ip) = &self.forwarded_for {
            req = req.header("x-forwarded-for", ip.as_str());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body).expect("request builds");
        self.agent.run(req).expect("request completes")
    }

    /// Sends a raw request: any method, headers and body bytes.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
        let mut res = self.send(method, path, headers, body);
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    /// Sends a raw request and keeps the answer's body as bytes (a file).
    pub fn raw_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, http::HeaderMap, Vec<u8>) {
        let mut res = self.send(method, path, headers, body);
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_default();
        (status, headers, bytes)
    }

    fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        match body {
            Some(b) => self.raw(
                method,
                path,
                &[("content-type", "application/json")],
                serde_json::to_vec(b).expect("json"),
            ),
            None => self.raw(method, path, &[], Vec::new()),
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.json("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.json("POST", path, Some(body))
    }
    pub fn post_empty(&self, path: &str) -> Resp {
        self.json("POST", path, None)
    }
    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.json("PUT", path, Some(body))
    }
    pub fn put_empty(&self, path: &str) -> Resp {
        self.json("PUT", path, None)
    }
    pub fn patch(&self, path: &str, body: &Value) -> Resp {
        self.json("PATCH", path, Some(body))
    }
    pub fn delete(&self, path: &str) -> Resp {
        self.json("DELETE", path, None)
    }
    pub fn delete_json(&self, path: &str, body: &Value) -> Resp {
        self.json("DELETE", path, Some(body))
    }

    /// The access token this client uses.
    pub fn token(&self) -> &str {
        self.token.as_deref().expect("logged in")
    }

    /// Logs in and keeps the access token; returns the whole answer.
    pub fn login(&mut self, username: &str, password: &str) -> Resp {
        let r = self.post(
            "/api/v1/sessions",
            &json!({"username": username, "password": password}),
        );
        if r.status == 201 {
            self.token = Some(r.body["access_token"].as_str().expect("token").to_owned());
        }
        r
    }

    /// A copy with another token.
    pub fn with_token(&self, token: Option<&str>) -> Client {
        let mut c = self.clone();
        c.token = token.map(str::to_owned);
        c
    }
}

/// How many objects the server's file store holds.
pub fn objects(s: &TestServer) -> usize {
    objects_in(&s.data_dir().join("files"))
}

/// How many objects the file store at `store` holds.
pub fn objects_in(store: &std::path::Path) -> usize {
    std::fs::read_dir(store.join("objects"))
        .map(|shards| {
            shards
                .flatten()
                .map(|d| std::fs::read_dir(d.path()).map(|f| f.count()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}
