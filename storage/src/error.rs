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
            DieselError::BrokenTransactionManager => {
                StorageError::Unavailable("broken transaction manager".into())
            }
            other => StorageError::Query(other.to_string()),
        }
    }
}

/// Shorthand for storage results.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
