//! `Idempotency-Key` on creates: a retry gets the first answer back and creates nothing; the
//! same key with a different body is refused. Keys are scoped to the caller, the operation and
//! the path it was sent to (a key reused on another parent makes a request of its own there).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use linkwell_persistence::DbConnection;
use linkwell_persistence::idempotency::{self, StoredResponse};
use sha2::{Digest, Sha256};

use crate::audit::Actor;
use crate::clock;
use crate::error::ApiError;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a response that repeats a stored one.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Stored answers are kept at least this long.
pub const RETENTION_HOURS: i64 = 48;

/// The client's key as sent, checked only when the handler asks (after authorisation), so an
/// unauthorised caller gets 401/403 rather than a header complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    raw: Option<Vec<u8>>,
    /// The path it came with, e.g. `/v1/referrals/{id}/sessions` with the id.
    path: String,
}

impl IdempotencyKey {
    /// Whether the client sent the header at all.
    pub fn is_sent(&self) -> bool {
        self.raw.is_some()
    }

    /// The key, if one was sent: 1 to 255 visible ASCII characters.
    fn parse(self) -> Result<Option<String>, ApiError> {
        let Some(raw) = self.raw else { return Ok(None) };
        let valid = (1..=255).contains(&raw.len()) && raw.iter().all(u8::is_ascii_graphic);
        match String::from_utf8(raw) {
            Ok(key) if valid => Ok(Some(key)),
            _ => Err(ApiError::bad_parameter(
                "Idempotency-Key",
                "invalid_header",
                "must be 1 to 255 visible ASCII characters",
            )),
        }
    }
}

/// Documents the header once for every operation that takes it (`params(IdempotencyKey)`).
impl utoipa::IntoParams for IdempotencyKey {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::Required;
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        vec![
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Makes retries safe: 1 to 255 visible ASCII characters, unique per request.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(255))
                        .pattern(Some(r"^[\x21-\x7E]+$")),
                ))
                .build(),
        ]
    }
}

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req
            .headers()
            .get(&IDEMPOTENCY_KEY)
            .map(|v| v.as_bytes().to_vec());
        ready(Ok(Self {
            raw,
            path: req.path().to_owned(),
        }))
    }
}

/// A keyed request on its way through a create.
#[derive(Debug, Clone)]
pub struct Keyed {
    scope: String,
    key: String,
    request_hash: String,
}

impl Keyed {
    /// `None` when the client sent no key; 400 when the key is malformed.
    pub fn new(key: IdempotencyKey, actor: &Actor, body: &[u8]) -> Result<Option<Self>, ApiError> {
        let path = key.path.clone();
        let Some(key) = key.parse()? else {
            return Ok(None);
        };
        let caller = &actor.caller;
        let org = caller.org.map(|o| o.to_string()).unwrap_or_default();
        let role = actor.role().map_or("anonymous", |r| r.as_str());
        Ok(Some(Self {
            scope: format!("{}|{role}|{org}|{}|{path}", actor.operation.id, caller.sub),
            key,
            request_hash: fingerprint(body),
        }))
    }

    /// Looks for an earlier answer: `Ok(Some)` to replay, `Err` when the body differs.
    pub fn earlier(&self, conn: &mut DbConnection) -> Result<Option<StoredResponse>, ApiError> {
        match idempotency::find(conn, &self.scope, &self.key)? {
            Some(stored) if stored.request_hash != self.request_hash => {
                Err(ApiError::IdempotencyKeyReused)
            }
            found => Ok(found),
        }
    }

    /// Saves this request's answer, in the transaction that made it.
    pub fn save(
        &self,
        conn: &mut DbConnection,
        status: StatusCode,
        location: Option<&str>,
        body: &str,
    ) -> Result<(), ApiError> {
        let stored = StoredResponse {
            scope: self.scope.clone(),
            key: self.key.clone(),
            request_hash: self.request_hash.clone(),
            status_code: status.as_u16(),
            location: location.map(str::to_owned),
            response_body: body.to_owned(),
            created_at: clock::now(),
        };
        Ok(idempotency::save(conn, &stored)?)
    }
}

/// Digest of the body's JSON value, so whitespace and key order do not make a retry "different".
fn fingerprint(body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .and_then(|v| serde_json::to_vec(&v))
        .unwrap_or_else(|_| body.to_vec());
    let digest = Sha256::digest(&canonical);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Replays a stored answer as it was first sent.
pub fn replay(stored: &StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status_code).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, "application/json"));
    response.insert_header((REPLAYED, "true"));
    if let Some(location) = &stored.location {
        response.insert_header((header::LOCATION, location.as_str()));
    }
    if let Some(version) = serde_json::from_str::<serde_json::Value>(&stored.response_body)
        .ok()
        .and_then(|v| v.get("version").and_then(serde_json::Value::as_i64))
    {
        response.insert_header(crate::wire::etag(version));
    }
    response.body(stored.response_body.clone())
}

/// Forgets stored answers past retention.
pub fn purge(conn: &mut DbConnection) -> Result<usize, ApiError> {
    let cutoff = Utc::now() - Duration::hours(RETENTION_HOURS);
    Ok(idempotency::purge_before(conn, cutoff)?)
}
