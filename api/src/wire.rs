//! How values look on the wire: RFC 3339 UTC timestamps with microseconds.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// `2026-03-18T09:30:00.000000Z`: fixed width, so timestamps sort as strings too.
pub fn timestamp<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
}
