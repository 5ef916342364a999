//! Each format's pattern (what the API's schema publishes) agrees with its parser (what the
//! API enforces): a string within the length bound matches the pattern exactly when the parser
//! accepts it. The NHS number's check digit is beyond a pattern, so there the pattern only
//! has to admit every number the parser accepts, and refuse nothing but a bad check digit.

use linkwell_domain::{NhsNumber, OdsCode, Phone, Postcode};
use proptest::prelude::*;
use regex::Regex;

/// Whether `input` is within `max` characters and matches `pattern`: what the schema allows.
fn schema_allows(pattern: &str, max: usize, input: &str) -> bool {
    let re = Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    input.chars().count() <= max && re.is_match(input)
}

/// Strings near the format: the pattern's own shape (anchors dropped, so proptest can
/// generate from it), and noise from the format's alphabet.
fn near(pattern: &str, alphabet: &'static str) -> impl Strategy<Value = String> {
    let shape = pattern
        .trim_start_matches('^')
        .trim_end_matches('$')
        .to_owned();
    prop_oneof![
        proptest::string::string_regex(&shape).unwrap_or_else(|e| panic!("{shape}: {e}")),
        proptest::string::string_regex(alphabet).unwrap_or_else(|e| panic!("{alphabet}: {e}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn phone_pattern_is_the_parser(input in near(Phone::PATTERN, r"[ \t+()0-9a-]{0,30}")) {
        prop_assert_eq!(
            schema_allows(Phone::PATTERN, Phone::MAX_CHARS, &input),
            Phone::parse(&input).is_ok(),
            "{:?}", input
        );
    }

    #[test]
    fn postcode_pattern_is_the_parser(
        input in near(Postcode::PATTERN, r"[ \tA-Za-z0-9]{0,12}")
    ) {
        prop_assert_eq!(
            schema_allows(Postcode::PATTERN, Postcode::MAX_CHARS, &input),
            Postcode::parse(&input).is_ok(),
            "{:?}", input
        );
    }

    #[test]
    fn ods_code_pattern_is_the_parser(input in near(OdsCode::PATTERN, r"[ \tA-Za-z0-9_-]{0,14}")) {
        prop_assert_eq!(
            schema_allows(OdsCode::PATTERN, OdsCode::MAX_CHARS, &input),
            OdsCode::parse(&input).is_ok(),
            "{:?}", input
        );
    }

    #[test]
    fn nhs_number_pattern_admits_every_number_and_refuses_only_by_check_digit(
        input in near(NhsNumber::PATTERN, r"[ \t0-9-]{0,26}")
    ) {
        let allowed = schema_allows(NhsNumber::PATTERN, NhsNumber::MAX_CHARS, &input);
        match NhsNumber::parse(&input) {
            Ok(_) => prop_assert!(allowed, "{:?} parsed but the pattern refuses it", input),
            Err(e) if allowed => prop_assert!(
                matches!(e.code, "nhs_number_checksum" | "nhs_number_not_issued"),
                "{:?} matches the pattern but was refused with {}", input, e.code
            ),
            Err(_) => {}
        }
    }
}
