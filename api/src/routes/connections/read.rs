//! Reading connections: one by id, a filtered list, or the change feed a partner polls.

use actix_web::{HttpResponse, get, web};
use linkwell_domain::ConnectionStatus;
use linkwell_persistence::Keyset;
use linkwell_persistence::connections::{self, ConnectionFilter};
use linkwell_persistence::referrals::FeedPosition;
use serde::Deserialize;
use uuid::Uuid;

use super::{ConnectionPage, view, views, visibility};
use crate::access::{Allowed, GetConnection, ListConnections};
use crate::auth::Caller;
use crate::error::{ApiError, query_code, query_uuid};
use crate::pagination;
use crate::routes::referrals::instant;
use crate::schema::{ListProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{db, schema, wire};

/// Filters and paging for connections.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConnectionQuery {
    /// Staff only: the connections made under this referral.
    #[param(value_type = Option<Uuid>, format = Uuid)]
    pub referral_id: Option<String>,
    /// Staff only: the connections addressed to this organisation.
    #[param(value_type = Option<Uuid>, format = Uuid)]
    pub organisation_id: Option<String>,
    #[param(value_type = Option<schema::ConnectionStatus>)]
    pub status: Option<String>,
    /// Poll for changes: the connections changed at or after this time (a date or an RFC 3339
    /// time) — a move, a cancellation, an expiry, a new note — each at its latest change,
    /// oldest change first. Every page carries `next_cursor`, even an empty one: send the
    /// same query with it to resume, now or later.
    #[param(
        max_length = 35,
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
    )]
    pub updated_since: Option<String>,
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` from the previous page, with the same filters.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length = 120)]
    pub cursor: Option<String>,
}

impl ConnectionQuery {
    fn filter(&self, caller: &Caller) -> Result<ConnectionFilter, ApiError> {
        for (name, given) in [
            ("referral_id", self.referral_id.is_some()),
            ("organisation_id", self.organisation_id.is_some()),
        ] {
            if given && !caller.role.is_staff() {
                return Err(ApiError::bad_parameter(
                    name,
                    "staff_only",
                    "is a filter for staff",
                ));
            }
        }
        Ok(ConnectionFilter {
            referral_id: query_uuid("referral_id", self.referral_id.as_deref())?,
            organisation_id: query_uuid("organisation_id", self.organisation_id.as_deref())?,
            status: query_code::<ConnectionStatus>("status", self.status.as_deref())?,
        })
    }

    /// What a cursor is bound to: this list (or feed) with exactly these filters.
    fn cursor_scope(&self) -> String {
        let mode = if self.updated_since.is_some() {
            "connection-feed"
        } else {
            "connections"
        };
        let id = |v: &Option<String>| v.clone().unwrap_or_default();
        format!(
            "{mode}|{}|{}|{}",
            id(&self.referral_id),
            id(&self.organisation_id),
            self.status.as_deref().unwrap_or_default()
        )
    }
}

/// List connections, or poll for their changes.
///
/// Staff see every connection (filter with `referral_id`, `organisation_id`); a partner sees
/// only those addressed to its organisation. Without `updated_since`: newest first. With it:
/// a change feed, as for referrals — every change to a connection the caller may see (a
/// move, a staff cancellation, an expiry, a new note) appears, each connection at its latest
/// change, oldest change first; every page carries `next_cursor`, and no change is ever
/// passed over, even when concurrent transactions commit out of order.
#[utoipa::path(
    operation_id = "list_connections",
    tag = "connections",
    params(ConnectionQuery),
    responses(
        (status = 200, description = "A page of connections", body = ConnectionPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/connections")]
pub async fn list_connections(
    allowed: Allowed<ListConnections>,
    state: web::Data<AppState>,
    query: web::Query<ConnectionQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let visibility = visibility(&actor.caller)?;
    let filter = query.filter(&actor.caller)?;
    let limit = pagination::limit(query.limit.as_deref())?;
    let scope = query.cursor_scope();
    let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
    if let Some(since) = query.updated_since.as_deref() {
        let since = instant("updated_since", since, false)?;
        let after: Option<FeedPosition> = state.cursors.after(query.cursor.as_deref(), &scope)?;
        let (items, last, horizon) = db::run(&state, move |conn| {
            let page = connections::feed(conn, visibility, &filter, since, after, limit)?;
            let shown: Vec<_> = page.items.iter().map(|(c, _)| c.clone()).collect();
            actor.record_list(conn, shown.iter().map(|c| c.id).collect())?;
            let items = views(conn, &shown, &actor.caller)?;
            Ok((items, page.items.last().map(|(_, p)| *p), page.horizon))
        })
        .await?;
        let next = pagination::resume_at(items.len() == page_size, last, horizon, after);
        return Ok(HttpResponse::Ok().json(ConnectionPage {
            items,
            next_cursor: Some(state.cursors.encode(next, &scope)),
        }));
    }
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let (rows, items) = db::run(&state, move |conn| {
        let rows = connections::list(conn, visibility, &filter, after, limit + 1)?;
        let shown = &rows[..rows.len().min(page_size)];
        actor.record_list(conn, shown.iter().map(|c| c.id).collect())?;
        let items = views(conn, shown, &actor.caller)?;
        Ok((rows, items))
    })
    .await?;
    let (_, next_cursor) = pagination::finish(
        rows,
        limit,
        |c| Keyset {
            at: c.created_at,
            id: c.id,
        },
        &state.cursors,
        &scope,
    );
    Ok(HttpResponse::Ok().json(ConnectionPage { items, next_cursor }))
}

/// Read one connection.
///
/// A partner reads only connections addressed to its organisation; any other is 404, exactly
/// as a missing one.
#[utoipa::path(
    operation_id = "get_connection",
    tag = "connections",
    params(("id" = Uuid, Path, description = "The connection's id")),
    responses(
        (status = 200, description = "The connection", body = super::ConnectionView,
            headers(("ETag" = String, description = "The connection's version"))),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/connections/{id}")]
pub async fn get_connection(
    allowed: Allowed<GetConnection>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let visibility = visibility(&actor.caller)?;
    let id = id.into_inner();
    let found = db::run(&state, move |conn| {
        let Some(connection) = connections::get(conn, id, visibility)? else {
            actor.record_read(conn, id, false)?;
            return Ok(None);
        };
        let view = view(conn, &connection, &actor.caller)?;
        actor.record_read(conn, id, true)?;
        Ok(Some(view))
    })
    .await?;
    let view = found.ok_or(ApiError::NotFound)?;
    Ok(wire::current(view.version, &view))
}
