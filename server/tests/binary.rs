//! The real binary: starts with no configuration on its embedded PostgreSQL, keeps its data
//! across restarts, stops cleanly on SIGTERM, and explains what is missing (F80, R5).

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chatalot-server");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("chatalot-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent()
}

fn spawn(dir: &Path, port: u16) -> Child {
    Command::new(BIN)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("CHATALOT_DATABASE_URL")
        .env("CHATALOT_BIND", format!("127.0.0.1:{port}"))
        .env("CHATALOT_REGISTRATION_MODE", "open")
        .env("CHATALOT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("binary starts")
}

fn wait_ready(port: u16, child: &mut Child) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        if let Ok(r) = agent()
            .get(format!("http://127.0.0.1:{port}/api/v1/ready"))
            .call()
        {
            if r.status() == 200 {
                return start.elapsed();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server not ready within 60 s");
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
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

fn post(port: u16, path: &str, body: &Value) -> (u16, Value) {
    let mut r = agent()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .send_json(body)
        .expect("request");
    let status = r.status().as_u16();
    let v = r.body_mut().read_json::<Value>().unwrap_or(Value::Null);
    (status, v)
}

#[test]
fn binary_runs_on_its_embedded_database_and_keeps_data_across_restarts() {
    let dir = temp_dir();
    let port = free_port();
    let mut child = spawn(&dir, port);
    let first_start = wait_ready(port, &mut child);
    let account = json!({"username": "alice", "password": "a long passphrase"});
    let (status, body) = post(port, "/api/v1/accounts", &account);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["role"], "owner");
    let status = terminate(&mut child);
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let pid_file = dir.join("data/postgres/data/postmaster.pid");
    assert!(!pid_file.exists(), "the embedded cluster was stopped");
    // secrets were generated privately
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("data/secrets/token.key"))
            .expect("token key")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // second start on the initialised cluster: the account is still there
    let mut child = spawn(&dir, port);
    let warm_start = wait_ready(port, &mut child);
    let (status, body) = post(port, "/api/v1/sessions", &account);
    assert_eq!(status, 201, "{body}");
    eprintln!("start to ready: first {first_start:?} (initdb), then {warm_start:?}");
    assert!(terminate(&mut child).success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_postgres_binaries_give_one_clear_message() {
    let dir = temp_dir();
    let out = Command::new(BIN)
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env_remove("CHATALOT_DATABASE_URL")
        .env("CHATALOT_PG_BIN_DIR", dir.join("no-postgres-here"))
        .env("CHATALOT_BIND", format!("127.0.0.1:{}", free_port()))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_configuration_is_refused_at_start() {
    let dir = temp_dir();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "[server]\nworkers = \"many\"\n").expect("write");
    let out = Command::new(BIN)
        .args(["--config", config.to_str().expect("utf8")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
    let out = Command::new(BIN)
        .env("CHATALOT_REGISTRATION_MODE", "sometimes")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CHATALOT_REGISTRATION_MODE"));
    let _ = std::fs::remove_dir_all(&dir);
}
