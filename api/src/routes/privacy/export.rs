//! The subject access export: everything held about a person, in the views the API itself
//! gives each resource, and who accessed their record and when.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use linkwell_persistence::audit::{self, AuditFilter};
use linkwell_persistence::dialect::read_snapshot;
use linkwell_persistence::{
    DbConnection, connections, consent, outcomes, plans, progress_notes, referrals,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{Allowed, ExportPerson};
use crate::error::ApiError;
use crate::routes::connections::ConnectionView;
use crate::routes::connections::notes::NoteView;
use crate::routes::connections::plan::ProgressNoteView;
use crate::routes::consent::ConsentView;
use crate::routes::goals::GoalView;
use crate::routes::outcomes::OutcomeView;
use crate::routes::people::{PersonRecordView, current};
use crate::routes::plans::PlanView;
use crate::routes::referrals::{self as referral_routes, HistoryEntryView, ReferralView};
use crate::routes::sessions::SessionView;
use crate::schema::ReadEndableProblems;
use crate::state::AppState;
use crate::{clock, db, wire};

/// At most this many accesses are exported, newest first; `accesses_complete` says whether
/// that was all of them (the full trail stays readable at `/v1/audit-events?person_id=`).
pub const ACCESS_LIMIT: i64 = 10_000;

/// At most this many records of each kind under one referral (far beyond any real episode;
/// the schema's `maxItems` states it).
const ITEM_LIMIT: i64 = 10_000;

/// Everything held about a person.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PersonExport)]
pub struct ExportView {
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub generated_at: DateTime<Utc>,
    /// The person's record, as `GET /v1/people/{id}` gives it.
    pub person: PersonRecordView,
    /// Each referral with everything under it, newest first.
    pub referrals: Vec<ReferralExport>,
    /// Who accessed the person's record and when, newest first (at most 10,000).
    #[schema(max_items = 10_000)]
    pub accesses: Vec<AccessView>,
    /// `false` when there were more accesses than were exported.
    pub accesses_complete: bool,
}

/// One referral and everything under it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralExport {
    pub referral: ReferralView,
    /// Its changes of status.
    #[schema(max_items = 10_000)]
    pub history: Vec<HistoryEntryView>,
    /// Its consent acts.
    #[schema(max_items = 10_000)]
    pub consent: Vec<ConsentView>,
    #[schema(max_items = 10_000)]
    pub sessions: Vec<SessionView>,
    pub plan: PlanExport,
    /// Each connection as staff see it; its `person` is exactly what the receiving
    /// organisation saw of the person.
    #[schema(max_items = 10_000)]
    pub connections: Vec<ConnectionExport>,
    #[schema(max_items = 10_000)]
    pub outcomes: Vec<OutcomeView>,
}

/// The wellbeing plan and its goals.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanExport {
    #[serde(flatten)]
    pub plan: PlanView,
    #[schema(max_items = 10_000)]
    pub goals: Vec<GoalView>,
}

/// A connection and the notes exchanged about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionExport {
    pub connection: ConnectionView,
    #[schema(max_items = 10_000)]
    pub notes: Vec<NoteView>,
    /// The progress notes added to goals through it, when it shared the plan.
    #[schema(max_items = 10_000)]
    pub progress_notes: Vec<ProgressNoteView>,
}

/// One access to the person's record, from the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// Who: the token subject (`anonymous` for the public).
    #[schema(value_type = crate::schema::Subject)]
    pub actor: String,
    /// The role they acted in.
    #[schema(value_type = crate::schema::CodeName)]
    pub actor_role: String,
    /// The organisation they acted for, if any.
    #[schema(required = true)]
    pub actor_org_id: Option<Uuid>,
    /// What, e.g. `referral.read`.
    #[schema(max_length = 64)]
    pub action: String,
    /// How it ended, e.g. `success`, `forbidden`.
    #[schema(value_type = crate::schema::CodeName)]
    pub outcome: String,
}

/// Export everything held about a person (a subject access request).
///
/// One JSON document: the person's record; each referral with its history, consent acts,
/// sessions, plan and goals, connections (with their notes and what each receiving
/// organisation saw) and measures, each as the API's own read gives it; and who accessed the
/// record and when, from the audit trail (newest first, at most 10,000: see
/// `accesses_complete`). The export is itself audited, as `person.export`, and appears in the
/// next. A record merged into another answers `308` to that record's export; an erased
/// person's is 410.
#[utoipa::path(
    operation_id = "export_person",
    tag = "people",
    params(("id" = Uuid, Path, description = "The person's id")),
    responses(
        (status = 200, description = "Everything held about the person", body = ExportView),
        (status = 308, description = "Merged: `Location` is the surviving record's export",
            headers(("Location" = String, description = "The surviving record's export"))),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/people/{id}/export")]
pub async fn export_person(
    allowed: Allowed<ExportPerson>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let caller = actor.caller.clone();
    let id = id.into_inner();
    let found = db::run(&state, move |conn| {
        let found = read_snapshot(conn, |conn| match current(conn, id)? {
            None => Ok::<_, ApiError>(None),
            Some(Err(survivor)) => Ok(Some(Err(survivor))),
            Some(Ok(_)) => Ok(Some(Ok(gather(conn, id, &caller)?))),
        })?;
        // Nothing is answered unless the access is on the trail.
        actor.record_read(conn, id, found.is_some())?;
        Ok(found)
    })
    .await?;
    match found.ok_or(ApiError::NotFound)? {
        Ok(export) => Ok(HttpResponse::Ok().json(export)),
        Err(survivor) => Ok(HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, format!("/v1/people/{survivor}/export")))
            .finish()),
    }
}

fn gather(
    conn: &mut DbConnection,
    id: Uuid,
    caller: &crate::auth::Caller,
) -> Result<ExportView, ApiError> {
    let record = linkwell_persistence::people::get(conn, id)?
        .ok_or_else(|| ApiError::Internal("an exported person vanished".into()))?;
    let held = referrals::for_person(conn, id)?;
    let mut exported = Vec::with_capacity(held.len());
    for referral in &held {
        exported.push(referral_export(conn, referral, caller)?);
    }
    let filter = AuditFilter {
        person_id: Some(id),
        ..AuditFilter::default()
    };
    let mut rows = audit::list(conn, &filter, None, ACCESS_LIMIT + 1)?;
    let complete = rows.len() <= usize::try_from(ACCESS_LIMIT).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(ACCESS_LIMIT).unwrap_or(usize::MAX));
    Ok(ExportView {
        generated_at: clock::now(),
        person: PersonRecordView::new(&record, Some(&held)),
        referrals: exported,
        accesses: rows
            .into_iter()
            .map(|e| AccessView {
                at: e.occurred_at,
                actor: e.actor_sub,
                actor_role: e.actor_role,
                actor_org_id: e.actor_org_id,
                action: e.action,
                outcome: e.outcome,
            })
            .collect(),
        accesses_complete: complete,
    })
}

fn referral_export(
    conn: &mut DbConnection,
    referral: &linkwell_domain::Referral,
    caller: &crate::auth::Caller,
) -> Result<ReferralExport, ApiError> {
    let id = referral.id;
    let goals = plans::goals_for_referral(conn, id, None, ITEM_LIMIT)?;
    let goal_ids: Vec<Uuid> = goals.iter().map(|g| g.id).collect();
    let mut histories = plans::histories(conn, &goal_ids)?;
    let plan = match plans::get(conn, id)? {
        Some(plan) => PlanView::from(&plan),
        None => PlanView::unwritten(id),
    };
    let filter = connections::ConnectionFilter {
        referral_id: Some(id),
        ..Default::default()
    };
    let made = connections::list(
        conn,
        connections::Visibility::All,
        &filter,
        None,
        ITEM_LIMIT,
    )?;
    let views = crate::routes::connections::views(conn, &made, caller)?;
    let mut with_notes = Vec::with_capacity(views.len());
    for view in views {
        let notes = connections::notes(conn, view.id, None, ITEM_LIMIT)?
            .iter()
            .map(|n| NoteView::new(n, caller))
            .collect();
        let progress_notes = progress_notes::list(
            conn,
            progress_notes::Under::Connection(view.id),
            None,
            ITEM_LIMIT,
        )?
        .iter()
        .map(|n| ProgressNoteView::new(n, caller))
        .collect();
        with_notes.push(ConnectionExport {
            connection: view,
            notes,
            progress_notes,
        });
    }
    Ok(ReferralExport {
        referral: ReferralView::for_caller(referral, caller),
        history: referral_routes::history(conn, id, ITEM_LIMIT)?,
        consent: consent::list(conn, id, None, ITEM_LIMIT)?
            .iter()
            .map(ConsentView::from)
            .collect(),
        sessions: crate::routes::sessions::sessions_of(conn, id, None, ITEM_LIMIT)?
            .iter()
            .map(SessionView::from)
            .collect(),
        plan: PlanExport {
            plan,
            goals: goals
                .iter()
                .map(|g| GoalView::new(g, &histories.remove(&g.id).unwrap_or_default()))
                .collect(),
        },
        connections: with_notes,
        outcomes: outcomes::for_referral(conn, id, None, ITEM_LIMIT)?
            .iter()
            .map(OutcomeView::from)
            .collect(),
    })
}
