//! The database's CHECK constraints and the domain's code lists agree: every code the domain
//! can write passes the CHECK of the column it is stored in, a code the domain lacks fails it,
//! and every CHECKed code column is one this test knows (a new one fails until it is listed).
//! The CHECKs are read from the live catalog of each backend, so the migrations of both are
//! tested as they were applied.

use diesel::sql_types::{Integer, Text};
use diesel::{PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use linkwell_api::access::{CreateProgressNote, Guarded};
use linkwell_domain::community_work::CommunityActivity;
use linkwell_domain::consent::{ConsentScope, ConsentStatus};
use linkwell_domain::outcome::{Instrument, MeasureStatus, Timepoint};
use linkwell_domain::{
    Attendance, Capacity, ClosureReason, ConnectionStatus, DuplicateReason, GoalStatus,
    GroupSessionKind, GroupSessionStatus, OrganisationKind, PreferredContact, Reason,
    ReferralSource, ReferralStatus, Role, ServiceStatus, SessionKind, SessionMode, SessionStatus,
};
use linkwell_persistence::DbConnection;

use crate::support::TestApp;

/// Each CHECKed code column and the codes the domain stores in it.
fn stored_codes() -> Vec<((&'static str, &'static str), Vec<&'static str>)> {
    let api_client_roles = linkwell_domain::api_client::ROLES
        .iter()
        .map(|r| r.as_str())
        .collect();
    // Whoever may add a progress note, as the access table says.
    let note_writers = <CreateProgressNote as Guarded>::OPERATION
        .roles
        .iter()
        .map(|r| r.as_str())
        .collect();
    vec![
        (("referrals", "status"), ReferralStatus::CODES.to_vec()),
        (("referrals", "source"), ReferralSource::CODES.to_vec()),
        (
            ("referrals", "closure_reason"),
            ClosureReason::CODES.to_vec(),
        ),
        (("referral_reasons", "reason"), Reason::CODES.to_vec()),
        (
            ("people", "preferred_contact"),
            PreferredContact::CODES.to_vec(),
        ),
        (
            ("people", "possible_duplicate_reason"),
            DuplicateReason::CODES.to_vec(),
        ),
        (("organisations", "kind"), OrganisationKind::CODES.to_vec()),
        (("users", "role"), Role::CODES.to_vec()),
        (("api_clients", "role"), api_client_roles),
        (("sessions", "kind"), SessionKind::CODES.to_vec()),
        (("sessions", "mode"), SessionMode::CODES.to_vec()),
        (("sessions", "status"), SessionStatus::CODES.to_vec()),
        (("goals", "status"), GoalStatus::CODES.to_vec()),
        (("services", "status"), ServiceStatus::CODES.to_vec()),
        (("services", "capacity"), Capacity::CODES.to_vec()),
        (("connections", "status"), ConnectionStatus::CODES.to_vec()),
        (("outcomes", "instrument"), Instrument::CODES.to_vec()),
        (("outcomes", "timepoint"), Timepoint::CODES.to_vec()),
        (("outcomes", "status"), MeasureStatus::CODES.to_vec()),
        (("consent_records", "scope"), ConsentScope::CODES.to_vec()),
        (("consent_records", "status"), ConsentStatus::CODES.to_vec()),
        (("goal_progress_notes", "author_role"), note_writers),
        (("group_sessions", "kind"), GroupSessionKind::CODES.to_vec()),
        (("group_sessions", "mode"), SessionMode::CODES.to_vec()),
        (
            ("group_sessions", "status"),
            GroupSessionStatus::CODES.to_vec(),
        ),
        (
            ("group_attendees", "attendance"),
            Attendance::CODES.to_vec(),
        ),
        (
            ("community_work", "activity"),
            CommunityActivity::CODES.to_vec(),
        ),
        (
            ("service_opening_hours", "day"),
            linkwell_domain::opening_hours::Weekday::CODES.to_vec(),
        ),
    ]
}

/// Columns holding domain codes that the database does not CHECK (only the domain writes
/// them, through its parsed types). Listed so that the gap is seen, and so that a CHECK added
/// later fails this test until the column moves to [`stored_codes`].
const UNCHECKED: &[(&str, &str)] = &[
    ("referral_status_changes", "from_status"),
    ("referral_status_changes", "to_status"),
    ("referral_status_changes", "reason_code"),
    ("goal_status_changes", "from_status"),
    ("goal_status_changes", "to_status"),
    ("service_needs", "need"),
    ("connections", "need"),
    ("connections", "reason_code"),
    ("connections", "outcome"),
];

/// A string no code list holds.
const STRANGER: &str = "not_a_code";

/// A CHECK on one text column, as the catalog holds it.
#[derive(Debug)]
struct Check {
    table: String,
    column: String,
    /// The boolean expression, naming the column unqualified.
    expression: String,
}

#[derive(QueryableByName)]
struct Verdict {
    #[diesel(sql_type = Integer)]
    passes: i32,
}

#[tokio::test]
async fn every_domain_code_fits_the_column_that_checks_it() {
    let app = TestApp::spawn().await;
    let mut conn = app.db();
    let checks = match &mut conn {
        DbConnection::Pg(pg) => postgres_checks(pg),
        DbConnection::Sqlite(lite) => sqlite_checks(lite),
    };
    let known = stored_codes();
    let mut unlisted = Vec::new();
    let mut tested = Vec::new();
    for check in &checks {
        // Code columns are the ones whose CHECK turns a stranger away; a range or a
        // relation between columns is not a code list.
        if passes(&mut conn, check, STRANGER) {
            continue;
        }
        let Some((_, codes)) = known
            .iter()
            .find(|((t, c), _)| *t == check.table && *c == check.column)
        else {
            unlisted.push(format!(
                "{}.{}: {}",
                check.table, check.column, check.expression
            ));
            continue;
        };
        for code in codes {
            assert!(
                passes(&mut conn, check, code),
                "{}.{} refuses the domain's `{code}`: {}",
                check.table,
                check.column,
                check.expression
            );
        }
        tested.push((check.table.as_str(), check.column.as_str()));
    }
    assert!(
        unlisted.is_empty(),
        "CHECKed code columns this test does not know: {unlisted:#?}"
    );
    for (table, column) in UNCHECKED {
        assert!(
            !tested.contains(&(*table, *column)),
            "{table}.{column} is CHECKed now: move it to stored_codes"
        );
    }
    let unchecked: Vec<String> = known
        .iter()
        .filter(|((t, c), _)| !tested.contains(&(*t, *c)))
        .map(|((t, c), _)| format!("{t}.{c}"))
        .collect();
    assert!(
        unchecked.is_empty(),
        "code columns with no CHECK that refuses `{STRANGER}`: {unchecked:?}; checked: {tested:?}"
    );
}

/// Whether `value` in the check's column satisfies it.
fn passes(conn: &mut DbConnection, check: &Check, value: &str) -> bool {
    let sql = |placeholder: &str| {
        format!(
            "SELECT CASE WHEN ({}) THEN 1 ELSE 0 END AS passes FROM (SELECT {placeholder} AS \"{}\") AS t",
            check.expression, check.column
        )
    };
    let verdict: Verdict = match conn {
        DbConnection::Pg(pg) => diesel::sql_query(sql("CAST($1 AS text)"))
            .bind::<Text, _>(value)
            .get_result(pg),
        DbConnection::Sqlite(lite) => diesel::sql_query(sql("?"))
            .bind::<Text, _>(value)
            .get_result(lite),
    }
    .unwrap_or_else(|e| panic!("{check:?}: {e}"));
    verdict.passes == 1
}

#[derive(QueryableByName)]
struct PgCheck {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

/// PostgreSQL: each CHECK on a single text column, from `pg_constraint`.
fn postgres_checks(conn: &mut PgConnection) -> Vec<Check> {
    let rows: Vec<PgCheck> = diesel::sql_query(
        "SELECT c.conrelid::regclass::text AS table_name, a.attname::text AS column_name,
                pg_get_constraintdef(c.oid) AS definition
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'c' AND cardinality(c.conkey) = 1
           AND c.connamespace = 'public'::regnamespace
           AND a.atttypid IN ('text'::regtype, 'varchar'::regtype)",
    )
    .load(conn)
    .unwrap_or_else(|e| panic!("{e}"));
    rows.into_iter()
        .map(|r| Check {
            expression: r
                .definition
                .strip_prefix("CHECK ")
                .unwrap_or_else(|| panic!("not a CHECK: {}", r.definition))
                .to_owned(),
            table: r.table_name,
            column: r.column_name,
        })
        .collect()
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    sql: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    column_type: String,
}

/// SQLite: each CHECK in a table's definition that names exactly one of its columns, a text
/// one. SQLite keeps no catalog of constraints, only each table's `CREATE TABLE` text.
fn sqlite_checks(conn: &mut SqliteConnection) -> Vec<Check> {
    let columns: Vec<SqliteColumn> = diesel::sql_query(
        "SELECT m.name AS table_name, m.sql AS sql, p.name AS column_name,
                p.type AS column_type
         FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.sql IS NOT NULL",
    )
    .load(conn)
    .unwrap_or_else(|e| panic!("{e}"));
    let mut checks = Vec::new();
    let mut tables: Vec<&str> = columns.iter().map(|c| c.table_name.as_str()).collect();
    tables.dedup();
    for table in tables {
        let of_table: Vec<&SqliteColumn> =
            columns.iter().filter(|c| c.table_name == table).collect();
        let Some(sql) = of_table.first().map(|c| c.sql.as_str()) else {
            continue;
        };
        for expression in check_expressions(sql) {
            let named: Vec<&&SqliteColumn> = of_table
                .iter()
                .filter(|c| names(&expression, &c.column_name))
                .collect();
            if let [column] = named.as_slice()
                && column.column_type.eq_ignore_ascii_case("text")
            {
                checks.push(Check {
                    table: table.to_owned(),
                    column: column.column_name.clone(),
                    expression,
                });
            }
        }
    }
    checks
}

/// The parenthesised expression after each `CHECK` keyword, parentheses balanced outside
/// string literals.
fn check_expressions(sql: &str) -> Vec<String> {
    let upper = sql.to_ascii_uppercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = upper[from..].find("CHECK") {
        let start = from + at + "CHECK".len();
        from = start;
        let Some(open) = sql[start..].find('(').map(|i| start + i) else {
            break;
        };
        if !sql[start..open].trim().is_empty() {
            continue;
        }
        let (mut depth, mut quoted) = (0usize, false);
        for (i, ch) in sql[open..].char_indices() {
            match ch {
                '\'' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        found.push(sql[open..=open + i].to_owned());
                        from = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// Whether `expression` names `column` outside its string literals.
fn names(expression: &str, column: &str) -> bool {
    let mut unquoted = String::new();
    let mut quoted = false;
    for ch in expression.chars() {
        if ch == '\'' {
            quoted = !quoted;
        } else if !quoted {
            unquoted.push(ch);
        }
    }
    unquoted
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word.eq_ignore_ascii_case(column))
}

/// The parser finds column and table constraints, and skips string literals.
#[test]
fn check_expressions_are_found_whole() {
    let sql = "CREATE TABLE t (a TEXT NOT NULL CHECK (a IN ('x', 'y)')), \
               b INTEGER CHECK(b BETWEEN 1 AND 3), c TEXT, CHECK ((a IS NULL) <> (c IS NULL)))";
    assert_eq!(
        check_expressions(sql),
        [
            "(a IN ('x', 'y)'))",
            "(b BETWEEN 1 AND 3)",
            "((a IS NULL) <> (c IS NULL))"
        ]
    );
    assert!(names("(a IN ('b'))", "a"));
    assert!(!names("(a IN ('b'))", "b"));
}
