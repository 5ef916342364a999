//! Moving a connection along: the receiving organisation answers and reports progress, staff
//! cancel.

use actix_web::{HttpResponse, post, web};
use linkwell_domain::ConnectionStatus;
use linkwell_domain::connection::{Move, Mover, Refusal as Refused};
use linkwell_persistence::connections;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{ConnectionView, person_of, view, visibility};
use crate::access::{AllowedJson, TransitionConnection};
use crate::audit::{Outcome, Refusal};
use crate::error::{ApiError, at, at_optional};
use crate::fields;
use crate::fields::Field;
use crate::precondition::IfMatch;
use crate::schema::ChangeProblems;
use crate::state::AppState;
use crate::{change, clock, rules, schema, wire};

/// A requested change of a connection's status.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConnectionTransition)]
pub struct TransitionInput {
    #[validate(custom(function = "rules::field"))]
    pub to: schema::ConnectionStatus,
    /// Why, as a code from the move's own vocabulary (see `ConnectionReasonCode`); a reason
    /// (this or `reason`) is required for rejected, failed, on_hold and cancelled.
    #[validate(custom(function = "rules::field"))]
    pub reason_code: Option<schema::ConnectionReasonCode>,
    /// Why, in words.
    #[validate(custom(function = "rules::field"))]
    pub reason: Option<fields::ConnectionReason>,
    /// How it ended: required for completed and failed, and only then, from the move's own
    /// outcomes (see `ConnectionOutcome`).
    #[validate(custom(function = "rules::field"))]
    pub outcome: Option<schema::ConnectionOutcome>,
    /// Staff only: the receiving organisation's answer, recorded on its behalf (it has no
    /// login, or gave it by phone or letter): who gave it, and how. With it, staff make the
    /// receiving organisation's moves; the connection never expires unanswered from then on.
    #[validate(custom(function = "rules::field"))]
    pub recorded_on_behalf_of: Option<fields::OnBehalfOf>,
}

impl TransitionInput {
    /// The move, with every rule the request alone breaks reported at once.
    pub(crate) fn into_move(self) -> Result<Move, ApiError> {
        let to = at("/to", self.to.parse())?;
        let reason_code = at_optional("/reason_code", self.reason_code.as_ref())?;
        let outcome = at_optional("/outcome", self.outcome.as_ref())?;
        let reason = at_optional("/reason", self.reason.as_ref())?;
        Move::new(to, reason_code, reason, outcome).map_err(ApiError::members)
    }
}

pub(crate) fn refusal(refused: Refused, to: ConnectionStatus) -> Refusal {
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
    }
}

/// Move a connection to another status.
///
/// The moves: from `requested` to accepted, rejected, cancelled or expired; from `accepted` to
/// in_progress, cancelled or failed; from `in_progress` to completed, failed, on_hold or
/// cancelled; from `on_hold` to in_progress, failed or cancelled; the rest are final. The
/// receiving organisation (its `partner` tokens) sets accepted, rejected, in_progress, on_hold,
/// failed and completed; staff set cancelled; only the system sets expired (403 otherwise). A
/// move the table lacks is 409 `invalid_transition`, naming `current_status` and
/// `allowed_transitions`. A reason (`reason` or `reason_code`) is required for rejected,
/// failed, on_hold and cancelled; `outcome` for completed and failed, and only then (422).
/// Each move takes only its own reason codes and outcomes (422 at `/reason_code`,
/// `reason_code_not_applicable`, or `/outcome`, `outcome_not_applicable`): rejected takes
/// not_eligible, no_capacity, referred_elsewhere, other; failed not_eligible, no_capacity,
/// could_not_contact, no_longer_interested, services_no_longer_needed, referred_elsewhere,
/// other; on_hold person_unavailable, could_not_contact, no_capacity, other; cancelled
/// consent_withdrawn, no_longer_interested, services_no_longer_needed, referred_elsewhere,
/// other; the others none. Completing records got_help, services_no_longer_needed,
/// referred_elsewhere or other; failing any outcome but got_help. Once final, the connection
/// keeps the person's shared details as they were then, and shows those from then on.
/// A partner's request for a connection not addressed to it is 404, exactly as a missing one,
/// and changes nothing. Staff record the receiving organisation's answer on its behalf with
/// `recorded_on_behalf_of` (who gave it, and how), making its moves; from then on the
/// connection is `answered_by_staff` and never expires unanswered, as is one made with
/// `answered_by_staff` (a partner sending `recorded_on_behalf_of` is 422 `not_applicable`).
#[utoipa::path(
    operation_id = "transition_connection",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id"), IfMatch),
    request_body = TransitionInput,
    responses(
        (status = 200, description = "The connection in its new status", body = ConnectionView,
            headers(("ETag" = String, description = "The connection's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/connections/{id}/transitions")]
pub async fn transition_connection(
    request: AllowedJson<TransitionConnection, TransitionInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let on_behalf = at_optional(
        "/recorded_on_behalf_of",
        body.value.recorded_on_behalf_of.as_ref(),
    )?;
    let mv = body.value.into_move()?;
    let expected = if_match.versions()?;
    let visibility = visibility(&actor.caller)?;
    let mover = at(
        "/recorded_on_behalf_of",
        Mover::of_request(actor.caller.role, on_behalf.is_some()),
    )?
    .ok_or(ApiError::Forbidden)?;
    let id = id.into_inner();
    let view = change::change(&state, actor, id, move |conn, actor| {
        let mut connection =
            connections::get(conn, id, visibility)?.ok_or_else(Refusal::not_found)?;
        if mv.to.set_by() != Some(mover) {
            return Err(refusal(Refused::Forbidden, mv.to).into());
        }
        expected.check(connection.version)?;
        connection
            .check_move(mv.to, mover)
            .map_err(|refused| refusal(refused, mv.to))?;
        let previous = connection.version;
        let person = person_of(conn, connection.referral_id)?;
        match &on_behalf {
            Some(who) => connection.apply_on_behalf(mv.clone(), who.clone(), clock::now(), &person),
            None => connection.apply(mv.clone(), clock::now(), &person),
        }
        if !connections::save(conn, &connection, previous)? {
            return Err(Refusal::stale().into());
        }
        Ok(view(conn, &connection, &actor.caller)?)
    })
    .await?;
    Ok(wire::current(view.version, &view))
}
