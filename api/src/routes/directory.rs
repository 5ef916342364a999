//! The directory of services: community groups, activities and support services link workers
//! connect people to. Anyone may read and search it (without a token, rate limited per
//! address); staff add and correct entries. It holds no personal data, so it is not audited.

mod edit;

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::directory::{self, Contact};
use linkwell_domain::opening_hours::{self, AreaQuery, OpeningPeriod};
use linkwell_domain::{Capacity, Invalid, Reason, Reasons, Service, ServiceStatus};
use linkwell_persistence::directory::{self as store, ServiceFilter};
use linkwell_persistence::{DbConnection, Keyset, organisations};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

pub use edit::update_service;

use crate::access::{AllowedJson, CreateService, GetService, ListServices, Open};
use crate::audit::{Refusal, Stop};
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at, at_optional, query_code};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::pagination;
use crate::pagination::Page;
use crate::schema::{CreateProblems, PublicListProblems, PublicReadProblems};
use crate::state::AppState;
use crate::{clock, db, rules, schema, wire};

/// How to reach a service; every member may be left out.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContactInput)]
pub struct ContactInput {
    #[validate(custom(function = "rules::field"))]
    pub phone: Option<fields::Phone>,
    #[validate(custom(function = "rules::field"))]
    pub email: Option<fields::Email>,
    #[validate(custom(function = "rules::field"))]
    pub website: Option<fields::Website>,
}

impl ContactInput {
    fn into_domain(self) -> Result<Contact, ApiError> {
        Ok(Contact {
            phone: at_optional("/contact/phone", self.phone.as_ref())?,
            email: at_optional("/contact/email", self.email.as_ref())?,
            website: at_optional("/contact/website", self.website.as_ref())?,
        })
    }
}

/// A service to add to the directory.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewService)]
pub struct ServiceInput {
    #[validate(custom(function = "rules::field"))]
    pub name: fields::ServiceName,
    #[validate(custom(function = "rules::field"))]
    pub description: fields::ServiceDescription,
    /// The registered organisation that runs it.
    pub organisation_id: Option<Uuid>,
    /// The needs it helps with: at least one reason code, each at most once.
    #[validate(custom(function = "rules::reasons"))]
    #[schema(schema_with = schema::reason_set)]
    pub needs: Vec<String>,
    #[validate(custom(function = "rules::field"))]
    pub area: Option<fields::Area>,
    #[validate(custom(function = "rules::field"))]
    pub postcode: Option<fields::Postcode>,
    #[validate(nested)]
    pub contact: Option<ContactInput>,
    /// `true`: takes connections through this API; `false`: signposting only (connections
    /// to it are recorded as `signposted`).
    pub accepts_referrals: bool,
    /// `active` when left out.
    #[validate(custom(function = "rules::field"))]
    pub status: Option<schema::ServiceStatus>,
    /// `available` when left out.
    #[validate(custom(function = "rules::field"))]
    pub capacity: Option<schema::Capacity>,
    #[validate(custom(function = "rules::min_age"))]
    #[schema(schema_with = schema::min_age)]
    pub min_age: Option<i64>,
    #[validate(custom(function = "rules::max_age"))]
    #[schema(schema_with = schema::max_age)]
    pub max_age: Option<i64>,
    /// When it is open: up to 21 periods a week, none overlapping another on its day; left
    /// out when not known.
    #[validate(nested)]
    #[schema(max_items = 21)]
    pub opening_hours: Option<Vec<OpeningPeriodInput>>,
}

/// One opening period: on `day`, from `opens` until `closes`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OpeningPeriodInput)]
pub struct OpeningPeriodInput {
    #[validate(custom(function = "rules::field"))]
    pub day: schema::Weekday,
    #[validate(custom(function = "rules::field"))]
    pub opens: fields::TimeOfDay,
    /// After `opens`, the same day.
    #[validate(custom(function = "rules::field"))]
    pub closes: fields::TimeOfDay,
}

/// An opening period.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OpeningPeriod)]
pub struct OpeningPeriodView {
    #[schema(value_type = schema::Weekday)]
    pub day: &'static str,
    #[schema(value_type = fields::TimeOfDay)]
    pub opens: String,
    #[schema(value_type = fields::TimeOfDay)]
    pub closes: String,
}

impl From<&OpeningPeriod> for OpeningPeriodView {
    fn from(p: &OpeningPeriod) -> Self {
        Self {
            day: p.day.as_str(),
            opens: p.opens.format("%H:%M").to_string(),
            closes: p.closes.format("%H:%M").to_string(),
        }
    }
}

/// A week's opening periods as sent, parsed; an error names its member below the body
/// (`opening_hours/2/closes`).
pub(crate) fn timetable(
    periods: &[OpeningPeriodInput],
) -> Result<Vec<OpeningPeriod>, (String, Invalid)> {
    let mut parsed = Vec::with_capacity(periods.len());
    for (i, p) in periods.iter().enumerate() {
        let at = |member: &str, e: Invalid| (format!("opening_hours/{i}/{member}"), e);
        parsed.push(OpeningPeriod {
            day: p.day.parse().map_err(|e| at("day", e))?,
            opens: p.opens.parse().map_err(|e| at("opens", e))?,
            closes: p.closes.parse().map_err(|e| at("closes", e))?,
        });
    }
    opening_hours::timetable(&parsed).map_err(|(i, e)| {
        if i < parsed.len() {
            (format!("opening_hours/{i}"), e)
        } else {
            ("opening_hours".to_owned(), e)
        }
    })
}

/// The age range rule, at `max_age`.
pub(crate) fn ages(service: &Service) -> Result<(), ApiError> {
    at(
        "/max_age",
        opening_hours::age_range(service.min_age, service.max_age),
    )
}

/// Reason codes as a domain set.
pub(crate) fn needs(codes: &[String]) -> Result<Reasons, Invalid> {
    Reasons::parse(codes)
}

/// A registered organisation, or a 422 at `pointer`.
pub(crate) fn registered(conn: &mut DbConnection, pointer: &str, org: Uuid) -> Result<(), Stop> {
    if organisations::get(conn, org)?.is_none() {
        let message = "names no registered organisation";
        return Err(Refusal::invalid(pointer, "unknown_organisation", message).into());
    }
    Ok(())
}

/// How to reach a service.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ServiceContact)]
pub struct ContactView {
    #[schema(required = true, value_type = Option<crate::fields::Phone>)]
    pub phone: Option<String>,
    #[schema(required = true, value_type = Option<crate::fields::Email>)]
    pub email: Option<String>,
    #[schema(required = true, value_type = Option<crate::fields::Website>)]
    pub website: Option<String>,
}

/// A service in the directory.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Service)]
pub struct ServiceView {
    pub id: Uuid,
    #[schema(value_type = crate::fields::ServiceName)]
    pub name: String,
    #[schema(value_type = crate::fields::ServiceDescription)]
    pub description: String,
    #[schema(required = true)]
    pub organisation_id: Option<Uuid>,
    /// The reasons it meets, first level: those given, and those of its specific needs.
    #[schema(value_type = Vec<schema::Reason>, max_items = 11)]
    pub needs: Vec<&'static str>,
    /// The specific needs it meets (the second level, each under one of `needs`).
    #[schema(value_type = Vec<schema::Need>, max_items = 25)]
    pub specific_needs: Vec<&'static str>,
    #[schema(required = true, value_type = Option<crate::fields::Area>)]
    pub area: Option<String>,
    #[schema(required = true, value_type = Option<crate::fields::Postcode>)]
    pub postcode: Option<String>,
    pub contact: ContactView,
    pub accepts_referrals: bool,
    #[schema(value_type = schema::ServiceStatus)]
    pub status: &'static str,
    #[schema(value_type = schema::Capacity)]
    pub capacity: &'static str,
    #[schema(required = true, minimum = 0, maximum = 120)]
    pub min_age: Option<u8>,
    /// The oldest age it takes; `null`: no upper bound.
    #[schema(required = true, minimum = 0, maximum = 120)]
    pub max_age: Option<u8>,
    /// When it is open, in day and time order; empty when not known.
    #[schema(max_items = 21)]
    pub opening_hours: Vec<OpeningPeriodView>,
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

impl From<&Service> for ServiceView {
    fn from(s: &Service) -> Self {
        Self {
            id: s.id,
            name: s.name.clone(),
            description: s.description.clone(),
            organisation_id: s.organisation_id,
            needs: s.needs.iter().map(Reason::as_str).collect(),
            specific_needs: s.needs.needs().map(|n| n.as_str()).collect(),
            area: s.area.clone(),
            postcode: s.postcode.as_ref().map(|p| p.as_str().to_owned()),
            contact: ContactView {
                phone: s.contact.phone.as_ref().map(|p| p.as_str().to_owned()),
                email: s.contact.email.as_ref().map(|e| e.as_str().to_owned()),
                website: s.contact.website.as_ref().map(|w| w.as_str().to_owned()),
            },
            accepts_referrals: s.accepts_referrals,
            status: s.status.as_str(),
            capacity: s.capacity.as_str(),
            min_age: s.min_age,
            max_age: s.max_age,
            opening_hours: s
                .opening_hours
                .iter()
                .map(OpeningPeriodView::from)
                .collect(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
        }
    }
}

/// A page of services.
pub type ServicePage = Page<ServiceView>;

/// Add a service to the directory.
///
/// `organisation_id`, when given, must name a registered organisation (422
/// `unknown_organisation`).
#[utoipa::path(
    operation_id = "create_service",
    tag = "directory",
    params(IdempotencyKey),
    request_body = ServiceInput,
    responses(
        Created<ServiceView>,
        CreateProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/directory/services")]
pub async fn create_service(
    request: AllowedJson<CreateService, ServiceInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let now = clock::now();
    let service = Service {
        id: Uuid::now_v7(),
        name: at("/name", input.name.parse())?,
        description: at("/description", input.description.parse())?,
        organisation_id: input.organisation_id,
        needs: at("/needs", needs(&input.needs))?,
        area: at_optional("/area", input.area.as_ref())?,
        postcode: at_optional("/postcode", input.postcode.as_ref())?,
        contact: input.contact.unwrap_or_default().into_domain()?,
        accepts_referrals: input.accepts_referrals,
        status: at_optional("/status", input.status.as_ref())?.unwrap_or(ServiceStatus::Active),
        capacity: at_optional("/capacity", input.capacity.as_ref())?.unwrap_or(Capacity::Available),
        min_age: at(
            "/min_age",
            input.min_age.map(directory::min_age).transpose(),
        )?,
        max_age: at(
            "/max_age",
            input.max_age.map(directory::min_age).transpose(),
        )?,
        opening_hours: timetable(input.opening_hours.as_deref().unwrap_or_default()).map_err(
            |(member, e)| {
                ApiError::Validation(vec![crate::error::FieldError::at(
                    format!("/{member}"),
                    e.code,
                    e.message,
                )])
            },
        )?,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    ages(&service)?;
    create::create(&state, actor, key, &body.raw, move |conn, _| {
        if let Some(org) = service.organisation_id {
            registered(conn, "/organisation_id", org)?;
        }
        store::insert(conn, &service)?;
        Ok(Made::new(
            service.id,
            Some(format!("/v1/directory/services/{}", service.id)),
            Some(service.version),
            &ServiceView::from(&service),
        )?)
    })
    .await
}

/// Search the directory.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceQuery {
    /// Services that help with this need: a reason (services with it, or with any specific
    /// need under it) or a specific need (`GET /v1/needs`).
    #[param(value_type = Option<schema::NeedCode>)]
    pub need: Option<String>,
    /// Words to find in the name or description, ignoring case.
    #[param(value_type = Option<fields::SearchWords>)]
    pub q: Option<fields::SearchWords>,
    #[param(value_type = Option<schema::ServiceStatus>)]
    pub status: Option<String>,
    #[param(value_type = Option<schema::Capacity>)]
    pub capacity: Option<String>,
    /// `true`: services that take connections through this API; `false`: signposting only.
    #[param(value_type = Option<bool>)]
    pub accepts_referrals: Option<String>,
    /// Services in this area: a postcode's outward code (`IP33`), or a whole postcode read as
    /// its outward code, matched against each service's postcode; anything else is an area's
    /// name, matched against each service's `area` ignoring case.
    #[param(value_type = Option<fields::Area>)]
    pub area: Option<String>,
    /// Services that take someone of this age (whole years, 0 to 120): within `min_age` and
    /// `max_age` where they are set.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 120)]
    pub age: Option<String>,
    /// Services open on this day (at `open_at`, when given).
    #[param(value_type = Option<schema::Weekday>)]
    pub open_on: Option<String>,
    /// Services open at this time, `HH:MM` (on `open_on`, when given; else on any day).
    /// Services that state no opening hours are left out.
    #[param(value_type = Option<fields::TimeOfDay>)]
    pub open_at: Option<String>,
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` from the previous page, with the same filters.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length = 120)]
    pub cursor: Option<String>,
}

impl ServiceQuery {
    fn filter(&self) -> Result<ServiceFilter, ApiError> {
        Ok(ServiceFilter {
            need: query_code("need", self.need.as_deref())?,
            query: self
                .q
                .as_ref()
                .map(|q| {
                    q.parse()
                        .map_err(|e| ApiError::bad_parameter("q", e.code, e.message))
                })
                .transpose()?,
            status: query_code("status", self.status.as_deref())?,
            capacity: query_code("capacity", self.capacity.as_deref())?,
            accepts_referrals: pagination::flag(
                "accepts_referrals",
                self.accepts_referrals.as_deref(),
            )?,
            area: self
                .area
                .as_deref()
                .map(|a| {
                    fields::Area(a.to_owned())
                        .parse()
                        .map(|a| AreaQuery::parse(&a))
                        .map_err(|e| ApiError::bad_parameter("area", e.code, e.message))
                })
                .transpose()?,
            age: self
                .age
                .as_deref()
                .map(|a| {
                    a.parse::<i64>()
                        .map_err(|_| Invalid::new("invalid_integer", "must be a whole number"))
                        .and_then(directory::min_age)
                        .map_err(|e| ApiError::bad_parameter("age", e.code, e.message))
                })
                .transpose()?,
            open_on: query_code("open_on", self.open_on.as_deref())?,
            open_at: self
                .open_at
                .as_deref()
                .map(|t| {
                    opening_hours::time_of_day(t)
                        .map_err(|e| ApiError::bad_parameter("open_at", e.code, e.message))
                })
                .transpose()?,
        })
    }

    /// What a cursor is bound to: this list with exactly these filters.
    fn cursor_scope(&self) -> String {
        let filters = [
            &self.need,
            &self.q.as_ref().map(|q| q.0.clone()),
            &self.status,
            &self.capacity,
            &self.accepts_referrals,
            &self.area,
            &self.age,
            &self.open_on,
            &self.open_at,
        ];
        format!("services|{}", serde_json::json!(filters))
    }
}

/// Search the directory of services.
///
/// Every filter given must hold; services in the order they were added.
#[utoipa::path(
    operation_id = "list_services",
    tag = "directory",
    params(ServiceQuery),
    responses(
        (status = 200, description = "A page of services", body = ServicePage),
        PublicListProblems,
    ),
    security((), ("bearer" = [])),
)]
#[get("/directory/services")]
pub async fn list_services(
    _: Open<ListServices>,
    state: web::Data<AppState>,
    query: web::Query<ServiceQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.filter()?;
    let limit = pagination::limit(query.limit.as_deref())?;
    let scope = query.cursor_scope();
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let rows = db::run(&state, move |conn| {
        Ok(store::search(conn, &filter, after, limit + 1)?)
    })
    .await?;
    let (rows, next_cursor) = pagination::finish(
        rows,
        limit,
        |s| Keyset {
            at: s.created_at,
            id: s.id,
        },
        &state.cursors,
        &scope,
    );
    Ok(HttpResponse::Ok().json(ServicePage {
        items: rows.iter().map(ServiceView::from).collect(),
        next_cursor,
    }))
}

/// Read one directory service.
#[utoipa::path(
    operation_id = "get_service",
    tag = "directory",
    params(("id" = Uuid, Path, description = "The service's id")),
    responses(
        (status = 200, description = "The service", body = ServiceView,
            headers(("ETag" = String, description = "The service's version"))),
        PublicReadProblems,
    ),
    security((), ("bearer" = [])),
)]
#[get("/directory/services/{id}")]
pub async fn get_service(
    _: Open<GetService>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let service = db::run(&state, move |conn| Ok(store::get(conn, id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(wire::current(service.version, &ServiceView::from(&service)))
}

impl Creatable for ServiceView {
    const SAYS: &'static str = "Service added";
    const NOUN: &'static str = "service";
}
