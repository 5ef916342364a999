//! Moving a referral through its lifecycle, and reading the moves it made.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::lifecycle::Refusal as Refused;
use linkwell_domain::{Move, StatusChange};
use linkwell_persistence::Keyset;
use linkwell_persistence::referral_history;
use linkwell_persistence::referrals;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{ReferralView, visibility};
use crate::access::{Allowed, AllowedJson, GetReferralHistory, TransitionReferral};
use crate::audit::{Outcome, Refusal};
use crate::error::{ApiError, at, at_optional};
use crate::fields;
use crate::fields::Field;
use crate::pagination::Page;
use crate::pagination::{self, PageQuery};
use crate::precondition::IfMatch;
use crate::schema::{ChangeProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{change, clock, db, rules, schema, wire};

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

/// One change of status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StatusChange)]
pub struct StatusChangeView {
    pub id: Uuid,
    /// `null` for the receipt, the first change of every referral.
    #[schema(required = true, value_type = Option<schema::ReferralStatus>)]
    pub from: Option<&'static str>,
    #[schema(value_type = schema::ReferralStatus)]
    pub to: &'static str,
    #[schema(required = true, value_type = Option<schema::ClosureReason>)]
    pub reason_code: Option<&'static str>,
    #[schema(required = true, value_type = Option<crate::fields::TransitionReason>)]
    pub reason: Option<String>,
    /// Who made it: the subject of their token (a user id for registered users), or
    /// `anonymous@ADDRESS` for a self-referral.
    #[schema(value_type = crate::schema::Subject)]
    pub by: String,
    /// The role they acted in; `null` for a member of the public (a self-referral).
    #[schema(required = true, value_type = Option<schema::Role>)]
    pub role: Option<&'static str>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
}

impl From<&StatusChange> for StatusChangeView {
    fn from(c: &StatusChange) -> Self {
        Self {
            id: c.id,
            from: c.from.map(|s| s.as_str()),
            to: c.to.as_str(),
            reason_code: c.reason_code.map(|r| r.as_str()),
            reason: c.reason.clone(),
            by: c.actor_sub.clone(),
            role: c.actor_role.map(|r| r.as_str()),
            at: c.at,
        }
    }
}

/// A page of a referral's changes of status, oldest first.
pub type StatusChangePage = Page<StatusChangeView>;

/// Read a referral's history.
///
/// Every change of status, oldest first: who made it, in which role, when, from and to which
/// status, and the reason given. The first is the referral's receipt.
#[utoipa::path(
    operation_id = "get_referral_history",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id"), PageQuery),
    responses(
        (status = 200, description = "A page of changes, oldest first", body = StatusChangePage),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals/{id}/history")]
pub async fn get_referral_history(
    allowed: Allowed<GetReferralHistory>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let id = id.into_inner();
    let limit = pagination::limit(query.limit.as_deref())?;
    let scope = format!("referral-history|{id}");
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let rows = db::run(&state, move |conn| {
        let exists = referrals::exists(conn, id)?;
        actor.record_read(conn, id, exists)?;
        if !exists {
            return Err(ApiError::NotFound);
        }
        Ok(referral_history::list(conn, id, after, limit + 1)?)
    })
    .await?;
    let (rows, next_cursor) = pagination::finish(
        rows,
        limit,
        |c| Keyset { at: c.at, id: c.id },
        &state.cursors,
        &scope,
    );
    Ok(HttpResponse::Ok().json(StatusChangePage {
        items: rows.iter().map(StatusChangeView::from).collect(),
        next_cursor,
    }))
}
