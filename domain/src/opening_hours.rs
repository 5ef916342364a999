//! When a directory service is open: a weekly timetable of opening periods, searched by day and
//! time; and the area and ages it serves, searched by a postcode's outward code or a named
//! area, and by a person's age.

use chrono::NaiveTime;

use crate::codes::code_list;
use crate::{Invalid, Postcode};

code_list! {
    /// A day of the week.
    pub enum Weekday as "day" {
        Monday = "monday",
        Tuesday = "tuesday",
        Wednesday = "wednesday",
        Thursday = "thursday",
        Friday = "friday",
        Saturday = "saturday",
        Sunday = "sunday",
    }
}

/// At most this many opening periods a week (three a day).
pub const MAX_PERIODS: usize = 21;

/// One opening period: on `day`, from `opens` until `closes` (the same day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OpeningPeriod {
    pub day: Weekday,
    pub opens: NaiveTime,
    pub closes: NaiveTime,
}

/// A time of day as `HH:MM`, 24-hour.
pub fn time_of_day(value: &str) -> Result<NaiveTime, Invalid> {
    let ok = value.len() == 5 && value.as_bytes()[2] == b':';
    ok.then(|| NaiveTime::parse_from_str(value, "%H:%M").ok())
        .flatten()
        .ok_or_else(|| Invalid::new("time_format", "must be a time of day as HH:MM (24-hour)"))
}

/// The pattern [`time_of_day`] accepts, as the API's schema states it.
pub const TIME_PATTERN: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";

impl OpeningPeriod {
    /// Whether the service is open at `at` on `day`: from its opening time, until (not at)
    /// its closing time.
    pub fn covers(&self, day: Weekday, at: NaiveTime) -> bool {
        self.day == day && self.opens <= at && at < self.closes
    }
}

/// A week's opening periods: each closes after it opens, none overlaps another on its day, at
/// most [`MAX_PERIODS`]; kept in day and time order. Each error names the period's index.
pub fn timetable(periods: &[OpeningPeriod]) -> Result<Vec<OpeningPeriod>, (usize, Invalid)> {
    if periods.len() > MAX_PERIODS {
        return Err((
            MAX_PERIODS,
            Invalid::new(
                "too_many",
                format!("at most {MAX_PERIODS} opening periods a week"),
            ),
        ));
    }
    for (i, p) in periods.iter().enumerate() {
        if p.closes <= p.opens {
            return Err((
                i,
                Invalid::new("closes_before_opens", "must close after it opens"),
            ));
        }
        let overlapping = periods[..i]
            .iter()
            .any(|q| q.day == p.day && q.opens < p.closes && p.opens < q.closes);
        if overlapping {
            return Err((
                i,
                Invalid::new(
                    "overlapping",
                    format!("overlaps another opening period on {}", p.day),
                ),
            ));
        }
    }
    let mut sorted = periods.to_vec();
    sorted.sort();
    Ok(sorted)
}

/// The ages a service is for: `min_age` up to `max_age`, each bound optional.
pub fn age_range(min_age: Option<u8>, max_age: Option<u8>) -> Result<(), Invalid> {
    match (min_age, max_age) {
        (Some(min), Some(max)) if max < min => Err(Invalid::new(
            "age_range",
            "the maximum age must not be below the minimum age",
        )),
        _ => Ok(()),
    }
}

/// Whether a service for `min_age..=max_age` takes someone aged `age`.
pub fn takes_age(min_age: Option<u8>, max_age: Option<u8>, age: u8) -> bool {
    min_age.is_none_or(|min| min <= age) && max_age.is_none_or(|max| age <= max)
}

/// Where to search: a postcode's outward code (or a whole postcode, read as its outward code),
/// or an area by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AreaQuery {
    /// An outward code in upper case: `IP33`.
    Outward(String),
    /// A named area, as sent (trimmed): matched ignoring case.
    Named(String),
}

/// An outward code: area letters, district digit, optional sub-district.
static OUTWARD: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^(?:[A-PR-UWYZ][A-HK-Y]?[0-9][A-Z0-9]?|GIR)$").ok()
});

impl AreaQuery {
    /// Reads a search term: a whole postcode or an outward code becomes the outward code;
    /// anything else is an area's name.
    pub fn parse(term: &str) -> Self {
        let term = term.trim();
        if let Ok(postcode) = Postcode::parse(term) {
            let outward = postcode.as_str().split(' ').next().unwrap_or_default();
            return AreaQuery::Outward(outward.to_owned());
        }
        let upper = term.to_ascii_uppercase();
        if OUTWARD.as_ref().is_some_and(|re| re.is_match(&upper)) {
            return AreaQuery::Outward(upper);
        }
        AreaQuery::Named(term.to_owned())
    }

    /// Whether a service with `postcode` and `area` is in it.
    pub fn matches(&self, postcode: Option<&Postcode>, area: Option<&str>) -> bool {
        match self {
            AreaQuery::Outward(code) => postcode
                .and_then(|p| p.as_str().split(' ').next())
                .is_some_and(|outward| outward == code),
            AreaQuery::Named(name) => area.is_some_and(|a| a.trim().eq_ignore_ascii_case(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t(value: &str) -> NaiveTime {
        time_of_day(value).unwrap_or(NaiveTime::MIN)
    }

    fn period(day: Weekday, opens: &str, closes: &str) -> OpeningPeriod {
        OpeningPeriod {
            day,
            opens: t(opens),
            closes: t(closes),
        }
    }

    #[test]
    fn times_are_hh_mm() {
        assert_eq!(time_of_day("09:30").ok(), NaiveTime::from_hms_opt(9, 30, 0));
        for bad in ["9:30", "24:00", "09:60", "09:30:00", "0930", "", "ab:cd"] {
            assert_eq!(
                time_of_day(bad).err().map(|e| e.code),
                Some("time_format"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_timetable_closes_after_opening_without_overlaps() {
        use Weekday::*;
        let ok = timetable(&[
            period(Tuesday, "13:00", "16:00"),
            period(Monday, "09:00", "12:00"),
            period(Tuesday, "09:00", "13:00"),
        ]);
        assert_eq!(
            ok.ok()
                .map(|p| p.iter().map(|p| (p.day, p.opens)).collect::<Vec<_>>()),
            Some(vec![
                (Monday, t("09:00")),
                (Tuesday, t("09:00")),
                (Tuesday, t("13:00"))
            ])
        );
        let code = |periods: &[OpeningPeriod]| timetable(periods).err().map(|(i, e)| (i, e.code));
        assert_eq!(
            code(&[period(Monday, "12:00", "12:00")]),
            Some((0, "closes_before_opens"))
        );
        assert_eq!(
            code(&[
                period(Monday, "09:00", "12:00"),
                period(Monday, "11:00", "14:00")
            ]),
            Some((1, "overlapping"))
        );
        assert_eq!(
            code(&[
                period(Monday, "09:00", "12:00"),
                period(Friday, "11:00", "14:00")
            ]),
            None
        );
        let many: Vec<_> = (0..22).map(|_| period(Monday, "09:00", "10:00")).collect();
        assert_eq!(code(&many), Some((MAX_PERIODS, "too_many")));
    }

    #[test]
    fn an_area_is_an_outward_code_or_a_name() {
        assert_eq!(AreaQuery::parse("ip33"), AreaQuery::Outward("IP33".into()));
        assert_eq!(
            AreaQuery::parse("IP33 1AA"),
            AreaQuery::Outward("IP33".into())
        );
        assert_eq!(AreaQuery::parse("SW1A"), AreaQuery::Outward("SW1A".into()));
        assert_eq!(
            AreaQuery::parse(" Bury St Edmunds "),
            AreaQuery::Named("Bury St Edmunds".into())
        );
        let postcode = Postcode::parse("IP33 1AA").ok();
        assert!(AreaQuery::parse("IP33").matches(postcode.as_ref(), None));
        assert!(!AreaQuery::parse("IP3").matches(postcode.as_ref(), None));
        assert!(AreaQuery::parse("bury st edmunds").matches(None, Some("Bury St Edmunds")));
        assert!(!AreaQuery::parse("Bury").matches(None, Some("Bury St Edmunds")));
    }

    proptest! {
        #[test]
        fn a_period_covers_from_opening_until_closing(
            opens in 0u32..1439, length in 1u32..600, at in 0u32..1440,
        ) {
            let minute = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap_or(NaiveTime::MIN);
            let closes = (opens + length).min(1439);
            prop_assume!(closes > opens);
            let p = OpeningPeriod { day: Weekday::Monday, opens: minute(opens), closes: minute(closes) };
            prop_assert_eq!(p.covers(Weekday::Monday, minute(at)), opens <= at && at < closes);
            prop_assert!(!p.covers(Weekday::Sunday, minute(at)));
        }

        #[test]
        fn ages_within_both_bounds_are_taken(min in proptest::option::of(0u8..=120), max in proptest::option::of(0u8..=120), age in 0u8..=120) {
            prop_assume!(age_range(min, max).is_ok());
            let expected = min.is_none_or(|m| m <= age) && max.is_none_or(|m| age <= m);
            prop_assert_eq!(takes_age(min, max, age), expected);
        }

        #[test]
        fn the_time_pattern_and_the_parser_agree(value in "[0-9:]{0,6}") {
            let re = regex::Regex::new(TIME_PATTERN).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(re.is_match(&value), time_of_day(&value).is_ok());
        }
    }
}
