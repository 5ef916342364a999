//! A list under one parent (`/v1/referrals/{id}/sessions`): every such list pages, checks its
//! parent and audits its read the same way, so each handler says only what it lists.

use actix_web::web;
use linkwell_persistence::{DbConnection, Keyset, StoreResult};
use uuid::Uuid;

use crate::audit::{Actor, Refusal};
use crate::db;
use crate::error::ApiError;
use crate::pagination::{self, PageQuery};
use crate::state::AppState;

/// A row a list shows: where a cursor stands after it, and the id its audit row names.
pub trait Listed {
    fn keyset(&self) -> Keyset;
    fn id(&self) -> Uuid;
}

/// What a list under a parent fetches, given where the page starts and how many rows to read.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub after: Option<Keyset>,
    /// One more than the page holds, to learn whether another page follows.
    pub limit: i64,
}

/// What a list's parent check found.
#[derive(Debug)]
pub enum Parent {
    Found,
    /// None, or none this caller may see: 404.
    Missing,
    /// There, but its rows may not be listed now (a plan no longer shared).
    Refused(Refusal),
}

impl From<bool> for Parent {
    fn from(found: bool) -> Self {
        if found {
            Parent::Found
        } else {
            Parent::Missing
        }
    }
}

/// One page of a list: its rows, what the view needs beside them, and the next cursor.
#[derive(Debug)]
pub struct Listing<R, X> {
    pub rows: Vec<R>,
    pub extra: X,
    pub next_cursor: Option<String>,
}

/// Lists the rows `fetch` reads under `parent`:
/// - checks `limit`, and the cursor, which is bound to this list and this parent;
/// - refuses as not found (and audits the attempt) a parent that `exists` denies, so a
///   caller cannot tell another's parent from none, and with its own answer (audited) a
///   parent whose rows may not be listed now;
/// - reads one row more than the page and makes the next cursor from the last row shown;
/// - records the read, naming every row shown;
/// - `extra` reads what the view needs beside the rows, on the same connection.
pub async fn under_parent<R, X, P, E, F, A>(
    state: &web::Data<AppState>,
    actor: Actor,
    (list, parent): (&str, Uuid),
    query: &PageQuery,
    exists: E,
    fetch: F,
    extra: A,
) -> Result<Listing<R, X>, ApiError>
where
    R: Listed + Send + 'static,
    X: Send + 'static,
    P: Into<Parent>,
    E: FnOnce(&mut DbConnection) -> StoreResult<P> + Send + 'static,
    F: FnOnce(&mut DbConnection, Window) -> StoreResult<Vec<R>> + Send + 'static,
    A: FnOnce(&mut DbConnection, &[R], &Actor) -> Result<X, ApiError> + Send + 'static,
{
    let limit = pagination::limit(query.limit.as_deref())?;
    let scope = format!("{list}|{parent}");
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
    let (rows, extra) = db::run(state, move |conn| {
        match exists(conn)?.into() {
            Parent::Found => {}
            Parent::Missing => actor.require_parent(conn, parent, false)?,
            Parent::Refused(refusal) => return Err(actor.refuse_read(conn, parent, refusal)),
        }
        let mut rows = fetch(
            conn,
            Window {
                after,
                limit: limit + 1,
            },
        )?;
        let more = rows.len() > page_size;
        rows.truncate(page_size);
        actor.record_list(conn, rows.iter().map(Listed::id).collect())?;
        let extra = extra(conn, &rows, &actor)?;
        Ok(((rows, more), extra))
    })
    .await?;
    let (rows, more) = rows;
    let next_cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|last| state.cursors.encode(last.keyset(), &scope));
    Ok(Listing {
        rows,
        extra,
        next_cursor,
    })
}

/// One page of a list not under a parent (`/v1/teams`): checks `limit` and the cursor, which
/// is bound to `scope` (the list and its filters), reads one row more than the page and makes
/// the next cursor from the last row shown.
pub async fn top_level<R, F>(
    state: &web::Data<AppState>,
    scope: String,
    query: &PageQuery,
    fetch: F,
) -> Result<(Vec<R>, Option<String>), ApiError>
where
    R: Listed + Send + 'static,
    F: FnOnce(&mut DbConnection, Window) -> Result<Vec<R>, ApiError> + Send + 'static,
{
    let limit = pagination::limit(query.limit.as_deref())?;
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut rows = db::run(state, move |conn| {
        fetch(
            conn,
            Window {
                after,
                limit: limit + 1,
            },
        )
    })
    .await?;
    let more = rows.len() > page_size;
    rows.truncate(page_size);
    let next_cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|last| state.cursors.encode(last.keyset(), &scope));
    Ok((rows, next_cursor))
}

/// Implements [`Listed`] for domain rows by the timestamp their list is ordered by.
macro_rules! listed_by {
    ($($row:ty => $at:ident;)+) => {$(
        impl Listed for $row {
            fn keyset(&self) -> Keyset {
                Keyset { at: self.$at, id: self.id }
            }
            fn id(&self) -> Uuid {
                self.id
            }
        }
    )+};
}

listed_by! {
    linkwell_domain::Session => created_at;
    linkwell_domain::plan::Goal => created_at;
    linkwell_domain::outcome::Outcome => recorded_at;
    linkwell_domain::Connection => created_at;
    linkwell_domain::connection::ConnectionNote => created_at;
    linkwell_domain::ProgressNote => created_at;
    linkwell_domain::GroupSession => created_at;
    linkwell_domain::Attendee => created_at;
    linkwell_domain::community_work::CommunityWork => created_at;
    linkwell_domain::consent::ConsentRecord => recorded_at;
    linkwell_domain::Team => created_at;
    linkwell_domain::Organisation => created_at;
    linkwell_domain::Network => created_at;
}

/// A team's members are listed in the order they joined; a member's cursor is their user id.
impl Listed for linkwell_persistence::teams::Membership {
    fn keyset(&self) -> Keyset {
        Keyset {
            at: self.added_at,
            id: self.user_id,
        }
    }
    fn id(&self) -> Uuid {
        self.user_id
    }
}
