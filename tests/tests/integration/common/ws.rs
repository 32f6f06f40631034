//! A blocking WebSocket client for tests.

use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// One WebSocket connection to the test server.
pub struct Ws {
    socket: WebSocket<TcpStream>,
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(u16),
    /// The TCP connection ended without a close frame.
    Dropped,
}

impl Ws {
    /// Connects without authenticating.
    pub fn connect(base: &str) -> Ws {
        let addr = base.trim_start_matches("http://");
        let stream = TcpStream::connect(addr).expect("tcp connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let url = format!("ws://{addr}/api/v1/ws");
        let (socket, resp) = tungstenite::client(url, stream).expect("websocket handshake");
        assert_eq!(resp.status(), 101);
        Ws { socket }
    }

    /// Connects with a receive buffer of a few kilobytes, for a client that stops reading.
    pub fn connect_small_buffer(base: &str) -> Ws {
        let addr: std::net::SocketAddr =
            base.trim_start_matches("http://").parse().expect("address");
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(4096).expect("buffer size");
        socket.connect(&addr.into()).expect("tcp connect");
        let stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let (socket, resp) = tungstenite::client(format!("ws://{addr}/api/v1/ws"), stream)
            .expect("websocket handshake");
        assert_eq!(resp.status(), 101);
        Ws { socket }
    }

    /// Connects and authenticates; returns the socket and the `ready` frame.
    pub fn open(base: &str, token: &str) -> (Ws, Value) {
        let mut ws = Ws::connect(base);
        ws.send(&json!({"type": "authenticate", "token": token}));
        let ready = ws.recv_type("ready");
        (ws, ready)
    }

    pub fn send(&mut self, frame: &Value) {
        self.send_text(&frame.to_string());
    }

    pub fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .expect("send");
    }

    /// The next JSON frame within `wait`, or None.
    pub fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            match self.socket.read() {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server sends JSON"))
                }
                Ok(Message::Close(_)) => return None,
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

    /// The next frame (5 s at most).
    pub fn recv(&mut self) -> Value {
        self.try_recv(Duration::from_secs(5))
            .expect("a frame within 5 s")
    }

    /// Skips frames until one of type `kind` (5 s at most).
    pub fn recv_type(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(f) = self.try_recv(Duration::from_millis(200)) {
                if f["type"] == kind {
                    return f;
                }
            }
        }
        panic!("no `{kind}` frame within 5 s");
    }

    /// Every frame that arrives within `wait`.
    pub fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(f) = self.try_recv(Duration::from_millis(50)) {
                out.push(f);
            }
        }
        out
    }

    /// Waits up to `wait` for the server to end the connection.
    pub fn ended(&mut self, wait: Duration) -> Option<Ended> {
        let deadline = Instant::now() + wait;
        loop {
            match self.socket.read() {
                Ok(Message::Close(frame)) => {
                    return Some(Ended::Closed(
                        frame.map(|f| u16::from(f.code)).unwrap_or(1005),
                    ))
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
                Err(tungstenite::Error::ConnectionClosed)
                | Err(tungstenite::Error::AlreadyClosed) => return Some(Ended::Dropped),
                Err(_) => return Some(Ended::Dropped),
            }
        }
    }

    /// Subscribes to `channel` after `after_seq` and waits for `subscribed`; returns the frames
    /// that came before it (the backlog) and the `subscribed` frame.
    pub fn subscribe(&mut self, channel: &str, after_seq: Option<i64>) -> (Vec<Value>, Value) {
        self.send(&json!({"type": "subscribe",
            "channels": [{"channel_id": channel, "after_seq": after_seq}]}));
        let mut before = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(f) = self.try_recv(Duration::from_millis(200)) {
                if f["type"] == "subscribed" && f["channel_id"] == channel {
                    return (before, f);
                }
                before.push(f);
            }
        }
        panic!("not subscribed to {channel}: {before:?}");
    }

    /// Sends a plaintext message and waits for its ack; returns the ack.
    pub fn send_text_message(&mut self, channel: &str, nonce: &str, text: &str) -> Value {
        self.send(
            &json!({"type": "send_message", "channel_id": channel, "nonce": nonce,
            "content": {"kind": "text", "text": text}}),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(f) = self.try_recv(Duration::from_millis(200)) {
                if (f["type"] == "message_acked" || f["type"] == "error") && f["nonce"] == nonce {
                    return f;
                }
            }
        }
        panic!("no ack for {nonce}");
    }

    pub fn close(mut self) {
        let _ = self.socket.close(Some(tungstenite::protocol::CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }));
        let _ = self.socket.flush();
    }
}
