//! `validator` custom rules that delegate to the domain's parsers, so each rule lives once (in
//! `linkwell_domain`) and its code and message reach the client unchanged.

use std::borrow::Cow;
use std::str::FromStr;

use linkwell_domain::{ContactDetail, Invalid, Reason, Reasons, UnknownCode, person, referral};
use validator::ValidationError;

use crate::fields::Field;

fn from_invalid(invalid: Invalid) -> ValidationError {
    ValidationError::new(invalid.code).with_message(invalid.message)
}

fn check<T>(result: Result<T, Invalid>) -> Result<(), ValidationError> {
    result.map(drop).map_err(from_invalid)
}

fn code<T: FromStr<Err = UnknownCode>>(value: &str) -> Result<(), ValidationError> {
    check(value.parse::<T>().map_err(Invalid::from))
}

/// Any [`Field`]: its domain rule.
pub fn field<F: Field>(value: &F) -> Result<(), ValidationError> {
    check(value.parse())
}

pub fn preferred_contact(value: &str) -> Result<(), ValidationError> {
    code::<person::PreferredContact>(value)
}

pub fn referral_status(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::ReferralStatus>(value)
}

pub fn closure_reason(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::ClosureReason>(value)
}

pub fn role(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::Role>(value)
}

pub fn goal_status(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::GoalStatus>(value)
}

pub fn service_status(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::ServiceStatus>(value)
}

pub fn capacity(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::Capacity>(value)
}

pub fn connection_status(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::ConnectionStatus>(value)
}

pub fn connection_outcome(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::ConnectionOutcome>(value)
}

pub fn connection_reason_code(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::ConnectionReasonCode>(value)
}

pub fn consent_status(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::consent::ConsentStatus>(value)
}

pub fn consent_scope(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::consent::ConsentScope>(value)
}

/// Known shared-field codes, none twice (an empty list shares nothing).
pub fn shared_fields(values: &[String]) -> Result<(), ValidationError> {
    check(linkwell_domain::connection::shared_fields(values))
}

pub fn reason(value: &str) -> Result<(), ValidationError> {
    code::<Reason>(value)
}

pub fn instrument(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::outcome::Instrument>(value)
}

pub fn timepoint(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::outcome::Timepoint>(value)
}

pub fn source(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::ReferralSource>(value)
}

pub fn organisation_kind(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::OrganisationKind>(value)
}

/// Every reason is a known code, there is at least one, and none repeats.
pub fn reasons(values: &[String]) -> Result<(), ValidationError> {
    let mut parsed = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let reason = value.parse::<Reason>().map_err(|e| {
            let invalid = Invalid::from(e);
            ValidationError::new(invalid.code)
                .with_message(Cow::Owned(format!("item {index} {}", invalid.message)))
        })?;
        parsed.push(reason);
    }
    check(Reasons::new(parsed))
}

/// The contact preference has its detail: checked across fields, reported at
/// `preferred_contact` (see `extract::field_errors`).
pub fn person_contact(
    person: &crate::routes::referrals::PersonInput,
) -> Result<(), ValidationError> {
    let Some(preferred) = person
        .preferred_contact
        .as_deref()
        .and_then(|p| p.parse::<person::PreferredContact>().ok())
    else {
        return Ok(()); // Absent, or unknown and reported by its own rule.
    };
    preferred
        .check(|detail| match detail {
            ContactDetail::Phone => person.phone.is_some(),
            ContactDetail::Email => person.email.is_some(),
            ContactDetail::Address => person.address.is_some(),
        })
        .map_err(|invalid| {
            let mut error = from_invalid(invalid);
            error.add_param("field".into(), &"preferred_contact");
            error
        })
}

pub fn consent(value: &bool) -> Result<(), ValidationError> {
    check(referral::require_consent(*value))
}

/// Whole minutes within the domain's bounds.
pub fn duration(value: i64) -> Result<(), ValidationError> {
    check(linkwell_domain::session::duration(value))
}

/// Whole years within the domain's bounds.
pub fn min_age(value: i64) -> Result<(), ValidationError> {
    check(linkwell_domain::directory::min_age(value))
}
