//! Test support (unit tests, and the `fault-injection` feature the integration tests turn on):
//! a session whose socket is a pair of queues, so what the server writes is read back from the
//! outbox and asserted on.

use crate::hub::Hub;
use crate::outbox::{Inbound, Next, Outbox, OutboxReceiver};
use crate::session::SessionActor;
use chatalot_protocol::ws::CloseReason;
use serde_json::Value;
use std::time::Duration;

/// A `SessionActor` with queues in place of a WebSocket.
pub struct QueueSocket {
    to_server: tokio::sync::mpsc::UnboundedSender<Inbound>,
    from_server: OutboxReceiver,
}

impl QueueSocket {
    /// Starts a session; nothing is sent yet.
    pub fn open(hub: &Hub) -> QueueSocket {
        let (outbox, from_server) = Outbox::new(512, 1 << 20);
        let (to_server, inbound) = tokio::sync::mpsc::unbounded_channel();
        let stream = futures_util::stream::unfold(inbound, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        SessionActor::start(hub.clone(), outbox, stream, None);
        QueueSocket {
            to_server,
            from_server,
        }
    }

    /// Hands the session what the transport would.
    pub fn push(&self, item: Inbound) {
        let _ = self.to_server.send(item);
    }

    /// A text frame.
    pub fn send_text(&self, text: &str) {
        self.push(Inbound::Text(text.to_owned().into()));
    }

    /// A JSON frame.
    pub fn send(&self, frame: Value) {
        self.send_text(&frame.to_string());
    }

    /// What the session writes next (5 s at most).
    pub async fn next(&mut self) -> Next {
        let rx = &mut self.from_server;
        tokio::time::timeout(
            Duration::from_secs(5),
            std::future::poll_fn(|cx| rx.poll_next(cx)),
        )
        .await
        .expect("the session answers within 5 s")
    }

    /// The next frame, which must come before anything else.
    pub async fn frame(&mut self) -> Value {
        match self.next().await {
            Next::Frame(f) => serde_json::from_str(&f).expect("JSON"),
            other => panic!("{other:?} instead of a frame"),
        }
    }

    /// The next frame of type `kind`, skipping other frames.
    pub async fn frame_of(&mut self, kind: &str) -> Value {
        loop {
            match self.next().await {
                Next::Frame(f) => {
                    let v: Value = serde_json::from_str(&f).expect("JSON");
                    if v["type"] == kind {
                        return v;
                    }
                }
                Next::Control(_) => {}
                other => panic!("{other:?} while waiting for {kind}"),
            }
        }
    }

    /// The frames written until the close, and the close.
    pub async fn until_close(&mut self) -> (Vec<Value>, CloseReason) {
        let mut frames = Vec::new();
        loop {
            match self.next().await {
                Next::Frame(f) => frames.push(serde_json::from_str(&f).expect("JSON")),
                Next::Close(why) => return (frames, why),
                Next::Control(_) => {}
                Next::Ended => panic!("the session ended without a close"),
            }
        }
    }
}
