//! Privacy rights: erasure of a person's data (UK GDPR article 17) and how long closed
//! referrals are kept. Pure rules; the stores and routes carry them out.

use chrono::{DateTime, Months, NaiveDate, Utc};

use crate::Invalid;
use crate::text::TextRule;

/// Why a person's data was erased: kept on the tombstone, so it must say why, not about whom.
pub const ERASURE_REASON: TextRule = TextRule::lines(500);

/// The reason recorded when the retention period ran out (`linkwell purge`).
pub const RETENTION_REASON: &str = "retention";

/// Who erases when the retention period runs out, as the tombstone and the trail name it.
pub const PURGE_ACTOR: &str = "system:purge";

/// What stands in for a required text that has been erased (names, a plan's what-matters, a
/// goal's description, a note): empty, so no placeholder can be mistaken for data.
pub const ERASED_TEXT: &str = "";

/// What stands in for an erased date of birth: no report counts ages, so nothing of it is
/// kept (the column is required).
pub const ERASED_BIRTH_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(date) => date,
    None => panic!("a valid date"),
};

/// Nothing more is written under a referral anonymised when its retention period ran out:
/// a purge clears a referral once, so text written after it would be kept for ever.
pub fn anonymised() -> Invalid {
    Invalid::new(
        "referral_anonymised",
        "the referral was anonymised when its retention period ran out: nothing more is \
         recorded under it",
    )
}

/// How many years closed referrals are kept by default (`LINKWELL_RETENTION_YEARS`).
pub const DEFAULT_RETENTION_YEARS: u32 = 8;

/// The bounds of the retention period, in years.
pub const RETENTION_YEARS: std::ops::RangeInclusive<u32> = 1..=100;

/// Parses a retention period in whole years, within [`RETENTION_YEARS`].
pub fn retention_years(value: &str) -> Result<u32, Invalid> {
    let bad = || {
        Invalid::new(
            "invalid_retention",
            format!(
                "must be a whole number of years from {} to {}",
                RETENTION_YEARS.start(),
                RETENTION_YEARS.end()
            ),
        )
    };
    let years: u32 = value.trim().parse().map_err(|_| bad())?;
    if RETENTION_YEARS.contains(&years) {
        Ok(years)
    } else {
        Err(bad())
    }
}

/// Referrals closed before this instant are past retention at `now`.
pub fn retention_cutoff(now: DateTime<Utc>, years: u32) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_bounded() {
        assert_eq!(retention_years("8"), Ok(8));
        assert_eq!(retention_years(" 100 "), Ok(100));
        for bad in ["0", "101", "-1", "eight", "", "1.5"] {
            assert_eq!(
                retention_years(bad).map_err(|e| e.code),
                Err("invalid_retention"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_cutoff_is_whole_years_back() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .unwrap_or_default()
            .with_timezone(&Utc);
        let cutoff = retention_cutoff(now, 8);
        assert_eq!(cutoff.to_rfc3339(), "2018-12-05T10:00:00+00:00");
    }
}
