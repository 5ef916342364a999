//! The person's consent under a referral, act by act. A referral arrives with consent to share;
//! staff record it withdrawn (or given again) here. Withdrawing sharing with partners cancels
//! every open connection of the referral in the same transaction, each with the reason code
//! `consent_withdrawn` (a change each partner sees in its feed, its view kept as it was), and
//! no connection is made until consent is given again.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::connection::{Move, Mover};
use linkwell_domain::consent::{ConsentRecord, ConsentScope, ConsentStatus};
use linkwell_persistence::connections::{self, Visibility as ConnectionVisibility};
use linkwell_persistence::referrals::{self, Visibility};
use linkwell_persistence::{Tx, consent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::access::{Allowed, AllowedJson, ListConsent, RecordConsent};
use crate::audit::{Actor, Refusal, Stop};
use crate::error::{ApiError, at, at_optional};
use crate::fields::Field;
use crate::listing;
use crate::pagination::PageQuery;
use crate::precondition::{IfMatch, Versions};
use crate::routes::connections::person_of;
use crate::schema::{ChangeProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{clock, db, fields, rules, schema, wire};

/// A consent act to record.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewConsent)]
pub struct ConsentInput {
    /// `given` or `withdrawn`.
    #[validate(custom(function = "rules::field"))]
    pub status: schema::ConsentStatus,
    /// What the consent is for.
    #[validate(custom(function = "rules::field"))]
    pub scope: schema::ConsentScope,
    /// Why, in the person's words.
    #[validate(custom(function = "rules::field"))]
    pub reason: Option<fields::ConsentReason>,
}

/// One consent act.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Consent)]
pub struct ConsentView {
    pub id: Uuid,
    pub referral_id: Uuid,
    #[schema(value_type = schema::ConsentScope)]
    pub scope: &'static str,
    #[schema(value_type = schema::ConsentStatus)]
    pub status: &'static str,
    #[schema(required = true, value_type = Option<crate::fields::ConsentReason>)]
    pub reason: Option<String>,
    /// Who recorded it: the subject of their token.
    #[schema(value_type = crate::schema::Subject)]
    pub by: String,
    #[schema(value_type = schema::Role)]
    pub role: &'static str,
    /// When it was recorded (server time).
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: DateTime<Utc>,
}

impl From<&ConsentRecord> for ConsentView {
    fn from(r: &ConsentRecord) -> Self {
        Self {
            id: r.id,
            referral_id: r.referral_id,
            scope: r.scope.as_str(),
            status: r.status.as_str(),
            reason: r.reason.clone(),
            by: r.actor_sub.clone(),
            role: r.actor_role.as_str(),
            recorded_at: r.recorded_at,
        }
    }
}

/// A consent act just recorded, and what it stopped.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConsentRecorded)]
pub struct RecordedView {
    #[serde(flatten)]
    pub record: ConsentView,
    /// The connections this act cancelled (a withdrawal: every one that was open), oldest
    /// first; empty otherwise.
    pub cancelled_connections: Vec<Uuid>,
}

/// Where each scope stands now: `given` until withdrawn (the referral arrived with consent).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentState {
    #[schema(value_type = schema::ConsentStatus)]
    pub sharing_with_partners: &'static str,
}

/// A page of a referral's consent acts, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentPage {
    /// Where each scope stands after the latest act, whatever the page.
    pub current: ConsentState,
    #[schema(max_items = 100)]
    #[schema(max_items = 100)]
    pub items: Vec<ConsentView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true, value_type = Option<crate::pagination::Cursor>)]
    pub next_cursor: Option<String>,
}

/// Records the act under the referral (a new version of it) and cancels what it stops.
fn record(
    conn: &mut Tx<'_>,
    actor: &Actor,
    referral_id: Uuid,
    expected: &Versions,
    act: (ConsentScope, ConsentStatus, Option<String>),
) -> Result<(ConsentRecord, Vec<Uuid>, i64), Stop> {
    let (scope, status, reason) = act;
    // Under the referral's lock: an erasure or a purge since the access gate is not written
    // past.
    Refusal::unless_current(linkwell_persistence::erasure::standing_locked(
        conn,
        "referral",
        referral_id,
    )?)?;
    let mut referral = expected
        .current(referrals::get(conn, referral_id, Visibility::All)?, |r| {
            r.version
        })?;
    let at = clock::now();
    let previous = referral.version;
    referral.touch(at);
    // Locks the referral: connections made, moved or cancelled under it queue behind this.
    if !referrals::save(conn, &referral, previous)? {
        return Err(Refusal::stale().into());
    }
    let act = ConsentRecord {
        id: Uuid::now_v7(),
        referral_id,
        scope,
        status,
        reason,
        actor_sub: actor.caller.sub.clone(),
        actor_role: actor.caller.role,
        recorded_at: at,
    };
    consent::record(conn, &act)?;
    let mut cancelled = Vec::new();
    let open = connections::open_for_referral(conn, referral_id)?;
    if open.iter().any(|c| act.stops(c.status)) {
        let person = person_of(conn, referral_id)?;
        for candidate in open {
            // A note (which never takes the referral's lock) may move a version on meanwhile:
            // read it again and retry, a few times.
            let mut stopped = false;
            for _ in 0..5 {
                let Some(mut connection) =
                    connections::get(conn, candidate.id, ConnectionVisibility::All)?
                else {
                    break;
                };
                if !act.stops(connection.status) {
                    stopped = true;
                    break;
                }
                connection
                    .check_move(linkwell_domain::ConnectionStatus::Cancelled, Mover::Staff)
                    .map_err(|refused| {
                        ApiError::Internal(format!("a withdrawal cannot cancel: {refused:?}"))
                    })?;
                let version = connection.version;
                connection.apply(Move::consent_withdrawn(act.reason.clone()), at, &person);
                if connections::save(conn, &connection, version)? {
                    cancelled.push(connection.id);
                    stopped = true;
                    break;
                }
            }
            if !stopped {
                return Err(Refusal::stale().into());
            }
        }
    }
    Ok((act, cancelled, referral.version))
}

/// Record the person's consent given or withdrawn.
///
/// `status` `withdrawn` for scope `sharing_with_partners` cancels, in the same transaction,
/// every open connection of the referral (requested, accepted, in_progress, on_hold), each
/// with `reason_code` `consent_withdrawn` and this act's `reason`: each partner sees the
/// cancellation in its feed, and its view of the connection stays as it was at that moment.
/// Connections already final are left as they ended. Until consent is recorded `given` again,
/// a new connection is 409 `consent_withdrawn`. Recording `given` cancels nothing and lets
/// connections be made again. The referral arrived with consent, so it stands `given` until
/// first withdrawn.
///
/// A consent act changes the referral: send its current version in `If-Match` (428 without,
/// 412 when stale — so a retry of an act that took effect, or two staff acting at once, never
/// records twice); the answer's `ETag` is the referral's new version. 201 with the act, who
/// recorded it and when (server time), and the ids of the connections it cancelled.
#[utoipa::path(
    operation_id = "record_consent",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id"), IfMatch),
    request_body = ConsentInput,
    responses(
        (status = 201, description = "Consent recorded", body = RecordedView,
            headers(
                ("Location" = String, description = "The referral's consent record"),
                ("ETag" = String, description = "The referral's new version"),
            )),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/referrals/{id}/consent")]
pub async fn record_consent(
    request: AllowedJson<RecordConsent, ConsentInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let status: ConsentStatus = at("/status", input.status.parse())?;
    let scope: ConsentScope = at("/scope", input.scope.parse())?;
    let reason = at_optional("/reason", input.reason.as_ref())?;
    let expected = if_match.versions()?;
    let referral_id = id.into_inner();
    let answer = db::transaction(&state, move |conn| {
        match record(
            conn,
            &actor,
            referral_id,
            &expected,
            (scope, status, reason.clone()),
        ) {
            Ok((act, cancelled, version)) => {
                actor.record_naming(conn, referral_id, cancelled.clone())?;
                Ok(Ok((act, cancelled, version)))
            }
            Err(Stop::Refused(refusal)) => {
                actor.record(conn, refusal.about.or(Some(referral_id)), refusal.outcome)?;
                Ok(Err(refusal.error))
            }
            Err(Stop::Failed(error)) => Err(error),
        }
    })
    .await??;
    let (act, cancelled, version) = answer;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/referrals/{referral_id}/consent"),
        ))
        .insert_header(wire::etag(version))
        .json(RecordedView {
            record: ConsentView::from(&act),
            cancelled_connections: cancelled,
        }))
}

/// Read a referral's consent record.
///
/// Every consent act, oldest first: given or withdrawn, for which scope, by whom (token
/// subject and role), when, and why; and where each scope stands now (`given` until withdrawn:
/// the referral arrived with consent).
#[utoipa::path(
    operation_id = "list_consent",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id"), PageQuery),
    responses(
        (status = 200, description = "A page of consent acts, oldest first", body = ConsentPage),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals/{id}/consent")]
pub async fn list_consent(
    allowed: Allowed<ListConsent>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("referral-consent", id),
        &query,
        move |conn| referrals::exists(conn, id),
        move |conn, w| consent::list(conn, id, w.after, w.limit),
        move |conn, _, _| {
            Ok(consent::latest(
                conn,
                id,
                ConsentScope::SharingWithPartners,
            )?)
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(ConsentPage {
        current: ConsentState {
            sharing_with_partners: page.extra.unwrap_or(ConsentStatus::Given).as_str(),
        },
        items: page.rows.iter().map(ConsentView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
