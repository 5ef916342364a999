//! Handing a referral over to another team: an introduction between teams, kept in the
//! referral's history as a move between teams.

use actix_web::{HttpResponse, post, web};
use linkwell_domain::team::Handover;
use linkwell_persistence::referrals::{self, Visibility};
use linkwell_persistence::{teams, users};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::ReferralView;
use crate::access::{AllowedJson, HandOverReferral};
use crate::audit::Refusal;
use crate::error::{ApiError, at};
use crate::fields::{self, Field};
use crate::precondition::IfMatch;
use crate::schema::ChangeProblems;
use crate::state::AppState;
use crate::{change, clock, rules, wire};

/// Where a referral goes, and why.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Handover)]
pub struct HandoverInput {
    /// The receiving team.
    pub team_id: Uuid,
    #[validate(custom(function = "rules::field"))]
    pub reason: fields::HandoverReason,
    /// A link worker of the receiving team to take the referral on; left out, it goes to the
    /// receiving team's waiting list. An active referral needs one.
    pub assignee_id: Option<Uuid>,
}

/// Hand a referral over to another team.
///
/// The receiving team owns it from now on: it leaves its link worker's caseload for the
/// receiving team's waiting list (`GET /v1/referrals?team_id=…&assignee=none`), or for the
/// caseload of `assignee_id`, an active coordinator in the receiving team (422
/// `not_a_team_member` otherwise). Its status stays as it was; its history gains the move
/// between teams. A team that does not exist is 422 `unknown_team`; the referral's own team
/// 409 `same_team`; a final referral 409 `referral_final`; an active referral without
/// `assignee_id` 409 `assignee_required` (put it on hold first, or name who takes it on).
/// Send `If-Match` with the ETag you read.
#[utoipa::path(
    operation_id = "hand_over_referral",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id"), IfMatch),
    request_body = HandoverInput,
    responses(
        (status = 200, description = "The referral, with its new team", body = ReferralView,
            headers(("ETag" = String, description = "The referral's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/referrals/{id}/handover")]
pub async fn hand_over_referral(
    request: AllowedJson<HandOverReferral, HandoverInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let reason = at("/reason", input.reason.parse())?;
    let expected = if_match.versions()?;
    let caller = actor.caller.clone();
    let id = id.into_inner();
    let (to, assignee_id) = (input.team_id, input.assignee_id);
    let referral = change::change(&state, actor, id, move |conn, actor| {
        let mut referral =
            expected.current(referrals::get(conn, id, Visibility::All)?, |r| r.version)?;
        if teams::get(conn, to)?.is_none() {
            return Err(Refusal::invalid("/team_id", "unknown_team", "names no team").into());
        }
        if let Some(user) = assignee_id {
            let active = users::get(conn, user)?.is_some_and(|u| u.can_hold_caseload());
            if !active || teams::membership_of(conn, to, user)?.is_none() {
                return Err(Refusal::invalid(
                    "/assignee_id",
                    "not_a_team_member",
                    "must be the id of an active coordinator in the receiving team",
                )
                .into());
            }
        }
        let previous = referral.version;
        let now = clock::now();
        let moved = referral
            .hand_over(Handover {
                move_id: Uuid::now_v7(),
                to,
                assignee_id,
                reason: reason.clone(),
                actor_sub: actor.caller.sub.clone(),
                actor_role: actor.caller.role,
                at: now,
            })
            .map_err(|refused| {
                Refusal::conflict(ApiError::StateConflict {
                    code: refused.code(),
                    detail: refused.detail(),
                })
            })?;
        if !referrals::save(conn, &referral, previous)? {
            return Err(Refusal::stale().into());
        }
        teams::record_move(conn, &moved)?;
        Ok(referral)
    })
    .await?;
    Ok(wire::current(
        referral.version,
        &ReferralView::for_caller(&referral, &caller),
    ))
}
