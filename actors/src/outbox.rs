//! The two ends of a WebSocket as the actors see them: `Inbound` frames arriving, and a bounded
//! `Outbox` of frames to write, drained by the transport as the socket takes them.
//!
//! The outbox is bounded twice, in frames and in bytes, so a client that stops reading holds
//! at most a fixed amount of memory. Control frames (pings and pongs) have a small queue of
//! their own and are dropped when it is full; a close request is a flag, never queued, so it
//! always gets through.

use bytestring::ByteString;
use chatalot_protocol::ws::CloseReason;
use futures_util::task::AtomicWaker;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

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

/// Pings and pongs for the transport; dropped rather than queued without bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Ping,
    Pong(Vec<u8>),
}

/// Control frames waiting at most (a peer that pings without reading gets no more pongs).
const CONTROL_QUEUE: usize = 8;

/// A connection's id, unique within the process.
pub type ConnId = u64;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Milliseconds since the first use, for timestamps kept in atomics.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The state both ends share.
struct Shared {
    /// Bytes of the frames queued and not yet taken by the transport.
    bytes: AtomicUsize,
    max_bytes: usize,
    /// When the transport last made progress while frames were waiting (or when the queue
    /// last became non-empty).
    progress_ms: AtomicU64,
    /// Signalled whenever the transport takes frames (a backlog sender waits on it).
    drained: Notify,
    /// The close the session asked for: code and reason. Set once.
    close: Mutex<Option<CloseReason>>,
    closing: AtomicBool,
    /// The transport's task, woken by a close request.
    waker: AtomicWaker,
}

/// The sending side of a connection: a queue of serialized frames bounded in count and bytes,
/// a small queue of control frames, and the close flag. Cheap to clone into every channel a
/// session subscribes to.
#[derive(Clone)]
pub struct Outbox {
    conn: ConnId,
    frames: mpsc::Sender<ByteString>,
    control: mpsc::Sender<Control>,
    shared: Arc<Shared>,
}

/// The queue of a slow reader is full (or the connection is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// What the transport should write next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Frame(ByteString),
    Control(Control),
    /// Close with this code and reason; everything queued before has been handed out.
    Close(CloseReason),
    /// The session is gone without asking for a close.
    Ended,
}

/// The receiving side, for the transport.
pub struct OutboxReceiver {
    frames: mpsc::Receiver<ByteString>,
    control: mpsc::Receiver<Control>,
    shared: Arc<Shared>,
}

impl Outbox {
    /// A new outbox holding at most `max_frames` frames and `max_bytes` bytes of them.
    pub fn new(max_frames: usize, max_bytes: usize) -> (Outbox, OutboxReceiver) {
        let (tx, rx) = mpsc::channel(max_frames.max(1));
        let (ctx, crx) = mpsc::channel(CONTROL_QUEUE);
        let shared = Arc::new(Shared {
            bytes: AtomicUsize::new(0),
            max_bytes: max_bytes.max(1),
            progress_ms: AtomicU64::new(now_ms()),
            drained: Notify::new(),
            close: Mutex::new(None),
            closing: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        (
            Outbox {
                conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
                frames: tx,
                control: ctx,
                shared: shared.clone(),
            },
            OutboxReceiver {
                frames: rx,
                control: crx,
                shared,
            },
        )
    }

    /// This connection's id.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Queues a frame without waiting. `Err(Full)` means the reader is too slow (or gone): the
    /// queue holds its most frames or bytes already.
    pub fn push(&self, frame: ByteString) -> Result<(), Full> {
        if self.is_closing() {
            return Err(Full);
        }
        let len = frame.len();
        let before = self.shared.bytes.fetch_add(len, Ordering::AcqRel);
        if before + len > self.shared.max_bytes && before > 0 {
            self.shared.bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(Full);
        }
        if self.frames.try_send(frame).is_err() {
            self.shared.bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(Full);
        }
        if before == 0 {
            self.shared.progress_ms.store(now_ms(), Ordering::Release);
        }
        Ok(())
    }

    /// Queues a frame, waiting up to `patience` for room (for a backlog, which may be larger
    /// than the queue). `Err(Full)` when the reader did not make room in time, or is gone.
    pub async fn send(&self, frame: ByteString, patience: Duration) -> Result<(), Full> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let drained = self.shared.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            match self.push(frame.clone()) {
                Ok(()) => return Ok(()),
                Err(Full) if self.frames.is_closed() || self.is_closing() => return Err(Full),
                Err(Full) => {}
            }
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                return Err(Full);
            }
        }
    }

    /// Asks the transport to close the connection after the frames already queued; later
    /// pushes are refused. Only the first request counts.
    pub fn close(&self, why: CloseReason) {
        {
            let mut close = self.shared.close.lock().unwrap_or_else(|e| e.into_inner());
            if close.is_some() {
                return;
            }
            *close = Some(why);
        }
        self.shared.closing.store(true, Ordering::Release);
        self.shared.waker.wake();
        self.shared.drained.notify_waiters();
    }

    /// True once a close was asked for (by this session or by a channel dropping a slow reader).
    pub fn is_closing(&self) -> bool {
        self.shared.closing.load(Ordering::Acquire)
    }

    /// True when frames have been waiting for longer than `limit` without the transport taking
    /// any: the peer has stopped reading.
    pub fn stalled(&self, limit: Duration) -> bool {
        self.shared.bytes.load(Ordering::Acquire) > 0
            && now_ms().saturating_sub(self.shared.progress_ms.load(Ordering::Acquire))
                > limit.as_millis() as u64
    }

    /// Bytes queued and not yet taken by the transport.
    pub fn queued_bytes(&self) -> usize {
        self.shared.bytes.load(Ordering::Acquire)
    }

    /// Asks the transport to send a ping (skipped if its control queue is full).
    pub fn ping(&self) {
        let _ = self.control.try_send(Control::Ping);
    }

    /// Asks the transport to answer a ping (skipped if its control queue is full).
    pub fn pong(&self, data: Vec<u8>) {
        let _ = self.control.try_send(Control::Pong(data));
    }
}

impl OutboxReceiver {
    /// The next thing to write: control frames first, then queued frames; once a close is
    /// asked for, the frames queued before it and then `Close`.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        self.shared.waker.register(cx.waker());
        if let Poll::Ready(Some(c)) = self.control.poll_recv(cx) {
            return Poll::Ready(Next::Control(c));
        }
        if self.shared.closing.load(Ordering::Acquire) {
            // hand out what was queued before the close, then the close itself
            if let Ok(frame) = self.frames.try_recv() {
                self.took(frame.len());
                return Poll::Ready(Next::Frame(frame));
            }
            let close = self.shared.close.lock().unwrap_or_else(|e| e.into_inner());
            return Poll::Ready(Next::Close(close.unwrap_or(CloseReason::Normal)));
        }
        match self.frames.poll_recv(cx) {
            Poll::Ready(Some(frame)) => {
                self.took(frame.len());
                Poll::Ready(Next::Frame(frame))
            }
            Poll::Ready(None) => Poll::Ready(Next::Ended),
            Poll::Pending => Poll::Pending,
        }
    }

    fn took(&self, len: usize) {
        self.shared.bytes.fetch_sub(len, Ordering::AcqRel);
        self.shared.progress_ms.store(now_ms(), Ordering::Release);
        self.shared.drained.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn next(rx: &mut OutboxReceiver) -> Poll<Next> {
        rx.poll_next(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_and_in_frames() {
        let (tx, mut rx) = Outbox::new(4, 100);
        assert_eq!(tx.push("a".repeat(60).into()), Ok(()));
        assert_eq!(tx.push("b".repeat(60).into()), Err(Full));
        assert_eq!(tx.push("c".repeat(40).into()), Ok(()));
        assert_eq!(tx.queued_bytes(), 100);
        assert!(matches!(next(&mut rx), Poll::Ready(Next::Frame(f)) if f.len() == 60));
        assert_eq!(tx.queued_bytes(), 40);
        for _ in 0..3 {
            assert_eq!(tx.push("d".into()), Ok(()));
        }
        assert_eq!(tx.push("e".into()), Err(Full), "four frames at most");
        // one frame larger than the whole budget still goes through an empty queue
        let (big, _rx) = Outbox::new(4, 10);
        assert_eq!(big.push("x".repeat(50).into()), Ok(()));
        assert_eq!(big.push("y".into()), Err(Full));
    }

    #[test]
    fn a_close_follows_what_was_queued_and_control_frames_are_bounded() {
        let (tx, mut rx) = Outbox::new(8, 1000);
        tx.push("one".into()).expect("room");
        for _ in 0..20 {
            tx.pong(vec![1]);
        }
        tx.close(CloseReason::Lagged);
        tx.close(CloseReason::Normal); // ignored: only the first close counts
        let mut got = Vec::new();
        while let Poll::Ready(n) = next(&mut rx) {
            let last = matches!(n, Next::Close(..));
            got.push(n);
            if last {
                break;
            }
        }
        let pongs = got.iter().filter(|n| matches!(n, Next::Control(_))).count();
        assert_eq!(pongs, CONTROL_QUEUE);
        assert_eq!(got[got.len() - 2], Next::Frame("one".into()));
        assert_eq!(got[got.len() - 1], Next::Close(CloseReason::Lagged));
        assert!(tx.is_closing());
    }

    #[test]
    fn a_reader_that_takes_nothing_is_stalled() {
        let (tx, mut rx) = Outbox::new(8, 1000);
        assert!(!tx.stalled(Duration::ZERO), "an empty queue never stalls");
        tx.push("x".into()).expect("room");
        std::thread::sleep(Duration::from_millis(30));
        assert!(tx.stalled(Duration::from_millis(10)));
        assert!(matches!(next(&mut rx), Poll::Ready(Next::Frame(_))));
        assert!(!tx.stalled(Duration::from_millis(10)));
    }

    #[tokio::test]
    async fn a_backlog_waits_for_room_then_gives_up() {
        let (tx, mut rx) = Outbox::new(8, 10);
        tx.push("0123456789".into()).expect("room");
        let sender = tx.clone();
        let waiting = tokio::spawn(async move {
            sender
                .send("abcdefghij".into(), Duration::from_secs(5))
                .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(matches!(next(&mut rx), Poll::Ready(Next::Frame(_))));
        assert_eq!(waiting.await.expect("task"), Ok(()));
        assert_eq!(
            tx.send("more".into(), Duration::from_millis(20)).await,
            Err(Full)
        );
    }
}
