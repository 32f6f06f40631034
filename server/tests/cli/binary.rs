//! The real binary: starts with no configuration on its embedded PostgreSQL, keeps its data
//! across restarts, stops cleanly on SIGTERM, and explains what is missing (F80, R5).

use crate::support::{agent, free_port, TempDir, BIN};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A spawned server, stopped (SIGKILL) if a test ends without stopping it.
struct Spawned(Child);

impl std::ops::Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The setup token the spawned servers are configured with.
const SETUP_TOKEN: &str = "binary-test-setup-token";

fn spawn(dir: &Path, port: u16) -> Spawned {
    // generous frame and queue limits: these tests send bursts on one connection and read the
    // answers afterwards
    let config = dir.join("test.toml");
    std::fs::write(
        &config,
        "[realtime]\nframes_burst = 100000\nframes_per_sec = 100000\noutbox_frames = 100000\n",
    )
    .expect("config");
    Spawned(
        Command::new(BIN)
            .current_dir(dir)
            .arg("--config")
            .arg(&config)
            .env_remove("DATABASE_URL")
            .env_remove("CHATALOT_DATABASE_URL")
            .env("CHATALOT_BIND", format!("127.0.0.1:{port}"))
            .env("CHATALOT_REGISTRATION_MODE", "open")
            .env("CHATALOT_SETUP_TOKEN", SETUP_TOKEN)
            .env("CHATALOT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("binary starts"),
    )
}

fn wait_ready(port: u16, child: &mut Spawned) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(status)) = child.0.try_wait() {
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

fn terminate(child: &mut Spawned) -> std::process::ExitStatus {
    crate::support::terminate(&mut child.0)
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
    let tmp = TempDir::new("bin");
    let dir = tmp.path();
    let port = free_port();
    let mut child = spawn(dir, port);
    let first_start = wait_ready(port, &mut child);
    let account = json!({"username": "alice", "password": "a long passphrase"});
    let mut owner = account.clone();
    owner["setup_token"] = json!(SETUP_TOKEN);
    let (status, body) = post(port, "/api/v1/accounts", &owner);
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
    let mut child = spawn(dir, port);
    let warm_start = wait_ready(port, &mut child);
    let (status, body) = post(port, "/api/v1/sessions", &account);
    assert_eq!(status, 201, "{body}");
    eprintln!("start to ready: first {first_start:?} (initdb), then {warm_start:?}");
    assert!(terminate(&mut child).success());
}

#[test]
fn missing_postgres_binaries_give_one_clear_message() {
    let tmp = TempDir::new("bin");
    let dir = tmp.path();
    let out = Command::new(BIN)
        .current_dir(dir)
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
}

#[test]
fn invalid_configuration_is_refused_at_start() {
    let tmp = TempDir::new("bin");
    let dir = tmp.path();
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
}

/// A WebSocket client of the spawned binary.
struct Socket(tungstenite::WebSocket<std::net::TcpStream>);

impl Socket {
    fn open(port: u16, token: &str) -> Socket {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/api/v1/ws"), stream)
            .expect("handshake");
        let mut s = Socket(ws);
        s.send(&json!({"type": "authenticate", "token": token}));
        assert_eq!(s.next_of("ready", Duration::from_secs(5))["type"], "ready");
        s
    }

    fn send(&mut self, v: &Value) {
        self.0
            .send(tungstenite::Message::Text(v.to_string().into()))
            .expect("send");
    }

    /// The next text frame within `wait`; None on timeout or when the connection ended.
    fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            match self.0.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    return serde_json::from_str(t.as_str()).ok();
                }
                Ok(tungstenite::Message::Close(f)) => {
                    return Some(json!({"type": "close", "code": f.map(|f| u16::from(f.code))}))
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
    }

    fn next_of(&mut self, kind: &str, wait: Duration) -> Value {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(f) = self.next(Duration::from_millis(100)) {
                if f["type"] == kind {
                    return f;
                }
            }
        }
        panic!("no {kind}");
    }
}

fn get_json(port: u16, path: &str, token: &str) -> Value {
    let mut r = agent()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .call()
        .expect("request");
    assert_eq!(r.status(), 200);
    r.body_mut().read_json::<Value>().expect("json")
}

fn post_auth(port: u16, path: &str, token: &str, body: &Value) -> Value {
    let mut r = agent()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .send_json(body)
        .expect("request");
    r.body_mut().read_json::<Value>().expect("json")
}

/// Every message of a channel, oldest first: (text, seq).
fn history(port: u16, channel: &str, token: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = get_json(
            port,
            &format!("/api/v1/channels/{channel}/messages?limit=100&after_seq={after}"),
            token,
        );
        let list = page["messages"].as_array().expect("list").clone();
        for m in &list {
            after = m["seq"].as_i64().expect("seq");
            out.push((
                m["content"]["text"].as_str().unwrap_or("").to_owned(),
                after,
            ));
        }
        if page["has_more"] != true {
            return out;
        }
    }
}

/// Registers (or logs in) and returns an access token; creates a plaintext channel if asked.
fn setup(port: u16, first: bool) -> (String, Option<String>) {
    let account = json!({"username": "alice", "password": "a long passphrase"});
    let path = if first {
        "/api/v1/accounts"
    } else {
        "/api/v1/sessions"
    };
    let (status, body) = post(port, path, &account);
    assert_eq!(status, 201, "{body}");
    let token = body["access_token"].as_str().expect("token").to_owned();
    if !first {
        return (token, None);
    }
    post_auth(
        port,
        "/api/v1/communities",
        &token,
        &json!({"name": "durable", "e2e": false}),
    );
    let channels = get_json(port, "/api/v1/channels", &token);
    let channel = channels["channels"][0]["id"]
        .as_str()
        .expect("channel")
        .to_owned();
    (token, Some(channel))
}

#[test]
fn every_acknowledged_message_survives_a_kill_9_during_a_burst() {
    let tmp = TempDir::new("bin");
    let dir = tmp.path();
    let port = free_port();
    let mut child = spawn(dir, port);
    wait_ready(port, &mut child);
    let (token, channel) = setup(port, true);
    let channel = channel.expect("channel");
    let mut ws = Socket::open(port, &token);
    ws.send(&json!({"type": "subscribe", "channels": [{"channel_id": channel}]}));
    ws.next_of("subscribed", Duration::from_secs(5));

    // a burst of sends; the server is killed while most are still in flight
    const BURST: usize = 2000;
    let mut acked: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for i in 0..BURST {
        ws.send(&json!({"type": "send_message", "channel_id": channel,
            "nonce": format!("n{i}"), "content": {"kind": "text", "text": format!("n{i}")}}));
    }
    let sent = BURST;
    let mut killed = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !killed {
        if let Some(f) = ws.next(Duration::from_millis(100)) {
            if f["type"] == "message_acked" {
                acked.insert(
                    f["nonce"].as_str().expect("nonce").to_owned(),
                    f["seq"].as_i64().expect("seq"),
                );
            }
        }
        if acked.len() >= 200 {
            Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status()
                .expect("kill");
            killed = true;
        }
    }
    // acknowledgements already on their way still count
    while let Some(f) = ws.next(Duration::from_millis(200)) {
        if f["type"] == "message_acked" {
            acked.insert(
                f["nonce"].as_str().expect("nonce").to_owned(),
                f["seq"].as_i64().expect("seq"),
            );
        }
    }
    assert!(killed, "the server was killed mid-burst");
    let _ = child.wait();
    assert!(acked.len() >= 200);

    // restart on the same data: every acknowledged message is there, once, with its sequence
    let mut child = spawn(dir, port);
    wait_ready(port, &mut child);
    let (token, _) = setup(port, false);
    let stored = history(port, &channel, &token);
    let by_text: std::collections::HashMap<&str, i64> =
        stored.iter().map(|(t, s)| (t.as_str(), *s)).collect();
    assert_eq!(by_text.len(), stored.len(), "no duplicates");
    for (nonce, seq) in &acked {
        assert_eq!(
            by_text.get(nonce.as_str()),
            Some(seq),
            "acknowledged {nonce} is stored"
        );
    }
    // resending everything with the same nonces stores nothing twice
    let mut ws = Socket::open(port, &token);
    ws.send(&json!({"type": "subscribe", "channels": [{"channel_id": channel}]}));
    ws.next_of("subscribed", Duration::from_secs(5));
    for i in 0..sent {
        ws.send(&json!({"type": "send_message", "channel_id": channel,
            "nonce": format!("n{i}"), "content": {"kind": "text", "text": format!("n{i}")}}));
    }
    let mut acks = 0;
    while acks < sent {
        let f = ws.next_of("message_acked", Duration::from_secs(10));
        if let Some(seq) = acked.get(f["nonce"].as_str().expect("nonce")) {
            assert_eq!(
                f["seq"].as_i64(),
                Some(*seq),
                "a retry is answered with the stored message"
            );
        }
        acks += 1;
    }
    let after = history(port, &channel, &token);
    let unique: std::collections::HashSet<&str> = after.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(unique.len(), after.len(), "still no duplicates");
    assert_eq!(
        after.len(),
        sent,
        "every retried message is stored exactly once"
    );
    eprintln!(
        "kill -9 mid-burst: {} acknowledged, {} stored before the retry, {} after",
        acked.len(),
        stored.len(),
        after.len()
    );
    assert!(terminate(&mut child).success());
}

#[test]
fn sigterm_tells_sockets_and_commits_what_it_acknowledged() {
    let tmp = TempDir::new("bin");
    let dir = tmp.path();
    let port = free_port();
    let mut child = spawn(dir, port);
    wait_ready(port, &mut child);
    let (token, channel) = setup(port, true);
    let channel = channel.expect("channel");
    let mut ws = Socket::open(port, &token);
    ws.send(&json!({"type": "subscribe", "channels": [{"channel_id": channel}]}));
    ws.next_of("subscribed", Duration::from_secs(5));
    let mut acked = std::collections::HashSet::new();
    for i in 0..20 {
        ws.send(&json!({"type": "send_message", "channel_id": channel,
            "nonce": format!("t{i}"), "content": {"kind": "text", "text": format!("t{i}")}}));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let mut closing = None;
    let mut close_code = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && close_code.is_none() {
        if let Some(f) = ws.next(Duration::from_millis(100)) {
            match f["type"].as_str() {
                Some("message_acked") => {
                    acked.insert(f["nonce"].as_str().expect("nonce").to_owned());
                }
                Some("closing") => closing = Some(f["reason"].clone()),
                Some("close") => close_code = Some(f["code"].clone()),
                _ => {}
            }
        }
    }
    assert_eq!(closing, Some(json!("server shutting down")));
    assert_eq!(close_code, Some(json!(1001)));
    let status = child.wait().expect("exit");
    assert!(status.success(), "clean exit: {status}");
    // what was acknowledged is stored
    let mut child = spawn(dir, port);
    wait_ready(port, &mut child);
    let (token, _) = setup(port, false);
    let stored: std::collections::HashSet<String> = history(port, &channel, &token)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert!(
        acked.iter().all(|n| stored.contains(n)),
        "{acked:?} vs {stored:?}"
    );
    assert!(terminate(&mut child).success());
}
