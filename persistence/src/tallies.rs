//! Keeps the report's totals equal to the sum of every record's tallies (`domain::tally`).
//!
//! A write transaction ([`crate::unit_of_work::Tx`]) notes each referral it is about to change
//! as it stands ([`Counted`]); before it commits, [`settle`] tallies those referrals again and
//! inserts the difference as rows of `report_tally_deltas`. Those rows are only ever inserted,
//! so concurrent writers never wait for each other on them. [`fold`] moves them into
//! `report_tallies` (adding month rows) in the background; a report reads both, so it is exact
//! whether or not they have been folded yet.
//!
//! Distinct-people totals depend on all of a person's referrals, so each person's distinct
//! event days are kept with a count of the records on each (`person_event_days`): a change
//! to one referral moves its own events and re-chains the person's days, whatever the number
//! of their referrals. A merge re-reads both people's records instead.
//!
//! [`rebuild`] makes everything afresh from the records, a batch of people at a time, beside
//! live writers.

mod counted;
mod days;
mod rebuild;
mod store;

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
use linkwell_domain::tally::{
    AttendanceFacts, ChangeFacts, ConnectionFacts, MeasureFacts, ReferralFacts, SessionFacts,
};

use crate::connection::{Backend, DbConnection};
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::statement::Statement;

pub(crate) use counted::{Counted, settle};
pub use days::stored_event_days;
pub use rebuild::{
    finish_rebuild, need_rebuild, rebuild, rebuild_in_batches, rebuilding, start_rebuild,
};
pub(crate) use store::window;
pub use store::{fold, stored, unfolded};

/// The lock key that keeps a rebuild's batches apart from settling writers and folding.
const TOTALS: &str = "report totals";

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

/// The report's view of referrals: `(id, person, facts)`, in one query whatever their number
/// (each referral's row and everything under it, in one `UNION ALL`; see [`rows`]).
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
    fn at(time: Option<NaiveDateTime>) -> StoreResult<chrono::DateTime<chrono::Utc>> {
        time.map(convert::from_db)
            .ok_or_else(|| corrupt("report facts", "a row without its time"))
    }

    let (ids, by_person) = match which {
        Records::Referrals(ids) => (ids, false),
        Records::People(ids) => (ids, true),
    };
    // Each referral's person, in the order read.
    let mut persons: Vec<(String, String)> = Vec::new();
    let mut facts: HashMap<String, ReferralFacts> = HashMap::new();
    let mut under_them: Vec<Row> = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        for row in rows(conn, chunk, by_person)? {
            if row.kind != "referral" {
                under_them.push(row);
                continue;
            }
            let person = row
                .t1
                .clone()
                .ok_or_else(|| corrupt("report facts", "a referral without its person"))?;
            facts.insert(
                row.referral_id.clone(),
                ReferralFacts {
                    referrer_org: row.t2.clone(),
                    team: None,
                    network: None,
                    source: code(row.t3.as_deref())?,
                    received_at: at(row.at)?,
                    in_error: code::<ReferralStatus>(row.t4.as_deref())?
                        == ReferralStatus::EnteredInError,
                    first_contact_at: row.at2.map(convert::from_db),
                    reasons: Vec::new(),
                    changes: Vec::new(),
                    sessions: Vec::new(),
                    attendances: Vec::new(),
                    connections: Vec::new(),
                    measures: Vec::new(),
                },
            );
            persons.push((row.referral_id, person));
        }
    }
    for child in under_them {
        let facts = under(&mut facts, &child.referral_id)?;
        match child.kind.as_str() {
            "reason" => facts.reasons.push(code(child.t1.as_deref())?),
            "scopes" => {
                facts.team = child.t1.clone();
                facts.network = child.t2.clone();
            }
            "change" => facts.changes.push(ChangeFacts {
                to: code(child.t1.as_deref())?,
                reason_code: maybe(child.t2.as_deref())?,
                at: at(child.at)?,
            }),
            "session" => facts.sessions.push(SessionFacts {
                scheduled_at: at(child.at)?,
                kind: code(child.t1.as_deref())?,
                mode: code(child.t2.as_deref())?,
                status: code(child.t3.as_deref())?,
                minutes: child.v1.map(i64::from),
            }),
            "attendance" => facts.attendances.push(AttendanceFacts {
                scheduled_at: at(child.at)?,
                attendance: code(child.t1.as_deref())?,
            }),
            "connection" => facts.connections.push(ConnectionFacts {
                created_at: at(child.at)?,
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
                    recorded_at: at(child.at)?,
                    values,
                });
            }
            other => return Err(corrupt("report facts", format!("a `{other}` child row"))),
        }
    }
    Ok(persons
        .into_iter()
        .filter_map(|(id, person)| {
            let f = facts.remove(&id)?;
            Some((id, person, f))
        })
        .collect())
}

/// Referrals or people per query: the ids are bound once, in a `VALUES` list.
const IDS_PER_QUERY: usize = 5_000;

/// One row of [`rows`]: a referral (`kind` "referral") or a row under one, of any kind; the
/// columns each kind fills are in [`rows`].
#[derive(QueryableByName)]
struct Row {
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
    #[diesel(sql_type = Nullable<Text>)]
    t4: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    at2: Option<NaiveDateTime>,
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

/// The referrals `ids` (or those of the people `ids`) and everything the report counts under
/// them, in one query (measures entered in error count nowhere, so they are not read).
fn rows(conn: &mut DbConnection, ids: &[String], by_person: bool) -> StoreResult<Vec<Row>> {
    const NO_TEXT: &str = "CAST(NULL AS TEXT)";
    const NO_TIME: &str = "CAST(NULL AS TIMESTAMP)";
    const NO_INT: &str = "CAST(NULL AS INTEGER)";
    const NO_INTS: &str = "CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), \
                           CAST(NULL AS INTEGER), CAST(NULL AS INTEGER)";
    let values = vec!["(?)"; ids.len()].join(", ");
    let chosen = if by_person {
        format!("SELECT id FROM referrals WHERE person_id IN (VALUES {values})")
    } else {
        format!("VALUES {values}")
    };
    let sql = format!(
        "WITH chosen (id) AS ({chosen})
         SELECT id AS referral_id, 'referral' AS kind, person_id AS t1, referrer_org_id AS t2,
                source AS t3, status AS t4, received_at AS at, first_contact_at AS at2,
                {NO_INT} AS v1, {NO_INT} AS v2, {NO_INT} AS v3, {NO_INT} AS v4, {NO_INT} AS v5
         FROM referrals WHERE id IN (SELECT id FROM chosen)
         UNION ALL
         SELECT r.id, 'scopes', r.team_id, o.network_id, {NO_TEXT}, {NO_TEXT}, {NO_TIME},
                {NO_TIME}, {NO_INT}, {NO_INTS}
         FROM referrals r LEFT JOIN organisations o ON o.id = r.referrer_org_id
         WHERE r.id IN (SELECT id FROM chosen)
           AND (r.team_id IS NOT NULL OR o.network_id IS NOT NULL)
         UNION ALL
         SELECT referral_id, 'reason', reason, {NO_TEXT}, {NO_TEXT}, {NO_TEXT}, {NO_TIME},
                {NO_TIME}, {NO_INT}, {NO_INTS}
         FROM referral_reasons WHERE referral_id IN (SELECT id FROM chosen)
         UNION ALL
         SELECT referral_id, 'change', to_status, reason_code, {NO_TEXT}, {NO_TEXT}, changed_at,
                {NO_TIME}, {NO_INT}, {NO_INTS}
         FROM referral_status_changes WHERE referral_id IN (SELECT id FROM chosen)
           AND to_status IN ('accepted', 'declined', 'closed')
         UNION ALL
         SELECT referral_id, 'session', kind, mode, status, {NO_TEXT}, scheduled_at, {NO_TIME},
                duration_minutes, {NO_INTS}
         FROM sessions WHERE referral_id IN (SELECT id FROM chosen)
         UNION ALL
         SELECT a.referral_id, 'attendance', a.attendance, {NO_TEXT}, {NO_TEXT}, {NO_TEXT},
                g.scheduled_at, {NO_TIME}, {NO_INT}, {NO_INTS}
         FROM group_attendees a JOIN group_sessions g ON g.id = a.group_session_id
         WHERE a.referral_id IN (SELECT id FROM chosen) AND a.attendance <> 'booked'
         UNION ALL
         SELECT referral_id, 'connection', organisation_id, status, outcome, {NO_TEXT},
                created_at, {NO_TIME}, {NO_INT}, {NO_INTS}
         FROM connections WHERE referral_id IN (SELECT id FROM chosen)
         UNION ALL
         SELECT referral_id, 'measure', id, instrument, timepoint, {NO_TEXT}, recorded_at,
                {NO_TIME}, metric_hundredths, life_satisfaction, worthwhile, happiness, anxiety
         FROM outcomes WHERE referral_id IN (SELECT id FROM chosen) AND status = 'recorded'"
    );
    // A write counts one referral or a few (a merge); a rebuild's batches vary without bound.
    let mut query = Statement::cached_if(sql, ids.len() <= 4);
    for id in ids {
        query = query.bind::<Text, _>(id.clone());
    }
    Ok(query.load(conn)?)
}
