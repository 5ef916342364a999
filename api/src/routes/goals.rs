//! Goals in a referral's wellbeing plan, each with its history of status (who, when). Staff
//! only.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use linkwell_domain::plan::Change;
use linkwell_domain::{Goal, GoalStatus, GoalStatusChange};
use linkwell_persistence::{DbConnection, plans, referrals};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationErrors};

use crate::access::{Allowed, AllowedJson, CreateGoal, GetGoal, ListGoals, UpdateGoal};
use crate::audit::{Actor, Refusal};
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at, at_optional};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::listing;
use crate::pagination::{Page, PageQuery};
use crate::patch::{Member, Parsing};
use crate::precondition::IfMatch;
use crate::routes::referrals::engaged;
use crate::schema::{ChangeProblems, CreateUnderProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{change, clock, db, rules, schema, wire};

/// A goal to add.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewGoal)]
pub struct GoalInput {
    #[validate(custom(function = "rules::field"))]
    pub description: fields::GoalDescription,
    #[validate(custom(function = "rules::field"))]
    pub target_date: Option<fields::TargetDate>,
    /// `proposed` when left out.
    #[validate(custom(function = "rules::field"))]
    pub status: Option<schema::GoalStatus>,
}

/// One change of a goal's status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = GoalStatusChange)]
pub struct GoalChangeView {
    /// `null` for the first entry: the goal was set.
    #[schema(value_type = Option<schema::GoalStatus>, required = true)]
    pub from: Option<&'static str>,
    #[schema(value_type = schema::GoalStatus)]
    pub to: &'static str,
    /// Who changed it: the subject of their token.
    #[schema(value_type = crate::schema::Subject)]
    pub changed_by: String,
    #[schema(value_type = schema::Role)]
    pub changed_by_role: &'static str,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub changed_at: DateTime<Utc>,
}

/// A goal in a wellbeing plan.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Goal)]
pub struct GoalView {
    pub id: Uuid,
    pub referral_id: Uuid,
    #[schema(value_type = crate::fields::GoalDescription)]
    pub description: String,
    #[schema(value_type = Option<String>, format = Date, required = true)]
    pub target_date: Option<NaiveDate>,
    #[schema(value_type = schema::GoalStatus)]
    pub status: &'static str,
    /// Every change of status, oldest first; the first is the goal being set.
    pub status_history: Vec<GoalChangeView>,
    /// Who set it: the subject of their token.
    #[schema(value_type = crate::schema::Subject)]
    pub created_by: String,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Grows by one with every change; also the `ETag`.
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
}

impl GoalView {
    pub(crate) fn new(g: &Goal, history: &[GoalStatusChange]) -> Self {
        Self {
            id: g.id,
            referral_id: g.referral_id,
            description: g.description.clone(),
            target_date: g.target_date,
            status: g.status.as_str(),
            status_history: history
                .iter()
                .map(|c| GoalChangeView {
                    from: c.from.map(GoalStatus::as_str),
                    to: c.to.as_str(),
                    changed_by: c.actor_sub.clone(),
                    changed_by_role: c.actor_role.as_str(),
                    changed_at: c.at,
                })
                .collect(),
            created_by: g.created_by.clone(),
            created_at: g.created_at,
            updated_at: g.updated_at,
            version: g.version,
        }
    }
}

/// A page of goals, as the contract names it.
type GoalPage = Page<GoalView>;

fn change_by(actor: &Actor) -> Change<'_> {
    Change {
        actor_sub: &actor.caller.sub,
        actor_role: actor.caller.role,
        at: clock::now(),
    }
}

/// A goal and its history, read in the same transaction.
fn with_history(conn: &mut DbConnection, goal: Goal) -> Result<GoalView, ApiError> {
    let mut histories = plans::histories(conn, &[goal.id])?;
    Ok(GoalView::new(
        &goal,
        &histories.remove(&goal.id).unwrap_or_default(),
    ))
}

/// Add a goal to a referral's wellbeing plan.
///
/// Only while the referral is accepted, active or on hold (409 `referral_not_open`). Its
/// status starts `proposed` unless given.
#[utoipa::path(
    operation_id = "create_goal",
    tag = "plans",
    params(("id" = Uuid, Path, description = "The referral's id"), IdempotencyKey),
    request_body = GoalInput,
    responses(
        Created<GoalView>,
        CreateUnderProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/referrals/{id}/plan/goals")]
pub async fn create_goal(
    request: AllowedJson<CreateGoal, GoalInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let referral_id = id.into_inner();
    let description = at("/description", input.description.parse())?;
    let target_date = at_optional("/target_date", input.target_date.as_ref())?;
    let status = at_optional("/status", input.status.as_ref())?.unwrap_or(GoalStatus::Proposed);
    create::create(&state, actor, key, &body.raw, move |conn, actor| {
        engaged(conn, referral_id, "goals")?;
        let (goal, first) = Goal::new(
            referral_id,
            description.clone(),
            target_date,
            status,
            change_by(actor),
        );
        plans::insert_goal(conn, &goal)?;
        plans::record_change(conn, &first)?;
        Ok(Made::new(
            goal.id,
            Some(format!("/v1/goals/{}", goal.id)),
            Some(goal.version),
            &GoalView::new(&goal, &[first]),
        )?)
    })
    .await
}

/// List a referral's goals, in the order they were set.
#[utoipa::path(
    operation_id = "list_goals",
    tag = "plans",
    params(("id" = Uuid, Path, description = "The referral's id"), PageQuery),
    responses(
        (status = 200, description = "A page of goals", body = GoalPage),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals/{id}/plan/goals")]
pub async fn list_goals(
    allowed: Allowed<ListGoals>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let referral_id = id.into_inner();
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("goals", referral_id),
        &query,
        move |conn| referrals::exists(conn, referral_id),
        move |conn, w| plans::goals_for_referral(conn, referral_id, w.after, w.limit),
        |conn, goals, _| {
            let shown: Vec<Uuid> = goals.iter().map(|g| g.id).collect();
            Ok(plans::histories(conn, &shown)?)
        },
    )
    .await?;
    let mut histories = page.extra;
    let items = page
        .rows
        .iter()
        .map(|g| GoalView::new(g, &histories.remove(&g.id).unwrap_or_default()))
        .collect();
    Ok(HttpResponse::Ok().json(GoalPage {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Read one goal and its history of status.
#[utoipa::path(
    operation_id = "get_goal",
    tag = "plans",
    params(("id" = Uuid, Path, description = "The goal's id")),
    responses(
        (status = 200, description = "The goal", body = GoalView,
            headers(("ETag" = String, description = "The goal's version"))),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/goals/{id}")]
pub async fn get_goal(
    allowed: Allowed<GetGoal>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let id = id.into_inner();
    let found = db::run(&state, move |conn| {
        let Some(goal) = plans::get_goal(conn, id)? else {
            actor.record_read(conn, id, false)?;
            return Ok(None);
        };
        let view = with_history(conn, goal)?;
        actor.record_read(conn, id, true)?;
        Ok(Some(view))
    })
    .await?;
    let view = found.ok_or(ApiError::NotFound)?;
    Ok(wire::current(view.version, &view))
}

/// A JSON merge patch (RFC 7396) of a goal: members left out stay as they are; `null` removes
/// `target_date`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GoalPatch)]
pub struct GoalPatch {
    #[serde(default)]
    #[schema(value_type = fields::GoalDescription, required = false)]
    pub description: Member<fields::GoalDescription>,
    #[serde(default)]
    #[schema(value_type = Option<fields::TargetDate>)]
    pub target_date: Member<fields::TargetDate>,
    #[serde(default)]
    #[schema(value_type = schema::GoalStatus, required = false)]
    pub status: Member<schema::GoalStatus>,
}

/// Checked as a whole by [`GoalPatch::parse`], which reports every member at once.
impl Validate for GoalPatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// A goal patch, each member parsed.
#[derive(Debug, Clone)]
struct GoalChanges {
    description: Member<String>,
    target_date: Member<NaiveDate>,
    status: Member<GoalStatus>,
}

impl GoalPatch {
    fn parse(&self) -> Result<GoalChanges, ApiError> {
        let mut p = Parsing::default();
        let changes = GoalChanges {
            description: p.required("description", &self.description),
            target_date: p.optional("target_date", &self.target_date),
            status: p.required("status", &self.status),
        };
        p.finish(changes)
    }
}

impl GoalChanges {
    fn apply(self, mut goal: Goal) -> Goal {
        self.description.replace(&mut goal.description);
        self.target_date.merge_into(&mut goal.target_date);
        self.status.replace(&mut goal.status);
        goal
    }
}

/// Change a goal: its description, target date or status.
///
/// A JSON merge patch; send `If-Match` with the ETag you read. Every change of status is kept
/// in `status_history` with who made it and when.
#[utoipa::path(
    operation_id = "update_goal",
    tag = "plans",
    params(("id" = Uuid, Path, description = "The goal's id"), IfMatch),
    request_body(content = GoalPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The goal as changed", body = GoalView,
            headers(("ETag" = String, description = "The goal's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[patch("/goals/{id}")]
pub async fn update_goal(
    request: AllowedJson<UpdateGoal, GoalPatch>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let changes = body.value.parse()?;
    let expected = if_match.versions()?;
    let id = id.into_inner();
    let view = change::change(&state, actor, id, move |conn, actor| {
        let before = plans::get_goal(conn, id)?.ok_or_else(Refusal::not_found)?;
        expected.check(before.version)?;
        let edited = changes.clone().apply(before.clone());
        if edited == before {
            return Ok(with_history(conn, before)?);
        }
        let (goal, moved) = Goal::changed(&before, edited, change_by(actor));
        if !plans::save_goal(conn, &goal, before.version)? {
            return Err(Refusal::stale().into());
        }
        if let Some(moved) = &moved {
            plans::record_change(conn, moved)?;
        }
        Ok(with_history(conn, goal)?)
    })
    .await?;
    Ok(wire::current(view.version, &view))
}

impl Creatable for GoalView {
    const SAYS: &'static str = "Goal added";
    const NOUN: &'static str = "goal";
}
