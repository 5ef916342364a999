//! Connections: onward referrals from the link worker to a partner organisation or a directory
//! service, after HL7 Gravity's Task workflow. The receiving organisation moves them along;
//! staff cancel; the system expires requests left unanswered.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::text::TextRule;
use crate::{Invalid, Person, Reason, Role};

code_list! {
    /// Where a connection stands.
    pub enum ConnectionStatus as "status" {
        /// Sent to the receiving organisation, not yet answered.
        Requested = "requested",
        Accepted = "accepted",
        Rejected = "rejected",
        Cancelled = "cancelled",
        /// Unanswered after the response window (set by the system).
        Expired = "expired",
        InProgress = "in_progress",
        OnHold = "on_hold",
        Completed = "completed",
        Failed = "failed",
        /// The person was told about a service that does not take referrals: final.
        Signposted = "signposted",
    }
}

code_list! {
    /// How a connection ended, or why it moved (findhelp and Primero's codes).
    pub enum ConnectionOutcome as "outcome" {
        GotHelp = "got_help",
        NotEligible = "not_eligible",
        NoCapacity = "no_capacity",
        CouldNotContact = "could_not_contact",
        NoLongerInterested = "no_longer_interested",
        ServicesNoLongerNeeded = "services_no_longer_needed",
        ReferredElsewhere = "referred_elsewhere",
        Other = "other",
    }
}

code_list! {
    /// Why a connection moved: each move takes only its own codes (see
    /// [`ConnectionStatus::reason_codes`]).
    pub enum ConnectionReasonCode as "reason_code" {
        NotEligible = "not_eligible",
        NoCapacity = "no_capacity",
        CouldNotContact = "could_not_contact",
        NoLongerInterested = "no_longer_interested",
        ServicesNoLongerNeeded = "services_no_longer_needed",
        ReferredElsewhere = "referred_elsewhere",
        /// The person withdrew their consent to sharing (see `consent`).
        ConsentWithdrawn = "consent_withdrawn",
        /// The person cannot take part for now (in hospital, away).
        PersonUnavailable = "person_unavailable",
        Other = "other",
    }
}

code_list! {
    /// A detail of the person they agreed to share with the receiving organisation.
    pub enum SharedField as "shared_field" {
        GivenName = "given_name",
        FamilyName = "family_name",
        DateOfBirth = "date_of_birth",
        NhsNumber = "nhs_number",
        Phone = "phone",
        Email = "email",
        Postcode = "postcode",
        Address = "address",
        PreferredContact = "preferred_contact",
        /// Not a detail but the wellbeing plan: what matters, strengths and goals, read-only,
        /// with progress notes the receiving organisation adds to goals while the connection
        /// is open.
        WellbeingPlan = "wellbeing_plan",
    }
}

/// The link worker's note for the receiving organisation; lines allowed.
pub const NOTE_FOR_PARTNER: TextRule = TextRule::lines(2000);
/// A note between the link worker and the partner about a connection; lines allowed.
pub const NOTE: TextRule = TextRule::lines(2000);
/// The free-text reason given with a move.
pub const REASON: TextRule = TextRule::lines(1000);
/// How long a partner has to answer a request, unless configured otherwise.
pub const DEFAULT_RESPONSE_DAYS: i64 = 14;

/// Who moves a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    /// The receiving organisation (a partner token for it).
    Receiver,
    /// The service's own staff.
    Staff,
    /// Linkwell itself: expiry.
    System,
}

impl Mover {
    /// The mover a caller's role acts as, if any.
    pub fn of(role: Role) -> Option<Self> {
        match role {
            Role::Partner => Some(Mover::Receiver),
            Role::Admin | Role::Coordinator => Some(Mover::Staff),
            Role::Referrer | Role::Commissioner => None,
        }
    }

    /// Who makes a move `role` asks for, `on_behalf` of the receiving organisation or not:
    /// staff recording the receiver's answer make the receiver's move. `Ok(None)`: the role
    /// moves no connection. A receiver answers for itself, never on its own behalf.
    pub fn of_request(role: Role, on_behalf: bool) -> Result<Option<Self>, Invalid> {
        match (Self::of(role), on_behalf) {
            (Some(Mover::Staff), true) => Ok(Some(Mover::Receiver)),
            (Some(_), true) => Err(Invalid::new(
                "not_applicable",
                "a partner answers for itself; staff record answers on its behalf",
            )),
            (mover, _) => Ok(mover),
        }
    }
}

impl ConnectionStatus {
    /// The moves from each status (`docs/domain.md`).
    pub fn next(self) -> &'static [ConnectionStatus] {
        use ConnectionStatus::*;
        match self {
            Requested => &[Accepted, Rejected, Cancelled, Expired],
            Accepted => &[InProgress, Cancelled, Failed],
            InProgress => &[Completed, Failed, OnHold, Cancelled],
            OnHold => &[InProgress, Failed, Cancelled],
            Rejected | Cancelled | Expired | Completed | Failed | Signposted => &[],
        }
    }

    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }

    /// Who sets this status: the receiving organisation its answers and progress, staff a
    /// cancellation, the system an expiry. Nobody moves a connection into `requested` or
    /// `signposted`: those are where connections start.
    pub fn set_by(self) -> Option<Mover> {
        use ConnectionStatus::*;
        match self {
            Accepted | Rejected | InProgress | OnHold | Failed | Completed => Some(Mover::Receiver),
            Cancelled => Some(Mover::Staff),
            Expired => Some(Mover::System),
            Requested | Signposted => None,
        }
    }

    /// Moving here must be explained (a reason or a reason code).
    pub fn needs_reason(self) -> bool {
        use ConnectionStatus::*;
        matches!(self, Rejected | Failed | OnHold | Cancelled)
    }

    /// Ending here records how it ended.
    pub fn needs_outcome(self) -> bool {
        !self.outcomes().is_empty()
    }

    /// The reason codes a move here may carry: each vocabulary belongs to its move. Moves
    /// with none take no code.
    pub fn reason_codes(self) -> &'static [ConnectionReasonCode] {
        use ConnectionReasonCode as R;
        use ConnectionStatus::*;
        match self {
            Rejected => &[
                R::NotEligible,
                R::NoCapacity,
                R::ReferredElsewhere,
                R::Other,
            ],
            Failed => &[
                R::NotEligible,
                R::NoCapacity,
                R::CouldNotContact,
                R::NoLongerInterested,
                R::ServicesNoLongerNeeded,
                R::ReferredElsewhere,
                R::Other,
            ],
            OnHold => &[
                R::PersonUnavailable,
                R::CouldNotContact,
                R::NoCapacity,
                R::Other,
            ],
            Cancelled => &[
                R::ConsentWithdrawn,
                R::NoLongerInterested,
                R::ServicesNoLongerNeeded,
                R::ReferredElsewhere,
                R::Other,
            ],
            Requested | Accepted | InProgress | Completed | Expired | Signposted => &[],
        }
    }

    /// The outcomes ending here may record: completing is a help given (or no longer
    /// needed), failing is anything but help given. Other moves record none.
    pub fn outcomes(self) -> &'static [ConnectionOutcome] {
        use ConnectionOutcome as O;
        use ConnectionStatus::*;
        match self {
            Completed => &[
                O::GotHelp,
                O::ServicesNoLongerNeeded,
                O::ReferredElsewhere,
                O::Other,
            ],
            Failed => &[
                O::NotEligible,
                O::NoCapacity,
                O::CouldNotContact,
                O::NoLongerInterested,
                O::ServicesNoLongerNeeded,
                O::ReferredElsewhere,
                O::Other,
            ],
            Requested | Accepted | Rejected | Cancelled | Expired | InProgress | OnHold
            | Signposted => &[],
        }
    }
}

fn listed<T: std::fmt::Display>(codes: &[T]) -> String {
    codes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A requested move, checked for what the request alone decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub to: ConnectionStatus,
    pub reason_code: Option<ConnectionReasonCode>,
    pub reason: Option<String>,
    pub outcome: Option<ConnectionOutcome>,
}

impl Move {
    /// Checks that a reason comes where one is needed, a reason code only from the move's own
    /// vocabulary, and an outcome exactly where one is, from the move's own outcomes; every
    /// broken rule is named with the request member it is about.
    pub fn new(
        to: ConnectionStatus,
        reason_code: Option<ConnectionReasonCode>,
        reason: Option<String>,
        outcome: Option<ConnectionOutcome>,
    ) -> Result<Self, Vec<(&'static str, Invalid)>> {
        let mut broken = Vec::new();
        if to.needs_reason() && reason.is_none() && reason_code.is_none() {
            broken.push((
                "reason",
                Invalid::new(
                    "reason_required",
                    format!("moving a connection to `{to}` needs a reason or a reason_code"),
                ),
            ));
        }
        if let Some(code) = reason_code
            && !to.reason_codes().contains(&code)
        {
            let message = match to.reason_codes() {
                [] => format!("moving a connection to `{to}` takes no reason_code"),
                codes => format!(
                    "`{code}` is not a reason for moving a connection to `{to}`: one of {}",
                    listed(codes)
                ),
            };
            broken.push((
                "reason_code",
                Invalid::new("reason_code_not_applicable", message),
            ));
        }
        match (to.needs_outcome(), outcome) {
            (true, None) => broken.push((
                "outcome",
                Invalid::new(
                    "outcome_required",
                    format!(
                        "moving a connection to `{to}` needs an outcome: one of {}",
                        listed(to.outcomes())
                    ),
                ),
            )),
            (false, Some(_)) => broken.push((
                "outcome",
                Invalid::new(
                    "outcome_not_applicable",
                    "an outcome is given only when completing or failing a connection",
                ),
            )),
            (true, Some(given)) if !to.outcomes().contains(&given) => broken.push((
                "outcome",
                Invalid::new(
                    "outcome_not_applicable",
                    format!(
                        "`{given}` is not an outcome of moving a connection to `{to}`: one of {}",
                        listed(to.outcomes())
                    ),
                ),
            )),
            _ => {}
        }
        if broken.is_empty() {
            Ok(Self {
                to,
                reason_code,
                reason,
                outcome,
            })
        } else {
            Err(broken)
        }
    }

    /// The cancellation a withdrawal of consent makes of each open connection, with the
    /// reason the person gave, if any.
    pub fn consent_withdrawn(reason: Option<String>) -> Self {
        Self {
            to: ConnectionStatus::Cancelled,
            reason_code: Some(ConnectionReasonCode::ConsentWithdrawn),
            reason,
            outcome: None,
        }
    }
}

/// Why a move cannot be made now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// This mover never sets this status.
    Forbidden,
    /// No such move from the current status.
    NotAllowed {
        from: ConnectionStatus,
        allowed: &'static [ConnectionStatus],
    },
}

/// A connection: an onward referral of the person to an organisation or a directory service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: Uuid,
    pub referral_id: Uuid,
    /// The receiving organisation: the one named, or the one that runs the service.
    pub organisation_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    pub need: Reason,
    pub note_for_partner: Option<String>,
    /// What the person agreed to share with the receiving organisation.
    pub shared_fields: BTreeSet<SharedField>,
    pub status: ConnectionStatus,
    /// Why it last moved, when a code was given.
    pub reason_code: Option<ConnectionReasonCode>,
    pub reason: Option<String>,
    /// How it ended: completed or failed.
    pub outcome: Option<ConnectionOutcome>,
    pub last_note_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// The person's shared details exactly as the receiving organisation was shown them when
    /// the connection became final; `None` while it is open. A final connection is shown from
    /// here, never from the person's record, so no later correction reaches the partner.
    pub frozen_details: Option<SharedDetails>,
    /// Staff record the receiving organisation's answers (it has no login): it never expires
    /// unanswered.
    pub answered_by_staff: bool,
    /// Who at the receiving organisation gave the last answer staff recorded on its behalf;
    /// `None` when it answered for itself.
    pub on_behalf_of: Option<String>,
}

/// Who at a receiving organisation gave an answer staff record on its behalf (a name, and
/// how: "Sam Patel, by phone"): one line.
pub const ON_BEHALF_OF: TextRule = TextRule::line(200);

/// Shared details: each shared field with its value (`None` when the record has none).
pub type SharedDetails = Vec<(SharedField, Option<String>)>;

impl Connection {
    /// Where a new connection starts: a signpost when the service does not take referrals
    /// (`accepts_referrals` false), else a request.
    pub fn starting_status(accepts_referrals: Option<bool>) -> ConnectionStatus {
        match accepts_referrals {
            Some(false) => ConnectionStatus::Signposted,
            _ => ConnectionStatus::Requested,
        }
    }

    /// Checks a move by `mover`.
    pub fn check_move(&self, to: ConnectionStatus, mover: Mover) -> Result<(), Refusal> {
        if to.set_by() != Some(mover) {
            return Err(Refusal::Forbidden);
        }
        if !self.status.next().contains(&to) {
            return Err(Refusal::NotAllowed {
                from: self.status,
                allowed: self.status.next(),
            });
        }
        Ok(())
    }

    /// Applies a receiving organisation's move that staff record on its behalf, as `who` at
    /// the organisation gave it: from then on the connection is answered by staff, and never
    /// expires unanswered.
    pub fn apply_on_behalf(&mut self, mv: Move, who: String, at: DateTime<Utc>, person: &Person) {
        self.apply(mv, at, person);
        self.answered_by_staff = true;
        self.on_behalf_of = Some(who);
    }

    /// Applies a checked move made at `at`; `person` is the person's record as it stands, whose
    /// shared details are kept if the move makes the connection final.
    pub fn apply(&mut self, mv: Move, at: DateTime<Utc>, person: &Person) {
        self.on_behalf_of = None;
        self.status = mv.to;
        self.reason_code = mv.reason_code;
        self.reason = mv.reason;
        if mv.outcome.is_some() {
            self.outcome = mv.outcome;
        }
        self.freeze_if_final(person);
        self.touch(at);
    }

    /// Once final, keeps the shared details of `person` as they are now (once: a final
    /// connection never moves again, and what it showed never changes).
    pub fn freeze_if_final(&mut self, person: &Person) {
        if self.status.is_final() && self.frozen_details.is_none() {
            self.frozen_details = Some(shared_details(person, &self.shared_fields));
        }
    }

    /// The person's shared details as this connection shows them: those kept when it became
    /// final, else `person`'s (the record as it stands) while it is open.
    pub fn details(&self, person: &Person) -> SharedDetails {
        match &self.frozen_details {
            Some(kept) => kept.clone(),
            None => shared_details(person, &self.shared_fields),
        }
    }

    /// Expires it if it is still a request once `window` has passed since it was made, unless
    /// staff answer for the receiving organisation.
    pub fn expire(&mut self, now: DateTime<Utc>, window: Duration, person: &Person) -> bool {
        if self.status != ConnectionStatus::Requested
            || self.answered_by_staff
            || now < self.created_at + window
        {
            return false;
        }
        self.apply(
            Move {
                to: ConnectionStatus::Expired,
                reason_code: None,
                reason: Some(format!(
                    "no answer within {} days",
                    window.num_days().max(0)
                )),
                outcome: None,
            },
            now,
            person,
        );
        true
    }

    /// Whether the receiving organisation may read the person's wellbeing plan through this
    /// connection and add progress notes to its goals: only when the plan is among what the
    /// person agreed to share, and only while the connection is open (a withdrawal of consent
    /// cancels it, and so ends the sharing, as for the other shared details), and never once
    /// the referral was anonymised at the end of its retention.
    pub fn plan_shared(&self, referral_anonymised: bool) -> Result<(), Invalid> {
        if referral_anonymised {
            return Err(crate::privacy::anonymised());
        }
        if !self.shared_fields.contains(&SharedField::WellbeingPlan) {
            return Err(Invalid::new(
                "plan_not_shared",
                "the wellbeing plan is not among this connection's shared fields",
            ));
        }
        if self.status.is_final() {
            return Err(Invalid::new(
                "connection_final",
                format!(
                    "the connection is {}: its plan is no longer shared",
                    self.status
                ),
            ));
        }
        Ok(())
    }

    fn touch(&mut self, at: DateTime<Utc>) {
        self.updated_at = at;
        self.version += 1;
    }
}

/// A note between the link worker and the receiving organisation about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionNote {
    pub id: Uuid,
    pub connection_id: Uuid,
    pub text: String,
    pub author_sub: String,
    pub author_role: Role,
    /// The organisation the author wrote for (a partner's).
    pub author_org_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// The details of `person` the person agreed to share, in code-list order: each shared field
/// with its value (`None` when the record has none), and nothing else.
pub fn shared_details(person: &Person, shared: &BTreeSet<SharedField>) -> SharedDetails {
    shared
        .iter()
        .filter_map(|field| {
            let value = match field {
                SharedField::GivenName => Some(person.given_name.clone()),
                SharedField::FamilyName => Some(person.family_name.clone()),
                SharedField::DateOfBirth => Some(person.date_of_birth.date().to_string()),
                SharedField::NhsNumber => person.nhs_number.as_ref().map(|n| n.as_str().to_owned()),
                SharedField::Phone => person.phone.as_ref().map(|p| p.as_str().to_owned()),
                SharedField::Email => person.email.as_ref().map(|e| e.as_str().to_owned()),
                SharedField::Postcode => person.postcode.as_ref().map(|p| p.as_str().to_owned()),
                SharedField::Address => person.address.clone(),
                SharedField::PreferredContact => {
                    person.preferred_contact.map(|c| c.as_str().to_owned())
                }
                // The plan is read through its own route, never copied into the details.
                SharedField::WellbeingPlan => return None,
            };
            Some((*field, value))
        })
        .collect()
}

/// Shared fields as sent: each a known code, at most once.
pub fn shared_fields(codes: &[impl AsRef<str>]) -> Result<BTreeSet<SharedField>, Invalid> {
    let mut set = BTreeSet::new();
    for (index, code) in codes.iter().enumerate() {
        let field: SharedField = code.as_ref().parse().map_err(|e: crate::UnknownCode| {
            let invalid = Invalid::from(e);
            Invalid::new(invalid.code, format!("item {index} {}", invalid.message))
        })?;
        if !set.insert(field) {
            return Err(Invalid::new(
                "duplicate",
                format!("lists `{field}` more than once"),
            ));
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use ConnectionStatus::*;

    /// The table in `docs/domain.md`, written out pair by pair.
    const TABLE: &[(ConnectionStatus, &[ConnectionStatus])] = &[
        (Requested, &[Accepted, Rejected, Cancelled, Expired]),
        (Accepted, &[InProgress, Cancelled, Failed]),
        (InProgress, &[Completed, Failed, OnHold, Cancelled]),
        (OnHold, &[InProgress, Failed, Cancelled]),
        (Rejected, &[]),
        (Cancelled, &[]),
        (Expired, &[]),
        (Completed, &[]),
        (Failed, &[]),
        (Signposted, &[]),
    ];

    fn connection(status: ConnectionStatus) -> Connection {
        let at = DateTime::from_timestamp(1_773_826_200, 0).unwrap_or_default();
        Connection {
            id: Uuid::nil(),
            referral_id: Uuid::nil(),
            organisation_id: Some(Uuid::nil()),
            service_id: None,
            need: Reason::MoneyAndBenefits,
            note_for_partner: None,
            shared_fields: BTreeSet::new(),
            status,
            reason_code: None,
            reason: None,
            outcome: None,
            last_note_at: None,
            created_by: "jo".into(),
            created_at: at,
            updated_at: at,
            version: 1,
            frozen_details: None,
            answered_by_staff: false,
            on_behalf_of: None,
        }
    }

    fn person(phone: &str) -> Person {
        let born = chrono::NaiveDate::from_ymd_opt(1950, 2, 28).unwrap_or_default();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 18).unwrap_or_default();
        Person {
            given_name: "Sam".into(),
            family_name: "Jones".into(),
            date_of_birth: crate::DateOfBirth::new(born, today).unwrap_or_else(|_| unreachable!()),
            nhs_number: None,
            phone: crate::Phone::parse(phone).ok(),
            email: None,
            postcode: None,
            address: None,
            preferred_contact: None,
        }
    }

    /// The vocabularies, written out move by move: what each move may carry as a reason code
    /// and as an outcome.
    const REASONS: &[(ConnectionStatus, &[&str], &[&str])] = &[
        (Requested, &[], &[]),
        (Accepted, &[], &[]),
        (
            Rejected,
            &["not_eligible", "no_capacity", "referred_elsewhere", "other"],
            &[],
        ),
        (
            Cancelled,
            &[
                "consent_withdrawn",
                "no_longer_interested",
                "services_no_longer_needed",
                "referred_elsewhere",
                "other",
            ],
            &[],
        ),
        (Expired, &[], &[]),
        (InProgress, &[], &[]),
        (
            OnHold,
            &[
                "person_unavailable",
                "could_not_contact",
                "no_capacity",
                "other",
            ],
            &[],
        ),
        (
            Completed,
            &[],
            &[
                "got_help",
                "services_no_longer_needed",
                "referred_elsewhere",
                "other",
            ],
        ),
        (
            Failed,
            &[
                "not_eligible",
                "no_capacity",
                "could_not_contact",
                "no_longer_interested",
                "services_no_longer_needed",
                "referred_elsewhere",
                "other",
            ],
            &[
                "not_eligible",
                "no_capacity",
                "could_not_contact",
                "no_longer_interested",
                "services_no_longer_needed",
                "referred_elsewhere",
                "other",
            ],
        ),
        (Signposted, &[], &[]),
    ];

    fn vocabulary(to: ConnectionStatus) -> (&'static [&'static str], &'static [&'static str]) {
        REASONS
            .iter()
            .find(|(status, _, _)| *status == to)
            .map(|(_, codes, outcomes)| (*codes, *outcomes))
            .unwrap_or_default()
    }

    #[test]
    fn each_move_has_the_documented_vocabulary() {
        assert_eq!(REASONS.len(), ConnectionStatus::ALL.len());
        for (to, codes, outcomes) in REASONS {
            let theirs: Vec<&str> = to.reason_codes().iter().map(|c| c.as_str()).collect();
            assert_eq!(theirs, *codes, "{to}");
            let theirs: Vec<&str> = to.outcomes().iter().map(|c| c.as_str()).collect();
            assert_eq!(theirs, *outcomes, "{to}");
        }
        // Every code belongs to some move, and got_help is never a reason.
        for code in ConnectionReasonCode::ALL {
            assert!(
                ConnectionStatus::ALL
                    .iter()
                    .any(|s| s.reason_codes().contains(code)),
                "{code}"
            );
        }
        assert!(!ConnectionReasonCode::CODES.contains(&"got_help"));
    }

    fn status() -> impl Strategy<Value = ConnectionStatus> {
        proptest::sample::select(ConnectionStatus::ALL)
    }

    fn mover() -> impl Strategy<Value = Mover> {
        proptest::sample::select(&[Mover::Receiver, Mover::Staff, Mover::System][..])
    }

    #[test]
    fn the_table_is_the_documented_one() {
        assert_eq!(TABLE.len(), ConnectionStatus::ALL.len());
        for (from, to) in TABLE {
            assert_eq!(from.next(), *to, "{from}");
        }
    }

    proptest! {
        /// Every (from, to, mover): allowed exactly when the table has the arrow and the mover
        /// sets that status; a refusal says which rule.
        #[test]
        fn a_move_is_allowed_exactly_when_the_table_and_the_mover_allow_it(
            from in status(), to in status(), by in mover()
        ) {
            let arrow = TABLE.iter().any(|(f, tos)| *f == from && tos.contains(&to));
            let theirs = match to {
                Accepted | Rejected | InProgress | OnHold | Failed | Completed => by == Mover::Receiver,
                Cancelled => by == Mover::Staff,
                Expired => by == Mover::System,
                Requested | Signposted => false,
            };
            let verdict = connection(from).check_move(to, by);
            match (theirs, arrow) {
                (false, _) => prop_assert_eq!(verdict, Err(Refusal::Forbidden)),
                (true, false) => prop_assert_eq!(
                    verdict,
                    Err(Refusal::NotAllowed { from, allowed: from.next() })
                ),
                (true, true) => prop_assert_eq!(verdict, Ok(())),
            }
        }

        #[test]
        fn reasons_and_outcomes_come_exactly_where_needed(
            to in status(),
            reason in proptest::option::of("[a-z]{1,8}"),
            code in proptest::option::of(proptest::sample::select(ConnectionReasonCode::ALL)),
            outcome in proptest::option::of(proptest::sample::select(ConnectionOutcome::ALL)),
        ) {
            let broken: Vec<&str> = Move::new(to, code, reason.clone(), outcome)
                .err()
                .unwrap_or_default()
                .iter()
                .map(|(_, e)| e.code)
                .collect();
            let mut expected = Vec::new();
            let (codes, outcomes) = vocabulary(to);
            if matches!(to, Rejected | Failed | OnHold | Cancelled) && reason.is_none() && code.is_none() {
                expected.push("reason_required");
            }
            if code.is_some_and(|c| !codes.contains(&c.as_str())) {
                expected.push("reason_code_not_applicable");
            }
            match (matches!(to, Completed | Failed), outcome) {
                (true, None) => expected.push("outcome_required"),
                (false, Some(_)) => expected.push("outcome_not_applicable"),
                (true, Some(o)) if !outcomes.contains(&o.as_str()) => {
                    expected.push("outcome_not_applicable");
                }
                _ => {}
            }
            prop_assert_eq!(broken, expected);
        }

        /// A connection shows the record as it stands while open, and from the moment it
        /// becomes final exactly what it showed then, whatever the record says later.
        #[test]
        fn a_final_connection_shows_what_it_showed_when_it_became_final(
            path in proptest::collection::vec(status(), 1..6),
        ) {
            let before = person("01284 123456");
            let after = person("07700 900123");
            let mut c = connection(Requested);
            c.shared_fields = [SharedField::GivenName, SharedField::Phone].into_iter().collect();
            for to in path {
                let mover = to.set_by().unwrap_or(Mover::Staff);
                if c.check_move(to, mover).is_err() {
                    continue;
                }
                let was_final = c.status.is_final();
                let mv = Move { to, reason_code: None, reason: Some("why".into()), outcome: None };
                c.apply(mv, c.updated_at, &before);
                prop_assert!(!was_final);
            }
            let shown_after = c.details(&after);
            if c.status.is_final() {
                prop_assert_eq!(shown_after, shared_details(&before, &c.shared_fields));
            } else {
                prop_assert_eq!(c.frozen_details.clone(), None);
                prop_assert_eq!(shown_after, shared_details(&after, &c.shared_fields));
            }
        }
    }

    #[test]
    fn requests_expire_once_the_window_has_passed() {
        let window = Duration::days(14);
        let mut c = connection(Requested);
        c.shared_fields = [SharedField::Phone].into_iter().collect();
        let sam = person("01284 123456");
        let due = c.created_at + window;
        assert!(!c.expire(due - Duration::microseconds(1), window, &sam));
        assert_eq!((c.status, c.version), (Requested, 1));
        assert!(c.expire(due, window, &sam));
        assert_eq!((c.status, c.version, c.updated_at), (Expired, 2, due));
        assert_eq!(c.reason.as_deref(), Some("no answer within 14 days"));
        assert_eq!(
            c.frozen_details,
            Some(vec![(SharedField::Phone, Some("01284 123456".into()))])
        );
        assert!(!c.expire(due, window, &person("07700 900123")), "once");
        let mut accepted = connection(Accepted);
        assert!(!accepted.expire(due + window, window, &sam));
    }

    /// A receiver staff answer for never expires; an answer recorded on its behalf names who
    /// gave it until the receiver next answers for itself.
    #[test]
    fn staff_answer_for_a_receiver_without_a_login() {
        let window = Duration::days(14);
        let sam = person("01284 123456");
        let mut c = connection(Requested);
        c.answered_by_staff = true;
        assert!(!c.expire(c.created_at + window * 10, window, &sam));
        let mut c = connection(Requested);
        let accept = Move::new(Accepted, None, None, None).unwrap_or_else(|_| unreachable!());
        c.apply_on_behalf(accept, "Sam Patel, by phone".into(), c.created_at, &sam);
        assert_eq!(c.status, Accepted);
        assert!(c.answered_by_staff);
        assert_eq!(c.on_behalf_of.as_deref(), Some("Sam Patel, by phone"));
        let start = Move::new(InProgress, None, None, None).unwrap_or_else(|_| unreachable!());
        c.apply(start, c.created_at, &sam);
        assert_eq!(c.on_behalf_of, None);
        assert!(
            c.answered_by_staff,
            "still answered by staff when they must"
        );
    }

    #[test]
    fn signposts_are_final_and_requests_are_the_rest() {
        assert_eq!(Connection::starting_status(Some(false)), Signposted);
        assert_eq!(Connection::starting_status(Some(true)), Requested);
        assert_eq!(Connection::starting_status(None), Requested);
        assert!(Signposted.is_final());
    }

    #[test]
    fn the_plan_is_shared_only_when_listed_and_only_while_open() {
        for status in ConnectionStatus::ALL.iter().copied() {
            let mut c = connection(status);
            c.shared_fields = [SharedField::Phone].into_iter().collect();
            assert_eq!(
                c.plan_shared(false).err().map(|e| e.code),
                Some("plan_not_shared")
            );
            c.shared_fields.insert(SharedField::WellbeingPlan);
            let expected = status.is_final().then_some("connection_final");
            assert_eq!(
                c.plan_shared(false).err().map(|e| e.code),
                expected,
                "{status}"
            );
            assert_eq!(
                c.plan_shared(true).err().map(|e| e.code),
                Some("referral_anonymised"),
                "{status}"
            );
            // The plan is shared, but it is never one of the person's details.
            assert_eq!(
                c.details(&person("01284 123456")),
                vec![(SharedField::Phone, Some("01284 123456".into()))]
            );
        }
    }

    #[test]
    fn shared_fields_are_known_and_unique() {
        assert_eq!(
            shared_fields(&["phone", "given_name"])
                .ok()
                .map(|s| s.into_iter().collect::<Vec<_>>()),
            Some(vec![SharedField::GivenName, SharedField::Phone])
        );
        assert_eq!(
            shared_fields(&["phone", "phone"]).err().map(|e| e.code),
            Some("duplicate")
        );
        assert_eq!(
            shared_fields(&["diagnosis"]).err().map(|e| e.code),
            Some("unknown_code")
        );
        assert_eq!(shared_fields(&[] as &[&str]).ok(), Some(BTreeSet::new()));
    }
}
