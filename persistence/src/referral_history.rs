//! Every change of a referral's status, oldest first.

use diesel::prelude::*;
use linkwell_domain::{StatusChange, TeamMove};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::StoreResult;
use crate::page::{Keyset, Order, keyset};
use crate::schema::referral_status_changes as changes;
use crate::unit_of_work::Tx;

/// The stored role of a member of the public (a self-referral).
const PUBLIC: &str = "public";

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = changes)]
// None is NULL, so the INSERT's SQL never varies and stays prepared.
#[diesel(treat_none_as_default_value = false)]
struct ChangeRow {
    id: String,
    referral_id: String,
    from_status: Option<String>,
    to_status: String,
    reason_code: Option<String>,
    reason: Option<String>,
    actor_sub: String,
    actor_role: String,
    changed_at: chrono::NaiveDateTime,
}

/// Appends one change.
pub fn record(tx: &mut Tx<'_>, change: &StatusChange) -> StoreResult<()> {
    tx.touch_referral(change.referral_id)?;
    let conn: &mut DbConnection = tx;
    diesel::insert_into(changes::table)
        .values(ChangeRow {
            id: change.id.to_string(),
            referral_id: change.referral_id.to_string(),
            from_status: change.from.map(|s| s.as_str().to_owned()),
            to_status: change.to.as_str().to_owned(),
            reason_code: change.reason_code.map(|c| c.as_str().to_owned()),
            reason: change.reason.clone(),
            actor_sub: change.actor_sub.clone(),
            actor_role: change.actor_role.map_or(PUBLIC, |r| r.as_str()).to_owned(),
            changed_at: convert::to_db(change.at),
        })
        .execute(conn)?;
    Ok(())
}

/// A page of one referral's changes, oldest first, starting after `after`.
pub fn list(
    conn: &mut DbConnection,
    referral_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<StatusChange>> {
    let query = changes::table
        .filter(changes::referral_id.eq(referral_id.to_string()))
        .select(ChangeRow::as_select())
        .limit(limit)
        .into_boxed();
    keyset(
        query,
        (changes::changed_at, changes::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(|r| {
        Ok(StatusChange {
            id: convert::uuid("status change id", &r.id)?,
            referral_id: convert::uuid("referral id", &r.referral_id)?,
            from: r
                .from_status
                .map(|s| convert::parse("status", &s))
                .transpose()?,
            to: convert::parse("status", &r.to_status)?,
            reason_code: r
                .reason_code
                .map(|c| convert::parse("closure reason", &c))
                .transpose()?,
            reason: r.reason,
            actor_sub: r.actor_sub,
            actor_role: match r.actor_role.as_str() {
                PUBLIC => None,
                role => Some(convert::parse("role", role)?),
            },
            at: convert::from_db(r.changed_at),
        })
    })
    .collect()
}

/// One entry of a referral's history: a change of status, or a move between teams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Status(StatusChange),
    Team(TeamMove),
}

impl Entry {
    /// Where it stands in the history, which runs oldest first (ties by id).
    pub fn position(&self) -> Keyset {
        match self {
            Entry::Status(c) => Keyset { at: c.at, id: c.id },
            Entry::Team(m) => Keyset { at: m.at, id: m.id },
        }
    }
}

/// A page of a referral's whole history, oldest first, after `after`: each kind is read in
/// its own order and the two merged, so a cursor from either kind resumes both.
pub fn entries(
    conn: &mut DbConnection,
    referral_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Entry>> {
    let mut merged: Vec<Entry> = list(conn, referral_id, after, limit)?
        .into_iter()
        .map(Entry::Status)
        .chain(
            crate::teams::moves(conn, referral_id, after, limit)?
                .into_iter()
                .map(Entry::Team),
        )
        .collect();
    merged.sort_by_key(|e| {
        let k = e.position();
        (k.at, k.id)
    });
    merged.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(merged)
}
