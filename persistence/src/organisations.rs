//! Organisations the service works with.

use diesel::prelude::*;
use linkwell_domain::{OdsCode, Organisation, OrganisationKind};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::StoreResult;
use crate::page::{Keyset, Order, keyset};
use crate::schema::organisations;

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = organisations)]
struct OrganisationRow {
    id: String,
    name: String,
    kind: String,
    ods_code: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
}

impl OrganisationRow {
    fn from_domain(org: &Organisation) -> Self {
        Self {
            id: org.id.to_string(),
            name: org.name.clone(),
            kind: org.kind.as_str().to_owned(),
            ods_code: org.ods_code.as_ref().map(|c| c.as_str().to_owned()),
            created_at: convert::to_db(org.created_at),
            updated_at: convert::to_db(org.updated_at),
            version: org.version,
        }
    }

    fn into_domain(self) -> StoreResult<Organisation> {
        Ok(Organisation {
            id: convert::uuid("organisation id", &self.id)?,
            name: self.name,
            kind: convert::parse::<OrganisationKind>("organisation kind", &self.kind)?,
            ods_code: self
                .ods_code
                .map(|c| OdsCode::parse(&c).map_err(|e| crate::error::corrupt("ods code", e)))
                .transpose()?,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

/// Stores a new organisation.
pub fn insert(conn: &mut DbConnection, org: &Organisation) -> StoreResult<()> {
    diesel::insert_into(organisations::table)
        .values(OrganisationRow::from_domain(org))
        .execute(conn)?;
    Ok(())
}

/// The organisation already registered with this ODS code, if any.
pub fn find_by_ods_code(conn: &mut DbConnection, code: &OdsCode) -> StoreResult<Option<Uuid>> {
    let id: Option<String> = organisations::table
        .filter(organisations::ods_code.eq(code.as_str()))
        .select(organisations::id)
        .first(conn)
        .optional()?;
    id.map(|id| convert::uuid("organisation id", &id))
        .transpose()
}

/// One organisation by id.
pub fn get(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<Organisation>> {
    organisations::table
        .find(id.to_string())
        .select(OrganisationRow::as_select())
        .first(conn)
        .optional()?
        .map(OrganisationRow::into_domain)
        .transpose()
}

/// A page of organisations, newest first, starting after `after`.
pub fn list(
    conn: &mut DbConnection,
    kind: Option<OrganisationKind>,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Organisation>> {
    let mut query = organisations::table
        .select(OrganisationRow::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(kind) = kind {
        query = query.filter(organisations::kind.eq(kind.as_str()));
    }
    keyset(
        query,
        (organisations::created_at, organisations::id),
        Order::NewestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(OrganisationRow::into_domain)
    .collect()
}
