//! Sessions: the link worker's contacts with the person under a referral. Staff only. The
//! first attended session records the referral's first contact.

mod edit;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::session::{self, Session};
use linkwell_domain::{
    Attendance, Attendee, GroupSession, GroupSessionStatus, Referral, SessionKind, SessionStatus,
};
use linkwell_persistence::referrals;
use linkwell_persistence::{DbConnection, Keyset, StoreResult, Tx, group_sessions, sessions};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

pub use edit::update_session;

use crate::access::{Allowed, AllowedJson, CreateSession, GetSession, ListReferralSessions};
use crate::audit::{Refusal, Stop};
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at, at_optional};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::listing::Listed;
use crate::pagination::Page;
use crate::pagination::PageQuery;
use crate::schema::{CreateUnderProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{clock, db, listing, rules, schema, wire};

/// A session to record.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewSession)]
pub struct SessionInput {
    #[validate(custom(function = "rules::field"))]
    pub kind: schema::OneToOneKind,
    #[validate(custom(function = "rules::field"))]
    pub mode: schema::SessionMode,
    /// When it is, or was.
    #[validate(custom(function = "rules::field"))]
    pub scheduled_at: fields::Timestamp,
    /// `scheduled` when left out.
    #[validate(custom(function = "rules::field"))]
    pub status: Option<schema::SessionStatus>,
    #[validate(custom(function = "rules::duration"))]
    #[schema(schema_with = schema::duration)]
    pub duration_minutes: Option<i64>,
    #[validate(custom(function = "rules::field"))]
    pub notes: Option<fields::SessionNotes>,
}

/// A session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionView {
    pub id: Uuid,
    pub referral_id: Uuid,
    #[schema(value_type = schema::SessionKind)]
    pub kind: &'static str,
    #[schema(value_type = schema::SessionMode)]
    pub mode: &'static str,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_at: DateTime<Utc>,
    #[schema(value_type = schema::SessionStatus)]
    pub status: &'static str,
    #[schema(required = true, minimum = 1, maximum = 480)]
    pub duration_minutes: Option<u32>,
    #[schema(required = true, value_type = Option<crate::fields::SessionNotes>)]
    pub notes: Option<String>,
    /// Who recorded it: the subject of their token.
    #[schema(value_type = crate::schema::Subject)]
    pub created_by: String,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Grows by one with every change; also the `ETag`.
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
    /// The group session this is the person's place on (`kind` `group`): its time, mode and
    /// length are the group's, its status the person's attendance, its id the place's.
    /// `null` for the person's own sessions.
    #[schema(required = true)]
    pub group_session_id: Option<Uuid>,
}

impl From<&Session> for SessionView {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id,
            referral_id: s.referral_id,
            kind: s.kind.as_str(),
            mode: s.mode.as_str(),
            scheduled_at: s.scheduled_at,
            status: s.status.as_str(),
            duration_minutes: s.duration_minutes,
            notes: s.notes.clone(),
            created_by: s.created_by.clone(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
            group_session_id: None,
        }
    }
}

/// One of a referral's sessions as its list shows them: the person's own, or their place on
/// a group session.
#[derive(Debug)]
pub(crate) enum SessionItem {
    Own(Session),
    Group(Attendee, GroupSession),
}

impl Listed for SessionItem {
    fn keyset(&self) -> Keyset {
        let (at, id) = match self {
            SessionItem::Own(s) => (s.created_at, s.id),
            SessionItem::Group(a, _) => (a.created_at, a.id),
        };
        Keyset { at, id }
    }

    fn id(&self) -> Uuid {
        self.keyset().id
    }
}

impl From<&SessionItem> for SessionView {
    fn from(item: &SessionItem) -> Self {
        match item {
            SessionItem::Own(s) => SessionView::from(s),
            SessionItem::Group(a, g) => SessionView {
                id: a.id,
                referral_id: a.referral_id,
                kind: SessionKind::Group.as_str(),
                mode: g.mode.as_str(),
                scheduled_at: g.scheduled_at,
                status: match (g.status, a.attendance) {
                    (GroupSessionStatus::Cancelled, _) => SessionStatus::CancelledByService,
                    (_, Attendance::Booked) => SessionStatus::Scheduled,
                    (_, Attendance::Attended) => SessionStatus::Attended,
                    (_, Attendance::DidNotAttend) => SessionStatus::DidNotAttend,
                }
                .as_str(),
                duration_minutes: g
                    .duration_minutes
                    .filter(|_| a.attendance == Attendance::Attended),
                notes: None,
                created_by: a.created_by.clone(),
                created_at: a.created_at,
                updated_at: a.updated_at,
                version: a.version,
                group_session_id: Some(g.id),
            },
        }
    }
}

/// A page of referral `referral_id`'s sessions, its own and its places on group sessions
/// merged, in the order they were recorded, after `after`.
pub(crate) fn sessions_of(
    conn: &mut DbConnection,
    referral_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<SessionItem>> {
    let mut items: Vec<SessionItem> = sessions::for_referral(conn, referral_id, after, limit)?
        .into_iter()
        .map(SessionItem::Own)
        .chain(
            group_sessions::for_referral(conn, referral_id, after, limit)?
                .into_iter()
                .map(|(a, g)| SessionItem::Group(a, g)),
        )
        .collect();
    items.sort_by_key(|item| {
        let k = item.keyset();
        (k.at, k.id)
    });
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(items)
}

/// A page of sessions.
pub type SessionPage = Page<SessionView>;

/// The first attended session (its own, or a group's) is the referral's first contact, if
/// none is recorded yet.
pub(crate) fn record_contact(
    conn: &mut Tx<'_>,
    mut referral: Referral,
    contact_at: Option<DateTime<Utc>>,
) -> Result<(), Stop> {
    let (Some(at), None) = (contact_at, referral.first_contact_at) else {
        return Ok(());
    };
    let previous = referral.version;
    referral.first_contact_at = Some(at);
    referral.touch(clock::now());
    if !referrals::save(conn, &referral, previous)? {
        // The referral changed since it was read in this transaction: retry it whole.
        return Err(ApiError::Conflict("the referral changed meanwhile; try again".into()).into());
    }
    Ok(())
}

/// Record a session.
///
/// Only while the referral is accepted, active or on hold (409 `referral_not_open`). A group
/// is not recorded here (422 `group_session`): it is recorded once at `/v1/group-sessions`,
/// with a place per person, and shows in the person's sessions from there. An attended session needs `duration_minutes` and cannot be in the future; none can be before
/// the referral was received (422). The first attended session sets the referral's
/// `first_contact_at` when it has none.
#[utoipa::path(
    operation_id = "create_session",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The referral's id"), IdempotencyKey),
    request_body = SessionInput,
    responses(
        Created<SessionView>,
        CreateUnderProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/referrals/{id}/sessions")]
pub async fn create_session(
    request: AllowedJson<CreateSession, SessionInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let referral_id = id.into_inner();
    let now = clock::now();
    let status = at_optional("/status", input.status.as_ref())?.unwrap_or(SessionStatus::Scheduled);
    let new = Session {
        id: Uuid::now_v7(),
        referral_id,
        kind: at("/kind", input.kind.parse())?,
        mode: at("/mode", input.mode.parse())?,
        scheduled_at: at("/scheduled_at", input.scheduled_at.parse())?,
        status,
        duration_minutes: at(
            "/duration_minutes",
            input.duration_minutes.map(session::duration).transpose(),
        )?,
        notes: at_optional("/notes", input.notes.as_ref())?,
        created_by: actor.caller.sub.clone(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    create::create(&state, actor, key, &body.raw, move |conn, _| {
        let referral = crate::routes::referrals::engaged(conn, referral_id, "sessions")?;
        new.check(referral.received_at, clock::now())
            .map_err(Refusal::broken)?;
        sessions::insert(conn, &new)?;
        record_contact(conn, referral, new.contact_at())?;
        let location = format!("/v1/sessions/{}", new.id);
        Ok(Made::new(
            new.id,
            Some(location),
            Some(new.version),
            &SessionView::from(&new),
        )?)
    })
    .await
}

/// List a referral's sessions, in the order they were recorded.
#[utoipa::path(
    operation_id = "list_referral_sessions",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The referral's id"), PageQuery),
    responses(
        (status = 200, description = "A page of sessions", body = SessionPage),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals/{id}/sessions")]
pub async fn list_referral_sessions(
    allowed: Allowed<ListReferralSessions>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let referral_id = id.into_inner();
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("sessions", referral_id),
        &query,
        move |conn| referrals::exists(conn, referral_id),
        move |conn, w| sessions_of(conn, referral_id, w.after, w.limit),
        |_, _, _| Ok(()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(SessionPage {
        items: page.rows.iter().map(SessionView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Read one session.
#[utoipa::path(
    operation_id = "get_session",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session", body = SessionView,
            headers(("ETag" = String, description = "The session's version"))),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/sessions/{id}")]
pub async fn get_session(
    allowed: Allowed<GetSession>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let id = id.into_inner();
    let found = db::run(&state, move |conn| {
        let found = sessions::get(conn, id)?;
        actor.record_read(conn, id, found.is_some())?;
        Ok(found)
    })
    .await?;
    let session = found.ok_or(ApiError::NotFound)?;
    Ok(wire::current(session.version, &SessionView::from(&session)))
}

impl Creatable for SessionView {
    const SAYS: &'static str = "Session recorded";
    const NOUN: &'static str = "session";
}
