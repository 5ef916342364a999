//! Registered systems (OAuth 2 clients) and the assertions they have used.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use linkwell_domain::{ApiClient, ClientCredential, Role};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreError, StoreResult, corrupt};
use crate::page::{Keyset, Order, keyset};
use crate::schema::{api_clients, client_assertions};

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = api_clients)]
struct ClientRow {
    id: String,
    client_id: String,
    name: String,
    role: String,
    org_id: Option<String>,
    secret_hash: Option<String>,
    jwks: Option<String>,
    created_at: chrono::NaiveDateTime,
    created_by: String,
    revoked_at: Option<chrono::NaiveDateTime>,
    revoked_by: Option<String>,
    version: i64,
}

impl ClientRow {
    fn from_domain(c: &ApiClient) -> Self {
        let (secret_hash, jwks) = match &c.credential {
            ClientCredential::SecretHash(hash) => (Some(hash.clone()), None),
            ClientCredential::Jwks(jwks) => (None, Some(jwks.clone())),
        };
        Self {
            id: c.id.to_string(),
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            role: c.role.as_str().to_owned(),
            org_id: c.org_id.map(|o| o.to_string()),
            secret_hash,
            jwks,
            created_at: convert::to_db(c.created_at),
            created_by: c.created_by.clone(),
            revoked_at: c.revoked_at.map(convert::to_db),
            revoked_by: c.revoked_by.clone(),
            version: c.version,
        }
    }

    fn into_domain(self) -> StoreResult<ApiClient> {
        let credential = match (self.secret_hash, self.jwks) {
            (Some(hash), None) => ClientCredential::SecretHash(hash),
            (None, Some(jwks)) => ClientCredential::Jwks(jwks),
            _ => return Err(corrupt("api client credential", "not exactly one kind")),
        };
        Ok(ApiClient {
            id: convert::uuid("api client id", &self.id)?,
            client_id: self.client_id,
            name: self.name,
            role: convert::parse::<Role>("api client role", &self.role)?,
            org_id: convert::optional_uuid("api client org", self.org_id.as_deref())?,
            credential,
            created_at: convert::from_db(self.created_at),
            created_by: self.created_by,
            revoked_at: self.revoked_at.map(convert::from_db),
            revoked_by: self.revoked_by,
            version: self.version,
        })
    }
}

/// Stores a new system.
pub fn insert(conn: &mut DbConnection, client: &ApiClient) -> StoreResult<()> {
    diesel::insert_into(api_clients::table)
        .values(ClientRow::from_domain(client))
        .execute(conn)?;
    Ok(())
}

/// The system with this id, if any.
pub fn get(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<ApiClient>> {
    api_clients::table
        .find(id.to_string())
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(ClientRow::into_domain)
        .transpose()
}

/// The system that sends this `client_id`, if any.
pub fn find_by_client_id(
    conn: &mut DbConnection,
    client_id: &str,
) -> StoreResult<Option<ApiClient>> {
    api_clients::table
        .filter(api_clients::client_id.eq(client_id))
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(ClientRow::into_domain)
        .transpose()
}

/// Up to `limit` systems after `after`, newest first; revoked ones only when asked.
pub fn list(
    conn: &mut DbConnection,
    revoked: Option<bool>,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<ApiClient>> {
    let mut query = api_clients::table
        .select(ClientRow::as_select())
        .limit(limit)
        .into_boxed();
    match revoked {
        Some(true) => query = query.filter(api_clients::revoked_at.is_not_null()),
        Some(false) => query = query.filter(api_clients::revoked_at.is_null()),
        None => {}
    }
    keyset(
        query,
        (api_clients::created_at, api_clients::id),
        Order::NewestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(ClientRow::into_domain)
    .collect()
}

/// Records a revocation (who and when) and the new version.
pub fn save_revocation(conn: &mut DbConnection, client: &ApiClient) -> StoreResult<()> {
    diesel::update(api_clients::table.find(client.id.to_string()))
        .set((
            api_clients::revoked_at.eq(client.revoked_at.map(convert::to_db)),
            api_clients::revoked_by.eq(client.revoked_by.clone()),
            api_clients::version.eq(client.version),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every revoked system's id: the subjects whose tokens no longer work.
pub fn revoked_ids(conn: &mut DbConnection) -> StoreResult<Vec<Uuid>> {
    let ids: Vec<String> = api_clients::table
        .filter(api_clients::revoked_at.is_not_null())
        .select(api_clients::id)
        .load(conn)?;
    ids.iter()
        .map(|id| convert::uuid("api client id", id))
        .collect()
}

/// Records that `client_id` used the assertion `jti`, valid until `expires_at`: `false` when
/// it had already been used (on any instance: the primary key decides). Assertions that have
/// expired are forgotten first, since they could not be replayed anyway.
///
/// One short write transaction of two statements: on SQLite it queues for this process's
/// writer slot like every other writer, and holds it only for those two (it ran as loose
/// statements before, taking SQLite's lock behind the slot's back, so queued writers waited
/// in SQLite's sleeping busy handler). A used `jti` inserts no row rather than failing, so the
/// transaction is never aborted by the conflict.
pub fn use_assertion_once(
    conn: &mut DbConnection,
    client_id: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    crate::unit_of_work::write_transaction(conn, |tx| {
        diesel::delete(
            client_assertions::table.filter(client_assertions::expires_at.lt(convert::to_db(now))),
        )
        .execute(&mut **tx)?;
        // Diesel's upsert builder does not reach the two-backend connection; the statement
        // is the same on both.
        let sql = crate::dialect::placeholders(
            tx,
            "INSERT INTO client_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)
             ON CONFLICT (client_id, jti) DO NOTHING",
        );
        let inserted = diesel::sql_query(sql)
            .bind::<diesel::sql_types::Text, _>(client_id)
            .bind::<diesel::sql_types::Text, _>(jti)
            .bind::<diesel::sql_types::Timestamp, _>(convert::to_db(expires_at))
            .execute(&mut **tx)?;
        Ok::<_, StoreError>(inserted == 1)
    })
}
