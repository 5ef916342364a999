//! Group sessions, their facilitators and the people booked on them.

use std::collections::HashMap;

use diesel::prelude::*;
use linkwell_domain::{Attendee, GroupSession};
use uuid::Uuid;

use crate::connection::{Backend, DbConnection};
use crate::convert;
use crate::dialect;
use crate::error::StoreResult;
use crate::page::{Keyset, Order, keyset};
use crate::schema::group_sessions as groups;
use crate::schema::{group_attendees as attendees, group_session_facilitators as facilitators};
use crate::schema::{people, referrals};
use crate::unit_of_work::Tx;

#[derive(Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = groups, treat_none_as_null = true)]
struct GroupRow {
    id: String,
    kind: String,
    mode: String,
    title: String,
    scheduled_at: chrono::NaiveDateTime,
    status: String,
    duration_minutes: Option<i32>,
    created_by: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
}

impl GroupRow {
    fn from_domain(g: &GroupSession) -> Self {
        Self {
            id: g.id.to_string(),
            kind: g.kind.as_str().to_owned(),
            mode: g.mode.as_str().to_owned(),
            title: g.title.clone(),
            scheduled_at: convert::to_db(g.scheduled_at),
            status: g.status.as_str().to_owned(),
            duration_minutes: g.duration_minutes.and_then(|m| i32::try_from(m).ok()),
            created_by: g.created_by.clone(),
            created_at: convert::to_db(g.created_at),
            updated_at: convert::to_db(g.updated_at),
            version: g.version,
        }
    }

    fn into_domain(self, facilitators: Vec<Uuid>) -> StoreResult<GroupSession> {
        Ok(GroupSession {
            id: convert::uuid("group session id", &self.id)?,
            kind: convert::parse("group session kind", &self.kind)?,
            mode: convert::parse("group session mode", &self.mode)?,
            title: self.title,
            scheduled_at: convert::from_db(self.scheduled_at),
            facilitators,
            status: convert::parse("group session status", &self.status)?,
            duration_minutes: self.duration_minutes.and_then(|m| u32::try_from(m).ok()),
            created_by: self.created_by,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

#[derive(Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = attendees)]
struct AttendeeRow {
    id: String,
    group_session_id: String,
    referral_id: String,
    attendance: String,
    created_by: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
}

impl AttendeeRow {
    fn from_domain(a: &Attendee) -> Self {
        Self {
            id: a.id.to_string(),
            group_session_id: a.group_session_id.to_string(),
            referral_id: a.referral_id.to_string(),
            attendance: a.attendance.as_str().to_owned(),
            created_by: a.created_by.clone(),
            created_at: convert::to_db(a.created_at),
            updated_at: convert::to_db(a.updated_at),
            version: a.version,
        }
    }

    fn into_domain(self) -> StoreResult<Attendee> {
        Ok(Attendee {
            id: convert::uuid("attendee id", &self.id)?,
            group_session_id: convert::uuid("attendee group session", &self.group_session_id)?,
            referral_id: convert::uuid("attendee referral", &self.referral_id)?,
            attendance: convert::parse("attendance", &self.attendance)?,
            created_by: self.created_by,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

fn write_facilitators(conn: &mut DbConnection, group: &GroupSession) -> StoreResult<()> {
    let id = group.id.to_string();
    diesel::delete(facilitators::table.filter(facilitators::group_session_id.eq(&id)))
        .execute(conn)?;
    for (position, user) in group.facilitators.iter().enumerate() {
        diesel::insert_into(facilitators::table)
            .values((
                facilitators::group_session_id.eq(&id),
                facilitators::user_id.eq(user.to_string()),
                facilitators::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The facilitators of each of `ids`, in the order given.
fn facilitators_of(
    conn: &mut DbConnection,
    ids: &[String],
) -> StoreResult<HashMap<String, Vec<Uuid>>> {
    let rows: Vec<(String, String)> = facilitators::table
        .filter(facilitators::group_session_id.eq_any(ids))
        .order((facilitators::group_session_id, facilitators::position))
        .select((facilitators::group_session_id, facilitators::user_id))
        .load(conn)?;
    let mut by_group: HashMap<String, Vec<Uuid>> = HashMap::new();
    for (group, user) in rows {
        let user = convert::uuid("facilitator", &user)?;
        by_group.entry(group).or_default().push(user);
    }
    Ok(by_group)
}

fn with_facilitators(
    conn: &mut DbConnection,
    rows: Vec<GroupRow>,
) -> StoreResult<Vec<GroupSession>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut by_group = facilitators_of(conn, &ids)?;
    rows.into_iter()
        .map(|r| {
            let people = by_group.remove(&r.id).unwrap_or_default();
            r.into_domain(people)
        })
        .collect()
}

/// Stores a new group session and its facilitators.
pub fn insert(conn: &mut DbConnection, group: &GroupSession) -> StoreResult<()> {
    diesel::insert_into(groups::table)
        .values(GroupRow::from_domain(group))
        .execute(conn)?;
    write_facilitators(conn, group)
}

/// One group session by id; `lock` holds it until the transaction ends, so changes to it and
/// to its attendees queue.
pub fn get(conn: &mut DbConnection, id: Uuid, lock: bool) -> StoreResult<Option<GroupSession>> {
    if lock {
        dialect::lock_row(conn, "group_sessions", &id.to_string())?;
    }
    let row = groups::table
        .find(id.to_string())
        .select(GroupRow::as_select())
        .first(conn)
        .optional()?;
    Ok(with_facilitators(conn, row.into_iter().collect())?.pop())
}

/// A page of group sessions, newest first, after `after`.
pub fn list(
    conn: &mut DbConnection,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<GroupSession>> {
    let query = groups::table
        .select(GroupRow::as_select())
        .limit(limit)
        .into_boxed();
    let rows = keyset(
        query,
        (groups::created_at, groups::id),
        Order::NewestFirst,
        after,
    )
    .load(conn)?;
    with_facilitators(conn, rows)
}

/// Writes a changed group session if still at `expected_version`; `false` when another
/// change won.
pub fn save(
    conn: &mut DbConnection,
    group: &GroupSession,
    expected_version: i64,
) -> StoreResult<bool> {
    let updated = diesel::update(
        groups::table
            .filter(groups::id.eq(group.id.to_string()))
            .filter(groups::version.eq(expected_version)),
    )
    .set(GroupRow::from_domain(group))
    .execute(conn)?;
    if updated == 1 {
        write_facilitators(conn, group)?;
    }
    Ok(updated == 1)
}

/// Stores a new place on a group session.
pub fn insert_attendee(tx: &mut Tx<'_>, attendee: &Attendee) -> StoreResult<()> {
    tx.touch_referral(attendee.referral_id)?;
    let conn: &mut DbConnection = tx;
    diesel::insert_into(attendees::table)
        .values(AttendeeRow::from_domain(attendee))
        .execute(conn)?;
    Ok(())
}

/// Writes a place's changed attendance (the report counts it under the referral).
pub fn save_attendee(tx: &mut Tx<'_>, attendee: &Attendee) -> StoreResult<()> {
    tx.touch_referral(attendee.referral_id)?;
    let conn: &mut DbConnection = tx;
    diesel::update(attendees::table.find(attendee.id.to_string()))
        .set(AttendeeRow::from_domain(attendee))
        .execute(conn)?;
    Ok(())
}

/// Takes a place off a group session.
pub fn delete_attendee(tx: &mut Tx<'_>, attendee: &Attendee) -> StoreResult<()> {
    tx.touch_referral(attendee.referral_id)?;
    let conn: &mut DbConnection = tx;
    diesel::delete(attendees::table.find(attendee.id.to_string())).execute(conn)?;
    Ok(())
}

/// Referral `referral_id`'s place on group session `group_id`, if booked.
pub fn attendee(
    conn: &mut DbConnection,
    group_id: Uuid,
    referral_id: Uuid,
) -> StoreResult<Option<Attendee>> {
    attendees::table
        .filter(attendees::group_session_id.eq(group_id.to_string()))
        .filter(attendees::referral_id.eq(referral_id.to_string()))
        .select(AttendeeRow::as_select())
        .first(conn)
        .optional()?
        .map(AttendeeRow::into_domain)
        .transpose()
}

/// The places on group session `group_id`, an erased person's left out: they are listed to
/// nobody, and no longer take one of its places.
fn places<'a>(group_id: Uuid) -> attendees::BoxedQuery<'a, Backend> {
    let erased = referrals::table
        .inner_join(people::table)
        .filter(people::erased_at.is_not_null())
        .select(referrals::id);
    attendees::table
        .filter(attendees::group_session_id.eq(group_id.to_string()))
        .filter(diesel::dsl::not(attendees::referral_id.eq_any(erased)))
        .into_boxed()
}

/// How many people hold a place on group session `group_id`.
pub fn count_attendees(conn: &mut DbConnection, group_id: Uuid) -> StoreResult<i64> {
    Ok(places(group_id).count().get_result(conn)?)
}

/// A page of a group session's places in the order they were booked, after `after`.
pub fn attendees(
    conn: &mut DbConnection,
    group_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Attendee>> {
    let query = places(group_id)
        .select(AttendeeRow::as_select())
        .limit(limit);
    keyset(
        query,
        (attendees::created_at, attendees::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(AttendeeRow::into_domain)
    .collect()
}

/// A page of referral `referral_id`'s places on group sessions, with each session, in the
/// order they were booked, after `after`.
pub fn for_referral(
    conn: &mut DbConnection,
    referral_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<(Attendee, GroupSession)>> {
    let query = attendees::table
        .filter(attendees::referral_id.eq(referral_id.to_string()))
        .select(AttendeeRow::as_select())
        .limit(limit)
        .into_boxed();
    let places: Vec<Attendee> = keyset(
        query,
        (attendees::created_at, attendees::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(AttendeeRow::into_domain)
    .collect::<StoreResult<_>>()?;
    let ids: Vec<String> = places
        .iter()
        .map(|p| p.group_session_id.to_string())
        .collect();
    let rows = groups::table
        .filter(groups::id.eq_any(&ids))
        .select(GroupRow::as_select())
        .load(conn)?;
    let by_id: HashMap<Uuid, GroupSession> = with_facilitators(conn, rows)?
        .into_iter()
        .map(|g| (g.id, g))
        .collect();
    places
        .into_iter()
        .map(|p| {
            let group = by_id
                .get(&p.group_session_id)
                .cloned()
                .ok_or_else(|| crate::error::corrupt("group attendee", "its session is missing"))?;
            Ok((p, group))
        })
        .collect()
}
