//! The one transaction every change to an existing resource shares: the handler's `apply`
//! loads, checks (visibility, `If-Match`, domain rules) and writes; its success or refusal is
//! audited in the same transaction, against the addressed resource; a failure rolls back.

use actix_web::web;
use linkwell_domain::Role;
use linkwell_persistence::erasure::{self, Standing};
use linkwell_persistence::{Tx, connections, referrals};
use uuid::Uuid;

use crate::access::{ErasePerson, Guarded};
use crate::audit::{Actor, Outcome, Refusal, Stop};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{db, routes};

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
        current(conn, actor, id)?;
    }
    apply(conn, actor)
}

/// Refuses a write to record `id` (of the operation's kind) unless it stands current, read
/// under the writers' lock: an erased person's record is not found; an anonymised referral
/// takes nothing more (409), which only a caller who may see the record learns. To anyone
/// else it is as missing as any other record, before the handler's own visibility check.
pub(crate) fn current(conn: &mut Tx<'_>, actor: &Actor, id: Uuid) -> Result<(), Stop> {
    let kind = actor.operation.resource;
    let standing = erasure::standing_locked(conn, kind, id)?;
    if standing == Standing::Anonymised && !in_sight(conn, &actor.caller, kind, id)? {
        return Err(Refusal::not_found().into());
    }
    Ok(Refusal::unless_current(standing)?)
}

/// Whether `caller` may see record `id`: staff every one; a referring organisation its own
/// referrals, a receiving one the connections addressed to it; anything else nobody outside.
fn in_sight(conn: &mut Tx<'_>, caller: &Caller, kind: &str, id: Uuid) -> Result<bool, ApiError> {
    Ok(match (caller.role, kind) {
        (Role::Admin | Role::Coordinator, _) => true,
        (_, "referral") => match routes::referrals::visibility(caller) {
            Ok(visibility) => referrals::get(conn, id, visibility)?.is_some(),
            Err(_) => false,
        },
        (_, "connection") => match routes::connections::visibility(caller) {
            Ok(visibility) => connections::get(conn, id, visibility)?.is_some(),
            Err(_) => false,
        },
        _ => false,
    })
}
