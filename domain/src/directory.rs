//! The directory of services link workers connect people to: community groups, activities and
//! support services (after Open Referral UK), with whether each takes connections through
//! Linkwell or is signposting only.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::opening_hours::OpeningPeriod;
use crate::text::TextRule;
use crate::{DateOfBirth, Email, Invalid, Phone, Postcode, Reasons};

code_list! {
    /// Whether a service is running.
    pub enum ServiceStatus as "status" {
        Active = "active",
        Inactive = "inactive",
        TemporarilyClosed = "temporarily_closed",
    }
}

code_list! {
    /// Whether a service can take people now (HL7 Gravity's capacity codes).
    pub enum Capacity as "capacity" {
        Available = "available",
        Waitlist = "waitlist",
        Full = "full",
    }
}

/// A service's name: one line.
pub const NAME: TextRule = TextRule::line(200);
/// What it offers; lines allowed.
pub const DESCRIPTION: TextRule = TextRule::lines(4000);
/// Where it serves, in words (a town, a ward, "county-wide"): one line.
pub const AREA: TextRule = TextRule::line(200);
/// The search text: a few words, one line.
pub const QUERY: TextRule = TextRule::line(100);
/// The oldest minimum age a service may set.
pub const MAX_MIN_AGE: u8 = 120;

/// A web address: `http` or `https`, with a host, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Website(String);

impl Website {
    pub const MAX_CHARS: usize = 2000;

    /// Its characters follow the rule every other text field follows (no control, zero-width
    /// or bidirectional-override characters).
    pub const TEXT: TextRule = TextRule::line(Self::MAX_CHARS);

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        Self::TEXT.parse(input)?;
        let url = input.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
        // Counted as sent, like every text bound, so the schema's maxLength says the same.
        let ok = input.chars().count() <= Self::MAX_CHARS
            && !url.chars().any(|c| c.is_whitespace() || c.is_control())
            && authority.is_some_and(Self::is_authority);
        if ok {
            Ok(Self(url.to_owned()))
        } else {
            Err(Invalid::new(
                "url_format",
                "must be an http or https address, e.g. https://example.org/",
            ))
        }
    }

    /// A host (a name, or an IPv6 address in brackets) and an optional port: no user
    /// information, and brackets only around an IPv6 address, so every client parses it alike.
    fn is_authority(authority: &str) -> bool {
        let (host_ok, port) = match authority.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((v6, port)) => (
                    !v6.is_empty()
                        && v6
                            .chars()
                            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.'),
                    port,
                ),
                None => (false, ""),
            },
            None => {
                let (name, port) = authority
                    .find(':')
                    .map_or((authority, ""), |at| authority.split_at(at));
                (!name.is_empty() && !name.contains(['@', '[', ']']), port)
            }
        };
        let port_ok = port.is_empty()
            || port.strip_prefix(':').is_some_and(|p| {
                (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
            });
        host_ok && port_ok
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A minimum age in whole years, 0 to 120.
pub fn min_age(years: i64) -> Result<u8, Invalid> {
    u8::try_from(years)
        .ok()
        .filter(|y| *y <= MAX_MIN_AGE)
        .ok_or_else(|| {
            Invalid::new(
                "out_of_range",
                format!("must be a whole number of years from 0 to {MAX_MIN_AGE}"),
            )
        })
}

/// A person connected to a service must be at least its `min_age` on `today`.
pub fn check_min_age(
    date_of_birth: DateOfBirth,
    today: NaiveDate,
    min_age: u8,
) -> Result<(), Invalid> {
    if date_of_birth.age_on(today) >= u32::from(min_age) {
        Ok(())
    } else {
        Err(Invalid::new(
            "below_service_min_age",
            format!("the service is for people aged {min_age} or over"),
        ))
    }
}

/// How to reach a service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub website: Option<Website>,
}

/// A service in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// The registered organisation that runs it, if any.
    pub organisation_id: Option<Uuid>,
    /// The needs it helps with.
    pub needs: Reasons,
    pub area: Option<String>,
    pub postcode: Option<Postcode>,
    pub contact: Contact,
    /// Takes connections through Linkwell; otherwise people are signposted to it.
    pub accepts_referrals: bool,
    pub status: ServiceStatus,
    pub capacity: Capacity,
    pub min_age: Option<u8>,
    /// The oldest age it takes; `None`: no upper bound.
    pub max_age: Option<u8>,
    /// When it is open, in day and time order; empty when not stated.
    pub opening_hours: Vec<OpeningPeriod>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Service {
    /// What a search matches: name and description, lower case.
    pub fn search_text(&self) -> String {
        format!("{}\n{}", self.name, self.description).to_lowercase()
    }

    /// Marks a change made at `at`: a new version.
    pub fn touch(&mut self, at: DateTime<Utc>) {
        self.updated_at = at;
        self.version += 1;
    }
}

/// A search's words as [`Service::search_text`] holds them.
pub fn normalise_query(query: &str) -> Result<String, Invalid> {
    QUERY.parse(query).map(|q| q.to_lowercase())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn websites_are_http_addresses_with_a_host() {
        for good in [
            "https://example.org",
            "http://example.org/groups?day=tue#lunch",
            " https://citizensadvice.org.uk/ ",
            "http://localhost:8080/x",
            "https://[2001:db8::1]:443/",
        ] {
            assert!(Website::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "example.org",
            "ftp://example.org",
            "https://",
            "https:///path",
            "https://exa mple.org",
            "javascript:alert(1)",
            "https://user@example.org",
            // Every client must parse it alike: brackets only around an IPv6 address.
            "https://a[b.example",
            "https://[::1",
            "https://[]/",
            "https://example.org:/",
            "https://example.org:123456/",
            "https://example.org:8x/",
        ] {
            assert_eq!(
                Website::parse(bad).err().map(|e| e.code),
                Some("url_format"),
                "{bad}"
            );
        }
        let long = format!("https://example.org/{}", "a".repeat(Website::MAX_CHARS));
        assert!(Website::parse(&long).is_err());
        for hidden in [
            "https://example.org/\u{202E}fdp.exe",
            "https://exa\u{200B}mple.org",
        ] {
            assert_eq!(
                Website::parse(hidden).err().map(|e| e.code),
                Some("control_characters"),
                "{hidden:?}"
            );
        }
    }

    #[test]
    fn a_service_minimum_age_is_met_on_the_birthday() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        let born =
            DateOfBirth::new(day(2010, 3, 18), day(2026, 3, 18)).unwrap_or_else(|_| unreachable!());
        assert_eq!(check_min_age(born, day(2028, 3, 18), 18), Ok(()));
        assert_eq!(
            check_min_age(born, day(2028, 3, 17), 18).map_err(|e| e.code),
            Err("below_service_min_age")
        );
        assert_eq!(check_min_age(born, day(2010, 3, 18), 0), Ok(()));
    }

    proptest! {
        #[test]
        fn minimum_ages_are_0_to_120(years: i64) {
            prop_assert_eq!(min_age(years).is_ok(), (0..=120).contains(&years));
        }
    }

    #[test]
    fn searches_ignore_case() {
        assert_eq!(
            normalise_query("  Lunch CLUB ").ok().as_deref(),
            Some("lunch club")
        );
        assert_eq!(normalise_query("   ").err().map(|e| e.code), Some("blank"));
    }
}
