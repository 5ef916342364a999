//! Probes for orchestrators: liveness never touches the database; readiness does. Each spends
//! its own per-address allowance (`access::Probe`), a caller's quota, and a token, if sent,
//! must be valid.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use linkwell_persistence::{checkout, ping};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Live, Probe, Ready};
use crate::error::ApiError;
use crate::schema::ProbeProblems;
use crate::state::AppState;

/// Readiness waits at most this long for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    #[schema(max_length = 5)]
    pub status: &'static str,
}

/// Liveness: the process is up and serving.
#[utoipa::path(
    operation_id = "live",
    tag = "health",
    responses((status = 200, description = "Alive", body = Health)),
    security((), ("bearer" = [])),
)]
#[get("/health/live")]
pub async fn live(_: Probe<Live>) -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: the database answers within a second.
#[utoipa::path(
    operation_id = "ready",
    tag = "health",
    responses((status = 200, description = "Ready to serve", body = Health), ProbeProblems),
    security((), ("bearer" = [])),
)]
#[get("/health/ready")]
pub async fn ready(_: Probe<Ready>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    web::block(move || -> Result<(), ApiError> {
        let mut conn = checkout(&state.pool, READY_TIMEOUT)?;
        ping(&mut conn).map_err(|_| ApiError::Unavailable)
    })
    .await
    .map_err(|_| ApiError::Unavailable)??;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}
