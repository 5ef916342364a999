//! Referrals with their person and reasons.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use linkwell_domain::{
    GpRecordCode, Need, NeedCode, Reason, Reasons, Referral, ReferralSource, ReferralStatus,
};
use uuid::Uuid;

use crate::connection::{Backend, DbConnection};
use crate::convert;
use crate::dialect::{self, Hold};
use crate::error::{StoreResult, corrupt};
use crate::page::{Keyset, Order, keyset};
use crate::people::{Details, IntroducerJson};
use crate::schema::{people, referral_reasons, referrals};
use crate::statement::Statement;
use crate::unit_of_work::Tx;

/// Which referrals a caller may see. Applied in the query, never after loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Staff: every referral.
    All,
    /// A referring organisation: only its own.
    Organisation(Uuid),
}

/// List filters; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralFilter {
    pub status: Option<ReferralStatus>,
    pub reason: Option<Reason>,
    pub source: Option<ReferralSource>,
    /// Received at or after.
    pub received_from: Option<DateTime<Utc>>,
    /// Received strictly before.
    pub received_before: Option<DateTime<Utc>>,
    /// Whose caseload: one link worker's, or nobody's (the waiting list).
    pub assignee: Option<Assignee>,
    /// `true`: no first contact yet; `false`: contacted.
    pub waiting: Option<bool>,
    /// The reference the person quotes, as stored (`LW-7K3M9Q`).
    pub reference: Option<String>,
    /// The person's record.
    pub person_id: Option<Uuid>,
    /// The referring organisation.
    pub referrer_org_id: Option<Uuid>,
    /// The team that owns it.
    pub team_id: Option<Uuid>,
}

/// The `assignee` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignee {
    User(Uuid),
    Nobody,
}

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = referrals)]
// None is NULL, written as such: the SQL is then the same for every row, so Diesel keeps the
// INSERT prepared (a DEFAULT per missing value made each a statement of its own to plan).
#[diesel(treat_none_as_default_value = false)]
struct ReferralRow {
    id: String,
    person_id: String,
    status: String,
    source: String,
    summary: Option<String>,
    referrer_org_id: Option<String>,
    external_reference: Option<String>,
    created_by: String,
    received_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
    version: i64,
    status_reason: Option<String>,
    closure_reason: Option<String>,
    gp_record_code: Option<String>,
    assignee_id: Option<String>,
    first_contact_at: Option<chrono::NaiveDateTime>,
    person_as_sent: Option<String>,
    change_seq: i64,
    reference: Option<String>,
    introduced_by: Option<String>,
    team_id: Option<String>,
    specific_needs: Option<String>,
}

/// What a change to a referral may alter; everything else is fixed at receipt.
#[derive(AsChangeset)]
#[diesel(table_name = referrals, treat_none_as_null = true)]
struct ReferralChanges {
    person_id: String,
    status: String,
    summary: Option<String>,
    updated_at: chrono::NaiveDateTime,
    version: i64,
    status_reason: Option<String>,
    closure_reason: Option<String>,
    gp_record_code: Option<String>,
    assignee_id: Option<String>,
    first_contact_at: Option<chrono::NaiveDateTime>,
    change_seq: i64,
    team_id: Option<String>,
    specific_needs: Option<String>,
}

impl ReferralChanges {
    fn from_domain(r: &Referral, change_seq: i64) -> Self {
        Self {
            person_id: r.person_id.to_string(),
            status: r.status.as_str().to_owned(),
            summary: r.summary.clone(),
            updated_at: convert::to_db(r.updated_at),
            version: r.version,
            status_reason: r.status_reason.clone(),
            closure_reason: r.closure_reason.map(|c| c.as_str().to_owned()),
            gp_record_code: r.gp_record_code.map(|c| c.code.to_owned()),
            assignee_id: r.assignee_id.map(|id| id.to_string()),
            first_contact_at: r.first_contact_at.map(convert::to_db),
            change_seq,
            team_id: r.team_id.map(|id| id.to_string()),
            specific_needs: specific_needs(&r.reasons),
        }
    }
}

/// Stores a new referral and its reasons (its person is stored first, see `people`).
/// `created_by` is the caller's subject.
pub fn insert(tx: &mut Tx<'_>, referral: &Referral, created_by: &str) -> StoreResult<()> {
    let id = referral.id.to_string();
    tx.touch_new_referral(referral.id);
    let conn: &mut DbConnection = tx;
    if let Some(org) = referral.referrer_org_id {
        // Counted under the organisation's network as it stands: a move to another network
        // waits for this to commit, or this for the move (see `organisations::set_network`).
        dialect::lock_key(
            conn,
            &crate::organisations::membership_key(org),
            Hold::Shared,
        )?;
    }
    diesel::insert_into(referrals::table)
        .values(ReferralRow {
            id: id.clone(),
            person_id: referral.person_id.to_string(),
            status: referral.status.as_str().to_owned(),
            source: referral.source.as_str().to_owned(),
            summary: referral.summary.clone(),
            referrer_org_id: referral.referrer_org_id.map(|o| o.to_string()),
            external_reference: referral.external_reference.clone(),
            created_by: created_by.to_owned(),
            received_at: convert::to_db(referral.received_at),
            updated_at: convert::to_db(referral.updated_at),
            version: referral.version,
            status_reason: None,
            closure_reason: None,
            gp_record_code: None,
            assignee_id: None,
            first_contact_at: None,
            person_as_sent: Some(Details::to_json(&referral.person)),
            change_seq: dialect::change_position(conn)?,
            reference: Some(referral.reference.clone()),
            introduced_by: referral.introduced_by.as_ref().map(IntroducerJson::to_json),
            team_id: referral.team_id.map(|id| id.to_string()),
            specific_needs: specific_needs(&referral.reasons),
        })
        .execute(conn)?;
    insert_reasons(conn, &id, &referral.reasons)
}

/// The specific needs as stored: comma-separated codes, `None` when there are none.
fn specific_needs(reasons: &Reasons) -> Option<String> {
    let codes: Vec<&str> = reasons.needs().map(Need::as_str).collect();
    (!codes.is_empty()).then(|| codes.join(","))
}

/// Every reason in one statement: a referral has at most one of each of a dozen codes, so the
/// texts (one per count) are few enough to keep prepared.
fn insert_reasons(conn: &mut DbConnection, id: &str, reasons: &Reasons) -> StoreResult<()> {
    let count = reasons.iter().count();
    if count == 0 {
        return Ok(());
    }
    let rows = vec!["(?, ?)"; count].join(", ");
    let mut query = Statement::new(format!(
        "INSERT INTO referral_reasons (referral_id, reason) VALUES {rows}"
    ));
    for reason in reasons.iter() {
        query = query
            .bind::<Text, _>(id.to_owned())
            .bind::<Text, _>(reason.as_str());
    }
    query.execute(conn)?;
    Ok(())
}

/// Writes a changed referral if it is still at `expected_version`; `false` when another change
/// got there first (nothing is written). Under PostgreSQL's row lock a concurrent writer waits,
/// then finds the version moved on; SQLite's writers are serialised.
pub fn save(tx: &mut Tx<'_>, referral: &Referral, expected_version: i64) -> StoreResult<bool> {
    let id = referral.id.to_string();
    tx.touch_referral(referral.id)?;
    let conn: &mut DbConnection = tx;
    let updated = diesel::update(
        referrals::table
            .filter(referrals::id.eq(&id))
            .filter(referrals::version.eq(expected_version)),
    )
    .set(ReferralChanges::from_domain(
        referral,
        dialect::change_position(conn)?,
    ))
    .execute(conn)?;
    if updated == 0 {
        return Ok(false);
    }
    diesel::delete(referral_reasons::table.filter(referral_reasons::referral_id.eq(&id)))
        .execute(conn)?;
    insert_reasons(conn, &id, &referral.reasons)?;
    Ok(true)
}

/// The referral an organisation already sent under this reference, if any.
pub fn find_by_external_reference(
    conn: &mut DbConnection,
    org: Uuid,
    external_reference: &str,
) -> StoreResult<Option<Uuid>> {
    let id: Option<String> = referrals::table
        .filter(referrals::referrer_org_id.eq(org.to_string()))
        .filter(referrals::external_reference.eq(external_reference))
        .select(referrals::id)
        .first(conn)
        .optional()?;
    id.map(|id| convert::uuid("referral id", &id)).transpose()
}

/// Whether a referral exists, without loading it.
pub fn exists(conn: &mut DbConnection, id: Uuid) -> StoreResult<bool> {
    let found: Option<String> = referrals::table
        .find(id.to_string())
        .select(referrals::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// Every referral of a person, newest first (a person has a handful of episodes).
pub fn for_person(conn: &mut DbConnection, person_id: Uuid) -> StoreResult<Vec<Referral>> {
    let rows = referrals::table
        .inner_join(people::table)
        .filter(referrals::person_id.eq(person_id.to_string()))
        .select((
            ReferralRow::as_select(),
            people::possible_duplicate_of,
            people::possible_duplicate_reason,
        ))
        .order((referrals::received_at.desc(), referrals::id.desc()))
        .load(conn)?;
    assemble(conn, rows)
}

/// One referral, if it exists and the caller may see it.
pub fn get(
    conn: &mut DbConnection,
    id: Uuid,
    visibility: Visibility,
) -> StoreResult<Option<Referral>> {
    let mut query = referrals::table
        .inner_join(people::table)
        .filter(referrals::id.eq(id.to_string()))
        .select((
            ReferralRow::as_select(),
            people::possible_duplicate_of,
            people::possible_duplicate_reason,
        ))
        .into_boxed();
    if let Visibility::Organisation(org) = visibility {
        query = query.filter(referrals::referrer_org_id.eq(org.to_string()));
    }
    let rows = query.load(conn)?;
    Ok(assemble(conn, rows)?.pop())
}

/// A page of referrals the caller may see, newest first, starting after `after`.
pub fn list(
    conn: &mut DbConnection,
    visibility: Visibility,
    filter: &ReferralFilter,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Referral>> {
    let query = filtered(visibility, filter).limit(limit);
    let rows = keyset(
        query,
        (referrals::received_at, referrals::id),
        Order::NewestFirst,
        after,
    )
    .load(conn)?;
    assemble(conn, rows)
}

/// Where a change sits in the feed: its position, then the referral's id for ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    pub seq: i64,
    pub id: Uuid,
}

/// A page of the change feed.
#[derive(Debug)]
pub struct FeedPage {
    /// Each referral at its latest change, oldest change first, with its position.
    pub items: Vec<(Referral, FeedPosition)>,
    /// Where every change before is known to be committed: a page that stops short of the
    /// limit has shown everything up to here.
    pub horizon: FeedPosition,
}

/// The referrals the caller may see that changed after `after` (or, on a first page, at or
/// after `since`), each at its latest change, oldest first. Only changes below the dialect's
/// horizon are read, so a transaction that commits late never lands behind a reader.
pub fn feed(
    conn: &mut DbConnection,
    visibility: Visibility,
    filter: &ReferralFilter,
    since: DateTime<Utc>,
    after: Option<FeedPosition>,
    limit: i64,
) -> StoreResult<FeedPage> {
    let horizon = dialect::feed_horizon(conn)?;
    let mut query = filtered(visibility, filter)
        .filter(referrals::change_seq.lt(horizon))
        .order((referrals::change_seq.asc(), referrals::id.asc()))
        .limit(limit);
    query = match after {
        Some(FeedPosition { seq, id }) => query.filter(
            referrals::change_seq.gt(seq).or(referrals::change_seq
                .eq(seq)
                .and(referrals::id.gt(id.to_string()))),
        ),
        None => query.filter(referrals::updated_at.ge(convert::to_db(since))),
    };
    let rows = query.load(conn)?;
    let positions: Vec<i64> = rows.iter().map(|(r, _, _)| r.change_seq).collect();
    let items = assemble(conn, rows)?
        .into_iter()
        .zip(positions)
        .map(|(r, seq)| {
            let id = r.id;
            (r, FeedPosition { seq, id })
        })
        .collect();
    Ok(FeedPage {
        items,
        horizon: FeedPosition {
            seq: horizon,
            id: Uuid::nil(),
        },
    })
}

type Selection = (
    diesel::dsl::AsSelect<ReferralRow, Backend>,
    people::possible_duplicate_of,
    people::possible_duplicate_reason,
);
type Filtered<'a> = diesel::dsl::IntoBoxed<
    'a,
    diesel::dsl::Select<diesel::dsl::InnerJoin<referrals::table, people::table>, Selection>,
    Backend,
>;

/// The referrals `visibility` and `filter` allow, with their people's duplicate flags.
fn filtered<'a>(visibility: Visibility, filter: &ReferralFilter) -> Filtered<'a> {
    let mut query = referrals::table
        .inner_join(people::table)
        .select((
            ReferralRow::as_select(),
            people::possible_duplicate_of,
            people::possible_duplicate_reason,
        ))
        // An erased person's referrals are listed to nobody (see docs/privacy.md).
        .filter(people::erased_at.is_null())
        .into_boxed();
    if let Visibility::Organisation(org) = visibility {
        query = query.filter(referrals::referrer_org_id.eq(org.to_string()));
    }
    if let Some(status) = filter.status {
        query = query.filter(referrals::status.eq(status.as_str()));
    }
    if let Some(source) = filter.source {
        query = query.filter(referrals::source.eq(source.as_str()));
    }
    if let Some(reason) = filter.reason {
        query = query.filter(
            referrals::id.eq_any(
                referral_reasons::table
                    .filter(referral_reasons::reason.eq(reason.as_str()))
                    .select(referral_reasons::referral_id),
            ),
        );
    }
    if let Some(from) = filter.received_from {
        query = query.filter(referrals::received_at.ge(convert::to_db(from)));
    }
    if let Some(before) = filter.received_before {
        query = query.filter(referrals::received_at.lt(convert::to_db(before)));
    }
    match filter.assignee {
        Some(Assignee::User(id)) => query = query.filter(referrals::assignee_id.eq(id.to_string())),
        Some(Assignee::Nobody) => query = query.filter(referrals::assignee_id.is_null()),
        None => {}
    }
    match filter.waiting {
        Some(true) => query = query.filter(referrals::first_contact_at.is_null()),
        Some(false) => query = query.filter(referrals::first_contact_at.is_not_null()),
        None => {}
    }
    if let Some(reference) = &filter.reference {
        query = query.filter(referrals::reference.eq(reference.clone()));
    }
    if let Some(person) = filter.person_id {
        query = query.filter(referrals::person_id.eq(person.to_string()));
    }
    if let Some(org) = filter.referrer_org_id {
        query = query.filter(referrals::referrer_org_id.eq(org.to_string()));
    }
    if let Some(team) = filter.team_id {
        query = query.filter(referrals::team_id.eq(team.to_string()));
    }
    query
}

/// Loads the reasons of all `rows` in one query and builds the referrals, keeping row order.
/// A referral row and its person's possible-duplicate flag and its reason.
type Joined = (ReferralRow, Option<String>, Option<String>);

fn assemble(conn: &mut DbConnection, rows: Vec<Joined>) -> StoreResult<Vec<Referral>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|(r, _, _)| r.id.as_str()).collect();
    let reasons_of =
        referral_reasons::table.select((referral_reasons::referral_id, referral_reasons::reason));
    // One referral (a read, a write's answer): `=`, a statement Diesel prepares once. `IN` or
    // `= ANY` is never cached, so PostgreSQL would plan it afresh each time.
    let pairs: Vec<(String, String)> = match ids.as_slice() {
        [one] => reasons_of
            .filter(referral_reasons::referral_id.eq(one))
            .load(conn)?,
        _ => reasons_of
            .filter(referral_reasons::referral_id.eq_any(&ids))
            .load(conn)?,
    };
    let mut reasons: HashMap<String, Vec<Reason>> = HashMap::new();
    for (referral_id, reason) in pairs {
        let reason = convert::parse::<Reason>("referral reason", &reason)?;
        reasons.entry(referral_id).or_default().push(reason);
    }
    rows.into_iter()
        .map(|(referral, duplicate_of, why)| {
            let reasons = reasons.remove(&referral.id).unwrap_or_default();
            let mut referral = into_domain(referral, reasons)?;
            referral.possible_duplicate_of =
                convert::optional_uuid("possible duplicate", duplicate_of.as_deref())?;
            referral.possible_duplicate_reason = why
                .map(|c| convert::parse("possible duplicate reason", &c))
                .transpose()?;
            Ok(referral)
        })
        .collect()
}

fn into_domain(r: ReferralRow, reasons: Vec<Reason>) -> StoreResult<Referral> {
    let mut codes: Vec<NeedCode> = reasons.into_iter().map(NeedCode::Reason).collect();
    for code in r.specific_needs.as_deref().unwrap_or_default().split(',') {
        if !code.is_empty() {
            codes.push(NeedCode::Need(convert::parse("referral need", code)?));
        }
    }
    let person = Details::from_json(
        r.person_as_sent.as_deref().unwrap_or_default(),
        r.received_at.date(),
    )?;
    Ok(Referral {
        id: convert::uuid("referral id", &r.id)?,
        status: convert::parse("referral status", &r.status)?,
        person,
        source: convert::parse("referral source", &r.source)?,
        reasons: Reasons::of(codes).map_err(|e| corrupt("referral reasons", e))?,
        summary: r.summary,
        referrer_org_id: convert::optional_uuid("referrer org", r.referrer_org_id.as_deref())?,
        external_reference: r.external_reference,
        received_at: convert::from_db(r.received_at),
        updated_at: convert::from_db(r.updated_at),
        version: r.version,
        person_id: convert::uuid("person id", &r.person_id)?,
        status_reason: r.status_reason,
        closure_reason: r
            .closure_reason
            .map(|c| convert::parse("closure reason", &c))
            .transpose()?,
        gp_record_code: r
            .gp_record_code
            .map(|c| GpRecordCode::from_code(&c).ok_or_else(|| corrupt("gp record code", c)))
            .transpose()?,
        assignee_id: convert::optional_uuid("assignee", r.assignee_id.as_deref())?,
        team_id: convert::optional_uuid("team", r.team_id.as_deref())?,
        first_contact_at: r.first_contact_at.map(convert::from_db),
        possible_duplicate_of: None,
        possible_duplicate_reason: None,
        reference: r
            .reference
            .ok_or_else(|| corrupt("referral reference", "missing"))?,
        introduced_by: r
            .introduced_by
            .as_deref()
            .map(IntroducerJson::from_json)
            .transpose()?,
    })
}
