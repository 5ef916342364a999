//! Notes between the link worker and the receiving organisation about a connection, both
//! ways. A note is a change to the connection: it appears in the change feed.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::connection::ConnectionNote;
use linkwell_persistence::connections;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::visibility;
use crate::access::{Allowed, AllowedJson, CreateConnectionNote, ListConnectionNotes};
use crate::audit::Refusal;
use crate::auth::Caller;
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::listing;
use crate::pagination::Page;
use crate::pagination::PageQuery;
use crate::schema::{CreateUnderProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{clock, rules, schema, wire};

/// A note to add.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewConnectionNote)]
pub struct NoteInput {
    #[validate(custom(function = "rules::field"))]
    pub text: fields::ConnectionNoteText,
}

/// A note about a connection.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConnectionNote)]
pub struct NoteView {
    pub id: Uuid,
    pub connection_id: Uuid,
    #[schema(value_type = crate::fields::ConnectionNoteText)]
    pub text: String,
    /// Who wrote it (the subject of their token): shown to staff, and to a partner for its own
    /// organisation's notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Subject>)]
    pub author: Option<String>,
    #[schema(value_type = schema::Role)]
    pub author_role: &'static str,
    /// The organisation a partner wrote for; `null` for the service's staff.
    #[schema(required = true)]
    pub author_org_id: Option<Uuid>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

impl NoteView {
    pub(crate) fn new(n: &ConnectionNote, caller: &Caller) -> Self {
        let theirs =
            caller.role.is_staff() || (caller.org.is_some() && n.author_org_id == caller.org);
        Self {
            id: n.id,
            connection_id: n.connection_id,
            text: n.text.clone(),
            author: theirs.then(|| n.author_sub.clone()),
            author_role: n.author_role.as_str(),
            author_org_id: n.author_org_id,
            created_at: n.created_at,
        }
    }
}

/// A page of notes, oldest first.
pub type ConnectionNotePage = Page<NoteView>;

/// Add a note to a connection.
///
/// Staff and the receiving organisation write to each other here, at any status, until the
/// referral is anonymised at the end of its retention (409 `referral_anonymised`). The note
/// is a change to the connection (a new version, `last_note_at`), so it appears in the
/// change feed.
#[utoipa::path(
    operation_id = "create_connection_note",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id"), IdempotencyKey),
    request_body = NoteInput,
    responses(
        Created<NoteView>,
        CreateUnderProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/connections/{id}/notes")]
pub async fn create_connection_note(
    request: AllowedJson<CreateConnectionNote, NoteInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let text = at("/text", body.value.text.parse())?;
    let visibility = visibility(&actor.caller)?;
    let connection_id = id.into_inner();
    create::create(&state, actor, key, &body.raw, move |conn, actor| {
        connections::get(conn, connection_id, visibility)?.ok_or_else(|| Refusal {
            about: Some(connection_id),
            ..Refusal::not_found()
        })?;
        let note = ConnectionNote {
            id: Uuid::now_v7(),
            connection_id,
            text: text.clone(),
            author_sub: actor.caller.sub.clone(),
            author_role: actor.caller.role,
            author_org_id: actor.caller.org.filter(|_| !actor.caller.role.is_staff()),
            created_at: clock::now(),
        };
        connections::insert_note(conn, &note)?;
        connections::noted(conn, connection_id, note.created_at)?;
        Ok(Made::new(
            note.id,
            Some(format!("/v1/connections/{connection_id}/notes")),
            None,
            &NoteView::new(&note, &actor.caller),
        )?)
    })
    .await
}

/// List a connection's notes, oldest first.
#[utoipa::path(
    operation_id = "list_connection_notes",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id"), PageQuery),
    responses(
        (status = 200, description = "A page of notes", body = ConnectionNotePage),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/connections/{id}/notes")]
pub async fn list_connection_notes(
    allowed: Allowed<ListConnectionNotes>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = allowed.actor.caller.clone();
    let visibility = visibility(&caller)?;
    let connection_id = id.into_inner();
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("connection-notes", connection_id),
        &query,
        move |conn| Ok(connections::get(conn, connection_id, visibility)?.is_some()),
        move |conn, w| connections::notes(conn, connection_id, w.after, w.limit),
        |_, _, _| Ok(()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(ConnectionNotePage {
        items: page
            .rows
            .iter()
            .map(|n| NoteView::new(n, &caller))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

impl Creatable for NoteView {
    const SAYS: &'static str = "Note added";
    const NOUN: &'static str = "note";
    const VERSIONED: bool = false;
}
