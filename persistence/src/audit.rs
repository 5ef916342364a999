//! The audit trail: one append-only row for each access to personal data or attempt at it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::StoreResult;
use crate::schema::audit_events;

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
    };
    diesel::insert_into(audit_events::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

/// The most recent events, newest first (ties by id), at most `limit`.
pub fn recent(conn: &mut DbConnection, limit: i64) -> StoreResult<Vec<AuditEvent>> {
    let rows: Vec<AuditRow> = audit_events::table
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
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
            })
        })
        .collect()
}
