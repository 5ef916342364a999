//! Stored responses for `Idempotency-Key` retries. The key is saved in the same transaction as
//! the change it answers, so a retry sees either nothing or the finished result.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::schema::idempotency_keys;

/// The first answer to a keyed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// Who sent it and to which operation: keys are never shared between callers.
    pub scope: String,
    pub key: String,
    /// Digest of the request body, to tell a retry from a different request under the same key.
    pub request_hash: String,
    pub status_code: u16,
    pub location: Option<String>,
    pub response_body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
struct StoredRow {
    scope: String,
    key: String,
    request_hash: String,
    status_code: i32,
    location: Option<String>,
    response_body: String,
    created_at: chrono::NaiveDateTime,
}

/// The stored answer for `(scope, key)`, if any.
pub fn find(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
) -> StoreResult<Option<StoredResponse>> {
    let row: Option<StoredRow> = idempotency_keys::table
        .find((scope, key))
        .select(StoredRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|r| {
        Ok(StoredResponse {
            scope: r.scope,
            key: r.key,
            request_hash: r.request_hash,
            status_code: u16::try_from(r.status_code).map_err(|e| corrupt("status code", e))?,
            location: r.location,
            response_body: r.response_body,
            created_at: convert::from_db(r.created_at),
        })
    })
    .transpose()
}

/// Saves the answer; fails with a unique violation if a concurrent request saved first.
pub fn save(conn: &mut DbConnection, response: &StoredResponse) -> StoreResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values(StoredRow {
            scope: response.scope.clone(),
            key: response.key.clone(),
            request_hash: response.request_hash.clone(),
            status_code: i32::from(response.status_code),
            location: response.location.clone(),
            response_body: response.response_body.clone(),
            created_at: convert::to_db(response.created_at),
        })
        .execute(conn)?;
    Ok(())
}

/// Forgets answers older than `cutoff`; returns how many.
pub fn purge_before(conn: &mut DbConnection, cutoff: DateTime<Utc>) -> StoreResult<usize> {
    let old = idempotency_keys::created_at.lt(convert::to_db(cutoff));
    Ok(diesel::delete(idempotency_keys::table.filter(old)).execute(conn)?)
}
