//! JSON merge patches (RFC 7396), one way for every resource. A patch type declares each
//! member as a [`Member`] (`#[serde(default)]`, and its schema as `Option<…>` when it can be
//! removed, else as the plain type with `required = false`). Its `parse` runs every member's
//! domain rule through [`Parsing`] before any record is read, reporting all broken rules at
//! once; the parsed members are then merged into the record inside the change's transaction.

use linkwell_domain::Invalid;
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, FieldError};
use crate::fields::Field;

/// One member of a merge patch: left out, `null`, or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Member<T> {
    /// Left out: the record keeps what it has.
    #[default]
    Absent,
    /// `null`: the member is removed.
    Null,
    Value(T),
}

/// `null` is [`Member::Null`]; a left-out member never reaches this (`#[serde(default)]`).
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Member<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(d).map(|v| v.map_or(Member::Null, Member::Value))
    }
}

impl<T> Member<T> {
    /// Merges into a member that may be removed: left out keeps `slot`, `null` empties it.
    pub fn merge_into(self, slot: &mut Option<T>) {
        match self {
            Member::Absent => {}
            Member::Null => *slot = None,
            Member::Value(v) => *slot = Some(v),
        }
    }

    /// Merges into a member that cannot be removed ([`Parsing::required`] refused `null`).
    pub fn replace(self, slot: &mut T) {
        if let Member::Value(v) = self {
            *slot = v;
        }
    }

    /// What was sent, for a merge the domain checks: `None` when left out, `Some(None)` for
    /// `null`.
    pub fn sent(self) -> Option<Option<T>> {
        match self {
            Member::Absent => None,
            Member::Null => Some(None),
            Member::Value(v) => Some(Some(v)),
        }
    }
}

/// Parses a patch's members by their domain rules, collecting every broken rule at its
/// member's JSON pointer.
#[derive(Debug, Default)]
pub struct Parsing {
    errors: Vec<FieldError>,
}

impl Parsing {
    /// A member that may be removed (`null`), parsed by its field's rule.
    pub fn optional<F: Field>(&mut self, member: &str, sent: &Member<F>) -> Member<F::Value> {
        self.optional_with(member, sent, F::parse)
    }

    /// A member that cannot be removed: `null` is refused (422 `required`).
    pub fn required<F: Field>(&mut self, member: &str, sent: &Member<F>) -> Member<F::Value> {
        self.required_with(member, sent, F::parse)
    }

    /// As [`Parsing::optional`], with the rule given.
    pub fn optional_with<T, V>(
        &mut self,
        member: &str,
        sent: &Member<T>,
        rule: impl FnOnce(&T) -> Result<V, Invalid>,
    ) -> Member<V> {
        match sent {
            Member::Absent => Member::Absent,
            Member::Null => Member::Null,
            Member::Value(v) => match rule(v) {
                Ok(parsed) => Member::Value(parsed),
                Err(e) => {
                    self.note(member, e);
                    Member::Absent
                }
            },
        }
    }

    /// As [`Parsing::required`], with the rule given.
    pub fn required_with<T, V>(
        &mut self,
        member: &str,
        sent: &Member<T>,
        rule: impl FnOnce(&T) -> Result<V, Invalid>,
    ) -> Member<V> {
        if matches!(sent, Member::Null) {
            self.note(member, Invalid::new("required", "cannot be removed"));
            return Member::Absent;
        }
        self.optional_with(member, sent, rule)
    }

    /// Reports a rule broken at `member` (a path below the body, like `contact/phone`).
    pub fn note(&mut self, member: &str, e: Invalid) {
        self.errors
            .push(FieldError::at(format!("/{member}"), e.code, e.message));
    }

    /// The parsed patch, or every broken rule (422).
    pub fn finish<T>(self, parsed: T) -> Result<T, ApiError> {
        if self.errors.is_empty() {
            Ok(parsed)
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Patch {
        #[serde(default)]
        a: Member<u8>,
        #[serde(default)]
        b: Member<u8>,
        #[serde(default)]
        c: Member<u8>,
    }

    #[test]
    fn left_out_null_and_a_value_are_told_apart() {
        let p: Patch =
            serde_json::from_str(r#"{"b": null, "c": 7}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.a, p.b, p.c),
            (Member::Absent, Member::Null, Member::Value(7))
        );
        let mut slot = Some(1);
        Member::Absent.merge_into(&mut slot);
        assert_eq!(slot, Some(1));
        Member::Null.merge_into(&mut slot);
        assert_eq!(slot, None);
        Member::Value(3).merge_into(&mut slot);
        assert_eq!(slot, Some(3));
    }

    #[test]
    fn every_broken_rule_is_reported_and_null_is_refused_where_required() {
        let mut parsing = Parsing::default();
        let odd = |v: &u8| {
            if v % 2 == 1 {
                Ok(*v)
            } else {
                Err(Invalid::new("even", "must be odd"))
            }
        };
        assert_eq!(
            parsing.required_with("a", &Member::Null, odd),
            Member::Absent
        );
        assert_eq!(parsing.optional_with("b", &Member::Null, odd), Member::Null);
        assert_eq!(
            parsing.optional_with("c", &Member::Value(2), odd),
            Member::Absent
        );
        assert_eq!(
            parsing.optional_with("d", &Member::Value(3), odd),
            Member::Value(3)
        );
        let Err(ApiError::Validation(errors)) = parsing.finish(()) else {
            panic!("expected a validation error");
        };
        let at: Vec<(Option<&str>, &str)> = errors
            .iter()
            .map(|e| (e.pointer.as_deref(), e.code.as_str()))
            .collect();
        assert_eq!(at, [(Some("/a"), "required"), (Some("/c"), "even")]);
    }
}
