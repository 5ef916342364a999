//! Keeps the report's running totals (`report_tallies`) equal to the sum of every record's
//! tallies (`domain::tally`), in the transaction that changes the records.
//!
//! The unit is a person with all their referrals: distinct-people figures depend on all of
//! them, and a person holds few. A repository about to change anything a report counts calls
//! [`touch_referral`] or [`touch_person`]; that locks the person and tallies their records as
//! they stand. When the write transaction is about to commit, [`settle`] tallies them again and
//! adds the difference: one upsert per changed row, in key order, so concurrent writers never
//! deadlock on totals, and the last thing a transaction locks is a total, so they never wait
//! on each other while holding one for long.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use linkwell_domain::tally::{
    self, Amount, ChangeFacts, ConnectionFacts, Day, Key, MeasureFacts, Metric, ReferralFacts,
    SessionFacts, Tallies,
};

use crate::connection::DbConnection;
use crate::convert;
use crate::dialect;
use crate::error::{StoreResult, corrupt};
use crate::schema::{
    connections, outcomes, people, referral_reasons, referral_status_changes, referrals, sessions,
};

type Backend = <DbConnection as diesel::Connection>::Backend;

/// The people the current write transaction touched, with their tallies before it did.
type Pending = BTreeMap<String, Tallies>;

thread_local! {
    /// Set while a write transaction runs on this thread (see [`Open`]). Repositories run
    /// synchronously inside the transaction's closure, so the thread is the transaction.
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// Marks a write transaction running on this thread; dropping it forgets what was touched
/// (settled or rolled back).
pub(crate) struct Open(());

impl Open {
    pub(crate) fn begin() -> Self {
        PENDING.with(|p| *p.borrow_mut() = Some(Pending::new()));
        Open(())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        PENDING.with(|p| *p.borrow_mut() = None);
    }
}

fn is_touched(person: &str) -> Option<bool> {
    PENDING.with(|p| p.borrow().as_ref().map(|p| p.contains_key(person)))
}

/// Call before changing, or adding, anything under referral `id` that a report counts.
pub(crate) fn touch_referral(conn: &mut DbConnection, id: &str) -> StoreResult<()> {
    if let Some(person) = person_of(conn, id)? {
        touch_person(conn, &person)?;
        // A merge may have moved the referral while this waited for the person's lock.
        if let Some(now) = person_of(conn, id)?.filter(|p| *p != person) {
            touch_person(conn, &now)?;
        }
    }
    Ok(())
}

/// Call before changing which referrals person `id` has, or anything under them.
pub(crate) fn touch_person(conn: &mut DbConnection, id: &str) -> StoreResult<()> {
    match is_touched(id) {
        Some(false) => {}
        // Touched already, or outside a write transaction (nothing to keep up to date).
        Some(true) | None => return Ok(()),
    }
    dialect::lock_row(conn, "people", id)?;
    let before = person_tallies(conn, &[id.to_owned()])?;
    PENDING.with(|p| {
        if let Some(p) = p.borrow_mut().as_mut() {
            p.insert(id.to_owned(), before);
        }
    });
    Ok(())
}

/// Adds the difference the current transaction made to every person it touched.
pub(crate) fn settle(conn: &mut DbConnection) -> StoreResult<()> {
    let Some(pending) = PENDING.with(|p| p.borrow_mut().take()) else {
        return Ok(());
    };
    if pending.is_empty() {
        return Ok(());
    }
    let mut before = Tallies::default();
    let ids: Vec<String> = pending.keys().cloned().collect();
    for (_, tallies) in pending {
        before.absorb(tallies);
    }
    let after = person_tallies(conn, &ids)?;
    upsert(conn, &with_months(after.minus(&before)))
}

/// Scopes of month rows start with this: each month's tallies summed on its first day, so a
/// long window reads one row per month and key instead of one per day.
const MONTHS: &str = "month:";

/// Adds each amount to its month's row too.
fn with_months(delta: Vec<(Key, Amount)>) -> Vec<(Key, Amount)> {
    let mut all = Tallies::default();
    for (key, amount) in delta {
        let month = Key {
            scope: format!("{MONTHS}{}", key.scope),
            day: tally::month_start(key.day),
            ..key.clone()
        };
        all.absorb(Tallies(
            [(key, amount), (month, amount)].into_iter().collect(),
        ));
    }
    all.0
        .into_iter()
        .filter(|(_, a)| *a != Amount::default())
        .collect()
}

fn person_of(conn: &mut DbConnection, referral: &str) -> StoreResult<Option<String>> {
    Ok(referrals::table
        .find(referral)
        .select(referrals::person_id)
        .first(conn)
        .optional()?)
}

/// Everything `people` add to the reports, read from their records.
fn person_tallies(conn: &mut DbConnection, people: &[String]) -> StoreResult<Tallies> {
    let mut out = Tallies::default();
    for referrals in load(conn, people)?.into_values() {
        out.absorb(tally::person_tallies(&referrals));
        for r in &referrals {
            out.absorb(r.tallies());
        }
    }
    Ok(out)
}

fn under<'a>(
    facts: &'a mut HashMap<String, ReferralFacts>,
    id: &str,
) -> StoreResult<&'a mut ReferralFacts> {
    facts
        .get_mut(id)
        .ok_or_else(|| corrupt("report facts", format!("no referral {id}")))
}

type ReferralRow = (
    String,
    String,
    Option<String>,
    String,
    NaiveDateTime,
    String,
    Option<NaiveDateTime>,
);

/// The report's view of `people`'s referrals, by person.
fn load(
    conn: &mut DbConnection,
    people: &[String],
) -> StoreResult<HashMap<String, Vec<ReferralFacts>>> {
    let rows: Vec<ReferralRow> = referrals::table
        .filter(referrals::person_id.eq_any(people))
        .select((
            referrals::id,
            referrals::person_id,
            referrals::referrer_org_id,
            referrals::source,
            referrals::received_at,
            referrals::status,
            referrals::first_contact_at,
        ))
        .load(conn)?;
    let ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    let mut facts: HashMap<String, ReferralFacts> = HashMap::with_capacity(rows.len());
    for (id, _, org, source, received, status, first) in &rows {
        facts.insert(
            id.clone(),
            ReferralFacts {
                referrer_org: org.clone(),
                source: source.clone(),
                received_at: convert::from_db(*received),
                in_error: status == "entered_in_error",
                first_contact_at: first.map(convert::from_db),
                reasons: Vec::new(),
                changes: Vec::new(),
                sessions: Vec::new(),
                connections: Vec::new(),
                measures: Vec::new(),
            },
        );
    }
    let reasons: Vec<(String, String)> = referral_reasons::table
        .filter(referral_reasons::referral_id.eq_any(&ids))
        .select((referral_reasons::referral_id, referral_reasons::reason))
        .load(conn)?;
    for (id, reason) in reasons {
        under(&mut facts, &id)?.reasons.push(reason);
    }
    let changes: Vec<(String, String, Option<String>, NaiveDateTime)> =
        referral_status_changes::table
            .filter(referral_status_changes::referral_id.eq_any(&ids))
            .filter(referral_status_changes::to_status.eq_any(["accepted", "declined", "closed"]))
            .select((
                referral_status_changes::referral_id,
                referral_status_changes::to_status,
                referral_status_changes::reason_code,
                referral_status_changes::changed_at,
            ))
            .load(conn)?;
    for (id, to, reason_code, at) in changes {
        under(&mut facts, &id)?.changes.push(ChangeFacts {
            to,
            reason_code,
            at: convert::from_db(at),
        });
    }
    let held: Vec<(String, NaiveDateTime, String, String, String, Option<i32>)> = sessions::table
        .filter(sessions::referral_id.eq_any(&ids))
        .select((
            sessions::referral_id,
            sessions::scheduled_at,
            sessions::kind,
            sessions::mode,
            sessions::status,
            sessions::duration_minutes,
        ))
        .load(conn)?;
    for (id, at, kind, mode, status, minutes) in held {
        under(&mut facts, &id)?.sessions.push(SessionFacts {
            scheduled_at: convert::from_db(at),
            kind,
            mode,
            status,
            minutes: minutes.map(i64::from),
        });
    }
    type ConnectionRow = (
        String,
        NaiveDateTime,
        Option<String>,
        String,
        Option<String>,
    );
    let made: Vec<ConnectionRow> = connections::table
        .filter(connections::referral_id.eq_any(&ids))
        .select((
            connections::referral_id,
            connections::created_at,
            connections::organisation_id,
            connections::status,
            connections::outcome,
        ))
        .load(conn)?;
    for (id, at, organisation, status, outcome) in made {
        under(&mut facts, &id)?.connections.push(ConnectionFacts {
            created_at: convert::from_db(at),
            organisation,
            status,
            outcome,
        });
    }
    type MeasureRow = (
        String,
        String,
        String,
        String,
        NaiveDateTime,
        (
            Option<i32>,
            Option<i32>,
            Option<i32>,
            Option<i32>,
            Option<i32>,
        ),
    );
    let measured: Vec<MeasureRow> = outcomes::table
        .filter(outcomes::referral_id.eq_any(&ids))
        .select((
            outcomes::referral_id,
            outcomes::id,
            outcomes::instrument,
            outcomes::timepoint,
            outcomes::recorded_at,
            (
                outcomes::metric_hundredths,
                outcomes::life_satisfaction,
                outcomes::worthwhile,
                outcomes::happiness,
                outcomes::anxiety,
            ),
        ))
        .load(conn)?;
    for (id, measure, instrument, timepoint, at, (metric, a, b, c, d)) in measured {
        let v = |x: Option<i32>| i64::from(x.unwrap_or(0));
        let values = if instrument == "swemwbs" {
            [v(metric), 0, 0, 0]
        } else {
            [v(a), v(b), v(c), v(d)]
        };
        under(&mut facts, &id)?.measures.push(MeasureFacts {
            id: measure,
            instrument,
            baseline: timepoint == "baseline",
            recorded_at: convert::from_db(at),
            values,
        });
    }
    let mut by_person: HashMap<String, Vec<ReferralFacts>> = HashMap::new();
    for (id, person, ..) in rows {
        if let Some(f) = facts.remove(&id) {
            by_person.entry(person).or_default().push(f);
        }
    }
    Ok(by_person)
}

/// Rows per upsert statement: 9 binds each, well under SQLite's limit.
const ROWS_PER_STATEMENT: usize = 500;

/// Adds each amount to its row, creating it when missing.
fn upsert(conn: &mut DbConnection, delta: &[(Key, Amount)]) -> StoreResult<()> {
    for chunk in delta.chunks(ROWS_PER_STATEMENT) {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = dialect::placeholders(
            conn,
            &format!(
                "INSERT INTO report_tallies
                     (scope, day, metric, since_day, until_day, key1, key2, n, total)
                 VALUES {rows}
                 ON CONFLICT (scope, day, metric, since_day, until_day, key1, key2)
                 DO UPDATE SET n = report_tallies.n + excluded.n,
                               total = report_tallies.total + excluded.total"
            ),
        );
        let mut query = diesel::sql_query(sql).into_boxed::<Backend>();
        for (key, amount) in chunk {
            query = query
                .bind::<Text, _>(key.scope.clone())
                .bind::<Integer, _>(key.day)
                .bind::<Text, _>(key.metric.as_str())
                .bind::<Integer, _>(key.since)
                .bind::<Integer, _>(key.until)
                .bind::<Text, _>(key.key1.clone())
                .bind::<Text, _>(key.key2.clone())
                .bind::<BigInt, _>(amount.n)
                .bind::<BigInt, _>(amount.total);
        }
        query.execute(conn)?;
    }
    Ok(())
}

/// People per batch when rebuilding.
const REBUILD_BATCH: i64 = 2_000;

/// Recomputes every total from the records, in the caller's write transaction: after a bulk
/// load that bypassed the repositories (`seed`), or on first start after upgrading. Writers
/// that settle meanwhile wait for it, then add their difference to the rebuilt totals.
/// Returns the number of rows written.
pub fn rebuild(conn: &mut DbConnection) -> StoreResult<usize> {
    dialect::lock_table(conn, "report_tallies")?;
    diesel::sql_query("DELETE FROM report_tallies").execute(conn)?;
    let mut all = Tallies::default();
    let mut after: Option<String> = None;
    loop {
        let mut batch = people::table
            .select(people::id)
            .order(people::id)
            .limit(REBUILD_BATCH)
            .into_boxed();
        if let Some(last) = &after {
            batch = batch.filter(people::id.gt(last.clone()));
        }
        let ids: Vec<String> = batch.load(conn)?;
        let Some(last) = ids.last().cloned() else {
            break;
        };
        all.absorb(person_tallies(conn, &ids)?);
        after = Some(last);
    }
    let rows = with_months(all.0.into_iter().collect());
    upsert(conn, &rows)?;
    dialect::analyze(conn, "report_tallies")?;
    Ok(rows.len())
}

/// Whether totals are missing while records exist: a database from before they were kept.
pub fn need_rebuild(conn: &mut DbConnection) -> StoreResult<bool> {
    #[derive(QueryableByName)]
    struct Missing {
        #[diesel(sql_type = BigInt)]
        missing: i64,
    }
    let row: Missing = diesel::sql_query(
        "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM referrals)
                           AND NOT EXISTS (SELECT 1 FROM report_tallies)
                      THEN 1 ELSE 0 END AS BIGINT) AS missing",
    )
    .get_result(conn)?;
    Ok(row.missing == 1)
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
/// from month rows, the days around them from day rows.
pub(crate) fn window(
    conn: &mut DbConnection,
    scope: &str,
    first: Day,
    last: Day,
) -> StoreResult<Vec<(Metric, String, String, Amount)>> {
    let split = tally::split(first, last);
    let sql = dialect::placeholders(
        conn,
        "SELECT metric, key1, key2, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(total) AS BIGINT) AS total
         FROM report_tallies
         WHERE ((scope = ? AND day >= ? AND day <= ?)
             OR (scope = ? AND day >= ? AND day <= ?)
             OR (scope = ? AND day >= ? AND day <= ?))
           AND since_day < ? AND until_day > ?
         GROUP BY metric, key1, key2",
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
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let metric =
                Metric::parse(&r.metric).ok_or_else(|| corrupt("report metric", &r.metric))?;
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

/// Every stored total that is not zero, in key order: for checking the running totals against
/// a [`rebuild`].
pub fn stored(conn: &mut DbConnection) -> StoreResult<Vec<(Key, Amount)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        scope: String,
        #[diesel(sql_type = Integer)]
        day: i32,
        #[diesel(sql_type = Text)]
        metric: String,
        #[diesel(sql_type = Integer)]
        since_day: i32,
        #[diesel(sql_type = Integer)]
        until_day: i32,
        #[diesel(sql_type = Text)]
        key1: String,
        #[diesel(sql_type = Text)]
        key2: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
        #[diesel(sql_type = BigInt)]
        total: i64,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT scope, day, metric, since_day, until_day, key1, key2, n, total
         FROM report_tallies WHERE n <> 0 OR total <> 0",
    )
    .load(conn)?;
    let mut out = rows
        .into_iter()
        .map(|r| {
            let metric =
                Metric::parse(&r.metric).ok_or_else(|| corrupt("report metric", &r.metric))?;
            Ok((
                Key {
                    scope: r.scope,
                    day: r.day,
                    metric,
                    since: r.since_day,
                    until: r.until_day,
                    key1: r.key1,
                    key2: r.key2,
                },
                Amount {
                    n: r.n,
                    total: r.total,
                },
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
