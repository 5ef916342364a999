//! Links between an OpenID Connect provider's subjects and Linkwell users.

use diesel::prelude::*;
use linkwell_domain::{Issuer, User, UserIdentity};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::schema::user_identities;

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = user_identities)]
struct IdentityRow {
    id: String,
    user_id: String,
    issuer: String,
    subject: String,
    created_at: chrono::NaiveDateTime,
    created_by: String,
}

impl IdentityRow {
    fn into_domain(self) -> StoreResult<UserIdentity> {
        Ok(UserIdentity {
            id: convert::uuid("user identity id", &self.id)?,
            user_id: convert::uuid("user identity user", &self.user_id)?,
            issuer: Issuer::parse(&self.issuer).map_err(|e| corrupt("user identity issuer", e))?,
            subject: self.subject,
            created_at: convert::from_db(self.created_at),
        })
    }
}

/// Stores a new link; `created_by` names the administrator who made it. A pair already linked
/// is a unique violation (`StoreError::Conflict`).
pub fn insert(
    conn: &mut DbConnection,
    identity: &UserIdentity,
    created_by: &str,
) -> StoreResult<()> {
    diesel::insert_into(user_identities::table)
        .values(IdentityRow {
            id: identity.id.to_string(),
            user_id: identity.user_id.to_string(),
            issuer: identity.issuer.as_str().to_owned(),
            subject: identity.subject.clone(),
            created_at: convert::to_db(identity.created_at),
            created_by: created_by.to_owned(),
        })
        .execute(conn)?;
    Ok(())
}

/// The link for this provider's subject, if any.
pub fn find(
    conn: &mut DbConnection,
    issuer: &str,
    subject: &str,
) -> StoreResult<Option<UserIdentity>> {
    user_identities::table
        .filter(user_identities::issuer.eq(issuer))
        .filter(user_identities::subject.eq(subject))
        .select(IdentityRow::as_select())
        .first(conn)
        .optional()?
        .map(IdentityRow::into_domain)
        .transpose()
}

/// The user this provider's subject is linked to, if any.
pub fn user_for(conn: &mut DbConnection, issuer: &str, subject: &str) -> StoreResult<Option<User>> {
    match find(conn, issuer, subject)? {
        Some(identity) => crate::users::get(conn, identity.user_id),
        None => Ok(None),
    }
}

/// A user's links, oldest first (a user has a handful at most).
pub fn for_user(conn: &mut DbConnection, user_id: Uuid) -> StoreResult<Vec<UserIdentity>> {
    user_identities::table
        .filter(user_identities::user_id.eq(user_id.to_string()))
        .order((user_identities::created_at.asc(), user_identities::id.asc()))
        .select(IdentityRow::as_select())
        .load(conn)?
        .into_iter()
        .map(IdentityRow::into_domain)
        .collect()
}

/// One of a user's links.
pub fn get(conn: &mut DbConnection, user_id: Uuid, id: Uuid) -> StoreResult<Option<UserIdentity>> {
    user_identities::table
        .filter(user_identities::id.eq(id.to_string()))
        .filter(user_identities::user_id.eq(user_id.to_string()))
        .select(IdentityRow::as_select())
        .first(conn)
        .optional()?
        .map(IdentityRow::into_domain)
        .transpose()
}

/// Removes one of a user's links; whether there was one.
pub fn delete(conn: &mut DbConnection, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
    let removed = diesel::delete(
        user_identities::table
            .filter(user_identities::id.eq(id.to_string()))
            .filter(user_identities::user_id.eq(user_id.to_string())),
    )
    .execute(conn)?;
    Ok(removed > 0)
}
