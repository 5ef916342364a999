//! Networks of organisations, such as the practices of a Primary Care Network: commissioners
//! read the activity report of a network whole (`network_id`).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::Network;
use linkwell_persistence::organisations;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::access::{Allowed, AllowedJson, CreateNetwork, GetNetwork, ListNetworks};
use crate::audit::Refusal;
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, at};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::listing;
use crate::pagination::{Page, PageQuery};
use crate::schema::{CreateProblems, ListProblems, ReadProblems};
use crate::state::AppState;
use crate::{clock, db, rules, wire};

/// A network to make.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewNetwork)]
pub struct NetworkInput {
    #[validate(custom(function = "rules::field"))]
    pub name: fields::NetworkName,
}

/// A network of organisations.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Network)]
pub struct NetworkView {
    pub id: Uuid,
    #[schema(value_type = fields::NetworkName)]
    pub name: String,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
}

impl From<&Network> for NetworkView {
    fn from(n: &Network) -> Self {
        Self {
            id: n.id,
            name: n.name.clone(),
            created_at: n.created_at,
            updated_at: n.updated_at,
            version: n.version,
        }
    }
}

impl Creatable for NetworkView {
    const SAYS: &'static str = "Network made";
    const NOUN: &'static str = "network";
}

/// A page of networks.
pub type NetworkPage = Page<NetworkView>;

/// Make a network of organisations.
///
/// Organisations join it with `PUT /v1/organisations/{id}/network`, or when registered. A
/// name another network has (ignoring case) is 409, naming that network in `existing_id`.
#[utoipa::path(
    operation_id = "create_network",
    tag = "organisations",
    params(IdempotencyKey),
    request_body = NetworkInput,
    responses(Created<NetworkView>, CreateProblems),
    security(("bearer" = [])),
)]
#[post("/networks")]
pub async fn create_network(
    request: AllowedJson<CreateNetwork, NetworkInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let now = clock::now();
    let network = Network {
        id: Uuid::now_v7(),
        name: at("/name", body.value.name.parse())?,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    create::create(&state, actor, key, &body.raw, move |conn, _| {
        if let Some(existing) = organisations::find_network_by_name(conn, &network.name)? {
            let detail = format!(
                "a network called {} already exists: {existing}",
                network.name
            );
            return Err(Refusal::duplicate(existing, detail).into());
        }
        organisations::insert_network(conn, &network)?;
        let location = format!("/v1/networks/{}", network.id);
        Ok(Made::new(
            network.id,
            Some(location),
            Some(network.version),
            &NetworkView::from(&network),
        )?)
    })
    .await
}

/// List networks, in the order they were made.
#[utoipa::path(
    operation_id = "list_networks",
    tag = "organisations",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of networks", body = NetworkPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/networks")]
pub async fn list_networks(
    _allowed: Allowed<ListNetworks>,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (rows, next_cursor) = listing::top_level(&state, "networks".into(), &query, |conn, w| {
        Ok(organisations::networks(conn, w.after, w.limit)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(NetworkPage {
        items: rows.iter().map(NetworkView::from).collect(),
        next_cursor,
    }))
}

/// Read one network.
#[utoipa::path(
    operation_id = "get_network",
    tag = "organisations",
    params(("id" = Uuid, Path, description = "The network's id")),
    responses(
        (status = 200, description = "The network", body = NetworkView,
            headers(("ETag" = String, description = "The network's version"))),
        ReadProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/networks/{id}")]
pub async fn get_network(
    _allowed: Allowed<GetNetwork>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let network = db::run(&state, move |conn| {
        Ok(organisations::get_network(conn, id)?)
    })
    .await?
    .ok_or(ApiError::NotFound)?;
    Ok(wire::current(network.version, &NetworkView::from(&network)))
}
