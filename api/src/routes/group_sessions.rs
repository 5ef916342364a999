//! Group sessions (LifeLink's group work): recorded once, with the link workers who run it and
//! the people booked on it by referral. Marking who came sets each person's first contact as
//! a one-to-one session does, and shows in their referral's sessions. Staff only; the places
//! (who was booked, who came) are personal data and audited.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use linkwell_domain::group_session::{self, Attendee, GroupSession, MAX_ATTENDEES};
use linkwell_domain::{Attendance, GroupSessionKind, GroupSessionStatus, SessionMode, privacy};
use linkwell_persistence::erasure::{self, Standing};
use linkwell_persistence::referrals::{self, Visibility};
use linkwell_persistence::{DbConnection, group_sessions, users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationErrors};

use crate::access::{
    AddGroupAttendee, Allowed, AllowedJson, CreateGroupSession, GetGroupSession,
    ListGroupAttendees, ListGroupSessions, MarkGroupAttendance, RemoveGroupAttendee,
    UpdateGroupSession,
};
use crate::audit::{Refusal, Stop};
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at, at_optional};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::listing;
use crate::pagination::{Page, PageQuery};
use crate::patch::{Member, Parsing};
use crate::precondition::IfMatch;
use crate::routes::referrals::engaged;
use crate::routes::sessions::record_contact;
use crate::schema::{
    ActionProblems, ChangeProblems, CreateProblems, CreateUnderProblems, ListProblems,
    ReadProblems, SetProblems,
};
use crate::state::AppState;
use crate::{change, clock, db, rules, schema, wire};

/// A group session to record.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewGroupSession)]
pub struct GroupSessionInput {
    #[validate(custom(function = "rules::field"))]
    pub kind: schema::GroupSessionKind,
    #[validate(custom(function = "rules::field"))]
    pub mode: schema::SessionMode,
    #[validate(custom(function = "rules::field"))]
    pub scheduled_at: fields::Timestamp,
    #[validate(custom(function = "rules::facilitators"))]
    #[schema(schema_with = schema::facilitators)]
    pub facilitators: Vec<Uuid>,
    #[validate(custom(function = "rules::field"))]
    pub title: fields::GroupSessionTitle,
    /// `scheduled` when left out; `held` records one that has happened (with its length).
    #[validate(custom(function = "rules::field"))]
    pub status: Option<schema::GroupSessionStatus>,
    #[validate(custom(function = "rules::duration"))]
    #[schema(schema_with = group_duration)]
    pub duration_minutes: Option<i64>,
}

fn group_duration() -> utoipa::openapi::schema::ObjectBuilder {
    schema::duration().description(Some("Whole minutes; required once the session is held."))
}

/// A group session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = GroupSession)]
pub struct GroupSessionView {
    pub id: Uuid,
    #[schema(value_type = schema::GroupSessionKind)]
    pub kind: &'static str,
    #[schema(value_type = schema::SessionMode)]
    pub mode: &'static str,
    #[schema(value_type = crate::fields::GroupSessionTitle)]
    pub title: String,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_at: DateTime<Utc>,
    /// The link workers who run it, in the order given.
    #[schema(min_items = 1, max_items = 10)]
    pub facilitators: Vec<Uuid>,
    #[schema(value_type = schema::GroupSessionStatus)]
    pub status: &'static str,
    #[schema(required = true, minimum = 1, maximum = 480)]
    pub duration_minutes: Option<u32>,
    /// Staff time it took: its length once per facilitator, once held (0 before).
    #[schema(minimum = 0, maximum = 4800)]
    pub staff_minutes: i64,
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
}

impl From<&GroupSession> for GroupSessionView {
    fn from(g: &GroupSession) -> Self {
        Self {
            id: g.id,
            kind: g.kind.as_str(),
            mode: g.mode.as_str(),
            title: g.title.clone(),
            scheduled_at: g.scheduled_at,
            facilitators: g.facilitators.clone(),
            status: g.status.as_str(),
            duration_minutes: g.duration_minutes,
            staff_minutes: g.staff_minutes(),
            created_by: g.created_by.clone(),
            created_at: g.created_at,
            updated_at: g.updated_at,
            version: g.version,
        }
    }
}

/// A page of group sessions, newest first.
pub type GroupSessionPage = Page<GroupSessionView>;

impl Creatable for GroupSessionView {
    const SAYS: &'static str = "Group session recorded";
    const NOUN: &'static str = "group session";
    const VERSIONED: bool = true;
}

/// Facilitators must be active link workers: the first who is not, refused at its index.
fn check_facilitators(conn: &mut DbConnection, ids: &[Uuid]) -> Result<(), Stop> {
    for (i, id) in ids.iter().enumerate() {
        let pointer = format!("/facilitators/{i}");
        let user = users::get(conn, *id)?
            .ok_or_else(|| Refusal::invalid(&pointer, "unknown_user", "names no user"))?;
        if !user.can_hold_caseload() {
            return Err(Refusal::invalid(
                &pointer,
                "not_a_coordinator",
                "a group is run by active link workers (coordinators)",
            )
            .into());
        }
    }
    Ok(())
}

/// Record a group session.
///
/// Once, however many come: people are booked on it by referral at `/attendees`. Facilitators
/// are active link workers (422 `unknown_user`, `not_a_coordinator` at their index). Recorded
/// `held`, it needs `duration_minutes` and a time not in the future.
#[utoipa::path(
    operation_id = "create_group_session",
    tag = "group-sessions",
    params(IdempotencyKey),
    request_body = GroupSessionInput,
    responses(Created<GroupSessionView>, CreateProblems),
    security(("bearer" = [])),
)]
#[post("/group-sessions")]
pub async fn create_group_session(
    request: AllowedJson<CreateGroupSession, GroupSessionInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let now = clock::now();
    let group = GroupSession {
        id: Uuid::now_v7(),
        kind: at("/kind", input.kind.parse())?,
        mode: at("/mode", input.mode.parse())?,
        title: at("/title", input.title.parse())?,
        scheduled_at: at("/scheduled_at", input.scheduled_at.parse())?,
        facilitators: at(
            "/facilitators",
            group_session::facilitators(&input.facilitators),
        )?,
        status: at_optional("/status", input.status.as_ref())?
            .unwrap_or(GroupSessionStatus::Scheduled),
        duration_minutes: at(
            "/duration_minutes",
            input
                .duration_minutes
                .map(linkwell_domain::session::duration)
                .transpose(),
        )?,
        created_by: actor.caller.sub.clone(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    if group.status == GroupSessionStatus::Cancelled {
        return Err(ApiError::Validation(vec![crate::error::FieldError::at(
            "/status",
            "not_allowed",
            "a group session is recorded scheduled or held",
        )]));
    }
    create::create(&state, actor, key, &body.raw, move |conn, _| {
        group.check(clock::now()).map_err(Refusal::broken)?;
        check_facilitators(conn, &group.facilitators)?;
        group_sessions::insert(conn, &group)?;
        Ok(Made::new(
            group.id,
            Some(format!("/v1/group-sessions/{}", group.id)),
            Some(group.version),
            &GroupSessionView::from(&group),
        )?)
    })
    .await
}

/// List group sessions, newest first.
#[utoipa::path(
    operation_id = "list_group_sessions",
    tag = "group-sessions",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of group sessions", body = GroupSessionPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/group-sessions")]
pub async fn list_group_sessions(
    _allowed: Allowed<ListGroupSessions>,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (rows, next_cursor) =
        listing::top_level(&state, "group-sessions".into(), &query, |conn, w| {
            Ok(group_sessions::list(conn, w.after, w.limit)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(GroupSessionPage {
        items: rows.iter().map(GroupSessionView::from).collect(),
        next_cursor,
    }))
}

/// Read one group session.
#[utoipa::path(
    operation_id = "get_group_session",
    tag = "group-sessions",
    params(("id" = Uuid, Path, description = "The group session's id")),
    responses(
        (status = 200, description = "The group session", body = GroupSessionView,
            headers(("ETag" = String, description = "The group session's version"))),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/group-sessions/{id}")]
pub async fn get_group_session(
    _allowed: Allowed<GetGroupSession>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let group = db::run(&state, move |conn| {
        Ok(group_sessions::get(conn, id, false)?)
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(wire::current(
        group.version,
        &GroupSessionView::from(&group),
    ))
}

/// A JSON merge patch (RFC 7396) of a group session: members left out stay as they are;
/// `null` removes `duration_minutes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GroupSessionPatch)]
pub struct GroupSessionPatch {
    #[serde(default)]
    #[schema(value_type = schema::GroupSessionKind, required = false)]
    pub kind: Member<schema::GroupSessionKind>,
    #[serde(default)]
    #[schema(value_type = schema::SessionMode, required = false)]
    pub mode: Member<schema::SessionMode>,
    #[serde(default)]
    #[schema(value_type = fields::Timestamp, required = false)]
    pub scheduled_at: Member<fields::Timestamp>,
    #[serde(default)]
    #[schema(value_type = fields::GroupSessionTitle, required = false)]
    pub title: Member<fields::GroupSessionTitle>,
    #[serde(default)]
    #[schema(schema_with = schema::facilitators, required = false)]
    pub facilitators: Member<Vec<Uuid>>,
    #[serde(default)]
    #[schema(value_type = schema::GroupSessionStatus, required = false)]
    pub status: Member<schema::GroupSessionStatus>,
    #[serde(default)]
    #[schema(schema_with = group_duration)]
    pub duration_minutes: Member<i64>,
}

/// Checked as a whole by [`GroupSessionPatch::parse`], which reports every member at once.
impl Validate for GroupSessionPatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// A group session patch, each member parsed.
#[derive(Debug, Clone)]
struct Changes {
    kind: Member<GroupSessionKind>,
    mode: Member<SessionMode>,
    scheduled_at: Member<DateTime<Utc>>,
    title: Member<String>,
    facilitators: Member<Vec<Uuid>>,
    status: Member<GroupSessionStatus>,
    duration_minutes: Member<u32>,
}

impl GroupSessionPatch {
    fn parse(&self) -> Result<Changes, ApiError> {
        let mut p = Parsing::default();
        let changes = Changes {
            kind: p.required("kind", &self.kind),
            mode: p.required("mode", &self.mode),
            scheduled_at: p.required("scheduled_at", &self.scheduled_at),
            title: p.required("title", &self.title),
            facilitators: p.required_with("facilitators", &self.facilitators, |ids| {
                group_session::facilitators(ids)
            }),
            status: p.required("status", &self.status),
            duration_minutes: p.optional_with("duration_minutes", &self.duration_minutes, |m| {
                linkwell_domain::session::duration(*m)
            }),
        };
        p.finish(changes)
    }
}

impl Changes {
    fn apply(self, mut g: GroupSession) -> GroupSession {
        self.kind.replace(&mut g.kind);
        self.mode.replace(&mut g.mode);
        self.scheduled_at.replace(&mut g.scheduled_at);
        self.title.replace(&mut g.title);
        self.facilitators.replace(&mut g.facilitators);
        self.status.replace(&mut g.status);
        self.duration_minutes.merge_into(&mut g.duration_minutes);
        g
    }
}

/// Correct a group session, or record that it was held or cancelled.
///
/// A JSON merge patch; send `If-Match` with the ETag you read. `scheduled` moves once, to
/// `held` (with `duration_minutes`, at a time not in the future) or `cancelled` (409
/// `invalid_transition` otherwise). Once held or cancelled its time, kind and mode stay (409
/// `group_session_final`); its title, length and facilitators may still be corrected.
#[utoipa::path(
    operation_id = "update_group_session",
    tag = "group-sessions",
    params(("id" = Uuid, Path, description = "The group session's id"), IfMatch),
    request_body(content = GroupSessionPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The group session as corrected", body = GroupSessionView,
            headers(("ETag" = String, description = "The group session's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[patch("/group-sessions/{id}")]
pub async fn update_group_session(
    request: AllowedJson<UpdateGroupSession, GroupSessionPatch>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let changes = body.value.parse()?;
    let expected = if_match.versions()?;
    let id = id.into_inner();
    let group = change::change(&state, actor, id, move |conn, _| {
        let before = group_sessions::get(conn, id, true)?.ok_or_else(Refusal::not_found)?;
        expected.check(before.version)?;
        let mut group = changes.clone().apply(before.clone());
        if group == before {
            return Ok(group);
        }
        before.may_become(&group).map_err(Refusal::state)?;
        group.check(clock::now()).map_err(Refusal::broken)?;
        if group.facilitators != before.facilitators {
            check_facilitators(conn, &group.facilitators)?;
        }
        group.updated_at = clock::now();
        group.version += 1;
        if !group_sessions::save(conn, &group, before.version)? {
            return Err(Refusal::stale().into());
        }
        Ok(group)
    })
    .await?;
    Ok(wire::current(
        group.version,
        &GroupSessionView::from(&group),
    ))
}

/// A person to book on a group session.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewGroupAttendee)]
pub struct AttendeeInput {
    /// The person's referral: accepted, active or on hold.
    pub referral_id: Uuid,
}

/// A person's place on a group session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = GroupAttendee)]
pub struct AttendeeView {
    pub id: Uuid,
    pub group_session_id: Uuid,
    pub referral_id: Uuid,
    #[schema(value_type = schema::Attendance)]
    pub attendance: &'static str,
    #[schema(value_type = crate::schema::Subject)]
    pub created_by: String,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Grows by one with every change.
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
}

impl From<&Attendee> for AttendeeView {
    fn from(a: &Attendee) -> Self {
        Self {
            id: a.id,
            group_session_id: a.group_session_id,
            referral_id: a.referral_id,
            attendance: a.attendance.as_str(),
            created_by: a.created_by.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            version: a.version,
        }
    }
}

/// A page of the people booked on a group session, in the order they were booked.
pub type GroupAttendeePage = Page<AttendeeView>;

impl Creatable for AttendeeView {
    const SAYS: &'static str = "Booked";
    const NOUN: &'static str = "place";
    const VERSIONED: bool = false;
}

/// Book a person on a group session, by their referral.
///
/// The referral must be accepted, active or on hold (422 `unknown_referral` when there is
/// none, 409 `referral_not_open`); the session not cancelled (409
/// `group_session_cancelled`), not before the referral was received (409 `before_received`)
/// nor full (409 `group_session_full`, at 200 places). A referral already booked is 409
/// `duplicate`, naming its place. The place shows in the referral's sessions as a `group`
/// session.
#[utoipa::path(
    operation_id = "add_group_attendee",
    tag = "group-sessions",
    params(("id" = Uuid, Path, description = "The group session's id"), IdempotencyKey),
    request_body = AttendeeInput,
    responses(Created<AttendeeView>, CreateUnderProblems),
    security(("bearer" = [])),
)]
#[post("/group-sessions/{id}/attendees")]
pub async fn add_group_attendee(
    request: AllowedJson<AddGroupAttendee, AttendeeInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let referral_id = body.value.referral_id;
    let group_id = id.into_inner();
    create::create(&state, actor, key, &body.raw, move |conn, actor| {
        let missing = || Refusal {
            about: Some(group_id),
            ..Refusal::not_found()
        };
        group_sessions::get(conn, group_id, false)?.ok_or_else(missing)?;
        let unknown = || Refusal::invalid("/referral_id", "unknown_referral", "names no referral");
        if !referrals::exists(conn, referral_id)? {
            return Err(unknown().into());
        }
        // The referral first, then the group, as marking and removing a place lock them: its
        // status then holds until the place is written.
        match erasure::standing_locked(conn, "referral", referral_id)? {
            Standing::Current => {}
            // As if it never was: answered as a referral that does not exist.
            Standing::Erased => return Err(unknown().into()),
            Standing::Anonymised => return Err(Refusal::state(privacy::anonymised()).into()),
        }
        let referral = engaged(conn, referral_id, "group sessions")?;
        let group = group_sessions::get(conn, group_id, true)?.ok_or_else(missing)?;
        group
            .may_mark(Attendance::Booked, referral.received_at)
            .map_err(Refusal::state)?;
        if let Some(place) = group_sessions::attendee(conn, group_id, referral_id)? {
            let detail = format!(
                "the referral is already booked on this group session: {}",
                place.id
            );
            return Err(Refusal::duplicate(place.id, detail).into());
        }
        if group_sessions::count_attendees(conn, group_id)? >= MAX_ATTENDEES {
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "group_session_full",
                detail: format!("a group session holds at most {MAX_ATTENDEES} places"),
            })
            .into());
        }
        let now = clock::now();
        let place = Attendee {
            id: Uuid::now_v7(),
            group_session_id: group_id,
            referral_id,
            attendance: Attendance::Booked,
            created_by: actor.caller.sub.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        group_sessions::insert_attendee(conn, &place)?;
        Ok(Made::new(
            place.id,
            Some(format!("/v1/group-sessions/{group_id}/attendees")),
            None,
            &AttendeeView::from(&place),
        )?
        .concerning(referral.person_id, Some(referral_id)))
    })
    .await
}

/// List the people booked on a group session, in the order they were booked.
///
/// An erased person's place is left out.
#[utoipa::path(
    operation_id = "list_group_attendees",
    tag = "group-sessions",
    params(("id" = Uuid, Path, description = "The group session's id"), PageQuery),
    responses(
        (status = 200, description = "A page of places", body = GroupAttendeePage),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/group-sessions/{id}/attendees")]
pub async fn list_group_attendees(
    allowed: Allowed<ListGroupAttendees>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let group_id = id.into_inner();
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("group-attendees", group_id),
        &query,
        move |conn| Ok(group_sessions::get(conn, group_id, false)?.is_some()),
        move |conn, w| group_sessions::attendees(conn, group_id, w.after, w.limit),
        |_, _, _| Ok(()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(GroupAttendeePage {
        items: page.rows.iter().map(AttendeeView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Whether a booked person came.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GroupAttendanceInput)]
pub struct AttendanceInput {
    #[validate(custom(function = "rules::field"))]
    pub attendance: schema::Attendance,
}

/// Mark whether a person booked on a group session came.
///
/// `attended` or `did_not_attend` once the session is recorded held (409
/// `group_session_not_held`); `booked` puts a mark back. Never on a cancelled session (409
/// `group_session_cancelled`), nor on one before the referral was received (409
/// `before_received`). 404 when the referral is not booked on it. Marking the same again
/// changes nothing. The first attended session, one-to-one or group, sets the referral's
/// `first_contact_at` when it has none.
#[utoipa::path(
    operation_id = "mark_group_attendance",
    tag = "group-sessions",
    params(
        ("id" = Uuid, Path, description = "The group session's id"),
        ("referral_id" = Uuid, Path, description = "The booked person's referral"),
    ),
    request_body = AttendanceInput,
    responses(
        (status = 200, description = "The place as marked", body = AttendeeView,
            headers(("ETag" = String, description = "The place's version"))),
        SetProblems,
    ),
    security(("bearer" = [])),
)]
#[put("/group-sessions/{id}/attendees/{referral_id}")]
pub async fn mark_group_attendance(
    request: AllowedJson<MarkGroupAttendance, AttendanceInput>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let attendance = at("/attendance", body.value.attendance.parse())?;
    let (group_id, referral_id) = path.into_inner();
    let place = change::change(&state, actor, referral_id, move |conn, _| {
        let group = group_sessions::get(conn, group_id, true)?.ok_or_else(Refusal::not_found)?;
        let mut place = group_sessions::attendee(conn, group_id, referral_id)?
            .ok_or_else(Refusal::not_found)?;
        let referral = referrals::get(conn, referral_id, Visibility::All)?
            .ok_or_else(|| ApiError::Internal("a place's referral vanished".into()))?;
        group
            .may_mark(attendance, referral.received_at)
            .map_err(Refusal::state)?;
        if place.attendance == attendance {
            return Ok(place);
        }
        place.attendance = attendance;
        place.updated_at = clock::now();
        place.version += 1;
        group_sessions::save_attendee(conn, &place)?;
        record_contact(conn, referral, group.contact_at(attendance))?;
        Ok(place)
    })
    .await?;
    Ok(wire::current(place.version, &AttendeeView::from(&place)))
}

/// Take a person off a group session.
///
/// Only while their place is `booked`: a marked attendance is part of the record (409
/// `attendance_marked`; mark it `booked` first to correct it). 404 when not booked on it.
#[utoipa::path(
    operation_id = "remove_group_attendee",
    tag = "group-sessions",
    params(
        ("id" = Uuid, Path, description = "The group session's id"),
        ("referral_id" = Uuid, Path, description = "The booked person's referral"),
    ),
    responses(
        (status = 204, description = "No longer booked"),
        ActionProblems,
    ),
    security(("bearer" = [])),
)]
#[delete("/group-sessions/{id}/attendees/{referral_id}")]
pub async fn remove_group_attendee(
    allowed: Allowed<RemoveGroupAttendee>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (group_id, referral_id) = path.into_inner();
    change::change(&state, allowed.actor, referral_id, move |conn, _| {
        group_sessions::get(conn, group_id, true)?.ok_or_else(Refusal::not_found)?;
        let place = group_sessions::attendee(conn, group_id, referral_id)?
            .ok_or_else(Refusal::not_found)?;
        if place.attendance != Attendance::Booked {
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "attendance_marked",
                detail: format!(
                    "the place is marked `{}`: mark it `booked` before taking it off",
                    place.attendance
                ),
            })
            .into());
        }
        group_sessions::delete_attendee(conn, &place)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
