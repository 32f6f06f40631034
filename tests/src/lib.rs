//! Integration tests live in `tests/`; shared helpers in `tests/common`. The library holds
//! `e2e_client`, a complete end-to-end encrypting client the tests drive through the public
//! HTTP and WebSocket surface.
#![forbid(unsafe_code)]

pub mod e2e_client;
