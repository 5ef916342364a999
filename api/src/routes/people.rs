//! People: one record per human, shared by their referrals. Staff only: referrers and partners
//! never reach these routes.

mod edit;
mod merge;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use linkwell_domain::person::parse_date;
use linkwell_domain::{NhsNumber, PersonRecord, Referral};
use linkwell_persistence::people::{self, PeopleSearch};
use linkwell_persistence::{DbConnection, Keyset, referrals};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub use edit::update_person;
pub use merge::{dismiss_duplicate, merge_people};

use crate::access::{Allowed, GetPerson, ListPeople};
use crate::audit::{Refusal, Stop};
use crate::error::ApiError;
use crate::pagination::Page;
use crate::precondition::Versions;
use crate::routes::referrals::PersonView;
use crate::schema::{ListProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{db, pagination, schema, wire};

/// A person's record.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PersonRecord)]
pub struct PersonRecordView {
    pub id: Uuid,
    #[serde(flatten)]
    pub details: PersonView,
    /// Another record that may be the same human, for a link worker to merge or dismiss.
    #[schema(required = true)]
    pub possible_duplicate_of: Option<Uuid>,
    /// Why it is flagged (null when it is not).
    #[schema(required = true, value_type = Option<schema::DuplicateReason>)]
    pub possible_duplicate_reason: Option<&'static str>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Grows by one with every change; also the `ETag`.
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
    /// On a read by id: the person's referrals, newest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrals: Option<Vec<PersonReferral>>,
}

/// One of a person's referrals, in brief.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonReferral {
    pub id: Uuid,
    #[schema(value_type = schema::ReferralStatus)]
    pub status: &'static str,
    #[schema(value_type = schema::ReferralSource)]
    pub source: &'static str,
    #[schema(value_type = Vec<schema::Reason>, max_items = 11)]
    pub reasons: Vec<&'static str>,
    #[schema(required = true)]
    pub referrer_org_id: Option<Uuid>,
    #[schema(required = true)]
    pub assignee_id: Option<Uuid>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
}

impl From<&Referral> for PersonReferral {
    fn from(r: &Referral) -> Self {
        Self {
            id: r.id,
            status: r.status.as_str(),
            source: r.source.as_str(),
            reasons: r.reasons.iter().map(|x| x.as_str()).collect(),
            referrer_org_id: r.referrer_org_id,
            assignee_id: r.assignee_id,
            received_at: r.received_at,
        }
    }
}

impl PersonRecordView {
    pub fn new(p: &PersonRecord, referrals: Option<&[Referral]>) -> Self {
        Self {
            id: p.id,
            details: PersonView::from(&p.details),
            possible_duplicate_of: p.possible_duplicate_of,
            possible_duplicate_reason: p.possible_duplicate_reason.map(|r| r.as_str()),
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
            referrals: referrals.map(|rs| rs.iter().map(PersonReferral::from).collect()),
        }
    }
}

/// The current record standing for `id`: `Ok(Err(survivor))` when `id` was merged away.
/// Follows chains of merges.
pub(crate) fn current(
    conn: &mut DbConnection,
    id: Uuid,
) -> Result<Option<Result<PersonRecord, Uuid>>, ApiError> {
    let Some(mut record) = people::get(conn, id)? else {
        return Ok(None);
    };
    // An erased record is no one's to change, merge or read (the request gate answers first).
    if linkwell_persistence::erasure::erased_at(conn, id)?.is_some() {
        return Ok(None);
    }
    let mut hops = 0;
    while let Some(next) = record.merged_into {
        hops += 1;
        match people::get(conn, next)? {
            Some(found) if hops < 32 => record = found,
            _ => return Err(ApiError::Internal(format!("broken merge chain at {next}"))),
        }
    }
    Ok(Some(if record.id == id {
        Ok(record)
    } else {
        Err(record.id)
    }))
}

/// The record `id` for a change: there (else refused as not found), not merged away (else
/// refused naming the survivor) and still at a version `expected` names (else refused as stale).
pub(crate) fn changeable(
    conn: &mut DbConnection,
    id: Uuid,
    expected: &Versions,
) -> Result<PersonRecord, Stop> {
    match current(conn, id)? {
        None => Err(Refusal::not_found().into()),
        Some(Err(survivor)) => Err(merged(survivor).into()),
        Some(Ok(record)) => {
            expected.check(record.version)?;
            Ok(record)
        }
    }
}

/// Refuses a change to a record merged into `survivor`.
fn merged(survivor: Uuid) -> Refusal {
    Refusal::conflict(ApiError::StateConflict {
        code: "person_merged",
        detail: format!("this record was merged into /v1/people/{survivor}: change that one"),
    })
}

/// Read a person's record and referrals.
///
/// A record merged into another answers `308 Permanent Redirect` to the record that survived.
#[utoipa::path(
    operation_id = "get_person",
    tag = "people",
    params(("id" = Uuid, Path, description = "The person's id")),
    responses(
        (status = 200, description = "The person and their referrals", body = PersonRecordView,
            headers(("ETag" = String, description = "The record's version"))),
        (status = 308, description = "Merged: `Location` is the surviving record",
            headers(("Location" = String, description = "The surviving record's URL"))),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/people/{id}")]
pub async fn get_person(
    allowed: Allowed<GetPerson>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let id = id.into_inner();
    let found = db::run(&state, move |conn| {
        let found = current(conn, id)?;
        actor.record_read(conn, id, found.is_some())?;
        Ok(match found {
            Some(Ok(record)) => {
                let referrals = referrals::for_person(conn, record.id)?;
                Some(Ok((record, referrals)))
            }
            Some(Err(survivor)) => Some(Err(survivor)),
            None => None,
        })
    })
    .await?;
    match found.ok_or(ApiError::NotFound)? {
        Ok((record, referrals)) => Ok(wire::current(
            record.version,
            &PersonRecordView::new(&record, Some(&referrals)),
        )),
        Err(survivor) => Ok(HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, format!("/v1/people/{survivor}")))
            .finish()),
    }
}

/// How to look people up: an NHS number, or a family name with a date of birth.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` from the previous page, with the same search.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length = 120)]
    pub cursor: Option<String>,
    /// Ten digits (spaces or hyphens between groups allowed). Not with the name search.
    #[param(
        pattern = r"^\s*([0-9]{10}|[0-9]{3}[ -][0-9]{3}[ -][0-9]{4})\s*$",
        max_length = 24
    )]
    pub nhs_number: Option<String>,
    /// With `date_of_birth`; case is ignored.
    #[param(min_length = 1, max_length = 100)]
    pub family_name: Option<String>,
    /// `YYYY-MM-DD`, with `family_name`.
    #[param(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", max_length = 10)]
    pub date_of_birth: Option<String>,
}

impl PeopleQuery {
    fn search(&self) -> Result<PeopleSearch, ApiError> {
        let bad = |name: &str, message: &str| {
            ApiError::bad_parameter(name, "invalid_search", message.to_owned())
        };
        match (&self.nhs_number, &self.family_name, &self.date_of_birth) {
            (Some(n), None, None) => NhsNumber::parse(n)
                .map(PeopleSearch::NhsNumber)
                .map_err(|e| ApiError::bad_parameter("nhs_number", e.code, e.message)),
            (None, Some(name), Some(date)) => {
                let date = parse_date(date)
                    .map_err(|e| ApiError::bad_parameter("date_of_birth", e.code, e.message))?;
                let name = name.trim();
                if name.is_empty() {
                    return Err(bad("family_name", "must not be blank"));
                }
                Ok(PeopleSearch::NameAndBirth {
                    family_name: name.to_owned(),
                    date_of_birth: date,
                })
            }
            (Some(_), _, _) => Err(bad("nhs_number", "search by NHS number alone")),
            (None, Some(_), None) => Err(bad("date_of_birth", "is needed with family_name")),
            (None, None, Some(_)) => Err(bad("family_name", "is needed with date_of_birth")),
            (None, None, None) => Err(bad(
                "nhs_number",
                "give nhs_number, or family_name with date_of_birth",
            )),
        }
    }
}

/// A page of people.
pub type PersonPage = Page<PersonRecordView>;

/// Look people up.
///
/// By `nhs_number`, or by `family_name` (ignoring case) with `date_of_birth`; one of the two
/// is required. Merged-away records are not listed.
#[utoipa::path(
    operation_id = "list_people",
    tag = "people",
    params(PeopleQuery),
    responses(
        (status = 200, description = "A page of people, newest first", body = PersonPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/people")]
pub async fn list_people(
    allowed: Allowed<ListPeople>,
    state: web::Data<AppState>,
    query: web::Query<PeopleQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let limit = pagination::limit(query.limit.as_deref())?;
    let search = query.search()?;
    let scope = format!("people|{search:?}");
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
    let rows = db::run(&state, move |conn| {
        let rows = people::search(conn, &search, after, limit + 1)?;
        actor.record_list(conn, rows.iter().take(page_size).map(|p| p.id).collect())?;
        Ok(rows)
    })
    .await?;
    let (rows, next_cursor) = pagination::finish(
        rows,
        limit,
        |p| Keyset {
            at: p.created_at,
            id: p.id,
        },
        &state.cursors,
        &scope,
    );
    Ok(HttpResponse::Ok().json(PersonPage {
        items: rows
            .iter()
            .map(|p| PersonRecordView::new(p, None))
            .collect(),
        next_cursor,
    }))
}
