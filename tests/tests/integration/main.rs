//! The integration suite, one binary: every test goes through the public HTTP and WebSocket
//! surface of a real server over a real PostgreSQL (see `common`). Run it with
//! `cargo nextest run`, which gives each test a process of its own (some tests read the
//! process-wide gateway counters).

mod common;

mod abuse;
mod accounts;
mod authz_matrix;
mod bad_input;
mod communities;
mod e2e;
mod metrics;
mod realtime;
mod sessions;
mod smoke;
mod two_factor;
