//! Organisations: GP practices, partners, agencies and community groups the service works with.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Invalid;
use crate::codes::code_list;
use crate::text::TextRule;

code_list! {
    /// What kind of organisation this is.
    pub enum OrganisationKind as "kind" {
        GpPractice = "gp_practice",
        Partner = "partner",
        Agency = "agency",
        CommunityGroup = "community_group",
    }
}

/// An NHS Organisation Data Service code, e.g. `A81001` for a GP practice: 3 to 10 letters and
/// digits, stored upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OdsCode(String);

impl OdsCode {
    /// Longest accepted, counting surrounding whitespace as sent.
    /// Exactly what [`Self::parse`] accepts, within [`Self::MAX_CHARS`], as the API's schema
    /// states it (`domain/tests/patterns.rs` checks they agree).
    pub const PATTERN: &'static str = r"^\s*[A-Za-z0-9]{3,10}\s*$";

    pub const MAX_CHARS: usize = 16;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let code = input.trim().to_ascii_uppercase();
        if input.chars().count() > Self::MAX_CHARS
            || !(3..=10).contains(&code.len())
            || !code.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Invalid::new(
                "ods_code_format",
                "must be an ODS code of 3 to 10 letters and digits",
            ));
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OdsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organisation's name: one line.
pub const NAME: TextRule = TextRule::line(200);

/// An organisation as registered, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrganisation {
    pub name: String,
    pub kind: OrganisationKind,
    pub ods_code: Option<OdsCode>,
}

/// A stored organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: Uuid,
    pub name: String,
    pub kind: OrganisationKind,
    pub ods_code: Option<OdsCode>,
    /// The network it belongs to, such as a Primary Care Network.
    pub network_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// A network's name: one line, unique ignoring case.
pub const NETWORK_NAME: TextRule = TextRule::line(200);

/// A network of organisations, such as the practices of a Primary Care Network: figures for a
/// network whole are big enough to publish where a single practice's are suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_codes() {
        assert_eq!(
            OdsCode::parse(" a81001 ").map(|c| c.to_string()),
            Ok("A81001".to_owned())
        );
        for bad in ["A8", "A81001A81001", "A8-1001", ""] {
            assert_eq!(
                OdsCode::parse(bad).map_err(|e| e.code),
                Err("ods_code_format"),
                "{bad:?}"
            );
        }
    }
}
