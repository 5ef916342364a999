//! Correcting a referral: its summary, its reasons, and when the person was first contacted.

use actix_web::{HttpResponse, patch, web};
use chrono::{DateTime, Utc};
use linkwell_domain::{Invalid, Reason, Reasons};
use linkwell_persistence::referrals::{self, Visibility};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationErrors};

use super::ReferralView;
use crate::access::{AllowedJson, UpdateReferral};
use crate::audit::Refusal;
use crate::error::{ApiError, FieldError};
use crate::extract::nullable;
use crate::fields::{self, Field};
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
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::Summary>)]
    pub summary: Option<Option<fields::Summary>>,
    /// Replaces the reasons: at least one, each at most once; never `null`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schema::reason_set)]
    pub reasons: Option<Option<Vec<String>>>,
    /// When a link worker first reached the person (RFC 3339): not before the referral was
    /// received, not in the future.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_contact_at: Option<Option<String>>,
}

/// Checked as a whole by [`ReferralPatch::parse`], which reports every member at once.
impl Validate for ReferralPatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// A patch parsed into domain values.
struct Changes {
    summary: Option<Option<String>>,
    reasons: Option<Reasons>,
    first_contact_at: Option<Option<DateTime<Utc>>>,
}

impl ReferralPatch {
    fn parse(self) -> Result<Changes, ApiError> {
        let mut errors = Vec::new();
        let mut note = |pointer: &str, e: Invalid| {
            errors.push(FieldError::at(pointer, e.code, e.message));
        };
        let summary = match self.summary {
            Some(Some(text)) => text.parse().map(|s| Some(Some(s))).unwrap_or_else(|e| {
                note("/summary", e);
                None
            }),
            Some(None) => Some(None),
            None => None,
        };
        let reasons = match self.reasons {
            Some(Some(codes)) => codes
                .iter()
                .map(|c| c.parse::<Reason>().map_err(Invalid::from))
                .collect::<Result<Vec<_>, _>>()
                .and_then(Reasons::new)
                .map_err(|e| note("/reasons", e))
                .ok(),
            Some(None) => {
                note(
                    "/reasons",
                    Invalid::new("required", "cannot be removed: a referral has reasons"),
                );
                None
            }
            None => None,
        };
        let first_contact_at = match self.first_contact_at {
            Some(Some(text)) => DateTime::parse_from_rfc3339(&text)
                .map(|at| Some(Some(at.with_timezone(&Utc))))
                .unwrap_or_else(|_| {
                    note(
                        "/first_contact_at",
                        Invalid::new("date_time_format", "must be an RFC 3339 date and time"),
                    );
                    None
                }),
            Some(None) => Some(None),
            None => None,
        };
        if errors.is_empty() {
            Ok(Changes {
                summary,
                reasons,
                first_contact_at,
            })
        } else {
            Err(ApiError::Validation(errors))
        }
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
        if let Some(summary) = &changes.summary {
            referral.summary.clone_from(summary);
        }
        if let Some(reasons) = &changes.reasons {
            referral.reasons = reasons.clone();
        }
        if let Some(at) = changes.first_contact_at {
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
