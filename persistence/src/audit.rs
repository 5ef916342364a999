//! The audit trail: one append-only row for each access to personal data or attempt at it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::StoreResult;
use crate::page::{Keyset, Order, keyset};
use crate::schema::{
    audit_events, connection_notes, connections, consent_records, goal_progress_notes, goals,
    group_attendees, outcomes, people, referrals, sessions,
};

/// One access or attempt, attributable to a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_sub: String,
    pub actor_role: String,
    pub actor_org_id: Option<Uuid>,
    /// What was attempted, e.g. `referral.read`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<Uuid>,
    /// For a list: every record it showed.
    pub resource_ids: Vec<Uuid>,
    /// How it ended, e.g. `success`, `forbidden`, `not_found`, `conflict`.
    pub outcome: String,
    pub request_id: String,
    /// The person it concerns, as known when written.
    pub person_id: Option<Uuid>,
    /// The referral it concerns, as known when written.
    pub referral_id: Option<Uuid>,
}

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
// A missing value is NULL, written as such: SQLite has no DEFAULT in a multi-row INSERT.
#[diesel(treat_none_as_default_value = false)]
struct AuditRow {
    id: String,
    occurred_at: chrono::NaiveDateTime,
    actor_sub: String,
    actor_role: String,
    actor_org_id: Option<String>,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    resource_ids: Option<String>,
    outcome: String,
    request_id: String,
    person_id: Option<String>,
    referral_id: Option<String>,
}

/// Appends one event.
pub fn record(conn: &mut DbConnection, event: &AuditEvent) -> StoreResult<()> {
    // One row: a statement Diesel keeps prepared (a multi-row INSERT never is).
    diesel::insert_into(audit_events::table)
        .values(&to_row(event))
        .execute(conn)?;
    Ok(())
}

/// The most rows one INSERT carries: 13 parameters each, well inside both backends' limits
/// (SQLite's 32,766, PostgreSQL's 65,535).
const ROWS_PER_INSERT: usize = 500;

/// Appends events, as few statements as the backends allow.
pub fn record_many(conn: &mut DbConnection, events: &[AuditEvent]) -> StoreResult<()> {
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let rows: Vec<AuditRow> = chunk.iter().map(to_row).collect();
        let insert = diesel::insert_into(audit_events::table).values(&rows);
        // Diesel's backend switch has no multi-row INSERT, so each backend runs its own.
        match conn {
            DbConnection::Sqlite(inner) => insert.execute(inner)?,
            DbConnection::Pg(inner) => insert.execute(inner)?,
        };
    }
    Ok(())
}

fn to_row(event: &AuditEvent) -> AuditRow {
    AuditRow {
        id: event.id.to_string(),
        occurred_at: convert::to_db(event.occurred_at),
        actor_sub: event.actor_sub.clone(),
        actor_role: event.actor_role.clone(),
        actor_org_id: event.actor_org_id.map(|id| id.to_string()),
        action: event.action.clone(),
        resource_type: event.resource_type.clone(),
        resource_id: event.resource_id.map(|id| id.to_string()),
        resource_ids: (!event.resource_ids.is_empty()).then(|| {
            let ids: Vec<String> = event.resource_ids.iter().map(Uuid::to_string).collect();
            ids.join(",")
        }),
        outcome: event.outcome.clone(),
        request_id: event.request_id.clone(),
        person_id: event.person_id.map(|id| id.to_string()),
        referral_id: event.referral_id.map(|id| id.to_string()),
    }
}

/// The most recent events, newest first (ties by id), at most `limit`.
pub fn recent(conn: &mut DbConnection, limit: i64) -> StoreResult<Vec<AuditEvent>> {
    list(conn, &AuditFilter::default(), None, limit)
}

/// Which events to list; every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub person_id: Option<Uuid>,
    pub referral_id: Option<Uuid>,
    /// The token subject that acted.
    pub actor_sub: Option<String>,
    pub action: Option<String>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub before: Option<DateTime<Utc>>,
}

/// A page of events matching `filter`, newest first (ties by id), after `after`.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<AuditEvent>> {
    let mut query = audit_events::table
        .select(AuditRow::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(id) = filter.person_id {
        query = query.filter(audit_events::person_id.eq(id.to_string()));
    }
    if let Some(id) = filter.referral_id {
        query = query.filter(audit_events::referral_id.eq(id.to_string()));
    }
    if let Some(sub) = &filter.actor_sub {
        query = query.filter(audit_events::actor_sub.eq(sub.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::occurred_at.ge(convert::to_db(from)));
    }
    if let Some(before) = filter.before {
        query = query.filter(audit_events::occurred_at.lt(convert::to_db(before)));
    }
    query = keyset(
        query,
        (audit_events::occurred_at, audit_events::id),
        Order::NewestFirst,
        after,
    );
    query.load(conn)?.into_iter().map(from_row).collect()
}

fn from_row(r: AuditRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: convert::uuid("audit id", &r.id)?,
        occurred_at: convert::from_db(r.occurred_at),
        actor_sub: r.actor_sub,
        actor_role: r.actor_role,
        actor_org_id: convert::optional_uuid("audit org", r.actor_org_id.as_deref())?,
        action: r.action,
        resource_type: r.resource_type,
        resource_id: convert::optional_uuid("audit resource", r.resource_id.as_deref())?,
        resource_ids: r
            .resource_ids
            .as_deref()
            .map(|ids| {
                ids.split(',')
                    .map(|id| convert::uuid("audit resources", id))
                    .collect()
            })
            .transpose()?
            .unwrap_or_default(),
        outcome: r.outcome,
        request_id: r.request_id,
        person_id: convert::optional_uuid("audit person", r.person_id.as_deref())?,
        referral_id: convert::optional_uuid("audit referral", r.referral_id.as_deref())?,
    })
}

/// Whom a record concerns: the person, and the referral when it belongs to one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Concerns {
    pub person_id: Option<Uuid>,
    pub referral_id: Option<Uuid>,
}

/// Whom the record `id` concerns, whatever its kind: a person, a referral (or its plan or
/// consent, which are named by the referral), or a record under a referral (session, goal,
/// connection, note, outcome, consent record). Nothing is known of an id that names no record.
/// Ids are UUIDs, so an id names one record of one kind; `kind` (the audited resource, e.g.
/// `session`) only says which table to try first.
pub fn concerning(conn: &mut DbConnection, kind: &str, id: Uuid) -> StoreResult<Concerns> {
    Ok(concerning_with_erasure(conn, kind, id)?.0)
}

/// What a look-up finds: the referral (if any), the person, and when the person was erased.
type Found = (Option<String>, String, Option<chrono::NaiveDateTime>);
/// One kind's look-up.
type Lookup = fn(&mut DbConnection, &str) -> QueryResult<Option<Found>>;

/// What a look-up selects: the referral, its person, and when that person was erased.
macro_rules! found {
    () => {
        (
            referrals::id.nullable(),
            referrals::person_id,
            people::erased_at,
        )
    };
}

/// The look-up of a record in `$table`, which names its referral in `referral_id`.
macro_rules! under_referral {
    ($table:ident) => {
        |c, id| {
            $table::table
                .inner_join(referrals::table.on(referrals::id.eq($table::referral_id)))
                .inner_join(people::table.on(people::id.eq(referrals::person_id)))
                .filter($table::id.eq(id))
                .select(found!())
                .first(c)
                .optional()
        }
    };
}

/// The look-ups, each one statement joining up to the person. Diesel prepares each once per
/// connection and PostgreSQL reuses its plan: planning a single statement that tried every
/// table (a UNION, or COALESCE of subqueries) anew for each id was most of the database's
/// CPU on a read.
const LOOKUPS: [(&str, Lookup); 10] = [
    ("referral", |c, id| {
        referrals::table
            .inner_join(people::table.on(people::id.eq(referrals::person_id)))
            .filter(referrals::id.eq(id))
            .select(found!())
            .first(c)
            .optional()
    }),
    ("session", under_referral!(sessions)),
    ("connection", under_referral!(connections)),
    ("goal", under_referral!(goals)),
    ("outcome", under_referral!(outcomes)),
    ("consent_record", under_referral!(consent_records)),
    ("group_attendee", under_referral!(group_attendees)),
    ("connection_note", |c, id| {
        connection_notes::table
            .inner_join(connections::table.on(connections::id.eq(connection_notes::connection_id)))
            .inner_join(referrals::table.on(referrals::id.eq(connections::referral_id)))
            .inner_join(people::table.on(people::id.eq(referrals::person_id)))
            .filter(connection_notes::id.eq(id))
            .select(found!())
            .first(c)
            .optional()
    }),
    ("progress_note", |c, id| {
        goal_progress_notes::table
            .inner_join(goals::table.on(goals::id.eq(goal_progress_notes::goal_id)))
            .inner_join(referrals::table.on(referrals::id.eq(goals::referral_id)))
            .inner_join(people::table.on(people::id.eq(referrals::person_id)))
            .filter(goal_progress_notes::id.eq(id))
            .select(found!())
            .first(c)
            .optional()
    }),
    ("person", |c, id| {
        people::table
            .filter(people::id.eq(id))
            .select((
                None::<String>.into_sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(),
                people::id,
                people::erased_at,
            ))
            .first(c)
            .optional()
    }),
];

/// [`concerning`], and whether the person it concerns was erased: for most ids one statement,
/// the `kind`'s own table's.
pub fn concerning_with_erasure(
    conn: &mut DbConnection,
    kind: &str,
    id: Uuid,
) -> StoreResult<(Concerns, bool)> {
    let text = id.to_string();
    let first = LOOKUPS.iter().position(|(k, _)| *k == kind).unwrap_or(0);
    // Then the kinds under it (a note made under a connection), then the rest.
    let under = |i: &usize| {
        LOOKUPS[*i]
            .0
            .strip_prefix(kind)
            .is_some_and(|r| r.starts_with('_'))
    };
    let (children, rest): (Vec<usize>, Vec<usize>) =
        (0..LOOKUPS.len()).filter(|&i| i != first).partition(under);
    for i in std::iter::once(first).chain(children).chain(rest) {
        if let Some((referral, person, erased_at)) = LOOKUPS[i].1(conn, &text)? {
            let concerns = Concerns {
                person_id: Some(convert::uuid("concerned person", &person)?),
                referral_id: convert::optional_uuid("concerned referral", referral.as_deref())?,
            };
            return Ok((concerns, erased_at.is_some()));
        }
    }
    Ok((Concerns::default(), false))
}
