//! The wellbeing plan as a connection shares it: when the person agreed to share it (the
//! `wellbeing_plan` shared field), the receiving organisation reads what matters, strengths
//! and the goals, read-only, and adds progress notes to goals, while the connection is open.
//! Staff read the same view, and every goal's notes through every connection.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use linkwell_domain::connection::Connection;
use linkwell_domain::{Goal, Plan, ProgressNote};
use linkwell_persistence::connections::{self, Visibility};
use linkwell_persistence::progress_notes::{self, Under};
use linkwell_persistence::{DbConnection, StoreResult, erasure, plans};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::visibility;
use crate::access::{
    Allowed, AllowedJson, CreateProgressNote, GetSharedPlan, ListConnectionProgressNotes,
    ListGoalProgressNotes, ListSharedGoals,
};
use crate::audit::Refusal;
use crate::auth::Caller;
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::listing::{self, Parent};
use crate::pagination::{Page, PageQuery};
use crate::schema::{CreateUnderProblems, ReadEndableProblems, SharedReadProblems};
use crate::state::AppState;
use crate::{clock, db, rules, schema, wire};

/// The wellbeing plan as a connection shares it: read-only.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SharedPlan)]
pub struct SharedPlanView {
    pub connection_id: Uuid,
    /// What matters to the person, in their words; `null` until the plan is written.
    #[schema(required = true, value_type = Option<crate::fields::WhatMatters>)]
    pub what_matters: Option<String>,
    #[schema(required = true, value_type = Option<crate::fields::Strengths>)]
    pub strengths: Option<String>,
    /// When the person agreed it; `null` while it is a draft.
    #[serde(serialize_with = "wire::optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub agreed_at: Option<DateTime<Utc>>,
    /// When it last changed; `null` until it is written.
    #[serde(serialize_with = "wire::optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl SharedPlanView {
    fn new(connection_id: Uuid, plan: Option<&Plan>) -> Self {
        Self {
            connection_id,
            what_matters: plan.map(|p| p.what_matters.clone()),
            strengths: plan.and_then(|p| p.strengths.clone()),
            agreed_at: plan.and_then(|p| p.agreed_at),
            updated_at: plan.map(|p| p.updated_at),
        }
    }
}

/// A goal of a shared plan: what was agreed and where it stands, without who changed it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SharedGoal)]
pub struct SharedGoalView {
    pub id: Uuid,
    #[schema(value_type = crate::fields::GoalDescription)]
    pub description: String,
    #[schema(value_type = Option<String>, format = Date, required = true)]
    pub target_date: Option<NaiveDate>,
    #[schema(value_type = schema::GoalStatus)]
    pub status: &'static str,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

impl From<&Goal> for SharedGoalView {
    fn from(g: &Goal) -> Self {
        Self {
            id: g.id,
            description: g.description.clone(),
            target_date: g.target_date,
            status: g.status.as_str(),
            updated_at: g.updated_at,
        }
    }
}

/// A page of a shared plan's goals, in the order they were set.
pub type SharedGoalPage = Page<SharedGoalView>;

/// A progress note to add to a goal of the shared plan.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewProgressNote)]
pub struct ProgressNoteInput {
    /// A goal of the plan this connection shares.
    pub goal_id: Uuid,
    #[validate(custom(function = "rules::field"))]
    pub text: fields::ProgressNoteText,
}

/// A note on progress towards a goal.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProgressNote)]
pub struct ProgressNoteView {
    pub id: Uuid,
    pub goal_id: Uuid,
    /// The connection the plan was shared through.
    pub connection_id: Uuid,
    #[schema(value_type = crate::fields::ProgressNoteText)]
    pub text: String,
    /// Who wrote it (the subject of their token): shown to staff, and to a partner for its own
    /// organisation's notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Subject>)]
    pub author: Option<String>,
    #[schema(value_type = schema::Role)]
    pub author_role: &'static str,
    /// The organisation a partner wrote for; `null` for the service's staff.
    #[schema(required = true)]
    pub author_org_id: Option<Uuid>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

impl ProgressNoteView {
    pub(crate) fn new(n: &ProgressNote, caller: &Caller) -> Self {
        let theirs =
            caller.role.is_staff() || (caller.org.is_some() && n.author_org_id == caller.org);
        Self {
            id: n.id,
            goal_id: n.goal_id,
            connection_id: n.connection_id,
            text: n.text.clone(),
            author: theirs.then(|| n.author_sub.clone()),
            author_role: n.author_role.as_str(),
            author_org_id: n.author_org_id,
            created_at: n.created_at,
        }
    }
}

/// A page of progress notes, oldest first.
pub type ProgressNotePage = Page<ProgressNoteView>;

impl Creatable for ProgressNoteView {
    const SAYS: &'static str = "Progress note added";
    const NOUN: &'static str = "progress note";
    const VERSIONED: bool = false;
}

/// Connection `id` when its plan is shared with the caller now: otherwise not found (missing,
/// or not the caller's to see) or a conflict (the plan not shared, or no longer).
fn sharing(
    conn: &mut DbConnection,
    id: Uuid,
    visibility: Visibility,
    lock: bool,
) -> StoreResult<Result<Connection, Refusal>> {
    let found = if lock {
        connections::get_locked(conn, id, visibility)?
    } else {
        connections::get(conn, id, visibility)?
    };
    let Some(connection) = found else {
        return Ok(Err(Refusal::not_found()));
    };
    let anonymised = erasure::anonymised(conn, connection.referral_id)?;
    Ok(match connection.plan_shared(anonymised) {
        Ok(()) => Ok(connection),
        Err(invalid) => Err(Refusal::state(invalid)),
    })
}

/// [`sharing`] as a list's parent check.
fn shared_parent(conn: &mut DbConnection, id: Uuid, visibility: Visibility) -> StoreResult<Parent> {
    Ok(match sharing(conn, id, visibility, false)? {
        Ok(_) => Parent::Found,
        Err(refusal) if matches!(refusal.error, ApiError::NotFound) => Parent::Missing,
        Err(refusal) => Parent::Refused(refusal),
    })
}

/// Read the wellbeing plan a connection shares.
///
/// For the receiving organisation (and staff) while the person's plan is among the
/// connection's shared fields (`wellbeing_plan`) and the connection is open: 409
/// `plan_not_shared` when it is not shared, 409 `connection_final` once the connection is over
/// (a withdrawal of consent cancels it, ending the sharing), 409 `referral_anonymised` once
/// the referral was anonymised at the end of its retention. Before the plan is written,
/// `what_matters` is `null`. Goals are at `/plan/goals`.
#[utoipa::path(
    operation_id = "get_shared_plan",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id")),
    responses(
        (status = 200, description = "The plan as shared", body = SharedPlanView),
        SharedReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/connections/{id}/plan")]
pub async fn get_shared_plan(
    allowed: Allowed<GetSharedPlan>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let visibility = visibility(&actor.caller)?;
    let id = id.into_inner();
    let view = db::run(&state, move |conn| {
        let connection =
            sharing(conn, id, visibility, false)?.map_err(|r| actor.refuse_read(conn, id, r))?;
        let plan = plans::get(conn, connection.referral_id)?;
        actor.record_read(conn, id, true)?;
        Ok(SharedPlanView::new(id, plan.as_ref()))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// List the goals of the plan a connection shares, in the order they were set.
///
/// Shared as for the plan (409 `plan_not_shared`, `connection_final`, `referral_anonymised`).
/// Each goal shows what was agreed and its status, not who changed it.
#[utoipa::path(
    operation_id = "list_shared_goals",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id"), PageQuery),
    responses(
        (status = 200, description = "A page of goals", body = SharedGoalPage),
        SharedReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/connections/{id}/plan/goals")]
pub async fn list_shared_goals(
    allowed: Allowed<ListSharedGoals>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let visibility = visibility(&allowed.actor.caller)?;
    let connection_id = id.into_inner();
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("shared-goals", connection_id),
        &query,
        move |conn| shared_parent(conn, connection_id, visibility),
        move |conn, w| plans::goals_for_connection(conn, connection_id, w.after, w.limit),
        |_, _, _| Ok(()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(SharedGoalPage {
        items: page.rows.iter().map(SharedGoalView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Add a progress note to a goal of the plan a connection shares.
///
/// By the receiving organisation, or by staff for it, while the plan is shared (409
/// `plan_not_shared`, `connection_final`, `referral_anonymised`). `goal_id` must name a goal
/// of that plan (422 `unknown_goal`). Notes are kept with the connection they came through: a partner lists
/// its own at `/plan/progress-notes`; staff read every note on a goal at
/// `/goals/{id}/progress-notes`.
#[utoipa::path(
    operation_id = "create_progress_note",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id"), IdempotencyKey),
    request_body = ProgressNoteInput,
    responses(
        Created<ProgressNoteView>,
        CreateUnderProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/connections/{id}/plan/progress-notes")]
pub async fn create_progress_note(
    request: AllowedJson<CreateProgressNote, ProgressNoteInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let text = at("/text", body.value.text.parse())?;
    let goal_id = body.value.goal_id;
    let visibility = visibility(&actor.caller)?;
    let connection_id = id.into_inner();
    create::create(&state, actor, key, &body.raw, move |conn, actor| {
        // Locked: a withdrawal of consent or an erasure waits for this note, or this note
        // for it (and then finds the plan no longer shared).
        let connection = sharing(conn, connection_id, visibility, true)?.map_err(|r| Refusal {
            about: Some(connection_id),
            ..r
        })?;
        plans::get_goal(conn, goal_id)?
            .filter(|g| g.referral_id == connection.referral_id)
            .ok_or_else(|| {
                Refusal::invalid(
                    "/goal_id",
                    "unknown_goal",
                    "names no goal of the plan this connection shares",
                )
            })?;
        let note = ProgressNote {
            id: Uuid::now_v7(),
            goal_id,
            connection_id,
            text: text.clone(),
            author_sub: actor.caller.sub.clone(),
            author_role: actor.caller.role,
            author_org_id: actor.caller.org.filter(|_| !actor.caller.role.is_staff()),
            created_at: clock::now(),
        };
        progress_notes::insert(conn, &note)?;
        Ok(Made::new(
            note.id,
            Some(format!(
                "/v1/connections/{connection_id}/plan/progress-notes"
            )),
            None,
            &ProgressNoteView::new(&note, &actor.caller),
        )?)
    })
    .await
}

/// List the progress notes added through a connection, oldest first.
///
/// Shared as for the plan (409 `plan_not_shared`, `connection_final`, `referral_anonymised`):
/// a partner sees
/// only the notes made through its own connection, never another organisation's.
#[utoipa::path(
    operation_id = "list_connection_progress_notes",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id"), PageQuery),
    responses(
        (status = 200, description = "A page of progress notes", body = ProgressNotePage),
        SharedReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/connections/{id}/plan/progress-notes")]
pub async fn list_connection_progress_notes(
    allowed: Allowed<ListConnectionProgressNotes>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = allowed.actor.caller.clone();
    let visibility = visibility(&caller)?;
    let connection_id = id.into_inner();
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("connection-progress-notes", connection_id),
        &query,
        move |conn| shared_parent(conn, connection_id, visibility),
        move |conn, w| {
            progress_notes::list(conn, Under::Connection(connection_id), w.after, w.limit)
        },
        |_, _, _| Ok(()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(notes_page(page, &caller)))
}

/// List a goal's progress notes, through every connection, oldest first.
///
/// Staff only: each note names the connection it came through and the organisation that
/// wrote it. The notes stay after the sharing ends.
#[utoipa::path(
    operation_id = "list_goal_progress_notes",
    tag = "plans",
    params(("id" = Uuid, Path, description = "The goal's id"), PageQuery),
    responses(
        (status = 200, description = "A page of progress notes", body = ProgressNotePage),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/goals/{id}/progress-notes")]
pub async fn list_goal_progress_notes(
    allowed: Allowed<ListGoalProgressNotes>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = allowed.actor.caller.clone();
    let goal_id = id.into_inner();
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("goal-progress-notes", goal_id),
        &query,
        move |conn| Ok(plans::get_goal(conn, goal_id)?.is_some()),
        move |conn, w| progress_notes::list(conn, Under::Goal(goal_id), w.after, w.limit),
        |_, _, _| Ok(()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(notes_page(page, &caller)))
}

fn notes_page(page: listing::Listing<ProgressNote, ()>, caller: &Caller) -> ProgressNotePage {
    ProgressNotePage {
        items: page
            .rows
            .iter()
            .map(|n| ProgressNoteView::new(n, caller))
            .collect(),
        next_cursor: page.next_cursor,
    }
}
