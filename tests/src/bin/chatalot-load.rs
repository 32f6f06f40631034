//! `chatalot-load`: the load generator. Drives a Chatalot server over loopback with many client
//! sockets and prints one table per scenario. See `docs/performance.md` for the figures and the
//! command lines that produced them.
//!
//! ```text
//! chatalot-load SCENARIO (--spawn-server PATH | --url http://127.0.0.1:PORT [--server-pid PID]) [options]
//! scenarios: idle | fanout | persist | history | restore | smoke
//! ```
//!
//! Every scenario is bounded in time and in count and stops by itself; only loopback targets
//! (127.0.0.0/8, ::1) are accepted.

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const USAGE: &str = "\
usage: chatalot-load SCENARIO TARGET [options]

TARGET:  --spawn-server PATH   start this chatalot-server binary (embedded PostgreSQL, temp dir)
         --url URL             use a running server on loopback (http://127.0.0.1:PORT)
         --server-pid PID      with --url: the server process, for CPU and memory figures
SCENARIOS and their options (defaults in brackets):
  idle     --conns N [1000]                      authenticated idle WebSockets; RSS per socket
           --unauthenticated 1                   handshake only, never authenticate (for comparison)
  fanout   --senders S [4] --receivers R [100] --rate MSGS_PER_SEC [200] --duration SECS [5]
  persist  --senders S [64] --channels C [8] --inflight W [4] --duration SECS [5]
  history  --concurrency K [32] --duration SECS [5] --fill M [200]
  restore  --messages M [2000]                   end-to-end key backup: M encrypted messages (half
                                                 in a DM, half in a channel) backed up, then a fresh
                                                 device restores from the recovery key and reads them
  files    --size MIB [100]                      one file uploaded and downloaded: MB/s, server CPU
                                                 per MB, server memory growth during each transfer
  smoke    each scenario for about a second at small sizes; exits non-zero on any error
common:  --runs N [1] (fanout, persist, history: N measured runs on one setup, then the median)
         --server-workers N [0 = one per core] (with --spawn-server)";

/// Clock shared by senders and receivers: message texts carry nanoseconds since it.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch_nanos() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

// ---------------------------------------------------------------------------------------------
// Arguments

#[derive(Debug, Clone)]
struct Args {
    scenario: String,
    spawn: Option<PathBuf>,
    url: Option<String>,
    server_pid: Option<u32>,
    server_workers: usize,
    opts: HashMap<String, u64>,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut it = std::env::args().skip(1);
        let mut a = Args {
            scenario: String::new(),
            spawn: None,
            url: None,
            server_pid: None,
            server_workers: 0,
            opts: HashMap::new(),
        };
        while let Some(arg) = it.next() {
            let mut value = |name: &str| it.next().ok_or_else(|| anyhow!("{name} needs a value"));
            match arg.as_str() {
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                "--spawn-server" => a.spawn = Some(value(&arg)?.into()),
                "--url" => a.url = Some(value(&arg)?),
                "--server-pid" => a.server_pid = Some(value(&arg)?.parse()?),
                "--server-workers" => a.server_workers = value(&arg)?.parse()?,
                "--conns" | "--senders" | "--receivers" | "--rate" | "--duration"
                | "--channels" | "--inflight" | "--concurrency" | "--fill" | "--runs"
                | "--unauthenticated" | "--messages" | "--size" => {
                    let v: u64 = value(&arg)?
                        .parse()
                        .with_context(|| format!("{arg} takes a whole number"))?;
                    a.opts.insert(arg.trim_start_matches("--").to_owned(), v);
                }
                s if !s.starts_with('-') && a.scenario.is_empty() => a.scenario = s.to_owned(),
                other => bail!("unknown argument {other}\n\n{USAGE}"),
            }
        }
        if a.scenario.is_empty() {
            bail!("{USAGE}");
        }
        if a.spawn.is_some() == a.url.is_some() {
            bail!("give exactly one of --spawn-server and --url\n\n{USAGE}");
        }
        Ok(a)
    }

    fn get(&self, name: &str, default: u64) -> u64 {
        self.opts.get(name).copied().unwrap_or(default)
    }
}

/// Parses `http://HOST:PORT` and refuses anything outside loopback.
fn loopback_addr(url: &str) -> Result<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("the URL must start with http://"))?;
    let hostport = rest.trim_end_matches('/');
    let addr: SocketAddr = match hostport.parse() {
        Ok(a) => a,
        Err(_) => {
            let (host, port) = hostport
                .rsplit_once(':')
                .ok_or_else(|| anyhow!("the URL needs a port"))?;
            if host != "localhost" {
                bail!("only loopback addresses are accepted, not {host}");
            }
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port.parse()?)
        }
    };
    if !addr.ip().is_loopback() {
        bail!(
            "refusing {}: the load generator only targets 127.0.0.0/8 and ::1",
            addr.ip()
        );
    }
    Ok(addr)
}

// ---------------------------------------------------------------------------------------------
// The server under test

struct Server {
    addr: SocketAddr,
    pid: Option<u32>,
    child: Option<Child>,
    dir: Option<PathBuf>,
}

/// The configuration written for `--spawn-server`: relaxed account limits (so that setup can
/// register thousands of users quickly) and relaxed realtime limits (so that the gateway's
/// per-connection guards do not cap the benchmark). `docs/performance.md` lists every value.
fn bench_config(dir: &Path, port: u16, workers: usize) -> String {
    format!(
        r#"[server]
bind = "127.0.0.1:{port}"
data_dir = "{data}"
web_root = "{web}"
workers = {workers}
shutdown_timeout_secs = 2

[auth]
registration_mode = "open"
access_token_ttl_secs = 86400
argon2_memory_kib = 1024
argon2_iterations = 1

[limits]
auth_ip_burst = 1000000
auth_ip_per_minute = 1000000
register_ip_burst = 1000000
register_ip_per_hour = 1000000
user_burst = 1000000000
user_per_minute = 1000000000
messages_per_day = 1000000000
message_bytes_per_day = 1000000000000

[log]
level = "warn"

[realtime]
idle_timeout_secs = 600
max_sessions_per_user = 1000
outbox_frames = 4096
outbox_bytes = 67108864
frames_burst = 100000
frames_per_sec = 100000
unauthenticated_per_ip = 1000000
"#,
        data = dir.join("data").display(),
        web = dir.join("no-web-app").display(),
    )
}

impl Server {
    async fn start(args: &Args) -> Result<Server> {
        if let Some(url) = &args.url {
            let addr = loopback_addr(url)?;
            return Ok(Server {
                addr,
                pid: args.server_pid,
                child: None,
                dir: None,
            });
        }
        let bin = args.spawn.clone().context("--spawn-server")?;
        let dir = std::env::temp_dir().join(format!(
            "chatalot-load-{}-{}",
            std::process::id(),
            since_epoch_nanos()
        ));
        std::fs::create_dir_all(&dir).context("create the server's temp dir")?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").context("pick a port")?;
            l.local_addr()?.port()
        };
        let config = dir.join("config.toml");
        std::fs::write(&config, bench_config(&dir, port, args.server_workers))?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut cmd = Command::new(&bin);
        // the generated file alone configures it: the environment would override it
        cmd.env_remove("DATABASE_URL");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CHATALOT_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let mut server = Server {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            pid: Some(child.id()),
            child: Some(child),
            dir: Some(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(c) = server.child.as_mut() {
                if let Some(status) = c.try_wait()? {
                    let log = server.log_tail();
                    bail!("the server exited during start ({status}):\n{log}");
                }
            }
            if let Ok(mut h) = Http::connect(server.addr).await {
                if let Ok((200, _)) = h.request("GET", "/api/v1/ready", None, None).await {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                let log = server.log_tail();
                server.stop();
                bail!("the server was not ready within 90 s:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("server.log")).ok())
            .map(|s| {
                let lines: Vec<&str> = s.lines().collect();
                lines[lines.len().saturating_sub(30)..].join("\n")
            })
            .unwrap_or_default()
    }

    /// SIGTERM, then wait (at most 20 s) and remove the temp dir.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => {
                        eprintln!("the server did not stop within 20 s; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn cpu_ticks(&self) -> Option<u64> {
        proc_cpu_ticks(self.pid?)
    }

    fn rss_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// utime + stime of a process, in clock ticks (100 per second here).
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name, which is in parentheses and may hold spaces
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

const TICK_US: f64 = 10_000.0;

/// Machine-wide busy and total jiffies from /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

/// CPU use over a measured interval: the server's, this process's and the machine's.
struct CpuMeter {
    server: Option<u64>,
    me: Option<u64>,
    machine: Option<(u64, u64)>,
}

struct CpuUse {
    server_us: Option<f64>,
    me_us: Option<f64>,
    /// Machine busy, in cores (2.0 = both cores busy).
    machine_cores: Option<f64>,
}

impl CpuMeter {
    fn start(s: &Server) -> CpuMeter {
        CpuMeter {
            server: s.cpu_ticks(),
            me: proc_cpu_ticks(std::process::id()),
            machine: machine_ticks(),
        }
    }

    fn stop(&self, s: &Server) -> CpuUse {
        let d = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?) as f64 * TICK_US);
        let machine = match (self.machine, machine_ticks()) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                // jiffies of all cores: busy share times core count
                let cores = std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1) as f64;
                Some((b1 - b0) as f64 / (t1 - t0) as f64 * cores)
            }
            _ => None,
        };
        CpuUse {
            server_us: d(self.server, s.cpu_ticks()),
            me_us: d(self.me, proc_cpu_ticks(std::process::id())),
            machine_cores: machine,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 keep-alive client (JSON requests, Content-Length or chunked answers)

struct Http {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Http {
    async fn connect(addr: SocketAddr) -> Result<Http> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http {
            stream: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>)> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nuser-agent: chatalot-load\r\n",
            self.host
        );
        if let Some(t) = token {
            req.push_str(&format!("authorization: Bearer {t}\r\n"));
        }
        if method != "GET" {
            req.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        self.stream.get_mut().write_all(req.as_bytes()).await?;
        let (status, length, chunked) = read_head(&mut self.stream).await?;
        let mut line = String::new();
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let n = usize::from_str_radix(line.trim(), 16)?;
                let mut chunk = vec![0; n + 2];
                self.stream.read_exact(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = length {
            out.resize(n as usize, 0);
            self.stream.read_exact(&mut out).await?;
        }
        Ok((status, out))
    }

    /// A request that must answer `want`; returns the JSON body. A 401 for a valid token is
    /// retried (up to 5 times) and counted in `AUTH_RETRIES`, as at `authenticate`.
    async fn json(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        want: &[u16],
    ) -> Result<Value> {
        let mut attempt = 0;
        let (status, bytes) = loop {
            let (status, bytes) = self.request(method, path, token, body).await?;
            if status == 401 && token.is_some() && attempt < 5 {
                attempt += 1;
                AUTH_RETRIES.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            break (status, bytes);
        };
        if !want.contains(&status) {
            bail!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Setup: users, communities, WebSockets

#[derive(Debug, Clone)]
struct User {
    token: String,
}

/// Registers `n` users, eight at a time.
async fn register_users(addr: SocketAddr, n: usize) -> Result<Vec<User>> {
    let tag = (since_epoch_nanos() % 1_000_000_007) ^ u64::from(std::process::id());
    let sem = Arc::new(Semaphore::new(8));
    let mut tasks = Vec::new();
    for i in 0..n {
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let mut h = Http::connect(addr).await?;
            let name = format!("l{tag:x}n{i}");
            let r = h
                .json(
                    "POST",
                    "/api/v1/accounts",
                    None,
                    Some(
                        &json!({"username": name, "password": "correct horse battery staple",
                        "device_name": "chatalot-load"}),
                    ),
                    &[201],
                )
                .await?;
            let token = r["access_token"]
                .as_str()
                .ok_or_else(|| anyhow!("no access_token in {r}"))?
                .to_owned();
            anyhow::Ok(User { token })
        }));
    }
    let mut users = Vec::with_capacity(n);
    for t in tasks {
        users.push(t.await??);
    }
    Ok(users)
}

/// A public plaintext community created by `owner`; returns the id of its channel.
async fn create_channel(addr: SocketAddr, owner: &User, name: &str) -> Result<(String, String)> {
    let mut h = Http::connect(addr).await?;
    let c = h
        .json(
            "POST",
            "/api/v1/communities",
            Some(&owner.token),
            Some(&json!({"name": name, "visibility": "public", "e2e": false})),
            &[201],
        )
        .await?;
    let cid = c["id"].as_str().context("community id")?.to_owned();
    let list = h
        .json(
            "GET",
            "/api/v1/channels?limit=500",
            Some(&owner.token),
            None,
            &[200],
        )
        .await?;
    let ch = list["channels"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["community_id"] == cid.as_str()))
        .and_then(|c| c["id"].as_str())
        .context("the new community's channel")?
        .to_owned();
    Ok((cid, ch))
}

/// Every user joins the community, eight at a time.
async fn join_all(addr: SocketAddr, users: &[User], community: &str) -> Result<()> {
    let sem = Arc::new(Semaphore::new(8));
    let mut tasks = Vec::new();
    for u in users {
        let (sem, token, path) = (
            sem.clone(),
            u.token.clone(),
            format!("/api/v1/communities/{community}/members"),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let mut h = Http::connect(addr).await?;
            h.json("POST", &path, Some(&token), None, &[200, 201])
                .await?;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

type Ws = WebSocketStream<TcpStream>;
type WsTx = SplitSink<Ws, Message>;
type WsRx = SplitStream<Ws>;

/// Source address for socket `i` of `total`: one loopback address carries at most 20,000.
fn source_ip(i: usize, total: usize) -> Option<IpAddr> {
    if total <= 20_000 {
        return None;
    }
    let spread = total.div_ceil(20_000).min(254);
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % spread) as u8)))
}

/// Valid tokens the server refused during setup (at `authenticate` or with a 401) and that were
/// retried.
static AUTH_RETRIES: AtomicU64 = AtomicU64::new(0);

/// Connects, authenticates and waits for `ready`. A refused token is retried (up to 5 times) on
/// a new socket and counted in `AUTH_RETRIES`: the tokens are valid, and the server has been
/// seen to refuse valid tokens under load.
async fn ws_open(addr: SocketAddr, src: Option<IpAddr>, token: &str) -> Result<Ws> {
    let mut attempt = 0;
    loop {
        match ws_open_once(addr, src, token).await {
            Err(e)
                if attempt < 5
                    && ["unauthorized", "session revoked"]
                        .iter()
                        .any(|w| e.to_string().contains(w)) =>
            {
                attempt += 1;
                AUTH_RETRIES.fetch_add(1, Ordering::Relaxed);
            }
            other => return other,
        }
    }
}

/// The WebSocket handshake only, from `src` when given.
async fn ws_connect(addr: SocketAddr, src: Option<IpAddr>) -> Result<Ws> {
    let sock = TcpSocket::new_v4()?;
    if let Some(ip) = src {
        sock.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = sock.connect(addr).await?;
    stream.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/api/v1/ws"), stream).await?;
    Ok(ws)
}

async fn ws_open_once(addr: SocketAddr, src: Option<IpAddr>, token: &str) -> Result<Ws> {
    let mut ws = ws_connect(addr, src).await?;
    ws.send(Message::text(
        json!({"type": "authenticate", "token": token}).to_string(),
    ))
    .await?;
    loop {
        let f = next_json(&mut ws, Duration::from_secs(10)).await?;
        match f["type"].as_str() {
            Some("ready") => return Ok(ws),
            Some("error") | Some("closing") => bail!("authenticate: {f}"),
            _ => {}
        }
    }
}

async fn next_json(ws: &mut Ws, wait: Duration) -> Result<Value> {
    loop {
        let m = tokio::time::timeout(wait, ws.next())
            .await
            .map_err(|_| anyhow!("no frame within {wait:?}"))?
            .ok_or_else(|| anyhow!("connection closed"))??;
        match m {
            Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
            Message::Close(c) => bail!("closed by the server: {c:?}"),
            _ => {}
        }
    }
}

async fn subscribe(ws: &mut Ws, channel: &str) -> Result<()> {
    ws.send(Message::text(
        json!({"type": "subscribe", "channels": [{"channel_id": channel}]}).to_string(),
    ))
    .await?;
    loop {
        let f = next_json(ws, Duration::from_secs(20)).await?;
        match f["type"].as_str() {
            Some("subscribed") if f["channel_id"] == channel => return Ok(()),
            Some("error") | Some("closing") | Some("unsubscribed") => bail!("subscribe: {f}"),
            _ => {}
        }
    }
}

/// Opens `n` authenticated sockets for `users` (round robin; none: sockets that never
/// authenticate), `parallel` handshakes at a time.
async fn open_many(
    addr: SocketAddr,
    users: &[User],
    n: usize,
    channel: Option<&str>,
    parallel: usize,
) -> Result<Vec<Ws>> {
    let sem = Arc::new(Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let sem = sem.clone();
        let token = users.get(i % users.len().max(1)).map(|u| u.token.clone());
        let channel = channel.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let mut ws = match token {
                Some(token) => ws_open(addr, source_ip(i, n), &token).await?,
                None => ws_connect(addr, source_ip(i, n)).await?,
            };
            if let Some(ch) = channel {
                subscribe(&mut ws, &ch).await?;
            }
            anyhow::Ok(ws)
        }));
    }
    let mut out = Vec::with_capacity(n);
    for (i, t) in tasks.into_iter().enumerate() {
        out.push(t.await?.with_context(|| format!("socket {i}"))?);
    }
    Ok(out)
}

fn send_frame(channel: &str, nonce: &str, text: &str) -> Message {
    Message::text(
        json!({"type": "send_message", "channel_id": channel, "nonce": nonce,
            "content": {"kind": "text", "text": text}})
        .to_string(),
    )
}

/// Prints the first few server errors of a run, then stays quiet.
fn log_error(who: &str, what: &str) {
    static LOGGED: AtomicU64 = AtomicU64::new(0);
    let n = LOGGED.fetch_add(1, Ordering::Relaxed);
    if n < 10 {
        eprintln!("{who}: {what}");
    } else if n == 10 {
        eprintln!("(further errors are counted, not printed)");
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics and tables

/// Percentile of sorted samples.
fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A table: a header and rows of numbers; prints each run and the median of the runs.
struct Table {
    title: String,
    cols: Vec<&'static str>,
    rows: Vec<Vec<f64>>,
}

impl Table {
    fn new(title: &str, cols: &[&'static str]) -> Table {
        Table {
            title: title.to_owned(),
            cols: cols.to_vec(),
            rows: Vec::new(),
        }
    }

    fn fmt(v: f64) -> String {
        if v.is_nan() {
            "-".into()
        } else if v.abs() >= 100.0 || v == v.trunc() {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    }

    fn print(&self) {
        println!("\n{}", self.title);
        println!(
            "command: {}",
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        println!("| run | {} |", self.cols.join(" | "));
        println!("|---|{}", "---|".repeat(self.cols.len()));
        for (i, r) in self.rows.iter().enumerate() {
            let cells: Vec<String> = r.iter().map(|v| Self::fmt(*v)).collect();
            println!("| {} | {} |", i + 1, cells.join(" | "));
        }
        if self.rows.len() > 1 {
            let cells: Vec<String> = (0..self.cols.len())
                .map(|c| Self::fmt(median(self.rows.iter().map(|r| r[c]).collect())))
                .collect();
            println!("| median | {} |", cells.join(" | "));
        }
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// What a scenario reports back to `smoke`: errors seen (0 = pass).
type Outcome = Result<u64>;

async fn scenario_idle(server: &Server, args: &Args) -> Outcome {
    let n = args.get("conns", 1000) as usize;
    let unauthenticated = args.get("unauthenticated", 0) == 1;
    let users = if unauthenticated {
        Vec::new()
    } else {
        register_users(server.addr, n.div_ceil(500).max(1)).await?
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib();
    let t0 = Instant::now();
    let sockets = open_many(server.addr, &users, n, None, 64).await?;
    let open_secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_kib();
    let per = match (before, after) {
        (Some(b), Some(a)) => (a as f64 - b as f64) * 1024.0 / n as f64,
        _ => f64::NAN,
    };
    let mut t = Table::new(
        &format!(
            "idle: {n} {} idle WebSockets",
            if unauthenticated {
                "unauthenticated (handshake only)"
            } else {
                "authenticated"
            }
        ),
        &[
            "sockets",
            "open+auth s",
            "sockets/s",
            "server RSS before MiB",
            "after MiB",
            "bytes per socket",
        ],
    );
    t.rows.push(vec![
        n as f64,
        open_secs,
        n as f64 / open_secs,
        before.map_or(f64::NAN, |v| v as f64 / 1024.0),
        after.map_or(f64::NAN, |v| v as f64 / 1024.0),
        per,
    ]);
    t.print();
    // close them all, politely and in parallel
    let mut closing = Vec::new();
    for mut ws in sockets {
        closing.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
        }));
    }
    for c in closing {
        let _ = c.await;
    }
    Ok(0)
}

/// Per-receiver counts for one fan-out run: latencies in µs.
#[derive(Default)]
struct RecvStats {
    lat: Vec<Vec<u64>>,
    other_errors: u64,
    last_nanos: u64,
}

/// Finds `"text":"L<run>:<nanos>"` in a `message_created` frame.
fn parse_stamp(s: &str) -> Option<(usize, u64)> {
    if !s.contains("\"message_created\"") {
        return None;
    }
    let i = s.find("\"text\":\"L")? + 9;
    let rest = &s[i..];
    let colon = rest.find(':')?;
    let run = rest[..colon].parse().ok()?;
    let tail = &rest[colon + 1..];
    let end = tail.find(|c: char| !c.is_ascii_digit())?;
    Some((run, tail[..end].parse().ok()?))
}

fn spawn_receiver(mut rx: WsRx, stats: Arc<Mutex<RecvStats>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(m) = rx.next().await {
            let Ok(m) = m else { break };
            let Message::Text(t) = m else { continue };
            let now = since_epoch_nanos();
            let s = t.as_str();
            if let Some((run, sent)) = parse_stamp(s) {
                let mut st = stats.lock().expect("receiver stats lock");
                if st.lat.len() <= run {
                    st.lat.resize_with(run + 1, Vec::new);
                }
                st.lat[run].push(now.saturating_sub(sent) / 1000);
                st.last_nanos = st.last_nanos.max(now);
            } else if s.contains("\"type\":\"error\"")
                || s.contains("\"type\":\"closing\"")
                || s.contains("\"type\":\"unsubscribed\"")
            {
                log_error("receiver", s);
                stats.lock().expect("receiver stats lock").other_errors += 1;
            }
        }
    })
}

/// Counts acks and errors of a sender connection.
#[derive(Default)]
struct AckCounter {
    acked: AtomicU64,
    errors: AtomicU64,
}

fn spawn_ack_reader(mut rx: WsRx, counter: Arc<AckCounter>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(m) = rx.next().await {
            let Ok(m) = m else { break };
            let Message::Text(t) = m else { continue };
            let s = t.as_str();
            if s.contains("\"type\":\"message_acked\"") {
                counter.acked.fetch_add(1, Ordering::Relaxed);
            } else if s.contains("\"type\":\"error\"") || s.contains("\"type\":\"closing\"") {
                log_error("sender", s);
                counter.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

async fn scenario_fanout(server: &Server, args: &Args) -> Outcome {
    let senders = args.get("senders", 4).max(1) as usize;
    let receivers = args.get("receivers", 100).max(1) as usize;
    let rate = args.get("rate", 200).max(1) as f64;
    let secs = args.get("duration", 5).max(1);
    let runs = args.get("runs", 1).max(1) as usize;
    let recv_users_n = receivers.div_ceil(50);
    let users = register_users(server.addr, senders + recv_users_n).await?;
    let (community, channel) = create_channel(server.addr, &users[0], "fanout").await?;
    join_all(server.addr, &users[1..], &community).await?;
    let recv_sockets = open_many(
        server.addr,
        &users[senders..],
        receivers,
        Some(&channel),
        32,
    )
    .await?;
    // receivers never send; their write halves are kept open until the end
    let mut recv_txs: Vec<WsTx> = Vec::new();
    let mut readers = Vec::new();
    let stats: Vec<Arc<Mutex<RecvStats>>> = recv_sockets
        .into_iter()
        .map(|ws| {
            let st = Arc::new(Mutex::new(RecvStats::default()));
            let (tx, rx) = ws.split();
            recv_txs.push(tx);
            readers.push(spawn_receiver(rx, st.clone()));
            st
        })
        .collect();
    // senders subscribe too (sending needs a subscription); their own copies are not counted
    let send_sockets =
        open_many(server.addr, &users[..senders], senders, Some(&channel), 8).await?;
    let mut txs: Vec<WsTx> = Vec::new();
    let counters: Vec<Arc<AckCounter>> = send_sockets
        .into_iter()
        .map(|ws| {
            let (tx, rx) = ws.split();
            txs.push(tx);
            let c = Arc::new(AckCounter::default());
            readers.push(spawn_ack_reader(rx, c.clone()));
            c
        })
        .collect();
    let mut table = Table::new(
        &format!(
            "fanout: {senders} senders -> {receivers} receivers in one channel, {rate} messages/s \
             for {secs} s"
        ),
        &[
            "sent",
            "acked",
            "deliveries",
            "lost",
            "deliveries/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "server µs/delivery",
            "loadgen µs/delivery",
            "machine busy cores",
        ],
    );
    let mut errors = 0;
    let mut txs_slot = Some(txs);
    for run in 0..runs {
        let acked0: u64 = counters
            .iter()
            .map(|c| c.acked.load(Ordering::Relaxed))
            .sum();
        let meter = CpuMeter::start(server);
        let start = Instant::now();
        let start_nanos = since_epoch_nanos();
        let per_sender = rate / senders as f64;
        let mut tasks = Vec::new();
        for (si, mut tx) in txs_slot.take().unwrap_or_default().into_iter().enumerate() {
            let channel = channel.clone();
            tasks.push(tokio::spawn(async move {
                let total = (per_sender * secs as f64).round() as u64;
                let gap = Duration::from_secs_f64(1.0 / per_sender);
                let mut sent = 0u64;
                // spread the senders over one gap so that they do not send in lockstep
                let first = start + gap.mul_f64(si as f64 / senders as f64);
                while sent < total {
                    let due = first + gap.mul_f64(sent as f64);
                    tokio::time::sleep_until(due.into()).await;
                    // catch up on a late wake-up, but never burst more than 100 frames
                    let behind = ((Instant::now() - first).as_secs_f64() * per_sender) as u64 + 1;
                    let upto = behind.min(total).min(sent + 100).max(sent + 1);
                    while sent < upto {
                        let text = format!("L{run}:{}", since_epoch_nanos());
                        let nonce = format!("f{si}-{run}-{sent}");
                        tx.feed(send_frame(&channel, &nonce, &text)).await?;
                        sent += 1;
                    }
                    tx.flush().await?;
                }
                anyhow::Ok((tx, sent))
            }));
        }
        let mut sent = 0;
        let mut back = Vec::new();
        for t in tasks {
            let (tx, n) = t.await??;
            sent += n;
            back.push(tx);
        }
        txs_slot = Some(back);
        // wait for acks and deliveries (at most 10 s after the sending window)
        let expected = sent * receivers as u64;
        let drain_deadline = Instant::now() + Duration::from_secs(10);
        let (mut lat, mut last) = (Vec::new(), start_nanos);
        loop {
            let got: u64 = stats
                .iter()
                .map(|s| {
                    s.lock()
                        .expect("stats lock")
                        .lat
                        .get(run)
                        .map_or(0, |v| v.len() as u64)
                })
                .sum();
            let acked: u64 = counters
                .iter()
                .map(|c| c.acked.load(Ordering::Relaxed))
                .sum::<u64>()
                - acked0;
            if (got >= expected && acked >= sent) || Instant::now() > drain_deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cpu = meter.stop(server);
        for s in &stats {
            let mut st = s.lock().expect("stats lock");
            if let Some(v) = st.lat.get_mut(run) {
                lat.append(v);
            }
            last = last.max(st.last_nanos);
            errors += std::mem::take(&mut st.other_errors);
        }
        let acked: u64 = counters
            .iter()
            .map(|c| c.acked.load(Ordering::Relaxed))
            .sum::<u64>()
            - acked0;
        let send_errors: u64 = counters
            .iter()
            .map(|c| c.errors.swap(0, Ordering::Relaxed))
            .sum();
        errors += send_errors;
        lat.sort_unstable();
        let got = lat.len() as u64;
        let lost = expected.saturating_sub(got);
        errors += lost;
        let window = ((last - start_nanos) as f64 / 1e9).max(secs as f64);
        table.rows.push(vec![
            sent as f64,
            acked as f64,
            got as f64,
            lost as f64,
            got as f64 / window,
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or(0)),
            cpu.server_us.map_or(f64::NAN, |u| u / got.max(1) as f64),
            cpu.me_us.map_or(f64::NAN, |u| u / got.max(1) as f64),
            cpu.machine_cores.unwrap_or(f64::NAN),
        ]);
        if acked < sent {
            errors += sent - acked;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    table.print();
    for r in readers {
        r.abort();
    }
    drop(recv_txs);
    Ok(errors)
}

async fn scenario_persist(server: &Server, args: &Args) -> Outcome {
    let senders = args.get("senders", 64).max(1) as usize;
    let nchannels = args.get("channels", 8).max(1) as usize;
    let inflight = args.get("inflight", 4).max(1) as usize;
    let secs = args.get("duration", 5).max(1);
    let runs = args.get("runs", 1).max(1) as usize;
    let users = register_users(server.addr, senders.div_ceil(8) + 1).await?;
    let owner = users[0].clone();
    let mut channels = Vec::new();
    for i in 0..nchannels {
        let (community, channel) =
            create_channel(server.addr, &owner, &format!("persist {i}")).await?;
        join_all(server.addr, &users[1..], &community).await?;
        channels.push(channel);
    }
    let mut sockets = Vec::with_capacity(senders);
    for (c, channel) in channels.iter().enumerate() {
        // sockets c, c + C, c + 2C, ... send to channel c
        let n = (senders + nchannels - 1 - c) / nchannels;
        sockets.push(open_many(server.addr, &users[1..], n, Some(channel), 16).await?);
    }
    let mut sockets: Vec<Ws> = {
        let mut iters: Vec<_> = sockets.into_iter().map(|v| v.into_iter()).collect();
        (0..senders)
            .filter_map(|i| iters[i % nchannels].next())
            .collect()
    };
    let mut table = Table::new(
        &format!(
            "persist: {senders} senders over {nchannels} channels, {inflight} sends in flight \
             per socket, {secs} s"
        ),
        &[
            "acked",
            "acked/s",
            "ack p50 ms",
            "ack p99 ms",
            "ack max ms",
            "errors",
            "server µs/msg",
            "machine busy cores",
        ],
    );
    let mut errors = 0u64;
    let mut total_acked = 0u64;
    for run in 0..runs {
        let meter = CpuMeter::start(server);
        let start = Instant::now();
        let stop_at = start + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for (si, mut ws) in std::mem::take(&mut sockets).into_iter().enumerate() {
            let channel = channels[si % nchannels].clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut pending: HashMap<String, Instant> = HashMap::new();
                let (mut acked, mut errs, mut n) = (0u64, 0u64, 0u64);
                let give_up = stop_at + Duration::from_secs(15);
                loop {
                    while pending.len() < inflight && Instant::now() < stop_at {
                        let nonce = format!("p{si}-{run}-{n}");
                        n += 1;
                        ws.send(send_frame(&channel, &nonce, "persisted by chatalot-load"))
                            .await?;
                        pending.insert(nonce, Instant::now());
                    }
                    if pending.is_empty() {
                        break;
                    }
                    let wait = give_up.saturating_duration_since(Instant::now());
                    let f = match next_json(&mut ws, wait.max(Duration::from_millis(1))).await {
                        Ok(f) => f,
                        Err(e) => {
                            log_error(&format!("persist sender {si}"), &e.to_string());
                            errs += pending.len() as u64;
                            break;
                        }
                    };
                    let nonce = f["nonce"].as_str().unwrap_or_default();
                    match f["type"].as_str() {
                        Some("message_acked") => {
                            if let Some(t) = pending.remove(nonce) {
                                lat.push(t.elapsed().as_micros() as u64);
                                acked += 1;
                            }
                        }
                        Some("error") | Some("closing") => {
                            log_error(&format!("persist sender {si}"), &f.to_string());
                            pending.remove(nonce);
                            errs += 1;
                        }
                        _ => {}
                    }
                }
                anyhow::Ok((ws, acked, errs, lat))
            }));
        }
        let (mut acked, mut lat) = (0u64, Vec::new());
        for t in tasks {
            let (ws, a, e, mut l) = t.await??;
            sockets.push(ws);
            acked += a;
            errors += e;
            lat.append(&mut l);
        }
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = meter.stop(server);
        total_acked += acked;
        lat.sort_unstable();
        table.rows.push(vec![
            acked as f64,
            // over the sending window plus the drain of the last sends in flight
            acked as f64 / elapsed,
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or(0)),
            errors as f64,
            cpu.server_us.map_or(f64::NAN, |u| u / acked.max(1) as f64),
            cpu.machine_cores.unwrap_or(f64::NAN),
        ]);
    }
    table.print();
    // every ack must be a stored message: the channels' last_seq add up to the acks
    let mut h = Http::connect(server.addr).await?;
    let list = h
        .json(
            "GET",
            "/api/v1/channels?limit=500",
            Some(&owner.token),
            None,
            &[200],
        )
        .await?;
    let stored: i64 = list["channels"]
        .as_array()
        .context("channel list")?
        .iter()
        .filter(|c| {
            c["id"]
                .as_str()
                .is_some_and(|id| channels.iter().any(|x| x == id))
        })
        .map(|c| c["last_seq"].as_i64().unwrap_or(0))
        .sum();
    let ok = stored == total_acked as i64;
    println!(
        "verify: acknowledged {total_acked}, stored (sum of last_seq over {} channels) {stored}: {}",
        channels.len(),
        if ok { "match" } else { "MISMATCH" }
    );
    if !ok {
        errors += 1;
    }
    Ok(errors)
}

async fn scenario_history(server: &Server, args: &Args) -> Outcome {
    let k = args.get("concurrency", 32).max(1) as usize;
    let secs = args.get("duration", 5).max(1);
    let fill = args.get("fill", 200) as usize;
    let runs = args.get("runs", 1).max(1) as usize;
    let users = register_users(server.addr, k.min(64) + 1).await?;
    let (community, channel) = create_channel(server.addr, &users[0], "history").await?;
    join_all(server.addr, &users[1..], &community).await?;
    // fill the channel, 32 sends in flight
    let mut ws = ws_open(server.addr, None, &users[0].token).await?;
    subscribe(&mut ws, &channel).await?;
    let (mut sent, mut acked) = (0usize, 0usize);
    while acked < fill {
        while sent < fill && sent - acked < 32 {
            let text = format!("history message {sent} from chatalot-load");
            ws.send(send_frame(&channel, &format!("h{sent}"), &text))
                .await?;
            sent += 1;
        }
        let f = next_json(&mut ws, Duration::from_secs(15)).await?;
        match f["type"].as_str() {
            Some("message_acked") => acked += 1,
            Some("error") | Some("closing") => bail!("filling the channel: {f}"),
            _ => {}
        }
    }
    let _ = ws.close(None).await;
    let path = format!("/api/v1/channels/{channel}/messages?limit=50");
    let want = fill.min(50);
    let mut table = Table::new(
        &format!(
            "history: GET {path} from {k} keep-alive connections for {secs} s ({fill} messages \
             stored)"
        ),
        &[
            "requests",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
            "401 on valid token",
            "server µs/request",
            "machine busy cores",
        ],
    );
    let mut errors = 0;
    for _ in 0..runs {
        let meter = CpuMeter::start(server);
        let start = Instant::now();
        let stop_at = start + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for i in 0..k {
            let token = users[1 + i % (users.len() - 1)].token.clone();
            let (path, addr) = (path.clone(), server.addr);
            tasks.push(tokio::spawn(async move {
                let mut h = Http::connect(addr).await?;
                let (mut lat, mut errs, mut refused) = (Vec::new(), 0u64, 0u64);
                while Instant::now() < stop_at {
                    let t = Instant::now();
                    let (status, body) = h.request("GET", &path, Some(&token), None).await?;
                    lat.push(t.elapsed().as_micros() as u64);
                    if status == 401 {
                        // the token is valid: counted apart (see AUTH_RETRIES)
                        refused += 1;
                        continue;
                    }
                    let count = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v["messages"].as_array().map(|a| a.len()));
                    if status != 200 || count != Some(want) {
                        if errs == 0 {
                            eprintln!("history: {status} {}", String::from_utf8_lossy(&body));
                        }
                        errs += 1;
                    }
                }
                anyhow::Ok((lat, errs, refused))
            }));
        }
        let mut lat = Vec::new();
        let (mut errs, mut refused) = (0, 0);
        for t in tasks {
            let (mut l, e, r) = t.await??;
            lat.append(&mut l);
            errs += e;
            refused += r;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = meter.stop(server);
        lat.sort_unstable();
        let n = lat.len() as u64;
        errors += errs;
        // a few refusals of valid tokens are a known server fault under load (more of them in
        // debug builds); more than a tenth is a failure
        if refused * 10 > n {
            eprintln!("history: {refused} of {n} requests refused a valid token");
            errors += refused;
        }
        table.rows.push(vec![
            n as f64,
            n as f64 / elapsed,
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or(0)),
            errs as f64,
            refused as f64,
            cpu.server_us.map_or(f64::NAN, |u| u / n.max(1) as f64),
            cpu.machine_cores.unwrap_or(f64::NAN),
        ]);
    }
    table.print();
    Ok(errors)
}

async fn smoke(server: &Server, base: &Args) -> Result<bool> {
    let with = |pairs: &[(&str, u64)]| {
        let mut a = base.clone();
        a.opts = pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        a
    };
    let mut passed = 0;
    let mut failed = 0;
    let checks: [(&str, Args); 6] = [
        ("idle", with(&[("conns", 200)])),
        (
            "fanout",
            with(&[
                ("senders", 2),
                ("receivers", 20),
                ("rate", 100),
                ("duration", 1),
            ]),
        ),
        (
            "persist",
            with(&[
                ("senders", 8),
                ("channels", 2),
                ("inflight", 2),
                ("duration", 1),
            ]),
        ),
        (
            "history",
            with(&[("concurrency", 4), ("duration", 1), ("fill", 60)]),
        ),
        ("restore", with(&[("messages", 40)])),
        ("files", with(&[("size", 2)])),
    ];
    for (name, a) in checks {
        let r = run_scenario(name, server, &a).await;
        match r {
            Ok(0) => passed += 1,
            Ok(e) => {
                eprintln!("smoke: {name}: {e} errors");
                failed += 1;
            }
            Err(e) => {
                eprintln!("smoke: {name}: {e:#}");
                failed += 1;
            }
        }
    }
    print_auth_note();
    println!("\nsmoke: {passed} passed, {failed} failed");
    Ok(failed == 0)
}

fn print_auth_note() {
    let retried = AUTH_RETRIES.load(Ordering::Relaxed);
    if retried > 0 {
        println!("note: the server refused {retried} valid access tokens during setup (retried)");
    }
}

/// `restore`: the end-to-end key backup (docs/e2e.md 18.4) with the test client. Two users
/// exchange `--messages` encrypted messages, a quarter each way in a DM and in an end-to-end
/// channel; the first user's device reads them and backs them up as it goes (every 500
/// messages). Then a fresh device of that user restores from the recovery key alone and reads
/// every message. Prints the backup's size per 1,000 messages, the client time spent backing
/// up per message, and the time to restore and read everything; every unreadable message is
/// an error.
async fn scenario_restore(server: &Server, args: &Args) -> Outcome {
    let m = args.get("messages", 2000).max(8) as usize;
    let base = format!("http://{}", server.addr);
    tokio::task::spawn_blocking(move || restore_blocking(&base, m))
        .await
        .context("restore task")?
}

fn restore_blocking(base: &str, m: usize) -> Outcome {
    use chatalot_protocol::ids::ChannelId;
    use chatalot_tests::e2e_client::Device;
    let e2e = |e: chatalot_tests::e2e_client::ClientError| anyhow!("{e:?}");
    let id_of = |v: &Value| -> Result<ChannelId> {
        Ok(ChannelId(
            v["id"]
                .as_str()
                .ok_or_else(|| anyhow!("no id: {v}"))?
                .parse()?,
        ))
    };
    let mut a = Device::register(base, "restore-a").map_err(e2e)?;
    let mut b = Device::register(base, "restore-b").map_err(e2e)?;
    let dm = id_of(
        &a.api_ok(
            "POST",
            "/api/v1/dms",
            Some(&json!({ "user_ids": [b.user_id] })),
        )
        .map_err(e2e)?,
    )?;
    let community = a
        .api_ok(
            "POST",
            "/api/v1/communities",
            Some(&json!({"name": "Backup", "visibility": "public", "e2e": true})),
        )
        .map_err(e2e)?;
    let cid = community["id"].as_str().unwrap_or_default().to_owned();
    b.api_ok("POST", &format!("/api/v1/communities/{cid}/members"), None)
        .map_err(e2e)?;
    let list = a.api_ok("GET", "/api/v1/channels", None).map_err(e2e)?;
    let ch = id_of(
        list["channels"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["community_id"] == json!(cid)))
            .ok_or_else(|| anyhow!("no channel"))?,
    )?;
    let started = Instant::now();
    let mut backing_up = Duration::ZERO;
    for i in 0..m {
        let text = format!("restore message {i} from chatalot-load");
        match i % 4 {
            0 => a.send_direct(dm, &text),
            1 => b.send_direct(dm, &text),
            2 => a.send_channel(ch, &text),
            _ => b.send_channel(ch, &text),
        }
        .map_err(e2e)?;
        if (i + 1) % 500 == 0 || i + 1 == m {
            a.sync(dm).map_err(e2e)?;
            a.sync(ch).map_err(e2e)?;
            let t = Instant::now();
            a.back_up().map_err(e2e)?;
            backing_up += t.elapsed();
        }
    }
    let sending = started.elapsed();
    let state = a
        .api_ok("GET", "/api/v1/users/me/key_backup", None)
        .map_err(e2e)?;
    let bytes = state["chunk_bytes"].as_u64().unwrap_or(0);
    let chunks = state["chunk_count"].as_u64().unwrap_or(0);
    let recovery = a.recovery_key().ok_or_else(|| anyhow!("no recovery key"))?;
    let password = a.password().to_owned();
    let t = Instant::now();
    let mut r = Device::restore(base, "restore-a", &password, &recovery).map_err(e2e)?;
    let restored = t.elapsed();
    let (mut read, mut unreadable) = (0u64, 0u64);
    for c in [dm, ch] {
        for x in r.sync(c).map_err(e2e)? {
            if x.is_ok() {
                read += 1;
            } else {
                unreadable += 1;
            }
        }
    }
    let total = t.elapsed();
    let mut table = Table::new(
        &format!(
            "restore: {m} end-to-end messages (a DM and a channel, two senders), backed up, then read on a device restored from the recovery key (setup {:.1} s)",
            sending.as_secs_f64()
        ),
        &[
            "messages",
            "chunks",
            "backup KiB",
            "backup bytes/1000 msgs",
            "backup µs/msg",
            "restore ms",
            "restore+read ms",
            "read",
            "unreadable",
        ],
    );
    table.rows.push(vec![
        m as f64,
        chunks as f64,
        bytes as f64 / 1024.0,
        bytes as f64 * 1000.0 / m as f64,
        backing_up.as_secs_f64() * 1e6 / m as f64,
        restored.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        read as f64,
        unreadable as f64,
    ]);
    table.print();
    let missing = (m as u64).saturating_sub(read);
    Ok(unreadable + missing)
}

/// Bytes that do not repeat (xorshift), written and read back in 64 KiB chunks, with a running
/// checksum so that the download is known to be the upload.
struct Noise {
    state: u64,
    sum: u64,
}

impl Noise {
    fn new(seed: u64) -> Noise {
        Noise {
            state: seed | 1,
            sum: 0,
        }
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf.iter_mut() {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = self.state as u8;
        }
    }

    fn add(&mut self, buf: &[u8]) {
        for &b in buf {
            self.sum = (self.sum.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Reads an HTTP/1.1 answer's status and headers (its length, whether it is chunked); the body
/// is left in `r`.
async fn read_head(r: &mut BufReader<TcpStream>) -> Result<(u16, Option<u64>, bool)> {
    let mut line = String::new();
    r.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            bail!("connection closed in the headers");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(v.parse()?);
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    Ok((status, length, chunked))
}

/// Upload and download of one large file: throughput, the server's CPU per MB and how much
/// its memory grows while the bytes stream (it must not grow with the file's size).
async fn scenario_files(server: &Server, args: &Args) -> Outcome {
    let mib = args.get("size", 100).clamp(1, 100);
    let runs = args.get("runs", 1).clamp(1, 9) as usize;
    let size = mib * 1024 * 1024;
    let users = register_users(server.addr, 1).await?;
    let (_, channel) = create_channel(server.addr, &users[0], "files").await?;
    let token = users[0].token.clone();
    let mut table = Table::new(
        &format!("files: one {mib} MiB file uploaded (POST /channels/{{id}}/files) and downloaded (GET /files/{{id}})"),
        &[
            "upload MB/s",
            "download MB/s",
            "server CPU ms/MB up",
            "server CPU ms/MB down",
            "server RSS before MiB",
            "RSS growth up MiB",
            "RSS growth down MiB",
        ],
    );
    let chunk = 64 * 1024;
    let mb = size as f64 / 1e6;
    for run in 0..runs {
        let before = server.rss_kib().unwrap_or(0);
        let peak = Arc::new(AtomicU64::new(before));
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (peak, sampling, pid) = (peak.clone(), sampling.clone(), server.pid);
            tokio::spawn(async move {
                while sampling.load(Ordering::Relaxed) {
                    if let Some(kib) = pid.and_then(|p| {
                        let s = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
                        s.lines()
                            .find(|l| l.starts_with("VmRSS:"))?
                            .split_whitespace()
                            .nth(1)?
                            .parse::<u64>()
                            .ok()
                    }) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };

        // upload
        let meter = CpuMeter::start(server);
        let t = Instant::now();
        let stream = TcpStream::connect(server.addr).await?;
        stream.set_nodelay(true)?;
        let mut conn = BufReader::new(stream);
        let head = format!(
            "POST /api/v1/channels/{channel}/files?name=load.bin HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {token}\r\n\
             content-type: application/octet-stream\r\ncontent-length: {size}\r\n\r\n",
            server.addr
        );
        conn.get_mut().write_all(head.as_bytes()).await?;
        let mut up = Noise::new(0x9e37_79b9 + run as u64);
        let mut buf = vec![0u8; chunk];
        let mut left = size as usize;
        while left > 0 {
            let n = left.min(chunk);
            up.fill(&mut buf[..n]);
            up.add(&buf[..n]);
            conn.get_mut().write_all(&buf[..n]).await?;
            left -= n;
        }
        let (status, length, _) = read_head(&mut conn).await?;
        let mut body = vec![0u8; length.unwrap_or(0) as usize];
        conn.read_exact(&mut body).await?;
        if status != 201 {
            bail!("upload: {status} {}", String::from_utf8_lossy(&body));
        }
        let up_secs = t.elapsed().as_secs_f64();
        let up_cpu = meter.stop(server);
        let up_peak = peak.swap(server.rss_kib().unwrap_or(0), Ordering::Relaxed);
        let file: Value = serde_json::from_slice(&body)?;
        let id = file["id"].as_str().context("file id")?.to_owned();

        // download
        let meter = CpuMeter::start(server);
        let t = Instant::now();
        let head = format!(
            "GET /api/v1/files/{id} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {token}\r\n\r\n",
            server.addr
        );
        conn.get_mut().write_all(head.as_bytes()).await?;
        let (status, length, _) = read_head(&mut conn).await?;
        if status != 200 || length != Some(size) {
            bail!("download: {status}, {length:?} bytes");
        }
        let mut down = Noise::new(0);
        let mut left = size as usize;
        while left > 0 {
            let n = conn.read(&mut buf[..left.min(chunk)]).await?;
            if n == 0 {
                bail!("download: the connection closed with {left} bytes to go");
            }
            down.add(&buf[..n]);
            left -= n;
        }
        let down_secs = t.elapsed().as_secs_f64();
        let down_cpu = meter.stop(server);
        sampling.store(false, Ordering::Relaxed);
        let _ = sampler.await;
        let down_peak = peak.load(Ordering::Relaxed);
        if down.sum != up.sum {
            bail!("download: the bytes differ from the upload");
        }
        let per_mb = |u: &CpuUse| u.server_us.map_or(f64::NAN, |us| us / 1000.0 / mb);
        let growth = |kib: u64| kib.saturating_sub(before) as f64 / 1024.0;
        table.rows.push(vec![
            mb / up_secs,
            mb / down_secs,
            per_mb(&up_cpu),
            per_mb(&down_cpu),
            before as f64 / 1024.0,
            growth(up_peak),
            growth(down_peak),
        ]);
    }
    table.print();
    Ok(0)
}

async fn run_scenario(name: &str, server: &Server, args: &Args) -> Outcome {
    let limit = Duration::from_secs(600);
    let work = async {
        match name {
            "idle" => scenario_idle(server, args).await,
            "fanout" => scenario_fanout(server, args).await,
            "persist" => scenario_persist(server, args).await,
            "history" => scenario_history(server, args).await,
            "restore" => scenario_restore(server, args).await,
            "files" => scenario_files(server, args).await,
            other => bail!("unknown scenario {other}\n\n{USAGE}"),
        }
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| anyhow!("{name} did not finish within {limit:?}"))?
}

fn main() -> Result<()> {
    let args = Args::parse()?;
    epoch();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let ok = rt.block_on(async {
        let mut server = Server::start(&args).await?;
        let result = if args.scenario == "smoke" {
            smoke(&server, &args).await
        } else {
            run_scenario(&args.scenario, &server, &args)
                .await
                .map(|errors| {
                    if errors > 0 {
                        eprintln!("{}: {errors} errors", args.scenario);
                    }
                    errors == 0
                })
        };
        server.stop();
        if args.scenario != "smoke" {
            print_auth_note();
        }
        result
    })?;
    rt.shutdown_timeout(Duration::from_secs(1));
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(loopback_addr("http://127.0.0.1:8080").is_ok());
        assert!(loopback_addr("http://127.3.2.1:8080/").is_ok());
        assert!(loopback_addr("http://[::1]:8080").is_ok());
        assert!(loopback_addr("http://localhost:8080").is_ok());
        assert!(loopback_addr("http://10.0.0.1:8080").is_err());
        assert!(loopback_addr("http://192.168.1.2:80").is_err());
        assert!(loopback_addr("http://example.com:80").is_err());
        assert!(loopback_addr("https://127.0.0.1:80").is_err());
    }

    #[test]
    fn stamps_parse() {
        let f = r#"{"type":"message_created","event_seq":3,"message":{"content":{"kind":"text","text":"L2:12345"}}}"#;
        assert_eq!(parse_stamp(f), Some((2, 12345)));
        assert_eq!(parse_stamp(r#"{"type":"pong"}"#), None);
    }

    #[test]
    fn sources_spread_past_20000() {
        assert_eq!(source_ip(5, 100), None);
        assert_eq!(
            source_ip(1, 50_000),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)))
        );
    }

    #[test]
    fn percentiles_and_medians() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(pct(&v, 0.5), 51);
        assert_eq!(pct(&v, 0.99), 99);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    }
}
