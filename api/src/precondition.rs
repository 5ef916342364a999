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
    /// The strong entity tags sent, as versions: 428 when the header is missing, 400 when it is
    /// not a list of entity tags. `*` and weak tags never match a version (strong comparison).
    pub fn versions(&self) -> Result<Versions, ApiError> {
        let Some(value) = &self.0 else {
            return Err(ApiError::PreconditionRequired);
        };
        let mut versions = Vec::new();
        for tag in value.split(',').map(str::trim) {
            if tag == "*" || tag.starts_with("W/\"") && tag.ends_with('"') && tag.len() >= 4 {
                continue;
            }
            let version = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .map(|t| t.parse::<i64>().unwrap_or(-1));
            match version {
                Some(v) => versions.push(v),
                None => {
                    return Err(ApiError::bad_parameter(
                        "If-Match",
                        "invalid_header",
                        "must be the ETag you read, e.g. \"3\"",
                    ));
                }
            }
        }
        Ok(Versions(versions))
    }
}

/// The versions named by `If-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions(Vec<i64>);

impl Versions {
    /// Refused (412) unless `current` is one of them.
    pub fn check(&self, current: i64) -> Result<(), Refusal> {
        if self.0.contains(&current) {
            Ok(())
        } else {
            Err(Refusal::stale())
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
                    "The ETag of the version you read, e.g. `\"3\"`: the change applies only if \
                     it is still current (428 without it, 412 when stale).",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(r#"^\s*"[0-9]{1,18}"\s*$"#)),
                ))
                .build(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(value: Option<&str>) -> Result<Vec<i64>, u16> {
        IfMatch(value.map(str::to_owned))
            .versions()
            .map(|v| v.0)
            .map_err(|e| e.problem(None).status)
    }

    #[test]
    fn reads_strong_tags_and_refuses_the_rest() {
        assert_eq!(versions(None), Err(428));
        assert_eq!(versions(Some("\"3\"")), Ok(vec![3]));
        assert_eq!(versions(Some("\"3\", \"4\"")), Ok(vec![3, 4]));
        assert_eq!(versions(Some("W/\"3\"")), Ok(vec![]));
        assert_eq!(versions(Some("*")), Ok(vec![]));
        for bad in ["3", "\"\"", "\"x\"", "", "\"3"] {
            assert_eq!(versions(Some(bad)), Err(400), "{bad:?}");
        }
    }
}
