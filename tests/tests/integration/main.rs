//! The integration suite, one binary: the tests go through the public HTTP and WebSocket
//! surface of a real server over a real PostgreSQL (see `common`), except `supervision`,
//! `storage_messages` and `file_reclaim`, which drive the actors and the storage crate directly
//! over the test server's database (what no public input can provoke: a crashing actor, racing
//! inserts, reclamation racing uploads). Run it with
//! `cargo nextest run`, which gives each test a process of its own (some tests read the
//! process-wide gateway counters).

mod common;

mod abuse;
mod accounts;
mod authz_matrix;
mod bad_input;
mod communities;
mod e2e;
mod file_reclaim;
mod files;
mod gifs;
mod images;
mod metrics;
mod multi_device;
mod plain_files;
mod previews;
mod realtime;
mod sessions;
mod smoke;
mod storage_messages;
mod supervision;
mod two_factor;
