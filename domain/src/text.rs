//! Free text with bounds: names, summaries, references. Lengths count characters, not bytes.

use crate::Invalid;

/// Trims `value` and checks it is `1..=max` characters with no control characters
/// (newlines and tabs are allowed only when `multiline`).
pub fn bounded(value: &str, max: usize, multiline: bool) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Invalid::new("blank", "must not be blank"));
    }
    let count = trimmed.chars().count();
    if count > max {
        return Err(Invalid::new(
            "too_long",
            format!("must be at most {max} characters (got {count})"),
        ));
    }
    let allowed = |c: char| {
        (!c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'))) && !invisible(c)
    };
    if !trimmed.chars().all(allowed) {
        return Err(Invalid::new(
            "control_characters",
            "must not contain control or invisible formatting characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Zero-width and bidirectional-override characters: invisible, and able to make one name look
/// like another.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}')
}

/// A person's name part: one line, at most 100 characters.
pub fn name(value: &str) -> Result<String, Invalid> {
    bounded(value, 100, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_counts_characters_not_bytes() {
        assert_eq!(bounded("  Zoë  ", 3, false), Ok("Zoë".to_owned()));
        assert_eq!(
            bounded("Zoëy", 3, false).map_err(|e| e.code),
            Err("too_long")
        );
    }

    #[test]
    fn rejects_blank_and_control_characters() {
        assert_eq!(bounded("   ", 10, false).map_err(|e| e.code), Err("blank"));
        assert_eq!(
            bounded("a\u{0}b", 10, false).map_err(|e| e.code),
            Err("control_characters")
        );
        assert_eq!(
            bounded("a\nb", 10, false).map_err(|e| e.code),
            Err("control_characters")
        );
        assert_eq!(bounded("a\nb", 10, true), Ok("a\nb".to_owned()));
        for sneaky in ["\u{200B}", "Sam\u{202E}", "\u{FEFF}Jo"] {
            assert_eq!(
                bounded(sneaky, 10, true).map_err(|e| e.code),
                Err("control_characters"),
                "{sneaky:?}"
            );
        }
    }
}
