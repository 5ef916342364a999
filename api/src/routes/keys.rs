//! The public keys that verify Linkwell's tokens, for other services (RFC 7517).

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

use crate::access::{Probe, PublicKeys};
use crate::signing_keys::Jwks;
use crate::state::AppState;

/// Where the key set is published (RFC 8615 well-known location).
pub const PATH: &str = "/.well-known/jwks.json";

/// How long a verifier may keep the key set: short enough that a newly configured key is
/// fetched well within any token's lifetime.
pub const CACHE_CONTROL: &str = "public, max-age=300";

/// The public keys that verify Linkwell's tokens (JSON Web Key Set)
///
/// The signing key and the older keys still accepted; public keys only, open to anyone. A
/// token names its key by `kid` in its header: verify it as ES256 with the key of that `kid`,
/// and fetch the set again when a `kid` is not in it (it may be cached for 5 minutes).
#[utoipa::path(
    operation_id = "jwks",
    tag = "keys",
    responses((
        status = 200,
        description = "The public keys that verify Linkwell's tokens",
        body = Jwks,
        content_type = "application/jwk-set+json",
        headers(("Cache-Control" = String, description = "`public, max-age=300`")),
    )),
    security((), ("bearer" = [])),
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(_: Probe<PublicKeys>, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .json(state.tokens.jwks())
}
