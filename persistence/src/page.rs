//! Keyset pagination: a page starts after the last item of the previous one, by an immutable
//! timestamp and the id that breaks ties. Never OFFSET: inserts cannot shift a page.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The position after which the next page starts (newest first: strictly older than this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}
