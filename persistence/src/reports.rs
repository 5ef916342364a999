//! Commissioner reports, computed in the database: every figure is a grouped count, sum or
//! order statistic over the period's rows, never rows loaded into memory. The SQL is shared by
//! both backends (placeholders and date arithmetic come from `dialect`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::dialect;
use crate::error::StoreResult;

type Backend = <DbConnection as diesel::Connection>::Backend;

/// What a report covers: `[from, until)` and, optionally, one referring organisation.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub referrer_org: Option<Uuid>,
}

/// A grouped count.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Count {
    #[diesel(sql_type = Nullable<Text>)]
    pub key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub key2: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub key3: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    /// A sum that comes with some counts (minutes of one-to-one time).
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

/// Change from baseline over the pairs (baseline, latest later measurement in the period).
#[derive(Debug, Clone, Default, PartialEq, Eq, QueryableByName)]
pub struct WellbeingSums {
    /// Distinct people with such a pair.
    #[diesel(sql_type = BigInt)]
    pub people: i64,
    #[diesel(sql_type = BigInt)]
    pub pairs: i64,
    /// SWEMWBS: metric hundredths; ONS4: life satisfaction.
    #[diesel(sql_type = BigInt)]
    pub change1: i64,
    #[diesel(sql_type = BigInt)]
    pub change2: i64,
    #[diesel(sql_type = BigInt)]
    pub change3: i64,
    #[diesel(sql_type = BigInt)]
    pub change4: i64,
    /// SWEMWBS: pairs improving by at least the threshold.
    #[diesel(sql_type = BigInt)]
    pub meaningful: i64,
}

/// Every figure of the activity report, as the database computed it.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    pub by_source: Vec<Count>,
    pub by_reason: Vec<Count>,
    pub by_referrer_org: Vec<Count>,
    pub people_referred: i64,
    pub people_contacted: i64,
    /// Grouped by kind, mode and status; `total` is attended one-to-one minutes.
    pub sessions: Vec<Count>,
    /// The median days to first contact, over `contacted` referrals received in the period.
    pub median_days: Option<f64>,
    pub contacted: i64,
    pub accepted: i64,
    pub declined: i64,
    pub closures: Vec<Count>,
    /// Grouped by receiving organisation, status and outcome.
    pub connections: Vec<Count>,
    pub swemwbs: WellbeingSums,
    pub ons4: WellbeingSums,
}

/// Referrals `r` received in the period (a referral entered in error never was). Binds:
/// [`Scope::period`].
const RECEIVED: &str =
    "r.received_at >= ? AND r.received_at < ? AND r.status <> 'entered_in_error'";

/// The columns a [`Count`] reads, for queries that group by fewer keys.
const NO_KEYS: &str =
    "CAST(NULL AS TEXT) AS key2, CAST(NULL AS TEXT) AS key3, CAST(0 AS BIGINT) AS total";

fn run<T: QueryableByName<Backend> + 'static>(
    conn: &mut DbConnection,
    sql: &str,
    binds: &[Bind],
) -> StoreResult<Vec<T>> {
    let sql = dialect::placeholders(conn, sql);
    let mut query = diesel::sql_query(sql).into_boxed::<Backend>();
    for bind in binds {
        query = match bind {
            Bind::At(at) => query.bind::<Timestamp, _>(convert::to_db(*at)),
            Bind::Org(org) => query.bind::<Text, _>(org.to_string()),
            Bind::Number(n) => query.bind::<BigInt, _>(*n),
        };
    }
    Ok(query.load(conn)?)
}

#[derive(Debug, Clone, Copy)]
enum Bind {
    At(DateTime<Utc>),
    Org(Uuid),
    Number(i64),
}

impl Scope {
    /// Binds for a period filter (`… >= ? AND … < ?`) followed by [`Scope::org`].
    fn period(&self) -> Vec<Bind> {
        let mut binds = vec![Bind::At(self.from), Bind::At(self.until)];
        binds.extend(self.referrer_org.map(Bind::Org));
        binds
    }

    /// The referring-organisation filter on `r`, when the scope has one (bound last by
    /// [`Scope::period`]).
    fn org(&self) -> &'static str {
        if self.referrer_org.is_some() {
            " AND r.referrer_org_id = ?"
        } else {
            ""
        }
    }

    /// Joins `r` to rows keyed by `referral_id` only when the organisation filter needs it:
    /// without one, sessions and connections are counted without touching referrals.
    fn join(&self, referral_id: &str) -> String {
        if self.referrer_org.is_some() {
            format!("JOIN referrals r ON r.id = {referral_id}")
        } else {
            String::new()
        }
    }
}

fn single(rows: Vec<Count>) -> i64 {
    rows.first().map_or(0, |c| c.n)
}

/// Computes the activity report for `scope`; `meaningful_hundredths` is the SWEMWBS
/// improvement counted as meaningful.
pub fn activity(
    conn: &mut DbConnection,
    scope: &Scope,
    meaningful_hundredths: i64,
) -> StoreResult<Activity> {
    dialect::read_snapshot(conn, |conn| activity_in(conn, scope, meaningful_hundredths))
}

fn activity_in(
    conn: &mut DbConnection,
    scope: &Scope,
    meaningful_hundredths: i64,
) -> StoreResult<Activity> {
    let period = scope.period();
    let org = scope.org();
    let grouped = |column: &str, from: &str| {
        format!(
            "SELECT {column} AS key, {NO_KEYS}, COUNT(*) AS n FROM {from} WHERE {RECEIVED}{org} GROUP BY {column}"
        )
    };
    let by_source = run(conn, &grouped("r.source", "referrals r"), &period)?;
    let by_reason = run(
        conn,
        &grouped(
            "rr.reason",
            "referral_reasons rr JOIN referrals r ON r.id = rr.referral_id",
        ),
        &period,
    )?;
    let by_referrer_org = run(conn, &grouped("r.referrer_org_id", "referrals r"), &period)?;
    let people_referred = single(run(
        conn,
        &format!(
            "SELECT CAST(NULL AS TEXT) AS key, {NO_KEYS}, COUNT(DISTINCT r.person_id) AS n
             FROM referrals r WHERE {RECEIVED}{org}"
        ),
        &period,
    )?);
    let people_contacted = single(run(
        conn,
        &format!(
            "SELECT CAST(NULL AS TEXT) AS key, {NO_KEYS}, COUNT(DISTINCT r.person_id) AS n
             FROM referrals r
             WHERE r.first_contact_at >= ? AND r.first_contact_at < ?{org}
               AND r.status <> 'entered_in_error'"
        ),
        &period,
    )?);
    let sessions = run(
        conn,
        &format!(
            "SELECT s.kind AS key, s.mode AS key2, s.status AS key3, COUNT(*) AS n,
                    CAST(COALESCE(SUM(CASE WHEN s.status = 'attended'
                        AND s.kind IN ('coaching', 'conversation')
                        THEN s.duration_minutes ELSE 0 END), 0) AS BIGINT) AS total
             FROM sessions s {join}
             WHERE s.scheduled_at >= ? AND s.scheduled_at < ?{org}
             GROUP BY s.kind, s.mode, s.status",
            join = scope.join("s.referral_id"),
        ),
        &period,
    )?;
    let (median_days, contacted) = median_days_to_first_contact(conn, scope)?;
    let ever = |status: &str| {
        format!(
            "EXISTS (SELECT 1 FROM referral_status_changes c
                     WHERE c.referral_id = r.id AND c.to_status = '{status}')"
        )
    };
    let decisions = run::<Count>(
        conn,
        &format!(
            "SELECT 'accepted' AS key, {NO_KEYS}, COUNT(*) AS n FROM referrals r
             WHERE {RECEIVED}{org} AND {accepted}
             UNION ALL
             SELECT 'declined' AS key, {NO_KEYS}, COUNT(*) AS n FROM referrals r
             WHERE {RECEIVED}{org} AND NOT {accepted} AND {declined}",
            accepted = ever("accepted"),
            declined = ever("declined"),
        ),
        &[period.as_slice(), period.as_slice()].concat(),
    )?;
    let decided = |key: &str| {
        decisions
            .iter()
            .find(|c| c.key.as_deref() == Some(key))
            .map_or(0, |c| c.n)
    };
    let closures = run(
        conn,
        &format!(
            "SELECT c.reason_code AS key, {NO_KEYS}, COUNT(*) AS n
             FROM referral_status_changes c {join}
             WHERE c.to_status = 'closed' AND c.changed_at >= ? AND c.changed_at < ?{org}
             GROUP BY c.reason_code",
            join = scope.join("c.referral_id"),
        ),
        &period,
    )?;
    let connections = run(
        conn,
        &format!(
            "SELECT c.organisation_id AS key, c.status AS key2, c.outcome AS key3, COUNT(*) AS n,
                    CAST(0 AS BIGINT) AS total
             FROM connections c {join}
             WHERE c.created_at >= ? AND c.created_at < ?{org}
             GROUP BY c.organisation_id, c.status, c.outcome",
            join = scope.join("c.referral_id"),
        ),
        &period,
    )?;
    let swemwbs = wellbeing(
        conn,
        scope,
        "swemwbs",
        ["l.metric_hundredths - b.metric_hundredths", "0", "0", "0"],
        meaningful_hundredths,
    )?;
    let ons4 = wellbeing(
        conn,
        scope,
        "ons4",
        [
            "l.life_satisfaction - b.life_satisfaction",
            "l.worthwhile - b.worthwhile",
            "l.happiness - b.happiness",
            "l.anxiety - b.anxiety",
        ],
        i64::MAX,
    )?;
    Ok(Activity {
        by_source,
        by_reason,
        by_referrer_org,
        people_referred,
        people_contacted,
        sessions,
        median_days,
        contacted,
        accepted: decided("accepted"),
        declined: decided("declined"),
        closures,
        connections,
        swemwbs,
        ons4,
    })
}

/// The median whole days from receipt to first contact over the referrals received in the
/// period that have one: the database sorts; only the one or two middle values come back.
fn median_days_to_first_contact(
    conn: &mut DbConnection,
    scope: &Scope,
) -> StoreResult<(Option<f64>, i64)> {
    let contacted = format!(
        "FROM referrals r WHERE {RECEIVED}{} AND r.first_contact_at IS NOT NULL",
        scope.org()
    );
    let n = single(run(
        conn,
        &format!("SELECT CAST(NULL AS TEXT) AS key, {NO_KEYS}, COUNT(*) AS n {contacted}"),
        &scope.period(),
    )?);
    if n == 0 {
        return Ok((None, 0));
    }
    let days = dialect::days_between(conn, "r.received_at", "r.first_contact_at");
    let middle = run::<Count>(
        conn,
        &format!(
            "SELECT CAST(NULL AS TEXT) AS key, {NO_KEYS}, {days} AS n {contacted}
             ORDER BY n LIMIT ? OFFSET ?"
        ),
        &[
            scope.period().as_slice(),
            &[Bind::Number(2 - n % 2), Bind::Number((n - 1) / 2)],
        ]
        .concat(),
    )?;
    let sum: i64 = middle.iter().map(|c| c.n).sum();
    Ok((Some(sum as f64 / middle.len().max(1) as f64), n))
}

/// Sums over each referral's pair of its `instrument` baseline and its latest later
/// measurement recorded in the period (the latest up to the period's end).
fn wellbeing(
    conn: &mut DbConnection,
    scope: &Scope,
    instrument: &str,
    changes: [&str; 4],
    meaningful_hundredths: i64,
) -> StoreResult<WellbeingSums> {
    let [c1, c2, c3, c4] = changes;
    let org = scope.org();
    let sql = format!(
        "SELECT COUNT(DISTINCT r.person_id) AS people, COUNT(*) AS pairs,
                CAST(COALESCE(SUM({c1}), 0) AS BIGINT) AS change1,
                CAST(COALESCE(SUM({c2}), 0) AS BIGINT) AS change2,
                CAST(COALESCE(SUM({c3}), 0) AS BIGINT) AS change3,
                CAST(COALESCE(SUM({c4}), 0) AS BIGINT) AS change4,
                CAST(COALESCE(SUM(CASE WHEN {c1} >= ? THEN 1 ELSE 0 END), 0) AS BIGINT) AS meaningful
         FROM outcomes b
         JOIN referrals r ON r.id = b.referral_id
         JOIN outcomes l ON l.referral_id = b.referral_id AND l.instrument = b.instrument
              AND l.timepoint <> 'baseline' AND l.recorded_at > b.recorded_at
         WHERE b.instrument = '{instrument}' AND b.timepoint = 'baseline'
           AND l.recorded_at >= ? AND l.recorded_at < ?{org}
           AND NOT EXISTS (
               SELECT 1 FROM outcomes x
               WHERE x.referral_id = l.referral_id AND x.instrument = l.instrument
                 AND x.timepoint <> 'baseline' AND x.recorded_at < ?
                 AND (x.recorded_at > l.recorded_at OR (x.recorded_at = l.recorded_at AND x.id > l.id)))"
    );
    let mut binds = vec![Bind::Number(meaningful_hundredths)];
    binds.extend(scope.period());
    binds.push(Bind::At(scope.until));
    Ok(run::<WellbeingSums>(conn, &sql, &binds)?
        .pop()
        .unwrap_or_default())
}

/// Open referrals per link worker by status.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Held {
    #[diesel(sql_type = Text)]
    pub assignee_id: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// The unassigned waiting list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waiting {
    pub count: i64,
    pub oldest_received_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct WaitingRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<Timestamp>)]
    oldest: Option<chrono::NaiveDateTime>,
}

/// Open statuses a link worker holds a referral in.
pub const OPEN: [&str; 4] = ["received", "accepted", "active", "on_hold"];

/// Open referrals per assignee and status, and the unassigned waiting list.
pub fn caseload(conn: &mut DbConnection) -> StoreResult<(Vec<Held>, Waiting)> {
    let open = "r.status IN ('received', 'accepted', 'active', 'on_hold')";
    let held = run::<Held>(
        conn,
        &format!(
            "SELECT r.assignee_id AS assignee_id, r.status AS status, COUNT(*) AS n
             FROM referrals r WHERE {open} AND r.assignee_id IS NOT NULL
             GROUP BY r.assignee_id, r.status"
        ),
        &[],
    )?;
    let waiting = run::<WaitingRow>(
        conn,
        &format!(
            "SELECT COUNT(*) AS n, MIN(r.received_at) AS oldest
             FROM referrals r WHERE {open} AND r.assignee_id IS NULL"
        ),
        &[],
    )?
    .pop()
    .map(|w| Waiting {
        count: w.n,
        oldest_received_at: w.oldest.map(convert::from_db),
    })
    .unwrap_or_default();
    Ok((held, waiting))
}
