//! NHS number: ten digits whose last is a Modulus 11 check digit.

use std::fmt;

use crate::Invalid;

/// A valid NHS number, held as its ten digits without separators.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NhsNumber(String);

impl NhsNumber {
    /// Parses `999 000 0018`, `999-000-0018` or `9990000018`: ten digits, optionally grouped
    /// 3-3-4 by single spaces or hyphens, with surrounding whitespace ignored (as for every
    /// other text field). Anything else is rejected.
    /// Longest accepted, counting grouping and surrounding whitespace as sent: room for
    /// `123 456 7890` with some padding, and no more.
    /// The shape [`Self::parse`] accepts, as the API's schema states it: ten digits, or 3-3-4
    /// grouped by spaces or hyphens, with whitespace around. The check digit is beyond a
    /// pattern, so some strings that match are refused (`domain/tests/patterns.rs`).
    pub const PATTERN: &'static str = r"^\s*([0-9]{10}|[0-9]{3}[ -][0-9]{3}[ -][0-9]{4})\s*$";

    pub const MAX_CHARS: usize = 24;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let digits = Some(input)
            .filter(|v| v.chars().count() <= Self::MAX_CHARS)
            .and_then(|v| ungroup(v.trim()))
            .ok_or_else(|| {
                Invalid::new(
                    "nhs_number_format",
                    "must be 10 digits, optionally grouped 3-3-4 by spaces or hyphens",
                )
            })?;
        // Ten of one digit pass the Modulus 11 check (0000000000 and 1111111111 alike) but are
        // never issued: they are what a placeholder or a slip of the keyboard looks like.
        if digits.iter().all(|d| *d == digits[0]) {
            return Err(Invalid::new(
                "nhs_number_not_issued",
                "is not an NHS number that is ever issued (all one digit)",
            ));
        }
        if check_digit(&digits[..9]) != Some(digits[9]) {
            return Err(Invalid::new(
                "nhs_number_checksum",
                "is not a valid NHS number (Modulus 11 check digit does not match)",
            ));
        }
        Ok(Self(digits.iter().map(|d| char::from(b'0' + d)).collect()))
    }

    /// The ten digits, no separators.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ten digit values of `input`, if it is ten digits grouped 3-3-4 or not at all.
fn ungroup(input: &str) -> Option<[u8; 10]> {
    let bytes = input.as_bytes();
    let ungrouped: Vec<u8> = match bytes.len() {
        10 => bytes.to_vec(),
        12 if is_separator(bytes[3]) && is_separator(bytes[7]) => {
            [&bytes[..3], &bytes[4..7], &bytes[8..]].concat()
        }
        _ => return None,
    };
    let mut digits = [0u8; 10];
    for (slot, byte) in digits.iter_mut().zip(ungrouped) {
        if !byte.is_ascii_digit() {
            return None;
        }
        *slot = byte - b'0';
    }
    Some(digits)
}

fn is_separator(byte: u8) -> bool {
    byte == b' ' || byte == b'-'
}

/// The Modulus 11 check digit for the first nine digits; `None` when the number cannot be
/// issued (the check would be 10).
pub fn check_digit(first_nine: &[u8]) -> Option<u8> {
    let sum: u32 = first_nine
        .iter()
        .zip((2..=10).rev())
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        check => u8::try_from(check).ok(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn code(input: &str) -> Result<String, &'static str> {
        NhsNumber::parse(input)
            .map(|n| n.as_str().to_owned())
            .map_err(|e| e.code)
    }

    #[test]
    fn known_valid_numbers() {
        assert_eq!(code("9990000018"), Ok("9990000018".to_owned()));
        assert_eq!(code("999 000 0026"), Ok("9990000026".to_owned()));
        assert_eq!(code("943-476-5919"), Ok("9434765919".to_owned()));
        assert_eq!(code(" 9990000018 "), Ok("9990000018".to_owned()));
    }

    #[test]
    fn known_invalid_numbers() {
        assert_eq!(code("9990000019"), Err("nhs_number_checksum"));
        // The check digit would be 10: never issued.
        assert_eq!(code("9990000000"), Err("nhs_number_checksum"));
        // Widely quoted as an example, but it fails the check.
        assert_eq!(code("9876544321"), Err("nhs_number_checksum"));
    }

    #[test]
    fn rejects_anything_but_grouped_digits() {
        for bad in [
            "",
            "999000001",
            "99900000188",
            "99 90 00 00 18",
            "999  000 0018",
            "999.000.0018",
            "999 0000 018",
            "99900000１8",
            "+990000018",
            "999 000 001a",
        ] {
            assert_eq!(code(bad), Err("nhs_number_format"), "{bad:?}");
        }
    }

    #[test]
    fn numbers_never_issued_are_refused() {
        assert_eq!(code("0000000000"), Err("nhs_number_not_issued"));
        assert_eq!(code("111 111 1111"), Err("nhs_number_not_issued"));
        assert_eq!(code("999-999-9999"), Err("nhs_number_not_issued"));
    }

    proptest! {
        #[test]
        fn ten_of_one_digit_is_refused_however_grouped(digit in 0u8..10, grouping in 0usize..3) {
            let one = char::from(b'0' + digit);
            // Each of them passes the Modulus 11 check: refused for what it is, not by chance.
            prop_assert_eq!(check_digit(&[digit; 9]), Some(digit));
            let ten: String = std::iter::repeat_n(one, 10).collect();
            let input = match grouping {
                0 => ten,
                1 => format!("{} {} {}", &ten[..3], &ten[3..6], &ten[6..]),
                _ => format!("{}-{}-{}", &ten[..3], &ten[3..6], &ten[6..]),
            };
            prop_assert_eq!(code(&input), Err("nhs_number_not_issued"));
        }

        #[test]
        fn a_number_with_its_check_digit_parses(first in proptest::collection::vec(0u8..10, 9)) {
            let number: String = first.iter().map(|d| char::from(b'0' + d)).collect();
            match check_digit(&first) {
                Some(check) if first.iter().all(|d| *d == check) => {
                    prop_assert_eq!(code(&format!("{number}{check}")), Err("nhs_number_not_issued"));
                }
                Some(check) => {
                    let full = format!("{number}{check}");
                    prop_assert_eq!(code(&full), Ok(full.clone()));
                    let spaced = format!("{} {} {}", &full[..3], &full[3..6], &full[6..]);
                    prop_assert_eq!(code(&spaced), Ok(full.clone()));
                    let hyphened = format!("{}-{}-{}", &full[..3], &full[3..6], &full[6..]);
                    prop_assert_eq!(code(&hyphened), Ok(full));
                }
                None => {
                    for last in 0..10 {
                        prop_assert_eq!(code(&format!("{number}{last}")), Err("nhs_number_checksum"));
                    }
                }
            }
        }

        #[test]
        fn a_wrong_check_digit_is_rejected(
            first in proptest::collection::vec(0u8..10, 9),
            wrong in 0u8..10,
        ) {
            prop_assume!(check_digit(&first) != Some(wrong));
            let number: String = first.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert_eq!(code(&format!("{number}{wrong}")), Err("nhs_number_checksum"));
        }

        #[test]
        fn changing_one_digit_breaks_the_check(
            first in proptest::collection::vec(0u8..10, 9),
            position in 0usize..9,
            delta in 1u8..10,
        ) {
            let Some(check) = check_digit(&first) else { return Ok(()) };
            let mut changed = first.clone();
            changed[position] = (changed[position] + delta) % 10;
            // Modulus 11 with distinct weights catches every single-digit error.
            prop_assert_ne!(check_digit(&changed), Some(check));
        }

        #[test]
        fn never_panics(input in ".{0,20}") {
            let _ = NhsNumber::parse(&input);
        }
    }
}
