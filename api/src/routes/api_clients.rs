//! Systems registered to call the API on their own (OAuth 2 client credentials): an
//! administrator registers each with the role and organisation its tokens carry, and revokes it.
//! Tokens come from `POST /v1/auth/token` (see `routes::auth_token`).

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::{ApiClient, ClientCredential, Invalid, NewApiClient, Role};
use linkwell_persistence::{Keyset, api_clients, organisations};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::access::{
    Allowed, AllowedJson, CreateApiClient, GetApiClient, ListApiClients, RevokeApiClient,
};
use crate::audit::Refusal;
use crate::client_keys::{self, ClientJwks};
use crate::create::{self, Made};
use crate::error::{ApiError, FieldError, at};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::pagination::Page;
use crate::schema::{ActionProblems, CreateProblems, ListProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{change, clock, db, pagination, rules, schema, wire};

/// A system to register.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewApiClient)]
pub struct ApiClientInput {
    #[validate(custom(function = "rules::field"))]
    pub name: fields::ClientName,
    /// The role its tokens carry: coordinator, referrer, partner or commissioner (never admin).
    #[validate(custom(function = "rules::role"))]
    #[schema(value_type = schema::SystemRole)]
    pub role: String,
    /// The organisation a referrer or partner system acts for: required for those roles,
    /// refused for the others.
    pub org_id: Option<Uuid>,
    /// The system's public keys (RFC 7517 JSON Web Key Set: RSA, or EC P-256/P-384), for
    /// `private_key_jwt`. Without it the system gets a secret instead.
    #[validate(nested)]
    pub jwks: Option<JwksInput>,
}

/// A JSON Web Key Set (RFC 7517) of public keys: one to ten, RSA (2048 to 4096 bits) or EC
/// (P-256, P-384).
#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Jwks)]
pub struct JwksInput {
    #[validate(nested)]
    #[schema(min_items = 1, max_items = 10)]
    pub keys: Vec<JwkInput>,
}

/// One public key (RFC 7517 §4, RFC 7518 §6). A private member (`d`, `p`, `q`, `dp`, `dq`,
/// `qi`, `oth`, `k`) is refused: the private key stays with the system.
// The lengths leave room for any key `client_keys` takes (an RSA modulus of up to 12,288
// bits, a P-384 coordinate) and refuse anything longer before it is parsed.
#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Jwk)]
pub struct JwkInput {
    /// `RSA` or `EC`.
    #[validate(length(max = 3))]
    #[schema(pattern = "^(RSA|EC)$", max_length = 3)]
    pub kty: String,
    /// Names the key, as the assertion's header does.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 255))]
    #[schema(max_length = 255)]
    pub kid: Option<String>,
    /// `sig` when given.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 3))]
    #[schema(max_length = 3)]
    pub key_use: Option<String>,
    /// RS256, RS384, ES256 or ES384 when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 5))]
    #[schema(max_length = 5)]
    pub alg: Option<String>,
    /// RSA modulus, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2048))]
    #[schema(max_length = 2048)]
    pub n: Option<String>,
    /// RSA exponent, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 16))]
    #[schema(max_length = 16)]
    pub e: Option<String>,
    /// EC curve: `P-256` or `P-384`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 5))]
    #[schema(max_length = 5)]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 96))]
    #[schema(max_length = 96)]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 96))]
    #[schema(max_length = 96)]
    pub y: Option<String>,
}

/// A registered system.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiClient)]
pub struct ApiClientView {
    pub id: Uuid,
    /// What the system sends as `client_id`, and as `iss` and `sub` of its assertions.
    #[schema(max_length = 64)]
    pub client_id: String,
    #[schema(value_type = crate::fields::ClientName)]
    pub name: String,
    #[schema(value_type = schema::SystemRole)]
    pub role: &'static str,
    #[schema(required = true)]
    pub org_id: Option<Uuid>,
    /// `private_key_jwt`, or `client_secret` (`client_secret_post` / `client_secret_basic`).
    #[schema(max_length = 32)]
    pub auth_method: &'static str,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When it was revoked: it gets no tokens, and those it has stop working.
    #[serde(serialize_with = "wire::optional_timestamp")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
}

impl From<&ApiClient> for ApiClientView {
    fn from(c: &ApiClient) -> Self {
        Self {
            id: c.id,
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            role: c.role.as_str(),
            org_id: c.org_id,
            auth_method: match c.credential {
                ClientCredential::SecretHash(_) => "client_secret",
                ClientCredential::Jwks(_) => "private_key_jwt",
            },
            created_at: c.created_at,
            revoked_at: c.revoked_at,
            version: c.version,
        }
    }
}

/// A system just registered, with its secret when it has one: shown this once, stored only as
/// a hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RegisteredApiClient)]
pub struct RegisteredView {
    #[serde(flatten)]
    pub client: ApiClientView,
    /// For `client_secret_post` / `client_secret_basic`; absent for key-based systems.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub client_secret: Option<String>,
}

/// A page of systems.
pub type ApiClientPage = Page<ApiClientView>;

/// Register a system.
///
/// Returns its `id` and `client_id`; without `jwks`, also a generated `client_secret`, shown
/// this once and stored only as an argon2 hash. Because the secret is never stored, this
/// request cannot be replayed: `Idempotency-Key` is refused (400), and a retry registers a
/// second system (revoke the spare). An `org_id` naming no organisation, or one whose kind does
/// not fit the role, is 422.
#[utoipa::path(
    operation_id = "create_api_client",
    tag = "api-clients",
    request_body = ApiClientInput,
    responses(
        (status = 201, description = "System registered", body = RegisteredView,
            headers(
                ("Location" = String, description = "The new system's URL"),
                ("ETag" = String, description = "The system's version"),
            )),
        CreateProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/api-clients")]
pub async fn create_api_client(
    request: AllowedJson<CreateApiClient, ApiClientInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    if key.is_sent() {
        return Err(ApiError::bad_parameter(
            "Idempotency-Key",
            "not_replayable",
            "a system's secret is shown once and never stored, so its registration cannot be replayed",
        ));
    }
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let name = at("/name", input.name.parse())?;
    let role: Role = at("/role", input.role.parse().map_err(Invalid::from))?;
    let new = at("/role", NewApiClient::new(name, role, input.org_id))?;
    let (credential, secret) = match input.jwks {
        Some(jwks) => {
            let value = serde_json::to_value(&jwks)
                .map_err(|e| ApiError::Internal(format!("re-reading a JWKS: {e}")))?;
            let jwks = ClientJwks::parse(&value).map_err(|refused| {
                ApiError::Validation(vec![FieldError::at(
                    format!("/jwks{}", refused.pointer),
                    refused.invalid.code,
                    refused.invalid.message,
                )])
            })?;
            (ClientCredential::Jwks(jwks.to_json()), None)
        }
        None => {
            let secret = client_keys::new_secret();
            // argon2 takes tens of milliseconds of CPU: off the async workers, as when checked.
            let hashing = secret.clone();
            let hash = web::block(move || client_keys::hash_secret(&hashing))
                .await
                .map_err(|e| ApiError::Internal(format!("hashing a client secret: {e}")))??;
            (ClientCredential::SecretHash(hash), Some(secret))
        }
    };
    let client = ApiClient {
        id: Uuid::now_v7(),
        client_id: client_keys::new_client_id(),
        name: new.name,
        role: new.role,
        org_id: new.org_id,
        credential,
        created_at: clock::now(),
        created_by: actor.caller.sub.clone(),
        revoked_at: None,
        revoked_by: None,
        version: 1,
    };
    create::create(&state, actor, key, &body.raw, move |conn, _| {
        if let Some(org) = client.org_id {
            match organisations::get(conn, org)? {
                None => {
                    let message = "names no registered organisation";
                    return Err(Refusal::invalid("/org_id", "unknown_organisation", message).into());
                }
                Some(o) if !client.role.may_act_for(o.kind) => {
                    let message = format!(
                        "a {} system cannot act for a {} organisation",
                        client.role,
                        o.kind.as_str()
                    );
                    return Err(Refusal::invalid("/org_id", "organisation_kind", message).into());
                }
                Some(_) => {}
            }
        }
        api_clients::insert(conn, &client)?;
        let view = RegisteredView {
            client: ApiClientView::from(&client),
            client_secret: secret.clone(),
        };
        let location = format!("/v1/api-clients/{}", client.id);
        Ok(Made::new(
            client.id,
            Some(location),
            Some(client.version),
            &view,
        )?)
    })
    .await
}

/// Read one system.
///
/// A revoked system is 410 Gone, saying when: `GET /v1/api-clients?revoked=true` still lists
/// it, for the record.
#[utoipa::path(
    operation_id = "get_api_client",
    tag = "api-clients",
    params(("id" = Uuid, Path, description = "The system's id")),
    responses(
        (status = 200, description = "The system", body = ApiClientView,
            headers(("ETag" = String, description = "The system's version"))),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/api-clients/{id}")]
pub async fn get_api_client(
    _allowed: Allowed<GetApiClient>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let client = db::run(&state, move |conn| Ok(api_clients::get(conn, id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    if let Some(at) = client.revoked_at {
        return Err(ApiError::Gone {
            detail: format!(
                "this system was revoked at {}; list it with `revoked=true`",
                wire::format_timestamp(at)
            ),
        });
    }
    Ok(wire::current(client.version, &ApiClientView::from(&client)))
}

/// Filters and paging for the system list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApiClientQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` from the previous page, with the same filters.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length = 120)]
    pub cursor: Option<String>,
    /// `true` for revoked systems only, `false` for working ones.
    #[param(value_type = Option<bool>)]
    pub revoked: Option<String>,
}

/// List systems, newest first.
#[utoipa::path(
    operation_id = "list_api_clients",
    tag = "api-clients",
    params(ApiClientQuery),
    responses(
        (status = 200, description = "A page of systems", body = ApiClientPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/api-clients")]
pub async fn list_api_clients(
    _allowed: Allowed<ListApiClients>,
    state: web::Data<AppState>,
    query: web::Query<ApiClientQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.limit.as_deref())?;
    let revoked = pagination::flag("revoked", query.revoked.as_deref())?;
    let scope = format!("api-clients|{}", query.revoked.clone().unwrap_or_default());
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let rows = db::run(&state, move |conn| {
        Ok(api_clients::list(conn, revoked, after, limit + 1)?)
    })
    .await?;
    let (rows, next_cursor) = pagination::finish(
        rows,
        limit,
        |c| Keyset {
            at: c.created_at,
            id: c.id,
        },
        &state.cursors,
        &scope,
    );
    Ok(HttpResponse::Ok().json(ApiClientPage {
        items: rows.iter().map(ApiClientView::from).collect(),
        next_cursor,
    }))
}

/// Revoke a system.
///
/// It gets no new tokens at once, and the tokens it holds stop working within the revocation
/// refresh (at most 30 seconds) on every instance, at once on the one that answers. Revoking a
/// revoked system changes nothing.
#[utoipa::path(
    operation_id = "revoke_api_client",
    tag = "api-clients",
    params(("id" = Uuid, Path, description = "The system's id")),
    responses(
        (status = 204, description = "Revoked"),
        ActionProblems,
    ),
    security(("bearer" = [])),
)]
#[delete("/api-clients/{id}")]
pub async fn revoke_api_client(
    allowed: Allowed<RevokeApiClient>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let by = allowed.actor.caller.sub.clone();
    let client = change::change(&state, allowed.actor, id, move |conn, _| {
        let mut client = api_clients::get(conn, id)?.ok_or_else(Refusal::not_found)?;
        if !client.is_revoked() {
            client.revoked_at = Some(clock::now());
            client.revoked_by = Some(by.clone());
            client.version += 1;
            api_clients::save_revocation(conn, &client)?;
        }
        Ok(client)
    })
    .await?;
    state.revoked.set(client.id, true);
    Ok(HttpResponse::NoContent().finish())
}
