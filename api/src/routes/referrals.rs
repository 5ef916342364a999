//! Referrals: GP systems, agencies and staff send them; referrers read back their own.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use linkwell_domain::person::parse_date;
use linkwell_domain::{
    DateOfBirth, Email, Invalid, NewReferral, NhsNumber, Person, Phone, Postcode, Reason, Reasons,
    Referral, ReferralSource, ReferralStatus, Role, referral, text,
};
use linkwell_persistence::referrals::{self, ReferralFilter, Visibility};
use linkwell_persistence::{DbConnection, Keyset};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::access::{Allowed, AllowedJson, CreateReferral, GetReferral, ListReferrals};
use crate::audit::{Actor, Outcome};
use crate::auth::Caller;
use crate::error::{ApiError, FieldError};
use crate::idempotency::{self, IdempotencyKey, Keyed};
use crate::pagination::{self, CursorKey};
use crate::schema::{CreateProblems, ListProblems, ReadProblems};
use crate::state::AppState;
use crate::{clock, db, rules, schema, wire};

/// Bound on a postal address.
pub const ADDRESS_MAX_CHARS: usize = 500;

/// The person referred, as sent.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPerson)]
#[validate(schema(function = "rules::person_contact", skip_on_field_errors = false))]
pub struct PersonInput {
    #[validate(custom(function = "rules::name"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        example = "Sam",
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    )]
    pub given_name: String,
    #[validate(custom(function = "rules::name"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        example = "Jones",
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    )]
    pub family_name: String,
    /// `YYYY-MM-DD`, on or after 1900-01-01 and not in the future.
    #[validate(custom(function = "rules::date_of_birth"))]
    #[schema(format = Date, pattern = r"^(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub date_of_birth: String,
    /// Ten digits with a valid Modulus 11 check digit; may be grouped 3-3-4 by spaces or
    /// hyphens. Stored and returned as ten digits.
    #[validate(custom(function = "rules::nhs_number"))]
    #[schema(
        example = "999 000 0018",
        pattern = r"^\s*([0-9]{10}|[0-9]{3}[ -][0-9]{3}[ -][0-9]{4})\s*$"
    )]
    pub nhs_number: Option<String>,
    #[validate(custom(function = "rules::phone"))]
    #[schema(
        example = "01284 123456",
        max_length = 25,
        pattern = r"^\s*\+?[0-9 ()-]{7,24}\s*$"
    )]
    pub phone: Option<String>,
    #[validate(custom(function = "rules::email"))]
    #[schema(format = Email, max_length = 254, example = "sam.jones@example.org")]
    pub email: Option<String>,
    /// A UK postcode; returned upper case as `OUTWARD INWARD`.
    #[validate(custom(function = "rules::postcode"))]
    #[schema(
        example = "IP33 3ND",
        pattern = r"^\s*([A-PR-UWYZa-pr-uwyz][A-HK-Ya-hk-y]?[0-9][A-Za-z0-9]?|[Gg][Ii][Rr])\s*[0-9][ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}\s*$"
    )]
    pub postcode: Option<String>,
    #[validate(custom(function = "rules::address"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    )]
    pub address: Option<String>,
    /// Needs the matching detail: `phone` or `text` a phone, `email` an email, `letter` an
    /// address.
    #[validate(custom(function = "rules::preferred_contact"))]
    #[schema(value_type = Option<schema::PreferredContact>)]
    pub preferred_contact: Option<String>,
}

/// A referral, as sent.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewReferral)]
pub struct ReferralInput {
    #[validate(nested)]
    pub person: PersonInput,
    #[validate(custom(function = "rules::source"))]
    #[schema(value_type = schema::ReferralSource)]
    pub source: String,
    /// At least one, each at most once.
    #[validate(custom(function = "rules::reasons"))]
    #[schema(schema_with = schema::reason_set)]
    pub reasons: Vec<String>,
    /// Free text about what matters to the person; no clinical detail.
    #[validate(custom(function = "rules::summary"))]
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    )]
    pub summary: Option<String>,
    /// Must be `true`: the person agreed to their details being shared with the service.
    #[validate(custom(function = "rules::consent"))]
    #[schema(schema_with = schema::must_be_true)]
    pub consent_to_share: bool,
    /// The sending system's own id for this referral; unique per referring organisation.
    #[validate(custom(function = "rules::external_reference"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        example = "EMIS-000123",
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    )]
    pub external_reference: Option<String>,
}

impl ReferralInput {
    /// Parses the validated input into domain values. The validators ran the same parsers, so
    /// the error that can still arise here is the cross-field rule (a contact preference needs
    /// its detail).
    fn into_domain(self, today: chrono::NaiveDate) -> Result<NewReferral, ApiError> {
        let p = self.person;
        let person = Person {
            given_name: at("/person/given_name", text::name(&p.given_name))?,
            family_name: at("/person/family_name", text::name(&p.family_name))?,
            date_of_birth: at(
                "/person/date_of_birth",
                DateOfBirth::parse(&p.date_of_birth, today),
            )?,
            nhs_number: optional("/person/nhs_number", p.nhs_number, NhsNumber::parse)?,
            phone: optional("/person/phone", p.phone, Phone::parse)?,
            email: optional("/person/email", p.email, Email::parse)?,
            postcode: optional("/person/postcode", p.postcode, Postcode::parse)?,
            address: optional("/person/address", p.address, |v| {
                text::bounded(v, ADDRESS_MAX_CHARS, true)
            })?,
            preferred_contact: optional("/person/preferred_contact", p.preferred_contact, |v| {
                v.parse().map_err(Invalid::from)
            })?,
        };
        at("/person/preferred_contact", person.check_contact())?;
        let reasons = self
            .reasons
            .iter()
            .map(|r| r.parse::<Reason>().map_err(Invalid::from))
            .collect::<Result<Vec<_>, _>>()
            .and_then(Reasons::new);
        Ok(NewReferral {
            person,
            source: at("/source", self.source.parse().map_err(Invalid::from))?,
            reasons: at("/reasons", reasons)?,
            summary: optional("/summary", self.summary, |v| {
                text::bounded(v, referral::SUMMARY_MAX_CHARS, true)
            })?,
            external_reference: optional("/external_reference", self.external_reference, |v| {
                text::bounded(v, referral::EXTERNAL_REFERENCE_MAX_CHARS, false)
            })?,
        })
    }
}

/// Places a domain rule's verdict at a body member.
fn at<T>(pointer: &str, result: Result<T, Invalid>) -> Result<T, ApiError> {
    result.map_err(|e| ApiError::Validation(vec![FieldError::at(pointer, e.code, e.message)]))
}

fn optional<T>(
    pointer: &str,
    value: Option<String>,
    parse: impl Fn(&str) -> Result<T, Invalid>,
) -> Result<Option<T>, ApiError> {
    at(pointer, value.map(|v| parse(&v)).transpose())
}

/// The person referred, as stored.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Person)]
pub struct PersonView {
    pub given_name: String,
    pub family_name: String,
    #[schema(format = Date)]
    pub date_of_birth: String,
    /// Ten digits, no separators.
    #[schema(required = true)]
    pub nhs_number: Option<String>,
    #[schema(required = true)]
    pub phone: Option<String>,
    #[schema(required = true)]
    pub email: Option<String>,
    #[schema(required = true)]
    pub postcode: Option<String>,
    #[schema(required = true)]
    pub address: Option<String>,
    #[schema(required = true, value_type = Option<schema::PreferredContact>)]
    pub preferred_contact: Option<String>,
}

/// A referral.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Referral)]
pub struct ReferralView {
    pub id: Uuid,
    #[schema(value_type = schema::ReferralStatus)]
    pub status: String,
    pub person: PersonView,
    #[schema(value_type = schema::ReferralSource)]
    pub source: String,
    #[schema(value_type = Vec<schema::Reason>)]
    pub reasons: Vec<String>,
    #[schema(required = true)]
    pub summary: Option<String>,
    /// The referring organisation, from the referrer's token; `null` when staff entered it.
    #[schema(required = true)]
    pub referrer_org_id: Option<Uuid>,
    #[schema(required = true)]
    pub external_reference: Option<String>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Grows by one with every change; also the `ETag`.
    pub version: i64,
}

impl From<&Referral> for ReferralView {
    fn from(r: &Referral) -> Self {
        let p = &r.person;
        Self {
            id: r.id,
            status: r.status.as_str().to_owned(),
            person: PersonView {
                given_name: p.given_name.clone(),
                family_name: p.family_name.clone(),
                date_of_birth: p.date_of_birth.date().format("%Y-%m-%d").to_string(),
                nhs_number: p.nhs_number.as_ref().map(|n| n.as_str().to_owned()),
                phone: p.phone.as_ref().map(|v| v.as_str().to_owned()),
                email: p.email.as_ref().map(|v| v.as_str().to_owned()),
                postcode: p.postcode.as_ref().map(|v| v.as_str().to_owned()),
                address: p.address.clone(),
                preferred_contact: p.preferred_contact.map(|c| c.as_str().to_owned()),
            },
            source: r.source.as_str().to_owned(),
            reasons: r.reasons.iter().map(|x| x.as_str().to_owned()).collect(),
            summary: r.summary.clone(),
            referrer_org_id: r.referrer_org_id,
            external_reference: r.external_reference.clone(),
            received_at: r.received_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

/// A page of referrals.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralPage {
    pub items: Vec<ReferralView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Which referrals a caller may see. Every role is named, so a role given access later must
/// be given a rule here too; anything unforeseen sees nothing.
fn visibility(caller: &Caller) -> Result<Visibility, ApiError> {
    match (caller.role, caller.org) {
        (Role::Admin | Role::Coordinator, _) => Ok(Visibility::All),
        (Role::Referrer, Some(org)) => Ok(Visibility::Organisation(org)),
        (Role::Referrer, None) | (Role::Partner | Role::Commissioner, _) => {
            Err(ApiError::Forbidden)
        }
    }
}

/// The organisation a new referral is filed under: a referrer's own. Staff enter referrals
/// for no organisation, even when their token names one, so no referrer can read them.
fn referring_org(caller: &Caller) -> Option<Uuid> {
    match caller.role {
        Role::Referrer => caller.org,
        Role::Admin | Role::Coordinator | Role::Partner | Role::Commissioner => None,
    }
}

fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// What a create came to. A refusal is a value, not an error, so its audit row commits.
enum Created {
    New,
    Replay(linkwell_persistence::idempotency::StoredResponse),
    Refused(ApiError),
}

/// Refer a person.
///
/// Creates a referral in status `received`. A referrer's organisation is taken from its token,
/// never from the body. Send an `Idempotency-Key` to make retries safe: a retry returns the
/// first response (with `Idempotent-Replayed: true`) and creates nothing; the same key with a
/// different body is 422. A second referral with the same `external_reference` from the same
/// organisation is 409 and names the existing referral in `existing_id`.
#[utoipa::path(
    operation_id = "create_referral",
    tag = "referrals",
    request_body = ReferralInput,
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = r"^[\x21-\x7E]+$",
            description = "Makes retries safe: 1 to 255 visible ASCII characters, unique per request."),
    ),
    responses(
        (status = 201, description = "Referral created (or the stored response replayed)", body = ReferralView,
            headers(
                ("Location" = String, description = "The new referral's URL"),
                ("ETag" = String, description = "The referral's version"),
                ("Idempotent-Replayed" = String, description = "`true` when this repeats the stored response to an earlier request with the same Idempotency-Key"),
            )),
        CreateProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/referrals")]
pub async fn create_referral(
    request: AllowedJson<CreateReferral, ReferralInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let keyed = Keyed::new(key, &actor.caller, "create_referral", &body.raw)?;
    let now = clock::now();
    let new = body.value.into_domain(now.date_naive())?;
    let referral = Referral {
        id: Uuid::now_v7(),
        status: ReferralStatus::Received,
        person: new.person,
        source: new.source,
        reasons: new.reasons,
        summary: new.summary,
        referrer_org_id: referring_org(&actor.caller),
        external_reference: new.external_reference,
        received_at: now,
        updated_at: now,
        version: 1,
    };
    let json = serde_json::to_string(&ReferralView::from(&referral))
        .map_err(|e| ApiError::Internal(format!("serialising a referral: {e}")))?;
    let location = format!("/v1/referrals/{}", referral.id);
    let (stored_json, stored_location) = (json.clone(), location.clone());
    let created = db::transaction(&state, move |conn| {
        create(
            conn,
            &actor,
            &referral,
            keyed.as_ref(),
            &stored_json,
            &stored_location,
        )
    })
    .await?;
    Ok(match created {
        Created::New => HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .insert_header(etag(1))
            .content_type("application/json")
            .body(json),
        Created::Replay(stored) => idempotency::replay(&stored),
        Created::Refused(error) => return Err(error),
    })
}

/// The create transaction: replay or refuse a keyed retry, refuse a duplicate reference, store
/// the referral, its idempotency record and its audit row together.
fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    referral: &Referral,
    keyed: Option<&Keyed>,
    json: &str,
    location: &str,
) -> Result<Created, ApiError> {
    if let Some(keyed) = keyed {
        match keyed.earlier(conn) {
            Ok(Some(stored)) => {
                let id = stored
                    .location
                    .as_deref()
                    .and_then(|l| l.rsplit('/').next())
                    .and_then(|id| Uuid::parse_str(id).ok());
                actor.record(conn, id, Outcome::Replayed)?;
                return Ok(Created::Replay(stored));
            }
            Ok(None) => {}
            Err(ApiError::IdempotencyKeyReused) => {
                actor.record(conn, None, Outcome::Rejected)?;
                return Ok(Created::Refused(ApiError::IdempotencyKeyReused));
            }
            Err(other) => return Err(other),
        }
    }
    if let (Some(org), Some(reference)) = (referral.referrer_org_id, &referral.external_reference)
        && let Some(existing) = referrals::find_by_external_reference(conn, org, reference)?
    {
        actor.record(conn, Some(existing), Outcome::Conflict)?;
        return Ok(Created::Refused(ApiError::Duplicate {
            detail: format!(
                "your organisation already sent a referral with this external_reference: {existing}"
            ),
            existing_id: existing.to_string(),
        }));
    }
    referrals::insert(conn, referral, &actor.caller.sub)?;
    if let Some(keyed) = keyed {
        keyed.save(conn, StatusCode::CREATED, Some(location), json)?;
    }
    actor.record(conn, Some(referral.id), Outcome::Success)?;
    Ok(Created::New)
}

/// Read one referral.
///
/// A referrer sees only its own organisation's referrals; any other id is 404, exactly as if it
/// did not exist.
#[utoipa::path(
    operation_id = "get_referral",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "The referral", body = ReferralView,
            headers(("ETag" = String, description = "The referral's version"))),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals/{id}")]
pub async fn get_referral(
    allowed: Allowed<GetReferral>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let id = id.into_inner();
    let visibility = visibility(&actor.caller)?;
    let found = db::run(&state, move |conn| {
        let found = referrals::get(conn, id, visibility)?;
        let outcome = if found.is_some() {
            Outcome::Success
        } else {
            Outcome::NotFound
        };
        actor.record_alone(conn, Some(id), outcome)?;
        Ok(found)
    })
    .await?;
    let referral = found.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(referral.version))
        .json(ReferralView::from(&referral)))
}

/// Filters and paging for the referral list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReferralQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` from the previous page, with the same filters.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
    #[param(value_type = Option<schema::ReferralStatus>)]
    pub status: Option<String>,
    /// Referrals that list this reason.
    #[param(value_type = Option<schema::Reason>)]
    pub reason: Option<String>,
    #[param(value_type = Option<schema::ReferralSource>)]
    pub source: Option<String>,
    /// Received on or after: a date (`2026-03-01`, from midnight UTC) or an RFC 3339 time.
    #[param(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
    )]
    pub received_from: Option<String>,
    /// Received on or before: a date (`2026-03-31`, the whole day, UTC) or an RFC 3339 time.
    #[param(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
    )]
    pub received_to: Option<String>,
}

impl ReferralQuery {
    fn filter(&self) -> Result<ReferralFilter, ApiError> {
        fn code<T: std::str::FromStr<Err = linkwell_domain::UnknownCode>>(
            name: &str,
            value: &Option<String>,
        ) -> Result<Option<T>, ApiError> {
            value
                .as_deref()
                .map(|v| {
                    v.parse::<T>().map_err(|e| {
                        let invalid = Invalid::from(e);
                        ApiError::bad_parameter(name, invalid.code, invalid.message)
                    })
                })
                .transpose()
        }
        let received_from = self
            .received_from
            .as_deref()
            .map(|v| instant("received_from", v, false))
            .transpose()?;
        let received_before = self
            .received_to
            .as_deref()
            .map(|v| instant("received_to", v, true))
            .transpose()?;
        if let (Some(from), Some(before)) = (received_from, received_before)
            && from >= before
        {
            return Err(ApiError::bad_parameter(
                "received_to",
                "empty_range",
                "must not be before received_from",
            ));
        }
        Ok(ReferralFilter {
            status: code::<ReferralStatus>("status", &self.status)?,
            reason: code::<Reason>("reason", &self.reason)?,
            source: code::<ReferralSource>("source", &self.source)?,
            received_from,
            received_before,
        })
    }

    /// What a cursor is bound to: this list with exactly these filters.
    fn cursor_scope(&self) -> String {
        let part = |v: &Option<String>| v.clone().unwrap_or_default();
        format!(
            "referrals|{}|{}|{}|{}|{}",
            part(&self.status),
            part(&self.reason),
            part(&self.source),
            part(&self.received_from),
            part(&self.received_to)
        )
    }
}

/// A date or a time as an instant. As an upper bound (`end`), a date covers its whole day and a
/// time includes itself: both become an exclusive bound just after. Instants are clamped to
/// years 1 to 9999, where every stored timestamp lies, so bounds compare the same way on both
/// backends (SQLite compares timestamps as text, which breaks past year 9999).
fn instant(name: &str, value: &str, end: bool) -> Result<DateTime<Utc>, ApiError> {
    let at = if let Ok(date) = parse_date(value) {
        let start = date.and_time(NaiveTime::MIN).and_utc();
        if end {
            start + Duration::days(1)
        } else {
            start
        }
    } else {
        let at = DateTime::parse_from_rfc3339(value)
            .map_err(|_| {
                ApiError::bad_parameter(
                    name,
                    "invalid_date",
                    "must be a date (YYYY-MM-DD) or an RFC 3339 time",
                )
            })?
            .with_timezone(&Utc);
        if end {
            at + Duration::microseconds(1)
        } else {
            at
        }
    };
    let earliest = NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN);
    let latest = NaiveDate::from_ymd_opt(9999, 1, 1).unwrap_or(NaiveDate::MAX);
    Ok(at.clamp(
        earliest.and_time(NaiveTime::MIN).and_utc(),
        latest.and_time(NaiveTime::MIN).and_utc(),
    ))
}

/// List referrals, newest first.
///
/// A referrer sees only its own organisation's referrals. Filters combine with AND.
#[utoipa::path(
    operation_id = "list_referrals",
    tag = "referrals",
    params(ReferralQuery),
    responses(
        (status = 200, description = "A page of referrals", body = ReferralPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals")]
pub async fn list_referrals(
    allowed: Allowed<ListReferrals>,
    state: web::Data<AppState>,
    query: web::Query<ReferralQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let limit = pagination::limit(query.limit.as_deref())?;
    let filter = query.filter()?;
    let scope = query.cursor_scope();
    let after = decode_cursor(&state.cursors, query.cursor.as_deref(), &scope)?;
    let visibility = visibility(&actor.caller)?;
    let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
    let rows = db::run(&state, move |conn| {
        let rows = referrals::list(conn, visibility, &filter, after, limit + 1)?;
        // The extra row only tells whether another page exists; it is not shown.
        let shown = rows.iter().take(page_size).map(|r| r.id).collect();
        actor.record_list(conn, shown)?;
        Ok(rows)
    })
    .await?;
    let (rows, next_cursor) = pagination::finish(
        rows,
        limit,
        |r| Keyset {
            at: r.received_at,
            id: r.id,
        },
        &state.cursors,
        &scope,
    );
    Ok(HttpResponse::Ok().json(ReferralPage {
        items: rows.iter().map(ReferralView::from).collect(),
        next_cursor,
    }))
}

fn decode_cursor(
    cursors: &CursorKey,
    cursor: Option<&str>,
    scope: &str,
) -> Result<Option<Keyset>, ApiError> {
    cursor.map(|c| cursors.decode(c, scope)).transpose()
}
