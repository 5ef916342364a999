//! Putting a referral on a link worker's caseload, and taking it off.

use actix_web::{HttpResponse, delete, put, web};
use linkwell_domain::{Referral, ReferralStatus};
use linkwell_persistence::DbConnection;
use linkwell_persistence::referrals::{self, Visibility};
use linkwell_persistence::{teams, users};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::ReferralView;
use crate::access::{Allowed, AllowedJson, AssignReferral, UnassignReferral};
use crate::audit::{Actor, Refusal, Stop};
use crate::error::ApiError;
use crate::precondition::{IfMatch, Versions};
use crate::schema::{ChangeProblems, ChangeWithoutBodyProblems};
use crate::state::AppState;
use crate::{change, clock, wire};

/// Who to assign.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Assignment)]
pub struct AssigneeInput {
    /// An active coordinator's user id.
    pub user_id: Uuid,
}

/// Assign a referral to a link worker.
///
/// The user must be an active coordinator (422 `not_an_active_coordinator` otherwise) and, for
/// a referral a team owns, a member of that team (422 `not_a_team_member`: hand it over to move
/// it between teams). A final referral cannot be assigned (409 `referral_final`). Assigning the
/// current assignee again changes nothing.
#[utoipa::path(
    operation_id = "assign_referral",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id"), IfMatch),
    request_body = AssigneeInput,
    responses(
        (status = 200, description = "The referral, assigned", body = ReferralView,
            headers(("ETag" = String, description = "The referral's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[put("/referrals/{id}/assignee")]
pub async fn assign_referral(
    request: AllowedJson<AssignReferral, AssigneeInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let user_id = body.value.user_id;
    let expected = if_match.versions()?;
    reassign(&state, actor, id.into_inner(), expected, Some(user_id)).await
}

/// Take a referral off its link worker's caseload.
///
/// An `active` referral keeps its assignee (409 `assignee_required`): put it on hold or close
/// it first. Unassigning an unassigned referral changes nothing.
#[utoipa::path(
    operation_id = "unassign_referral",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id"), IfMatch),
    responses(
        (status = 200, description = "The referral, unassigned", body = ReferralView,
            headers(("ETag" = String, description = "The referral's new version"))),
        ChangeWithoutBodyProblems,
    ),
    security(("bearer" = [])),
)]
#[delete("/referrals/{id}/assignee")]
pub async fn unassign_referral(
    allowed: Allowed<UnassignReferral>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match.versions()?;
    reassign(&state, allowed.actor, id.into_inner(), expected, None).await
}

async fn reassign(
    state: &web::Data<AppState>,
    actor: Actor,
    id: Uuid,
    expected: Versions,
    to: Option<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let caller = actor.caller.clone();
    let referral = change::change(state, actor, id, move |conn, _| {
        let mut referral =
            expected.current(referrals::get(conn, id, Visibility::All)?, |r| r.version)?;
        may_reassign(conn, &referral, to)?;
        if referral.assignee_id != to {
            let previous = referral.version;
            referral.assignee_id = to;
            referral.touch(clock::now());
            if !referrals::save(conn, &referral, previous)? {
                return Err(Refusal::stale().into());
            }
        }
        Ok(referral)
    })
    .await?;
    Ok(wire::current(
        referral.version,
        &ReferralView::for_caller(&referral, &caller),
    ))
}

/// A final referral keeps its caseload as it ended; an active one always has an assignee; only
/// an active coordinator holds a caseload.
fn may_reassign(
    conn: &mut DbConnection,
    referral: &Referral,
    to: Option<Uuid>,
) -> Result<(), Stop> {
    if referral.status.is_final() {
        return Err(Refusal::conflict(ApiError::StateConflict {
            code: "referral_final",
            detail: format!(
                "the referral is `{}`, which is final: its assignment no longer changes",
                referral.status
            ),
        })
        .into());
    }
    let Some(user_id) = to else {
        if referral.status == ReferralStatus::Active && referral.assignee_id.is_some() {
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "assignee_required",
                detail: "an active referral needs an assignee: assign someone else, or put it on hold or close it first".into(),
            })
            .into());
        }
        return Ok(());
    };
    let holds = users::get(conn, user_id)?.is_some_and(|u| u.can_hold_caseload());
    if !holds {
        return Err(Refusal::invalid(
            "/user_id",
            "not_an_active_coordinator",
            "must be the id of an active coordinator",
        )
        .into());
    }
    // A team's referrals are held by its own link workers: another team's takes one on by a
    // handover.
    if let Some(team) = referral.team_id
        && referral.assignee_id != Some(user_id)
        && teams::membership_of(conn, team, user_id)?.is_none()
    {
        return Err(Refusal::invalid(
            "/user_id",
            "not_a_team_member",
            "must be a link worker of the team that owns the referral; hand it over to move it between teams",
        )
        .into());
    }
    Ok(())
}
