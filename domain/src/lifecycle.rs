//! The referral lifecycle: which moves exist (the table is [`ReferralStatus::next`]), who may
//! make each, what each must carry, and what it writes back to the GP record.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::text::TextRule;
use crate::{Invalid, ReferralStatus, Role};

code_list! {
    /// Why a referral was closed.
    pub enum ClosureReason as "reason_code" {
        GoalsMet = "goals_met",
        NoLongerWanted = "no_longer_wanted",
        UnableToContact = "unable_to_contact",
        MovedAway = "moved_away",
        ReferredElsewhere = "referred_elsewhere",
        Other = "other",
    }
}

/// The free-text reason given with a move.
pub const REASON: TextRule = TextRule::lines(1000);

/// A coded concept written back to the person's GP record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpRecordCode {
    pub system: &'static str,
    pub code: &'static str,
    pub display: &'static str,
}

/// SNOMED CT's URI, the coding system of every GP record code.
pub const SNOMED_CT: &str = "http://snomed.info/sct";

/// The person accepted: recorded once per episode, at the first interaction.
pub const REFERRED_TO_SOCIAL_PRESCRIBING: GpRecordCode = GpRecordCode {
    system: SNOMED_CT,
    code: "871731000000106",
    display: "Referral to social prescribing service",
};

/// The person declined.
pub const SOCIAL_PRESCRIBING_DECLINED: GpRecordCode = GpRecordCode {
    system: SNOMED_CT,
    code: "871711000000103",
    display: "Social prescribing declined",
};

impl GpRecordCode {
    /// The code with this SNOMED CT id, if it is one of ours.
    pub fn from_code(code: &str) -> Option<Self> {
        [REFERRED_TO_SOCIAL_PRESCRIBING, SOCIAL_PRESCRIBING_DECLINED]
            .into_iter()
            .find(|c| c.code == code)
    }
}

impl ReferralStatus {
    /// The code that entering this status writes to the GP record; other moves leave the
    /// referral's code as it was.
    pub fn gp_record_code(self) -> Option<GpRecordCode> {
        match self {
            ReferralStatus::Accepted => Some(REFERRED_TO_SOCIAL_PRESCRIBING),
            ReferralStatus::Declined => Some(SOCIAL_PRESCRIBING_DECLINED),
            _ => None,
        }
    }

    /// Only the referring organisation (its referrer, or its partner that referred onward)
    /// withdraws its referral; every other move is the service's (staff).
    pub fn may_be_set_by(self, role: Role) -> bool {
        match self {
            ReferralStatus::Withdrawn => role.sends_for_organisation(),
            _ => matches!(role, Role::Admin | Role::Coordinator),
        }
    }
}

/// The lifecycle table in words, for the API's description of moves: generated from
/// [`ReferralStatus::next`], so the contract cannot drift from the table.
pub fn moves_in_words() -> String {
    let moves: Vec<String> = ReferralStatus::ALL
        .iter()
        .filter(|s| !s.is_final())
        .map(|s| format!("from `{s}` to {}", listed(s.next(), "or")))
        .collect();
    format!(
        "The allowed moves are the lifecycle table: {}; the rest are final.",
        moves.join("; ")
    )
}

/// Which moves need a reason, in words (from [`ReferralStatus::needs_reason`]).
pub fn reasons_in_words() -> String {
    let needing: Vec<ReferralStatus> = ReferralStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.needs_reason())
        .collect();
    format!("A reason is required for {}", listed(&needing, "and"))
}

/// `a, b or c`.
fn listed(statuses: &[ReferralStatus], last: &str) -> String {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    match names.split_last() {
        Some((end, [])) => (*end).to_owned(),
        Some((end, rest)) => format!("{} {last} {end}", rest.join(", ")),
        None => String::new(),
    }
}

/// A requested move, checked for what the request alone decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub to: ReferralStatus,
    /// Only with `closed`, and always with it.
    pub reason_code: Option<ClosureReason>,
    pub reason: Option<String>,
}

impl Move {
    /// Checks that a reason comes where one is needed and a closure code exactly when closing;
    /// every broken rule is named with the request member it is about.
    pub fn new(
        to: ReferralStatus,
        reason_code: Option<ClosureReason>,
        reason: Option<String>,
    ) -> Result<Self, Vec<(&'static str, Invalid)>> {
        let mut broken = Vec::new();
        if to.needs_reason() && reason.is_none() {
            broken.push((
                "reason",
                Invalid::new(
                    "reason_required",
                    format!("moving a referral to `{to}` needs a reason"),
                ),
            ));
        }
        match (to, reason_code) {
            (ReferralStatus::Closed, None) => broken.push((
                "reason_code",
                Invalid::new(
                    "reason_code_required",
                    format!(
                        "closing a referral needs a reason_code: one of {}",
                        ClosureReason::CODES.join(", ")
                    ),
                ),
            )),
            (ReferralStatus::Closed, Some(_)) | (_, None) => {}
            (_, Some(_)) => broken.push((
                "reason_code",
                Invalid::new(
                    "reason_code_not_applicable",
                    "a reason_code is given only when closing a referral",
                ),
            )),
        }
        if broken.is_empty() {
            Ok(Self {
                to,
                reason_code,
                reason,
            })
        } else {
            Err(broken)
        }
    }
}

/// One change of status, as the history keeps it. The first change of every referral is its
/// receipt (`from` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub from: Option<ReferralStatus>,
    pub to: ReferralStatus,
    pub reason_code: Option<ClosureReason>,
    pub reason: Option<String>,
    /// Who made it: the token's subject, and the role it acted in (`None`: a member of the
    /// public, by self-referral).
    pub actor_sub: String,
    pub actor_role: Option<Role>,
    pub at: DateTime<Utc>,
}

/// Why a move cannot be made now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// This role never sets this status.
    Forbidden,
    /// The table has no such move from the current status.
    NotAllowed {
        from: ReferralStatus,
        allowed: &'static [ReferralStatus],
    },
    /// Work cannot be under way with nobody assigned.
    NeedsAssignee,
}

impl ReferralStatus {
    /// Checks a move from this status to `to` by `role`, given whether someone is assigned.
    pub fn check_move(self, to: ReferralStatus, role: Role, assigned: bool) -> Result<(), Refusal> {
        if !to.may_be_set_by(role) {
            return Err(Refusal::Forbidden);
        }
        if !self.next().contains(&to) {
            return Err(Refusal::NotAllowed {
                from: self,
                allowed: self.next(),
            });
        }
        if to == ReferralStatus::Active && !assigned {
            return Err(Refusal::NeedsAssignee);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use ReferralStatus::*;

    /// The table in `docs/domain.md`, written out pair by pair.
    const TABLE: &[(ReferralStatus, &[ReferralStatus])] = &[
        (
            Received,
            &[
                Accepted,
                Declined,
                Rejected,
                Withdrawn,
                Closed,
                EnteredInError,
            ],
        ),
        (
            Accepted,
            &[Active, Declined, Withdrawn, Closed, EnteredInError],
        ),
        (Active, &[OnHold, Closed, EnteredInError]),
        (OnHold, &[Active, Closed, EnteredInError]),
        (Declined, &[]),
        (Rejected, &[]),
        (Closed, &[]),
        (Withdrawn, &[]),
        (EnteredInError, &[]),
    ];

    fn setter(to: ReferralStatus) -> Role {
        if to == Withdrawn {
            Role::Referrer
        } else {
            Role::Coordinator
        }
    }

    #[test]
    fn the_table_in_words_names_every_move() {
        let words = moves_in_words();
        for (from, allowed) in TABLE.iter().filter(|(_, allowed)| !allowed.is_empty()) {
            let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            let (end, rest) = names.split_last().unwrap_or((&"", &[]));
            let clause = format!("from `{from}` to {} or {end}", rest.join(", "));
            assert!(words.contains(&clause), "{clause:?} missing from {words:?}");
        }
        assert!(words.ends_with("; the rest are final."));
        assert_eq!(
            reasons_in_words(),
            "A reason is required for on_hold, declined, rejected, closed, withdrawn and \
             entered_in_error"
        );
    }

    #[test]
    fn every_pair_is_allowed_or_refused_as_the_table_says() {
        assert_eq!(TABLE.len(), ReferralStatus::ALL.len());
        for (from, allowed) in TABLE {
            for to in ReferralStatus::ALL {
                let verdict = from.check_move(*to, setter(*to), true);
                if allowed.contains(to) {
                    assert_eq!(verdict, Ok(()), "{from} -> {to}");
                } else {
                    assert_eq!(
                        verdict,
                        Err(Refusal::NotAllowed {
                            from: *from,
                            allowed
                        }),
                        "{from} -> {to}"
                    );
                }
            }
        }
    }

    #[test]
    fn active_needs_an_assignee() {
        assert_eq!(
            Accepted.check_move(Active, Role::Coordinator, false),
            Err(Refusal::NeedsAssignee)
        );
        assert_eq!(OnHold.check_move(Active, Role::Admin, true), Ok(()));
    }

    #[test]
    fn reasons_and_closure_codes() {
        let codes = |r: Result<Move, Vec<(&'static str, Invalid)>>| {
            r.map(drop).map_err(|v| {
                v.into_iter()
                    .map(|(at, e)| (at, e.code))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(codes(Move::new(Accepted, None, None)), Ok(()));
        assert_eq!(
            codes(Move::new(Closed, None, None)),
            Err(vec![
                ("reason", "reason_required"),
                ("reason_code", "reason_code_required")
            ])
        );
        assert_eq!(
            codes(Move::new(
                Closed,
                Some(ClosureReason::GoalsMet),
                Some("done".into())
            )),
            Ok(())
        );
        assert_eq!(
            codes(Move::new(
                OnHold,
                Some(ClosureReason::Other),
                Some("away".into())
            )),
            Err(vec![("reason_code", "reason_code_not_applicable")])
        );
        for status in ReferralStatus::ALL {
            let needs = [
                Declined,
                Rejected,
                OnHold,
                Closed,
                Withdrawn,
                EnteredInError,
            ];
            assert_eq!(status.needs_reason(), needs.contains(status), "{status}");
        }
    }

    #[test]
    fn gp_record_codes() {
        assert_eq!(
            Accepted.gp_record_code().map(|c| c.code),
            Some("871731000000106")
        );
        assert_eq!(
            Declined.gp_record_code().map(|c| c.code),
            Some("871711000000103")
        );
        assert_eq!(
            GpRecordCode::from_code("871711000000103"),
            Some(SOCIAL_PRESCRIBING_DECLINED)
        );
        for status in ReferralStatus::ALL {
            if ![Accepted, Declined].contains(status) {
                assert_eq!(status.gp_record_code(), None);
            }
        }
    }

    fn any_status() -> impl Strategy<Value = ReferralStatus> {
        proptest::sample::select(ReferralStatus::ALL)
    }

    fn any_role() -> impl Strategy<Value = Role> {
        proptest::sample::select(Role::ALL)
    }

    proptest! {
        #[test]
        fn only_the_referrer_withdraws_and_only_staff_do_the_rest(
            from in any_status(), to in any_status(), role in any_role(), assigned: bool
        ) {
            let verdict = from.check_move(to, role, assigned);
            let may = if to == Withdrawn { matches!(role, Role::Referrer | Role::Partner) }
                else { matches!(role, Role::Admin | Role::Coordinator) };
            prop_assert_eq!(verdict == Err(Refusal::Forbidden), !may);
        }

        #[test]
        fn nothing_leaves_a_final_status(from in any_status(), to in any_status(), assigned: bool) {
            if from.is_final() {
                prop_assert!(from.check_move(to, setter(to), assigned).is_err());
            }
        }
    }
}
