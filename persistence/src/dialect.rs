//! The one place that knows which backend it talks to. Everything else is shared code.

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::migration::MigrationSource;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connection::DbConnection;
use crate::error::{StoreError, StoreResult};
use crate::sqlite_writer::WriterSlot;
use crate::statement::Statement;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Per-connection SQLite settings: a busy timeout so writers queue instead of failing (first,
/// because switching to WAL itself may have to wait), WAL so readers never block the writer,
/// foreign keys (off by default in SQLite), and checkpoints every 10,000 pages (40 MiB of
/// WAL) rather than 1,000: a checkpoint runs inside a committing writer and syncs the file,
/// so at a thousand-odd writes a second the default stalled the one writer every few dozen
/// commits.
pub(crate) fn configure_sqlite(
    conn: &mut SqliteConnection,
    lock_timeout: Duration,
) -> diesel::QueryResult<()> {
    let busy_ms = u64::try_from(lock_timeout.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, i32::MAX as u64);
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {busy_ms};
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA wal_autocheckpoint = 10000;"
    ))
}

/// Per-connection PostgreSQL settings: no statement may run, or wait for a lock, long enough
/// to hold a request past the point where 503 is the honest answer (see `error::busy`).
pub(crate) fn configure_postgres(
    conn: &mut PgConnection,
    lock_timeout: Duration,
) -> diesel::QueryResult<()> {
    conn.batch_execute(&format!(
        "SET statement_timeout = '10s';
         SET lock_timeout = '{}ms';
         SET idle_in_transaction_session_timeout = '30s';",
        lock_timeout.as_millis().max(1)
    ))
}

/// Any fixed number: the lock that keeps replicas starting together from migrating at once.
const MIGRATION_LOCK: i64 = 0x4c69_6e6b_7765_6c6c;

/// This process's SQLite writers, one at a time (see `sqlite_writer`).
static SQLITE_WRITER: WriterSlot = WriterSlot::new();

/// A connection's busy timeout, in milliseconds: how long its writer may queue for
/// [`SQLITE_WRITER`] too.
#[derive(diesel::QueryableByName)]
struct BusyTimeout {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    timeout: i64,
}

/// Holds this process's SQLite writer while a write transaction runs (nothing on PostgreSQL).
pub(crate) struct Writing {
    _writer: Option<crate::sqlite_writer::Held<'static>>,
}

/// Begins a transaction that may write. SQLite takes the write lock at `BEGIN IMMEDIATE` so a
/// transaction that reads before it writes cannot deadlock with another writer (a plain
/// `BEGIN` would fail with SQLITE_BUSY instead of waiting); PostgreSQL uses a plain `BEGIN`.
pub(crate) fn begin_write(conn: &mut DbConnection) -> StoreResult<Writing> {
    use diesel::RunQueryDsl;
    type Manager = <DbConnection as Connection>::TransactionManager;
    let writer = match conn {
        DbConnection::Sqlite(inner) => {
            // Free at once is the common case, and needs no look at the busy timeout.
            let held = match SQLITE_WRITER.try_take() {
                Some(held) => held,
                None => {
                    let busy = diesel::sql_query("PRAGMA busy_timeout")
                        .get_result::<BusyTimeout>(inner)?;
                    let wait = Duration::from_millis(u64::try_from(busy.timeout).unwrap_or(0));
                    SQLITE_WRITER.take_within(wait).ok_or_else(|| {
                        StoreError::Busy(
                            "waited past the busy timeout for this process's SQLite writer".into(),
                        )
                    })?
                }
            };
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
            Some(held)
        }
        DbConnection::Pg(_) => {
            Manager::begin_transaction(conn)?;
            None
        }
    };
    Ok(Writing { _writer: writer })
}

/// Ends what [`begin_write`] began: commits when `result` is a value, rolls back otherwise,
/// then lets the next SQLite writer in.
pub(crate) fn end_write<T, E>(
    conn: &mut DbConnection,
    writing: Writing,
    result: Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    type Manager = <DbConnection as Connection>::TransactionManager;
    let store = |e: diesel::result::Error| E::from(StoreError::from(e));
    let ended = match result {
        Ok(value) => Manager::commit_transaction(conn)
            .map_err(store)
            .map(|()| value),
        Err(error) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(store(rollback)),
        },
    };
    drop(writing);
    ended
}

/// Runs `f`'s reads on one snapshot, so figures computed by several queries agree with each
/// other under concurrent writes: PostgreSQL `REPEATABLE READ READ ONLY`; SQLite a deferred
/// transaction, which in WAL mode reads one snapshot and takes no write lock.
pub fn read_snapshot<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    let store = |e: diesel::result::Error| E::from(StoreError::from(e));
    type Manager = <DbConnection as Connection>::TransactionManager;
    match conn {
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN DEFERRED").map_err(store)?
        }
        DbConnection::Pg(inner) => AnsiTransactionManager::begin_transaction_sql(
            inner,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .map_err(store)?,
    }
    let result = f(conn);
    // Nothing was written: ending the transaction either way only releases the snapshot.
    match Manager::rollback_transaction(conn) {
        Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => result,
        Err(e) => result.and(Err(store(e))),
    }
}

#[derive(diesel::QueryableByName)]
struct Position {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    position: i64,
}

/// The change-feed position of what the current write transaction changes. PostgreSQL: the
/// transaction's own id (64-bit, never reused). SQLite: a counter bumped inside the writing
/// transaction; SQLite has one writer at a time, so positions commit in order.
pub(crate) fn change_position(conn: &mut DbConnection) -> StoreResult<i64> {
    use diesel::RunQueryDsl;
    let sql = match conn {
        DbConnection::Pg(_) => "SELECT pg_current_xact_id()::text::bigint AS position",
        DbConnection::Sqlite(_) => {
            "UPDATE feed_clock SET last = last + 1 RETURNING last AS position"
        }
    };
    let row: Position = Statement::new(sql).get_result(conn)?;
    Ok(row.position)
}

/// Every change position below this belongs to a transaction that has ended, so a feed that
/// reads only below it cannot pass over a change that commits later. SQLite: one past the
/// last committed position. PostgreSQL: transactions commit out of order, so the horizon is
/// the oldest transaction of this database still running at a snapshot (found among the
/// snapshot's running ids by the sessions' own ids, which carry only their low 32 bits), or
/// the snapshot's next id when none is. Other databases' transactions do not hold it back;
/// a long transaction of this database does (our sessions' are cut off after 30 s idle).
pub(crate) fn feed_horizon(conn: &mut DbConnection) -> StoreResult<i64> {
    use diesel::RunQueryDsl;
    let sql = match conn {
        DbConnection::Pg(_) => {
            "SELECT COALESCE(
                 (SELECT min(x::text::bigint) FROM pg_snapshot_xip(snap.s) AS x
                  WHERE x::text::bigint % 4294967296 IN (
                      SELECT backend_xid::text::bigint FROM pg_stat_activity
                      WHERE datname = current_database() AND backend_xid IS NOT NULL)),
                 pg_snapshot_xmax(snap.s)::text::bigint) AS position
             FROM (SELECT pg_current_snapshot() AS s) AS snap"
        }
        DbConnection::Sqlite(_) => "SELECT last + 1 AS position FROM feed_clock",
    };
    let row: Position = diesel::sql_query(sql).get_result(conn)?;
    Ok(row.position)
}

/// Shared SQL written with `?` placeholders, in the backend's own syntax: PostgreSQL numbers
/// them (`$1`, `$2`, …). The SQL must hold no `?` but placeholders (no string literals with one).
pub(crate) fn placeholders(conn: &DbConnection, sql: &str) -> String {
    match conn {
        DbConnection::Sqlite(_) => sql.to_owned(),
        DbConnection::Pg(_) => {
            let mut out = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// Locks row `id` of `table` until the transaction ends, so concurrent writers of the same
/// record queue. PostgreSQL: `FOR NO KEY UPDATE` (it lets foreign keys to the row be checked
/// meanwhile). SQLite: nothing to do, its writers are serialised.
pub(crate) fn lock_row(conn: &mut DbConnection, table: &str, id: &str) -> StoreResult<()> {
    use diesel::RunQueryDsl;
    if let DbConnection::Pg(_) = conn {
        Statement::new(format!(
            "SELECT id FROM {table} WHERE id = ? FOR NO KEY UPDATE"
        ))
        .bind::<diesel::sql_types::Text, _>(id.to_owned())
        .execute(conn)?;
    }
    Ok(())
}

/// How a [`lock_key`] is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Alone.
    Exclusive,
    /// With other shared holders, against an exclusive one.
    Shared,
}

/// Takes a lock on `key` (any text) until the transaction ends, so writers of what it names
/// queue. PostgreSQL: a transaction-level advisory lock on the key's 64-bit hash (two keys
/// sharing a hash only queue needlessly). SQLite: nothing to do, its writers are serialised.
pub(crate) fn lock_key(conn: &mut DbConnection, key: &str, hold: Hold) -> StoreResult<()> {
    use diesel::RunQueryDsl;
    if let DbConnection::Pg(_) = conn {
        let function = match hold {
            Hold::Exclusive => "pg_advisory_xact_lock",
            Hold::Shared => "pg_advisory_xact_lock_shared",
        };
        Statement::new(format!(
            "SELECT {function}(hashtextextended(?, 0))::text AS locked"
        ))
        .bind::<diesel::sql_types::Text, _>(key.to_owned())
        .execute(conn)?;
    }
    Ok(())
}

/// Takes the lock on `key` alone, until the transaction ends, if nobody holds it; says whether
/// it did. For work any instance may do but only one at a time (folding the report totals).
/// SQLite: always, its writers are serialised.
pub(crate) fn try_lock_key(conn: &mut DbConnection, key: &str) -> StoreResult<bool> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    if let DbConnection::Pg(_) = conn {
        let row: Locked =
            Statement::new("SELECT pg_try_advisory_xact_lock(hashtextextended(?, 0)) AS locked")
                .bind::<diesel::sql_types::Text, _>(key.to_owned())
                .get_result(conn)?;
        return Ok(row.locked);
    }
    Ok(true)
}

/// Refreshes the planner's statistics for `table` (after a bulk load, so the next queries are
/// planned for the rows it now holds).
pub(crate) fn analyze(conn: &mut DbConnection, table: &str) -> StoreResult<()> {
    match conn {
        DbConnection::Pg(inner) => inner.batch_execute(&format!("ANALYZE {table}"))?,
        DbConnection::Sqlite(inner) => inner.batch_execute(&format!("ANALYZE {table}"))?,
    }
    Ok(())
}

/// Applies every pending migration for this backend; returns how many ran.
pub(crate) fn run_migrations(conn: &mut DbConnection) -> StoreResult<usize> {
    let applied = match conn {
        // SQLite's migration transaction already excludes other writers.
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|done| done.len()),
        DbConnection::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|done| done.len());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            result
        }
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(applied)
}

/// The migrations this build carries that the database has not applied, by name, oldest
/// first. Unlike Diesel's own check this issues no DDL (Diesel first creates its bookkeeping
/// table if missing), so a role that may not create tables can ask.
pub(crate) fn pending_migrations(conn: &mut DbConnection) -> StoreResult<Vec<String>> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::Text;

    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let (exists, names): (&str, Vec<(String, String)>) = match conn {
        DbConnection::Sqlite(_) => (
            "SELECT name AS version FROM sqlite_master \
             WHERE type = 'table' AND name = '__diesel_schema_migrations'",
            names_of::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS)?,
        ),
        DbConnection::Pg(_) => (
            "SELECT to_regclass('__diesel_schema_migrations')::text AS version \
             WHERE to_regclass('__diesel_schema_migrations') IS NOT NULL",
            names_of::<diesel::pg::Pg>(&POSTGRES_MIGRATIONS)?,
        ),
    };
    let applied: Vec<String> = if diesel::sql_query(exists).load::<Version>(conn)?.is_empty() {
        Vec::new()
    } else {
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load::<Version>(conn)?
            .into_iter()
            .map(|v| v.version)
            .collect()
    };
    Ok(names
        .into_iter()
        .filter(|(version, _)| !applied.contains(version))
        .map(|(_, name)| name)
        .collect())
}

/// Each migration's version (as Diesel records it) and full name, oldest first.
fn names_of<DB: diesel::backend::Backend>(
    source: &EmbeddedMigrations,
) -> StoreResult<Vec<(String, String)>>
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    let mut names: Vec<(String, String)> = MigrationSource::<DB>::migrations(source)
        .map_err(|e| StoreError::Migration(e.to_string()))?
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect();
    names.sort();
    Ok(names)
}

/// How many migrations there are; both backends have the same names.
pub(crate) fn migration_count() -> usize {
    MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS).map_or(0, |m| m.len())
}

/// Reverts every applied migration (for the up → down → up check).
pub(crate) fn revert_migrations(conn: &mut DbConnection) -> StoreResult<usize> {
    let reverted = match conn {
        DbConnection::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS),
        DbConnection::Pg(c) => c.revert_all_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| StoreError::Migration(format!("revert: {e}")))?
    .len();
    Ok(reverted)
}

/// Undoes the latest migration only (to test what a migration does to existing rows);
/// returns its version.
pub(crate) fn revert_last_migration(conn: &mut DbConnection) -> StoreResult<String> {
    match conn {
        DbConnection::Sqlite(c) => c
            .revert_last_migration(SQLITE_MIGRATIONS)
            .map(|v| v.to_string()),
        DbConnection::Pg(c) => c
            .revert_last_migration(POSTGRES_MIGRATIONS)
            .map(|v| v.to_string()),
    }
    .map_err(|e| StoreError::Migration(format!("revert: {e}")))
}

/// The tables and columns, as `table.column type` lines, to compare schemas.
pub fn describe_schema(conn: &mut DbConnection) -> StoreResult<Vec<String>> {
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        line: String,
    }
    let sql = match conn {
        DbConnection::Sqlite(_) => {
            "SELECT m.name || '.' || p.name || ' ' || p.type AS line
             FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
               AND m.name <> '__diesel_schema_migrations'
             ORDER BY m.name, p.cid"
        }
        DbConnection::Pg(_) => {
            "SELECT table_name || '.' || column_name || ' ' || data_type AS line
             FROM information_schema.columns
             WHERE table_schema = current_schema()
               AND table_name <> '__diesel_schema_migrations'
             ORDER BY table_name, ordinal_position"
        }
    };
    let rows: Vec<Column> = diesel::sql_query(sql).load(conn)?;
    Ok(rows.into_iter().map(|c| c.line).collect())
}
