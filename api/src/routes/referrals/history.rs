//! A referral's history: every change of status and every move between teams, oldest first.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use linkwell_domain::team::HistoryKind;
use linkwell_persistence::referral_history::{self, Entry};
use linkwell_persistence::{DbConnection, Keyset, StoreResult, referrals};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{Allowed, GetReferralHistory};
use crate::error::ApiError;
use crate::listing::{self, Listed};
use crate::pagination::{Page, PageQuery};
use crate::schema::ReadEndableProblems;
use crate::state::AppState;
use crate::{schema, wire};

/// One entry of a referral's history: a change of status, or a move between teams.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HistoryEntry)]
pub struct HistoryEntryView {
    pub id: Uuid,
    #[schema(value_type = schema::HistoryKind)]
    pub kind: &'static str,
    /// The status it left: `null` for the receipt, the first entry of every referral. A move
    /// between teams leaves the status as it was: `from` and `to` are both the status then.
    #[schema(required = true, value_type = Option<schema::ReferralStatus>)]
    pub from: Option<&'static str>,
    #[schema(value_type = schema::ReferralStatus)]
    pub to: &'static str,
    #[schema(required = true, value_type = Option<schema::ClosureReason>)]
    pub reason_code: Option<&'static str>,
    #[schema(required = true, value_type = Option<crate::fields::TransitionReason>)]
    pub reason: Option<String>,
    /// A move between teams: the team it left (`null` when it had none yet); `null` for a
    /// change of status.
    #[schema(required = true)]
    pub from_team_id: Option<Uuid>,
    /// A move between teams: the team that owns it from then on; `null` for a change of
    /// status.
    #[schema(required = true)]
    pub to_team_id: Option<Uuid>,
    /// Who made it: the subject of their token (a user id for registered users), or
    /// `anonymous@ADDRESS` for a self-referral.
    #[schema(value_type = crate::schema::Subject)]
    pub by: String,
    /// The role they acted in; `null` for a member of the public (a self-referral).
    #[schema(required = true, value_type = Option<schema::Role>)]
    pub role: Option<&'static str>,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
}

impl From<&Entry> for HistoryEntryView {
    fn from(entry: &Entry) -> Self {
        match entry {
            Entry::Status(c) => Self {
                id: c.id,
                kind: HistoryKind::Status.as_str(),
                from: c.from.map(|s| s.as_str()),
                to: c.to.as_str(),
                reason_code: c.reason_code.map(|r| r.as_str()),
                reason: c.reason.clone(),
                from_team_id: None,
                to_team_id: None,
                by: c.actor_sub.clone(),
                role: c.actor_role.map(|r| r.as_str()),
                at: c.at,
            },
            Entry::Team(m) => Self {
                id: m.id,
                kind: HistoryKind::Team.as_str(),
                from: Some(m.status.as_str()),
                to: m.status.as_str(),
                reason_code: None,
                reason: m.reason.clone(),
                from_team_id: m.from,
                to_team_id: Some(m.to),
                by: m.actor_sub.clone(),
                role: Some(m.actor_role.as_str()),
                at: m.at,
            },
        }
    }
}

impl Listed for Entry {
    fn keyset(&self) -> Keyset {
        self.position()
    }
    fn id(&self) -> Uuid {
        self.position().id
    }
}

/// A page of a referral's history, oldest first.
pub type HistoryPage = Page<HistoryEntryView>;

/// The first `limit` entries of a referral's history, for an export.
pub(crate) fn all(
    conn: &mut DbConnection,
    id: Uuid,
    limit: i64,
) -> StoreResult<Vec<HistoryEntryView>> {
    Ok(referral_history::entries(conn, id, None, limit)?
        .iter()
        .map(HistoryEntryView::from)
        .collect())
}

/// Read a referral's history.
///
/// Every change of status and every move between teams (`kind`), oldest first: who made it,
/// in which role, when, from and to which status or team, and the reason given. The first is
/// the referral's receipt.
#[utoipa::path(
    operation_id = "get_referral_history",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id"), PageQuery),
    responses(
        (status = 200, description = "A page of the history, oldest first", body = HistoryPage),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals/{id}/history")]
pub async fn get_referral_history(
    allowed: Allowed<GetReferralHistory>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("referral-history", id),
        &query,
        move |conn| referrals::exists(conn, id),
        move |conn, w| referral_history::entries(conn, id, w.after, w.limit),
        |_, _, _| Ok(()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(HistoryPage {
        items: page.rows.iter().map(HistoryEntryView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
