//! Registered users.

use diesel::prelude::*;
use linkwell_domain::{Email, Role, User};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::page::{Keyset, Order, keyset};
use crate::schema::users;

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    email: String,
    display_name: String,
    role: String,
    org_id: Option<String>,
    active: bool,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
}

impl UserRow {
    fn from_domain(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_str().to_owned(),
            display_name: u.display_name.clone(),
            role: u.role.as_str().to_owned(),
            org_id: u.org_id.map(|o| o.to_string()),
            active: u.active,
            created_at: convert::to_db(u.created_at),
            updated_at: convert::to_db(u.updated_at),
            version: u.version,
        }
    }

    fn into_domain(self) -> StoreResult<User> {
        Ok(User {
            id: convert::uuid("user id", &self.id)?,
            email: Email::parse(&self.email).map_err(|e| corrupt("user email", e))?,
            display_name: self.display_name,
            role: convert::parse::<Role>("user role", &self.role)?,
            org_id: convert::optional_uuid("user org", self.org_id.as_deref())?,
            active: self.active,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

/// Stores a new user.
pub fn insert(conn: &mut DbConnection, user: &User) -> StoreResult<()> {
    diesel::insert_into(users::table)
        .values(UserRow::from_domain(user))
        .execute(conn)?;
    Ok(())
}

diesel::define_sql_function! {
    /// SQL `lower()`: emails are ASCII, which both backends fold alike.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The user registered with this email, whatever its letter case, if any (the unique index
/// `users_email_folded` keeps one per folded email).
pub fn find_by_email(conn: &mut DbConnection, email: &Email) -> StoreResult<Option<Uuid>> {
    let id: Option<String> = users::table
        .filter(lower(users::email).eq(email.as_str().to_ascii_lowercase()))
        .select(users::id)
        .first(conn)
        .optional()?;
    id.map(|id| convert::uuid("user id", &id)).transpose()
}

/// One user by id.
pub fn get(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<User>> {
    users::table
        .find(id.to_string())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(UserRow::into_domain)
        .transpose()
}

/// List filters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// A page of users, newest first, starting after `after`.
pub fn list(
    conn: &mut DbConnection,
    filter: UserFilter,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<User>> {
    let mut query = users::table
        .select(UserRow::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(role) = filter.role {
        query = query.filter(users::role.eq(role.as_str()));
    }
    if let Some(active) = filter.active {
        query = query.filter(users::active.eq(active));
    }
    keyset(
        query,
        (users::created_at, users::id),
        Order::NewestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(UserRow::into_domain)
    .collect()
}

/// Writes a user's changed state (active, version, updated_at).
pub fn save(conn: &mut DbConnection, user: &User) -> StoreResult<()> {
    diesel::update(users::table.find(user.id.to_string()))
        .set((
            users::active.eq(user.active),
            users::updated_at.eq(convert::to_db(user.updated_at)),
            users::version.eq(user.version),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every deactivated user's id: the subjects whose tokens no longer work.
pub fn inactive_ids(conn: &mut DbConnection) -> StoreResult<Vec<Uuid>> {
    let ids: Vec<String> = users::table
        .filter(users::active.eq(false))
        .select(users::id)
        .load(conn)?;
    ids.iter().map(|id| convert::uuid("user id", id)).collect()
}
