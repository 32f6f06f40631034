//! Limits and timings of the real-time gateway.

use std::time::Duration;

/// Set from the server configuration (`[realtime]`).
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// A connection must authenticate within this time.
    pub auth_timeout: Duration,
    /// The server pings this often; clients should send something this often.
    pub heartbeat: Duration,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Most WebSocket sessions per user.
    pub max_sessions_per_user: usize,
    /// Frames queued for one connection before it counts as a slow reader and is dropped.
    pub outbox_frames: usize,
    /// Bytes of frames queued for one connection before it counts as a slow reader.
    pub outbox_bytes: usize,
    /// Queued frames not taken by the socket for this long: the connection is closed as a
    /// slow reader.
    pub write_timeout: Duration,
    /// Client frames per connection: bucket size and refill per second.
    pub frames_burst: u32,
    pub frames_per_sec: u32,
    /// A user with no client activity for this long shows as idle.
    pub auto_idle: Duration,
    /// Actors with nothing to do stop after this long.
    pub actor_idle: Duration,
    /// Arbiters (threads) hosting user and channel actors.
    pub arbiters: usize,
    /// Messages (and edits) one user may send per day, and their bytes.
    pub messages_per_day: u64,
    pub message_bytes_per_day: u64,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            auth_timeout: Duration::from_secs(10),
            heartbeat: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            max_sessions_per_user: 8,
            outbox_frames: 512,
            outbox_bytes: 1024 * 1024,
            write_timeout: Duration::from_secs(15),
            frames_burst: 60,
            frames_per_sec: 20,
            auto_idle: Duration::from_secs(300),
            actor_idle: Duration::from_secs(120),
            arbiters: 2,
            messages_per_day: 20_000,
            message_bytes_per_day: 512 * 1024 * 1024,
        }
    }
}
