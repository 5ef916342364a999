//! Schema migrations, embedded in the binary, one set per backend with the same names.

use crate::connection::DbConnection;
use crate::dialect;
use crate::error::StoreResult;
use crate::tallies;

/// Brings the schema up to date; returns how many migrations ran.
pub fn run(conn: &mut DbConnection) -> StoreResult<usize> {
    dialect::run_migrations(conn)
}

/// Makes the report totals from the records if the database needs it (it is from before they
/// were kept, or a rebuild was left unfinished); nothing otherwise. Writers go on meanwhile.
/// Needs no more than the runtime role may do.
pub fn make_totals(conn: &mut DbConnection) -> StoreResult<()> {
    if tallies::need_rebuild(conn)? {
        tallies::rebuild(conn)?;
    }
    Ok(())
}

/// The migrations not yet applied, by name, oldest first; asks without changing anything, so
/// a role that may not migrate can check before it starts.
pub fn pending(conn: &mut DbConnection) -> StoreResult<Vec<String>> {
    dialect::pending_migrations(conn)
}

/// Undoes every migration.
pub fn revert_all(conn: &mut DbConnection) -> StoreResult<usize> {
    dialect::revert_migrations(conn)
}

/// Undoes the latest migrations down to and including `version` (its leading digits, such as
/// `2026-12-05-000002`), so a test can replay what one migration does to existing rows
/// however many came after it.
pub fn revert_through(conn: &mut DbConnection, version: &str) -> StoreResult<()> {
    let wanted: String = version.chars().filter(char::is_ascii_digit).collect();
    loop {
        let reverted = dialect::revert_last_migration(conn)?;
        let digits: String = reverted.chars().filter(char::is_ascii_digit).collect();
        if digits.starts_with(&wanted) || digits.is_empty() {
            return Ok(());
        }
    }
}

/// How many migrations this build carries (the same for both backends).
pub fn count() -> usize {
    dialect::migration_count()
}
