//! Schema migrations, embedded in the binary, one set per backend with the same names.

use crate::connection::DbConnection;
use crate::dialect;
use crate::error::StoreResult;

/// Brings the schema up to date; returns how many migrations ran.
pub fn run(conn: &mut DbConnection) -> StoreResult<usize> {
    dialect::run_migrations(conn)
}

/// Undoes every migration.
pub fn revert_all(conn: &mut DbConnection) -> StoreResult<usize> {
    dialect::revert_migrations(conn)
}

/// How many migrations this build carries (the same for both backends).
pub fn count() -> usize {
    dialect::migration_count()
}
