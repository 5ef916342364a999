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
    /// A statement waited too long for a lock held by another transaction (PostgreSQL
    /// `lock_timeout`, SQLSTATE 55P03, or a deadlock, 40P01; SQLite busy or locked), or ran
    /// past `statement_timeout` (57014): the database is busy, e.g. while `linkwell retotal`
    /// holds the report totals. Worth a retry shortly (503 with `Retry-After`).
    #[error("database busy: {0}")]
    Busy(String),
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

/// Whether a database error is a wait that ran out: a lock or statement timeout, a deadlock,
/// SQLite's busy or locked. Diesel gives no SQLSTATE for these (they all arrive as
/// `DatabaseErrorKind::Unknown`), so the server's message decides: PostgreSQL's English
/// messages (the server's `lc_messages`; a translated server would need the SQLSTATE, which
/// Diesel does not expose) and SQLite's fixed `sqlite3_errstr` texts.
pub fn is_busy(kind: &DatabaseErrorKind, message: &str) -> bool {
    if !matches!(kind, DatabaseErrorKind::Unknown) {
        return false;
    }
    const WAITS: &[&str] = &[
        // PostgreSQL 55P03 lock_not_available: `lock_timeout`, or NOWAIT / SKIP LOCKED.
        "canceling statement due to lock timeout",
        "could not obtain lock on",
        // PostgreSQL 57014 query_canceled: `statement_timeout`.
        "canceling statement due to statement timeout",
        // PostgreSQL 40P01 deadlock_detected: one of the two was cancelled; a retry succeeds.
        "deadlock detected",
        // SQLite SQLITE_BUSY and SQLITE_LOCKED.
        "database is locked",
        "database table is locked",
        "database schema is locked",
    ];
    WAITS.iter().any(|wait| message.starts_with(wait))
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::DatabaseError(kind, info) if is_busy(kind, info.message()) => {
                StoreError::Busy(e.to_string())
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_and_statement_timeouts_are_busy_and_nothing_else_is() {
        let unknown = DatabaseErrorKind::Unknown;
        for busy in [
            "canceling statement due to lock timeout",
            "could not obtain lock on row in relation \"referrals\"",
            "canceling statement due to statement timeout",
            "deadlock detected",
            "database is locked",
            "database table is locked: referrals",
            "database schema is locked: main",
        ] {
            assert!(is_busy(&unknown, busy), "{busy}");
            let error = DieselError::DatabaseError(unknown, Box::new(busy.to_owned()));
            assert!(
                matches!(StoreError::from(error), StoreError::Busy(_)),
                "{busy}"
            );
        }
        for other in [
            "canceling statement due to user request",
            "relation \"x\" does not exist",
            "syntax error at or near \"SELEC\"",
            "no such table: x",
        ] {
            assert!(!is_busy(&unknown, other), "{other}");
            let error = DieselError::DatabaseError(unknown, Box::new(other.to_owned()));
            assert!(
                matches!(StoreError::from(error), StoreError::Query(_)),
                "{other}"
            );
        }
        // A unique violation whose text happens to mention a lock is still a conflict.
        let unique = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("database is locked".to_owned()),
        );
        assert!(matches!(StoreError::from(unique), StoreError::Conflict(_)));
    }
}
