//! Keyset pagination: a page starts after the last item of the previous one, by an immutable
//! timestamp and the id that breaks ties. Never OFFSET: inserts cannot shift a page.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl;
use diesel::expression::{AsExpression, Expression};
use diesel::expression_methods::{BoolExpressionMethods, ExpressionMethods};
use diesel::query_dsl::methods::{FilterDsl, OrderDsl};
use diesel::sql_types::{SqlType, Text, Timestamp};
use uuid::Uuid;

use crate::convert;

/// The last item of a page: the next page starts strictly past it, in the list's [`Order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// Which way a list runs by its timestamp (ties by id, the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Histories and threads: in the order things happened.
    OldestFirst,
    /// Worklists and searches: the latest on top.
    NewestFirst,
}

type Past<At, Id, Cmp> = dsl::Or<Cmp, dsl::And<dsl::Eq<At, NaiveDateTime>, Id>>;
type Later<At, Id> = Past<At, dsl::Gt<Id, String>, dsl::Gt<At, NaiveDateTime>>;
type Earlier<At, Id> = Past<At, dsl::Lt<Id, String>, dsl::Lt<At, NaiveDateTime>>;

/// Sorts `query` by `(at, id)` in `order` and, given where the previous page ended, starts
/// past it the same way: the order and the cursor's comparison cannot disagree.
pub fn keyset<Q, At, Id>(query: Q, (at, id): (At, Id), order: Order, after: Option<Keyset>) -> Q
where
    At: Expression<SqlType = Timestamp> + ExpressionMethods + Copy,
    Id: Expression<SqlType = Text> + ExpressionMethods + Copy,
    Timestamp: SqlType,
    NaiveDateTime: AsExpression<Timestamp>,
    Q: OrderDsl<(dsl::Asc<At>, dsl::Asc<Id>), Output = Q>
        + OrderDsl<(dsl::Desc<At>, dsl::Desc<Id>), Output = Q>
        + FilterDsl<Later<At, Id>, Output = Q>
        + FilterDsl<Earlier<At, Id>, Output = Q>,
{
    let past = after.map(|k| (convert::to_db(k.at), k.id.to_string()));
    match order {
        Order::OldestFirst => {
            let query = OrderDsl::order(query, (at.asc(), id.asc()));
            match past {
                Some((t, i)) => FilterDsl::filter(query, at.gt(t).or(at.eq(t).and(id.gt(i)))),
                None => query,
            }
        }
        Order::NewestFirst => {
            let query = OrderDsl::order(query, (at.desc(), id.desc()));
            match past {
                Some((t, i)) => FilterDsl::filter(query, at.lt(t).or(at.eq(t).and(id.lt(i)))),
                None => query,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sqlite::SqliteConnection;

    use super::*;

    diesel::table! {
        items (id) {
            id -> Text,
            at -> Timestamp,
        }
    }

    /// Walks the whole list a page of two at a time, each page started from the last.
    fn walk(conn: &mut SqliteConnection, order: Order) -> Vec<String> {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let query = items::table
                .select((items::id, items::at))
                .limit(2)
                .into_boxed();
            let page: Vec<(String, NaiveDateTime)> =
                keyset(query, (items::at, items::id), order, after)
                    .load(conn)
                    .unwrap_or_default();
            let Some((id, at)) = page.last().cloned() else {
                return seen;
            };
            after = Uuid::parse_str(&id).ok().map(|id| Keyset {
                at: convert::from_db(at),
                id,
            });
            seen.extend(page.into_iter().map(|(id, _)| id));
        }
    }

    /// Ties on the timestamp are broken by id the same way, so no item is skipped or repeated
    /// whichever way the list runs.
    #[test]
    fn pages_walk_every_item_once_in_either_order() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}"));
        diesel::sql_query("CREATE TABLE items (id TEXT PRIMARY KEY, at TIMESTAMP NOT NULL)")
            .execute(&mut conn)
            .unwrap_or_else(|e| panic!("{e}"));
        let base = DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default();
        let mut rows: Vec<(String, NaiveDateTime)> = (0..7)
            .map(|i| {
                // Three share one instant, two another.
                let at = base + chrono::Duration::seconds([0, 0, 0, 1, 1, 2, 3][i]);
                (Uuid::now_v7().to_string(), convert::to_db(at))
            })
            .collect();
        for (id, at) in &rows {
            diesel::insert_into(items::table)
                .values((items::id.eq(id), items::at.eq(at)))
                .execute(&mut conn)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        rows.sort();
        rows.sort_by_key(|(_, at)| *at);
        let oldest_first: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        let newest_first: Vec<String> = oldest_first.iter().rev().cloned().collect();
        assert_eq!(walk(&mut conn, Order::OldestFirst), oldest_first);
        assert_eq!(walk(&mut conn, Order::NewestFirst), newest_first);
    }
}
