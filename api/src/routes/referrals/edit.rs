//! Correcting a referral: its summary, its reasons, and when the person was first contacted.

use actix_web::{HttpResponse, patch, web};
use chrono::{DateTime, Utc};
use linkwell_domain::{Invalid, Reasons};
use linkwell_persistence::referrals::{self, Visibility};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationErrors};

use super::ReferralView;
use crate::access::{AllowedJson, UpdateReferral};
use crate::audit::Refusal;
use crate::error::ApiError;
use crate::fields;
use crate::patch::{Member, Parsing};
use crate::precondition::IfMatch;
use crate::schema::ChangeProblems;
use crate::state::AppState;
use crate::{change, clock, schema, wire};

/// A JSON merge patch (RFC 7396) of a referral: members left out stay as they are; `null`
/// removes `summary` or `first_contact_at`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReferralPatch)]
pub struct ReferralPatch {
    #[serde(default)]
    #[schema(value_type = Option<fields::Summary>)]
    pub summary: Member<fields::Summary>,
    /// Replaces the reasons: at least one, each at most once; never `null`.
    #[serde(default)]
    #[schema(schema_with = schema::reason_set)]
    pub reasons: Member<Vec<String>>,
    /// When a link worker first reached the person (RFC 3339): not before the referral was
    /// received, not in the future.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_contact_at: Member<String>,
}

/// Checked as a whole by [`ReferralPatch::parse`], which reports every member at once.
impl Validate for ReferralPatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// A referral patch, each member parsed.
#[derive(Debug, Clone)]
struct Changes {
    summary: Member<String>,
    reasons: Member<Reasons>,
    first_contact_at: Member<DateTime<Utc>>,
}

impl ReferralPatch {
    fn parse(self) -> Result<Changes, ApiError> {
        let mut p = Parsing::default();
        let changes = Changes {
            summary: p.optional("summary", &self.summary),
            reasons: p.required_with("reasons", &self.reasons, |codes| Reasons::parse(codes)),
            first_contact_at: p.optional_with("first_contact_at", &self.first_contact_at, |text| {
                DateTime::parse_from_rfc3339(text)
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(|_| {
                        Invalid::new("date_time_format", "must be an RFC 3339 date and time")
                    })
            }),
        };
        p.finish(changes)
    }
}

/// Correct a referral.
///
/// A JSON merge patch of `summary`, `reasons` and `first_contact_at` (send
/// `application/merge-patch+json` or `application/json`); send `If-Match` with the ETag you
/// read. A patch that changes nothing returns the referral as it was.
#[utoipa::path(
    operation_id = "update_referral",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id"), IfMatch),
    request_body(content = ReferralPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The referral as corrected", body = ReferralView,
            headers(("ETag" = String, description = "The referral's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[patch("/referrals/{id}")]
pub async fn update_referral(
    request: AllowedJson<UpdateReferral, ReferralPatch>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let changes = body.value.parse()?;
    let expected = if_match.versions()?;
    let caller = actor.caller.clone();
    let id = id.into_inner();
    let referral = change::change(&state, actor, id, move |conn, _| {
        let mut referral =
            expected.current(referrals::get(conn, id, Visibility::All)?, |r| r.version)?;
        let before = referral.clone();
        let Changes {
            summary,
            reasons,
            first_contact_at,
        } = changes.clone();
        summary.merge_into(&mut referral.summary);
        reasons.replace(&mut referral.reasons);
        if let Some(at) = first_contact_at.sent() {
            referral
                .set_first_contact(at, clock::now())
                .map_err(|e| Refusal::invalid("/first_contact_at", e.code, e.message))?;
        }
        if referral != before {
            referral.touch(clock::now());
            if !referrals::save(conn, &referral, before.version)? {
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
