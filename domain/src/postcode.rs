//! UK postcode: checked for a plausible shape and normalised to `OUTWARD INWARD`.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::Invalid;

/// Outward code (area, district, optional sub-district) then inward code (sector, unit),
/// without spaces. Areas never start with Q, V or X; inward units never use C, I, K, M, O, V.
static SHAPE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^(?:[A-PR-UWYZ][A-HK-Y]?[0-9][A-Z0-9]?|GIR)[0-9][ABD-HJLNP-UW-Z]{2}$").ok()
});

/// A plausible UK postcode in upper case with one space, e.g. `SW1A 1AA`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Postcode(String);

impl Postcode {
    /// Longest accepted, counting surrounding whitespace as sent: `SW1A 1AA` is eight.
    /// Exactly what [`Self::parse`] accepts, within [`Self::MAX_CHARS`], as the API's schema
    /// states it (`domain/tests/patterns.rs` checks they agree).
    pub const PATTERN: &'static str = r"^\s*([A-PR-UWYZa-pr-uwyz][A-HK-Ya-hk-y]?[0-9][A-Za-z0-9]?|[Gg][Ii][Rr])\s*[0-9][ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}\s*$";

    pub const MAX_CHARS: usize = 16;

    /// Accepts any case, and spaces only between the outward and inward codes.
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let parts: Vec<&str> = if input.chars().count() <= Self::MAX_CHARS {
            input.split_whitespace().collect()
        } else {
            Vec::new()
        };
        let compact = match parts.as_slice() {
            [whole] => whole.to_ascii_uppercase(),
            [outward, inward] if inward.len() == 3 => {
                format!("{outward}{inward}").to_ascii_uppercase()
            }
            _ => String::new(),
        };
        if !SHAPE.as_ref().is_some_and(|re| re.is_match(&compact)) {
            return Err(Invalid::new(
                "postcode_format",
                "is not a UK postcode (for example `SW1A 1AA`)",
            ));
        }
        let (outward, inward) = compact.split_at(compact.len() - 3);
        Ok(Self(format!("{outward} {inward}")))
    }

    /// The normalised postcode.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(input: &str) -> Result<String, &'static str> {
        Postcode::parse(input)
            .map(|p| p.as_str().to_owned())
            .map_err(|e| e.code)
    }

    #[test]
    fn normalises_valid_shapes() {
        assert_eq!(parse("sw1a1aa"), Ok("SW1A 1AA".to_owned()));
        assert_eq!(parse("NE46 1QJ"), Ok("NE46 1QJ".to_owned()));
        assert_eq!(parse(" ip33 3nd "), Ok("IP33 3ND".to_owned()));
        assert_eq!(parse("M1 1AE"), Ok("M1 1AE".to_owned()));
        assert_eq!(parse("B33 8TH"), Ok("B33 8TH".to_owned()));
        assert_eq!(parse("GIR 0AA"), Ok("GIR 0AA".to_owned()));
        assert_eq!(parse("sw1a  1aa"), Ok("SW1A 1AA".to_owned()));
    }

    #[test]
    fn rejects_implausible_shapes() {
        for bad in [
            "",
            "SW1A",
            "12345",
            "SW1A-1AA",
            "Q1 1AA",
            "SW1 A1AA",
            "S W1A 1AA",
            "SW1A 1AC",
            "1W1A 1AA",
            "SW1A 1A",
            "SW1A 1AAA",
        ] {
            assert_eq!(parse(bad), Err("postcode_format"), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(input in "[A-PR-UWYZa-pr-uwyz][0-9][A-Za-z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2}") {
            let once = parse(&input);
            prop_assert!(once.is_ok());
            if let Ok(normal) = once {
                prop_assert_eq!(parse(&normal), Ok(normal.clone()));
            }
        }

        #[test]
        fn never_panics(input in ".{0,12}") {
            let _ = Postcode::parse(&input);
        }
    }
}
