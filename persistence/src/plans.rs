//! Wellbeing plans, their goals and each goal's history of status.

use std::collections::HashMap;

use diesel::prelude::*;
use linkwell_domain::{Goal, GoalStatusChange, Plan};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::StoreResult;
use crate::page::{Keyset, Order, keyset};
use crate::schema::{connections, goal_status_changes as changes, goals, plans};

#[derive(Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = plans, treat_none_as_null = true)]
struct PlanRow {
    referral_id: String,
    what_matters: String,
    strengths: Option<String>,
    agreed_at: Option<chrono::NaiveDateTime>,
    created_by: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
}

impl PlanRow {
    fn from_domain(p: &Plan) -> Self {
        Self {
            referral_id: p.referral_id.to_string(),
            what_matters: p.what_matters.clone(),
            strengths: p.strengths.clone(),
            agreed_at: p.agreed_at.map(convert::to_db),
            created_by: p.created_by.clone(),
            created_at: convert::to_db(p.created_at),
            updated_at: convert::to_db(p.updated_at),
            version: p.version,
        }
    }

    fn into_domain(self) -> StoreResult<Plan> {
        Ok(Plan {
            referral_id: convert::uuid("plan referral", &self.referral_id)?,
            what_matters: self.what_matters,
            strengths: self.strengths,
            agreed_at: self.agreed_at.map(convert::from_db),
            created_by: self.created_by,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

/// A referral's plan, if one has been written.
pub fn get(conn: &mut DbConnection, referral_id: Uuid) -> StoreResult<Option<Plan>> {
    plans::table
        .find(referral_id.to_string())
        .select(PlanRow::as_select())
        .first(conn)
        .optional()?
        .map(PlanRow::into_domain)
        .transpose()
}

/// Stores a referral's first plan.
pub fn insert(conn: &mut DbConnection, plan: &Plan) -> StoreResult<()> {
    diesel::insert_into(plans::table)
        .values(PlanRow::from_domain(plan))
        .execute(conn)?;
    Ok(())
}

/// Writes a changed plan if still at `expected_version`; `false` when another change won.
pub fn save(conn: &mut DbConnection, plan: &Plan, expected_version: i64) -> StoreResult<bool> {
    let updated = diesel::update(
        plans::table
            .filter(plans::referral_id.eq(plan.referral_id.to_string()))
            .filter(plans::version.eq(expected_version)),
    )
    .set(PlanRow::from_domain(plan))
    .execute(conn)?;
    Ok(updated == 1)
}

#[derive(Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = goals, treat_none_as_null = true)]
struct GoalRow {
    id: String,
    referral_id: String,
    description: String,
    target_date: Option<chrono::NaiveDate>,
    status: String,
    created_by: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
}

impl GoalRow {
    fn from_domain(g: &Goal) -> Self {
        Self {
            id: g.id.to_string(),
            referral_id: g.referral_id.to_string(),
            description: g.description.clone(),
            target_date: g.target_date,
            status: g.status.as_str().to_owned(),
            created_by: g.created_by.clone(),
            created_at: convert::to_db(g.created_at),
            updated_at: convert::to_db(g.updated_at),
            version: g.version,
        }
    }

    fn into_domain(self) -> StoreResult<Goal> {
        Ok(Goal {
            id: convert::uuid("goal id", &self.id)?,
            referral_id: convert::uuid("goal referral", &self.referral_id)?,
            description: self.description,
            target_date: self.target_date,
            status: convert::parse("goal status", &self.status)?,
            created_by: self.created_by,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = changes)]
struct ChangeRow {
    id: String,
    goal_id: String,
    from_status: Option<String>,
    to_status: String,
    actor_sub: String,
    actor_role: String,
    changed_at: chrono::NaiveDateTime,
}

impl ChangeRow {
    fn into_domain(self) -> StoreResult<GoalStatusChange> {
        Ok(GoalStatusChange {
            id: convert::uuid("goal change id", &self.id)?,
            goal_id: convert::uuid("goal change goal", &self.goal_id)?,
            from: self
                .from_status
                .map(|s| convert::parse("goal status", &s))
                .transpose()?,
            to: convert::parse("goal status", &self.to_status)?,
            actor_sub: self.actor_sub,
            actor_role: convert::parse("role", &self.actor_role)?,
            at: convert::from_db(self.changed_at),
        })
    }
}

/// Stores a new goal.
pub fn insert_goal(conn: &mut DbConnection, goal: &Goal) -> StoreResult<()> {
    diesel::insert_into(goals::table)
        .values(GoalRow::from_domain(goal))
        .execute(conn)?;
    Ok(())
}

/// One goal by id.
pub fn get_goal(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<Goal>> {
    goals::table
        .find(id.to_string())
        .select(GoalRow::as_select())
        .first(conn)
        .optional()?
        .map(GoalRow::into_domain)
        .transpose()
}

/// A page of a referral's goals in the order they were set, after `after`.
pub fn goals_for_referral(
    conn: &mut DbConnection,
    referral_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Goal>> {
    let query = goals::table
        .filter(goals::referral_id.eq(referral_id.to_string()))
        .into_boxed();
    goals_page(conn, query, after, limit)
}

/// A page of the goals of the referral connection `connection_id` is under, in the order
/// they were set, after `after`: the plan as the connection shares it.
pub fn goals_for_connection(
    conn: &mut DbConnection,
    connection_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Goal>> {
    let referral = connections::table
        .filter(connections::id.eq(connection_id.to_string()))
        .select(connections::referral_id);
    let query = goals::table
        .filter(goals::referral_id.eq_any(referral))
        .into_boxed();
    goals_page(conn, query, after, limit)
}

fn goals_page<'a>(
    conn: &mut DbConnection,
    query: goals::BoxedQuery<'a, <DbConnection as diesel::Connection>::Backend>,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Goal>> {
    keyset(
        query.select(GoalRow::as_select()).limit(limit),
        (goals::created_at, goals::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(GoalRow::into_domain)
    .collect()
}

pub fn save_goal(conn: &mut DbConnection, goal: &Goal, expected_version: i64) -> StoreResult<bool> {
    let updated = diesel::update(
        goals::table
            .filter(goals::id.eq(goal.id.to_string()))
            .filter(goals::version.eq(expected_version)),
    )
    .set(GoalRow::from_domain(goal))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Appends one change of a goal's status.
pub fn record_change(conn: &mut DbConnection, change: &GoalStatusChange) -> StoreResult<()> {
    diesel::insert_into(changes::table)
        .values(ChangeRow {
            id: change.id.to_string(),
            goal_id: change.goal_id.to_string(),
            from_status: change.from.map(|s| s.as_str().to_owned()),
            to_status: change.to.as_str().to_owned(),
            actor_sub: change.actor_sub.clone(),
            actor_role: change.actor_role.as_str().to_owned(),
            changed_at: convert::to_db(change.at),
        })
        .execute(conn)?;
    Ok(())
}

/// The histories of `goals`, each oldest first, in one query.
pub fn histories(
    conn: &mut DbConnection,
    goals: &[Uuid],
) -> StoreResult<HashMap<Uuid, Vec<GoalStatusChange>>> {
    let ids: Vec<String> = goals.iter().map(Uuid::to_string).collect();
    let mut by_goal: HashMap<Uuid, Vec<GoalStatusChange>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_goal);
    }
    let rows = changes::table
        .filter(changes::goal_id.eq_any(ids))
        .select(ChangeRow::as_select())
        .order((changes::changed_at.asc(), changes::id.asc()))
        .load(conn)?;
    for row in rows {
        let change = row.into_domain()?;
        by_goal.entry(change.goal_id).or_default().push(change);
    }
    Ok(by_goal)
}
