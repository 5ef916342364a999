//! Consent acts recorded under a referral, oldest first, and the latest for a scope.

use diesel::prelude::*;
use linkwell_domain::Role;
use linkwell_domain::consent::{ConsentRecord, ConsentScope, ConsentStatus};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::dialect;
use crate::error::StoreResult;
use crate::page::{Keyset, Order, keyset};
use crate::schema::consent_records as records;
use crate::unit_of_work::Tx;

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = records)]
struct ConsentRow {
    id: String,
    referral_id: String,
    scope: String,
    status: String,
    reason: Option<String>,
    actor_sub: String,
    actor_role: String,
    recorded_at: chrono::NaiveDateTime,
}

impl ConsentRow {
    fn into_domain(self) -> StoreResult<ConsentRecord> {
        Ok(ConsentRecord {
            id: convert::uuid("consent id", &self.id)?,
            referral_id: convert::uuid("consent referral", &self.referral_id)?,
            scope: convert::parse("consent scope", &self.scope)?,
            status: convert::parse("consent status", &self.status)?,
            reason: self.reason,
            actor_sub: self.actor_sub,
            actor_role: convert::parse::<Role>("consent actor role", &self.actor_role)?,
            recorded_at: convert::from_db(self.recorded_at),
        })
    }
}

/// Appends one act. The referral is touched (and so locked): acts and the connections they
/// stop queue behind each other.
pub fn record(tx: &mut Tx<'_>, record: &ConsentRecord) -> StoreResult<()> {
    tx.touch_referral(record.referral_id)?;
    let conn: &mut DbConnection = tx;
    diesel::insert_into(records::table)
        .values(ConsentRow {
            id: record.id.to_string(),
            referral_id: record.referral_id.to_string(),
            scope: record.scope.as_str().to_owned(),
            status: record.status.as_str().to_owned(),
            reason: record.reason.clone(),
            actor_sub: record.actor_sub.clone(),
            actor_role: record.actor_role.as_str().to_owned(),
            recorded_at: convert::to_db(record.recorded_at),
        })
        .execute(conn)?;
    Ok(())
}

/// The latest act for `scope` under referral `referral_id`, read after locking the referral,
/// so a write that depends on it (a new connection) queues behind a concurrent act and sees
/// it. Inside a write transaction only.
pub fn latest_locked(
    conn: &mut DbConnection,
    referral_id: Uuid,
    scope: ConsentScope,
) -> StoreResult<Option<ConsentStatus>> {
    dialect::lock_row(conn, "referrals", &referral_id.to_string())?;
    latest(conn, referral_id, scope)
}

/// The latest act for `scope` under referral `referral_id`, if any.
pub fn latest(
    conn: &mut DbConnection,
    referral_id: Uuid,
    scope: ConsentScope,
) -> StoreResult<Option<ConsentStatus>> {
    let status: Option<String> = records::table
        .filter(records::referral_id.eq(referral_id.to_string()))
        .filter(records::scope.eq(scope.as_str()))
        .order((records::recorded_at.desc(), records::id.desc()))
        .select(records::status)
        .first(conn)
        .optional()?;
    status
        .map(|s| convert::parse("consent status", &s))
        .transpose()
}

/// A page of a referral's acts, oldest first, after `after`.
pub fn list(
    conn: &mut DbConnection,
    referral_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<ConsentRecord>> {
    let query = records::table
        .filter(records::referral_id.eq(referral_id.to_string()))
        .select(ConsentRow::as_select())
        .limit(limit)
        .into_boxed();
    keyset(
        query,
        (records::recorded_at, records::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(ConsentRow::into_domain)
    .collect()
}
