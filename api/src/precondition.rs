//! `If-Match` on changes (RFC 9110 §13.1.1): the client names the version it read, so a change
//! never overwrites one it has not seen. Missing is 428; a version no longer current is 412.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};

use crate::audit::Refusal;
use crate::error::ApiError;

/// The versions a change may apply to, as sent; checked only once the caller is authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfMatch(Option<String>);

impl IfMatch {
    /// The entity tags sent (RFC 9110 §13.1.1): 428 when the header is missing, 400 when it is
    /// neither `*` nor a list of entity tags. A well-formed tag that is not one of ours
    /// (`"stale-999"`) is kept: it simply never matches (412). If-Match compares strongly, so
    /// a weak tag (`W/"3"`) never matches either.
    pub fn versions(&self) -> Result<Versions, ApiError> {
        let Some(value) = &self.0 else {
            return Err(ApiError::PreconditionRequired);
        };
        if value.trim_matches([' ', '\t']) == "*" {
            return Ok(Versions::Any);
        }
        let malformed = || {
            ApiError::bad_parameter(
                "If-Match",
                "invalid_header",
                "must be `*` or entity tags such as the ETag you read, e.g. \"3\"",
            )
        };
        let mut tags = Vec::new();
        let mut rest = value.trim_matches([' ', '\t']);
        if rest.is_empty() {
            return Err(malformed());
        }
        while !rest.is_empty() {
            let (weak, after) = match rest.strip_prefix("W/") {
                Some(after) => (true, after),
                None => (false, rest),
            };
            let after = after.strip_prefix('"').ok_or_else(malformed)?;
            let end = after.find('"').ok_or_else(malformed)?;
            let opaque = &after[..end];
            // etagc = %x21 / %x23-7E / obs-text
            if !opaque
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
            {
                return Err(malformed());
            }
            if !weak {
                tags.push(opaque.to_owned());
            }
            rest = after[end + 1..].trim_start_matches([' ', '\t']);
            if !rest.is_empty() {
                // Elements are comma-separated; empty elements are allowed (RFC 9110 §5.6.1).
                rest = rest.strip_prefix(',').ok_or_else(malformed)?;
                rest = rest.trim_start_matches([' ', '\t', ',']);
            }
        }
        Ok(Versions::Tags(tags))
    }
}

/// The pattern the OpenAPI document gives `If-Match`: `*` or a list of entity tags.
/// Longest `If-Match` read (refused past it by `params`): a handful of ETags, each a version
/// of at most 19 digits in quotes.
pub const IF_MATCH_MAX_CHARS: usize = 256;

const ETAGS_PATTERN: &str =
    r#"^[ \t]*(\*|(W/)?"[^"\x00-\x20\x7F]*"([ \t]*,[ \t]*(W/)?"[^"\x00-\x20\x7F]*")*)[ \t]*$"#;

/// What `If-Match` accepts: any current representation (`*`), or these strong entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Versions {
    Any,
    /// The opaque parts of the strong tags, compared character by character with ours.
    Tags(Vec<String>),
}

impl Versions {
    /// Refused (412) unless `current` is one of them (or `*` was sent: the resource exists).
    pub fn check(&self, current: i64) -> Result<(), Refusal> {
        let matches = match self {
            Versions::Any => true,
            Versions::Tags(tags) => tags.iter().any(|tag| *tag == current.to_string()),
        };
        if matches {
            Ok(())
        } else {
            Err(Refusal::stale())
        }
    }

    /// For a resource not written yet, whose ETag would be `"0"`: `*` does not match, as
    /// there is no current representation (RFC 9110 §13.1.1).
    pub fn check_unwritten(&self) -> Result<(), Refusal> {
        match self {
            Versions::Any => Err(Refusal::stale()),
            Versions::Tags(_) => self.check(0),
        }
    }

    /// What was found, if it is there (else refused as not found) and still at a version
    /// named (else refused as stale).
    pub fn current<T>(&self, found: Option<T>, version: impl Fn(&T) -> i64) -> Result<T, Refusal> {
        let found = found.ok_or_else(Refusal::not_found)?;
        self.check(version(&found))?;
        Ok(found)
    }
}

impl IfMatch {
    /// Whether the header was sent at all.
    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }
}

/// `If-Match` on a `PUT` that creates the resource when it is not there yet: left out to
/// create, required (428) to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfMatchOnReplace(pub IfMatch);

impl FromRequest for IfMatchOnReplace {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(IfMatch::from_request(req, payload).into_inner().map(Self))
    }
}

impl utoipa::IntoParams for IfMatchOnReplace {
    fn into_params(
        in_header: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        IfMatch::into_params(in_header)
            .into_iter()
            .map(|mut p| {
                p.required = utoipa::openapi::Required::False;
                p.description = Some(
                    "Leave out to create; to replace, the ETag of the version you read, e.g. \
                     `\"3\"` (428 without it once the resource exists, 412 when stale)."
                        .into(),
                );
                p
            })
            .collect()
    }
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = req
            .headers()
            .get_all(header::IF_MATCH)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .reduce(|a, b| format!("{a}, {b}"));
        ready(Ok(Self(value)))
    }
}

/// Documents the header for every operation that takes it (`params(IfMatch)`).
impl utoipa::IntoParams for IfMatch {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::Required;
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        vec![
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(
                    "The ETag of the version you read, e.g. `\"3\"`, or `*` for whatever is \
                     current: the change applies only if it is still current (428 without it, \
                     412 when stale).",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .max_length(Some(IF_MATCH_MAX_CHARS))
                        .pattern(Some(ETAGS_PATTERN)),
                ))
                .build(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(value: Option<&str>) -> Result<Versions, u16> {
        IfMatch(value.map(str::to_owned))
            .versions()
            .map_err(|e| e.problem(None).status)
    }

    fn matches(value: &str, current: i64) -> bool {
        versions(Some(value)).is_ok_and(|v| v.check(current).is_ok())
    }

    #[test]
    fn reads_entity_tags_and_refuses_what_is_not_one() {
        assert_eq!(versions(None), Err(428));
        assert_eq!(versions(Some("*")), Ok(Versions::Any));
        assert_eq!(
            versions(Some("\"3\", \"4\"")),
            Ok(Versions::Tags(vec!["3".into(), "4".into()]))
        );
        assert_eq!(versions(Some("W/\"3\"")), Ok(Versions::Tags(vec![])));
        let pattern = regex::Regex::new(ETAGS_PATTERN).ok();
        for good in [
            "\"stale-999\"",
            "\"\"",
            "\"x\"",
            "W/\"3\"",
            "\"3\",",
            "\"a\" ,\t\"b\"",
            " * ",
        ] {
            assert!(versions(Some(good)).is_ok(), "{good:?}");
            assert!(
                pattern
                    .as_ref()
                    .is_some_and(|p| p.is_match(good.trim_end_matches(',')))
            );
        }
        for bad in [
            "3",
            "",
            "\"3",
            "\"3\" \"4\"",
            "W/3",
            "\"a b\"",
            "**",
            "*, \"3\"",
        ] {
            assert_eq!(versions(Some(bad)).err(), Some(400), "{bad:?}");
            assert!(
                pattern.as_ref().is_some_and(|p| !p.is_match(bad)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn compares_strongly() {
        assert!(matches("\"3\"", 3));
        assert!(matches("\"2\", \"3\"", 3));
        assert!(matches("*", 3));
        assert!(!matches("\"stale-999\"", 3));
        assert!(!matches("W/\"3\"", 3), "a weak tag never matches");
        assert!(!matches("\"03\"", 3), "tags compare character by character");
        assert!(!matches("\"4\"", 3));
        assert!(versions(Some("*")).is_ok_and(|v| v.check_unwritten().is_err()));
        assert!(versions(Some("\"0\"")).is_ok_and(|v| v.check_unwritten().is_ok()));
    }
}
