//! One-time action links issued for connections.

use diesel::prelude::*;
use linkwell_domain::action_link::ActionLink;
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::dialect;
use crate::error::StoreResult;
use crate::schema::connection_action_links as links;

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = links)]
#[diesel(treat_none_as_default_value = false)]
struct LinkRow {
    id: String,
    connection_id: String,
    created_by: String,
    created_at: chrono::NaiveDateTime,
    expires_at: chrono::NaiveDateTime,
    used_at: Option<chrono::NaiveDateTime>,
}

impl LinkRow {
    fn into_domain(self) -> StoreResult<ActionLink> {
        Ok(ActionLink {
            id: convert::uuid("action link id", &self.id)?,
            connection_id: convert::uuid("connection id", &self.connection_id)?,
            created_by: self.created_by,
            created_at: convert::from_db(self.created_at),
            expires_at: convert::from_db(self.expires_at),
            used_at: self.used_at.map(convert::from_db),
        })
    }
}

/// Stores a new link.
pub fn insert(conn: &mut DbConnection, link: &ActionLink) -> StoreResult<()> {
    diesel::insert_into(links::table)
        .values(LinkRow {
            id: link.id.to_string(),
            connection_id: link.connection_id.to_string(),
            created_by: link.created_by.clone(),
            created_at: convert::to_db(link.created_at),
            expires_at: convert::to_db(link.expires_at),
            used_at: link.used_at.map(convert::to_db),
        })
        .execute(conn)?;
    Ok(())
}

/// One link, if it exists.
pub fn get(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<ActionLink>> {
    links::table
        .find(id.to_string())
        .select(LinkRow::as_select())
        .first(conn)
        .optional()?
        .map(LinkRow::into_domain)
        .transpose()
}

/// One link, locked until the transaction ends: two answers through one link queue here, and
/// the second finds it used.
pub fn get_locked(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<ActionLink>> {
    dialect::lock_row(conn, "connection_action_links", &id.to_string())?;
    get(conn, id)
}

/// Marks a link used.
pub fn save_used(conn: &mut DbConnection, link: &ActionLink) -> StoreResult<()> {
    diesel::update(links::table.find(link.id.to_string()))
        .set(links::used_at.eq(link.used_at.map(convert::to_db)))
        .execute(conn)?;
    Ok(())
}
