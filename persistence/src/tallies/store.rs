//! The totals as stored: deltas inserted by writers, folded into `report_tallies`, and read
//! back as one.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use linkwell_domain::tally::{self, Amount, Day, Key, Metric, Tallies};

use super::{Backend, TOTALS, rebuild};
use crate::connection::DbConnection;
use crate::dialect::{self, Hold};
use crate::error::{StoreError, StoreResult, corrupt};
use crate::statement::Statement;
use crate::unit_of_work::write_transaction;

/// Scopes of month rows start with this: each month's tallies summed on its first day, so a
/// long window reads one row per month and key instead of one per day.
const MONTHS: &str = "month:";

/// Rows per insert or upsert statement: 9 binds each, well under SQLite's limit.
const ROWS_PER_STATEMENT: usize = 500;

/// Keys per delete of emptied rows (7 binds each).
const KEYS_PER_DELETE: usize = 200;

/// Deltas folded per transaction: enough that folding keeps up with any write rate, few
/// enough that a fold's transaction stays short.
const FOLD_BATCH: i64 = 10_000;

/// Only one instance folds at a time; the others skip their turn.
const FOLDING: &str = "report totals folding";

/// Adds each amount to its month's row too.
fn with_months(delta: Vec<(Key, Amount)>) -> Vec<(Key, Amount)> {
    let mut all = Tallies::default();
    for (key, amount) in delta {
        let month = Key {
            scope: format!("{MONTHS}{}", key.scope),
            day: tally::month_start(key.day),
            ..key.clone()
        };
        all.add(month, amount);
        all.add(key, amount);
    }
    all.0
        .into_iter()
        .filter(|(_, a)| *a != Amount::default())
        .collect()
}

/// Binds a total's key, in column order: scope, day, metric, since_day, until_day, key1, key2.
fn bind_key(query: Statement, key: &Key) -> Statement {
    query
        .bind::<Text, _>(key.scope.clone())
        .bind::<Integer, _>(key.day)
        .bind::<Text, _>(key.metric.as_str())
        .bind::<Integer, _>(key.since)
        .bind::<Integer, _>(key.until)
        .bind::<Text, _>(key.key1.clone())
        .bind::<Text, _>(key.key2.clone())
}

/// Inserts a transaction's difference to the totals (day rows; no zeros).
pub(super) fn insert_deltas(conn: &mut DbConnection, delta: &[(Key, Amount)]) -> StoreResult<()> {
    let delta: Vec<&(Key, Amount)> = delta
        .iter()
        .filter(|(_, a)| *a != Amount::default())
        .collect();
    for chunk in delta.chunks(ROWS_PER_STATEMENT) {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO report_tally_deltas
                 (scope, day, metric, since_day, until_day, key1, key2, n, total)
             VALUES {rows}"
        );
        // A write's difference is a few dozen rows at most: one prepared statement per count.
        let mut query = Statement::cached_if(sql, chunk.len() <= 32);
        for (key, amount) in chunk {
            query = bind_key(query, key)
                .bind::<BigInt, _>(amount.n)
                .bind::<BigInt, _>(amount.total);
        }
        query.execute(conn)?;
    }
    Ok(())
}

/// Adds each amount (day and month rows) to its total, creating it when missing and dropping
/// it when left at nothing, so the table holds only what counts. Rows are written in key
/// order, so two writers of the totals cannot deadlock.
fn upsert(conn: &mut DbConnection, delta: &[(Key, Amount)]) -> StoreResult<()> {
    for chunk in delta.chunks(ROWS_PER_STATEMENT) {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let mut query = Statement::once(format!(
            "INSERT INTO report_tallies
                 (scope, day, metric, since_day, until_day, key1, key2, n, total)
             VALUES {rows}
             ON CONFLICT (scope, day, metric, since_day, until_day, key1, key2)
             DO UPDATE SET n = report_tallies.n + excluded.n,
                           total = report_tallies.total + excluded.total"
        ));
        for (key, amount) in chunk {
            query = bind_key(query, key)
                .bind::<BigInt, _>(amount.n)
                .bind::<BigInt, _>(amount.total);
        }
        query.execute(conn)?;
    }
    let emptied: Vec<&Key> = delta
        .iter()
        .filter(|(_, a)| a.n < 0 || a.total < 0)
        .map(|(k, _)| k)
        .collect();
    for chunk in emptied.chunks(KEYS_PER_DELETE) {
        let keys = vec![
            "(scope = ? AND day = ? AND metric = ? AND since_day = ? AND until_day = ? \
             AND key1 = ? AND key2 = ?)";
            chunk.len()
        ]
        .join(" OR ");
        let mut query = Statement::once(format!(
            "DELETE FROM report_tallies WHERE n = 0 AND total = 0 AND ({keys})"
        ));
        for key in chunk {
            query = bind_key(query, key);
        }
        query.execute(conn)?;
    }
    Ok(())
}

/// Adds whole tallies (day rows) to the totals, with their month rows.
pub(super) fn upsert_all(conn: &mut DbConnection, tallies: Tallies) -> StoreResult<()> {
    upsert(conn, &with_months(tallies.0.into_iter().collect()))
}

/// One stored row: a total or a delta.
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    scope: String,
    #[diesel(sql_type = Integer)]
    day: i32,
    #[diesel(sql_type = Integer)]
    since_day: i32,
    #[diesel(sql_type = Integer)]
    until_day: i32,
    #[diesel(embed)]
    sum: Summed,
}

impl Row {
    fn total(self) -> StoreResult<(Key, Amount)> {
        Ok((
            Key {
                scope: self.scope,
                day: self.day,
                metric: metric(&self.sum.metric)?,
                since: self.since_day,
                until: self.until_day,
                key1: self.sum.key1,
                key2: self.sum.key2,
            },
            Amount {
                n: self.sum.n,
                total: self.sum.total,
            },
        ))
    }
}

/// Moves the deltas written so far into the totals; returns how many it moved (none when
/// another instance is folding). Each batch is one transaction, so a report (which reads
/// totals and deltas in one statement) sees every delta exactly once, folded or not.
pub fn fold(conn: &mut DbConnection) -> StoreResult<usize> {
    let mut moved = 0;
    loop {
        let n = write_transaction(conn, |tx| fold_batch(tx))?;
        moved += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < FOLD_BATCH {
            return Ok(moved);
        }
    }
}

fn fold_batch(conn: &mut DbConnection) -> StoreResult<usize> {
    // A rebuild resets the totals under this lock held alone.
    dialect::lock_key(conn, TOTALS, Hold::Shared)?;
    if !dialect::try_lock_key(conn, FOLDING)? {
        return Ok(0);
    }
    let rows: Vec<Row> = Statement::new(
        "DELETE FROM report_tally_deltas
         WHERE id IN (SELECT id FROM report_tally_deltas ORDER BY id LIMIT ?)
         RETURNING scope, day, metric, since_day, until_day, key1, key2, n, total",
    )
    .bind::<BigInt, _>(FOLD_BATCH)
    .load(conn)?;
    let moved = rows.len();
    let mut sum = Tallies::default();
    for row in rows {
        let (key, amount) = row.total()?;
        sum.add(key, amount);
    }
    upsert_all(conn, sum)?;
    Ok(moved)
}

/// How many deltas wait to be folded.
pub fn unfolded(conn: &mut DbConnection) -> StoreResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let row: Count =
        diesel::sql_query("SELECT COUNT(*) AS n FROM report_tally_deltas").get_result(conn)?;
    Ok(row.n)
}

/// One summed row of a window.
#[derive(Debug, QueryableByName)]
struct Summed {
    #[diesel(sql_type = Text)]
    metric: String,
    #[diesel(sql_type = Text)]
    key1: String,
    #[diesel(sql_type = Text)]
    key2: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// The totals of `scope` over the days `first..=last`, summed per metric and keys: whole months
/// from month rows, the days around them from day rows, plus the deltas not yet folded, in one
/// statement (so one snapshot). Busy while a rebuild has not yet counted everyone.
pub(crate) fn window(
    conn: &mut DbConnection,
    scope: &str,
    first: Day,
    last: Day,
) -> StoreResult<Vec<(Metric, String, String, Amount)>> {
    if rebuild::rebuilding(conn)? {
        return Err(StoreError::Busy(
            "the report totals are being made afresh from the records; try again shortly".into(),
        ));
    }
    let split = tally::split(first, last);
    let sql = dialect::placeholders(
        conn,
        "SELECT metric, key1, key2, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(total) AS BIGINT) AS total
         FROM (
             SELECT metric, key1, key2, n, total FROM report_tallies
             WHERE ((scope = ? AND day >= ? AND day <= ?)
                 OR (scope = ? AND day >= ? AND day <= ?)
                 OR (scope = ? AND day >= ? AND day <= ?))
               AND since_day < ? AND until_day > ?
             UNION ALL
             SELECT metric, key1, key2, n, total FROM report_tally_deltas
             WHERE scope = ? AND day >= ? AND day <= ? AND since_day < ? AND until_day > ?
         ) AS window_rows
         GROUP BY metric, key1, key2
         HAVING SUM(n) <> 0 OR SUM(total) <> 0",
    );
    let mut query = diesel::sql_query(sql).into_boxed::<Backend>();
    for (scope, (from, to)) in [
        (scope.to_owned(), split.days_before),
        (format!("{MONTHS}{scope}"), split.months),
        (scope.to_owned(), split.days_after),
    ] {
        query = query
            .bind::<Text, _>(scope)
            .bind::<Integer, _>(from)
            .bind::<Integer, _>(to);
    }
    let rows: Vec<Summed> = query
        .bind::<Integer, _>(first)
        .bind::<Integer, _>(last)
        .bind::<Text, _>(scope.to_owned())
        .bind::<Integer, _>(first)
        .bind::<Integer, _>(last)
        .bind::<Integer, _>(first)
        .bind::<Integer, _>(last)
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let metric = metric(&r.metric)?;
            Ok((
                metric,
                r.key1,
                r.key2,
                Amount {
                    n: r.n,
                    total: r.total,
                },
            ))
        })
        .collect()
}

/// What the totals say, as every non-zero total in key order (day and month rows), folded or
/// not: for checking the running totals against a [`super::rebuild`].
pub fn stored(conn: &mut DbConnection) -> StoreResult<Vec<(Key, Amount)>> {
    const COLUMNS: &str = "scope, day, metric, since_day, until_day, key1, key2, n, total";
    let totals: Vec<Row> =
        diesel::sql_query(format!("SELECT {COLUMNS} FROM report_tallies")).load(conn)?;
    let deltas: Vec<Row> =
        diesel::sql_query(format!("SELECT {COLUMNS} FROM report_tally_deltas")).load(conn)?;
    let mut all = Tallies::default();
    for row in totals {
        let (key, amount) = row.total()?;
        all.add(key, amount);
    }
    let mut unfolded = Tallies::default();
    for row in deltas {
        let (key, amount) = row.total()?;
        unfolded.add(key, amount);
    }
    for (key, amount) in with_months(unfolded.0.into_iter().collect()) {
        all.add(key, amount);
    }
    // Keys come out of the map in order.
    Ok(all
        .0
        .into_iter()
        .filter(|(_, a)| *a != Amount::default())
        .collect())
}

/// A stored metric code.
pub(super) fn metric(code: &str) -> StoreResult<Metric> {
    Metric::parse(code).ok_or_else(|| corrupt("report metric", code))
}
