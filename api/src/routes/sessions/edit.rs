//! Correcting a session, or recording how it went.

use actix_web::{HttpResponse, patch, web};
use linkwell_domain::session;
use linkwell_persistence::referrals::{self, Visibility};
use linkwell_persistence::sessions;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationErrors};

use super::{SessionView, record_contact};
use crate::access::{AllowedJson, UpdateSession};
use crate::audit::Refusal;
use crate::error::{ApiError, FieldError};
use crate::extract::{nullable, present};
use crate::fields::{self, Field};
use crate::precondition::IfMatch;
use crate::schema::ChangeProblems;
use crate::state::AppState;
use crate::{change, clock, schema, wire};

/// A JSON merge patch (RFC 7396) of a session: members left out stay as they are; `null`
/// removes `duration_minutes` or `notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SessionPatch)]
pub struct SessionPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = schema::SessionKind, required = false)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = schema::SessionMode, required = false)]
    pub mode: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = fields::Timestamp, required = false)]
    pub scheduled_at: Option<fields::Timestamp>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = schema::SessionStatus, required = false)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = schema::duration)]
    pub duration_minutes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::SessionNotes>)]
    pub notes: Option<Option<fields::SessionNotes>>,
}

/// Checked as a whole by [`SessionPatch::apply`], which reports every member at once.
impl Validate for SessionPatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

impl SessionPatch {
    /// `session` with the members sent, or every member that breaks its own rule.
    fn apply(&self, mut s: session::Session) -> Result<session::Session, ApiError> {
        let mut errors = Vec::new();
        let mut note = |member: &str, e: linkwell_domain::Invalid| {
            errors.push(FieldError::at(format!("/{member}"), e.code, e.message));
        };
        fn code<T: std::str::FromStr<Err = linkwell_domain::UnknownCode>>(
            v: &str,
        ) -> Result<T, linkwell_domain::Invalid> {
            v.parse().map_err(linkwell_domain::Invalid::from)
        }
        if let Some(kind) = &self.kind {
            code(kind)
                .map(|k| s.kind = k)
                .unwrap_or_else(|e| note("kind", e));
        }
        if let Some(mode) = &self.mode {
            code(mode)
                .map(|m| s.mode = m)
                .unwrap_or_else(|e| note("mode", e));
        }
        if let Some(status) = &self.status {
            code(status)
                .map(|x| s.status = x)
                .unwrap_or_else(|e| note("status", e));
        }
        if let Some(at) = &self.scheduled_at {
            at.parse()
                .map(|t| s.scheduled_at = t)
                .unwrap_or_else(|e| note("scheduled_at", e));
        }
        match self.duration_minutes {
            Some(Some(m)) => session::duration(m)
                .map(|m| s.duration_minutes = Some(m))
                .unwrap_or_else(|e| note("duration_minutes", e)),
            Some(None) => s.duration_minutes = None,
            None => {}
        }
        match &self.notes {
            Some(Some(text)) => text
                .parse()
                .map(|t| s.notes = Some(t))
                .unwrap_or_else(|e| note("notes", e)),
            Some(None) => s.notes = None,
            None => {}
        }
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// Correct a session, or record how it went.
///
/// A JSON merge patch; send `If-Match` with the ETag you read. Marking it `attended` needs
/// `duration_minutes` and a time not in the future; the first attended session sets the
/// referral's `first_contact_at` when it has none.
#[utoipa::path(
    operation_id = "update_session",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id"), IfMatch),
    request_body(content = SessionPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The session as corrected", body = SessionView,
            headers(("ETag" = String, description = "The session's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[patch("/sessions/{id}")]
pub async fn update_session(
    request: AllowedJson<UpdateSession, SessionPatch>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let patch = body.value;
    let expected = if_match.versions()?;
    let id = id.into_inner();
    let session = change::change(&state, actor, id, move |conn, _| {
        let before = sessions::get(conn, id)?.ok_or_else(Refusal::not_found)?;
        // A broken body is refused (422) whatever the version it names.
        let mut session = patch.apply(before.clone())?;
        expected.check(before.version)?;
        if session == before {
            return Ok(session);
        }
        let referral = referrals::get(conn, session.referral_id, Visibility::All)?
            .ok_or_else(|| ApiError::Internal("a session's referral vanished".into()))?;
        session
            .check(referral.received_at, clock::now())
            .map_err(Refusal::broken)?;
        session.touch(clock::now());
        if !sessions::save(conn, &session, before.version)? {
            return Err(Refusal::stale().into());
        }
        record_contact(conn, referral, &session)?;
        Ok(session)
    })
    .await?;
    Ok(wire::current(session.version, &SessionView::from(&session)))
}
