//! Organisations: GP practices, partners, agencies and community groups.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::{Organisation, OrganisationKind};
use linkwell_persistence::{Keyset, organisations};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::access::{Allowed, AllowedJson, CreateOrganisation, GetOrganisation, ListOrganisations};
use crate::audit::Refusal;
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at, at_optional, query_code};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::pagination;
use crate::pagination::Page;
use crate::schema::{CreateProblems, ListProblems, ReadProblems};
use crate::state::AppState;
use crate::{clock, db, rules, schema, wire};

/// An organisation to register.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewOrganisation)]
pub struct OrganisationInput {
    #[validate(custom(function = "rules::field"))]
    pub name: fields::OrganisationName,
    #[validate(custom(function = "rules::field"))]
    pub kind: schema::OrganisationKind,
    /// Unique among organisations.
    #[validate(custom(function = "rules::field"))]
    pub ods_code: Option<fields::OdsCode>,
}

/// An organisation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Organisation)]
pub struct OrganisationView {
    pub id: Uuid,
    #[schema(value_type = crate::fields::OrganisationName)]
    pub name: String,
    #[schema(value_type = schema::OrganisationKind)]
    pub kind: String,
    #[schema(required = true, value_type = Option<crate::fields::OdsCode>)]
    pub ods_code: Option<String>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
}

impl From<&Organisation> for OrganisationView {
    fn from(o: &Organisation) -> Self {
        Self {
            id: o.id,
            name: o.name.clone(),
            kind: o.kind.as_str().to_owned(),
            ods_code: o.ods_code.as_ref().map(|c| c.as_str().to_owned()),
            created_at: o.created_at,
            updated_at: o.updated_at,
            version: o.version,
        }
    }
}

/// A page of organisations.
pub type OrganisationPage = Page<OrganisationView>;

/// Register an organisation.
///
/// An `ods_code` already registered is 409 and names the existing organisation in
/// `existing_id`. An `Idempotency-Key` makes retries safe, as for every create.
#[utoipa::path(
    operation_id = "create_organisation",
    tag = "organisations",
    params(IdempotencyKey),
    request_body = OrganisationInput,
    responses(
        Created<OrganisationView>,
        CreateProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/organisations")]
pub async fn create_organisation(
    request: AllowedJson<CreateOrganisation, OrganisationInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let now = clock::now();
    let org = Organisation {
        id: Uuid::now_v7(),
        name: at("/name", input.name.parse())?,
        kind: at("/kind", input.kind.parse())?,
        ods_code: at_optional("/ods_code", input.ods_code.as_ref())?,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    create::create(&state, actor, key, &body.raw, move |conn, _| {
        if let Some(code) = &org.ods_code
            && let Some(existing) = organisations::find_by_ods_code(conn, code)?
        {
            let detail = format!("an organisation with ODS code {code} already exists: {existing}");
            return Err(Refusal::duplicate(existing, detail).into());
        }
        organisations::insert(conn, &org)?;
        let location = format!("/v1/organisations/{}", org.id);
        Ok(Made::new(
            org.id,
            Some(location),
            Some(org.version),
            &OrganisationView::from(&org),
        )?)
    })
    .await
}

/// Read one organisation.
#[utoipa::path(
    operation_id = "get_organisation",
    tag = "organisations",
    params(("id" = Uuid, Path, description = "The organisation's id")),
    responses(
        (status = 200, description = "The organisation", body = OrganisationView,
            headers(("ETag" = String, description = "The organisation's version"))),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/organisations/{id}")]
pub async fn get_organisation(
    _allowed: Allowed<GetOrganisation>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let org = db::run(&state, move |conn| Ok(organisations::get(conn, id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(wire::current(org.version, &OrganisationView::from(&org)))
}

/// Filters and paging for the organisation list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrganisationQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` from the previous page, with the same filters.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length = 120)]
    pub cursor: Option<String>,
    #[param(value_type = Option<schema::OrganisationKind>)]
    pub kind: Option<String>,
}

/// List organisations, newest first.
#[utoipa::path(
    operation_id = "list_organisations",
    tag = "organisations",
    params(OrganisationQuery),
    responses(
        (status = 200, description = "A page of organisations", body = OrganisationPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/organisations")]
pub async fn list_organisations(
    _allowed: Allowed<ListOrganisations>,
    state: web::Data<AppState>,
    query: web::Query<OrganisationQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.limit.as_deref())?;
    let kind = query_code::<OrganisationKind>("kind", query.kind.as_deref())?;
    let scope = format!("organisations|{}", query.kind.clone().unwrap_or_default());
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let rows = db::run(&state, move |conn| {
        Ok(organisations::list(conn, kind, after, limit + 1)?)
    })
    .await?;
    let (rows, next_cursor) = pagination::finish(
        rows,
        limit,
        |o| Keyset {
            at: o.created_at,
            id: o.id,
        },
        &state.cursors,
        &scope,
    );
    Ok(HttpResponse::Ok().json(OrganisationPage {
        items: rows.iter().map(OrganisationView::from).collect(),
        next_cursor,
    }))
}

impl Creatable for OrganisationView {
    const SAYS: &'static str = "Organisation registered";
    const NOUN: &'static str = "organisation";
}
