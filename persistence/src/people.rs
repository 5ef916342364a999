//! People: one record per human, shared by their referrals. Also the person's details as a
//! referral's sender sent them, kept with the referral as JSON.

use chrono::NaiveDate;
use diesel::prelude::*;
use linkwell_domain::self_referral::Introducer;
use linkwell_domain::{
    DateOfBirth, DuplicateReason, Email, NhsNumber, Person, PersonRecord, Phone, Postcode,
    PreferredContact,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::page::{Keyset, Order, keyset};
use crate::schema::{people, person_merges, referrals};
use crate::unit_of_work::Tx;

/// A person's details in storage form: the `people` columns, and the JSON of `person_as_sent`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Details {
    given_name: String,
    family_name: String,
    date_of_birth: NaiveDate,
    nhs_number: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    postcode: Option<String>,
    address: Option<String>,
    preferred_contact: Option<String>,
}

impl Details {
    pub(crate) fn from_domain(p: &Person) -> Self {
        Self {
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            date_of_birth: p.date_of_birth.date(),
            nhs_number: p.nhs_number.as_ref().map(|n| n.as_str().to_owned()),
            phone: p.phone.as_ref().map(|v| v.as_str().to_owned()),
            email: p.email.as_ref().map(|v| v.as_str().to_owned()),
            postcode: p.postcode.as_ref().map(|v| v.as_str().to_owned()),
            address: p.address.clone(),
            preferred_contact: p.preferred_contact.map(|c| c.as_str().to_owned()),
        }
    }

    /// `recorded` is the day the details were taken, against which the date of birth was
    /// checked.
    pub(crate) fn into_domain(self, recorded: NaiveDate) -> StoreResult<Person> {
        fn parse<T>(
            what: &str,
            value: Option<String>,
            parse: impl Fn(&str) -> Result<T, linkwell_domain::Invalid>,
        ) -> StoreResult<Option<T>> {
            value
                .map(|v| parse(&v).map_err(|e| corrupt(what, e)))
                .transpose()
        }
        Ok(Person {
            given_name: self.given_name,
            family_name: self.family_name,
            date_of_birth: DateOfBirth::new(self.date_of_birth, recorded)
                .map_err(|e| corrupt("date of birth", e))?,
            nhs_number: parse("nhs number", self.nhs_number, NhsNumber::parse)?,
            phone: parse("phone", self.phone, Phone::parse)?,
            email: parse("email", self.email, Email::parse)?,
            postcode: parse("postcode", self.postcode, Postcode::parse)?,
            address: self.address,
            preferred_contact: self
                .preferred_contact
                .map(|v| convert::parse::<PreferredContact>("preferred contact", &v))
                .transpose()?,
        })
    }

    pub(crate) fn to_json(p: &Person) -> String {
        serde_json::to_string(&Self::from_domain(p)).unwrap_or_default()
    }

    /// What stands for the details once erased: blank names, no contact, no real birth date.
    pub(crate) fn erased_json() -> String {
        use linkwell_domain::privacy::{ERASED_BIRTH_DATE, ERASED_TEXT};
        serde_json::to_string(&Self {
            given_name: ERASED_TEXT.to_owned(),
            family_name: ERASED_TEXT.to_owned(),
            date_of_birth: ERASED_BIRTH_DATE,
            nhs_number: None,
            phone: None,
            email: None,
            postcode: None,
            address: None,
            preferred_contact: None,
        })
        .unwrap_or_default()
    }

    pub(crate) fn from_json(json: &str, recorded: NaiveDate) -> StoreResult<Person> {
        serde_json::from_str::<Self>(json)
            .map_err(|e| corrupt("person as sent", e))?
            .into_domain(recorded)
    }
}

/// Who introduced a self-referred person, stored as JSON with the referral.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IntroducerJson {
    name: String,
    relationship: String,
    phone: Option<String>,
    email: Option<String>,
}

impl IntroducerJson {
    pub(crate) fn to_json(i: &Introducer) -> String {
        let stored = Self {
            name: i.name.clone(),
            relationship: i.relationship.clone(),
            phone: i.phone.as_ref().map(|p| p.as_str().to_owned()),
            email: i.email.as_ref().map(|e| e.as_str().to_owned()),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    pub(crate) fn from_json(json: &str) -> StoreResult<Introducer> {
        let stored: Self = serde_json::from_str(json).map_err(|e| corrupt("introduced by", e))?;
        Ok(Introducer {
            name: stored.name,
            relationship: stored.relationship,
            phone: stored
                .phone
                .map(|p| Phone::parse(&p).map_err(|e| corrupt("introducer phone", e)))
                .transpose()?,
            email: stored
                .email
                .map(|e| Email::parse(&e).map_err(|e| corrupt("introducer email", e)))
                .transpose()?,
        })
    }
}

#[derive(Insertable, Queryable, Selectable, AsChangeset)]
// None is NULL, also in an INSERT, so the INSERT's SQL never varies and stays prepared.
#[diesel(table_name = people, treat_none_as_null = true, treat_none_as_default_value = false)]
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
    version: i64,
    possible_duplicate_of: Option<String>,
    merged_into: Option<String>,
    possible_duplicate_reason: Option<String>,
}

impl PersonRow {
    fn from_domain(r: &PersonRecord) -> Self {
        let d = Details::from_domain(&r.details);
        Self {
            id: r.id.to_string(),
            given_name: d.given_name,
            family_name: d.family_name,
            date_of_birth: d.date_of_birth,
            nhs_number: d.nhs_number,
            phone: d.phone,
            email: d.email,
            postcode: d.postcode,
            address: d.address,
            preferred_contact: d.preferred_contact,
            created_at: convert::to_db(r.created_at),
            updated_at: convert::to_db(r.updated_at),
            version: r.version,
            possible_duplicate_of: r.possible_duplicate_of.map(|id| id.to_string()),
            merged_into: r.merged_into.map(|id| id.to_string()),
            possible_duplicate_reason: r.possible_duplicate_reason.map(|c| c.as_str().to_owned()),
        }
    }

    fn into_domain(self) -> StoreResult<PersonRecord> {
        let details = Details {
            given_name: self.given_name,
            family_name: self.family_name,
            date_of_birth: self.date_of_birth,
            nhs_number: self.nhs_number,
            phone: self.phone,
            email: self.email,
            postcode: self.postcode,
            address: self.address,
            preferred_contact: self.preferred_contact,
        };
        Ok(PersonRecord {
            id: convert::uuid("person id", &self.id)?,
            details: details.into_domain(self.updated_at.date())?,
            possible_duplicate_of: convert::optional_uuid(
                "possible duplicate",
                self.possible_duplicate_of.as_deref(),
            )?,
            possible_duplicate_reason: self
                .possible_duplicate_reason
                .map(|c| convert::parse::<DuplicateReason>("possible duplicate reason", &c))
                .transpose()?,
            merged_into: convert::optional_uuid("merged into", self.merged_into.as_deref())?,
            created_at: convert::from_db(self.created_at),
            updated_at: convert::from_db(self.updated_at),
            version: self.version,
        })
    }
}

/// Stores a new person.
pub fn insert(tx: &mut Tx<'_>, person: &PersonRecord) -> StoreResult<()> {
    tx.touch_new_person(person.id);
    let conn: &mut DbConnection = tx;
    diesel::insert_into(people::table)
        .values(PersonRow::from_domain(person))
        .execute(conn)?;
    Ok(())
}

/// One person by id, merged or not.
pub fn get(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<PersonRecord>> {
    people::table
        .find(id.to_string())
        .select(PersonRow::as_select())
        .first(conn)
        .optional()?
        .map(PersonRow::into_domain)
        .transpose()
}

/// The people `referrals` are about, keyed by referral id, in one query.
pub fn for_referrals(
    conn: &mut DbConnection,
    referral_ids: &[Uuid],
) -> StoreResult<std::collections::HashMap<Uuid, PersonRecord>> {
    let ids: Vec<String> = referral_ids.iter().map(Uuid::to_string).collect();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(String, PersonRow)> = referrals::table
        .inner_join(people::table)
        .filter(referrals::id.eq_any(ids))
        .select((referrals::id, PersonRow::as_select()))
        .load(conn)?;
    rows.into_iter()
        .map(|(referral, person)| {
            Ok((
                convert::uuid("referral id", &referral)?,
                person.into_domain()?,
            ))
        })
        .collect()
}

/// The codes of the flags that leave a record under the one-current-record-per-NHS-number
/// rule (the unique index `people_current_nhs_number` has the same condition).
fn unique_flags() -> Vec<&'static str> {
    DuplicateReason::ALL
        .iter()
        .filter(|r| !r.shares_nhs_number())
        .map(|r| r.as_str())
        .collect()
}

/// The current (unmerged) record that holds this NHS number, if any: the one the database keeps
/// unique, never a record flagged as holding another record's number.
pub fn find_by_nhs_number(
    conn: &mut DbConnection,
    nhs_number: &NhsNumber,
) -> StoreResult<Option<PersonRecord>> {
    people::table
        .filter(people::nhs_number.eq(nhs_number.as_str()))
        .filter(people::merged_into.is_null())
        .filter(
            people::possible_duplicate_reason
                .is_null()
                .or(people::possible_duplicate_reason.eq_any(unique_flags())),
        )
        .select(PersonRow::as_select())
        .order((people::created_at.asc(), people::id.asc()))
        .first(conn)
        .optional()?
        .map(PersonRow::into_domain)
        .transpose()
}

/// The current (unmerged) records that hold `person`'s NHS number or share their date of
/// birth, oldest first: what `linkwell_domain::person::file` chooses among, in one query.
pub fn filing_candidates(
    conn: &mut DbConnection,
    person: &Person,
) -> StoreResult<Vec<PersonRecord>> {
    let born = people::date_of_birth.eq(person.date_of_birth.date());
    let query = people::table
        .filter(people::merged_into.is_null())
        .select(PersonRow::as_select())
        .order((people::created_at.asc(), people::id.asc()));
    let rows: Vec<PersonRow> = match &person.nhs_number {
        Some(number) => query
            .filter(born.or(people::nhs_number.eq(number.as_str())))
            .load(conn)?,
        None => query.filter(born).load(conn)?,
    };
    rows.into_iter().map(PersonRow::into_domain).collect()
}

/// How to look people up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeopleSearch {
    NhsNumber(NhsNumber),
    /// Family name (ignoring case) and date of birth.
    NameAndBirth {
        family_name: String,
        date_of_birth: NaiveDate,
    },
}

/// A page of current people matching `search`, newest first.
pub fn search(
    conn: &mut DbConnection,
    search: &PeopleSearch,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<PersonRecord>> {
    let mut query = people::table
        .filter(people::merged_into.is_null())
        .filter(people::erased_at.is_null())
        .select(PersonRow::as_select())
        .into_boxed();
    match search {
        PeopleSearch::NhsNumber(n) => {
            query = query.filter(people::nhs_number.eq(n.as_str().to_owned()))
        }
        PeopleSearch::NameAndBirth { date_of_birth, .. } => {
            query = query.filter(people::date_of_birth.eq(*date_of_birth));
        }
    }
    query = keyset(
        query,
        (people::created_at, people::id),
        Order::NewestFirst,
        after,
    );
    // Names are compared ignoring case here rather than in SQL, where the two backends fold
    // case differently; a date of birth narrows the rows to a handful first.
    let wanted = match search {
        PeopleSearch::NameAndBirth { family_name, .. } => Some(family_name.to_lowercase()),
        PeopleSearch::NhsNumber(_) => None,
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut found = Vec::new();
    for row in query.load(conn)? {
        if wanted
            .as_ref()
            .is_none_or(|name| row.family_name.to_lowercase() == *name)
        {
            found.push(row.into_domain()?);
            if found.len() == limit {
                break;
            }
        }
    }
    Ok(found)
}

/// Writes a changed person if still at `expected_version`; `false` when another change won.
pub fn save(
    conn: &mut DbConnection,
    person: &PersonRecord,
    expected_version: i64,
) -> StoreResult<bool> {
    let updated = diesel::update(
        people::table
            .filter(people::id.eq(person.id.to_string()))
            .filter(people::version.eq(expected_version)),
    )
    .set(PersonRow::from_domain(person))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Moves `duplicate`'s referrals to `survivor` (each referral gets a new version), marks the
/// duplicate merged, points any record flagged as a possible duplicate of it at the survivor,
/// and records the merge. The callers have checked and saved both records' own state.
pub fn merge(
    tx: &mut Tx<'_>,
    survivor: Uuid,
    duplicate: Uuid,
    actor_sub: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> StoreResult<usize> {
    tx.touch_person(survivor);
    tx.touch_person(duplicate);
    let conn: &mut DbConnection = tx;
    let (survivor, duplicate) = (survivor.to_string(), duplicate.to_string());
    let position = crate::dialect::change_position(conn)?;
    let moved = diesel::update(referrals::table.filter(referrals::person_id.eq(&duplicate)))
        .set((
            referrals::person_id.eq(&survivor),
            referrals::version.eq(referrals::version + 1),
            referrals::updated_at.eq(convert::to_db(at)),
            referrals::change_seq.eq(position),
        ))
        .execute(conn)?;
    diesel::update(people::table.filter(people::possible_duplicate_of.eq(&duplicate)))
        .set(people::possible_duplicate_of.eq(&survivor))
        .execute(conn)?;
    diesel::update(
        people::table
            .filter(people::id.eq(&survivor))
            .filter(people::possible_duplicate_of.eq(&survivor)),
    )
    .set((
        people::possible_duplicate_of.eq(None::<String>),
        people::possible_duplicate_reason.eq(None::<String>),
    ))
    .execute(conn)?;
    diesel::insert_into(person_merges::table)
        .values((
            person_merges::id.eq(Uuid::now_v7().to_string()),
            person_merges::survivor_id.eq(&survivor),
            person_merges::duplicate_id.eq(&duplicate),
            person_merges::actor_sub.eq(actor_sub),
            person_merges::merged_at.eq(convert::to_db(at)),
        ))
        .execute(conn)?;
    Ok(moved)
}
