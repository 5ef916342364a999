//! Erasure and retention: removing a person's personal data from every table while keeping
//! the ids, codes, dates, durations and scores the reports count, so their totals stay equal.
//! Every function here runs inside the caller's write transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use linkwell_domain::ReferralStatus;
use linkwell_domain::privacy::{ERASED_BIRTH_DATE, ERASED_TEXT};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::dialect::{self, Hold};
use crate::error::StoreResult;
use crate::schema::{
    audit_events, connection_notes, connections, consent_records, goal_progress_notes, goals,
    idempotency_keys, outcomes, people, plans, referral_status_changes, referral_team_moves,
    referrals, sessions,
};

/// How an erasure went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erased {
    /// Done: the person row is now a tombstone.
    Done,
    /// No such person (or a record merged away: erase the one it was merged into).
    NotFound,
    /// Erased before, at this time.
    Already(DateTime<Utc>),
    /// Refused: these referrals are still open (not in a final state).
    Open(Vec<Uuid>),
}

/// When the person `id` was erased; `None` when not (or no such person).
pub fn erased_at(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<DateTime<Utc>>> {
    let at: Option<Option<chrono::NaiveDateTime>> = people::table
        .find(id.to_string())
        .select(people::erased_at)
        .first(conn)
        .optional()?;
    Ok(at.flatten().map(convert::from_db))
}

/// Whether the record `id` (a person, or a referral or anything under one; `kind` as the
/// trail names it) belongs to an erased person.
pub fn concerns_erased(conn: &mut DbConnection, kind: &str, id: Uuid) -> StoreResult<bool> {
    Ok(crate::audit::concerning_with_erasure(conn, kind, id)?.1)
}

/// Whether referral `id` was anonymised when its retention ran out.
pub fn anonymised(conn: &mut DbConnection, id: Uuid) -> StoreResult<bool> {
    Ok(referrals::table
        .find(id.to_string())
        .select(referrals::anonymised_at)
        .first::<Option<chrono::NaiveDateTime>>(conn)
        .optional()?
        .flatten()
        .is_some())
}

/// Where the record a change is about stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Open to changes (as far as erasure and retention go).
    Current,
    /// Its person was erased: it is as if it never was.
    Erased,
    /// Its referral was anonymised when its retention period ran out: what it holds stays as
    /// the reports count it, and nothing more is written under it (a purge clears a referral
    /// once, so text written later would be kept for ever).
    Anonymised,
}

/// Where the record `id` (`kind` as the trail names it) stands, read under the lock every
/// writer under a referral takes (the referral's row), which an erasure and a purge take
/// first: a change either sees them committed, or commits before they read. Changes to a
/// person record alone are kept out of an erasure by its version, which the erasure moves on.
pub fn standing_locked(conn: &mut DbConnection, kind: &str, id: Uuid) -> StoreResult<Standing> {
    let concerns = crate::audit::concerning(conn, kind, id)?;
    let mut anonymised = false;
    if let Some(referral) = concerns.referral_id {
        dialect::lock_row(conn, "referrals", &referral.to_string())?;
        anonymised = self::anonymised(conn, referral)?;
    }
    let erased = match concerns.person_id {
        Some(person) => erased_at(conn, person)?.is_some(),
        None => false,
    };
    Ok(if erased {
        Standing::Erased
    } else if anonymised {
        Standing::Anonymised
    } else {
        Standing::Current
    })
}

/// Erases person `id`: the records merged into it too, every referral of theirs and what
/// hangs off it. Refused while any of their referrals is open. Takes the locks the server's
/// writers take, in their order: each referral's row, then the person's key, then the row.
pub fn erase(
    conn: &mut DbConnection,
    id: Uuid,
    by: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> StoreResult<Erased> {
    let person = id.to_string();
    let found: Option<(Option<String>, Option<chrono::NaiveDateTime>)> = people::table
        .find(&person)
        .select((people::merged_into, people::erased_at))
        .first(conn)
        .optional()?;
    match found {
        None | Some((Some(_), _)) => return Ok(Erased::NotFound),
        Some((None, Some(when))) => return Ok(Erased::Already(convert::from_db(when))),
        Some((None, None)) => {}
    }
    // The records merged into this one are the same human.
    let mut ids = vec![person.clone()];
    let mut frontier = ids.clone();
    while !frontier.is_empty() {
        let merged: Vec<String> = people::table
            .filter(people::merged_into.eq_any(&frontier))
            .select(people::id)
            .load(conn)?;
        frontier = merged.into_iter().filter(|m| !ids.contains(m)).collect();
        ids.extend(frontier.iter().cloned());
    }
    // Locked in id order, so two transactions locking several of them queue, never deadlock.
    let held: Vec<String> = referrals::table
        .filter(referrals::person_id.eq_any(&ids))
        .select(referrals::id)
        .order(referrals::id.asc())
        .load(conn)?;
    for referral in &held {
        dialect::lock_row(conn, "referrals", referral)?;
    }
    // Statuses read under the locks: a transition may have committed meanwhile.
    let mut open = Vec::new();
    for referral in &held {
        let status: String = referrals::table
            .find(referral)
            .select(referrals::status)
            .first(conn)?;
        let status: ReferralStatus = convert::parse("referral status", &status)?;
        if !status.is_final() {
            open.push(convert::uuid("referral id", referral)?);
        }
    }
    if !open.is_empty() {
        return Ok(Erased::Open(open));
    }
    dialect::lock_key(conn, &person, Hold::Exclusive)?;
    dialect::lock_row(conn, "people", &person)?;
    let erased: Option<Option<chrono::NaiveDateTime>> = people::table
        .find(&person)
        .select(people::erased_at)
        .first(conn)
        .optional()?;
    if let Some(Some(when)) = erased {
        return Ok(Erased::Already(convert::from_db(when)));
    }
    let referral_ids = held;
    let mut named = ids.clone();
    for referral in &referral_ids {
        named.extend(anonymise_referral(conn, referral, at)?);
    }
    forget_responses(conn, &named)?;
    anonymise_trail(conn, &ids, &referral_ids)?;
    let when = convert::to_db(at);
    // Flags on other records pointing here would tell that this person existed.
    diesel::update(people::table.filter(people::possible_duplicate_of.eq_any(&ids)))
        .set((
            people::possible_duplicate_of.eq(None::<String>),
            people::possible_duplicate_reason.eq(None::<String>),
            people::version.eq(people::version + 1),
            people::updated_at.eq(when),
        ))
        .execute(conn)?;
    diesel::update(people::table.filter(people::id.eq_any(&ids)))
        .set((
            people::given_name.eq(ERASED_TEXT),
            people::family_name.eq(ERASED_TEXT),
            people::date_of_birth.eq(ERASED_BIRTH_DATE),
            people::nhs_number.eq(None::<String>),
            people::phone.eq(None::<String>),
            people::email.eq(None::<String>),
            people::postcode.eq(None::<String>),
            people::address.eq(None::<String>),
            people::preferred_contact.eq(None::<String>),
            people::possible_duplicate_of.eq(None::<String>),
            people::possible_duplicate_reason.eq(None::<String>),
            people::version.eq(people::version + 1),
            people::updated_at.eq(when),
            people::erased_at.eq(Some(when)),
            people::erased_by.eq(Some(by)),
            people::erasure_reason.eq(Some(reason)),
        ))
        .execute(conn)?;
    Ok(Erased::Done)
}

/// Clears every free text of referral `id` and of what hangs off it (history, sessions, plan,
/// goals and their progress notes, connections and their notes, consent acts, measures),
/// keeping ids, codes, dates, durations and scores. The caller holds the referral's lock.
/// Every versioned row it clears moves to a new version, so a save read before (a stale
/// `If-Match`) cannot write the text back. Returns the ids of the records it touched, for
/// [`forget_responses`].
pub fn anonymise_referral(
    conn: &mut DbConnection,
    id: &str,
    at: DateTime<Utc>,
) -> StoreResult<Vec<String>> {
    let mut named = vec![id.to_owned()];
    diesel::update(referrals::table.find(id))
        .set((
            referrals::summary.eq(None::<String>),
            referrals::external_reference.eq(None::<String>),
            referrals::status_reason.eq(None::<String>),
            referrals::person_as_sent.eq(Some(crate::people::Details::erased_json())),
            referrals::introduced_by.eq(None::<String>),
            referrals::version.eq(referrals::version + 1),
            referrals::anonymised_at.eq(Some(convert::to_db(at))),
        ))
        .execute(conn)?;
    diesel::update(
        referral_status_changes::table.filter(referral_status_changes::referral_id.eq(id)),
    )
    .set(referral_status_changes::reason.eq(None::<String>))
    .execute(conn)?;
    diesel::update(referral_team_moves::table.filter(referral_team_moves::referral_id.eq(id)))
        .set(referral_team_moves::reason.eq(None::<String>))
        .execute(conn)?;
    named.extend(
        sessions::table
            .filter(sessions::referral_id.eq(id))
            .select(sessions::id)
            .load::<String>(conn)?,
    );
    diesel::update(sessions::table.filter(sessions::referral_id.eq(id)))
        .set((
            sessions::notes.eq(None::<String>),
            sessions::version.eq(sessions::version + 1),
        ))
        .execute(conn)?;
    diesel::update(plans::table.filter(plans::referral_id.eq(id)))
        .set((
            plans::what_matters.eq(ERASED_TEXT),
            plans::strengths.eq(None::<String>),
            plans::version.eq(plans::version + 1),
        ))
        .execute(conn)?;
    named.extend(
        goals::table
            .filter(goals::referral_id.eq(id))
            .select(goals::id)
            .load::<String>(conn)?,
    );
    diesel::update(goals::table.filter(goals::referral_id.eq(id)))
        .set((
            goals::description.eq(ERASED_TEXT),
            goals::version.eq(goals::version + 1),
        ))
        .execute(conn)?;
    let connection_ids: Vec<String> = connections::table
        .filter(connections::referral_id.eq(id))
        .select(connections::id)
        .load(conn)?;
    diesel::update(connections::table.filter(connections::referral_id.eq(id)))
        .set((
            connections::note_for_partner.eq(None::<String>),
            connections::reason.eq(None::<String>),
            connections::frozen_details.eq(None::<String>),
            connections::on_behalf_of.eq(None::<String>),
            connections::version.eq(connections::version + 1),
        ))
        .execute(conn)?;
    // After the connections: a progress note added under a connection's lock meanwhile has
    // committed by now, and is wiped too.
    let goal_ids = goals::table
        .filter(goals::referral_id.eq(id))
        .select(goals::id);
    named.extend(
        goal_progress_notes::table
            .filter(goal_progress_notes::goal_id.eq_any(goal_ids))
            .select(goal_progress_notes::id)
            .load::<String>(conn)?,
    );
    diesel::update(
        goal_progress_notes::table.filter(goal_progress_notes::goal_id.eq_any(goal_ids)),
    )
    .set(goal_progress_notes::text.eq(ERASED_TEXT))
    .execute(conn)?;
    if !connection_ids.is_empty() {
        named.extend(
            connection_notes::table
                .filter(connection_notes::connection_id.eq_any(&connection_ids))
                .select(connection_notes::id)
                .load::<String>(conn)?,
        );
        diesel::update(
            connection_notes::table.filter(connection_notes::connection_id.eq_any(&connection_ids)),
        )
        .set(connection_notes::text.eq(ERASED_TEXT))
        .execute(conn)?;
    }
    named.extend(connection_ids);
    named.extend(
        consent_records::table
            .filter(consent_records::referral_id.eq(id))
            .select(consent_records::id)
            .load::<String>(conn)?,
    );
    diesel::update(consent_records::table.filter(consent_records::referral_id.eq(id)))
        .set(consent_records::reason.eq(None::<String>))
        .execute(conn)?;
    named.extend(
        outcomes::table
            .filter(outcomes::referral_id.eq(id))
            .select(outcomes::id)
            .load::<String>(conn)?,
    );
    diesel::update(outcomes::table.filter(outcomes::referral_id.eq(id)))
        .set((
            outcomes::error_reason.eq(None::<String>),
            outcomes::version.eq(outcomes::version + 1),
        ))
        .execute(conn)?;
    Ok(named)
}

/// Drops the stored answers to keyed requests that name any of `ids` (in their path, their
/// `Location` or their body): each is a copy of the data. A retry of one is then a new
/// request, which the erased records refuse.
pub fn forget_responses(conn: &mut DbConnection, ids: &[String]) -> StoreResult<()> {
    for id in ids {
        let pattern = format!("%{id}%");
        diesel::delete(
            idempotency_keys::table.filter(
                idempotency_keys::scope
                    .like(&pattern)
                    .or(idempotency_keys::location.like(&pattern))
                    .or(idempotency_keys::response_body.like(&pattern)),
            ),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// The trail keeps every row (they record accesses), but an anonymous caller's subject names
/// its network address: it becomes plain `anonymous` (the one change the trail allows).
fn anonymise_trail(
    conn: &mut DbConnection,
    people_ids: &[String],
    referral_ids: &[String],
) -> StoreResult<()> {
    diesel::update(
        audit_events::table
            .filter(audit_events::actor_role.eq("anonymous"))
            .filter(audit_events::actor_sub.ne("anonymous"))
            .filter(
                audit_events::person_id
                    .eq_any(people_ids)
                    .or(audit_events::referral_id.eq_any(referral_ids)),
            ),
    )
    .set(audit_events::actor_sub.eq("anonymous"))
    .execute(conn)?;
    Ok(())
}

/// A referral past retention: closed before the cutoff and not yet anonymised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub referral_id: Uuid,
    pub person_id: Uuid,
}

/// Up to `limit` referrals in a final state whose last change of status was before `cutoff`,
/// whose person is not erased and that still hold text to clear (so a second run finds
/// nothing), oldest id first after `after`.
pub fn expired(
    conn: &mut DbConnection,
    cutoff: DateTime<Utc>,
    after: Option<Uuid>,
    limit: i64,
) -> StoreResult<Vec<Expired>> {
    let finals: Vec<&str> = ReferralStatus::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|s| s.as_str())
        .collect();
    let recent = referral_status_changes::table
        .filter(referral_status_changes::changed_at.ge(convert::to_db(cutoff)))
        .select(referral_status_changes::referral_id);
    let mut query = referrals::table
        .inner_join(people::table)
        .filter(people::erased_at.is_null())
        .filter(referrals::status.eq_any(finals))
        .filter(diesel::dsl::not(referrals::id.eq_any(recent)))
        .filter(diesel::dsl::not(is_anonymised()))
        .select((referrals::id, referrals::person_id))
        .order(referrals::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(referrals::id.gt(after.to_string()));
    }
    query
        .load::<(String, String)>(conn)?
        .into_iter()
        .map(|(r, p)| {
            Ok(Expired {
                referral_id: convert::uuid("referral id", &r)?,
                person_id: convert::uuid("person id", &p)?,
            })
        })
        .collect()
}

/// A referral whose free text was already cleared.
fn is_anonymised() -> diesel::dsl::IsNotNull<referrals::anonymised_at> {
    referrals::anonymised_at.is_not_null()
}

/// Anonymises referral `id` if it is still past retention at `cutoff` (read again under its
/// lock: it may have been reopened or erased meanwhile); `false` when it no longer is.
pub fn anonymise_expired(
    conn: &mut DbConnection,
    id: Uuid,
    cutoff: DateTime<Utc>,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let text = id.to_string();
    dialect::lock_row(conn, "referrals", &text)?;
    let still = expired_one(conn, &text, cutoff)?;
    if !still {
        return Ok(false);
    }
    let named = anonymise_referral(conn, &text, at)?;
    forget_responses(conn, &named)?;
    Ok(true)
}

fn expired_one(conn: &mut DbConnection, id: &str, cutoff: DateTime<Utc>) -> StoreResult<bool> {
    type Row = (
        String,
        Option<chrono::NaiveDateTime>,
        Option<chrono::NaiveDateTime>,
    );
    let row: Option<Row> = referrals::table
        .inner_join(people::table)
        .filter(referrals::id.eq(id))
        .select((
            referrals::status,
            referrals::anonymised_at,
            people::erased_at,
        ))
        .first(conn)
        .optional()?;
    let Some((status, anonymised, erased)) = row else {
        return Ok(false);
    };
    let status: ReferralStatus = convert::parse("referral status", &status)?;
    let recent: i64 = referral_status_changes::table
        .filter(referral_status_changes::referral_id.eq(id))
        .filter(referral_status_changes::changed_at.ge(convert::to_db(cutoff)))
        .count()
        .get_result(conn)?;
    Ok(status.is_final() && anonymised.is_none() && erased.is_none() && recent == 0)
}

/// Whether person `id` has nothing left to keep at `cutoff`: not erased, and every referral
/// of theirs closed before it (none open, none closed within retention).
pub fn nothing_retained(
    conn: &mut DbConnection,
    id: Uuid,
    cutoff: DateTime<Utc>,
) -> StoreResult<bool> {
    let person = id.to_string();
    let found: Option<(Option<String>, Option<chrono::NaiveDateTime>)> = people::table
        .find(&person)
        .select((people::merged_into, people::erased_at))
        .first(conn)
        .optional()?;
    if !matches!(found, Some((None, None))) {
        return Ok(false);
    }
    let held: Vec<(String, String)> = referrals::table
        .filter(referrals::person_id.eq(&person))
        .select((referrals::id, referrals::status))
        .load(conn)?;
    for (referral, status) in held {
        let status: ReferralStatus = convert::parse("referral status", &status)?;
        if !status.is_final() {
            return Ok(false);
        }
        let recent: i64 = referral_status_changes::table
            .filter(referral_status_changes::referral_id.eq(&referral))
            .filter(referral_status_changes::changed_at.ge(convert::to_db(cutoff)))
            .count()
            .get_result(conn)?;
        if recent > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}
