//! Free text with bounds: names, summaries, references, reasons. Each bound is a [`TextRule`]
//! constant beside the thing it bounds; the API's schema is generated from the same constants,
//! so what the contract says and what the server accepts cannot drift apart.

use crate::Invalid;

/// What a piece of free text may be: 1 to `max_chars` characters as sent (characters, not
/// bytes; surrounding whitespace counts towards the bound but is trimmed when stored), not
/// only whitespace, and free of control and invisible formatting characters (tabs and line
/// breaks are allowed only when `multiline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    pub max_chars: usize,
    pub multiline: bool,
}

/// Control characters (Unicode category Cc), as inclusive ranges.
pub const CONTROL: &[(char, char)] = &[('\u{0}', '\u{1F}'), ('\u{7F}', '\u{9F}')];

/// The control characters a multi-line text may hold.
pub const LINE_BREAKS: &[char] = &['\t', '\n', '\r'];

/// Zero-width and bidirectional-override characters: invisible, and able to make one name look
/// like another.
pub const INVISIBLE: &[(char, char)] = &[
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
];

impl TextRule {
    /// One line of at most `max_chars`.
    pub const fn line(max_chars: usize) -> Self {
        Self {
            max_chars,
            multiline: false,
        }
    }

    /// Lines of at most `max_chars` in all.
    pub const fn lines(max_chars: usize) -> Self {
        Self {
            max_chars,
            multiline: true,
        }
    }

    /// The characters this rule refuses, as inclusive ranges in ascending order.
    pub fn forbidden(self) -> Vec<(char, char)> {
        let mut ranges = Vec::new();
        for &(start, end) in CONTROL {
            let mut from = start;
            for c in start..=end {
                if self.multiline && LINE_BREAKS.contains(&c) {
                    if from < c {
                        ranges.push((from, prev(c)));
                    }
                    from = next(c);
                }
            }
            if from <= end {
                ranges.push((from, end));
            }
        }
        ranges.extend_from_slice(INVISIBLE);
        ranges
    }

    fn allows(self, c: char) -> bool {
        let in_ranges = |ranges: &[(char, char)]| ranges.iter().any(|&(a, b)| (a..=b).contains(&c));
        let control = in_ranges(CONTROL) && !(self.multiline && LINE_BREAKS.contains(&c));
        !control && !in_ranges(INVISIBLE)
    }

    /// Checks `value` and returns it trimmed.
    pub fn parse(self, value: &str) -> Result<String, Invalid> {
        let count = value.chars().count();
        if count > self.max_chars {
            return Err(Invalid::new(
                "too_long",
                format!(
                    "must be at most {} characters (got {count})",
                    self.max_chars
                ),
            ));
        }
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(Invalid::new("blank", "must not be blank"));
        }
        if !value.chars().all(|c| self.allows(c)) {
            return Err(Invalid::new(
                "control_characters",
                "must not contain control or invisible formatting characters",
            ));
        }
        Ok(trimmed.to_owned())
    }
}

fn prev(c: char) -> char {
    char::from_u32(u32::from(c).saturating_sub(1)).unwrap_or(c)
}

fn next(c: char) -> char {
    char::from_u32(u32::from(c) + 1).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const LINE: TextRule = TextRule::line(3);
    const LINES: TextRule = TextRule::lines(10);

    #[test]
    fn trims_and_counts_characters_as_sent() {
        assert_eq!(LINE.parse("Zoë"), Ok("Zoë".to_owned()));
        assert_eq!(LINE.parse(" Zo "), Err(too_long(4)));
        assert_eq!(LINE.parse("Zoëy").map_err(|e| e.code), Err("too_long"));
    }

    fn too_long(count: usize) -> Invalid {
        Invalid::new(
            "too_long",
            format!("must be at most 3 characters (got {count})"),
        )
    }

    #[test]
    fn rejects_blank_and_control_characters() {
        assert_eq!(LINES.parse("   ").map_err(|e| e.code), Err("blank"));
        assert_eq!(
            LINES.parse("a\u{0}b").map_err(|e| e.code),
            Err("control_characters")
        );
        assert_eq!(
            TextRule::line(10).parse("a\nb").map_err(|e| e.code),
            Err("control_characters")
        );
        assert_eq!(LINES.parse("a\nb"), Ok("a\nb".to_owned()));
        for sneaky in ["\u{200B}", "Sam\u{202E}", "\u{FEFF}Jo", "a\u{85}"] {
            assert_eq!(
                LINES.parse(sneaky).map_err(|e| e.code),
                Err("control_characters"),
                "{sneaky:?}"
            );
        }
    }

    #[test]
    fn forbidden_ranges_leave_out_line_breaks_only_for_multiline() {
        assert_eq!(
            LINES.forbidden()[..4],
            [
                ('\u{0}', '\u{8}'),
                ('\u{B}', '\u{C}'),
                ('\u{E}', '\u{1F}'),
                ('\u{7F}', '\u{9F}')
            ]
        );
        assert_eq!(
            LINE.forbidden()[..2],
            [('\u{0}', '\u{1F}'), ('\u{7F}', '\u{9F}')]
        );
    }

    proptest! {
        #[test]
        fn a_character_is_allowed_exactly_when_outside_the_forbidden_ranges(c: char, multiline: bool) {
            let rule = TextRule { max_chars: 10, multiline };
            let listed = rule.forbidden().iter().any(|&(a, b)| (a..=b).contains(&c));
            prop_assert_eq!(rule.allows(c), !listed);
        }
    }
}
