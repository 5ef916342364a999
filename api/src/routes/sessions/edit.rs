//! Correcting a session, or recording how it went.

use actix_web::{HttpResponse, patch, web};
use chrono::{DateTime, Utc};
use linkwell_domain::session::{self, Session};
use linkwell_domain::{SessionKind, SessionMode, SessionStatus};
use linkwell_persistence::referrals::{self, Visibility};
use linkwell_persistence::sessions;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationErrors};

use super::{SessionView, record_contact};
use crate::access::{AllowedJson, UpdateSession};
use crate::audit::Refusal;
use crate::error::ApiError;
use crate::fields;
use crate::patch::{Member, Parsing};
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
    #[serde(default)]
    #[schema(value_type = schema::OneToOneKind, required = false)]
    pub kind: Member<schema::OneToOneKind>,
    #[serde(default)]
    #[schema(value_type = schema::SessionMode, required = false)]
    pub mode: Member<schema::SessionMode>,
    #[serde(default)]
    #[schema(value_type = fields::Timestamp, required = false)]
    pub scheduled_at: Member<fields::Timestamp>,
    #[serde(default)]
    #[schema(value_type = schema::SessionStatus, required = false)]
    pub status: Member<schema::SessionStatus>,
    #[serde(default)]
    #[schema(schema_with = schema::duration)]
    pub duration_minutes: Member<i64>,
    #[serde(default)]
    #[schema(value_type = Option<fields::SessionNotes>)]
    pub notes: Member<fields::SessionNotes>,
}

/// Checked as a whole by [`SessionPatch::parse`], which reports every member at once.
impl Validate for SessionPatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// A session patch, each member parsed.
#[derive(Debug, Clone)]
struct Changes {
    kind: Member<SessionKind>,
    mode: Member<SessionMode>,
    scheduled_at: Member<DateTime<Utc>>,
    status: Member<SessionStatus>,
    duration_minutes: Member<u32>,
    notes: Member<String>,
}

impl SessionPatch {
    fn parse(&self) -> Result<Changes, ApiError> {
        let mut p = Parsing::default();
        let changes = Changes {
            kind: p.required("kind", &self.kind),
            mode: p.required("mode", &self.mode),
            scheduled_at: p.required("scheduled_at", &self.scheduled_at),
            status: p.required("status", &self.status),
            duration_minutes: p.optional_with("duration_minutes", &self.duration_minutes, |m| {
                session::duration(*m)
            }),
            notes: p.optional("notes", &self.notes),
        };
        p.finish(changes)
    }
}

impl Changes {
    fn apply(self, mut s: Session) -> Session {
        self.kind.replace(&mut s.kind);
        self.mode.replace(&mut s.mode);
        self.scheduled_at.replace(&mut s.scheduled_at);
        self.status.replace(&mut s.status);
        self.duration_minutes.merge_into(&mut s.duration_minutes);
        self.notes.merge_into(&mut s.notes);
        s
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
    let changes = body.value.parse()?;
    let expected = if_match.versions()?;
    let id = id.into_inner();
    let session = change::change(&state, actor, id, move |conn, _| {
        let before = sessions::get(conn, id)?.ok_or_else(Refusal::not_found)?;
        expected.check(before.version)?;
        let mut session = changes.clone().apply(before.clone());
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
        record_contact(conn, referral, session.contact_at())?;
        Ok(session)
    })
    .await?;
    Ok(wire::current(session.version, &SessionView::from(&session)))
}
