//! The person's consent, recorded as acts: given or withdrawn, by whom, when, for what scope.
//! A referral arrives with consent to share (`consent_to_share` must be `true`); it holds until
//! withdrawn. Withdrawing sharing with partners cancels every open connection of the referral
//! at once, and no new connection is made until consent is given again.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Role;
use crate::codes::code_list;
use crate::connection::ConnectionStatus;
use crate::text::TextRule;

code_list! {
    /// What the person said.
    pub enum ConsentStatus as "status" {
        Given = "given",
        Withdrawn = "withdrawn",
    }
}

code_list! {
    /// What the consent is for. One scope today; more may come (each recorded on its own).
    pub enum ConsentScope as "scope" {
        /// Sharing the person's details with partner organisations through connections.
        SharingWithPartners = "sharing_with_partners",
    }
}

/// The free-text reason given with a consent act; lines allowed.
pub const REASON: TextRule = TextRule::lines(1000);

/// One consent act, as kept: the history is every act, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub scope: ConsentScope,
    pub status: ConsentStatus,
    pub reason: Option<String>,
    /// Who recorded it: the token's subject, and the role it acted in.
    pub actor_sub: String,
    pub actor_role: Role,
    /// Server time.
    pub recorded_at: DateTime<Utc>,
}

impl ConsentScope {
    /// Whether the scope allows what it covers, given its latest act (`None`: none recorded
    /// since the referral arrived, with consent).
    pub fn allows(latest: Option<ConsentStatus>) -> bool {
        latest != Some(ConsentStatus::Withdrawn)
    }
}

impl ConsentRecord {
    /// Whether recording this act stops connections in `status`: a withdrawal of sharing with
    /// partners stops every open one (final ones are left as they ended).
    pub fn stops(&self, status: ConnectionStatus) -> bool {
        self.scope == ConsentScope::SharingWithPartners
            && self.status == ConsentStatus::Withdrawn
            && !status.is_final()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: ConsentStatus) -> ConsentRecord {
        ConsentRecord {
            id: Uuid::nil(),
            referral_id: Uuid::nil(),
            scope: ConsentScope::SharingWithPartners,
            status,
            reason: None,
            actor_sub: "jo".into(),
            actor_role: Role::Coordinator,
            recorded_at: DateTime::from_timestamp(1_773_826_200, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn consent_holds_until_withdrawn() {
        assert!(ConsentScope::allows(None));
        assert!(ConsentScope::allows(Some(ConsentStatus::Given)));
        assert!(!ConsentScope::allows(Some(ConsentStatus::Withdrawn)));
    }

    #[test]
    fn a_withdrawal_stops_exactly_the_open_connections() {
        for status in ConnectionStatus::ALL {
            assert_eq!(
                record(ConsentStatus::Withdrawn).stops(*status),
                !status.is_final(),
                "{status}"
            );
            assert!(!record(ConsentStatus::Given).stops(*status), "{status}");
        }
    }
}
