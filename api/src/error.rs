//! Every error the API can answer, and the one table that gives each its status, code and title.
//! Bodies are RFC 9457 problem details (`application/problem+json`).

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use linkwell_domain::Invalid;
use linkwell_persistence::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::fields::Field;

/// Base of every problem `type` URI; each code has its own page under it.
pub const PROBLEM_BASE: &str = "https://linkwell.dev/problems/";
/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The bounds of a problem's members, documented in its schema (the derive takes only
/// literals: a test checks they agree) and applied by [`Problem::bounded`] to every problem
/// sent, since a `detail`, a message, a pointer or a parameter name can quote the request.
pub mod limits {
    pub const TYPE_CHARS: usize = 255;
    pub const TITLE_CHARS: usize = 200;
    pub const DETAIL_CHARS: usize = 2000;
    pub const CODE_CHARS: usize = 64;
    pub const NAME_CHARS: usize = 500;
    pub const MESSAGE_CHARS: usize = 1000;
    pub const FIELD_ERRORS: usize = 100;
    pub const TRANSITIONS: usize = 32;
}

/// One thing wrong with one input: a body member (`pointer`, RFC 6901) or a query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON Pointer to the member of the request body, e.g. `/person/nhs_number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub pointer: Option<String>,
    /// Name of the query parameter or header.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub parameter: Option<String>,
    /// Stable snake_case code, e.g. `nhs_number_checksum`.
    #[schema(max_length = 64)]
    pub code: String,
    /// What is wrong, for people.
    #[schema(max_length = 1000)]
    pub message: String,
}

/// `text` cut to at most `max` characters, marked with `…` where cut.
pub(crate) fn cut(text: &mut String, max: usize) {
    if text.chars().count() > max {
        let keep: String = text.chars().take(max.saturating_sub(1)).collect();
        *text = format!("{keep}…");
    }
}

impl Problem {
    /// Within the bounds its schema documents (`limits`).
    pub fn bounded(mut self) -> Self {
        cut(&mut self.type_, limits::TYPE_CHARS);
        cut(&mut self.title, limits::TITLE_CHARS);
        cut(&mut self.detail, limits::DETAIL_CHARS);
        cut(&mut self.code, limits::CODE_CHARS);
        if let Some(errors) = self.errors.as_mut() {
            errors.truncate(limits::FIELD_ERRORS);
            for error in errors {
                error
                    .pointer
                    .iter_mut()
                    .for_each(|p| cut(p, limits::NAME_CHARS));
                error
                    .parameter
                    .iter_mut()
                    .for_each(|p| cut(p, limits::NAME_CHARS));
                cut(&mut error.code, limits::CODE_CHARS);
                cut(&mut error.message, limits::MESSAGE_CHARS);
            }
        }
        if let Some(allowed) = self.allowed_transitions.as_mut() {
            allowed.truncate(limits::TRANSITIONS);
        }
        self
    }
}

impl FieldError {
    /// An error in the request body.
    pub fn at(
        pointer: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            pointer: Some(pointer.into()),
            parameter: None,
            code: code.into(),
            message: message.into(),
        }
    }

    /// An error in a query parameter or header.
    pub fn parameter(
        name: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            pointer: None,
            parameter: Some(name.into()),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Whose allowance a request overran (`ratelimit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// An authenticated caller's, across every operation.
    Caller,
    /// A client address's, for one operation open to anyone.
    Address,
    /// The instance's: as many client secrets as it checks at once are being checked.
    SecretChecks,
}

/// A problem details body (RFC 9457).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Problem {
    /// Stable URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(max_length = 255)]
    pub type_: String,
    /// Short summary of the kind of problem; the same for every occurrence.
    #[schema(max_length = 200)]
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong this time.
    #[schema(max_length = 2000)]
    pub detail: String,
    /// Stable snake_case code, e.g. `validation_failed`.
    #[schema(max_length = 64)]
    pub code: String,
    /// The request id (also in `X-Request-Id`), to quote when asking for help.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 128)]
    pub instance: Option<String>,
    /// For validation problems: every field that is wrong (the first 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    pub errors: Option<Vec<FieldError>>,
    /// For duplicates: the id of the resource that already exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub existing_id: Option<String>,
    /// For a refused transition: the status the resource is in now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::CodeName>)]
    pub current_status: Option<String>,
    /// For a refused transition: the statuses it may move to from here.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::schema::CodeName>>, max_items = 32)]
    pub allowed_transitions: Option<Vec<String>>,
}

/// Everything a handler, extractor or middleware can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// Malformed JSON, a bad query or path parameter, a bad header, a bad cursor.
    BadRequest {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// No token, or one that does not verify.
    Unauthorized { detail: String, invalid_token: bool },
    /// The caller's role may not do this at all.
    Forbidden,
    /// Nothing here, or nothing this caller may see (the two are indistinguishable).
    NotFound,
    /// The resource was here and was ended on purpose (a revoked system, an erased record);
    /// the caller may know that much, and nothing more.
    Gone { detail: String },
    /// The path exists, the method does not.
    MethodNotAllowed { allow: Vec<String> },
    /// A unique rule refused the change.
    Duplicate { detail: String, existing_id: String },
    /// The change collided with a concurrent one; retrying may succeed.
    Conflict(String),
    /// The resource's state does not allow this change now.
    StateConflict { code: &'static str, detail: String },
    /// A one-time action link that does not work: altered or unknown (404), or expired, used
    /// or for a connection that is over (`gone`: 410).
    ActionLink {
        code: &'static str,
        detail: String,
        gone: bool,
    },
    /// A move the lifecycle has no arrow for.
    InvalidTransition {
        from: &'static str,
        to: &'static str,
        allowed: Vec<&'static str>,
    },
    /// A change was sent without `If-Match`.
    PreconditionRequired,
    /// `If-Match` names a version that is no longer current.
    PreconditionFailed,
    /// The same `Idempotency-Key` with a different request.
    IdempotencyKeyReused,
    /// The body is over the limit.
    PayloadTooLarge { limit: usize },
    /// The body is not JSON.
    UnsupportedMediaType,
    /// The body is sent in a content coding the server does not decode (RFC 9110 §8.4).
    UnsupportedEncoding,
    /// The request (its head, or its body) did not arrive within `seconds`; the connection
    /// closes.
    RequestTimeout { seconds: u64 },
    /// The request target is longer than the server reads.
    UriTooLong { limit: usize },
    /// The request's header fields are larger than the server reads.
    HeadersTooLarge { limit: usize },
    /// `Accept` rules out every representation offered (q=0 or not listed).
    NotAcceptable { offered: Vec<&'static str> },
    /// Fields break rules.
    Validation(Vec<FieldError>),
    /// Too many requests from one caller or address; come back after `retry_after` seconds.
    RateLimited { retry_after: u64, scope: Limited },
    /// A CORS preflight from an origin not in `LINKWELL_CORS_ORIGINS`.
    OriginNotAllowed,
    /// The person cannot use the service (e.g. too young); `errors` says where.
    Ineligible {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// The database is down or too slow.
    Unavailable,
    /// A bug or an unexpected failure; the cause is logged, never shown.
    Internal(String),
}

/// The table: each error's status, code and title.
struct Spec {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
}

impl ApiError {
    fn spec(&self) -> Spec {
        let (status, code, title) = match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, *code, "Bad request"),
            ApiError::Unauthorized { .. } => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed for this role",
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::Gone { .. } => (StatusCode::GONE, "gone", "Gone"),
            ApiError::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            ApiError::Duplicate { .. } => (StatusCode::CONFLICT, "duplicate", "Already exists"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::StateConflict { code, .. } => (
                StatusCode::CONFLICT,
                *code,
                "Not allowed in the current state",
            ),
            ApiError::ActionLink { code, gone, .. } => (
                if *gone {
                    StatusCode::GONE
                } else {
                    StatusCode::NOT_FOUND
                },
                *code,
                "This link does not work",
            ),
            ApiError::InvalidTransition { .. } => (
                StatusCode::CONFLICT,
                "invalid_transition",
                "Transition not allowed",
            ),
            ApiError::PreconditionRequired => (
                StatusCode::PRECONDITION_REQUIRED,
                "precondition_required",
                "If-Match required",
            ),
            ApiError::PreconditionFailed => (
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "Resource has changed",
            ),
            ApiError::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused with a different request",
            ),
            ApiError::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Request body too large",
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported content type",
            ),
            ApiError::UnsupportedEncoding => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_encoding",
                "Unsupported content encoding",
            ),
            ApiError::RequestTimeout { .. } => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "Request timeout",
            ),
            ApiError::UriTooLong { .. } => {
                (StatusCode::URI_TOO_LONG, "uri_too_long", "URI too long")
            }
            ApiError::HeadersTooLarge { .. } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "Request header fields too large",
            ),
            ApiError::NotAcceptable { .. } => (
                StatusCode::NOT_ACCEPTABLE,
                "not_acceptable",
                "Not acceptable",
            ),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            ApiError::OriginNotAllowed => (
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "Origin not allowed",
            ),
            ApiError::Ineligible { code, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                *code,
                "Not eligible for the service",
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "Service unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal error",
            ),
        };
        Spec {
            status,
            code,
            title,
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest { detail, .. }
            | ApiError::Unauthorized { detail, .. }
            | ApiError::Duplicate { detail, .. }
            | ApiError::StateConflict { detail, .. }
            | ApiError::ActionLink { detail, .. }
            | ApiError::Ineligible { detail, .. }
            | ApiError::Gone { detail }
            | ApiError::Conflict(detail) => detail.clone(),
            ApiError::InvalidTransition { from, to, allowed } => match allowed.as_slice() {
                [] => format!("the status is `{from}`, which is final: it cannot move to `{to}`"),
                _ => format!(
                    "the status is `{from}`, which cannot move to `{to}`; it may move to: {}",
                    allowed.join(", ")
                ),
            },
            ApiError::PreconditionRequired => {
                "send If-Match with the ETag you last read, so a change cannot overwrite one you have not seen".into()
            }
            ApiError::PreconditionFailed => {
                "the resource changed since you read it: read it again, then retry with its new ETag".into()
            }
            ApiError::Forbidden => "your role may not perform this operation".into(),
            ApiError::NotFound => "no such resource".into(),
            ApiError::MethodNotAllowed { allow } => {
                format!("this resource allows: {}", allow.join(", "))
            }
            ApiError::IdempotencyKeyReused => {
                "this Idempotency-Key was already used with a different request body".into()
            }
            ApiError::PayloadTooLarge { limit } => {
                format!("the request body must be at most {limit} bytes")
            }
            ApiError::UnsupportedMediaType => {
                "the request body must be JSON (Content-Type: application/json)".into()
            }
            ApiError::UnsupportedEncoding => {
                "the request body must not be compressed or otherwise encoded: send it as is, \
                 without Content-Encoding (or with `identity`)"
                    .into()
            }
            ApiError::RequestTimeout { seconds } => format!(
                "the request did not arrive in full within {seconds} s; the connection is closed"
            ),
            ApiError::UriTooLong { limit } => {
                format!("the request target must be at most {limit} bytes")
            }
            ApiError::HeadersTooLarge { limit } => {
                format!("the request's header fields must be at most {limit} bytes in all")
            }
            ApiError::NotAcceptable { offered } => format!(
                "Accept rules out every representation offered here: {}",
                offered.join(", ")
            ),
            ApiError::Validation(errors) => match errors.len() {
                1 => "1 field is invalid".into(),
                n => format!("{n} fields are invalid"),
            },
            ApiError::Unavailable => {
                "the database is unavailable or too slow; try again shortly".into()
            }
            ApiError::RateLimited {
                retry_after,
                scope: Limited::Address,
            } => {
                format!("too many requests from your address; try again in {retry_after} s")
            }
            ApiError::RateLimited {
                retry_after,
                scope: Limited::Caller,
            } => format!(
                "too many requests with your token's identity; try again in {retry_after} s"
            ),
            ApiError::RateLimited {
                retry_after,
                scope: Limited::SecretChecks,
            } => format!(
                "the server is checking as many client secrets as it can at once; try again in \
                 {retry_after} s"
            ),
            ApiError::OriginNotAllowed => {
                "this origin may not call the API from a browser (LINKWELL_CORS_ORIGINS)".into()
            }
            ApiError::Internal(_) => "an unexpected error occurred".into(),
        }
    }

    /// The problem body, with `instance` set to the request id when known.
    pub fn problem(&self, instance: Option<String>) -> Problem {
        let spec = self.spec();
        let errors = match self {
            ApiError::Validation(errors) => Some(errors.clone()),
            ApiError::BadRequest { errors, .. } | ApiError::Ineligible { errors, .. }
                if !errors.is_empty() =>
            {
                Some(errors.clone())
            }
            _ => None,
        };
        let existing_id = match self {
            ApiError::Duplicate { existing_id, .. } => Some(existing_id.clone()),
            _ => None,
        };
        let (current_status, allowed_transitions) = match self {
            ApiError::InvalidTransition { from, allowed, .. } => (
                Some((*from).to_owned()),
                Some(allowed.iter().map(|s| (*s).to_owned()).collect()),
            ),
            _ => (None, None),
        };
        Problem {
            type_: problem_type(spec.code),
            title: spec.title.to_owned(),
            status: spec.status.as_u16(),
            detail: self.detail(),
            code: spec.code.to_owned(),
            instance,
            errors,
            existing_id,
            current_status,
            allowed_transitions,
        }
        .bounded()
    }

    /// A 422 for domain rules broken by top-level body members, each named by its member.
    pub fn members(broken: Vec<(&'static str, Invalid)>) -> Self {
        ApiError::Validation(
            broken
                .into_iter()
                .map(|(member, e)| FieldError::at(format!("/{member}"), e.code, e.message))
                .collect(),
        )
    }

    /// A 400 for a bad query parameter, header or cursor.
    pub fn bad_parameter(name: &str, code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::BadRequest {
            code: "invalid_parameter",
            detail: format!("`{name}` {message}"),
            errors: vec![FieldError::parameter(name, code, message)],
        }
    }

    /// Builds the full HTTP response for this error.
    pub fn response(&self, instance: Option<String>) -> HttpResponse {
        let problem = self.problem(instance);
        let mut builder = HttpResponse::build(self.status_code());
        builder.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            ApiError::Unauthorized { invalid_token, .. } => {
                let challenge = if *invalid_token {
                    r#"Bearer realm="linkwell", error="invalid_token""#
                } else {
                    r#"Bearer realm="linkwell""#
                };
                builder.insert_header((header::WWW_AUTHENTICATE, challenge));
            }
            ApiError::MethodNotAllowed { allow } => {
                if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                    builder.insert_header((header::ALLOW, value));
                }
            }
            ApiError::Unavailable => {
                builder.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::UnsupportedEncoding => {
                // RFC 9110 §15.5.16: say which codings would have been accepted.
                builder.insert_header((header::ACCEPT_ENCODING, "identity"));
            }
            ApiError::RequestTimeout { .. } => {
                // The rest of the body may still come: the connection cannot carry another
                // request, so it closes once this answer is sent.
                builder.force_close();
            }
            ApiError::RateLimited { retry_after, .. } => {
                builder.insert_header((header::RETRY_AFTER, retry_after.max(&1).to_string()));
            }
            _ => {}
        }
        builder.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}

/// Places a domain rule's verdict at a body member: a 422 naming `pointer`.
pub fn at<T>(pointer: &str, result: Result<T, Invalid>) -> Result<T, ApiError> {
    result.map_err(|e| ApiError::Validation(vec![FieldError::at(pointer, e.code, e.message)]))
}

/// Parses an optional member at `pointer`: absent stays absent.
pub fn at_optional<F: Field>(
    pointer: &str,
    value: Option<&F>,
) -> Result<Option<F::Value>, ApiError> {
    at(pointer, value.map(F::parse).transpose())
}

/// A query parameter holding a code: absent is `None`, an unknown code is 400 naming it.
pub fn query_code<T>(name: &str, value: Option<&str>) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr<Err = linkwell_domain::UnknownCode>,
{
    value
        .map(|v| {
            v.parse::<T>().map_err(|e| {
                let invalid = Invalid::from(e);
                ApiError::bad_parameter(name, invalid.code, invalid.message)
            })
        })
        .transpose()
}

/// A query parameter holding an id: absent is `None`, anything but a UUID is 400 naming it.
pub fn query_uuid(name: &str, value: Option<&str>) -> Result<Option<uuid::Uuid>, ApiError> {
    value
        .map(|v| {
            uuid::Uuid::parse_str(v)
                .map_err(|_| ApiError::bad_parameter(name, "invalid_id", "must be a UUID"))
        })
        .transpose()
}

/// The problem type URI for a code: `https://linkwell.dev/problems/validation-failed`.
pub fn problem_type(code: &str) -> String {
    format!("{PROBLEM_BASE}{}", code.replace('_', "-"))
}

/// The generic problem for a status that no `ApiError` produced (the framework's own).
pub fn problem_for_status(status: StatusCode, instance: Option<String>) -> Problem {
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed { allow: Vec::new() },
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized {
            detail: "a bearer token is required".into(),
            invalid_token: false,
        },
        StatusCode::FORBIDDEN => ApiError::Forbidden,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: crate::extract::BODY_LIMIT_BYTES,
        },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable,
        s if s.is_client_error() => {
            let reason = s.canonical_reason().unwrap_or("Client error");
            return Problem {
                type_: problem_type("client_error"),
                title: reason.to_owned(),
                status: s.as_u16(),
                detail: reason.to_lowercase(),
                code: "client_error".into(),
                instance,
                errors: None,
                existing_id: None,
                current_status: None,
                allowed_transitions: None,
            }
            .bounded();
        }
        _ => ApiError::Internal(format!("status {status}")),
    };
    let mut problem = error.problem(instance);
    problem.status = status.as_u16();
    problem
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Internal(cause) => write!(f, "internal error: {cause}"),
            other => write!(f, "{}: {}", other.spec().code, other.detail()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.spec().status
    }

    fn error_response(&self) -> HttpResponse {
        self.response(None)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => {
                ApiError::Conflict("a concurrent change collided with this one; try again".into())
            }
            StoreError::Unavailable(cause) => {
                log::warn!("database unavailable: {cause}");
                ApiError::Unavailable
            }
            StoreError::Busy(cause) => {
                log::warn!("database busy, answering 503: {cause}");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derive takes only literals: they must be the bounds `bounded` applies.
    #[test]
    fn the_documented_problem_bounds_are_the_applied_ones() {
        use utoipa::PartialSchema;
        let problem = serde_json::to_value(Problem::schema()).unwrap_or_default();
        let field = serde_json::to_value(FieldError::schema()).unwrap_or_default();
        let max = |schema: &serde_json::Value, name: &str| {
            schema["properties"][name]["maxLength"]
                .as_u64()
                .unwrap_or(0) as usize
        };
        assert_eq!(max(&problem, "type"), limits::TYPE_CHARS);
        assert_eq!(max(&problem, "title"), limits::TITLE_CHARS);
        assert_eq!(max(&problem, "detail"), limits::DETAIL_CHARS);
        assert_eq!(max(&problem, "code"), limits::CODE_CHARS);
        assert_eq!(max(&field, "code"), limits::CODE_CHARS);
        assert_eq!(max(&field, "message"), limits::MESSAGE_CHARS);
        assert_eq!(max(&field, "pointer"), limits::NAME_CHARS);
        assert_eq!(max(&field, "parameter"), limits::NAME_CHARS);
        assert_eq!(
            problem["properties"]["errors"]["maxItems"].as_u64(),
            Some(limits::FIELD_ERRORS as u64)
        );
        assert_eq!(
            problem["properties"]["allowed_transitions"]["maxItems"].as_u64(),
            Some(limits::TRANSITIONS as u64)
        );

        let long = ApiError::BadRequest {
            code: "invalid_parameter",
            detail: "x".repeat(10_000),
            errors: vec![FieldError::parameter("p".repeat(900), "c", "m".repeat(5000)); 300],
        }
        .problem(None);
        assert_eq!(long.detail.chars().count(), limits::DETAIL_CHARS);
        assert!(long.detail.ends_with('…'));
        let errors = long.errors.unwrap_or_default();
        assert_eq!(errors.len(), limits::FIELD_ERRORS);
        assert!(errors.iter().all(|e| {
            e.message.chars().count() == limits::MESSAGE_CHARS
                && e.parameter
                    .as_ref()
                    .is_some_and(|p| p.chars().count() == limits::NAME_CHARS)
        }));
    }

    #[test]
    fn every_problem_names_its_status_and_a_stable_type() {
        let samples = [
            ApiError::BadRequest {
                code: "malformed_json",
                detail: "x".into(),
                errors: vec![],
            },
            ApiError::Forbidden,
            ApiError::NotFound,
            ApiError::Validation(vec![FieldError::at("/a", "blank", "must not be blank")]),
            ApiError::Unavailable,
            ApiError::Internal("secret cause".into()),
        ];
        for error in samples {
            let problem = error.problem(Some("req-1".into()));
            assert_eq!(problem.status, error.status_code().as_u16());
            assert_eq!(problem.type_, problem_type(&problem.code));
            assert!(!problem.detail.contains("secret"));
        }
    }
}
