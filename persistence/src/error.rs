//! What can go wrong in storage, sorted by what the caller should do about it. Diesel's errors
//! stop here: they are classified once, by their kind, into these variants.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had in time, or the one in use was lost: the database is down,
    /// restarting or overloaded. Worth a retry later (503), not a bug report.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique rule refused the write: a concurrent writer got there first. Retrying sees the
    /// winner's row.
    #[error("unique rule refused the write: {0}")]
    Conflict(String),
    /// A query failed for any other reason: a bug, not the caller's fault.
    #[error("database error: {0}")]
    Query(String),
    /// A migration could not be applied or reverted.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored value no longer parses into its domain type.
    #[error("stored data does not parse: {0}")]
    Corrupt(String),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                StoreError::Conflict(e.to_string())
            }
            // A serialization failure is a concurrent writer too, but the whole transaction is
            // gone: the client retries it, so it answers as the database being busy.
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
                | DatabaseErrorKind::SerializationFailure,
                _,
            )
            // A connection lost mid-transaction leaves its transaction manager broken.
            | DieselError::BrokenTransactionManager => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Query(e.to_string()),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Wraps a stored value that fails to parse.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

/// Short for the common result.
pub type StoreResult<T> = Result<T, StoreError>;
