//! Sessions under a referral.

use diesel::prelude::*;
use linkwell_domain::Session;
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::page::{Keyset, Order, keyset};
use crate::schema::sessions;
use crate::unit_of_work::Tx;

#[derive(Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = sessions, treat_none_as_null = true)]
struct SessionRow {
    id: String,
    referral_id: String,
    kind: String,
    mode: String,
    scheduled_at: chrono::NaiveDateTime,
    status: String,
    duration_minutes: Option<i32>,
    notes: Option<String>,
    created_by: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
}

impl SessionRow {
    fn from_domain(s: &Session) -> Self {
        Self {
            id: s.id.to_string(),
            referral_id: s.referral_id.to_string(),
            kind: s.kind.as_str().to_owned(),
            mode: s.mode.as_str().to_owned(),
            scheduled_at: convert::to_db(s.scheduled_at),
            status: s.status.as_str().to_owned(),
            duration_minutes: s.duration_minutes.and_then(|m| i32::try_from(m).ok()),
            notes: s.notes.clone(),
            created_by: s.created_by.clone(),
            created_at: convert::to_db(s.created_at),
            updated_at: convert::to_db(s.updated_at),
            version: s.version,
        }
    }

    fn into_domain(self) -> StoreResult<Session> {
        Ok(Session {
            id: convert::uuid("session id", &self.id)?,
            referral_id: convert::uuid("session referral", &self.referral_id)?,
            kind: convert::parse("session kind", &self.kind)?,
            mode: convert::parse("session mode", &self.mode)?,
            scheduled_at: convert::from_db(self.scheduled_at),
            status: convert::parse("session status", &self.status)?,
            duration_minutes: self
                .duration_minutes
                .map(|m| u32::try_from(m).map_err(|e| corrupt("session duration", e)))
                .transpose()?,
            notes: self.notes,
            created_by: self.created_by,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

/// Stores a new session.
pub fn insert(tx: &mut Tx<'_>, session: &Session) -> StoreResult<()> {
    tx.touch_referral(session.referral_id)?;
    let conn: &mut DbConnection = tx;
    diesel::insert_into(sessions::table)
        .values(SessionRow::from_domain(session))
        .execute(conn)?;
    Ok(())
}

/// One session by id.
pub fn get(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<Session>> {
    sessions::table
        .find(id.to_string())
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .map(SessionRow::into_domain)
        .transpose()
}

/// A page of a referral's sessions in the order they were recorded, after `after`.
pub fn for_referral(
    conn: &mut DbConnection,
    referral_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Session>> {
    let query = sessions::table
        .filter(sessions::referral_id.eq(referral_id.to_string()))
        .select(SessionRow::as_select())
        .limit(limit)
        .into_boxed();
    keyset(
        query,
        (sessions::created_at, sessions::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(SessionRow::into_domain)
    .collect()
}

/// Writes a changed session if still at `expected_version`; `false` when another change won.
pub fn save(tx: &mut Tx<'_>, session: &Session, expected_version: i64) -> StoreResult<bool> {
    tx.touch_referral(session.referral_id)?;
    let conn: &mut DbConnection = tx;
    let updated = diesel::update(
        sessions::table
            .filter(sessions::id.eq(session.id.to_string()))
            .filter(sessions::version.eq(expected_version)),
    )
    .set(SessionRow::from_domain(session))
    .execute(conn)?;
    Ok(updated == 1)
}
