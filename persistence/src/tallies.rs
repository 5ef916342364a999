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
    ChangeFacts, ConnectionFacts, MeasureFacts, ReferralFacts, SessionFacts,
};

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::schema::referrals;
use crate::statement::Statement;

pub(crate) use counted::{Counted, settle};
pub use days::stored_event_days;
pub use rebuild::{
    finish_rebuild, need_rebuild, rebuild, rebuild_in_batches, rebuilding, start_rebuild,
};
pub(crate) use store::window;
pub use store::{fold, stored, unfolded};

type Backend = <DbConnection as diesel::Connection>::Backend;

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
    // A write counts one referral or a few (a merge); a rebuild's batches vary without bound.
    let mut query = Statement::cached_if(sql, ids.len() <= 4);
    for id in ids {
        query = query.bind::<Text, _>((*id).to_owned());
    }
    Ok(query.load(conn)?)
}
