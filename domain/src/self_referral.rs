//! People referring themselves, or introduced by someone who knows them: who may, and the short
//! reference they can quote instead of an id.

use chrono::NaiveDate;

use crate::text::TextRule;
use crate::{DateOfBirth, Email, Invalid, Phone, ReferralSource};

/// The introducer's name: one line.
pub const INTRODUCER_NAME: TextRule = TextRule::line(100);
/// How the introducer knows the person ("neighbour", "daughter"): one line.
pub const RELATIONSHIP: TextRule = TextRule::line(100);

/// Someone who introduced the person: a friend, neighbour or family member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introducer {
    pub name: String,
    pub relationship: String,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
}

/// The route a self-referral came by.
pub fn source(introducer: Option<&Introducer>) -> ReferralSource {
    match introducer {
        Some(_) => ReferralSource::FamilyOrFriend,
        None => ReferralSource::SelfReferral,
    }
}

/// The person must be at least `min_age` on `today`: the service's own minimum age, which
/// applies to every referral whatever its source.
pub fn check_age(
    date_of_birth: DateOfBirth,
    today: NaiveDate,
    min_age: u32,
) -> Result<(), Invalid> {
    if date_of_birth.age_on(today) >= min_age {
        Ok(())
    } else {
        Err(Invalid::new(
            "not_eligible_age",
            format!("the service is for people aged {min_age} or over"),
        ))
    }
}

/// Letters and digits that cannot be mistaken for one another when read out or copied
/// (no 0/O, 1/I/L).
pub const REFERENCE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A short reference a person can quote, e.g. `LW-7K3M9Q`, made from six random bytes.
pub fn reference(random: [u8; 6]) -> String {
    let len = REFERENCE_ALPHABET.len();
    let chars: String = random
        .iter()
        .map(|b| char::from(REFERENCE_ALPHABET[usize::from(*b) % len]))
        .collect();
    format!("LW-{chars}")
}

/// A reference as someone quotes it, in the stored form `LW-XXXXXX`: letter case, spaces
/// and hyphens do not matter, nor does leaving out `LW`. References made before this format
/// are six upper-case hexadecimal digits after `LW-`; since the alphabet above leaves out `0`,
/// `1`, `I`, `L` and `O`, an `O` quoted can only be a `0` and an `I` or `L` only a `1`.
pub fn parse_reference(quoted: &str) -> Result<String, Invalid> {
    let compact: String = quoted
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let code = match compact.strip_prefix("LW") {
        Some(code) if compact.len() == 8 => code,
        _ => &compact,
    };
    let code: String = code
        .chars()
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    if code.len() == 6
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        Ok(format!("LW-{code}"))
    } else {
        Err(Invalid::new(
            "invalid_reference",
            "must be a referral reference like LW-7K3M9Q",
        ))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn old_enough_on_the_day() {
        let born =
            DateOfBirth::new(day(2010, 3, 18), day(2026, 3, 18)).unwrap_or_else(|_| unreachable!());
        assert_eq!(check_age(born, day(2026, 3, 18), 16), Ok(()));
        assert_eq!(
            check_age(born, day(2026, 3, 17), 16).map_err(|e| e.code),
            Err("not_eligible_age")
        );
        assert_eq!(check_age(born, day(2026, 3, 17), 15), Ok(()));
    }

    #[test]
    fn the_route_follows_the_introducer() {
        assert_eq!(source(None), ReferralSource::SelfReferral);
        let friend = Introducer {
            name: "Pat".into(),
            relationship: "neighbour".into(),
            phone: None,
            email: None,
        };
        assert_eq!(source(Some(&friend)), ReferralSource::FamilyOrFriend);
    }

    #[test]
    fn quoted_references_are_normalised() {
        for quoted in [
            "LW-7K3M9Q",
            "lw-7k3m9q",
            " LW 7K3M9Q ",
            "lw7k3m9q",
            "7K3M9Q",
            "LW-7K3-M9Q",
        ] {
            assert_eq!(
                parse_reference(quoted).as_deref(),
                Ok("LW-7K3M9Q"),
                "{quoted}"
            );
        }
        assert_eq!(parse_reference("LW-A0b1cO").as_deref(), Ok("LW-A0B1C0"));
        assert_eq!(parse_reference("lw-a0b1ci").as_deref(), Ok("LW-A0B1C1"));
        // Six characters are the code itself, even when they begin with LW.
        assert_eq!(parse_reference("LWABCD").as_deref(), Ok("LW-1WABCD"));
        for bad in [
            "",
            "LW-",
            "LW-7K3M9",
            "LW-7K3M9QX",
            "LW-7K3M9?",
            "XX-7K3M9Q",
            "LW-7K3M9É",
        ] {
            assert_eq!(
                parse_reference(bad).map_err(|e| e.code),
                Err("invalid_reference"),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn a_reference_reads_back_as_itself(random: [u8; 6]) {
            let r = reference(random);
            prop_assert_eq!(parse_reference(&r.to_lowercase()), Ok(r));
        }

        #[test]
        fn references_are_short_and_unambiguous(random: [u8; 6]) {
            let r = reference(random);
            prop_assert_eq!(r.len(), 9);
            prop_assert!(r.starts_with("LW-"));
            prop_assert!(r[3..].bytes().all(|b| REFERENCE_ALPHABET.contains(&b)));
        }
    }
}
