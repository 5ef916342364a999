//! What can go wrong in storage, sorted by what the caller should do about it.

use diesel::result::DatabaseErrorKind;
pub use diesel::result::Error as DieselError;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had in time: the database is down, overloaded or too slow.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] DieselError),
    /// A migration could not be applied or reverted.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored value no longer parses into its domain type.
    #[error("stored data does not parse: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A unique constraint refused the write: a concurrent writer got there first.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// Worth answering 503 rather than 500: the database, not the request, is at fault.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            // A connection lost mid-transaction leaves its transaction manager broken.
            StoreError::Query(DieselError::BrokenTransactionManager) => true,
            StoreError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::SerializationFailure,
                _,
            )) => true,
            StoreError::Query(DieselError::DatabaseError(_, info)) => {
                // SQLite reports a busy database and PostgreSQL a shutting-down server as
                // plain errors; both are the database being unavailable, not a bad request.
                let message = info.message();
                message.contains("database is locked")
                    || message.contains("terminating connection")
                    || message.contains("server closed the connection")
                    || message.contains("no connection to the server")
                    || message.contains("SSL SYSCALL error")
                    || message.contains("could not receive data")
                    || message.contains("canceling statement due to")
            }
            _ => false,
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
