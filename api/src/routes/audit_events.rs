//! The audit trail, read back: who touched which personal data, when, and how it ended.
//! Administrators only, and reading it is itself audited (`audit.list`).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use linkwell_persistence::Keyset;
use linkwell_persistence::audit::{self, AuditEvent, AuditFilter, Concerns};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::{Allowed, ListAuditEvents};
use crate::error::{ApiError, FieldError, query_uuid};
use crate::pagination::Page;
use crate::routes::referrals::instant;
use crate::schema::ListProblems;
use crate::state::AppState;
use crate::{db, pagination, wire};

/// Which events to list; filters combine with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` from the previous page, with the same filters.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length = 120)]
    pub cursor: Option<String>,
    /// The person the access concerned (any of their records).
    #[param(value_type = Option<Uuid>)]
    pub person_id: Option<String>,
    /// The referral the access concerned (or its sessions, plan, goals, connections,
    /// measures, consent).
    #[param(value_type = Option<Uuid>)]
    pub referral_id: Option<String>,
    /// Who acted: the token subject (a user's id, or a script's name).
    #[param(min_length = 1, max_length = 200)]
    pub actor: Option<String>,
    /// What was attempted, e.g. `referral.read`.
    #[param(pattern = r"^[a-z_]+\.[a-z_]+$", max_length = 64)]
    pub action: Option<String>,
    /// From this instant (inclusive): an RFC 3339 time, or a date for its midnight UTC.
    #[param(
        max_length = 35,
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
    )]
    pub from: Option<String>,
    /// Before this instant (exclusive): an RFC 3339 time, or a date for its midnight UTC.
    #[param(
        max_length = 35,
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
    )]
    pub to: Option<String>,
}

const MAX_ACTOR: usize = 200;

impl AuditQuery {
    /// Every bad filter at once, each named by its parameter.
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        let mut errors = Vec::new();
        let person_id = keep(
            &mut errors,
            query_uuid("person_id", self.person_id.as_deref()),
        );
        let referral_id = keep(
            &mut errors,
            query_uuid("referral_id", self.referral_id.as_deref()),
        );
        let from = keep(
            &mut errors,
            self.from
                .as_deref()
                .map(|v| instant("from", v, false))
                .transpose(),
        );
        let before = keep(
            &mut errors,
            self.to
                .as_deref()
                .map(|v| instant("to", v, false))
                .transpose(),
        );
        let actor_sub = keep(
            &mut errors,
            text("actor", self.actor.as_deref(), |v| {
                !v.is_empty() && v.chars().count() <= MAX_ACTOR && !v.chars().any(char::is_control)
            }),
        );
        let action = keep(
            &mut errors,
            text("action", self.action.as_deref(), |v| {
                v.split_once('.').is_some_and(|(kind, verb)| {
                    [kind, verb].iter().all(|part| {
                        !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
                })
            }),
        );
        if let (Some(from), Some(before)) = (from, before)
            && from >= before
        {
            errors.push(FieldError::parameter(
                "to",
                "empty_range",
                "must be after from",
            ));
        }
        if !errors.is_empty() {
            // As every list answers a bad query parameter: 400, each parameter at fault named.
            let detail = match errors.as_slice() {
                [one] => format!(
                    "`{}` {}",
                    one.parameter.as_deref().unwrap_or(""),
                    one.message
                ),
                many => format!("{} parameters are invalid", many.len()),
            };
            return Err(ApiError::BadRequest {
                code: "invalid_parameter",
                detail,
                errors,
            });
        }
        Ok(AuditFilter {
            person_id,
            referral_id,
            actor_sub,
            action,
            from,
            before,
        })
    }

    /// What a cursor is bound to: this list with exactly these filters.
    fn cursor_scope(&self) -> String {
        let part = |v: &Option<String>| v.clone().unwrap_or_default();
        format!(
            "audit-events|{}|{}|{}|{}|{}|{}",
            part(&self.person_id),
            part(&self.referral_id),
            part(&self.actor),
            part(&self.action),
            part(&self.from),
            part(&self.to)
        )
    }
}

/// A parsed filter, or none with its field errors kept, so every bad filter is named at once.
fn keep<T>(errors: &mut Vec<FieldError>, result: Result<Option<T>, ApiError>) -> Option<T> {
    match result {
        Ok(value) => value,
        Err(ApiError::BadRequest { errors: e, .. }) => {
            errors.extend(e);
            None
        }
        Err(_) => None,
    }
}

/// A text filter that must satisfy `ok`.
fn text(name: &str, value: Option<&str>, ok: fn(&str) -> bool) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if ok(v) => Ok(Some(v.to_owned())),
        Some(_) if name == "action" => Err(ApiError::bad_parameter(
            name,
            "invalid_action",
            "must be a resource and a verb, e.g. referral.read",
        )),
        Some(_) => Err(ApiError::bad_parameter(
            name,
            "invalid_actor",
            format!("must be 1 to {MAX_ACTOR} characters, one line"),
        )),
    }
}

/// One access to personal data, or one attempt at it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditEvent)]
pub struct AuditEventView {
    pub id: Uuid,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: DateTime<Utc>,
    /// Who acted: the token subject (`anonymous@ADDRESS` without a token; `system` for the
    /// server's own work, such as expiring connection requests).
    #[schema(value_type = crate::schema::Subject)]
    pub actor: String,
    /// The role acted in (`anonymous`, `system` or a token role).
    #[schema(value_type = crate::schema::CodeName)]
    pub actor_role: String,
    #[schema(required = true)]
    pub actor_org_id: Option<Uuid>,
    /// What was attempted, e.g. `referral.read`.
    #[schema(max_length = 64)]
    pub action: String,
    /// How it ended: `success`, `replayed`, `forbidden`, `not_found`, `gone`, `conflict`,
    /// `rejected` or `unauthenticated` (no token, or one that did not verify).
    #[schema(value_type = crate::schema::CodeName)]
    pub outcome: String,
    /// The kind of record acted on, e.g. `session`.
    #[schema(value_type = crate::schema::CodeName)]
    pub resource_type: String,
    /// The record acted on (null for a list).
    #[schema(required = true)]
    pub resource_id: Option<Uuid>,
    /// For a list: every record it showed.
    /// At most a page of a list (`pagination::MAX_LIMIT`).
    #[schema(max_items = 100)]
    pub resource_ids: Vec<Uuid>,
    /// The person it concerned, when one is known.
    #[schema(required = true)]
    pub person_id: Option<Uuid>,
    /// The referral it concerned, when one is known.
    #[schema(required = true)]
    pub referral_id: Option<Uuid>,
    /// The request's `X-Request-Id` (and its problem's `instance`).
    #[schema(max_length = 128)]
    pub request_id: String,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            actor: e.actor_sub,
            actor_role: e.actor_role,
            actor_org_id: e.actor_org_id,
            action: e.action,
            outcome: e.outcome,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            resource_ids: e.resource_ids,
            person_id: e.person_id,
            referral_id: e.referral_id,
            request_id: e.request_id,
        }
    }
}

/// A page of audit events.
pub type AuditEventPage = Page<AuditEventView>;

/// Read the audit trail.
///
/// Every access to personal data and every refusal, newest first: filter by the person or
/// referral it concerned (for a subject access request), by who acted, by action, or by time
/// (`from` inclusive, `to` exclusive). Rows cannot be changed or deleted. This read is itself
/// recorded (`audit.list`), concerning the person and referral it was filtered by.
#[utoipa::path(
    operation_id = "list_audit_events",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit events, newest first", body = AuditEventPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    allowed: Allowed<ListAuditEvents>,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let limit = pagination::limit(query.limit.as_deref())?;
    let filter = query.filter()?;
    let scope = query.cursor_scope();
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let rows = db::run(&state, move |conn| {
        // A read of one referral's trail concerns that referral's person too.
        let concerns = match filter.referral_id {
            Some(id) => audit::concerning(conn, "referral", id)?,
            None => Concerns::default(),
        };
        let concerns = Concerns {
            person_id: filter.person_id.or(concerns.person_id),
            referral_id: filter.referral_id,
        };
        let rows = audit::list(conn, &filter, after, limit + 1)?;
        actor.record_trail_read(concerns)?;
        Ok(rows)
    })
    .await?;
    let (rows, next_cursor) = pagination::finish(
        rows,
        limit,
        |e| Keyset {
            at: e.occurred_at,
            id: e.id,
        },
        &state.cursors,
        &scope,
    );
    Ok(HttpResponse::Ok().json(AuditEventPage {
        items: rows.into_iter().map(AuditEventView::from).collect(),
        next_cursor,
    }))
}
