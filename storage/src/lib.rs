//! Chatalot's storage layer: PostgreSQL through diesel-async over a deadpool pool.
//!
//! One module per table or aggregate, each a set of free `async fn`s taking the connection
//! first. Row structs stay private; callers get plain structs with typed ids. Every list is
//! bounded by a `limit`.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod audit;
pub mod backup_codes;
pub mod blobs;
pub mod channels;
pub mod communities;
mod db;
pub mod devices;
pub mod emoji;
pub mod envelopes;
mod error;
pub mod files;
pub mod groups;
pub mod images;
pub mod invites;
pub mod key_backup;
pub mod keys;
pub mod links;
pub mod messages;
pub mod profiles;
mod schema;
pub mod sessions;
pub mod settings;
pub mod users;

pub use db::{run_migrations, Conn, Db, PoolStatus, MIGRATIONS};
pub use diesel_async::AsyncPgConnection;
pub use error::{Result, StorageError};
