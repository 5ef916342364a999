//! Retention (`linkwell purge`): referrals closed more than `LINKWELL_RETENTION_YEARS` ago lose
//! their free text, and a person with nothing left within retention is erased, through the
//! same store code as `POST /v1/people/{id}/erasure`. Safe beside running servers: each
//! referral and each person in a short transaction of its own, taking the locks the server
//! takes; idempotent, as what was done is not found again.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use linkwell_domain::privacy::{PURGE_ACTOR, RETENTION_REASON, retention_cutoff};
use linkwell_persistence::audit::{self, AuditEvent};
use linkwell_persistence::erasure::{self, Erased};
use linkwell_persistence::{DbConnection, write_transaction};
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;

/// Referrals read per query.
const BATCH: i64 = 100;

/// What a run did, or with `dry_run` would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub dry_run: bool,
    pub referrals_anonymised: usize,
    pub people_erased: usize,
}

/// Anonymises what is past `years` of retention at `now`; with `dry_run`, only counts it.
pub fn run(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    years: u32,
    dry_run: bool,
) -> Result<Counts, ApiError> {
    let cutoff = retention_cutoff(now, years);
    let mut counts = Counts {
        dry_run,
        referrals_anonymised: 0,
        people_erased: 0,
    };
    let mut people = BTreeSet::new();
    let mut after = None;
    loop {
        let due = erasure::expired(conn, cutoff, after, BATCH)?;
        let Some(last) = due.last() else { break };
        after = Some(last.referral_id);
        for item in &due {
            let done = dry_run
                || write_transaction(conn, |tx| {
                    let done = erasure::anonymise_expired(tx, item.referral_id, cutoff, now)?;
                    if done {
                        let event = event("referral.purge", "referral", item.referral_id, now);
                        let concerns = audit::concerning(tx, "referral", item.referral_id)?;
                        audit::record(tx, &concerned(event, concerns))?;
                    }
                    Ok::<_, ApiError>(done)
                })?;
            if done {
                counts.referrals_anonymised += 1;
                people.insert(item.person_id);
            }
        }
    }
    for person in people {
        let erased = if dry_run {
            erasure::nothing_retained(conn, person, cutoff)?
        } else {
            write_transaction(conn, |tx| {
                if !erasure::nothing_retained(tx, person, cutoff)? {
                    return Ok::<_, ApiError>(false);
                }
                let done = erasure::erase(tx, person, PURGE_ACTOR, RETENTION_REASON, now)?;
                if done == Erased::Done {
                    let event = event("person.erase", "person", person, now);
                    let concerns = audit::concerning(tx, "person", person)?;
                    audit::record(tx, &concerned(event, concerns))?;
                }
                Ok(done == Erased::Done)
            })?
        };
        counts.people_erased += usize::from(erased);
    }
    Ok(counts)
}

fn event(action: &str, resource: &str, id: Uuid, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        occurred_at: at,
        actor_sub: PURGE_ACTOR.to_owned(),
        actor_role: "system".to_owned(),
        actor_org_id: None,
        action: action.to_owned(),
        resource_type: resource.to_owned(),
        resource_id: Some(id),
        resource_ids: Vec::new(),
        outcome: "success".to_owned(),
        request_id: format!("purge-{}", at.timestamp_micros()),
        person_id: None,
        referral_id: None,
    }
}

fn concerned(event: AuditEvent, concerns: audit::Concerns) -> AuditEvent {
    AuditEvent {
        person_id: concerns.person_id,
        referral_id: concerns.referral_id,
        ..event
    }
}
