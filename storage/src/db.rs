//! The pool, the `Db` handle and embedded migrations.

use crate::error::{Result, StorageError};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

/// The SQL migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// A pooled connection.
pub type Conn = Object<AsyncPgConnection>;

/// A cloneable handle on the connection pool.
#[derive(Clone)]
pub struct Db {
    pool: Pool<AsyncPgConnection>,
}

/// Pool usage, for readiness and metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolStatus {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
}

impl Db {
    /// A pool of at most `max_size` connections to `url`; connections open lazily. Waiting for
    /// or opening a connection gives up after `timeout` so callers fail fast when the database
    /// is down.
    pub fn new(url: &str, max_size: usize, timeout: Duration) -> Result<Db> {
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| StorageError::Unavailable(format!("pool: {e}")))?;
        Ok(Db { pool })
    }

    /// A connection from the pool.
    pub async fn conn(&self) -> Result<Conn> {
        self.pool
            .get()
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))
    }

    /// Round-trips `SELECT 1`.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok(())
    }

    /// Current pool usage.
    pub fn status(&self) -> PoolStatus {
        let s = self.pool.status();
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            available: s.available,
        }
    }
}

/// Applies pending migrations to the database at `url` and returns how many ran. Blocking: it
/// runs on its own thread, so it may be called from any context (inside or outside a runtime).
pub fn run_migrations(url: &str) -> Result<usize> {
    let url = url.to_owned();
    std::thread::spawn(move || -> Result<usize> {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| StorageError::Query(format!("migration failed: {e}")))?;
        Ok(applied.len())
    })
    .join()
    .map_err(|_| StorageError::Query("migration thread panicked".into()))?
}
