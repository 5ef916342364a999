//! Conversions between stored values and domain values. Stored values were written by this
//! code, so one that does not parse is corruption, reported rather than papered over.

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use uuid::Uuid;

use crate::error::{StoreResult, corrupt};

/// Timestamps are stored as UTC without a zone in both backends.
pub(crate) fn to_db(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc()
}

pub(crate) fn from_db(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

pub(crate) fn uuid(what: &str, value: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(value).map_err(|e| corrupt(what, e))
}

pub(crate) fn optional_uuid(what: &str, value: Option<&str>) -> StoreResult<Option<Uuid>> {
    value.map(|v| uuid(what, v)).transpose()
}

/// Parses a stored code or value with its domain parser.
pub(crate) fn parse<T>(what: &str, value: &str) -> StoreResult<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| corrupt(what, e))
}
