//! Moving a referral through its lifecycle, and reading the moves it made.

use actix_web::{HttpResponse, post, web};
use linkwell_domain::lifecycle::Refusal as Refused;
use linkwell_domain::{Move, StatusChange};
use linkwell_persistence::referral_history;
use linkwell_persistence::referrals;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{ReferralView, visibility};
use crate::access::{AllowedJson, TransitionReferral};
use crate::audit::{Outcome, Refusal};
use crate::error::{ApiError, at, at_optional};
use crate::fields;
use crate::fields::Field;
use crate::precondition::IfMatch;
use crate::schema::ChangeProblems;
use crate::state::AppState;
use crate::{change, clock, rules, schema, wire};

/// A requested change of status.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReferralTransition)]
pub struct TransitionInput {
    #[validate(custom(function = "rules::field"))]
    pub to: schema::ReferralStatus,
    /// Required when closing, and only then.
    #[validate(custom(function = "rules::field"))]
    pub reason_code: Option<schema::ClosureReason>,
    /// Required for declined, rejected, on_hold, closed, withdrawn and entered_in_error.
    #[validate(custom(function = "rules::field"))]
    pub reason: Option<fields::TransitionReason>,
}

impl TransitionInput {
    /// The move, with every rule the request alone breaks reported at once.
    fn into_move(self) -> Result<Move, ApiError> {
        let to = at("/to", self.to.parse())?;
        let reason_code = at_optional("/reason_code", self.reason_code.as_ref())?;
        let reason = at_optional("/reason", self.reason.as_ref())?;
        Move::new(to, reason_code, reason).map_err(ApiError::members)
    }
}

/// Move a referral to another status.
///
/// {lifecycle.moves}
/// A move the table lacks is 409 `invalid_transition`, naming `current_status` and
/// `allowed_transitions`. Only the referring organisation's referrer may set `withdrawn`, and
/// only staff the rest (403). `active` needs an assignee (409 `assignee_required`).
/// {lifecycle.reasons}, and `closed` also needs a `reason_code` (422). Accepting sets `gp_record_code` to SNOMED CT
/// 871731000000106, declining to 871711000000103.
#[utoipa::path(
    operation_id = "transition_referral",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id"), IfMatch),
    request_body = TransitionInput,
    responses(
        (status = 200, description = "The referral in its new status", body = ReferralView,
            headers(("ETag" = String, description = "The referral's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/referrals/{id}/transitions")]
pub async fn transition_referral(
    request: AllowedJson<TransitionReferral, TransitionInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let mv = body.value.into_move()?;
    let expected = if_match.versions()?;
    if !mv.to.may_be_set_by(actor.caller.role) {
        return Err(actor.refuse(&state, ApiError::Forbidden).await);
    }
    let caller = actor.caller.clone();
    let visibility = visibility(&actor.caller)?;
    let id = id.into_inner();
    let referral = change::change(&state, actor, id, move |conn, actor| {
        let mut referral =
            expected.current(referrals::get(conn, id, visibility)?, |r| r.version)?;
        let from = referral.status;
        let assigned = referral.assignee_id.is_some();
        from.check_move(mv.to, actor.caller.role, assigned)
            .map_err(|refused| refusal(refused, mv.to))?;
        let previous = referral.version;
        let at = clock::now();
        referral.apply(mv.clone(), at);
        if !referrals::save(conn, &referral, previous)? {
            return Err(Refusal::stale().into());
        }
        referral_history::record(
            conn,
            &StatusChange {
                id: Uuid::now_v7(),
                referral_id: id,
                from: Some(from),
                to: mv.to,
                reason_code: mv.reason_code,
                reason: mv.reason.clone(),
                actor_sub: actor.caller.sub.clone(),
                actor_role: Some(actor.caller.role),
                at,
            },
        )?;
        Ok(referral)
    })
    .await?;
    Ok(wire::current(
        referral.version,
        &ReferralView::for_caller(&referral, &caller),
    ))
}

fn refusal(refused: Refused, to: linkwell_domain::ReferralStatus) -> Refusal {
    match refused {
        Refused::Forbidden => Refusal {
            error: ApiError::Forbidden,
            about: None,
            outcome: Outcome::Forbidden,
        },
        Refused::NotAllowed { from, allowed } => Refusal::conflict(ApiError::InvalidTransition {
            from: from.as_str(),
            to: to.as_str(),
            allowed: allowed.iter().map(|s| s.as_str()).collect(),
        }),
        Refused::NeedsAssignee => Refusal::conflict(ApiError::StateConflict {
            code: "assignee_required",
            detail: "assign a link worker (PUT /v1/referrals/{id}/assignee) before making the referral active".into(),
        }),
    }
}
