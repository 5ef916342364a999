//! The time, truncated to microseconds (PostgreSQL's precision; SQLite keeps whatever it is
//! given), so what is returned on create equals what is read back on either backend.

use chrono::{DateTime, SubsecRound, Utc};

pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Today's date in UTC, for rules that depend on it (a date of birth not in the future).
pub fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}
