//! How values look on the wire: RFC 3339 UTC timestamps with microseconds.

use actix_web::http::header::{self, HeaderName};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// `2026-03-18T09:30:00.000000Z`: fixed width, so timestamps sort as strings too.
pub fn timestamp<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp(*at))
}

/// [`timestamp`] as text, for prose such as a problem's `detail`.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// [`timestamp`], or `null`.
pub fn optional_timestamp<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => timestamp(at, s),
        None => s.serialize_none(),
    }
}

/// `200 OK` with a resource and its version as the `ETag`: the answer to every read by id and
/// every change.
pub fn current(version: i64, view: &impl serde::Serialize) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .insert_header(etag(version))
        .json(view)
}

/// The `ETag` header for a resource's version: `"3"`.
pub fn etag(version: i64) -> (HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}
