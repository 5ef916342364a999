//! Requests a partner leaves unanswered past the response window expire: every instance runs
//! this periodically, and `linkwell expire` runs it once. Several at once never expire a
//! connection twice: each is expired in its own transaction that re-reads it and writes only
//! if its version is unchanged, so the one that loses a race skips it.

use std::sync::Weak;
use std::time::Duration;

use chrono::{DateTime, Utc};
use linkwell_persistence::audit::{self, AuditEvent};
use linkwell_persistence::connections::{self, Visibility};
use linkwell_persistence::erasure::{self, Standing};
use linkwell_persistence::page::Keyset;
use linkwell_persistence::{DbConnection, Tx, checkout, people, write_transaction};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// Who the audit trail names for expiries.
pub const ACTOR: &str = "linkwell-expiry";
/// Connections examined per query.
const BATCH: i64 = 100;

/// When requests expire, and how often an instance looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long a partner has to answer a request.
    pub window: chrono::Duration,
    /// How often each instance runs the expiry.
    pub every: Duration,
}

/// Expires every request due at `now`; returns how many this call expired (not those another
/// instance got to first). A request under an erased person or an anonymised referral is left
/// as it is: nothing more is written under either.
pub fn run_once(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    window: chrono::Duration,
) -> Result<usize, ApiError> {
    let mut expired = 0;
    let mut after = None;
    loop {
        let due = connections::due_for_expiry(conn, now - window, after, BATCH)?;
        for candidate in &due {
            expired += usize::from(write_transaction(conn, |tx| {
                expire(tx, candidate.id, now, window)
            })?);
        }
        match due.last() {
            Some(last) if i64::try_from(due.len()).unwrap_or(i64::MAX) == BATCH => {
                after = Some(Keyset {
                    at: last.created_at,
                    id: last.id,
                });
            }
            _ => return Ok(expired),
        }
    }
}

/// Expires connection `id` if it is still due, read under its referral's lock (which every
/// writer under a referral, an erasure and a purge take first); whether it did.
fn expire(
    tx: &mut Tx<'_>,
    id: Uuid,
    now: DateTime<Utc>,
    window: chrono::Duration,
) -> Result<bool, ApiError> {
    if erasure::standing_locked(tx, "connection", id)? != Standing::Current {
        return Ok(false);
    }
    let Some(mut connection) = connections::get(tx, id, Visibility::All)? else {
        return Ok(false);
    };
    let previous = connection.version;
    let person = people::for_referrals(tx, &[connection.referral_id])?
        .remove(&connection.referral_id)
        .ok_or_else(|| ApiError::Internal("a connection's person vanished".into()))?;
    if !connection.expire(now, window, &person.details)
        || !connections::save(tx, &connection, previous)?
    {
        return Ok(false);
    }
    let concerns = audit::concerning(tx, "connection", connection.id)?;
    audit::record(tx, &event(connection.id, now, concerns))?;
    Ok(true)
}

fn event(connection: Uuid, at: DateTime<Utc>, concerns: audit::Concerns) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        occurred_at: at,
        actor_sub: ACTOR.to_owned(),
        actor_role: "system".to_owned(),
        actor_org_id: None,
        action: "connection.expire".to_owned(),
        resource_type: "connection".to_owned(),
        resource_id: Some(connection),
        resource_ids: Vec::new(),
        outcome: "success".to_owned(),
        request_id: format!("expiry-{}", at.timestamp_micros()),
        person_id: concerns.person_id,
        referral_id: concerns.referral_id,
    }
}

/// Runs the expiry every `policy.every` until the app's state is dropped; a failure is logged
/// and tried again next round.
pub fn spawn(state: Weak<AppState>, policy: Policy) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(policy.every);
            let Some(state) = state.upgrade() else { return };
            let result = checkout(&state.pool, state.db_timeout)
                .map_err(ApiError::from)
                .and_then(|mut conn| run_once(&mut conn, crate::clock::now(), policy.window));
            match result {
                Ok(0) => {}
                Ok(n) => log::info!("expired {n} unanswered connection requests"),
                Err(e) => log::warn!("connection expiry failed, retrying next round: {e:?}"),
            }
        }
    });
}
