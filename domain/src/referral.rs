//! Referrals: who was referred, why, by whom, and where the referral is in its lifecycle.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::text::TextRule;
use crate::{Invalid, Person};

code_list! {
    /// The route by which the person came to the service.
    pub enum ReferralSource as "source" {
        GpPractice = "gp_practice",
        SelfReferral = "self",
        FamilyOrFriend = "family_or_friend",
        OtherAgency = "other_agency",
        Community = "community",
    }
}

code_list! {
    /// A non-medical need behind the referral.
    pub enum Reason as "reason" {
        EmotionalWellbeing = "emotional_wellbeing",
        Loneliness = "loneliness",
        Housing = "housing",
        MoneyAndBenefits = "money_and_benefits",
        EmploymentAndSkills = "employment_and_skills",
        HealthyLifestyle = "healthy_lifestyle",
        Family = "family",
        CaringResponsibilities = "caring_responsibilities",
        Bereavement = "bereavement",
        LongTermCondition = "long_term_condition",
        Other = "other",
    }
}

code_list! {
    /// Where a referral is in its lifecycle (mapped to FHIR Task statuses).
    pub enum ReferralStatus as "status" {
        Received = "received",
        Accepted = "accepted",
        Active = "active",
        OnHold = "on_hold",
        Declined = "declined",
        Rejected = "rejected",
        Closed = "closed",
        Withdrawn = "withdrawn",
        EnteredInError = "entered_in_error",
    }
}

impl ReferralStatus {
    /// The statuses this one may move to; empty for final statuses (a new episode is a new
    /// referral).
    pub fn next(self) -> &'static [ReferralStatus] {
        use ReferralStatus::*;
        match self {
            Received => &[
                Accepted,
                Declined,
                Rejected,
                Withdrawn,
                Closed,
                EnteredInError,
            ],
            Accepted => &[Active, Declined, Withdrawn, Closed, EnteredInError],
            Active => &[OnHold, Closed, EnteredInError],
            OnHold => &[Active, Closed, EnteredInError],
            Declined | Rejected | Closed | Withdrawn | EnteredInError => &[],
        }
    }

    /// No way out: the episode is over.
    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }

    /// Moving into this status must be explained.
    pub fn needs_reason(self) -> bool {
        use ReferralStatus::*;
        matches!(
            self,
            Declined | Rejected | OnHold | Closed | Withdrawn | EnteredInError
        )
    }

    /// Checks a move to `to`, with or without a reason.
    pub fn transition(self, to: ReferralStatus, has_reason: bool) -> Result<(), Invalid> {
        if !self.next().contains(&to) {
            return Err(Invalid::new(
                "invalid_transition",
                format!("a referral cannot move from `{self}` to `{to}`"),
            ));
        }
        if to.needs_reason() && !has_reason {
            return Err(Invalid::new(
                "reason_required",
                format!("moving a referral to `{to}` needs a reason"),
            ));
        }
        Ok(())
    }
}

/// The needs behind a referral: at least one, each at most once, in code-list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reasons(BTreeSet<Reason>);

impl Reasons {
    /// Rejects an empty list and repeats.
    pub fn new(reasons: impl IntoIterator<Item = Reason>) -> Result<Self, Invalid> {
        let mut set = BTreeSet::new();
        for reason in reasons {
            if !set.insert(reason) {
                return Err(Invalid::new(
                    "duplicate",
                    format!("lists `{reason}` more than once"),
                ));
            }
        }
        if set.is_empty() {
            return Err(Invalid::new("empty", "must list at least one reason"));
        }
        Ok(Self(set))
    }

    pub fn iter(&self) -> impl Iterator<Item = Reason> + '_ {
        self.0.iter().copied()
    }

    pub fn contains(&self, reason: Reason) -> bool {
        self.0.contains(&reason)
    }
}

/// Sharing the referral with the service needs the person's consent.
pub fn require_consent(consent_to_share: bool) -> Result<(), Invalid> {
    if consent_to_share {
        Ok(())
    } else {
        Err(Invalid::new(
            "consent_required",
            "the person must consent to sharing their details with the service",
        ))
    }
}

/// A referral's summary: free text, lines allowed.
pub const SUMMARY: TextRule = TextRule::lines(4000);
/// The sending system's own reference: one line.
pub const EXTERNAL_REFERENCE: TextRule = TextRule::line(100);

/// A referral as it arrives, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReferral {
    pub person: Person,
    pub source: ReferralSource,
    pub reasons: Reasons,
    pub summary: Option<String>,
    pub external_reference: Option<String>,
}

/// A stored referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub id: Uuid,
    pub status: ReferralStatus,
    pub person: Person,
    pub source: ReferralSource,
    pub reasons: Reasons,
    pub summary: Option<String>,
    /// The referring organisation, from the referrer's credentials; `None` when staff entered
    /// the referral themselves.
    pub referrer_org_id: Option<Uuid>,
    pub external_reference: Option<String>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Starts at 1, grows by one with each change; the ETag.
    pub version: i64,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn any_status() -> impl Strategy<Value = ReferralStatus> {
        proptest::sample::select(ReferralStatus::ALL)
    }

    #[test]
    fn codes_round_trip() {
        for status in ReferralStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(*status));
        }
        for reason in Reason::ALL {
            assert_eq!(reason.as_str().parse(), Ok(*reason));
        }
        assert_eq!("self".parse(), Ok(ReferralSource::SelfReferral));
        assert!("Housing".parse::<Reason>().is_err());
    }

    #[test]
    fn the_lifecycle_table() {
        use ReferralStatus::*;
        assert_eq!(Received.transition(Accepted, false), Ok(()));
        assert_eq!(Accepted.transition(Active, false), Ok(()));
        assert_eq!(OnHold.transition(Active, false), Ok(()));
        assert_eq!(
            Active.transition(OnHold, false).map_err(|e| e.code),
            Err("reason_required")
        );
        assert_eq!(Active.transition(OnHold, true), Ok(()));
        assert_eq!(
            Active.transition(Declined, true).map_err(|e| e.code),
            Err("invalid_transition")
        );
        assert_eq!(
            Received.transition(Active, false).map_err(|e| e.code),
            Err("invalid_transition")
        );
        let finals: Vec<_> = ReferralStatus::ALL
            .iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [&Declined, &Rejected, &Closed, &Withdrawn, &EnteredInError]
        );
    }

    #[test]
    fn reasons_are_a_non_empty_set() {
        assert_eq!(Reasons::new([]).map_err(|e| e.code), Err("empty"));
        assert_eq!(
            Reasons::new([Reason::Housing, Reason::Housing]).map_err(|e| e.code),
            Err("duplicate")
        );
        let reasons = Reasons::new([Reason::Loneliness, Reason::EmotionalWellbeing]);
        assert_eq!(
            reasons.map(|r| r.iter().collect::<Vec<_>>()),
            Ok(vec![Reason::EmotionalWellbeing, Reason::Loneliness])
        );
    }

    proptest! {
        #[test]
        fn nothing_leaves_a_final_status(from in any_status(), to in any_status(), reason: bool) {
            if from.is_final() {
                prop_assert!(from.transition(to, reason).is_err());
            }
        }

        #[test]
        fn no_status_moves_to_itself_or_back_to_received(from in any_status(), reason: bool) {
            prop_assert!(from.transition(from, reason).is_err());
            prop_assert!(from.transition(ReferralStatus::Received, reason).is_err());
        }

        #[test]
        fn allowed_moves_pass_exactly_when_explained_if_needed(from in any_status(), to in any_status()) {
            let allowed = from.next().contains(&to);
            prop_assert_eq!(from.transition(to, true).is_ok(), allowed);
            prop_assert_eq!(from.transition(to, false).is_ok(), allowed && !to.needs_reason());
        }

        #[test]
        fn every_status_is_reachable_from_received(to in any_status()) {
            let mut seen = vec![ReferralStatus::Received];
            let mut i = 0;
            while i < seen.len() {
                for next in seen[i].next() {
                    if !seen.contains(next) { seen.push(*next); }
                }
                i += 1;
            }
            prop_assert!(seen.contains(&to));
        }
    }
}
