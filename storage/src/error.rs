//! The one error type of the storage layer.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong talking to PostgreSQL, in terms callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A unique or foreign-key constraint rejected the write.
    #[error("conflict on constraint {constraint}")]
    Conflict { constraint: String },
    /// The database cannot be reached or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database's disk is full: nothing was written.
    #[error("database storage full: {0}")]
    Full(String),
    /// The query failed for another reason (a bug or a broken invariant).
    #[error("query failed: {0}")]
    Query(String),
}

impl StorageError {
    /// True when the write hit the named constraint.
    pub fn is_conflict_on(&self, name: &str) -> bool {
        matches!(self, StorageError::Conflict { constraint } if constraint == name)
    }
}

impl From<DieselError> for StorageError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => StorageError::NotFound,
            DieselError::DatabaseError(
                kind @ (DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::CheckViolation),
                info,
            ) => StorageError::Conflict {
                constraint: info
                    .constraint_name()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{kind:?}")),
            },
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StorageError::Unavailable(info.message().to_owned())
            }
            // PostgreSQL's disk_full (53100) reaches us as its message only; the embedded
            // cluster runs with lc_messages = 'C', so it is in English
            DieselError::DatabaseError(_, info) if is_disk_full(info.message()) => {
                StorageError::Full(info.message().to_owned())
            }
            DieselError::BrokenTransactionManager => {
                StorageError::Unavailable("broken transaction manager".into())
            }
            other => StorageError::Query(other.to_string()),
        }
    }
}

/// True for PostgreSQL's messages of a full disk (`could not extend file …: No space left on
/// device`, and the same for writes of temporary and WAL files).
fn is_disk_full(message: &str) -> bool {
    message.contains("No space left on device")
}

/// Shorthand for storage results.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
