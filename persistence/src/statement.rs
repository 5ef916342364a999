//! Raw SQL that Diesel may keep prepared.
//!
//! Diesel never caches a `sql_query`: it cannot know the text is one of a bounded set. So
//! PostgreSQL parsed and planned every one afresh, and the report totals' look-up on the
//! write path alone spent 0.7 ms a create in the planner (`pg_stat_statements` with
//! `track_planning`; docs/benchmarks.md). A [`Statement`] is written with `?` placeholders,
//! which Diesel renders as each backend's own (`$1` on PostgreSQL), and is kept prepared per
//! connection by its text unless built [`Statement::once`]: for text that varies without bound
//! (a batch's row count), which would fill the cache.

use std::marker::PhantomData;

use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::{QueryResult, RunQueryDsl};

use crate::connection::{Backend, DbConnection};

/// One value for a placeholder.
trait Bind: Send {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Backend>) -> QueryResult<()>;
}

struct Value<ST, T> {
    value: T,
    sql_type: PhantomData<fn() -> ST>,
}

impl<ST, T> Bind for Value<ST, T>
where
    Backend: HasSqlType<ST>,
    T: ToSql<ST, Backend> + Send,
{
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        out.push_bind_param::<ST, T>(&self.value)
    }
}

/// A raw SQL statement and its values, run like `diesel::sql_query` (rows by name).
pub struct Statement {
    sql: String,
    binds: Vec<Box<dyn Bind>>,
    cached: bool,
}

impl std::fmt::Debug for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statement")
            .field("sql", &self.sql)
            .finish_non_exhaustive()
    }
}

impl Statement {
    /// A statement kept prepared: `sql` must be one of a bounded set of texts, with `?` for
    /// each value and nowhere else (no `?` in a literal).
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            binds: Vec::new(),
            cached: true,
        }
    }

    /// A statement prepared for this run only: its text varies without bound.
    pub fn once(sql: impl Into<String>) -> Self {
        Self {
            cached: false,
            ..Self::new(sql)
        }
    }

    /// Kept prepared only when `cached`.
    pub fn cached_if(sql: impl Into<String>, cached: bool) -> Self {
        Self {
            cached,
            ..Self::new(sql)
        }
    }

    /// The value for the next `?`.
    pub fn bind<ST, T>(mut self, value: T) -> Self
    where
        Backend: HasSqlType<ST>,
        T: ToSql<ST, Backend> + Send + 'static,
        ST: 'static,
    {
        self.binds.push(Box::new(Value {
            value,
            sql_type: PhantomData,
        }));
        self
    }
}

impl QueryFragment<Backend> for Statement {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        if !self.cached {
            out.unsafe_to_cache_prepared();
        }
        let mismatch = || {
            diesel::result::Error::QueryBuilderError(
                format!("a statement's placeholders and values differ: {}", self.sql).into(),
            )
        };
        let mut binds = self.binds.iter();
        let mut parts = self.sql.split('?');
        out.push_sql(parts.next().unwrap_or_default());
        for part in parts {
            binds.next().ok_or_else(mismatch)?.push(&mut out)?;
            out.push_sql(part);
        }
        match binds.next() {
            Some(_) => Err(mismatch()),
            None => Ok(()),
        }
    }
}

impl QueryId for Statement {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Statement {
    type SqlType = Untyped;
}

impl RunQueryDsl<DbConnection> for Statement {}

#[cfg(test)]
mod tests {
    use diesel::sql_types::{BigInt, Text};
    use diesel::{QueryableByName, RunQueryDsl};

    use super::*;
    use crate::connection::{DatabaseUrl, establish};

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = Text)]
        word: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    #[test]
    fn binds_fill_the_placeholders_in_order_and_a_mismatch_is_an_error() {
        let dir = std::env::temp_dir().join(format!("lw-statement-{}", std::process::id()));
        let url = DatabaseUrl::Sqlite(dir.with_extension("db"));
        let mut conn = establish(&url).unwrap();
        let rows: Vec<Row> = Statement::new("SELECT ? AS word, CAST(? AS BIGINT) + 1 AS n")
            .bind::<Text, _>("two".to_owned())
            .bind::<BigInt, _>(2_i64)
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            rows,
            [Row {
                word: "two".into(),
                n: 3
            }]
        );
        let short = Statement::new("SELECT ? AS word, ? AS n")
            .bind::<Text, _>("x".to_owned())
            .load::<Row>(&mut conn);
        assert!(short.is_err());
        let long = Statement::once("SELECT ? AS word, 1 AS n")
            .bind::<Text, _>("x".to_owned())
            .bind::<Text, _>("y".to_owned())
            .load::<Row>(&mut conn);
        assert!(long.is_err());
        let _ = std::fs::remove_file(dir.with_extension("db"));
    }
}
