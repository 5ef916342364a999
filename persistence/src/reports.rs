//! Reports. The activity report sums the period's running totals (`report_tallies`, kept by
//! [`crate::tallies`]), a few rows per day, whatever the number of records behind them; the
//! caseload report counts open referrals.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use linkwell_domain::report::Activity;
use linkwell_domain::tally::{self, ALL, Amount};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::dialect;
use crate::error::StoreResult;
use crate::statement::Statement;
use crate::tallies;

/// What a report covers: `[from, until)`, whole UTC days, and whose referrals.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub whose: Whose,
}

/// Whose referrals a report counts (and everything under them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// The whole service's.
    Service,
    /// One referring organisation's.
    ReferrerOrg(Uuid),
    /// Those one team owns.
    Team(Uuid),
    /// Those of one network's organisations.
    Network(Uuid),
}

impl Whose {
    fn tally_scope(self) -> String {
        match self {
            Whose::Service => ALL.to_owned(),
            Whose::ReferrerOrg(org) => org.to_string(),
            Whose::Team(team) => tally::team_scope(&team.to_string()),
            Whose::Network(network) => tally::network_scope(&network.to_string()),
        }
    }
}

/// Computes the activity report for `scope`; `meaningful_hundredths` is the SWEMWBS
/// improvement counted as meaningful.
pub fn activity(
    conn: &mut DbConnection,
    scope: &Scope,
    meaningful_hundredths: i64,
) -> StoreResult<Activity> {
    let totals = tallies::window(
        conn,
        &scope.whose.tally_scope(),
        tally::day(scope.from),
        tally::day(scope.until) - 1,
    )?;
    let mut activity = Activity::from_totals(totals, meaningful_hundredths);
    activity.group_sessions = group_sessions(conn, scope)?;
    activity.community_work = community_work(conn, scope)?;
    Ok(activity)
}

#[derive(QueryableByName)]
struct GroupsRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    minutes: i64,
}

/// Community work done in the period, and its minutes: the whole service's, or a team's (it
/// is about groups, so no referring organisation or network has any).
fn community_work(conn: &mut DbConnection, scope: &Scope) -> StoreResult<Amount> {
    let team = match scope.whose {
        Whose::Service => None,
        Whose::Team(team) => Some(team),
        Whose::ReferrerOrg(_) | Whose::Network(_) => return Ok(Amount::default()),
    };
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(minutes), 0) AS BIGINT) AS minutes
         FROM community_work WHERE occurred_at >= ? AND occurred_at < ?{}",
        if team.is_some() {
            " AND team_id = ?"
        } else {
            ""
        }
    );
    let mut statement = Statement::new(sql)
        .bind::<Timestamp, _>(convert::to_db(scope.from))
        .bind::<Timestamp, _>(convert::to_db(scope.until));
    if let Some(team) = team {
        statement = statement.bind::<Text, _>(team.to_string());
    }
    let rows: Vec<GroupsRow> = statement.load(conn)?;
    Ok(rows.first().map_or(Amount::default(), |r| Amount {
        n: r.n,
        total: r.minutes,
    }))
}

/// Group sessions held in the period, each once, and their staff minutes (length once per
/// facilitator). Read from the sessions themselves: there are few, and none is under one
/// referral. The whole service's are every held session; a narrower scope's those attended
/// by at least one of its referrals (entered in error counts nowhere).
fn group_sessions(conn: &mut DbConnection, scope: &Scope) -> StoreResult<Amount> {
    let (condition, id) = match scope.whose {
        Whose::Service => (None, None),
        Whose::ReferrerOrg(org) => (Some("r.referrer_org_id = ?"), Some(org)),
        Whose::Team(team) => (Some("r.team_id = ?"), Some(team)),
        Whose::Network(network) => (Some("o.network_id = ?"), Some(network)),
    };
    let attended = condition.map_or(String::new(), |condition| {
        format!(
            " AND EXISTS (SELECT 1 FROM group_attendees a
                 JOIN referrals r ON r.id = a.referral_id
                 LEFT JOIN organisations o ON o.id = r.referrer_org_id
                 WHERE a.group_session_id = g.id AND a.attendance = 'attended'
                   AND r.status <> 'entered_in_error' AND {condition})"
        )
    });
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(g.duration_minutes *
                (SELECT COUNT(*) FROM group_session_facilitators f
                 WHERE f.group_session_id = g.id)), 0) AS BIGINT) AS minutes
         FROM group_sessions g
         WHERE g.status = 'held' AND g.scheduled_at >= ? AND g.scheduled_at < ?{attended}"
    );
    let mut statement = Statement::new(sql)
        .bind::<Timestamp, _>(convert::to_db(scope.from))
        .bind::<Timestamp, _>(convert::to_db(scope.until));
    if let Some(id) = id {
        statement = statement.bind::<Text, _>(id.to_string());
    }
    let rows: Vec<GroupsRow> = statement.load(conn)?;
    let row = rows.first().map_or((0, 0), |r| (r.n, r.minutes));
    Ok(Amount {
        n: row.0,
        total: row.1,
    })
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
/// so the two agree: the whole service's, or one team's.
pub fn caseload(conn: &mut DbConnection, team: Option<Uuid>) -> StoreResult<(Vec<Held>, Waiting)> {
    dialect::read_snapshot(conn, |conn| caseload_in(conn, team))
}

fn caseload_in(conn: &mut DbConnection, team: Option<Uuid>) -> StoreResult<(Vec<Held>, Waiting)> {
    let open = "r.status IN ('received', 'accepted', 'active', 'on_hold')";
    let (of_team, team) = match team {
        Some(id) => ("AND r.team_id = ?", vec![id.to_string()]),
        None => ("", Vec::new()),
    };
    let statement = |sql: String| {
        team.iter()
            .fold(Statement::new(sql), |s, id| s.bind::<Text, _>(id.clone()))
    };
    let held: Vec<Held> = statement(format!(
        "SELECT r.assignee_id AS assignee_id, r.status AS status, COUNT(*) AS n
         FROM referrals r WHERE {open} AND r.assignee_id IS NOT NULL {of_team}
         GROUP BY r.assignee_id, r.status"
    ))
    .load(conn)?;
    let waiting = statement(format!(
        "SELECT COUNT(*) AS n, MIN(r.received_at) AS oldest
         FROM referrals r WHERE {open} AND r.assignee_id IS NULL {of_team}"
    ))
    .load::<WaitingRow>(conn)?
    .pop()
    .map(|w| Waiting {
        count: w.n,
        oldest_received_at: w.oldest.map(convert::from_db),
    })
    .unwrap_or_default();
    Ok((held, waiting))
}
