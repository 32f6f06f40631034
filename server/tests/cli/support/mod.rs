//! Helpers for tests that run the real binary: temporary directories, free ports, starting,
//! waiting for readiness, stopping with SIGTERM, and JSON requests.
#![allow(dead_code)]

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_chatalot-server");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A fresh directory under the system temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let d =
            std::env::temp_dir().join(format!("chatalot-{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with a clean environment for the embedded database in `dir`.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("CHATALOT_DATABASE_URL")
        .env_remove("CHATALOT_CONFIG")
        .env_remove("CHATALOT_DATA_DIR")
        .env("CHATALOT_LOG", "warn");
    cmd
}

/// Runs a maintenance command (`backup`, `restore`, ...) in `dir` and returns its output.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("binary runs")
}

/// A server started in `dir` on `port`, stopped with SIGTERM on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(mut cmd: Command, port: u16) -> Server {
        cmd.env("CHATALOT_BIND", format!("127.0.0.1:{port}"))
            .env("CHATALOT_REGISTRATION_MODE", "open");
        let child = cmd.spawn().expect("binary starts");
        let mut server = Server { child, port };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(90) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited early: {status}");
            }
            if let Ok(r) = agent()
                .get(format!("http://127.0.0.1:{}/api/v1/ready", self.port))
                .call()
            {
                if r.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("server not ready within 90 s");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends a JSON request with an optional bearer token; returns status and JSON body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let bytes = body
            .map(|b| serde_json::to_vec(b).expect("json"))
            .unwrap_or_default();
        let mut res = agent()
            .run(req.body(bytes).expect("request"))
            .expect("request completes");
        let status = res.status().as_u16();
        let v = res.body_mut().read_json::<Value>().unwrap_or(Value::Null);
        (status, v)
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        let status = terminate(&mut self.child);
        assert!(status.success(), "clean exit on SIGTERM: {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = terminate(&mut self.child);
        }
    }
}

/// Sends SIGTERM and waits (30 s at most) for the exit status.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}
