//! `validator` custom rules that delegate to the domain's parsers, so each rule lives once (in
//! `linkwell_domain`) and its code and message reach the client unchanged.

use std::str::FromStr;

use linkwell_domain::{ContactDetail, Invalid, Reasons, UnknownCode, referral};
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

pub fn role(value: &str) -> Result<(), ValidationError> {
    code::<linkwell_domain::Role>(value)
}

/// Known shared-field codes, none twice (an empty list shares nothing).
pub fn shared_fields(values: &[String]) -> Result<(), ValidationError> {
    check(linkwell_domain::connection::shared_fields(values))
}

/// Every item is a known code, a reason or a specific need, there is at least one, and none
/// repeats.
pub fn reasons(values: &[String]) -> Result<(), ValidationError> {
    check(Reasons::parse(values))
}

/// The contact preference has its detail: checked across fields, reported at
/// `preferred_contact` (see `extract::field_errors`).
pub fn person_contact(
    person: &crate::routes::referrals::PersonInput,
) -> Result<(), ValidationError> {
    let Some(preferred) = person
        .preferred_contact
        .as_ref()
        .and_then(|p| p.parse().ok())
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

/// Community work's minutes within the domain's bounds.
pub fn community_minutes(value: i64) -> Result<(), ValidationError> {
    check(linkwell_domain::community_work::minutes(value))
}

/// One to ten link workers, none twice.
pub fn facilitators(values: &[uuid::Uuid]) -> Result<(), ValidationError> {
    check(linkwell_domain::group_session::facilitators(values))
}

/// Whole years within the domain's bounds (a service's oldest age takes the same bounds).
pub fn max_age(value: i64) -> Result<(), ValidationError> {
    check(linkwell_domain::directory::min_age(value))
}

/// Whole years within the domain's bounds.
pub fn min_age(value: i64) -> Result<(), ValidationError> {
    check(linkwell_domain::directory::min_age(value))
}
