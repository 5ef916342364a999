//! The one error a domain rule returns: a stable code and a human message.

use std::borrow::Cow;

/// A value broke a rule. The caller knows where the value came from and adds the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// Stable snake_case code, e.g. `nhs_number_checksum`.
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: Cow<'static, str>,
}

impl Invalid {
    /// A rule violation with its code and message.
    pub fn new(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
