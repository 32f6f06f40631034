//! `chatalot-e2e-peer`: one end-to-end test client device (`e2e_client::Device`) driven over
//! stdin and stdout, so that a test in another language can talk to a running server through
//! the Rust client.
//!
//! ```text
//! chatalot-e2e-peer http://127.0.0.1:PORT
//! ```
//!
//! Reads one JSON object per line on stdin and writes exactly one JSON line per command on
//! stdout; blank lines are skipped. Exits on end of input. Diagnostics go to stderr only.
//!
//! ```text
//! {"cmd":"register","username":U}            -> {"ok":true,"user_id","device_id","user_key"}
//! {"cmd":"join","code":C}                    -> {"ok":true,"community_id"}
//! {"cmd":"open_dm","user_id":ID}             -> {"ok":true,"channel_id"}
//! {"cmd":"send_direct","channel_id":ID,"text":T}  -> {"ok":true,"message_id"}
//! {"cmd":"send_channel","channel_id":ID,"text":T} -> {"ok":true,"message_id"}
//! {"cmd":"sync","channel_id":ID}             -> {"ok":true,"messages":[..],"errors":[..]}
//! {"cmd":"warnings"}                         -> {"ok":true,"warnings":[..]}
//! {"cmd":"pin","user_id":ID,"user_key":K}    -> {"ok":true}
//! {"cmd":"recovery_key"}                     -> {"ok":true,"recovery_key"} (the registering device's)
//! {"cmd":"back_up"}                          -> {"ok":true,"chunks"}
//! {"cmd":"answer_link","code":C}             -> {"ok":true,"device_id"} (links the device showing C)
//! {"cmd":"link","username":U,"password":P}   -> {"ok":true,"code","device_id"} (a new device asks)
//! {"cmd":"link_finish","wait_ms":N}          -> {"ok":true,"user_id","device_id","user_key"}
//! {"cmd":"restore","username":U,"password":P,"recovery_key":K} -> as link_finish
//! any failure                                -> {"ok":false,"error":"..."}
//! ```
//!
//! `register` also answers the account's `password` (the client's fixed one), so that another
//! client can sign in as the same user. `user_key` is the 32-byte public user key in standard
//! base64. A message in `sync` is
//! `{"id","sender_id","sender_device_id","text"}`, or `"attachment"` (the file name) and `"mime"`
//! instead of `"text"`. `errors` and `warnings` hold the client's debug strings.
//!
//! While no command arrives, the loop reads the WebSocket: envelopes pushed live are kept for
//! the next `sync`, and the server's pings are answered so the connection is not closed as idle.

use chatalot_protocol::bytes;
use chatalot_protocol::ids::{ChannelId, UserId};
use chatalot_tests::e2e_client::{Body, ClientError, Device, NewDevice};
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};
use uuid::Uuid;

const USAGE: &str = "usage: chatalot-e2e-peer BASE_URL   (for example http://127.0.0.1:8080)
reads one JSON command per line on stdin, answers one JSON line per command on stdout";

/// How long the loop waits for a command before reading the WebSocket.
const IDLE: Duration = Duration::from_millis(500);
/// How long one read of the WebSocket lasts.
const PUMP: Duration = Duration::from_millis(200);
/// The WebSocket is read before a command when it has not been read for this long.
const PUMP_AT_LEAST_EVERY: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = match args.as_slice() {
        [a] if a == "-h" || a == "--help" => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [a] if a.starts_with("http://") => a.clone(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    // stdin is read on its own thread so that the loop can read the WebSocket while idle
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match input.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    eprintln!("chatalot-e2e-peer: reading stdin: {e}");
                    return;
                }
            }
        }
    });

    let mut peer = Peer {
        base,
        device: None,
        linking: None,
        last_pump: Instant::now(),
        pump_failing: false,
    };
    let mut out = std::io::stdout().lock();
    let code = loop {
        match rx.recv_timeout(IDLE) {
            Ok(line) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if peer.last_pump.elapsed() >= PUMP_AT_LEAST_EVERY {
                    peer.pump();
                }
                let answer = peer.handle(&line);
                if let Some(e) = answer["error"].as_str() {
                    eprintln!("chatalot-e2e-peer: {e}");
                }
                let written = serde_json::to_writer(&mut out, &answer)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n"))
                    .and_then(|()| out.flush());
                if let Err(e) = written {
                    eprintln!("chatalot-e2e-peer: writing stdout: {e}");
                    break ExitCode::FAILURE;
                }
            }
            Err(RecvTimeoutError::Timeout) => peer.pump(),
            Err(RecvTimeoutError::Disconnected) => break ExitCode::SUCCESS,
        }
    };
    if let Some(d) = peer.device.as_mut() {
        d.disconnect();
    }
    code
}

struct Peer {
    base: String,
    /// The device, once registered.
    device: Option<Device>,
    /// A new device waiting for its link to be answered.
    linking: Option<NewDevice>,
    last_pump: Instant,
    /// True while reading the WebSocket fails (logged once, not every time).
    pump_failing: bool,
}

impl Peer {
    /// Answers one input line.
    fn handle(&mut self, line: &[u8]) -> Value {
        match self.run(line) {
            Ok(answer) => answer,
            Err(error) => json!({ "ok": false, "error": error }),
        }
    }

    fn run(&mut self, line: &[u8]) -> Result<Value, String> {
        let text = std::str::from_utf8(line).map_err(|_| "the line is not UTF-8".to_owned())?;
        let cmd: Value = serde_json::from_str(text).map_err(|e| format!("bad JSON: {e}"))?;
        if !cmd.is_object() {
            return Err("expected a JSON object".into());
        }
        let name = str_field(&cmd, "cmd")?;
        match name {
            "register" => {
                if self.device.is_some() {
                    return Err("already registered (one process is one device)".into());
                }
                let username = str_field(&cmd, "username")?;
                let device = Device::register(&self.base, username)
                    .map_err(|e| format!("register: {}", describe(&e)))?;
                let answer = json!({
                    "ok": true,
                    "user_id": device.user_id.to_string(),
                    "device_id": device.device_id.to_string(),
                    "user_key": bytes::encode(&device.user_key()),
                    "password": device.password(),
                });
                eprintln!(
                    "chatalot-e2e-peer: registered {username}: user {} device {}",
                    device.user_id, device.device_id
                );
                let device = self.device.insert(device);
                self.last_pump = Instant::now();
                device.connect().map_err(|e| {
                    format!(
                        "registered as user {} device {}, but the WebSocket did not connect: {}",
                        device.user_id,
                        device.device_id,
                        describe(&e)
                    )
                })?;
                Ok(answer)
            }
            "join" => {
                let code = str_field(&cmd, "code")?;
                let v = api(
                    self.device()?,
                    "POST",
                    "/api/v1/community_joins",
                    json!({ "code": code }),
                )?;
                Ok(json!({ "ok": true, "community_id": id_of(&v)? }))
            }
            "open_dm" => {
                let user = uuid_field(&cmd, "user_id")?;
                let v = api(
                    self.device()?,
                    "POST",
                    "/api/v1/dms",
                    json!({ "user_ids": [user.to_string()] }),
                )?;
                Ok(json!({ "ok": true, "channel_id": id_of(&v)? }))
            }
            "send_direct" | "send_channel" => {
                let channel = ChannelId(uuid_field(&cmd, "channel_id")?);
                let text = str_field(&cmd, "text")?;
                let device = self.device()?;
                let sent = if name == "send_direct" {
                    device.send_direct(channel, text)
                } else {
                    device.send_channel(channel, text)
                };
                match sent {
                    Ok(id) => Ok(json!({ "ok": true, "message_id": id.to_string() })),
                    Err(e) => {
                        if matches!(e, ClientError::Io(_)) {
                            // the socket may be dead; the next send opens a new one
                            device.disconnect();
                        }
                        Err(format!("{name}: {}", describe(&e)))
                    }
                }
            }
            "sync" => {
                let channel = ChannelId(uuid_field(&cmd, "channel_id")?);
                let results = self
                    .device()?
                    .sync(channel)
                    .map_err(|e| format!("sync: {}", describe(&e)))?;
                let mut messages = Vec::new();
                let mut errors = Vec::new();
                for r in results {
                    match r {
                        Ok(m) => {
                            let mut v = json!({
                                "id": m.message_id.to_string(),
                                "sender_id": m.sender_user.to_string(),
                                "sender_device_id": m.sender_device.to_string(),
                            });
                            match m.body {
                                Body::Text(text) => v["text"] = json!(text),
                                Body::Attachment { name, mime, .. } => {
                                    v["attachment"] = json!(name);
                                    v["mime"] = json!(mime);
                                }
                            }
                            messages.push(v);
                        }
                        Err(e) => errors.push(format!("{e:?}")),
                    }
                }
                Ok(json!({ "ok": true, "messages": messages, "errors": errors }))
            }
            "warnings" => {
                let warnings: Vec<String> = self
                    .device()?
                    .warnings
                    .iter()
                    .map(|w| format!("{w:?}"))
                    .collect();
                Ok(json!({ "ok": true, "warnings": warnings }))
            }
            "pin" => {
                let user = UserId(uuid_field(&cmd, "user_id")?);
                let key = str_field(&cmd, "user_key")?;
                let key: [u8; 32] = bytes::decode(key)
                    .and_then(|k| k.try_into().ok())
                    .ok_or("field `user_key`: expected 32 bytes in standard base64")?;
                self.device()?.pin(user, key);
                Ok(json!({ "ok": true }))
            }
            "recovery_key" => {
                let key = self
                    .device()?
                    .recovery_key()
                    .ok_or("this device did not make the account's recovery key")?;
                Ok(json!({ "ok": true, "recovery_key": key }))
            }
            "back_up" => {
                let chunks = self
                    .device()?
                    .back_up()
                    .map_err(|e| format!("back_up: {}", describe(&e)))?;
                Ok(json!({ "ok": true, "chunks": chunks }))
            }
            "answer_link" => {
                let code = str_field(&cmd, "code")?;
                let id = self
                    .device()?
                    .answer_link(code)
                    .map_err(|e| format!("answer_link: {}", describe(&e)))?;
                Ok(json!({ "ok": true, "device_id": id.to_string() }))
            }
            "link" => {
                if self.device.is_some() || self.linking.is_some() {
                    return Err("this process already is a device".into());
                }
                let n = NewDevice::start(
                    &self.base,
                    str_field(&cmd, "username")?,
                    str_field(&cmd, "password")?,
                )
                .map_err(|e| format!("link: {}", describe(&e)))?;
                let answer = json!({
                    "ok": true,
                    "code": n.code(),
                    "device_id": n.device_id().to_string(),
                });
                self.linking = Some(n);
                Ok(answer)
            }
            "link_finish" | "restore" => {
                if self.device.is_some() {
                    return Err("this process already is a device".into());
                }
                let device = if name == "restore" {
                    Device::restore(
                        &self.base,
                        str_field(&cmd, "username")?,
                        str_field(&cmd, "password")?,
                        str_field(&cmd, "recovery_key")?,
                    )
                    .map_err(|e| format!("restore: {}", describe(&e)))?
                } else {
                    let n = self
                        .linking
                        .take()
                        .ok_or("no link in progress (send link first)")?;
                    let wait = cmd["wait_ms"].as_u64().unwrap_or(10_000).min(60_000);
                    n.finish(Duration::from_millis(wait))
                        .map_err(|e| format!("link_finish: {}", describe(&e)))?
                };
                let answer = json!({
                    "ok": true,
                    "user_id": device.user_id.to_string(),
                    "device_id": device.device_id.to_string(),
                    "user_key": bytes::encode(&device.user_key()),
                });
                let device = self.device.insert(device);
                self.last_pump = Instant::now();
                device
                    .connect()
                    .map_err(|e| format!("the WebSocket did not connect: {}", describe(&e)))?;
                Ok(answer)
            }
            other => Err(format!(
                "unknown command {other:?} (register, join, open_dm, send_direct, \
                 send_channel, sync, warnings, pin, recovery_key, back_up, answer_link, link, \
                 link_finish, restore)"
            )),
        }
    }

    fn device(&mut self) -> Result<&mut Device, String> {
        self.device
            .as_mut()
            .ok_or_else(|| "no device yet: send register first".to_owned())
    }

    /// Reads the WebSocket for a moment: envelopes are kept, pings answered. A broken
    /// connection is dropped and opened again on the next read or send.
    fn pump(&mut self) {
        self.last_pump = Instant::now();
        let Some(device) = self.device.as_mut() else {
            return;
        };
        match device.wait_live_envelopes(usize::MAX, PUMP) {
            Ok(_) => {
                if self.pump_failing {
                    eprintln!("chatalot-e2e-peer: WebSocket connected again");
                }
                self.pump_failing = false;
            }
            Err(e) => {
                if !self.pump_failing {
                    eprintln!("chatalot-e2e-peer: WebSocket: {}", describe(&e));
                }
                self.pump_failing = true;
                device.disconnect();
            }
        }
    }
}

/// An API call with the device's token; a status outside 2xx is an error.
fn api(device: &Device, method: &str, path: &str, body: Value) -> Result<Value, String> {
    device
        .api_ok(method, path, Some(&body))
        .map_err(|e| format!("{method} {path}: {}", describe(&e)))
}

fn describe(e: &ClientError) -> String {
    match e {
        // errors answered over the WebSocket carry no HTTP status
        ClientError::Http {
            status: 0,
            code,
            message,
        } => format!("refused over the WebSocket: {code}: {message}"),
        ClientError::Http {
            status,
            code,
            message,
        } => format!("HTTP {status} {code}: {message}"),
        ClientError::Io(m) => format!("transport: {m}"),
        other => format!("{other:?}"),
    }
}

fn str_field<'a>(cmd: &'a Value, name: &str) -> Result<&'a str, String> {
    cmd[name]
        .as_str()
        .ok_or_else(|| format!("missing string field `{name}`"))
}

fn uuid_field(cmd: &Value, name: &str) -> Result<Uuid, String> {
    str_field(cmd, name)?
        .parse()
        .map_err(|_| format!("field `{name}` is not a UUID"))
}

fn id_of(answer: &Value) -> Result<String, String> {
    answer["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the server's answer has no `id`: {answer}"))
}
