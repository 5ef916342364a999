//! Organisations the service works with.

use diesel::prelude::*;
use linkwell_domain::{Network, OdsCode, Organisation, OrganisationKind};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::dialect::{self, Hold};
use crate::error::StoreResult;
use crate::page::{Keyset, Order, keyset};
use crate::schema::{networks, organisations};
use crate::unit_of_work::Tx;

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = organisations)]
#[diesel(treat_none_as_default_value = false)]
struct OrganisationRow {
    id: String,
    name: String,
    kind: String,
    ods_code: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
    network_id: Option<String>,
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
            network_id: org.network_id.map(|id| id.to_string()),
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
            network_id: convert::optional_uuid("network id", self.network_id.as_deref())?,
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

/// A page of organisations, newest first, starting after `after`: of one kind, or of one
/// network, or all.
pub fn list(
    conn: &mut DbConnection,
    kind: Option<OrganisationKind>,
    network: Option<Uuid>,
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
    if let Some(network) = network {
        query = query.filter(organisations::network_id.eq(network.to_string()));
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

/// The lock a move between networks holds alone and a new referral from the organisation
/// holds shared.
pub(crate) fn membership_key(org: Uuid) -> String {
    format!("organisation-network:{org}")
}

/// Moves `org` into `network` (or out of any), if it is still at `expected_version`; `false`
/// when another change got there first. Each of its referrals is counted again, so the
/// totals of the network it leaves and the one it joins stay exact: referrals being received
/// meanwhile finish first (and are listed), or wait for the move (and are counted under the
/// new network), so none is counted under the network it left.
pub fn set_network(
    tx: &mut Tx<'_>,
    org: &Organisation,
    expected_version: i64,
) -> StoreResult<bool> {
    dialect::lock_key(tx, &membership_key(org.id), Hold::Exclusive)?;
    let referrals: Vec<String> = crate::schema::referrals::table
        .filter(crate::schema::referrals::referrer_org_id.eq(org.id.to_string()))
        .select(crate::schema::referrals::id)
        .load(&mut **tx)?;
    for id in referrals {
        tx.touch_referral(convert::uuid("referral id", &id)?)?;
    }
    let updated = diesel::update(
        organisations::table
            .filter(organisations::id.eq(org.id.to_string()))
            .filter(organisations::version.eq(expected_version)),
    )
    .set((
        organisations::network_id.eq(org.network_id.map(|id| id.to_string())),
        organisations::updated_at.eq(convert::to_db(org.updated_at)),
        organisations::version.eq(org.version),
    ))
    .execute(&mut **tx)?;
    Ok(updated == 1)
}

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = networks)]
struct NetworkRow {
    id: String,
    name: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
}

impl NetworkRow {
    fn into_domain(self) -> StoreResult<Network> {
        Ok(Network {
            id: convert::uuid("network id", &self.id)?,
            name: self.name,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

/// Stores a new network.
pub fn insert_network(conn: &mut DbConnection, network: &Network) -> StoreResult<()> {
    diesel::insert_into(networks::table)
        .values(NetworkRow {
            id: network.id.to_string(),
            name: network.name.clone(),
            created_at: convert::to_db(network.created_at),
            updated_at: convert::to_db(network.updated_at),
            version: network.version,
        })
        .execute(conn)?;
    Ok(())
}

/// The network already called `name` (ignoring case), if any.
pub fn find_network_by_name(conn: &mut DbConnection, name: &str) -> StoreResult<Option<Uuid>> {
    let id: Option<String> = networks::table
        .filter(crate::teams::lower(networks::name).eq(name.to_lowercase()))
        .select(networks::id)
        .first(conn)
        .optional()?;
    id.map(|id| convert::uuid("network id", &id)).transpose()
}

/// One network by id.
pub fn get_network(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<Network>> {
    networks::table
        .find(id.to_string())
        .select(NetworkRow::as_select())
        .first(conn)
        .optional()?
        .map(NetworkRow::into_domain)
        .transpose()
}

/// A page of networks in the order they were made, after `after`.
pub fn networks(
    conn: &mut DbConnection,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Network>> {
    let query = networks::table
        .select(NetworkRow::as_select())
        .limit(limit)
        .into_boxed();
    keyset(
        query,
        (networks::created_at, networks::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(NetworkRow::into_domain)
    .collect()
}
