//! Referral requests as sent, validated, then parsed into domain values.

use linkwell_domain::{NewReferral, OrganisationKind, Person, Reasons, ReferralSource};
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::error::{ApiError, at, at_optional};
use crate::fields::{self, Field};
use crate::{rules, schema};

/// The person referred, as sent.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPerson)]
#[validate(schema(function = "rules::person_contact", skip_on_field_errors = false))]
pub struct PersonInput {
    #[validate(custom(function = "rules::field"))]
    pub given_name: fields::PersonName,
    #[validate(custom(function = "rules::field"))]
    pub family_name: fields::PersonName,
    #[validate(custom(function = "rules::field"))]
    pub date_of_birth: fields::DateOfBirth,
    #[validate(custom(function = "rules::field"))]
    pub nhs_number: Option<fields::NhsNumber>,
    #[validate(custom(function = "rules::field"))]
    pub phone: Option<fields::Phone>,
    #[validate(custom(function = "rules::field"))]
    pub email: Option<fields::Email>,
    #[validate(custom(function = "rules::field"))]
    pub postcode: Option<fields::Postcode>,
    #[validate(custom(function = "rules::field"))]
    pub address: Option<fields::Address>,
    /// Needs the matching detail: `phone` or `text` a phone, `email` an email, `letter` an
    /// address.
    #[validate(custom(function = "rules::field"))]
    pub preferred_contact: Option<schema::PreferredContact>,
}

impl PersonInput {
    /// Parses into the domain's person, naming each member under `prefix` (e.g. `/person`).
    /// The validators ran the same parsers; what can still fail here is the cross-field rule
    /// (a contact preference needs its detail).
    pub fn into_domain(self, prefix: &str) -> Result<Person, ApiError> {
        let p = |member: &str| format!("{prefix}/{member}");
        let person = Person {
            given_name: at(&p("given_name"), self.given_name.parse())?,
            family_name: at(&p("family_name"), self.family_name.parse())?,
            date_of_birth: at(&p("date_of_birth"), self.date_of_birth.parse())?,
            nhs_number: at_optional(&p("nhs_number"), self.nhs_number.as_ref())?,
            phone: at_optional(&p("phone"), self.phone.as_ref())?,
            email: at_optional(&p("email"), self.email.as_ref())?,
            postcode: at_optional(&p("postcode"), self.postcode.as_ref())?,
            address: at_optional(&p("address"), self.address.as_ref())?,
            preferred_contact: at(
                &p("preferred_contact"),
                self.preferred_contact
                    .as_ref()
                    .map(Field::parse)
                    .transpose(),
            )?,
        };
        at(&p("preferred_contact"), person.check_contact())?;
        Ok(person)
    }
}

/// A referral, as sent.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewReferral)]
pub struct ReferralInput {
    #[validate(nested)]
    pub person: PersonInput,
    /// How the person came to the service. A referrer may leave it out: it follows from its
    /// organisation's kind (`gp_practice` for a GP practice, `other_agency` for an agency,
    /// `community` for a community group or partner), and any other is 422
    /// `source_not_allowed`. Staff entering a referral must send it (422 `required`).
    #[validate(custom(function = "rules::field"))]
    pub source: Option<schema::ReferralSource>,
    /// At least one, each at most once.
    #[validate(custom(function = "rules::reasons"))]
    #[schema(schema_with = schema::reason_set)]
    pub reasons: Vec<String>,
    #[validate(custom(function = "rules::field"))]
    pub summary: Option<fields::Summary>,
    /// Must be `true`: the person agreed to their details being shared with the service.
    #[validate(custom(function = "rules::consent"))]
    #[schema(schema_with = schema::must_be_true)]
    pub consent_to_share: bool,
    #[validate(custom(function = "rules::field"))]
    pub external_reference: Option<fields::ExternalReference>,
}

impl ReferralInput {
    /// Parses the validated input into domain values; `sender` is the kind of the referring
    /// organisation (`None` when staff enter it), which decides the source.
    pub(super) fn into_domain(
        self,
        sender: Option<OrganisationKind>,
    ) -> Result<NewReferral, ApiError> {
        let reasons = Reasons::parse(&self.reasons);
        Ok(NewReferral {
            person: self.person.into_domain("/person")?,
            source: at(
                "/source",
                self.source
                    .as_ref()
                    .map(Field::parse)
                    .transpose()
                    .and_then(|claimed| ReferralSource::for_sender(sender, claimed)),
            )?,
            reasons: at("/reasons", reasons)?,
            summary: at_optional("/summary", self.summary.as_ref())?,
            external_reference: at_optional(
                "/external_reference",
                self.external_reference.as_ref(),
            )?,
        })
    }
}
