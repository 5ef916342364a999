//! Teams, their members, and referrals' moves between them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use linkwell_domain::{Team, TeamMove};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::StoreResult;
use crate::page::{Keyset, Order, keyset};
use crate::schema::{referral_team_moves as moves, team_members as members, teams};
use crate::unit_of_work::Tx;

diesel::define_sql_function!(
    /// SQL `lower`, for names unique ignoring case.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
);

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = teams)]
#[diesel(treat_none_as_default_value = false)]
struct TeamRow {
    id: String,
    name: String,
    area: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
}

impl TeamRow {
    fn into_domain(self) -> StoreResult<Team> {
        Ok(Team {
            id: convert::uuid("team id", &self.id)?,
            name: self.name,
            area: self.area,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

/// Stores a new team.
pub fn insert(conn: &mut DbConnection, team: &Team) -> StoreResult<()> {
    diesel::insert_into(teams::table)
        .values(TeamRow {
            id: team.id.to_string(),
            name: team.name.clone(),
            area: team.area.clone(),
            created_at: convert::to_db(team.created_at),
            updated_at: convert::to_db(team.updated_at),
            version: team.version,
        })
        .execute(conn)?;
    Ok(())
}

/// The team already called `name` (ignoring case), if any.
pub fn find_by_name(conn: &mut DbConnection, name: &str) -> StoreResult<Option<Uuid>> {
    let id: Option<String> = teams::table
        .filter(lower(teams::name).eq(name.to_lowercase()))
        .select(teams::id)
        .first(conn)
        .optional()?;
    id.map(|id| convert::uuid("team id", &id)).transpose()
}

/// One team by id.
pub fn get(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<Team>> {
    teams::table
        .find(id.to_string())
        .select(TeamRow::as_select())
        .first(conn)
        .optional()?
        .map(TeamRow::into_domain)
        .transpose()
}

/// A page of teams in the order they were made, after `after`.
pub fn list(conn: &mut DbConnection, after: Option<Keyset>, limit: i64) -> StoreResult<Vec<Team>> {
    let query = teams::table
        .select(TeamRow::as_select())
        .limit(limit)
        .into_boxed();
    keyset(
        query,
        (teams::created_at, teams::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(TeamRow::into_domain)
    .collect()
}

/// A link worker's place in a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub team_id: Uuid,
    pub user_id: Uuid,
    pub added_at: DateTime<Utc>,
}

fn membership(
    (team_id, user_id, added_at): (String, String, chrono::NaiveDateTime),
) -> StoreResult<Membership> {
    Ok(Membership {
        team_id: convert::uuid("team id", &team_id)?,
        user_id: convert::uuid("user id", &user_id)?,
        added_at: convert::from_db(added_at),
    })
}

/// `user`'s membership of `team`, if any.
pub fn membership_of(
    conn: &mut DbConnection,
    team: Uuid,
    user: Uuid,
) -> StoreResult<Option<Membership>> {
    members::table
        .find((team.to_string(), user.to_string()))
        .select((members::team_id, members::user_id, members::added_at))
        .first(conn)
        .optional()?
        .map(membership)
        .transpose()
}

/// Adds `user` to `team` at `at`; a member already keeps the time they joined. Returns the
/// membership as it stands.
pub fn add_member(
    conn: &mut DbConnection,
    team: Uuid,
    user: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<Membership> {
    if let Some(existing) = membership_of(conn, team, user)? {
        return Ok(existing);
    }
    diesel::insert_into(members::table)
        .values((
            members::team_id.eq(team.to_string()),
            members::user_id.eq(user.to_string()),
            members::added_at.eq(convert::to_db(at)),
        ))
        .execute(conn)?;
    Ok(Membership {
        team_id: team,
        user_id: user,
        added_at: at,
    })
}

/// Takes `user` out of `team`; `false` when they were not in it.
pub fn remove_member(conn: &mut DbConnection, team: Uuid, user: Uuid) -> StoreResult<bool> {
    let removed =
        diesel::delete(members::table.find((team.to_string(), user.to_string()))).execute(conn)?;
    Ok(removed > 0)
}

/// A page of a team's members in the order they joined, after `after`.
pub fn members(
    conn: &mut DbConnection,
    team: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Membership>> {
    let query = members::table
        .filter(members::team_id.eq(team.to_string()))
        .select((members::team_id, members::user_id, members::added_at))
        .limit(limit)
        .into_boxed();
    keyset(
        query,
        (members::added_at, members::user_id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(membership)
    .collect()
}

/// The teams each of `users` belongs to, oldest membership first.
pub fn teams_of(conn: &mut DbConnection, users: &[Uuid]) -> StoreResult<Vec<Membership>> {
    let ids: Vec<String> = users.iter().map(Uuid::to_string).collect();
    members::table
        .filter(members::user_id.eq_any(ids))
        .select((members::team_id, members::user_id, members::added_at))
        .order((members::added_at.asc(), members::team_id.asc()))
        .load(conn)?
        .into_iter()
        .map(membership)
        .collect()
}

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = moves)]
#[diesel(treat_none_as_default_value = false)]
struct MoveRow {
    id: String,
    referral_id: String,
    from_team_id: Option<String>,
    to_team_id: String,
    status: String,
    reason: Option<String>,
    actor_sub: String,
    actor_role: String,
    moved_at: chrono::NaiveDateTime,
}

impl MoveRow {
    fn into_domain(self) -> StoreResult<TeamMove> {
        Ok(TeamMove {
            id: convert::uuid("team move id", &self.id)?,
            referral_id: convert::uuid("referral id", &self.referral_id)?,
            from: convert::optional_uuid("team id", self.from_team_id.as_deref())?,
            to: convert::uuid("team id", &self.to_team_id)?,
            status: convert::parse("referral status", &self.status)?,
            reason: self.reason,
            actor_sub: self.actor_sub,
            actor_role: convert::parse("role", &self.actor_role)?,
            at: convert::from_db(self.moved_at),
        })
    }
}

/// Appends a referral's move between teams to its history.
pub fn record_move(tx: &mut Tx<'_>, moved: &TeamMove) -> StoreResult<()> {
    tx.touch_referral(moved.referral_id)?;
    let conn: &mut DbConnection = tx;
    diesel::insert_into(moves::table)
        .values(MoveRow {
            id: moved.id.to_string(),
            referral_id: moved.referral_id.to_string(),
            from_team_id: moved.from.map(|id| id.to_string()),
            to_team_id: moved.to.to_string(),
            status: moved.status.as_str().to_owned(),
            reason: moved.reason.clone(),
            actor_sub: moved.actor_sub.clone(),
            actor_role: moved.actor_role.as_str().to_owned(),
            moved_at: convert::to_db(moved.at),
        })
        .execute(conn)?;
    Ok(())
}

/// A page of a referral's moves between teams, oldest first, after `after`.
pub fn moves(
    conn: &mut DbConnection,
    referral_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<TeamMove>> {
    let query = moves::table
        .filter(moves::referral_id.eq(referral_id.to_string()))
        .select(MoveRow::as_select())
        .limit(limit)
        .into_boxed();
    keyset(
        query,
        (moves::moved_at, moves::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(MoveRow::into_domain)
    .collect()
}
