//! The one transaction every change to an existing resource shares: the handler's `apply`
//! loads, checks (visibility, `If-Match`, domain rules) and writes; its success or refusal is
//! audited in the same transaction, against the addressed resource; a failure rolls back.

use actix_web::web;
use linkwell_persistence::DbConnection;
use uuid::Uuid;

use crate::audit::{Actor, Outcome, Stop};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// Runs `apply` on resource `id` in a write transaction and returns what it made.
pub async fn change<T, F>(
    state: &web::Data<AppState>,
    actor: Actor,
    id: Uuid,
    apply: F,
) -> Result<T, ApiError>
where
    F: Fn(&mut DbConnection, &Actor) -> Result<T, Stop> + Send + 'static,
    T: Send + 'static,
{
    db::transaction(state, move |conn| match apply(conn, &actor) {
        Ok(value) => {
            actor.record(conn, Some(id), Outcome::Success)?;
            Ok(Ok(value))
        }
        Err(Stop::Refused(refusal)) => {
            actor.record(conn, refusal.about.or(Some(id)), refusal.outcome)?;
            Ok(Err(refusal.error))
        }
        Err(Stop::Failed(error)) => Err(error),
    })
    .await?
}
