//! Stored responses for `Idempotency-Key` retries. The key is saved in the same transaction as
//! the change it answers, so a retry sees either nothing or the finished result.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::StoreResult;
use crate::schema::idempotency_keys;

/// The first answer to a keyed request.
#[derive(Debug, Clone, PartialEq, Eq, Insertable, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub struct StoredResponse {
    /// Who sent it and to which operation: keys are never shared between callers.
    pub scope: String,
    pub key: String,
    /// Digest of the request body, to tell a retry from a different request under the same key.
    pub request_hash: String,
    pub status_code: i32,
    pub location: Option<String>,
    pub response_body: String,
    pub created_at: chrono::NaiveDateTime,
}

/// The stored answer for `(scope, key)`, if any.
pub fn find(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
) -> StoreResult<Option<StoredResponse>> {
    Ok(idempotency_keys::table
        .find((scope, key))
        .select(StoredResponse::as_select())
        .first(conn)
        .optional()?)
}

/// Saves the answer; fails with a unique violation if a concurrent request saved first.
pub fn save(conn: &mut DbConnection, response: &StoredResponse) -> StoreResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values(response)
        .execute(conn)?;
    Ok(())
}

/// Forgets answers older than `cutoff`; returns how many.
pub fn purge_before(conn: &mut DbConnection, cutoff: DateTime<Utc>) -> StoreResult<usize> {
    Ok(diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::created_at.lt(convert::to_db(cutoff))),
    )
    .execute(conn)?)
}
