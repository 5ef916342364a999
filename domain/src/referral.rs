//! Referrals: who was referred, why, by whom, and where the referral is in its lifecycle.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::self_referral::Introducer;
use crate::text::TextRule;
use crate::{ClosureReason, GpRecordCode, Invalid, Move, Need, NeedCode, OrganisationKind, Person};

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

impl ReferralSource {
    /// The route a referral sent by an organisation of `kind` came by: a GP practice's is
    /// `gp_practice`; an agency's (hospital, social care, housing, police, job centre…) or a
    /// partner's referring onward (Citizens Advice, housing support, counselling)
    /// `other_agency`; a community group's `community`. A person
    /// referring themselves, or introduced by family or friends, comes by self-referral or
    /// through staff, never through an organisation's system.
    pub fn of_organisation(kind: OrganisationKind) -> ReferralSource {
        match kind {
            OrganisationKind::GpPractice => ReferralSource::GpPractice,
            OrganisationKind::Agency | OrganisationKind::Partner => ReferralSource::OtherAgency,
            OrganisationKind::CommunityGroup => ReferralSource::Community,
        }
    }

    /// The source of a referral: sent by an organisation of kind `sender` (`None` when staff
    /// enter it), claiming `claimed`. An organisation's referral comes by its own route: left
    /// out, that is the source; any other is refused. Staff enter referrals that came by any
    /// route (a phone call, a letter, a walk-in), so they must say which.
    pub fn for_sender(
        sender: Option<OrganisationKind>,
        claimed: Option<ReferralSource>,
    ) -> Result<ReferralSource, Invalid> {
        match (sender, claimed) {
            (Some(kind), None) => Ok(Self::of_organisation(kind)),
            (Some(kind), Some(claimed)) if claimed == Self::of_organisation(kind) => Ok(claimed),
            (Some(kind), Some(claimed)) => Err(Invalid::new(
                "source_not_allowed",
                format!(
                    "a referral from a `{kind}` organisation comes by `{}`, not `{claimed}` (leave `source` out to use it)",
                    Self::of_organisation(kind)
                ),
            )),
            (None, Some(claimed)) => Ok(claimed),
            (None, None) => Err(Invalid::new(
                "required",
                "say how the person came to the service when staff enter a referral",
            )),
        }
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
}

/// The needs behind a referral (or that a service meets): at least one, each at most once, in
/// code-list order. Each is a reason or a specific need under one; a specific need brings its
/// reason, so the reasons ([`Reasons::iter`]) are the first level whatever was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reasons {
    reasons: BTreeSet<Reason>,
    needs: BTreeSet<Need>,
}

impl Reasons {
    /// Rejects an empty list and repeats.
    pub fn new(reasons: impl IntoIterator<Item = Reason>) -> Result<Self, Invalid> {
        Self::of(reasons.into_iter().map(NeedCode::Reason))
    }

    /// Codes of either level; rejects an empty list and repeats.
    pub fn of(codes: impl IntoIterator<Item = NeedCode>) -> Result<Self, Invalid> {
        let mut given = BTreeSet::new();
        for code in codes {
            if !given.insert(code) {
                return Err(Invalid::new(
                    "duplicate",
                    format!("lists `{}` more than once", code.as_str()),
                ));
            }
        }
        if given.is_empty() {
            return Err(Invalid::new("empty", "must list at least one reason"));
        }
        Ok(Self {
            reasons: given.iter().map(|c| c.reason()).collect(),
            needs: given
                .iter()
                .filter_map(|c| match c {
                    NeedCode::Need(n) => Some(*n),
                    NeedCode::Reason(_) => None,
                })
                .collect(),
        })
    }

    /// Codes as sent, of either level: each item's error names its index.
    pub fn parse(codes: &[impl AsRef<str>]) -> Result<Self, Invalid> {
        let mut parsed = Vec::with_capacity(codes.len());
        for (index, code) in codes.iter().enumerate() {
            parsed.push(NeedCode::parse(code.as_ref()).map_err(|e| {
                let invalid = Invalid::from(e);
                Invalid::new(invalid.code, format!("item {index} {}", invalid.message))
            })?);
        }
        Self::of(parsed)
    }

    /// The reasons, first level: those given and those of the specific needs given.
    pub fn iter(&self) -> impl Iterator<Item = Reason> + '_ {
        self.reasons.iter().copied()
    }

    /// The specific needs given.
    pub fn needs(&self) -> impl Iterator<Item = Need> + '_ {
        self.needs.iter().copied()
    }

    pub fn contains(&self, reason: Reason) -> bool {
        self.reasons.contains(&reason)
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
    /// The person's record; several referrals (episodes) may share it.
    pub person_id: Uuid,
    /// Why the referral entered its current status, when that needed a reason.
    pub status_reason: Option<String>,
    /// Why it was closed; set only while `closed`.
    pub closure_reason: Option<ClosureReason>,
    /// What the GP record should hold about this episode: set on acceptance or decline.
    pub gp_record_code: Option<GpRecordCode>,
    /// The link worker it is assigned to.
    pub assignee_id: Option<Uuid>,
    /// The team that owns it; `None` until it is first handed to one.
    pub team_id: Option<Uuid>,
    /// When a link worker first reached the person.
    pub first_contact_at: Option<DateTime<Utc>>,
    /// Another person's record that this referral's person may duplicate (derived from the
    /// person's record; a link worker merges or dismisses it).
    pub possible_duplicate_of: Option<Uuid>,
    /// Why (derived from the person's record with `possible_duplicate_of`).
    pub possible_duplicate_reason: Option<crate::DuplicateReason>,
    /// A short reference the person or the sender can quote, e.g. `LW-7K3M9Q`.
    pub reference: String,
    /// Who introduced the person, for a self-referral made by someone who knows them.
    pub introduced_by: Option<Introducer>,
}

impl Referral {
    /// A referral just received.
    pub fn received(
        id: Uuid,
        new: NewReferral,
        person_id: Uuid,
        referrer_org_id: Option<Uuid>,
        reference: String,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            status: ReferralStatus::Received,
            person: new.person,
            source: new.source,
            reasons: new.reasons,
            summary: new.summary,
            referrer_org_id,
            external_reference: new.external_reference,
            received_at: at,
            updated_at: at,
            version: 1,
            person_id,
            status_reason: None,
            closure_reason: None,
            gp_record_code: None,
            assignee_id: None,
            team_id: None,
            first_contact_at: None,
            possible_duplicate_of: None,
            possible_duplicate_reason: None,
            reference,
            introduced_by: None,
        }
    }

    /// Marks a change made at `at`: a new version.
    pub fn touch(&mut self, at: DateTime<Utc>) {
        self.updated_at = at;
        self.version += 1;
    }

    /// Makes a move already checked with [`ReferralStatus::check_move`].
    pub fn apply(&mut self, mv: Move, at: DateTime<Utc>) {
        self.status = mv.to;
        self.status_reason = mv.reason;
        self.closure_reason = mv.reason_code;
        if let Some(code) = mv.to.gp_record_code() {
            self.gp_record_code = Some(code);
        }
        self.touch(at);
    }

    /// Records when a link worker first reached the person: not before the referral arrived,
    /// not in the future (`now`).
    pub fn set_first_contact(
        &mut self,
        at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), Invalid> {
        match at {
            Some(at) if at < self.received_at => Err(Invalid::new(
                "before_received",
                "must not be before the referral was received",
            )),
            Some(at) if at > now => Err(Invalid::new("in_future", "must not be in the future")),
            _ => {
                self.first_contact_at = at;
                Ok(())
            }
        }
    }

    /// Whole days from receipt to the first contact, or to `today` while there is none.
    pub fn days_waiting(&self, today: NaiveDate) -> i64 {
        let until = self.first_contact_at.map_or(today, |at| at.date_naive());
        (until - self.received_at.date_naive()).num_days().max(0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn an_organisation_refers_by_its_own_route_and_staff_say_which() {
        use OrganisationKind as K;
        use ReferralSource as S;
        assert_eq!(S::for_sender(Some(K::GpPractice), None), Ok(S::GpPractice));
        assert_eq!(S::for_sender(Some(K::Agency), None), Ok(S::OtherAgency));
        // A partner referring a person onward is an agency in the network.
        assert_eq!(S::for_sender(Some(K::Partner), None), Ok(S::OtherAgency));
        assert_eq!(
            S::for_sender(Some(K::CommunityGroup), None),
            Ok(S::Community)
        );
        assert_eq!(
            S::for_sender(Some(K::Agency), Some(S::OtherAgency)),
            Ok(S::OtherAgency)
        );
        for claimed in [
            S::GpPractice,
            S::SelfReferral,
            S::FamilyOrFriend,
            S::Community,
        ] {
            assert_eq!(
                S::for_sender(Some(K::Agency), Some(claimed)).map_err(|e| e.code),
                Err("source_not_allowed")
            );
        }
        assert_eq!(
            S::for_sender(Some(K::GpPractice), Some(S::SelfReferral)).map_err(|e| e.code),
            Err("source_not_allowed")
        );
        assert_eq!(
            S::for_sender(None, Some(S::SelfReferral)),
            Ok(S::SelfReferral)
        );
        assert_eq!(
            S::for_sender(None, None).map_err(|e| e.code),
            Err("required")
        );
    }

    proptest! {
        #[test]
        fn an_organisation_may_claim_only_its_own_route(
            kind in proptest::sample::select(OrganisationKind::ALL),
            claimed in proptest::sample::select(ReferralSource::ALL),
        ) {
            let result = ReferralSource::for_sender(Some(kind), Some(claimed));
            prop_assert_eq!(result.is_ok(), claimed == ReferralSource::of_organisation(kind));
        }
    }

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
    fn days_waiting_runs_to_first_contact_or_today() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap_or_default();
        let at = |d: u32| day(d).and_hms_opt(9, 0, 0).unwrap_or_default().and_utc();
        let new = NewReferral {
            person: Person {
                given_name: "Sam".into(),
                family_name: "Jones".into(),
                date_of_birth: crate::DateOfBirth::new(day(1), day(1))
                    .unwrap_or_else(|_| unreachable!()),
                nhs_number: None,
                phone: None,
                email: None,
                postcode: None,
                address: None,
                preferred_contact: None,
            },
            source: ReferralSource::SelfReferral,
            reasons: Reasons::new([Reason::Loneliness]).unwrap_or_else(|_| unreachable!()),
            summary: None,
            external_reference: None,
        };
        let mut referral = Referral::received(
            Uuid::nil(),
            new,
            Uuid::nil(),
            None,
            "LW-222222".into(),
            at(2),
        );
        assert_eq!(referral.days_waiting(day(2)), 0);
        assert_eq!(referral.days_waiting(day(12)), 10);
        referral.first_contact_at = Some(at(5));
        assert_eq!(referral.days_waiting(day(12)), 3);
    }

    #[test]
    fn specific_needs_roll_up_to_their_reasons() {
        let r = Reasons::parse(&["debt_advice", "loneliness", "money_and_benefits"])
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            r.iter().collect::<Vec<_>>(),
            [Reason::Loneliness, Reason::MoneyAndBenefits]
        );
        assert_eq!(r.needs().collect::<Vec<_>>(), [Need::DebtAdvice]);
        assert_eq!(
            Reasons::parse(&["befriending", "befriending"]).map_err(|e| e.code),
            Err("duplicate")
        );
        let unknown = Reasons::parse(&["housing", "diagnosis"]).err();
        assert_eq!(unknown.as_ref().map(|e| e.code), Some("unknown_code"));
        assert!(unknown.is_some_and(|e| e.message.starts_with("item 1 ")));
        assert_eq!(
            Reasons::parse(&[] as &[&str]).map_err(|e| e.code),
            Err("empty")
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
