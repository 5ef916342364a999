//! Reading referrals: one by id, or a filtered page.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use linkwell_domain::person::parse_date;
use linkwell_domain::self_referral::parse_reference;
use linkwell_domain::{Reason, Referral, ReferralSource, ReferralStatus};
use linkwell_persistence::Keyset;
use linkwell_persistence::referrals::{self, Assignee, FeedPosition, ReferralFilter};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{ReferralPage, ReferralView, visibility};
use crate::access::{Allowed, GetReferral, ListReferrals};
use crate::auth::Caller;
use crate::error::{ApiError, query_code, query_uuid};
use crate::pagination;
use crate::schema::{ListProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{db, schema, wire};

/// Read one referral.
///
/// A referrer sees only its own organisation's referrals; any other id is 404, exactly as if it
/// did not exist.
#[utoipa::path(
    operation_id = "get_referral",
    tag = "referrals",
    params(("id" = Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "The referral", body = ReferralView,
            headers(("ETag" = String, description = "The referral's version"))),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals/{id}")]
pub async fn get_referral(
    allowed: Allowed<GetReferral>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let caller = actor.caller.clone();
    let id = id.into_inner();
    let visibility = visibility(&actor.caller)?;
    let found = db::run(&state, move |conn| {
        let found = referrals::get(conn, id, visibility)?;
        actor.record_read(conn, id, found.is_some())?;
        Ok(found)
    })
    .await?;
    let referral = found.ok_or(ApiError::NotFound)?;
    Ok(wire::current(
        referral.version,
        &ReferralView::for_caller(&referral, &caller),
    ))
}

/// Filters and paging for the referral list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReferralQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` from the previous page, with the same filters.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length = 120)]
    pub cursor: Option<String>,
    #[param(value_type = Option<schema::ReferralStatus>)]
    pub status: Option<String>,
    /// Referrals that list this reason.
    #[param(value_type = Option<schema::Reason>)]
    pub reason: Option<String>,
    #[param(value_type = Option<schema::ReferralSource>)]
    pub source: Option<String>,
    /// Received on or after: a date (`2026-03-01`, from midnight UTC) or an RFC 3339 time.
    #[param(
        max_length = 35,
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
    )]
    pub received_from: Option<String>,
    /// Received on or before: a date (`2026-03-31`, the whole day, UTC) or an RFC 3339 time.
    #[param(
        max_length = 35,
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
    )]
    pub received_to: Option<String>,
    /// Staff only: `me` (the caller's caseload, for a registered user's token), a user id, or
    /// `none` (the waiting list: nobody assigned).
    #[param(
        max_length = 36,
        pattern = r"^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub assignee: Option<String>,
    /// `true`: nobody has contacted the person yet; `false`: first contact made.
    #[param(value_type = Option<bool>)]
    pub waiting: Option<String>,
    /// Poll for changes: the referrals changed at or after this time (a date or an RFC 3339
    /// time), each at its latest change, oldest change first. Every page carries
    /// `next_cursor`, even an empty one: send the same query with it to resume, now or later.
    #[param(
        max_length = 35,
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
    )]
    pub updated_since: Option<String>,
    /// The reference the person quotes (`LW-7K3M9Q`): letter case, spaces and hyphens do not
    /// matter, nor does leaving out `LW`.
    #[param(
        pattern = r"^ *([Ll][Ww])?[ -]*[A-Za-z0-9]( *-? *[A-Za-z0-9]){5} *$",
        max_length = 32
    )]
    pub reference: Option<String>,
    /// The person's record: their referrals.
    #[param(value_type = Option<Uuid>)]
    pub person_id: Option<String>,
    /// The referring organisation: its referrals (a referrer sees only its own whatever it
    /// names here).
    #[param(value_type = Option<Uuid>)]
    pub referrer_org_id: Option<String>,
    /// Staff only: the team that owns them; with `assignee=none`, that team's waiting list.
    #[param(value_type = Option<Uuid>)]
    pub team_id: Option<String>,
}

impl ReferralQuery {
    fn filter(&self, caller: &Caller) -> Result<ReferralFilter, ApiError> {
        let received_from = self
            .received_from
            .as_deref()
            .map(|v| instant("received_from", v, false))
            .transpose()?;
        let received_before = self
            .received_to
            .as_deref()
            .map(|v| instant("received_to", v, true))
            .transpose()?;
        if let (Some(from), Some(before)) = (received_from, received_before)
            && from >= before
        {
            return Err(ApiError::bad_parameter(
                "received_to",
                "empty_range",
                "must not be before received_from",
            ));
        }
        Ok(ReferralFilter {
            status: query_code::<ReferralStatus>("status", self.status.as_deref())?,
            reason: query_code::<Reason>("reason", self.reason.as_deref())?,
            source: query_code::<ReferralSource>("source", self.source.as_deref())?,
            received_from,
            received_before,
            assignee: self
                .assignee
                .as_deref()
                .map(|v| assignee(v, caller))
                .transpose()?,
            waiting: pagination::flag("waiting", self.waiting.as_deref())?,
            reference: self
                .reference
                .as_deref()
                .map(|v| {
                    parse_reference(v)
                        .map_err(|e| ApiError::bad_parameter("reference", e.code, e.message))
                })
                .transpose()?,
            person_id: query_uuid("person_id", self.person_id.as_deref())?,
            referrer_org_id: query_uuid("referrer_org_id", self.referrer_org_id.as_deref())?,
            team_id: match self.team_id.as_deref() {
                Some(_) if !caller.role.is_staff() => {
                    return Err(ApiError::bad_parameter(
                        "team_id",
                        "staff_only",
                        "is a filter for staff",
                    ));
                }
                value => query_uuid("team_id", value)?,
            },
        })
    }

    /// What a cursor is bound to: this list with exactly these filters.
    fn cursor_scope(&self) -> String {
        let part = |v: &Option<String>| v.clone().unwrap_or_default();
        let mode = if self.updated_since.is_some() {
            "referral-feed"
        } else {
            "referrals"
        };
        format!(
            "{mode}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            part(&self.status),
            part(&self.reason),
            part(&self.source),
            part(&self.received_from),
            part(&self.received_to),
            part(&self.assignee),
            part(&self.waiting),
            part(&self.reference),
            part(&self.person_id),
            part(&self.referrer_org_id),
            part(&self.team_id)
        )
    }
}

/// The `assignee` filter: staff only (a referrer never learns who holds its referral).
fn assignee(value: &str, caller: &Caller) -> Result<Assignee, ApiError> {
    if !caller.role.is_staff() {
        return Err(ApiError::bad_parameter(
            "assignee",
            "staff_only",
            "is a filter for staff",
        ));
    }
    match value {
        "none" => Ok(Assignee::Nobody),
        "me" => Uuid::parse_str(&caller.sub)
            .map(Assignee::User)
            .map_err(|_| {
                ApiError::bad_parameter(
                    "assignee",
                    "not_a_user",
                    "`me` needs a registered user's token (`linkwell token --user`)",
                )
            }),
        id => Uuid::parse_str(id).map(Assignee::User).map_err(|_| {
            ApiError::bad_parameter(
                "assignee",
                "invalid_assignee",
                "must be me, none or a user id",
            )
        }),
    }
}

/// A date or a time as an instant. As an upper bound (`end`), a date covers its whole day and a
/// time includes itself: both become an exclusive bound just after. Instants are clamped to
/// years 1 to 9999, where every stored timestamp lies, so bounds compare the same way on both
/// backends (SQLite compares timestamps as text, which breaks past year 9999).
pub(crate) fn instant(name: &str, value: &str, end: bool) -> Result<DateTime<Utc>, ApiError> {
    let at = if let Ok(date) = parse_date(value) {
        let start = date.and_time(NaiveTime::MIN).and_utc();
        if end {
            start + Duration::days(1)
        } else {
            start
        }
    } else {
        let at = DateTime::parse_from_rfc3339(value)
            .map_err(|_| {
                ApiError::bad_parameter(
                    name,
                    "invalid_date",
                    "must be a date (YYYY-MM-DD) or an RFC 3339 time",
                )
            })?
            .with_timezone(&Utc);
        if end {
            at + Duration::microseconds(1)
        } else {
            at
        }
    };
    let earliest = NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN);
    let latest = NaiveDate::from_ymd_opt(9999, 1, 1).unwrap_or(NaiveDate::MAX);
    Ok(at.clamp(
        earliest.and_time(NaiveTime::MIN).and_utc(),
        latest.and_time(NaiveTime::MIN).and_utc(),
    ))
}

/// List referrals, newest first, or poll for changes.
///
/// A referrer sees only its own organisation's referrals. Filters combine with AND.
///
/// With `updated_since` the list is a change feed: the referrals changed since then, each at
/// its latest change, oldest change first. Every page carries `next_cursor`, the last one
/// too: a page shorter than `limit` (or empty) means "caught up"; poll again later with that
/// cursor and the same query. No change is ever passed over, even when concurrent
/// transactions commit out of order: the feed reads only changes whose transactions, and
/// every transaction before them, have ended.
#[utoipa::path(
    operation_id = "list_referrals",
    tag = "referrals",
    params(ReferralQuery),
    responses(
        (status = 200, description = "A page of referrals", body = ReferralPage),
        ListProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals")]
pub async fn list_referrals(
    allowed: Allowed<ListReferrals>,
    state: web::Data<AppState>,
    query: web::Query<ReferralQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let caller = actor.caller.clone();
    let limit = pagination::limit(query.limit.as_deref())?;
    let filter = query.filter(&actor.caller)?;
    let scope = query.cursor_scope();
    let visibility = visibility(&actor.caller)?;
    let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
    let view = move |r: &Referral| ReferralView::for_caller(r, &caller);
    if let Some(since) = query.updated_since.as_deref() {
        let since = instant("updated_since", since, false)?;
        let after: Option<FeedPosition> = state.cursors.after(query.cursor.as_deref(), &scope)?;
        let page = db::run(&state, move |conn| {
            let page = referrals::feed(conn, visibility, &filter, since, after, limit)?;
            actor.record_list(conn, page.items.iter().map(|(r, _)| r.id).collect())?;
            Ok(page)
        })
        .await?;
        let last = page.items.last().map(|(_, p)| *p);
        let next = pagination::resume_at(page.items.len() == page_size, last, page.horizon, after);
        return Ok(HttpResponse::Ok().json(ReferralPage {
            items: page.items.iter().map(|(r, _)| view(r)).collect(),
            next_cursor: Some(state.cursors.encode(next, &scope)),
        }));
    }
    let after = state.cursors.after(query.cursor.as_deref(), &scope)?;
    let rows = db::run(&state, move |conn| {
        let rows = referrals::list(conn, visibility, &filter, after, limit + 1)?;
        // The extra row only tells whether another page exists; it is not shown.
        let shown = rows.iter().take(page_size).map(|r| r.id).collect();
        actor.record_list(conn, shown)?;
        Ok(rows)
    })
    .await?;
    let (rows, next_cursor) = pagination::finish(
        rows,
        limit,
        |r| Keyset {
            at: r.received_at,
            id: r.id,
        },
        &state.cursors,
        &scope,
    );
    Ok(HttpResponse::Ok().json(ReferralPage {
        items: rows.iter().map(view).collect(),
        next_cursor,
    }))
}
