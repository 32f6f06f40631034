//! Chatalot's actors: a `RegistryActor` supervising one `SessionActor` per WebSocket, one
//! `UserActor` per online user and one `ChannelActor` per active channel.
//!
//! The crate knows nothing of HTTP or tokens: the server hands each session a stream of
//! `Inbound` frames, an `Outbox` to write to, and an `Authenticator` to check tokens with.
//! Messages are named structs in the receiving actor's module, so two actors that talk both
//! ways name each other's module (the registry starts user and channel actors, which ask it to
//! let them go). Most messages are fire-and-forget (`do_send`, or `try_send` where a full
//! mailbox must be answered with `busy`). An actor that holds its mailbox while it waits for
//! an answer (`.wait`) waits on the registry or its user actor: sessions when joining,
//! subscribing (presence, channel lookups) and user and channel actors when asking to be
//! released. The registry never holds its mailbox: what it waits for (a user accepting a
//! connection, the users closing at shutdown) runs in response futures, so no wait comes
//! round in a circle.
//! Fan-out pushes onto bounded outboxes, so a slow reader is dropped instead of buffered
//! without bound. The registry supervises: an actor that goes without being released is
//! restarted (see `registry`).
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
#[cfg(any(test, feature = "fault-injection"))]
pub mod testing;
pub mod user;

pub use config::RealtimeConfig;
pub use hub::{Authenticator, Claims, Hub};
pub use outbox::{Control, Inbound, Outbox};
pub use registry::RegistryActor;
pub use session::SessionActor;
