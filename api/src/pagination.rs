//! Cursor pagination. A cursor is the last item's position, signed so a client cannot forge or
//! alter one, and bound to the list and filters it came from so it cannot be replayed on another.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use hmac::{Hmac, Mac};
use linkwell_persistence::Keyset;
use linkwell_persistence::referrals::FeedPosition;
use sha2::Sha256;
use uuid::Uuid;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

/// The key that signs cursors.
pub struct CursorKey([u8; 32]);

impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// Derives the cursor key from the server secret, so no second secret needs managing.
    pub fn derive(secret: &[u8]) -> Self {
        Self(sign(secret, b"linkwell cursor key v1"))
    }

    /// A cursor that resumes after `position`, valid only for `scope`.
    pub fn encode<P: Position>(&self, position: P, scope: &str) -> String {
        let (n, id) = position.parts();
        let payload = format!("{n}.{id}");
        let tag = sign(&self.0, format!("{scope}|{payload}").as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The position a request's optional `cursor` resumes after.
    pub fn after<P: Position>(
        &self,
        cursor: Option<&str>,
        scope: &str,
    ) -> Result<Option<P>, ApiError> {
        cursor.map(|c| self.decode(c, scope)).transpose()
    }

    /// Checks and reads a cursor made by [`encode`](Self::encode) for the same `scope`.
    pub fn decode<P: Position>(&self, cursor: &str, scope: &str) -> Result<P, ApiError> {
        let bad = || {
            ApiError::bad_parameter(
                "cursor",
                "invalid_cursor",
                "is not a cursor from this list with these filters",
            )
        };
        let (payload, tag) = cursor.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        let payload = String::from_utf8(payload).map_err(|_| bad())?;
        let mut mac = mac(&self.0);
        mac.update(format!("{scope}|{payload}").as_bytes());
        mac.verify_slice(&tag).map_err(|_| bad())?;
        let (n, id) = payload.split_once('.').ok_or_else(bad)?;
        let n = n.parse::<i64>().map_err(|_| bad())?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        P::from_parts(n, id).ok_or_else(bad)
    }
}

/// The longest cursor: its documented `maxLength` (literal in the `#[param]` attributes, which
/// take no constants), refused past it by `params`.
pub const CURSOR_MAX_CHARS: usize = 120;

/// `next_cursor` as documented: what [`CursorKey::encode`] writes.
#[derive(Debug)]
pub struct Cursor;

impl utoipa::PartialSchema for Cursor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"))
            .max_length(Some(CURSOR_MAX_CHARS))
            .description(Some("An opaque position in a list, for `cursor`."))
            .into()
    }
}

impl utoipa::ToSchema for Cursor {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Cursor")
    }
}

/// A page of any list: at most [`MAX_LIMIT`] items, and where the next page starts. Its schema
/// is the component `{Item}Page` for items of the component `{Item}`: each list documents a
/// page of its own, and every page is this one type.
#[derive(Debug, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `None` after the last page of a list; a change feed always gives one.
    pub next_cursor: Option<String>,
}

type SchemaRef = utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>;

/// The page's schema. utoipa derives `PartialSchema` from this (its derive's own output for a
/// generic type would inline the items' schema under a name like `Page_Goal`).
impl<T: utoipa::ToSchema> utoipa::__dev::ComposeSchema for Page<T> {
    fn compose(_: Vec<SchemaRef>) -> SchemaRef {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        use utoipa::openapi::{Ref, RefOr};
        let item = T::name();
        let mut cursor = Ref::from_schema_name(<Cursor as utoipa::ToSchema>::name());
        cursor.description = "Pass as `cursor` for the next page; `null` after the last page \
                              of a list (a change feed always gives one)."
            .to_owned();
        ObjectBuilder::new()
            .description(Some(format!("A page of `{item}` items.")))
            .property(
                "items",
                ArrayBuilder::new()
                    .items(RefOr::Ref(Ref::from_schema_name(item.clone())))
                    .max_items(Some(usize::try_from(MAX_LIMIT).unwrap_or(usize::MAX))),
            )
            .required("items")
            .property(
                "next_cursor",
                OneOfBuilder::new()
                    .item(cursor)
                    .item(ObjectBuilder::new().schema_type(Type::Null)),
            )
            .required("next_cursor")
            .into()
    }
}

impl<T: utoipa::ToSchema> utoipa::ToSchema for Page<T> {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Owned(format!("{}Page", T::name()))
    }

    fn schemas(schemas: &mut Vec<(String, SchemaRef)>) {
        use utoipa::PartialSchema;
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
        schemas.push((Cursor::name().into_owned(), Cursor::schema()));
    }
}

/// A place in an ordered list that a cursor can hold: a number and an id.
pub trait Position: Sized {
    fn parts(&self) -> (i64, Uuid);
    fn from_parts(n: i64, id: Uuid) -> Option<Self>;
}

/// Newest-first lists: a timestamp (as microseconds) and an id.
impl Position for Keyset {
    fn parts(&self) -> (i64, Uuid) {
        (self.at.timestamp_micros(), self.id)
    }

    fn from_parts(n: i64, id: Uuid) -> Option<Self> {
        DateTime::from_timestamp_micros(n).map(|at| Keyset { at, id })
    }
}

/// The change feed: a change position and an id.
impl Position for FeedPosition {
    fn parts(&self) -> (i64, Uuid) {
        (self.seq, self.id)
    }

    fn from_parts(seq: i64, id: Uuid) -> Option<Self> {
        Some(FeedPosition { seq, id })
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

fn sign(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = mac(key);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Paging for a list with no filters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` from the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", max_length = 120)]
    pub cursor: Option<String>,
}

/// Checks `limit`: a whole number from 1 to 100, 50 when absent. Parsed here rather than by
/// serde so the error can name the parameter.
pub fn limit(requested: Option<&str>) -> Result<i64, ApiError> {
    let Some(text) = requested else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_parameter(
            "limit",
            "out_of_range",
            format!("must be a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// A `true`/`false` query parameter; absent is `None`.
pub fn flag(name: &str, value: Option<&str>) -> Result<Option<bool>, ApiError> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::bad_parameter(
            name,
            "invalid_boolean",
            "must be true or false",
        )),
    }
}

/// Where a change feed resumes: after the last change shown when the page was full (more may
/// follow at once), else at the horizon (caught up), and never before where this page started.
pub fn resume_at(
    full: bool,
    last: Option<FeedPosition>,
    horizon: FeedPosition,
    after: Option<FeedPosition>,
) -> FeedPosition {
    let next = if full { last } else { Some(horizon) };
    next.max(after).unwrap_or(horizon)
}

/// Fetches `limit + 1` to learn whether another page exists; trims and makes its cursor.
pub fn finish<T, F>(
    mut rows: Vec<T>,
    limit: i64,
    key: F,
    cursors: &CursorKey,
    scope: &str,
) -> (Vec<T>, Option<String>)
where
    F: Fn(&T) -> Keyset,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let cursor = rows.last().map(|last| cursors.encode(key(last), scope));
    (rows, cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyset() -> Keyset {
        Keyset {
            at: DateTime::from_timestamp_micros(1_773_826_200_123_456).unwrap_or_default(),
            id: Uuid::now_v7(),
        }
    }

    #[test]
    fn a_cursor_round_trips_in_its_scope_only() {
        let key = CursorKey::derive(b"0123456789abcdef0123456789abcdef");
        let k = keyset();
        let cursor = key.encode(k, "referrals|status=received");
        assert_eq!(
            key.decode::<Keyset>(&cursor, "referrals|status=received")
                .ok(),
            Some(k)
        );
        assert!(
            key.decode::<Keyset>(&cursor, "referrals|status=active")
                .is_err()
        );
        let other = CursorKey::derive(b"another secret of at least 32 bytes!");
        assert!(
            other
                .decode::<Keyset>(&cursor, "referrals|status=received")
                .is_err()
        );
    }

    /// The `cursor` parameters and `next_cursor` are documented as at most 120 characters:
    /// the longest position (a negative `i64` and an id) encodes within it.
    #[test]
    fn the_longest_cursor_fits_its_documented_bound() {
        let key = CursorKey::derive(b"0123456789abcdef0123456789abcdef");
        let cursor = key.encode(
            FeedPosition {
                seq: i64::MIN,
                id: Uuid::max(),
            },
            "scope",
        );
        assert!(cursor.len() <= CURSOR_MAX_CHARS, "{}", cursor.len());
    }

    #[test]
    fn a_tampered_cursor_is_rejected() {
        let key = CursorKey::derive(b"0123456789abcdef0123456789abcdef");
        let cursor = key.encode(keyset(), "s");
        let (payload, tag) = cursor.split_once('.').unwrap_or_default();
        let forged_payload = URL_SAFE_NO_PAD.encode(format!("0.{}", Uuid::nil()));
        for bad in [
            format!("{forged_payload}.{tag}"),
            format!("{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 32])),
            format!("{payload}x.{tag}"),
            "garbage".to_owned(),
            String::new(),
        ] {
            assert!(key.decode::<Keyset>(&bad, "s").is_err(), "{bad}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None).ok(), Some(50));
        assert_eq!(limit(Some("1")).ok(), Some(1));
        assert_eq!(limit(Some("100")).ok(), Some(100));
        for bad in ["101", "0", "-1", "ten", "", "1.5", "99999999999999999999"] {
            assert!(limit(Some(bad)).is_err(), "{bad}");
        }
    }
}
