//! Request extractors that fail with problem details: a JSON body that is size-limited, parsed
//! strictly (unknown fields rejected) and validated; and error handlers for query and path
//! parameters. `validator`'s `.validate()` is never called by actix's own `Json`, so bodies only
//! ever come in through [`ValidJson`] (via `access::AllowedJson`).

use actix_web::dev::Payload;
use actix_web::error::{PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::body_errors;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;

/// Largest request body accepted.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// A JSON body, parsed and validated; `raw` keeps the bytes (for idempotency fingerprints).
#[derive(Debug)]
pub struct ValidJson<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<T> ValidJson<T>
where
    T: DeserializeOwned + ToSchema + Validate + 'static,
{
    /// Reads, parses and validates the body. Called only once the caller is authorised, so
    /// a refused caller learns nothing from body errors and costs no parsing.
    pub async fn read(req: &HttpRequest, payload: Payload) -> Result<Self, ApiError> {
        Self::read_checked(req, payload, |_| Vec::new()).await
    }

    /// As [`Self::read`], with `also` checking the rules that depend on who is asking (given
    /// the body as JSON): their errors are listed with the body's own, not only once those
    /// are fixed.
    pub async fn read_checked(
        req: &HttpRequest,
        mut payload: Payload,
        also: impl FnOnce(&serde_json::Value) -> Vec<FieldError>,
    ) -> Result<Self, ApiError> {
        if !is_json(req) {
            return Err(ApiError::UnsupportedMediaType);
        }
        check_encoding(req)?;
        let raw = read_body(req, &mut payload).await?;
        let parsed = parse_json::<T>(&raw).and_then(|value| {
            value
                .validate()
                .map(|()| value)
                .map_err(|errors| ApiError::Validation(field_errors(&errors)))
        });
        let also = || {
            serde_json::from_slice(&raw)
                .map(|json| also(&json))
                .unwrap_or_default()
        };
        match parsed {
            Ok(value) => match also() {
                errors if errors.is_empty() => Ok(ValidJson { value, raw }),
                errors => Err(ApiError::Validation(errors)),
            },
            Err(ApiError::Validation(mut errors)) => {
                let more: Vec<_> = also()
                    .into_iter()
                    .filter(|e| errors.iter().all(|known| known.pointer != e.pointer))
                    .collect();
                errors.extend(more);
                errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
                Err(ApiError::Validation(errors))
            }
            Err(other) => Err(other),
        }
    }
}

/// The body as sent: refused (413) past [`BODY_LIMIT_BYTES`], and (408, then the connection
/// closes) when it has not all arrived within the configured body timeout, counted from when
/// reading starts. Without that limit a client that declares a length and stops sending holds
/// its connection, and a file descriptor, for ever: enough of them and the server can accept
/// no connection at all, probes included.
pub async fn read_body(req: &HttpRequest, payload: &mut Payload) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT_BYTES) {
        return Err(ApiError::PayloadTooLarge {
            limit: BODY_LIMIT_BYTES,
        });
    }
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(crate::config::DEFAULT_BODY_TIMEOUT, |state| {
            state.body_timeout
        });
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| ApiError::BadRequest {
                code: "unreadable_body",
                detail: "the request body could not be read".into(),
                errors: Vec::new(),
            })?;
            if body.len() + chunk.len() > BODY_LIMIT_BYTES {
                return Err(ApiError::PayloadTooLarge {
                    limit: BODY_LIMIT_BYTES,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    actix_web::rt::time::timeout(limit, read)
        .await
        .unwrap_or(Err(ApiError::RequestTimeout {
            seconds: limit.as_secs().max(1),
        }))
}

/// The body must come as is: no `Content-Encoding` but `identity`. The server decodes no
/// content coding, and reading gzip as JSON would parse bytes the client never meant (RFC 9110
/// §8.4: a coding the server does not support is 415).
pub fn check_encoding(req: &HttpRequest) -> Result<(), ApiError> {
    let identity = req
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .all(|value| {
            value.to_str().is_ok_and(|codings| {
                codings
                    .split(',')
                    .map(str::trim)
                    .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case("identity"))
            })
        });
    if identity {
        Ok(())
    } else {
        Err(ApiError::UnsupportedEncoding)
    }
}

/// `application/json` or any `application/*+json`.
fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        }
        _ => false,
    }
}

/// Parses JSON: broken syntax is 400; well-formed JSON of the wrong shape (unknown or missing
/// fields, wrong types) is 422 with a pointer to each member at fault, and with every rule the
/// rest of the body breaks.
pub fn parse_json<T: DeserializeOwned + ToSchema + Validate + 'static>(
    raw: &[u8],
) -> Result<T, ApiError> {
    let malformed = |detail: String| ApiError::BadRequest {
        code: "malformed_json",
        detail,
        errors: Vec::new(),
    };
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed(
            "the request body is empty; send a JSON object".into(),
        ));
    }
    // Syntax first, over the whole body: a document that is not JSON is 400 even when its
    // first value would have failed on shape.
    serde_json::from_slice::<serde::de::IgnoredAny>(raw)
        .map_err(|e| malformed(format!("the request body is not valid JSON: {e}")))?;
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|error| {
        if error.inner().is_data() {
            let first = shape_error(error.path(), &error.inner().to_string());
            // Not the first error only: every one the body has (see `body_errors`).
            match serde_json::from_slice(raw) {
                Ok(value) => {
                    ApiError::Validation(body_errors::every_error::<T>(value, Some(first)))
                }
                Err(_) => ApiError::Validation(vec![first]),
            }
        } else {
            malformed(format!(
                "the request body is not valid JSON: {}",
                error.inner()
            ))
        }
    })?;
    // Only an array can stand where serde takes a struct and the schema an object.
    if raw.contains(&b'[')
        && let Ok(json) = serde_json::from_slice::<serde_json::Value>(raw)
        && body_errors::misshapen::<T>(&json)
    {
        return Err(ApiError::Validation(body_errors::every_error::<T>(
            json, None,
        )));
    }
    // Ids in the forms serde reads but the contract's pattern refuses.
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(raw) {
        let ids = body_errors::other_id_forms::<T>(&json);
        if !ids.is_empty() {
            return Err(ApiError::Validation(ids));
        }
    }
    Ok(value)
}

/// Turns a serde data error into a field error with a stable code. The path already ends at
/// an unknown field's key; a missing field is named only in the message.
pub(crate) fn shape_error(path: &serde_path_to_error::Path, message: &str) -> FieldError {
    let mut pointer = pointer_of(path);
    // serde_json appends " at line L column C"; the pointer says where, more usefully.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    let quoted = |prefix: &str| {
        let rest = message.strip_prefix(prefix)?;
        Some(&rest[rest.find('`')? + 1..rest.rfind('`')?])
    };
    let (code, text) = if message.starts_with("unknown field") {
        ("unknown_field", "is not a field of this request".to_owned())
    } else if let Some(field) = quoted("missing field") {
        pointer.push('/');
        pointer.push_str(&escape(field));
        ("required", "is required".to_owned())
    } else if let Some(field) = quoted("duplicate field") {
        pointer.push('/');
        pointer.push_str(&escape(field));
        ("duplicate_field", "appears more than once".to_owned())
    } else if message.starts_with("invalid type") || message.contains("expected struct") {
        ("invalid_type", format!("must be {}", json_type(message)))
    } else {
        ("invalid_value", "has a value out of range".to_owned())
    };
    // RFC 6901: the whole document is the empty pointer.
    FieldError::at(pointer, code, text)
}

/// The JSON type serde expected, named for JSON users rather than Rust types.
fn json_type(message: &str) -> &'static str {
    let expected = message.rsplit_once("expected ").map_or("", |(_, e)| e);
    if expected.starts_with("struct")
        || expected.starts_with("a map")
        || message.contains("expected struct")
    {
        "an object"
    } else if expected.starts_with("a sequence") {
        "an array"
    } else if expected.starts_with("a string") {
        "a string"
    } else if expected.starts_with("a boolean") {
        "true or false"
    } else if expected.starts_with('i') || expected.starts_with('u') {
        "an integer"
    } else {
        "of another type"
    }
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(format!("/{index}")),
            Segment::Map { key } => Some(format!("/{}", escape(key))),
            Segment::Enum { variant } => Some(format!("/{}", escape(variant))),
            Segment::Unknown => None,
        })
        .collect()
}

/// RFC 6901 escaping.
pub(crate) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Flattens `validator`'s nested errors into pointer-addressed field errors, sorted by pointer.
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in &errors.0 {
        let pointer = format!("{prefix}/{}", escape(field));
        match kind {
            ValidationErrorsKind::Field(list) => {
                // One entry per field: the first rule it broke. A rule over the whole struct
                // (`__all__`) names the field it reports at, unless that field already failed.
                if let Some(e) = list.first() {
                    let message = e.message.as_deref().unwrap_or("is invalid").to_owned();
                    let pointer = match (field.as_ref(), e.params.get("field")) {
                        ("__all__", Some(serde_json::Value::String(name))) => {
                            format!("{prefix}/{}", escape(name))
                        }
                        _ => pointer,
                    };
                    if !out
                        .iter()
                        .any(|f| f.pointer.as_deref() == Some(pointer.as_str()))
                    {
                        out.push(FieldError::at(pointer, e.code.to_string(), message));
                    }
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &pointer, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{pointer}/{index}"), out);
                }
            }
        }
    }
}

/// Bad query strings are 400 with the parameter named where serde says which.
pub fn query_error(error: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let message = error.to_string();
    let message = message
        .strip_prefix("Query deserialize error: ")
        .unwrap_or(&message)
        .to_owned();
    let parameter = message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("unknown field") || message.starts_with("missing field"))
        .unwrap_or("query")
        .to_owned();
    ApiError::BadRequest {
        code: "invalid_parameter",
        detail: format!("the query string is invalid: {message}"),
        errors: vec![FieldError::parameter(
            parameter,
            "invalid_parameter",
            message,
        )],
    }
    .into()
}

/// Bad path parameters (e.g. an id that is not a UUID) are 400.
pub fn path_error(error: PathError, _: &HttpRequest) -> actix_web::Error {
    log::debug!("bad path parameter: {error}");
    ApiError::bad_parameter("id", "invalid_id", "must be a UUID").into()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, ToSchema, Validate)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        list: Vec<u8>,
    }

    #[derive(Debug, Deserialize, ToSchema, Validate)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }

    fn errors(json: &str) -> (u16, Vec<(String, String)>) {
        match parse_json::<Outer>(json.as_bytes()) {
            Ok(_) => (200, vec![]),
            Err(e) => {
                let problem = e.problem(None);
                let list = problem
                    .errors
                    .unwrap_or_default()
                    .into_iter()
                    .map(|f| (f.pointer.unwrap_or_default(), f.code))
                    .collect();
                (problem.status, list)
            }
        }
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_422_with_pointers() {
        assert_eq!(errors("{"), (400, vec![]));
        assert_eq!(errors(""), (400, vec![]));
        assert_eq!(
            errors(r#"{"inner":{"name":"a"},"list":[]} x"#),
            (400, vec![])
        );
        assert_eq!(
            errors(r#"{"inner":{"name":"a","id":1},"list":[]}"#),
            (422, vec![("/inner/id".into(), "unknown_field".into())])
        );
        assert_eq!(
            errors(r#"{"inner":{},"list":[]}"#),
            (422, vec![("/inner/name".into(), "required".into())])
        );
        assert_eq!(
            errors(r#"{"inner":{"name":"a"},"list":[1,"x"]}"#),
            (422, vec![("/list/1".into(), "invalid_type".into())])
        );
        assert_eq!(
            errors(r#"{"inner":{"name":"a"},"list":[],"status":"x"}"#),
            (422, vec![("/status".into(), "unknown_field".into())])
        );
        assert_eq!(
            errors(r#"[]"#),
            (422, vec![("".into(), "invalid_type".into())])
        );
        assert_eq!(
            errors(r#"{"inner":{"name":"a","a/b~":1},"list":[]}"#),
            (422, vec![("/inner/a~1b~0".into(), "unknown_field".into())])
        );
        assert_eq!(
            errors(r#"{"inner":{"name":"a","name":"b"},"list":[]}"#),
            (422, vec![("/inner/name".into(), "duplicate_field".into())])
        );
    }

    #[test]
    fn every_shape_error_is_reported_at_once() {
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            errors(r#"{"inner":{"id":1},"list":"x","extra":true}"#),
            (
                422,
                pairs(&[
                    ("/extra", "unknown_field"),
                    ("/inner/id", "unknown_field"),
                    ("/inner/name", "required"),
                    ("/list", "invalid_type"),
                ])
            )
        );
        assert_eq!(
            errors(r#"{"list":[1,"x",300,-1,null]}"#),
            (
                422,
                pairs(&[
                    ("/inner", "required"),
                    ("/list/1", "invalid_type"),
                    ("/list/2", "invalid_value"),
                    ("/list/3", "invalid_value"),
                    ("/list/4", "invalid_type"),
                ])
            )
        );
        // serde reads an array as a struct; the schema says an object.
        assert_eq!(errors("[1]"), (422, pairs(&[("", "invalid_type")])));
        assert_eq!(
            errors(r#"{"inner":[],"list":[]}"#),
            (422, pairs(&[("/inner", "invalid_type")]))
        );
        // serde alone would take these, member by member in declaration order.
        assert_eq!(
            errors(r#"{"inner":["a"],"list":[]}"#),
            (422, pairs(&[("/inner", "invalid_type")]))
        );
        assert_eq!(
            errors(r#"[{"name":"a"},[1]]"#),
            (422, pairs(&[("", "invalid_type")]))
        );
        assert_eq!(
            errors(r#"{"inner":{"name":"a"},"list":[1]}"#),
            (200, vec![])
        );
        // At most a hundred, the first by pointer.
        let members: Vec<String> = (0..300).map(|i| format!(r#""x{i:03}":1"#)).collect();
        let (status, list) = errors(&format!(r#"{{{}}}"#, members.join(",")));
        assert_eq!(status, 422);
        assert_eq!(list.len(), crate::body_errors::MAX_ERRORS);
        assert_eq!(list[0], ("/inner".to_owned(), "required".to_owned()));
        assert_eq!(list[99], ("/x097".to_owned(), "unknown_field".to_owned()));
    }
}
