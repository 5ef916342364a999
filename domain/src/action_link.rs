//! One-time action links: for a receiving organisation without a login, staff issue a link
//! that lets whoever holds it see that one connection's consented details and answer it once
//! (accept, reject, start, complete…). It expires, it is used up by its answer, and the server
//! signs it, so an altered one names nothing.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// How long a link works unless used first.
pub const LIFETIME_DAYS: i64 = 14;

/// An issued link, as stored (the token itself is never stored: it is the link's id signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionLink {
    pub id: Uuid,
    pub connection_id: Uuid,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When its one answer was made.
    pub used_at: Option<DateTime<Utc>>,
}

/// Why a link does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefused {
    /// Not a link this server issued, or altered since.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Its one answer was made.
    Used,
    /// The connection it is for is over (answered another way, cancelled, consent withdrawn).
    Closed,
}

impl LinkRefused {
    pub fn code(self) -> &'static str {
        match self {
            LinkRefused::Invalid => "action_link_invalid",
            LinkRefused::Expired => "action_link_expired",
            LinkRefused::Used => "action_link_used",
            LinkRefused::Closed => "action_link_closed",
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            LinkRefused::Invalid => "this is not a working link: ask the service for a new one",
            LinkRefused::Expired => "this link has expired: ask the service for a new one",
            LinkRefused::Used => "this link has been used: each link answers once",
            LinkRefused::Closed => "the request this link is for is over",
        }
    }
}

impl ActionLink {
    /// A link for `connection_id`, working from `now` for [`LIFETIME_DAYS`].
    pub fn issue(id: Uuid, connection_id: Uuid, created_by: String, now: DateTime<Utc>) -> Self {
        Self {
            id,
            connection_id,
            created_by,
            created_at: now,
            expires_at: now + Duration::days(LIFETIME_DAYS),
            used_at: None,
        }
    }

    /// Whether it works at `now`, for a connection that is `open`. A used link says so before
    /// an expired one: its holder did answer.
    pub fn check(&self, now: DateTime<Utc>, open: bool) -> Result<(), LinkRefused> {
        if self.used_at.is_some() {
            return Err(LinkRefused::Used);
        }
        if now >= self.expires_at {
            return Err(LinkRefused::Expired);
        }
        if !open {
            return Err(LinkRefused::Closed);
        }
        Ok(())
    }

    /// Spends it on its one answer.
    pub fn use_up(&mut self, now: DateTime<Utc>) {
        self.used_at = Some(now);
    }

    /// What its signature covers: which link, for which connection. Its expiry and use are
    /// the store's to say.
    pub fn signed_message(&self) -> String {
        format!("action-link|{}|{}", self.id, self.connection_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_once_until_it_expires_while_its_connection_is_open() {
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default();
        let mut link = ActionLink::issue(Uuid::nil(), Uuid::max(), "jo".into(), now);
        assert_eq!(link.check(now, true), Ok(()));
        assert_eq!(link.check(now, false), Err(LinkRefused::Closed));
        let end = now + Duration::days(LIFETIME_DAYS);
        assert_eq!(link.check(end - Duration::microseconds(1), true), Ok(()));
        assert_eq!(link.check(end, true), Err(LinkRefused::Expired));
        link.use_up(now);
        assert_eq!(link.check(now, true), Err(LinkRefused::Used));
        assert_eq!(link.check(end, false), Err(LinkRefused::Used));
    }
}
