//! Reports. The activity report sums the period's running totals (`report_tallies`, kept by
//! [`crate::tallies`]), a few rows per day, whatever the number of records behind them; the
//! caseload report counts open referrals.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use linkwell_domain::report::Activity;
use linkwell_domain::tally::{self, ALL};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::dialect;
use crate::error::StoreResult;
use crate::tallies;

type Backend = <DbConnection as diesel::Connection>::Backend;

/// What a report covers: `[from, until)`, whole UTC days, and, optionally, one referring
/// organisation.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub referrer_org: Option<Uuid>,
}

/// Computes the activity report for `scope`; `meaningful_hundredths` is the SWEMWBS
/// improvement counted as meaningful.
pub fn activity(
    conn: &mut DbConnection,
    scope: &Scope,
    meaningful_hundredths: i64,
) -> StoreResult<Activity> {
    let org = scope.referrer_org.map(|o| o.to_string());
    let totals = tallies::window(
        conn,
        org.as_deref().unwrap_or(ALL),
        tally::day(scope.from),
        tally::day(scope.until) - 1,
    )?;
    Ok(Activity::from_totals(totals, meaningful_hundredths))
}

fn run<T: QueryableByName<Backend> + 'static>(
    conn: &mut DbConnection,
    sql: &str,
) -> StoreResult<Vec<T>> {
    Ok(diesel::sql_query(sql).load(conn)?)
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

/// Open referrals per assignee and status, and the unassigned waiting list, from one snapshot
/// so the two agree.
pub fn caseload(conn: &mut DbConnection) -> StoreResult<(Vec<Held>, Waiting)> {
    dialect::read_snapshot(conn, caseload_in)
}

fn caseload_in(conn: &mut DbConnection) -> StoreResult<(Vec<Held>, Waiting)> {
    let open = "r.status IN ('received', 'accepted', 'active', 'on_hold')";
    let held = run::<Held>(
        conn,
        &format!(
            "SELECT r.assignee_id AS assignee_id, r.status AS status, COUNT(*) AS n
             FROM referrals r WHERE {open} AND r.assignee_id IS NOT NULL
             GROUP BY r.assignee_id, r.status"
        ),
    )?;
    let waiting = run::<WaitingRow>(
        conn,
        &format!(
            "SELECT COUNT(*) AS n, MIN(r.received_at) AS oldest
             FROM referrals r WHERE {open} AND r.assignee_id IS NULL"
        ),
    )?
    .pop()
    .map(|w| Waiting {
        count: w.n,
        oldest_received_at: w.oldest.map(convert::from_db),
    })
    .unwrap_or_default();
    Ok((held, waiting))
}
