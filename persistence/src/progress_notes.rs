//! Progress notes on a plan's goals, added through a connection that shares the plan.

use diesel::prelude::*;
use linkwell_domain::{ProgressNote, Role};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::StoreResult;
use crate::page::{Keyset, Order, keyset};
use crate::schema::goal_progress_notes as notes;

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = notes)]
struct NoteRow {
    id: String,
    goal_id: String,
    connection_id: String,
    text: String,
    author_sub: String,
    author_role: String,
    author_org_id: Option<String>,
    created_at: chrono::NaiveDateTime,
}

impl NoteRow {
    fn from_domain(n: &ProgressNote) -> Self {
        Self {
            id: n.id.to_string(),
            goal_id: n.goal_id.to_string(),
            connection_id: n.connection_id.to_string(),
            text: n.text.clone(),
            author_sub: n.author_sub.clone(),
            author_role: n.author_role.as_str().to_owned(),
            author_org_id: n.author_org_id.map(|o| o.to_string()),
            created_at: convert::to_db(n.created_at),
        }
    }

    fn into_domain(self) -> StoreResult<ProgressNote> {
        Ok(ProgressNote {
            id: convert::uuid("progress note id", &self.id)?,
            goal_id: convert::uuid("progress note goal", &self.goal_id)?,
            connection_id: convert::uuid("progress note connection", &self.connection_id)?,
            text: self.text,
            author_sub: self.author_sub,
            author_role: convert::parse::<Role>("progress note author role", &self.author_role)?,
            author_org_id: convert::optional_uuid(
                "progress note author org",
                self.author_org_id.as_deref(),
            )?,
            created_at: convert::from_db(self.created_at),
        })
    }
}

/// Stores a progress note.
pub fn insert(conn: &mut DbConnection, note: &ProgressNote) -> StoreResult<()> {
    diesel::insert_into(notes::table)
        .values(NoteRow::from_domain(note))
        .execute(conn)?;
    Ok(())
}

/// Which progress notes a list holds.
#[derive(Debug, Clone, Copy)]
pub enum Under {
    /// Those added through one connection (what its receiving organisation wrote, or staff
    /// for it), on any goal.
    Connection(Uuid),
    /// Those on one goal, through every connection.
    Goal(Uuid),
}

/// A page of progress notes, oldest first, after `after`.
pub fn list(
    conn: &mut DbConnection,
    under: Under,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<ProgressNote>> {
    let query = notes::table
        .select(NoteRow::as_select())
        .limit(limit)
        .into_boxed();
    let query = match under {
        Under::Connection(id) => query.filter(notes::connection_id.eq(id.to_string())),
        Under::Goal(id) => query.filter(notes::goal_id.eq(id.to_string())),
    };
    keyset(
        query,
        (notes::created_at, notes::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(NoteRow::into_domain)
    .collect()
}
