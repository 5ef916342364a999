//! Keeps the report's running totals (`report_tallies`) equal to the sum of every record's
//! tallies (`domain::tally`), in the transaction that changes the records.
//!
//! A repository about to change anything a report counts under a referral calls
//! [`touch_referral`]: that locks the referral (so its writers queue) and tallies it as it
//! stands. When the write transaction is about to commit, [`settle`] tallies the touched
//! referrals again and adds the difference.
//!
//! Distinct-people totals depend on all of a person's referrals, so each person's distinct
//! event days are kept with a count of the records on each (`person_event_days`): a change
//! to one referral moves its own events and re-chains the person's days, whatever the number
//! of their referrals. A merge re-reads both people's records instead.
//!
//! Totals are written last, one upsert per changed row in key order, so concurrent writers
//! never deadlock on them and hold them only until their commit.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use linkwell_domain::tally::{
    self, Amount, ChangeFacts, ConnectionFacts, Day, Event, Key, MeasureFacts, Metric,
    ReferralFacts, SessionFacts, Tallies,
};

use crate::connection::DbConnection;
use crate::convert;
use crate::dialect::{self, Hold};
use crate::error::{StoreError, StoreResult, corrupt};
use crate::schema::{people, referrals};

type Backend = <DbConnection as diesel::Connection>::Backend;

/// A touched referral as it stood before the transaction changed it.
#[derive(Default)]
struct Before {
    person: Option<String>,
    tallies: Tallies,
    events: Vec<Event>,
}

/// What the current write transaction touched.
#[derive(Default)]
struct Pending {
    referrals: BTreeMap<String, Before>,
    /// People whose referrals moved (merges): their days are re-read from the records.
    people: BTreeSet<String>,
}

thread_local! {
    /// Set while a write transaction runs on this thread (see [`Open`]). Repositories run
    /// synchronously inside the transaction's closure, so the thread is the transaction.
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// Marks a write transaction running on this thread; dropping it forgets what was touched
/// (settled or rolled back). Only the outermost transaction on a thread owns the set: a
/// nested one adds to it.
pub(crate) struct Open {
    owner: bool,
}

impl Open {
    pub(crate) fn begin() -> Self {
        let owner = PENDING.with(|p| {
            let mut p = p.borrow_mut();
            let first = p.is_none();
            if first {
                *p = Some(Pending::default());
            }
            first
        });
        Open { owner }
    }

    /// Adds the difference the transaction made to the totals, once, from the outermost.
    pub(crate) fn settle(&self, conn: &mut DbConnection) -> StoreResult<()> {
        if self.owner { settle(conn) } else { Ok(()) }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.owner {
            PENDING.with(|p| *p.borrow_mut() = None);
        }
    }
}

fn pending<T>(f: impl FnOnce(&mut Pending) -> T) -> Option<T> {
    PENDING.with(|p| p.borrow_mut().as_mut().map(f))
}

/// The totals would miss a counted change made outside `write_transaction`.
fn outside() -> StoreError {
    StoreError::Query("a change the reports count, outside a write transaction".into())
}

/// Call before changing anything under referral `id` that a report counts.
pub(crate) fn touch_referral(conn: &mut DbConnection, id: &str) -> StoreResult<()> {
    if pending(|p| p.referrals.contains_key(id)).ok_or_else(outside)? {
        return Ok(());
    }
    // Writers of one referral queue here, so each reads what the last one committed.
    dialect::lock_row(conn, "referrals", id)?;
    let before = match load(conn, Records::Referrals(&[id.to_owned()]))?.pop() {
        Some((_, person, facts)) => Before {
            person: Some(person),
            tallies: facts.tallies(),
            events: facts.events(),
        },
        None => Before::default(),
    };
    pending(|p| p.referrals.insert(id.to_owned(), before));
    Ok(())
}

/// Call before adding referral `id`: it counts nothing yet, and nobody else can see it.
pub(crate) fn touch_new_referral(id: &str) -> StoreResult<()> {
    pending(|p| {
        p.referrals.entry(id.to_owned()).or_default();
    })
    .ok_or_else(outside)
}

/// Call when moving referrals between people (a merge), for each of them.
pub(crate) fn touch_person(id: &str) -> StoreResult<()> {
    pending(|p| {
        p.people.insert(id.to_owned());
    })
    .ok_or_else(outside)
}

/// Adds the difference the current transaction made to the totals.
fn settle(conn: &mut DbConnection) -> StoreResult<()> {
    let Some(pending) = PENDING.with(|p| p.borrow_mut().take()) else {
        return Ok(());
    };
    if pending.referrals.is_empty() && pending.people.is_empty() {
        return Ok(());
    }
    // A rebuild holds this exclusively: no difference is worked out from totals it replaces.
    dialect::lock_key(conn, TOTALS, Hold::Shared)?;
    let mut before = Tallies::default();
    let mut after = Tallies::default();
    // Event counts moved, per person (people re-read whole are left out).
    let mut moved: BTreeMap<String, BTreeMap<Event, i64>> = BTreeMap::new();
    let mut shift = |person: Option<&String>, events: &[Event], by: i64| {
        if let Some(person) = person.filter(|p| !pending.people.contains(*p)) {
            let counts = moved.entry(person.clone()).or_default();
            for e in events {
                *counts.entry(e.clone()).or_default() += by;
            }
        }
    };
    let ids: Vec<String> = pending.referrals.keys().cloned().collect();
    let mut now: HashMap<String, (String, ReferralFacts)> = load(conn, Records::Referrals(&ids))?
        .into_iter()
        .map(|(id, person, facts)| (id, (person, facts)))
        .collect();
    for (id, was) in &pending.referrals {
        before.absorb(was.tallies.clone());
        shift(was.person.as_ref(), &was.events, -1);
        if let Some((person, facts)) = now.remove(id) {
            after.absorb(facts.tallies());
            shift(Some(&person), &facts.events(), 1);
        }
    }
    // Most changes (a later session, a connection moving on) move no event.
    moved.retain(|_, counts| {
        counts.retain(|_, n| *n != 0);
        !counts.is_empty()
    });
    // Each person's days are read and written under their lock, taken in one order by every
    // writer, after the referrals' (so a merge, which locks referrals as it moves them, cannot
    // deadlock with a writer of one of them).
    let people: BTreeSet<&String> = moved.keys().chain(&pending.people).collect();
    for person in people {
        dialect::lock_key(conn, person, Hold::Exclusive)?;
    }
    for (person, counts) in moved {
        let stored = event_days(conn, &person)?;
        let mut next = stored.clone();
        for (event, by) in &counts {
            *next.entry(event.clone()).or_default() += by;
        }
        next.retain(|_, n| *n > 0);
        before.absorb(tally::chain_tallies(stored.keys()));
        after.absorb(tally::chain_tallies(next.keys()));
        save_event_days(conn, &person, &counts)?;
    }
    for person in &pending.people {
        let stored = event_days(conn, person)?;
        let fresh = tally::event_counts(
            load(conn, Records::People(std::slice::from_ref(person)))?
                .iter()
                .map(|(_, _, f)| f),
        );
        before.absorb(tally::chain_tallies(stored.keys()));
        after.absorb(tally::chain_tallies(fresh.keys()));
        replace_event_days(conn, person, &fresh)?;
    }
    upsert(conn, &with_months(after.minus(&before)))
}

#[derive(QueryableByName)]
struct EventDay {
    #[diesel(sql_type = Text)]
    metric: String,
    #[diesel(sql_type = Text)]
    scope: String,
    #[diesel(sql_type = Integer)]
    day: i32,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A person's stored event days, with their counts.
fn event_days(conn: &mut DbConnection, person: &str) -> StoreResult<BTreeMap<Event, i64>> {
    let sql = dialect::placeholders(
        conn,
        "SELECT metric, scope, day, n FROM person_event_days WHERE person_id = ? AND n > 0",
    );
    let rows: Vec<EventDay> = diesel::sql_query(sql)
        .into_boxed::<Backend>()
        .bind::<Text, _>(person.to_owned())
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let metric = metric(&r.metric)?;
            Ok((
                Event {
                    metric,
                    scope: r.scope,
                    day: r.day,
                },
                r.n,
            ))
        })
        .collect()
}

/// Adds `counts` (none zero) to a person's event days and drops the days left with none.
fn save_event_days(
    conn: &mut DbConnection,
    person: &str,
    counts: &BTreeMap<Event, i64>,
) -> StoreResult<()> {
    let changed: Vec<(&str, &Event, i64)> = counts.iter().map(|(e, n)| (person, e, *n)).collect();
    insert_event_days(conn, &changed, true)?;
    if changed.iter().all(|(_, _, n)| *n > 0) {
        return Ok(());
    }
    let sql = dialect::placeholders(
        conn,
        "DELETE FROM person_event_days WHERE person_id = ? AND n <= 0",
    );
    diesel::sql_query(sql)
        .into_boxed::<Backend>()
        .bind::<Text, _>(person.to_owned())
        .execute(conn)?;
    Ok(())
}

/// Replaces a person's event days.
fn replace_event_days(
    conn: &mut DbConnection,
    person: &str,
    counts: &BTreeMap<Event, i64>,
) -> StoreResult<()> {
    let sql = dialect::placeholders(conn, "DELETE FROM person_event_days WHERE person_id = ?");
    diesel::sql_query(sql)
        .into_boxed::<Backend>()
        .bind::<Text, _>(person.to_owned())
        .execute(conn)?;
    let rows: Vec<(&str, &Event, i64)> = counts.iter().map(|(e, n)| (person, e, *n)).collect();
    insert_event_days(conn, &rows, false)
}

/// Writes `(person, event, count)` rows; `add` adds to rows already there.
fn insert_event_days(
    conn: &mut DbConnection,
    rows: &[(&str, &Event, i64)],
    add: bool,
) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let values = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let conflict = if add {
            " ON CONFLICT (person_id, metric, scope, day)
              DO UPDATE SET n = person_event_days.n + excluded.n"
        } else {
            ""
        };
        let sql = dialect::placeholders(
            conn,
            &format!(
                "INSERT INTO person_event_days (person_id, metric, scope, day, n)
                 VALUES {values}{conflict}"
            ),
        );
        let mut query = diesel::sql_query(sql).into_boxed::<Backend>();
        for (person, event, n) in chunk {
            query = query
                .bind::<Text, _>((*person).to_owned())
                .bind::<Text, _>(event.metric.as_str())
                .bind::<Text, _>(event.scope.clone())
                .bind::<Integer, _>(event.day)
                .bind::<BigInt, _>(*n);
        }
        query.execute(conn)?;
    }
    Ok(())
}

/// The lock key that keeps settling writers and a rebuild apart.
const TOTALS: &str = "report totals";

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
        all.add(month, amount);
        all.add(key, amount);
    }
    all.0
        .into_iter()
        .filter(|(_, a)| *a != Amount::default())
        .collect()
}

/// Which referrals to read.
enum Records<'a> {
    Referrals(&'a [String]),
    People(&'a [String]),
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

/// The report's view of referrals: `(id, person, facts)`. Two queries whatever the number of
/// referrals: their rows, then everything under them in one `UNION ALL`.
fn load(
    conn: &mut DbConnection,
    which: Records<'_>,
) -> StoreResult<Vec<(String, String, ReferralFacts)>> {
    use linkwell_domain::outcome::{Instrument, Timepoint};
    use linkwell_domain::{ReferralStatus, UnknownCode};

    // Every stored code is parsed here, once: one the domain does not know is a corrupt
    // store, not a figure silently left out.
    fn code<T: std::str::FromStr<Err = UnknownCode>>(value: Option<&str>) -> StoreResult<T> {
        value
            .unwrap_or_default()
            .parse()
            .map_err(|e: UnknownCode| corrupt("report facts", e))
    }
    fn maybe<T: std::str::FromStr<Err = UnknownCode>>(
        value: Option<&str>,
    ) -> StoreResult<Option<T>> {
        value.map(|v| code(Some(v))).transpose()
    }

    let chosen = referrals::table
        .select((
            referrals::id,
            referrals::person_id,
            referrals::referrer_org_id,
            referrals::source,
            referrals::received_at,
            referrals::status,
            referrals::first_contact_at,
        ))
        .into_boxed();
    let chosen = match which {
        Records::Referrals(ids) => chosen.filter(referrals::id.eq_any(ids)),
        Records::People(ids) => chosen.filter(referrals::person_id.eq_any(ids)),
    };
    let rows: Vec<ReferralRow> = chosen.load(conn)?;
    let mut facts: HashMap<String, ReferralFacts> = HashMap::with_capacity(rows.len());
    for (id, _, org, source, received, status, first) in &rows {
        facts.insert(
            id.clone(),
            ReferralFacts {
                referrer_org: org.clone(),
                source: code(Some(source))?,
                received_at: convert::from_db(*received),
                in_error: code::<ReferralStatus>(Some(status))? == ReferralStatus::EnteredInError,
                first_contact_at: first.map(convert::from_db),
                reasons: Vec::new(),
                changes: Vec::new(),
                sessions: Vec::new(),
                connections: Vec::new(),
                measures: Vec::new(),
            },
        );
    }
    for chunk in rows.chunks(CHILDREN_PER_QUERY) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.0.as_str()).collect();
        for child in children(conn, &ids)? {
            let facts = under(&mut facts, &child.referral_id)?;
            let at = || {
                child
                    .at
                    .map(convert::from_db)
                    .ok_or_else(|| corrupt("report facts", "a child row without its time"))
            };
            match child.kind.as_str() {
                "reason" => facts.reasons.push(code(child.t1.as_deref())?),
                "change" => facts.changes.push(ChangeFacts {
                    to: code(child.t1.as_deref())?,
                    reason_code: maybe(child.t2.as_deref())?,
                    at: at()?,
                }),
                "session" => facts.sessions.push(SessionFacts {
                    scheduled_at: at()?,
                    kind: code(child.t1.as_deref())?,
                    mode: code(child.t2.as_deref())?,
                    status: code(child.t3.as_deref())?,
                    minutes: child.v1.map(i64::from),
                }),
                "connection" => facts.connections.push(ConnectionFacts {
                    created_at: at()?,
                    organisation: child.t1.clone(),
                    status: code(child.t2.as_deref())?,
                    outcome: maybe(child.t3.as_deref())?,
                }),
                "measure" => {
                    let v = |x: Option<i32>| i64::from(x.unwrap_or(0));
                    let instrument = code(child.t2.as_deref())?;
                    let values = match instrument {
                        Instrument::Swemwbs => [v(child.v1), 0, 0, 0],
                        Instrument::Ons4 => [v(child.v2), v(child.v3), v(child.v4), v(child.v5)],
                    };
                    let timepoint: Timepoint = code(child.t3.as_deref())?;
                    facts.measures.push(MeasureFacts {
                        id: child.t1.clone().unwrap_or_default(),
                        instrument,
                        baseline: timepoint == Timepoint::Baseline,
                        recorded_at: at()?,
                        values,
                    });
                }
                other => return Err(corrupt("report facts", format!("a `{other}` child row"))),
            }
        }
    }
    Ok(rows
        .into_iter()
        .filter_map(|(id, person, ..)| {
            let f = facts.remove(&id)?;
            Some((id, person, f))
        })
        .collect())
}

/// Referrals per children query: the ids are bound once, in a `VALUES` list.
const CHILDREN_PER_QUERY: usize = 5_000;

/// One row under a referral, of any kind: the columns each kind fills are in [`children`].
#[derive(QueryableByName)]
struct Child {
    #[diesel(sql_type = Text)]
    referral_id: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    t1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    t2: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    t3: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Integer>)]
    v1: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    v2: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    v3: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    v4: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    v5: Option<i32>,
}

/// Everything the report counts under the referrals `ids`, in one query (measures entered in
/// error count nowhere, so they are not read).
fn children(conn: &mut DbConnection, ids: &[&str]) -> StoreResult<Vec<Child>> {
    const NO_TEXT: &str = "CAST(NULL AS TEXT)";
    const NO_TIME: &str = "CAST(NULL AS TIMESTAMP)";
    const NO_INT: &str = "CAST(NULL AS INTEGER)";
    let values = vec!["(?)"; ids.len()].join(", ");
    let sql = format!(
        "WITH chosen (id) AS (VALUES {values})
         SELECT referral_id, 'reason' AS kind, reason AS t1, {NO_TEXT} AS t2, {NO_TEXT} AS t3,
                {NO_TIME} AS at, {NO_INT} AS v1, {NO_INT} AS v2, {NO_INT} AS v3, {NO_INT} AS v4,
                {NO_INT} AS v5
         FROM referral_reasons WHERE referral_id IN (SELECT id FROM chosen)
         UNION ALL
         SELECT referral_id, 'change', to_status, reason_code, {NO_TEXT}, changed_at,
                {NO_INT}, {NO_INT}, {NO_INT}, {NO_INT}, {NO_INT}
         FROM referral_status_changes WHERE referral_id IN (SELECT id FROM chosen)
           AND to_status IN ('accepted', 'declined', 'closed')
         UNION ALL
         SELECT referral_id, 'session', kind, mode, status, scheduled_at, duration_minutes,
                {NO_INT}, {NO_INT}, {NO_INT}, {NO_INT}
         FROM sessions WHERE referral_id IN (SELECT id FROM chosen)
         UNION ALL
         SELECT referral_id, 'connection', organisation_id, status, outcome, created_at,
                {NO_INT}, {NO_INT}, {NO_INT}, {NO_INT}, {NO_INT}
         FROM connections WHERE referral_id IN (SELECT id FROM chosen)
         UNION ALL
         SELECT referral_id, 'measure', id, instrument, timepoint, recorded_at,
                metric_hundredths, life_satisfaction, worthwhile, happiness, anxiety
         FROM outcomes WHERE referral_id IN (SELECT id FROM chosen) AND status = 'recorded'"
    );
    let sql = dialect::placeholders(conn, &sql);
    let mut query = diesel::sql_query(sql).into_boxed::<Backend>();
    for id in ids {
        query = query.bind::<Text, _>((*id).to_owned());
    }
    Ok(query.load(conn)?)
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
            query = bind_key(query, key)
                .bind::<BigInt, _>(amount.n)
                .bind::<BigInt, _>(amount.total);
        }
        query.execute(conn)?;
    }
    // Rows a decrement left at nothing go, so the table holds only what counts.
    let emptied: Vec<&Key> = delta
        .iter()
        .filter(|(_, a)| a.n < 0)
        .map(|(k, _)| k)
        .collect();
    for chunk in emptied.chunks(KEYS_PER_DELETE) {
        let keys = vec![
            "(scope = ? AND day = ? AND metric = ? AND since_day = ? AND until_day = ? \
             AND key1 = ? AND key2 = ?)";
            chunk.len()
        ]
        .join(" OR ");
        let sql = dialect::placeholders(
            conn,
            &format!("DELETE FROM report_tallies WHERE n = 0 AND total = 0 AND ({keys})"),
        );
        let mut query = diesel::sql_query(sql).into_boxed::<Backend>();
        for key in chunk {
            query = bind_key(query, key);
        }
        query.execute(conn)?;
    }
    Ok(())
}

type Boxed<'a> = diesel::query_builder::BoxedSqlQuery<'a, Backend, diesel::query_builder::SqlQuery>;

/// Binds a total's key, in column order: scope, day, metric, since_day, until_day, key1, key2.
fn bind_key<'a>(query: Boxed<'a>, key: &Key) -> Boxed<'a> {
    query
        .bind::<Text, _>(key.scope.clone())
        .bind::<Integer, _>(key.day)
        .bind::<Text, _>(key.metric.as_str())
        .bind::<Integer, _>(key.since)
        .bind::<Integer, _>(key.until)
        .bind::<Text, _>(key.key1.clone())
        .bind::<Text, _>(key.key2.clone())
}

/// Keys per delete of emptied rows (7 binds each).
const KEYS_PER_DELETE: usize = 200;

/// People per batch when rebuilding.
const REBUILD_BATCH: i64 = 2_000;

/// Recomputes every total from the records, in the caller's write transaction: after a bulk
/// load that bypassed the repositories (`seed`), or on first start after upgrading. Writers
/// that settle meanwhile wait for it (up to the lock timeout), then add their difference to
/// the rebuilt totals.
/// Returns the number of rows written.
pub fn rebuild(conn: &mut DbConnection) -> StoreResult<usize> {
    // Settling writers finish first; later ones wait for the rebuild (and those waiting past
    // the lock timeout fail).
    dialect::lock_key(conn, TOTALS, Hold::Exclusive)?;
    for table in ["person_event_days", "report_tallies"] {
        diesel::sql_query(format!("DELETE FROM {table}")).execute(conn)?;
    }
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
        let mut by_person: BTreeMap<String, Vec<ReferralFacts>> = BTreeMap::new();
        for (_, person, facts) in load(conn, Records::People(&ids))? {
            all.absorb(facts.tallies());
            by_person.entry(person).or_default().push(facts);
        }
        let mut days = Vec::new();
        for (person, referrals) in &by_person {
            let counts = tally::event_counts(referrals);
            all.absorb(tally::chain_tallies(counts.keys()));
            days.extend(counts.into_iter().map(|(e, n)| (person.clone(), e, n)));
        }
        let rows: Vec<(&str, &Event, i64)> =
            days.iter().map(|(p, e, n)| (p.as_str(), e, *n)).collect();
        insert_event_days(conn, &rows, false)?;
        after = Some(last);
    }
    let rows = with_months(all.0.into_iter().collect());
    upsert(conn, &rows)?;
    dialect::analyze(conn, "report_tallies")?;
    dialect::analyze(conn, "person_event_days")?;
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

/// Every stored total, in key order: for checking the running totals against a [`rebuild`]
/// (which stores no zeros, so neither may they).
pub fn stored(conn: &mut DbConnection) -> StoreResult<Vec<(Key, Amount)>> {
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
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT scope, day, metric, since_day, until_day, key1, key2, n, total
         FROM report_tallies",
    )
    .load(conn)?;
    let mut out = rows
        .into_iter()
        .map(|r| {
            Ok((
                Key {
                    scope: r.scope,
                    day: r.day,
                    metric: metric(&r.sum.metric)?,
                    since: r.since_day,
                    until: r.until_day,
                    key1: r.sum.key1,
                    key2: r.sum.key2,
                },
                Amount {
                    n: r.sum.n,
                    total: r.sum.total,
                },
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A stored metric code.
fn metric(code: &str) -> StoreResult<Metric> {
    Metric::parse(code).ok_or_else(|| corrupt("report metric", code))
}

/// Every person's stored event days, sorted: for checking them against a [`rebuild`].
pub fn stored_event_days(conn: &mut DbConnection) -> StoreResult<Vec<(String, Event, i64)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        person_id: String,
        #[diesel(embed)]
        day: EventDay,
    }
    let rows: Vec<Row> =
        diesel::sql_query("SELECT person_id, metric, scope, day, n FROM person_event_days")
            .load(conn)?;
    let mut out = rows
        .into_iter()
        .map(|r| {
            let metric = metric(&r.day.metric)?;
            Ok((
                r.person_id,
                Event {
                    metric,
                    scope: r.day.scope,
                    day: r.day.day,
                },
                r.day.n,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort();
    Ok(out)
}
