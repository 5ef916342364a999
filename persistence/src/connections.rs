//! Connections to partners and directory services, their notes, their change feed and the
//! requests due to expire.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use linkwell_domain::connection::{self, Connection, ConnectionNote, SharedDetails};
use linkwell_domain::{ConnectionStatus, Role, SharedField};
use uuid::Uuid;

use crate::connection::{Backend, DbConnection};
use crate::convert;
use crate::dialect;
use crate::error::{StoreResult, corrupt};
use crate::page::{Keyset, Order, keyset};
use crate::referrals::FeedPosition;
use crate::schema::{connection_notes as notes, connections, people, referrals};
use crate::unit_of_work::Tx;

/// Which connections a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Staff: every one.
    All,
    /// A receiving organisation: those addressed to it. Signposts are not addressed to
    /// anyone: the person was told about the service and contacts it themselves.
    Receiver(Uuid),
}

/// What a list asks for; every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    pub referral_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
    pub status: Option<ConnectionStatus>,
}

#[derive(Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = connections, treat_none_as_null = true)]
struct ConnectionRow {
    id: String,
    referral_id: String,
    organisation_id: Option<String>,
    service_id: Option<String>,
    need: String,
    note_for_partner: Option<String>,
    shared_fields: String,
    status: String,
    reason_code: Option<String>,
    reason: Option<String>,
    outcome: Option<String>,
    last_note_at: Option<chrono::NaiveDateTime>,
    created_by: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
    change_seq: i64,
    frozen_details: Option<String>,
    answered_by_staff: bool,
    on_behalf_of: Option<String>,
}

/// What a final connection showed: a JSON object from each shared field's code to its value
/// (`null` when the record had none).
fn frozen_to_json(details: &SharedDetails) -> String {
    let object: BTreeMap<&str, Option<&str>> = details
        .iter()
        .map(|(field, value)| (field.as_str(), value.as_deref()))
        .collect();
    serde_json::to_string(&object).unwrap_or_default()
}

fn frozen_from_json(json: &str) -> StoreResult<SharedDetails> {
    let object: BTreeMap<String, Option<String>> =
        serde_json::from_str(json).map_err(|e| corrupt("connection frozen details", e))?;
    let mut details = object
        .into_iter()
        .map(|(field, value)| {
            Ok((
                convert::parse::<SharedField>("shared field", &field)?,
                value,
            ))
        })
        .collect::<StoreResult<SharedDetails>>()?;
    details.sort_by_key(|(field, _)| *field);
    Ok(details)
}

impl ConnectionRow {
    fn from_domain(c: &Connection, change_seq: i64) -> Self {
        Self {
            id: c.id.to_string(),
            referral_id: c.referral_id.to_string(),
            organisation_id: c.organisation_id.map(|o| o.to_string()),
            service_id: c.service_id.map(|s| s.to_string()),
            need: c.need.as_str().to_owned(),
            note_for_partner: c.note_for_partner.clone(),
            shared_fields: c
                .shared_fields
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(","),
            status: c.status.as_str().to_owned(),
            reason_code: c.reason_code.map(|r| r.as_str().to_owned()),
            reason: c.reason.clone(),
            outcome: c.outcome.map(|o| o.as_str().to_owned()),
            last_note_at: c.last_note_at.map(convert::to_db),
            created_by: c.created_by.clone(),
            created_at: convert::to_db(c.created_at),
            updated_at: convert::to_db(c.updated_at),
            version: c.version,
            change_seq,
            frozen_details: c.frozen_details.as_ref().map(frozen_to_json),
            answered_by_staff: c.answered_by_staff,
            on_behalf_of: c.on_behalf_of.clone(),
        }
    }

    fn into_domain(self) -> StoreResult<Connection> {
        let shared: Vec<&str> = self
            .shared_fields
            .split(',')
            .filter(|f| !f.is_empty())
            .collect();
        Ok(Connection {
            id: convert::uuid("connection id", &self.id)?,
            referral_id: convert::uuid("connection referral", &self.referral_id)?,
            organisation_id: convert::optional_uuid(
                "connection organisation",
                self.organisation_id.as_deref(),
            )?,
            service_id: convert::optional_uuid("connection service", self.service_id.as_deref())?,
            need: convert::parse("connection need", &self.need)?,
            note_for_partner: self.note_for_partner,
            shared_fields: connection::shared_fields(&shared)
                .map_err(|e| corrupt("connection shared fields", e))?,
            status: convert::parse("connection status", &self.status)?,
            reason_code: self
                .reason_code
                .map(|r| convert::parse("connection reason code", &r))
                .transpose()?,
            reason: self.reason,
            outcome: self
                .outcome
                .map(|o| convert::parse("connection outcome", &o))
                .transpose()?,
            last_note_at: self.last_note_at.map(convert::from_db),
            created_by: self.created_by,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
            frozen_details: self
                .frozen_details
                .as_deref()
                .map(frozen_from_json)
                .transpose()?,
            answered_by_staff: self.answered_by_staff,
            on_behalf_of: self.on_behalf_of,
        })
    }
}

type Visible<'a> = connections::BoxedQuery<'a, Backend>;

/// The connections `visibility` and `filter` allow.
fn visible<'a>(visibility: Visibility, filter: &ConnectionFilter) -> Visible<'a> {
    // An erased person's connections are listed to nobody, partners above all.
    let erased = referrals::table
        .inner_join(people::table)
        .filter(people::erased_at.is_not_null())
        .select(referrals::id);
    let mut query = connections::table
        .filter(diesel::dsl::not(connections::referral_id.eq_any(erased)))
        .into_boxed();
    if let Visibility::Receiver(org) = visibility {
        query = query
            .filter(connections::organisation_id.eq(org.to_string()))
            .filter(connections::status.ne(ConnectionStatus::Signposted.as_str()));
    }
    if let Some(referral) = filter.referral_id {
        query = query.filter(connections::referral_id.eq(referral.to_string()));
    }
    if let Some(org) = filter.organisation_id {
        query = query.filter(connections::organisation_id.eq(org.to_string()));
    }
    if let Some(status) = filter.status {
        query = query.filter(connections::status.eq(status.as_str()));
    }
    query
}

/// Stores a new connection at the current change position.
pub fn insert(tx: &mut Tx<'_>, connection: &Connection) -> StoreResult<()> {
    tx.touch_referral(connection.referral_id)?;
    let conn: &mut DbConnection = tx;
    let seq = dialect::change_position(conn)?;
    diesel::insert_into(connections::table)
        .values(ConnectionRow::from_domain(connection, seq))
        .execute(conn)?;
    Ok(())
}

/// Writes a changed connection if still at `expected_version`, moving it to the current
/// change position; `false` when another change won.
pub fn save(tx: &mut Tx<'_>, connection: &Connection, expected_version: i64) -> StoreResult<bool> {
    tx.touch_referral(connection.referral_id)?;
    let conn: &mut DbConnection = tx;
    let seq = dialect::change_position(conn)?;
    let updated = diesel::update(
        connections::table
            .filter(connections::id.eq(connection.id.to_string()))
            .filter(connections::version.eq(expected_version)),
    )
    .set(ConnectionRow::from_domain(connection, seq))
    .execute(conn)?;
    Ok(updated == 1)
}

/// One connection, if `visibility` allows it.
pub fn get(
    conn: &mut DbConnection,
    id: Uuid,
    visibility: Visibility,
) -> StoreResult<Option<Connection>> {
    visible(visibility, &ConnectionFilter::default())
        .filter(connections::id.eq(id.to_string()))
        .select(ConnectionRow::as_select())
        .first(conn)
        .optional()?
        .map(ConnectionRow::into_domain)
        .transpose()
}

/// One connection, if `visibility` allows it, locked until the transaction ends: what is
/// added under it (a progress note) cannot cross a change of it (a withdrawal of consent,
/// an erasure) made meanwhile.
pub fn get_locked(
    conn: &mut DbConnection,
    id: Uuid,
    visibility: Visibility,
) -> StoreResult<Option<Connection>> {
    dialect::lock_row(conn, "connections", &id.to_string())?;
    get(conn, id, visibility)
}

/// A page of the connections the caller may see, newest first, after `after`.
pub fn list(
    conn: &mut DbConnection,
    visibility: Visibility,
    filter: &ConnectionFilter,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Connection>> {
    let query = visible(visibility, filter)
        .select(ConnectionRow::as_select())
        .limit(limit);
    keyset(
        query,
        (connections::created_at, connections::id),
        Order::NewestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(ConnectionRow::into_domain)
    .collect()
}

/// A page of the change feed.
#[derive(Debug)]
pub struct FeedPage {
    /// Each connection at its latest change, with that change's position.
    pub items: Vec<(Connection, FeedPosition)>,
    /// Every change below this has committed: where a caught-up reader resumes.
    pub horizon: FeedPosition,
}

/// The connections changed since `since` (or after `after`), oldest change first, reading
/// only below the horizon so a change committing late is never passed over (see
/// `dialect::feed_horizon`).
pub fn feed(
    conn: &mut DbConnection,
    visibility: Visibility,
    filter: &ConnectionFilter,
    since: DateTime<Utc>,
    after: Option<FeedPosition>,
    limit: i64,
) -> StoreResult<FeedPage> {
    let horizon = dialect::feed_horizon(conn)?;
    let mut query = visible(visibility, filter)
        .select((ConnectionRow::as_select(), connections::change_seq))
        .filter(connections::change_seq.lt(horizon))
        .order((connections::change_seq.asc(), connections::id.asc()))
        .limit(limit);
    query = match after {
        Some(FeedPosition { seq, id }) => query.filter(
            connections::change_seq.gt(seq).or(connections::change_seq
                .eq(seq)
                .and(connections::id.gt(id.to_string()))),
        ),
        None => query.filter(connections::updated_at.ge(convert::to_db(since))),
    };
    let items = query
        .load::<(ConnectionRow, i64)>(conn)?
        .into_iter()
        .map(|(row, seq)| {
            let connection = row.into_domain()?;
            let id = connection.id;
            Ok((connection, FeedPosition { seq, id }))
        })
        .collect::<StoreResult<_>>()?;
    Ok(FeedPage {
        items,
        horizon: FeedPosition {
            seq: horizon,
            id: Uuid::nil(),
        },
    })
}

/// Every connection of referral `referral_id` that is still open (not final), oldest first.
pub fn open_for_referral(
    conn: &mut DbConnection,
    referral_id: Uuid,
) -> StoreResult<Vec<Connection>> {
    let finals: Vec<&str> = ConnectionStatus::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|s| s.as_str())
        .collect();
    connections::table
        .filter(connections::referral_id.eq(referral_id.to_string()))
        .filter(connections::status.ne_all(finals))
        .select(ConnectionRow::as_select())
        .order((connections::created_at.asc(), connections::id.asc()))
        .load(conn)?
        .into_iter()
        .map(ConnectionRow::into_domain)
        .collect()
}

/// Up to `limit` requests made at or before `cutoff` and still unanswered, oldest first,
/// past `after`: one the expiry leaves (its referral anonymised, say) does not come back.
pub fn due_for_expiry(
    conn: &mut DbConnection,
    cutoff: DateTime<Utc>,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Connection>> {
    let query = connections::table
        .filter(connections::status.eq(ConnectionStatus::Requested.as_str()))
        .filter(connections::answered_by_staff.eq(false))
        .filter(connections::created_at.le(convert::to_db(cutoff)))
        .select(ConnectionRow::as_select())
        .limit(limit)
        .into_boxed();
    keyset(
        query,
        (connections::created_at, connections::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(ConnectionRow::into_domain)
    .collect()
}

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = notes)]
struct NoteRow {
    id: String,
    connection_id: String,
    text: String,
    author_sub: String,
    author_role: String,
    author_org_id: Option<String>,
    created_at: chrono::NaiveDateTime,
}

impl NoteRow {
    fn into_domain(self) -> StoreResult<ConnectionNote> {
        Ok(ConnectionNote {
            id: convert::uuid("note id", &self.id)?,
            connection_id: convert::uuid("note connection", &self.connection_id)?,
            text: self.text,
            author_sub: self.author_sub,
            author_role: convert::parse::<Role>("note author role", &self.author_role)?,
            author_org_id: convert::optional_uuid(
                "note author org",
                self.author_org_id.as_deref(),
            )?,
            created_at: convert::from_db(self.created_at),
        })
    }
}

/// Stores a note.
pub fn insert_note(conn: &mut DbConnection, note: &ConnectionNote) -> StoreResult<()> {
    diesel::insert_into(notes::table)
        .values(NoteRow {
            id: note.id.to_string(),
            connection_id: note.connection_id.to_string(),
            text: note.text.clone(),
            author_sub: note.author_sub.clone(),
            author_role: note.author_role.as_str().to_owned(),
            author_org_id: note.author_org_id.map(|o| o.to_string()),
            created_at: convert::to_db(note.created_at),
        })
        .execute(conn)?;
    Ok(())
}

/// Marks connection `id` changed by a note added at `at`: a new version and change position,
/// whatever version it was at (a note never conflicts with another change).
pub fn noted(conn: &mut DbConnection, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
    let seq = dialect::change_position(conn)?;
    let at = convert::to_db(at);
    diesel::update(connections::table.filter(connections::id.eq(id.to_string())))
        .set((
            connections::version.eq(connections::version + 1),
            connections::updated_at.eq(at),
            connections::last_note_at.eq(Some(at)),
            connections::change_seq.eq(seq),
        ))
        .execute(conn)?;
    Ok(())
}

/// A page of a connection's notes, oldest first, after `after`.
pub fn notes(
    conn: &mut DbConnection,
    connection_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<ConnectionNote>> {
    let query = notes::table
        .filter(notes::connection_id.eq(connection_id.to_string()))
        .select(NoteRow::as_select())
        .limit(limit)
        .into_boxed();
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
