//! Referrals with their person and reasons.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use linkwell_domain::{
    DateOfBirth, Email, GpRecordCode, NhsNumber, Person, Phone, Postcode, PreferredContact, Reason,
    Reasons, Referral, ReferralSource, ReferralStatus,
};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::page::Keyset;
use crate::schema::{people, referral_reasons, referrals};

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
}

/// The `assignee` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignee {
    User(Uuid),
    Nobody,
}

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = people)]
struct PersonRow {
    id: String,
    given_name: String,
    family_name: String,
    date_of_birth: NaiveDate,
    nhs_number: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    postcode: Option<String>,
    address: Option<String>,
    preferred_contact: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = referrals)]
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
}

impl ReferralChanges {
    fn from_domain(r: &Referral) -> Self {
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
        }
    }
}

/// Stores a new referral, its person and its reasons. `created_by` is the caller's subject.
pub fn insert(conn: &mut DbConnection, referral: &Referral, created_by: &str) -> StoreResult<()> {
    let person_id = referral.person_id.to_string();
    let p = &referral.person;
    diesel::insert_into(people::table)
        .values(PersonRow {
            id: person_id.clone(),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            date_of_birth: p.date_of_birth.date(),
            nhs_number: p.nhs_number.as_ref().map(|n| n.as_str().to_owned()),
            phone: p.phone.as_ref().map(|v| v.as_str().to_owned()),
            email: p.email.as_ref().map(|v| v.as_str().to_owned()),
            postcode: p.postcode.as_ref().map(|v| v.as_str().to_owned()),
            address: p.address.clone(),
            preferred_contact: p.preferred_contact.map(|c| c.as_str().to_owned()),
            created_at: convert::to_db(referral.received_at),
            updated_at: convert::to_db(referral.updated_at),
        })
        .execute(conn)?;
    let id = referral.id.to_string();
    diesel::insert_into(referrals::table)
        .values(ReferralRow {
            id: id.clone(),
            person_id,
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
        })
        .execute(conn)?;
    insert_reasons(conn, &id, &referral.reasons)
}

/// One statement per reason: batch inserts do not compose through `MultiConnection`, and a
/// referral has at most a dozen reasons.
fn insert_reasons(conn: &mut DbConnection, id: &str, reasons: &Reasons) -> StoreResult<()> {
    for reason in reasons.iter() {
        diesel::insert_into(referral_reasons::table)
            .values((
                referral_reasons::referral_id.eq(id),
                referral_reasons::reason.eq(reason.as_str()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Writes a changed referral if it is still at `expected_version`; `false` when another change
/// got there first (nothing is written). Under PostgreSQL's row lock a concurrent writer waits,
/// then finds the version moved on; SQLite's writers are serialised.
pub fn save(
    conn: &mut DbConnection,
    referral: &Referral,
    expected_version: i64,
) -> StoreResult<bool> {
    let id = referral.id.to_string();
    let updated = diesel::update(
        referrals::table
            .filter(referrals::id.eq(&id))
            .filter(referrals::version.eq(expected_version)),
    )
    .set(ReferralChanges::from_domain(referral))
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

/// One referral, if it exists and the caller may see it.
pub fn get(
    conn: &mut DbConnection,
    id: Uuid,
    visibility: Visibility,
) -> StoreResult<Option<Referral>> {
    let mut query = referrals::table
        .inner_join(people::table)
        .filter(referrals::id.eq(id.to_string()))
        .select((ReferralRow::as_select(), PersonRow::as_select()))
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
    let mut query = referrals::table
        .inner_join(people::table)
        .select((ReferralRow::as_select(), PersonRow::as_select()))
        .order((referrals::received_at.desc(), referrals::id.desc()))
        .limit(limit)
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
    if let Some(Keyset { at, id }) = after {
        let at = convert::to_db(at);
        query = query.filter(
            referrals::received_at.lt(at).or(referrals::received_at
                .eq(at)
                .and(referrals::id.lt(id.to_string()))),
        );
    }
    let rows = query.load(conn)?;
    assemble(conn, rows)
}

/// Loads the reasons of all `rows` in one query and builds the referrals, keeping row order.
fn assemble(
    conn: &mut DbConnection,
    rows: Vec<(ReferralRow, PersonRow)>,
) -> StoreResult<Vec<Referral>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|(r, _)| r.id.as_str()).collect();
    let pairs: Vec<(String, String)> = referral_reasons::table
        .filter(referral_reasons::referral_id.eq_any(&ids))
        .select((referral_reasons::referral_id, referral_reasons::reason))
        .load(conn)?;
    let mut reasons: HashMap<String, Vec<Reason>> = HashMap::new();
    for (referral_id, reason) in pairs {
        let reason = convert::parse::<Reason>("referral reason", &reason)?;
        reasons.entry(referral_id).or_default().push(reason);
    }
    rows.into_iter()
        .map(|(referral, person)| {
            let reasons = reasons.remove(&referral.id).unwrap_or_default();
            into_domain(referral, person, reasons)
        })
        .collect()
}

fn into_domain(r: ReferralRow, p: PersonRow, reasons: Vec<Reason>) -> StoreResult<Referral> {
    let person = Person {
        given_name: p.given_name,
        family_name: p.family_name,
        date_of_birth: DateOfBirth::new(p.date_of_birth, p.created_at.date())
            .map_err(|e| corrupt("date of birth", e))?,
        nhs_number: p
            .nhs_number
            .map(|v| NhsNumber::parse(&v).map_err(|e| corrupt("nhs number", e)))
            .transpose()?,
        phone: p
            .phone
            .map(|v| Phone::parse(&v).map_err(|e| corrupt("phone", e)))
            .transpose()?,
        email: p
            .email
            .map(|v| Email::parse(&v).map_err(|e| corrupt("email", e)))
            .transpose()?,
        postcode: p
            .postcode
            .map(|v| Postcode::parse(&v).map_err(|e| corrupt("postcode", e)))
            .transpose()?,
        address: p.address,
        preferred_contact: p
            .preferred_contact
            .map(|v| convert::parse::<PreferredContact>("preferred contact", &v))
            .transpose()?,
    };
    Ok(Referral {
        id: convert::uuid("referral id", &r.id)?,
        status: convert::parse("referral status", &r.status)?,
        person,
        source: convert::parse("referral source", &r.source)?,
        reasons: Reasons::new(reasons).map_err(|e| corrupt("referral reasons", e))?,
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
        first_contact_at: r.first_contact_at.map(convert::from_db),
    })
}
