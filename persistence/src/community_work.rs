//! Community development work: time spent starting and supporting community groups.

use diesel::prelude::*;
use linkwell_domain::community_work::{CommunityGroup, CommunityWork};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::page::{Keyset, Order, keyset};
use crate::schema::community_work as work;

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = work)]
struct WorkRow {
    id: String,
    service_id: Option<String>,
    group_name: Option<String>,
    activity: String,
    minutes: i32,
    occurred_at: chrono::NaiveDateTime,
    team_id: Option<String>,
    notes: Option<String>,
    created_by: String,
    created_at: chrono::NaiveDateTime,
}

impl WorkRow {
    fn from_domain(w: &CommunityWork) -> Self {
        let (service_id, group_name) = match &w.group {
            CommunityGroup::Service(id) => (Some(id.to_string()), None),
            CommunityGroup::Named(name) => (None, Some(name.clone())),
        };
        Self {
            id: w.id.to_string(),
            service_id,
            group_name,
            activity: w.activity.as_str().to_owned(),
            minutes: i32::try_from(w.minutes).unwrap_or(i32::MAX),
            occurred_at: convert::to_db(w.occurred_at),
            team_id: w.team_id.map(|t| t.to_string()),
            notes: w.notes.clone(),
            created_by: w.created_by.clone(),
            created_at: convert::to_db(w.created_at),
        }
    }

    fn into_domain(self) -> StoreResult<CommunityWork> {
        let service = convert::optional_uuid("community work service", self.service_id.as_deref())?;
        let group = CommunityGroup::new(service, self.group_name)
            .map_err(|e| corrupt("community work group", e))?;
        Ok(CommunityWork {
            id: convert::uuid("community work id", &self.id)?,
            group,
            activity: convert::parse("community work activity", &self.activity)?,
            minutes: u32::try_from(self.minutes)
                .map_err(|e| corrupt("community work minutes", e))?,
            occurred_at: convert::from_db(self.occurred_at),
            team_id: convert::optional_uuid("community work team", self.team_id.as_deref())?,
            notes: self.notes,
            created_by: self.created_by,
            created_at: convert::from_db(self.created_at),
        })
    }
}

/// Stores a piece of community work.
pub fn insert(conn: &mut DbConnection, w: &CommunityWork) -> StoreResult<()> {
    diesel::insert_into(work::table)
        .values(WorkRow::from_domain(w))
        .execute(conn)?;
    Ok(())
}

/// One piece of community work by id.
pub fn get(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<CommunityWork>> {
    work::table
        .find(id.to_string())
        .select(WorkRow::as_select())
        .first(conn)
        .optional()?
        .map(WorkRow::into_domain)
        .transpose()
}

/// A page of community work, newest first, after `after`.
pub fn list(
    conn: &mut DbConnection,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<CommunityWork>> {
    let query = work::table
        .select(WorkRow::as_select())
        .limit(limit)
        .into_boxed();
    keyset(
        query,
        (work::created_at, work::id),
        Order::NewestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(WorkRow::into_domain)
    .collect()
}
