//! Counters of the real-time gateway, read by the metrics endpoint and the load generator.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Process-wide gateway counters.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: AtomicI64,
    pub sessions: AtomicI64,
    pub messages_stored: AtomicU64,
    pub messages_delivered: AtomicU64,
    pub queue_drops: AtomicU64,
    /// User and channel actors that stopped without being released, and were restarted.
    pub actor_restarts: AtomicU64,
}

static STATS: Stats = Stats {
    connections: AtomicI64::new(0),
    sessions: AtomicI64::new(0),
    messages_stored: AtomicU64::new(0),
    messages_delivered: AtomicU64::new(0),
    queue_drops: AtomicU64::new(0),
    actor_restarts: AtomicU64::new(0),
};

/// The counters.
pub fn stats() -> &'static Stats {
    &STATS
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
