//! The audit trail: one append-only row for each access to personal data or attempt at it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::StoreResult;
use crate::page::Keyset;
use crate::schema::{
    audit_events, connection_notes, connections, consent_records, goals, outcomes, people,
    referrals, sessions,
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
    let row = AuditRow {
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
    };
    diesel::insert_into(audit_events::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
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
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
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
    if let Some(Keyset { at, id }) = after {
        let at = convert::to_db(at);
        query = query.filter(
            audit_events::occurred_at
                .lt(at)
                .or(audit_events::occurred_at
                    .eq(at)
                    .and(audit_events::id.lt(id.to_string()))),
        );
    }
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

/// Finds the referral a record of one kind belongs to.
type ReferralOf = fn(&mut DbConnection, &str) -> QueryResult<Option<String>>;

/// Whom a record concerns: the person, and the referral when it belongs to one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Concerns {
    pub person_id: Option<Uuid>,
    pub referral_id: Option<Uuid>,
}

/// Whom the record `id` concerns, whatever its kind: a person, a referral (or its plan or
/// consent, which are named by the referral), or a record under a referral (session, goal,
/// connection, note, outcome, consent record). Ids are UUIDs, so an id names one record of one
/// kind; `kind` (the audited resource, e.g. `session`) only says which table to try first.
/// Nothing is known of an id that names no record.
pub fn concerning(conn: &mut DbConnection, kind: &str, id: Uuid) -> StoreResult<Concerns> {
    let text = id.to_string();
    if kind == "person"
        && let Some(person) = person(conn, &text)?
    {
        return Ok(Concerns {
            person_id: Some(person),
            referral_id: None,
        });
    }
    let lookups: [ReferralOf; 7] = [
        |c, id| {
            referrals::table
                .filter(referrals::id.eq(id))
                .select(referrals::id)
                .first(c)
                .optional()
        },
        |c, id| {
            sessions::table
                .filter(sessions::id.eq(id))
                .select(sessions::referral_id)
                .first(c)
                .optional()
        },
        |c, id| {
            goals::table
                .filter(goals::id.eq(id))
                .select(goals::referral_id)
                .first(c)
                .optional()
        },
        |c, id| {
            connections::table
                .filter(connections::id.eq(id))
                .select(connections::referral_id)
                .first(c)
                .optional()
        },
        |c, id| {
            connection_notes::table
                .inner_join(
                    connections::table.on(connections::id.eq(connection_notes::connection_id)),
                )
                .filter(connection_notes::id.eq(id))
                .select(connections::referral_id)
                .first(c)
                .optional()
        },
        |c, id| {
            outcomes::table
                .filter(outcomes::id.eq(id))
                .select(outcomes::referral_id)
                .first(c)
                .optional()
        },
        |c, id| {
            consent_records::table
                .filter(consent_records::id.eq(id))
                .select(consent_records::referral_id)
                .first(c)
                .optional()
        },
    ];
    // The kind's own table first: most rows are found by the first query.
    let first = match kind {
        "session" => 1,
        "goal" => 2,
        "connection" => 3,
        "outcome" => 5,
        _ => 0,
    };
    let order = std::iter::once(first).chain((0..lookups.len()).filter(|&i| i != first));
    let mut referral = None;
    for i in order {
        if let Some(found) = lookups[i](conn, &text)? {
            referral = Some(found);
            break;
        }
    }
    let Some(referral) = referral else {
        return Ok(Concerns {
            person_id: person(conn, &text)?,
            referral_id: None,
        });
    };
    let person_id: String = referrals::table
        .filter(referrals::id.eq(&referral))
        .select(referrals::person_id)
        .first(conn)?;
    Ok(Concerns {
        person_id: Some(convert::uuid("referral person", &person_id)?),
        referral_id: Some(convert::uuid("audit referral", &referral)?),
    })
}

fn person(conn: &mut DbConnection, id: &str) -> StoreResult<Option<Uuid>> {
    let found: Option<String> = people::table
        .filter(people::id.eq(id))
        .select(people::id)
        .first(conn)
        .optional()?;
    found
        .as_deref()
        .map(|id| convert::uuid("person id", id))
        .transpose()
}
