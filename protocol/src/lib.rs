//! The wire contract between Chatalot clients and the server.
//!
//! Everything a client sends or receives over REST is typed here: ids, request and response
//! bodies and the stable error codes. This crate has no knowledge of HTTP, storage or actors.
#![forbid(unsafe_code)]

pub mod api;
pub mod bytes;
pub mod error;
pub mod ids;
mod int;
pub mod keys;
pub mod multi_device;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod perms;
pub mod ws;

pub use error::{ErrorBody, ErrorCode};

/// Version of the REST and WebSocket protocol; bumped on incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;
