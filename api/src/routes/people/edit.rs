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
use crate::error::{ApiError, FieldError};
use crate::extract::nullable;
use crate::fields::{self, Field};
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
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = fields::PersonName, required = false)]
    pub given_name: Option<Option<fields::PersonName>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = fields::PersonName, required = false)]
    pub family_name: Option<Option<fields::PersonName>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = fields::DateOfBirth, required = false)]
    pub date_of_birth: Option<Option<fields::DateOfBirth>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::NhsNumber>)]
    pub nhs_number: Option<Option<fields::NhsNumber>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::Phone>)]
    pub phone: Option<Option<fields::Phone>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::Email>)]
    pub email: Option<Option<fields::Email>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::Postcode>)]
    pub postcode: Option<Option<fields::Postcode>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<fields::Address>)]
    pub address: Option<Option<fields::Address>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<schema::PreferredContact>)]
    pub preferred_contact: Option<Option<String>>,
}

/// Checked as a whole by [`PersonPatch::apply`], which reports every member at once.
impl Validate for PersonPatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        Ok(())
    }
}

/// A patch parsed member by member: `None` keeps, `Some(None)` removes.
struct Changes {
    given_name: Option<String>,
    family_name: Option<String>,
    date_of_birth: Option<DateOfBirth>,
    nhs_number: Option<Option<NhsNumber>>,
    phone: Option<Option<Phone>>,
    email: Option<Option<Email>>,
    postcode: Option<Option<Postcode>>,
    address: Option<Option<String>>,
    preferred_contact: Option<Option<PreferredContact>>,
}

/// Collects every broken rule, each at its member.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn note(&mut self, member: &str, e: Invalid) {
        self.0
            .push(FieldError::at(format!("/{member}"), e.code, e.message));
    }

    /// A member that cannot be removed: `null` is refused.
    fn required<F: Field>(&mut self, member: &str, value: Option<&Option<F>>) -> Option<F::Value> {
        match value? {
            Some(v) => v.parse().map_err(|e| self.note(member, e)).ok(),
            None => {
                self.note(member, Invalid::new("required", "cannot be removed"));
                None
            }
        }
    }

    fn optional<F: Field>(
        &mut self,
        member: &str,
        value: Option<&Option<F>>,
    ) -> Option<Option<F::Value>> {
        match value? {
            Some(v) => v.parse().map_err(|e| self.note(member, e)).ok().map(Some),
            None => Some(None),
        }
    }
}

impl PersonPatch {
    /// Every member parsed by its own rule; all broken rules reported at once.
    fn parse(&self) -> Result<Changes, ApiError> {
        let mut e = Errors::default();
        let preferred_contact = match &self.preferred_contact {
            Some(Some(code)) => code
                .parse()
                .map_err(|u| e.note("preferred_contact", Invalid::from(u)))
                .ok()
                .map(Some),
            Some(None) => Some(None),
            None => None,
        };
        let changes = Changes {
            given_name: e.required("given_name", self.given_name.as_ref()),
            family_name: e.required("family_name", self.family_name.as_ref()),
            date_of_birth: e.required("date_of_birth", self.date_of_birth.as_ref()),
            nhs_number: e.optional("nhs_number", self.nhs_number.as_ref()),
            phone: e.optional("phone", self.phone.as_ref()),
            email: e.optional("email", self.email.as_ref()),
            postcode: e.optional("postcode", self.postcode.as_ref()),
            address: e.optional("address", self.address.as_ref()),
            preferred_contact,
        };
        if e.0.is_empty() {
            Ok(changes)
        } else {
            Err(ApiError::Validation(e.0))
        }
    }
}

impl Changes {
    /// `person` with the changes made; the contact preference must still have its detail.
    fn apply(&self, mut p: Person) -> Result<Person, Invalid> {
        fn keep_or<T: Clone>(change: &Option<T>, target: &mut T) {
            if let Some(v) = change {
                target.clone_from(v);
            }
        }
        keep_or(&self.given_name, &mut p.given_name);
        keep_or(&self.family_name, &mut p.family_name);
        if let Some(d) = self.date_of_birth {
            p.date_of_birth = d;
        }
        keep_or(&self.nhs_number, &mut p.nhs_number);
        keep_or(&self.phone, &mut p.phone);
        keep_or(&self.email, &mut p.email);
        keep_or(&self.postcode, &mut p.postcode);
        keep_or(&self.address, &mut p.address);
        keep_or(&self.preferred_contact, &mut p.preferred_contact);
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
