//! Each person's distinct event days (`person_event_days`), with how many of their records
//! fall on each: what the distinct-people totals are chained on.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use linkwell_domain::tally::Event;

use super::{Backend, store::metric};
use crate::connection::DbConnection;
use crate::dialect;
use crate::error::StoreResult;
use crate::statement::Statement;

/// Rows per insert statement: 5 binds each, well under SQLite's limit.
const ROWS_PER_STATEMENT: usize = 500;

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

impl EventDay {
    fn event(self) -> StoreResult<(Event, i64)> {
        Ok((
            Event {
                metric: metric(&self.metric)?,
                scope: self.scope,
                day: self.day,
            },
            self.n,
        ))
    }
}

/// A person's stored event days, with their counts.
pub(super) fn of(conn: &mut DbConnection, person: &str) -> StoreResult<BTreeMap<Event, i64>> {
    let rows: Vec<EventDay> = Statement::new(
        "SELECT metric, scope, day, n FROM person_event_days WHERE person_id = ? AND n > 0",
    )
    .bind::<Text, _>(person.to_owned())
    .load(conn)?;
    rows.into_iter().map(EventDay::event).collect()
}

/// Adds `counts` (none zero) to a person's event days and drops the days left with none.
pub(super) fn add(
    conn: &mut DbConnection,
    person: &str,
    counts: &BTreeMap<Event, i64>,
) -> StoreResult<()> {
    let changed: Vec<(&str, &Event, i64)> = counts.iter().map(|(e, n)| (person, e, *n)).collect();
    insert(conn, &changed, true)?;
    if changed.iter().all(|(_, _, n)| *n > 0) {
        return Ok(());
    }
    Statement::new("DELETE FROM person_event_days WHERE person_id = ? AND n <= 0")
        .bind::<Text, _>(person.to_owned())
        .execute(conn)?;
    Ok(())
}

/// Replaces a person's event days.
pub(super) fn replace(
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
    insert(conn, &rows, false)
}

/// Writes `(person, event, count)` rows; `add` adds to rows already there.
pub(super) fn insert(
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
        let sql = format!(
            "INSERT INTO person_event_days (person_id, metric, scope, day, n)
             VALUES {values}{conflict}"
        );
        // A write changes a few days; a rebuild writes many.
        let mut query = Statement::cached_if(sql, chunk.len() <= 8);
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

/// Every person's stored event days, sorted: for checking them against a [`super::rebuild`].
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
            let (event, n) = r.day.event()?;
            Ok((r.person_id, event, n))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort();
    Ok(out)
}
