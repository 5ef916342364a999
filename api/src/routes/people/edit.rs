//! Correcting a person's details.

use actix_web::{HttpResponse, patch, web};
use linkwell_domain::{
    DateOfBirth, Email, Invalid, NhsNumber, Person, Phone, Postcode, PreferredContact,
};
use linkwell_persistence::people;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationErrors};

use super::{PersonRecordView, changeable};
use crate::access::{AllowedJson, UpdatePerson};
use crate::audit::Refusal;
use crate::error::ApiError;
use crate::fields;
use crate::patch::{Member, Parsing};
use crate::precondition::IfMatch;
use crate::schema::ChangeProblems;
use crate::state::AppState;
use crate::{change, clock, schema, wire};

/// A JSON merge patch (RFC 7396) of a person's details: members left out stay as they are;
/// `null` removes an optional one. Names and date of birth cannot be removed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PersonPatch)]
pub struct PersonPatch {
    #[serde(default)]
    #[schema(value_type = fields::PersonName, required = false)]
    pub given_name: Member<fields::PersonName>,
    #[serde(default)]
    #[schema(value_type = fields::PersonName, required = false)]
    pub family_name: Member<fields::PersonName>,
    #[serde(default)]
    #[schema(value_type = fields::DateOfBirth, required = false)]
    pub date_of_birth: Member<fields::DateOfBirth>,
    #[serde(default)]
    #[schema(value_type = Option<fields::NhsNumber>)]
    pub nhs_number: Member<fields::NhsNumber>,
    #[serde(default)]
    #[schema(value_type = Option<fields::Phone>)]
    pub phone: Member<fields::Phone>,
    #[serde(default)]
    #[schema(value_type = Option<fields::Email>)]
    pub email: Member<fields::Email>,
    #[serde(default)]
    #[schema(value_type = Option<fields::Postcode>)]
    pub postcode: Member<fields::Postcode>,
    #[serde(default)]
    #[schema(value_type = Option<fields::Address>)]
    pub address: Member<fields::Address>,
    #[serde(default)]
    #[schema(value_type = Option<schema::PreferredContact>)]
    pub preferred_contact: Member<schema::PreferredContact>,
}

/// Checked as a whole by [`PersonPatch::parse`], which reports every member at once.
impl Validate for PersonPatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// A person patch, each member parsed.
#[derive(Debug, Clone)]
struct Changes {
    given_name: Member<String>,
    family_name: Member<String>,
    date_of_birth: Member<DateOfBirth>,
    nhs_number: Member<NhsNumber>,
    phone: Member<Phone>,
    email: Member<Email>,
    postcode: Member<Postcode>,
    address: Member<String>,
    preferred_contact: Member<PreferredContact>,
}

impl PersonPatch {
    fn parse(&self) -> Result<Changes, ApiError> {
        let mut p = Parsing::default();
        let changes = Changes {
            given_name: p.required("given_name", &self.given_name),
            family_name: p.required("family_name", &self.family_name),
            date_of_birth: p.required("date_of_birth", &self.date_of_birth),
            nhs_number: p.optional("nhs_number", &self.nhs_number),
            phone: p.optional("phone", &self.phone),
            email: p.optional("email", &self.email),
            postcode: p.optional("postcode", &self.postcode),
            address: p.optional("address", &self.address),
            preferred_contact: p.optional("preferred_contact", &self.preferred_contact),
        };
        p.finish(changes)
    }
}

impl Changes {
    /// `person` with the changes made; the contact preference must still have its detail.
    fn apply(self, mut p: Person) -> Result<Person, Invalid> {
        self.given_name.replace(&mut p.given_name);
        self.family_name.replace(&mut p.family_name);
        self.date_of_birth.replace(&mut p.date_of_birth);
        self.nhs_number.merge_into(&mut p.nhs_number);
        self.phone.merge_into(&mut p.phone);
        self.email.merge_into(&mut p.email);
        self.postcode.merge_into(&mut p.postcode);
        self.address.merge_into(&mut p.address);
        self.preferred_contact.merge_into(&mut p.preferred_contact);
        p.check_contact()?;
        Ok(p)
    }
}

/// Correct a person's details.
///
/// A JSON merge patch; send `If-Match` with the ETag you read. An NHS number another current
/// record holds is 409 naming that record in `existing_id` (merge them instead). A merged-away
/// record cannot change (409 `person_merged`). Referrals keep the details as their senders
/// sent them.
#[utoipa::path(
    operation_id = "update_person",
    tag = "people",
    params(("id" = Uuid, Path, description = "The person's id"), IfMatch),
    request_body(content = PersonPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The corrected record", body = PersonRecordView,
            headers(("ETag" = String, description = "The record's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[patch("/people/{id}")]
pub async fn update_person(
    request: AllowedJson<UpdatePerson, PersonPatch>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let changes = body.value.parse()?;
    let expected = if_match.versions()?;
    let id = id.into_inner();
    let record = change::change(&state, actor, id, move |conn, _| {
        let mut record = changeable(conn, id, &expected)?;
        let details = changes
            .clone()
            .apply(record.details.clone())
            .map_err(|e| Refusal::invalid("/preferred_contact", e.code, e.message))?;
        // A record flagged as holding another record's number keeps it until corrected.
        if let Some(nhs_number) = &details.nhs_number
            && details.nhs_number != record.details.nhs_number
            && let Some(holder) = people::find_by_nhs_number(conn, nhs_number)?
            && holder.id != id
        {
            let detail = format!(
                "another person's record holds this NHS number: {}; merge the two instead",
                holder.id
            );
            return Err(Refusal::duplicate(holder.id, detail).into());
        }
        if details != record.details {
            let previous = record.version;
            record.details = details;
            record.touch(clock::now());
            if !people::save(conn, &record, previous)? {
                return Err(Refusal::stale().into());
            }
        }
        Ok(record)
    })
    .await?;
    Ok(wire::current(
        record.version,
        &PersonRecordView::new(&record, None),
    ))
}
