//! Chatalot's actors: a `RegistryActor` supervising one `SessionActor` per WebSocket, one
//! `UserActor` per online user and one `ChannelActor` per active channel.
//!
//! The crate knows nothing of HTTP or tokens: the server hands each session a stream of
//! `Inbound` frames, an `Outbox` to write to, and an `Authenticator` to check tokens with.
//! Messages are named structs in the receiving actor's module; requests go down the hierarchy
//! with `send().await`, notifications up are fire-and-forget, and fan-out uses `try_send` on
//! bounded outboxes so that a slow reader is dropped instead of buffered without bound.
#![forbid(unsafe_code)]

pub mod channel;
pub mod config;
pub mod frames;
pub mod hub;
pub mod outbox;
pub mod quota;
pub mod registry;
pub mod session;
pub mod stats;
pub mod user;

pub use config::RealtimeConfig;
pub use hub::{Authenticator, Claims, Hub};
pub use outbox::{Control, Inbound, Outbox};
pub use registry::RegistryActor;
pub use session::SessionActor;
