//! The bounds the contract documents on parameters (path, query and header), enforced on every
//! request before it is routed, so a documented bound is never one the server ignores: a value
//! longer than its `maxLength` is 400, and so is an id (`format: uuid`) in any form but the
//! hyphenated one the contract's pattern gives (`Uuid::from_str` also reads the simple, braced
//! and URN forms). Values that are no id at all are left to the handlers, which name every bad
//! parameter at once. Read from the document, so a new endpoint's parameters are covered too.

use actix_web::dev::{ResourceDef, ServiceRequest};
use actix_web::http::Method;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, Schema, SchemaFormat};
use utoipa::openapi::{OpenApi, RefOr};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The path segment at this index.
    Path(usize),
    Query,
    Header,
}

#[derive(Debug)]
struct Bound {
    name: String,
    place: Place,
    max_chars: Option<usize>,
    uuid: bool,
}

/// Each documented operation's parameter bounds.
#[derive(Debug, Default)]
pub struct ParameterBounds(Vec<(ResourceDef, Method, Vec<Bound>)>);

impl ParameterBounds {
    pub fn from_openapi(api: &OpenApi) -> Self {
        let mut table = Vec::new();
        for (path, item) in &api.paths.paths {
            let segments: Vec<&str> = path.split('/').collect();
            let operations = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else {
                    continue;
                };
                let bounds = bounds(api, operation, &segments);
                if !bounds.is_empty() {
                    table.push((ResourceDef::new(path.as_str()), method, bounds));
                }
            }
        }
        Self(table)
    }

    /// The first parameter of `req` that breaks its documented bound, as a 400.
    pub fn check(&self, req: &ServiceRequest) -> Option<ApiError> {
        let path = req.path();
        let (_, _, bounds) = self
            .0
            .iter()
            .find(|(def, method, _)| method == req.method() && def.is_match(path))?;
        let segments: Vec<&str> = path.split('/').collect();
        let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        bounds.iter().find_map(|bound| {
            let values: Vec<String> = match bound.place {
                Place::Path(i) => segments.get(i).map(|s| decode(s)).into_iter().collect(),
                Place::Query => query
                    .iter()
                    .filter(|(k, _)| *k == bound.name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                Place::Header => req
                    .headers()
                    .get_all(bound.name.as_str())
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect(),
            };
            values.iter().find_map(|value| bound.refuse(value))
        })
    }
}

impl Bound {
    fn refuse(&self, value: &str) -> Option<ApiError> {
        let count = value.chars().count();
        if let Some(max) = self.max_chars.filter(|max| count > *max) {
            // Headers keep the code every other header refusal has.
            let code = match self.place {
                Place::Header => "invalid_header",
                _ => "too_long",
            };
            return Some(ApiError::bad_parameter(
                &self.name,
                code,
                format!("must be at most {max} characters (got {count})"),
            ));
        }
        // Only the other forms of a real id: anything else is the handler's to refuse, with
        // the rest of what is wrong with the request.
        let other_form = uuid::Uuid::parse_str(value).is_ok() && !canonical_uuid(value);
        (self.uuid && other_form).then(|| {
            ApiError::bad_parameter(
                &self.name,
                "invalid_id",
                "must be a UUID, hyphenated (8-4-4-4-12 hexadecimal digits)",
            )
        })
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hexadecimal digits of either case.
pub fn canonical_uuid(value: &str) -> bool {
    value.len() == 36
        && value.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn decode(segment: &str) -> String {
    // Path segments are percent-encoded like query values, bar `+`, which stays itself.
    form_urlencoded::parse(format!("v={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn bounds(api: &OpenApi, operation: &Operation, segments: &[&str]) -> Vec<Bound> {
    operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|parameter| {
            let RefOr::T(parameter) = parameter else {
                return None;
            };
            let place = match parameter.parameter_in {
                ParameterIn::Path => {
                    let template = format!("{{{}}}", parameter.name);
                    Place::Path(segments.iter().position(|s| *s == template)?)
                }
                ParameterIn::Query => Place::Query,
                ParameterIn::Header => Place::Header,
                _ => return None,
            };
            let schema = match parameter.schema.as_ref()? {
                RefOr::T(schema) => Some(schema),
                RefOr::Ref(reference) => {
                    let name = reference.ref_location.rsplit('/').next()?;
                    match api.components.as_ref()?.schemas.get(name)? {
                        RefOr::T(schema) => Some(schema),
                        RefOr::Ref(_) => None,
                    }
                }
            };
            let Some(Schema::Object(object)) = schema else {
                return None;
            };
            let uuid = matches!(
                object.format,
                Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))
            );
            (object.max_length.is_some() || uuid).then(|| Bound {
                name: parameter.name.clone(),
                place,
                max_chars: object.max_length,
                uuid,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hyphenated_form_is_an_id() {
        let id = "0192f0c4-7d2a-7c1e-9b3a-5f4e3d2c1b0a";
        assert!(canonical_uuid(id));
        assert!(canonical_uuid(&id.to_uppercase()));
        for other in [
            "0192f0c47d2a7c1e9b3a5f4e3d2c1b0a",
            "{0192f0c4-7d2a-7c1e-9b3a-5f4e3d2c1b0a}",
            "urn:uuid:0192f0c4-7d2a-7c1e-9b3a-5f4e3d2c1b0a",
            "0192f0c4-7d2a-7c1e-9b3a-5f4e3d2c1b0g",
        ] {
            assert!(!canonical_uuid(other), "{other}");
        }
    }

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(decode("a%7Bb%7D+c"), "a{b}+c");
    }
}
