//! Organisations: GP practices, partners, agencies and community groups.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use linkwell_domain::{Organisation, OrganisationKind};
use linkwell_persistence::{DbConnection, organisations};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::access::{
    Allowed, AllowedJson, ClearOrganisationNetwork, CreateOrganisation, GetOrganisation,
    ListOrganisations, SetOrganisationNetwork,
};
use crate::audit::{Refusal, Stop};
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at, at_optional, query_code, query_uuid};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::listing;
use crate::pagination::{Page, PageQuery};
use crate::precondition::IfMatch;
use crate::schema::{
    ChangeProblems, ChangeWithoutBodyProblems, CreateProblems, ListProblems, ReadProblems,
};
use crate::state::AppState;
use crate::{change, clock, db, rules, schema, wire};

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
    /// The network it belongs to, such as its Primary Care Network.
    pub network_id: Option<Uuid>,
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
    /// The network it belongs to (`null`: none).
    #[schema(required = true)]
    pub network_id: Option<Uuid>,
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
            network_id: o.network_id,
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
        network_id: input.network_id,
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
        if let Some(network) = org.network_id {
            known_network(conn, network)?;
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
    /// The organisations of one network.
    #[param(value_type = Option<Uuid>)]
    pub network_id: Option<String>,
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
    let kind = query_code::<OrganisationKind>("kind", query.kind.as_deref())?;
    let network = query_uuid("network_id", query.network_id.as_deref())?;
    let scope = format!(
        "organisations|{}|{}",
        query.kind.clone().unwrap_or_default(),
        query.network_id.clone().unwrap_or_default()
    );
    let page = PageQuery {
        limit: query.limit.clone(),
        cursor: query.cursor.clone(),
    };
    let (rows, next_cursor) = listing::top_level(&state, scope, &page, move |conn, w| {
        Ok(organisations::list(conn, kind, network, w.after, w.limit)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(OrganisationPage {
        items: rows.iter().map(OrganisationView::from).collect(),
        next_cursor,
    }))
}

/// A registered network, or a 422 at `/network_id`.
fn known_network(conn: &mut DbConnection, network: Uuid) -> Result<(), Stop> {
    if organisations::get_network(conn, network)?.is_none() {
        return Err(Refusal::invalid("/network_id", "unknown_network", "names no network").into());
    }
    Ok(())
}

/// Which network an organisation joins.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NetworkMembership)]
pub struct NetworkInput {
    pub network_id: Uuid,
}

/// Put an organisation in a network, or move it to another.
///
/// Its referrals count towards the network from then on, those received before included,
/// and no longer towards the network it left. A network that does not exist is 422
/// `unknown_network`. Send `If-Match` with the ETag you read.
#[utoipa::path(
    operation_id = "set_organisation_network",
    tag = "organisations",
    params(("id" = Uuid, Path, description = "The organisation's id"), IfMatch),
    request_body = NetworkInput,
    responses(
        (status = 200, description = "The organisation, in its network", body = OrganisationView,
            headers(("ETag" = String, description = "The organisation's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[put("/organisations/{id}/network")]
pub async fn set_organisation_network(
    request: AllowedJson<SetOrganisationNetwork, NetworkInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let network = body.value.network_id;
    move_to_network(&state, actor, id.into_inner(), if_match, Some(network)).await
}

/// Take an organisation out of its network.
///
/// Its referrals no longer count towards the network, those received before included. Send
/// `If-Match` with the ETag you read.
#[utoipa::path(
    operation_id = "clear_organisation_network",
    tag = "organisations",
    params(("id" = Uuid, Path, description = "The organisation's id"), IfMatch),
    responses(
        (status = 200, description = "The organisation, in no network", body = OrganisationView,
            headers(("ETag" = String, description = "The organisation's new version"))),
        ChangeWithoutBodyProblems,
    ),
    security(("bearer" = [])),
)]
#[delete("/organisations/{id}/network")]
pub async fn clear_organisation_network(
    allowed: Allowed<ClearOrganisationNetwork>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    move_to_network(&state, allowed.actor, id.into_inner(), if_match, None).await
}

async fn move_to_network(
    state: &web::Data<AppState>,
    actor: crate::audit::Actor,
    id: Uuid,
    if_match: IfMatch,
    to: Option<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match.versions()?;
    let org = change::change(state, actor, id, move |conn, _| {
        let mut org = expected.current(organisations::get(conn, id)?, |o| o.version)?;
        if let Some(network) = to {
            known_network(conn, network)?;
        }
        if org.network_id == to {
            return Ok(org);
        }
        let previous = org.version;
        org.network_id = to;
        org.updated_at = clock::now();
        org.version += 1;
        if !organisations::set_network(conn, &org, previous)? {
            return Err(Refusal::stale().into());
        }
        Ok(org)
    })
    .await?;
    Ok(wire::current(org.version, &OrganisationView::from(&org)))
}

impl Creatable for OrganisationView {
    const SAYS: &'static str = "Organisation registered";
    const NOUN: &'static str = "organisation";
}
