//! The wellbeing plan: one per referral, written around what matters to the person. Staff
//! only. Goals are in [`super::goals`].

use actix_web::{HttpResponse, get, put, web};
use chrono::{DateTime, Utc};
use linkwell_domain::Plan;
use linkwell_persistence::plans;
use linkwell_persistence::referrals::{self, Visibility};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::access::{Allowed, AllowedJson, GetPlan, PutPlan};
use crate::audit::Refusal;
use crate::error::{ApiError, at, at_optional};
use crate::fields::{self, Field};
use crate::precondition::IfMatchOnReplace;
use crate::routes::referrals::engaged;
use crate::schema::{ChangeProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{change, clock, db, wire};

/// A plan, whole: what is left out (or `null`) is cleared.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PlanInput)]
pub struct PlanInput {
    #[validate(custom(function = "crate::rules::field"))]
    pub what_matters: fields::WhatMatters,
    #[validate(custom(function = "crate::rules::field"))]
    pub strengths: Option<fields::Strengths>,
    /// When the person agreed the plan; leave out while it is a draft.
    #[validate(custom(function = "crate::rules::field"))]
    pub agreed_at: Option<fields::Timestamp>,
}

/// A referral's wellbeing plan.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Plan)]
pub struct PlanView {
    pub referral_id: Uuid,
    /// What matters to the person, in their words; `null` until the plan is written.
    #[schema(required = true, value_type = Option<crate::fields::WhatMatters>)]
    pub what_matters: Option<String>,
    #[schema(required = true, value_type = Option<crate::fields::Strengths>)]
    pub strengths: Option<String>,
    /// When the person agreed it; `null` while it is a draft.
    #[serde(serialize_with = "wire::optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub agreed_at: Option<DateTime<Utc>>,
    /// Who first wrote it: the subject of their token; `null` until it is written.
    #[schema(required = true, value_type = Option<crate::schema::Subject>)]
    pub created_by: Option<String>,
    #[serde(serialize_with = "wire::optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire::optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Grows by one with every change, from 0 before the plan is written; also the `ETag`.
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
}

impl PlanView {
    /// A referral's plan before anyone has written it: every referral has one, empty at first.
    pub(crate) fn unwritten(referral_id: Uuid) -> Self {
        Self {
            referral_id,
            what_matters: None,
            strengths: None,
            agreed_at: None,
            created_by: None,
            created_at: None,
            updated_at: None,
            version: 0,
        }
    }
}

impl From<&Plan> for PlanView {
    fn from(p: &Plan) -> Self {
        Self {
            referral_id: p.referral_id,
            what_matters: Some(p.what_matters.clone()),
            strengths: p.strengths.clone(),
            agreed_at: p.agreed_at,
            created_by: Some(p.created_by.clone()),
            created_at: Some(p.created_at),
            updated_at: Some(p.updated_at),
            version: p.version,
        }
    }
}

/// Read a referral's wellbeing plan.
///
/// Every referral has one: before anyone writes it, it is empty (`what_matters` `null`,
/// version 0, ETag `"0"`). 404 only when there is no such referral.
#[utoipa::path(
    operation_id = "get_plan",
    tag = "plans",
    params(("id" = Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "The plan", body = PlanView,
            headers(("ETag" = String, description = "The plan's version"))),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals/{id}/plan")]
pub async fn get_plan(
    allowed: Allowed<GetPlan>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let id = id.into_inner();
    let view = db::run(&state, move |conn| {
        let exists = referrals::exists(conn, id)?;
        actor.record_read(conn, id, exists)?;
        if !exists {
            return Err(ApiError::NotFound);
        }
        Ok(plans::get(conn, id)?.map_or_else(|| PlanView::unwritten(id), |p| PlanView::from(&p)))
    })
    .await?;
    Ok(wire::current(view.version, &view))
}

/// Write a referral's wellbeing plan, or replace it.
///
/// The first plan is written without `If-Match` or with the unwritten plan's `"0"` (201),
/// while the referral is accepted, active or on hold (409 `referral_not_open`); sending the
/// same plan again without it is a retry (200, unchanged). Replacing it needs `If-Match` with the ETag you read (428, 412). `agreed_at` cannot be in the future nor before the referral was received
/// (422).
#[utoipa::path(
    operation_id = "put_plan",
    tag = "plans",
    params(("id" = Uuid, Path, description = "The referral's id"), IfMatchOnReplace),
    request_body = PlanInput,
    responses(
        (status = 200, description = "The plan as replaced", body = PlanView,
            headers(("ETag" = String, description = "The plan's new version"))),
        (status = 201, description = "The referral's first plan", body = PlanView,
            headers(
                ("Location" = String, description = "The plan's URL"),
                ("ETag" = String, description = "The plan's version"),
            )),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[put("/referrals/{id}/plan")]
pub async fn put_plan(
    request: AllowedJson<PutPlan, PlanInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatchOnReplace,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let referral_id = id.into_inner();
    let if_match = if_match.0;
    let expected = if_match
        .is_present()
        .then(|| if_match.versions())
        .transpose()?;
    let what_matters = at("/what_matters", input.what_matters.parse())?;
    let strengths = at_optional("/strengths", input.strengths.as_ref())?;
    let agreed_at = at_optional("/agreed_at", input.agreed_at.as_ref())?;
    let (plan, created) = change::change(&state, actor, referral_id, move |conn, actor| {
        let now = clock::now();
        let (referral, before) = match plans::get(conn, referral_id)? {
            None => {
                if let Some(expected) = &expected {
                    // The unwritten plan is version 0.
                    referrals::get(conn, referral_id, Visibility::All)?
                        .ok_or_else(Refusal::not_found)?;
                    expected.check_unwritten()?;
                }
                (engaged(conn, referral_id, "plans")?, None)
            }
            Some(before) => {
                match &expected {
                    Some(expected) => expected.check(before.version)?,
                    // A retry of the create that wrote it: the same plan, nothing to replace.
                    None if before.what_matters == what_matters
                        && before.strengths == strengths
                        && before.agreed_at == agreed_at =>
                    {
                        return Ok((before, false));
                    }
                    None => {
                        return Err(Refusal::conflict(ApiError::PreconditionRequired).into());
                    }
                }
                let referral = referrals::get(conn, referral_id, Visibility::All)?
                    .ok_or_else(|| ApiError::Internal("a plan's referral vanished".into()))?;
                (referral, Some(before))
            }
        };
        let mut plan = Plan {
            referral_id,
            what_matters: what_matters.clone(),
            strengths: strengths.clone(),
            agreed_at,
            created_by: actor.caller.sub.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        plan.check(referral.received_at, now)
            .map_err(Refusal::broken)?;
        match before {
            None => {
                plans::insert(conn, &plan)?;
                Ok((plan, true))
            }
            Some(before) if before.same_content(&plan) => Ok((before, false)),
            Some(before) => {
                plan.created_by = before.created_by.clone();
                plan.created_at = before.created_at;
                plan.version = before.version + 1;
                if !plans::save(conn, &plan, before.version)? {
                    return Err(Refusal::stale().into());
                }
                Ok((plan, false))
            }
        }
    })
    .await?;
    let view = PlanView::from(&plan);
    if created {
        return Ok(HttpResponse::Created()
            .insert_header((
                actix_web::http::header::LOCATION,
                format!("/v1/referrals/{referral_id}/plan"),
            ))
            .insert_header(wire::etag(plan.version))
            .json(view));
    }
    Ok(wire::current(plan.version, &view))
}
