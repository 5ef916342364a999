//! Referral requests as sent, validated, then parsed into domain values.

use linkwell_domain::{
    DateOfBirth, Email, Invalid, NewReferral, NhsNumber, Person, Phone, Postcode, Reason, Reasons,
    person, referral, text,
};
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::error::{ApiError, at, at_optional};
use crate::{rules, schema};

/// The person referred, as sent.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPerson)]
#[validate(schema(function = "rules::person_contact", skip_on_field_errors = false))]
pub struct PersonInput {
    #[validate(custom(function = "rules::name"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        example = "Sam",
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    )]
    pub given_name: String,
    #[validate(custom(function = "rules::name"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        example = "Jones",
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    )]
    pub family_name: String,
    /// `YYYY-MM-DD`, on or after 1900-01-01 and not in the future.
    #[validate(custom(function = "rules::date_of_birth"))]
    #[schema(format = Date, pattern = r"^(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub date_of_birth: String,
    /// Ten digits with a valid Modulus 11 check digit; may be grouped 3-3-4 by spaces or
    /// hyphens. Stored and returned as ten digits.
    #[validate(custom(function = "rules::nhs_number"))]
    #[schema(
        example = "999 000 0018",
        pattern = r"^\s*([0-9]{10}|[0-9]{3}[ -][0-9]{3}[ -][0-9]{4})\s*$"
    )]
    pub nhs_number: Option<String>,
    #[validate(custom(function = "rules::phone"))]
    #[schema(
        example = "01284 123456",
        max_length = 25,
        pattern = r"^\s*\+?[0-9 ()-]{7,24}\s*$"
    )]
    pub phone: Option<String>,
    #[validate(custom(function = "rules::email"))]
    #[schema(format = Email, max_length = 254, example = "sam.jones@example.org")]
    pub email: Option<String>,
    /// A UK postcode; returned upper case as `OUTWARD INWARD`.
    #[validate(custom(function = "rules::postcode"))]
    #[schema(
        example = "IP33 3ND",
        pattern = r"^\s*([A-PR-UWYZa-pr-uwyz][A-HK-Ya-hk-y]?[0-9][A-Za-z0-9]?|[Gg][Ii][Rr])\s*[0-9][ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}\s*$"
    )]
    pub postcode: Option<String>,
    #[validate(custom(function = "rules::address"))]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    )]
    pub address: Option<String>,
    /// Needs the matching detail: `phone` or `text` a phone, `email` an email, `letter` an
    /// address.
    #[validate(custom(function = "rules::preferred_contact"))]
    #[schema(value_type = Option<schema::PreferredContact>)]
    pub preferred_contact: Option<String>,
}

/// A referral, as sent.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewReferral)]
pub struct ReferralInput {
    #[validate(nested)]
    pub person: PersonInput,
    #[validate(custom(function = "rules::source"))]
    #[schema(value_type = schema::ReferralSource)]
    pub source: String,
    /// At least one, each at most once.
    #[validate(custom(function = "rules::reasons"))]
    #[schema(schema_with = schema::reason_set)]
    pub reasons: Vec<String>,
    /// Free text about what matters to the person; no clinical detail.
    #[validate(custom(function = "rules::summary"))]
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    )]
    pub summary: Option<String>,
    /// Must be `true`: the person agreed to their details being shared with the service.
    #[validate(custom(function = "rules::consent"))]
    #[schema(schema_with = schema::must_be_true)]
    pub consent_to_share: bool,
    /// The sending system's own id for this referral; unique per referring organisation.
    #[validate(custom(function = "rules::external_reference"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        example = "EMIS-000123",
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*[^\s\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF][^\x00-\x1F\x7F-\x9F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF]*$"
    )]
    pub external_reference: Option<String>,
}

impl ReferralInput {
    /// Parses the validated input into domain values. The validators ran the same parsers, so
    /// the error that can still arise here is the cross-field rule (a contact preference needs
    /// its detail).
    pub(super) fn into_domain(self, today: chrono::NaiveDate) -> Result<NewReferral, ApiError> {
        let p = self.person;
        let person = Person {
            given_name: at("/person/given_name", text::name(&p.given_name))?,
            family_name: at("/person/family_name", text::name(&p.family_name))?,
            date_of_birth: at(
                "/person/date_of_birth",
                DateOfBirth::parse(&p.date_of_birth, today),
            )?,
            nhs_number: at_optional(
                "/person/nhs_number",
                p.nhs_number.as_deref(),
                NhsNumber::parse,
            )?,
            phone: at_optional("/person/phone", p.phone.as_deref(), Phone::parse)?,
            email: at_optional("/person/email", p.email.as_deref(), Email::parse)?,
            postcode: at_optional("/person/postcode", p.postcode.as_deref(), Postcode::parse)?,
            address: at_optional("/person/address", p.address.as_deref(), person::address)?,
            preferred_contact: at_optional(
                "/person/preferred_contact",
                p.preferred_contact.as_deref(),
                |v| v.parse().map_err(Invalid::from),
            )?,
        };
        at("/person/preferred_contact", person.check_contact())?;
        let reasons = self
            .reasons
            .iter()
            .map(|r| r.parse::<Reason>().map_err(Invalid::from))
            .collect::<Result<Vec<_>, _>>()
            .and_then(Reasons::new);
        Ok(NewReferral {
            person,
            source: at("/source", self.source.parse().map_err(Invalid::from))?,
            reasons: at("/reasons", reasons)?,
            summary: at_optional("/summary", self.summary.as_deref(), referral::summary)?,
            external_reference: at_optional(
                "/external_reference",
                self.external_reference.as_deref(),
                referral::external_reference,
            )?,
        })
    }
}
