//! Making the totals afresh from the records, beside live writers.
//!
//! A rebuild empties the totals, then counts people in id order, a batch per transaction,
//! recording the last one counted in `report_totals_state.rebuilt_through`. A writer settling
//! while it runs counts only the people already counted (see [`counted`]); the rebuild reads
//! the others' records, that writer's change included, when it reaches them. Each batch holds
//! the totals' lock alone, so writers wait for one batch at most, never for the whole rebuild.
//! Any process may join or resume a rebuild under way: batches advance one shared position.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use linkwell_domain::tally::{self, Event, ReferralFacts, Tallies};

use super::{Backend, Records, TOTALS, days, load, store};
use crate::connection::DbConnection;
use crate::dialect::{self, Hold};
use crate::error::StoreResult;
use crate::schema::people;
use crate::statement::Statement;
use crate::unit_of_work::write_transaction;

/// People per batch: a batch's transaction is what a writer may have to wait for.
const BATCH: i64 = 500;

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = Nullable<Text>)]
    rebuilt_through: Option<String>,
}

/// How far a rebuild under way has counted; `None` when none is.
fn position(conn: &mut DbConnection) -> StoreResult<Option<String>> {
    let row: Position =
        Statement::new("SELECT rebuilt_through FROM report_totals_state WHERE id = 1")
            .get_result(conn)?;
    Ok(row.rebuilt_through)
}

fn set_position(conn: &mut DbConnection, at: Option<&str>) -> StoreResult<()> {
    let sql = dialect::placeholders(
        conn,
        "UPDATE report_totals_state SET rebuilt_through = ? WHERE id = 1",
    );
    diesel::sql_query(sql)
        .into_boxed::<Backend>()
        .bind::<Nullable<Text>, _>(at.map(str::to_owned))
        .execute(conn)?;
    Ok(())
}

/// Whether a rebuild is under way (the totals are not whole until it ends).
pub fn rebuilding(conn: &mut DbConnection) -> StoreResult<bool> {
    Ok(position(conn)?.is_some())
}

/// Of `people`, those whose changes a settling writer counts: all of them unless a rebuild is
/// under way, else those it has already counted. Compared by the database, in the order the
/// rebuild walks people.
pub(super) fn counted(
    conn: &mut DbConnection,
    people: BTreeSet<String>,
) -> StoreResult<BTreeSet<String>> {
    let Some(through) = position(conn)? else {
        return Ok(people);
    };
    if people.is_empty() {
        return Ok(people);
    }
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let values = vec!["(?)"; people.len()].join(", ");
    let sql = dialect::placeholders(
        conn,
        &format!("WITH touched (id) AS (VALUES {values}) SELECT id FROM touched WHERE id <= ?"),
    );
    let mut query = diesel::sql_query(sql).into_boxed::<Backend>();
    for person in people {
        query = query.bind::<Text, _>(person);
    }
    let rows: Vec<Id> = query.bind::<Text, _>(through).load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Whether the totals must be made: a rebuild was left unfinished, or records exist and no
/// totals do (a database from before they were kept).
pub fn need_rebuild(conn: &mut DbConnection) -> StoreResult<bool> {
    #[derive(QueryableByName)]
    struct Missing {
        #[diesel(sql_type = BigInt)]
        missing: i64,
    }
    let row: Missing = diesel::sql_query(
        "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM report_totals_state
                                       WHERE rebuilt_through IS NOT NULL)
                           OR (EXISTS (SELECT 1 FROM referrals)
                               AND NOT EXISTS (SELECT 1 FROM report_tallies)
                               AND NOT EXISTS (SELECT 1 FROM report_tally_deltas))
                      THEN 1 ELSE 0 END AS BIGINT) AS missing",
    )
    .get_result(conn)?;
    Ok(row.missing == 1)
}

/// Makes every total afresh from the records (after a bulk load that bypassed the
/// repositories, or on first start after upgrading), or joins one under way, while writers go
/// on. Returns the number of totals stored when it ended.
pub fn rebuild(conn: &mut DbConnection) -> StoreResult<usize> {
    rebuild_in_batches(conn, BATCH)
}

/// [`rebuild`], counting `people` people per transaction.
pub fn rebuild_in_batches(conn: &mut DbConnection, people: i64) -> StoreResult<usize> {
    start_rebuild(conn)?;
    finish_batches(conn, people)
}

/// Helps a rebuild under way to its end (another process's, or one left unfinished); does
/// nothing when none is. Unlike [`rebuild`] it never starts one, so a helper arriving just
/// after a rebuild ended does not empty the totals again.
pub fn finish_rebuild(conn: &mut DbConnection) -> StoreResult<usize> {
    finish_batches(conn, BATCH)
}

fn finish_batches(conn: &mut DbConnection, people: i64) -> StoreResult<usize> {
    while write_transaction(conn, |tx| batch(tx, people.max(1)))? {}
    dialect::analyze(conn, "report_tallies")?;
    dialect::analyze(conn, "person_event_days")?;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let stored: Count =
        diesel::sql_query("SELECT COUNT(*) AS n FROM report_tallies").get_result(conn)?;
    Ok(usize::try_from(stored.n).unwrap_or(0))
}

/// Empties the totals and marks a rebuild under way, unless one already is: until its batches
/// have counted everyone, reports are refused as busy. [`rebuild`] does this first; any
/// process's [`rebuild`] finishes it.
pub fn start_rebuild(conn: &mut DbConnection) -> StoreResult<()> {
    write_transaction(conn, |tx| {
        // Writers settling now finish first; none settles while the totals are emptied.
        dialect::lock_key(tx, TOTALS, Hold::Exclusive)?;
        if position(tx)?.is_none() {
            for table in ["person_event_days", "report_tally_deltas", "report_tallies"] {
                diesel::sql_query(format!("DELETE FROM {table}")).execute(&mut **tx)?;
            }
            set_position(tx, Some(""))?;
        }
        Ok(())
    })
}

/// Counts the next batch of people; false when there were none left (the rebuild has ended).
fn batch(conn: &mut DbConnection, people: i64) -> StoreResult<bool> {
    // Writers settling meanwhile finish first; later ones wait for this batch.
    dialect::lock_key(conn, TOTALS, Hold::Exclusive)?;
    let Some(through) = position(conn)? else {
        return Ok(false);
    };
    let ids: Vec<String> = people::table
        .select(people::id)
        .filter(people::id.gt(&through))
        .order(people::id)
        .limit(people)
        .load(conn)?;
    let Some(last) = ids.last().cloned() else {
        set_position(conn, None)?;
        return Ok(false);
    };
    let mut all = Tallies::default();
    let mut by_person: BTreeMap<String, Vec<ReferralFacts>> = BTreeMap::new();
    for (_, person, facts) in load(conn, Records::People(&ids))? {
        all.absorb(facts.tallies());
        by_person.entry(person).or_default().push(facts);
    }
    let mut found: Vec<(String, Event, i64)> = Vec::new();
    for (person, referrals) in &by_person {
        let counts = tally::event_counts(referrals);
        all.absorb(tally::chain_tallies(counts.keys()));
        found.extend(counts.into_iter().map(|(e, n)| (person.clone(), e, n)));
    }
    let rows: Vec<(&str, &Event, i64)> =
        found.iter().map(|(p, e, n)| (p.as_str(), e, *n)).collect();
    days::insert(conn, &rows, false)?;
    store::upsert_all(conn, all)?;
    set_position(conn, Some(&last))?;
    Ok(true)
}
