//! The one transaction every change to an existing resource shares: the handler's `apply`
//! loads, checks (visibility, `If-Match`, domain rules) and writes; its success or refusal is
//! audited in the same transaction, against the addressed resource; a failure rolls back.

use actix_web::web;
use linkwell_persistence::Tx;
use uuid::Uuid;

use crate::access::{ErasePerson, Guarded};
use crate::audit::{Actor, Outcome, Refusal, Stop};
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
    F: Fn(&mut Tx<'_>, &Actor) -> Result<T, Stop> + Send + 'static,
    T: Send + 'static,
{
    db::transaction(state, move |conn| {
        match erased_or(conn, &actor, id, &apply) {
            Ok(value) => {
                actor.record(conn, Some(id), Outcome::Success)?;
                Ok(Ok(value))
            }
            Err(Stop::Refused(refusal)) => {
                actor.record(conn, refusal.about.or(Some(id)), refusal.outcome)?;
                Ok(Err(refusal.error))
            }
            Err(Stop::Failed(error)) => Err(error),
        }
    })
    .await?
}

/// `apply`, unless the record belongs to a person erased since the request passed the access
/// gate (`access::refuse_if_erased`: then refused as not found) or to a referral anonymised
/// when its retention ran out (409): read under the writers' lock.
fn erased_or<T, F>(conn: &mut Tx<'_>, actor: &Actor, id: Uuid, apply: &F) -> Result<T, Stop>
where
    F: Fn(&mut Tx<'_>, &Actor) -> Result<T, Stop>,
{
    // The erasure answers a second erasure itself (410).
    if actor.operation.audited && actor.operation.id != ErasePerson::OPERATION.id {
        let standing =
            linkwell_persistence::erasure::standing_locked(conn, actor.operation.resource, id)?;
        Refusal::unless_current(standing)?;
    }
    apply(conn, actor)
}
