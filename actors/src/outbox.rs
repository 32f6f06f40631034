//! The two ends of a WebSocket as the actors see them: `Inbound` frames arriving, and a bounded
//! `Outbox` of frames to write, drained by the transport's writer task.

use bytestring::ByteString;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// What the transport hands to a session.
#[derive(Debug)]
pub enum Inbound {
    /// A text frame.
    Text(ByteString),
    /// A binary frame (not part of the protocol).
    Binary,
    /// A ping from the peer, to be answered with a pong carrying the same bytes.
    Ping(Vec<u8>),
    /// A pong: the peer is alive.
    Heartbeat,
    /// The frame was larger than the limit; the transport closes with 1009.
    TooLarge,
    /// The peer broke the WebSocket protocol or closed the connection.
    Closed,
}

/// Out-of-band instructions to the writer task; never blocked by a full outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Ping,
    Pong(Vec<u8>),
    /// Sends a close frame with this code and reason, then ends the connection.
    Close {
        code: u16,
        reason: String,
    },
}

/// A connection's id, unique within the process.
pub type ConnId = u64;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// The sending side of a connection: a bounded queue of serialized frames and an unbounded
/// (rarely used) control channel. Cheap to clone into every channel a session subscribes to.
#[derive(Clone)]
pub struct Outbox {
    conn: ConnId,
    frames: mpsc::Sender<ByteString>,
    control: mpsc::UnboundedSender<Control>,
}

/// The queue of a slow reader is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// The receiving side, for the transport's writer task.
pub struct OutboxReceiver {
    pub frames: mpsc::Receiver<ByteString>,
    pub control: mpsc::UnboundedReceiver<Control>,
}

impl Outbox {
    /// A new outbox holding at most `capacity` frames.
    pub fn new(capacity: usize) -> (Outbox, OutboxReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (ctx, crx) = mpsc::unbounded_channel();
        (
            Outbox {
                conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
                frames: tx,
                control: ctx,
            },
            OutboxReceiver {
                frames: rx,
                control: crx,
            },
        )
    }

    /// This connection's id.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Queues a frame without waiting. `Err(Full)` means the reader is too slow (or gone).
    pub fn push(&self, frame: ByteString) -> Result<(), Full> {
        self.frames.try_send(frame).map_err(|_| Full)
    }

    /// Asks the writer to close the connection.
    pub fn close(&self, code: u16, reason: &str) {
        let _ = self.control.send(Control::Close {
            code,
            reason: reason.to_owned(),
        });
    }

    /// Asks the writer to send a ping.
    pub fn ping(&self) {
        let _ = self.control.send(Control::Ping);
    }

    /// Asks the writer to answer a ping.
    pub fn pong(&self, data: Vec<u8>) {
        let _ = self.control.send(Control::Pong(data));
    }
}
