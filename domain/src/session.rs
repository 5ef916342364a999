//! Sessions: the contacts between a link worker and the person — longer arranged coaching
//! appointments, short conversations, groups — and what they count for.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::text::TextRule;
use crate::{Invalid, ReferralStatus};

code_list! {
    /// What kind of contact.
    pub enum SessionKind as "kind" {
        /// A longer, arranged appointment.
        Coaching = "coaching",
        /// A short contact.
        Conversation = "conversation",
        Group = "group",
    }
}

impl SessionKind {
    /// The kinds a person's own session is recorded as. A group is recorded once, at
    /// `/v1/group-sessions`, with a place per person: recorded per person as well, the same
    /// group would be counted again.
    pub const ONE_TO_ONE: [SessionKind; 2] = [SessionKind::Coaching, SessionKind::Conversation];

    /// This kind, when a person's own session may be recorded as it.
    pub fn one_to_one(self) -> Result<Self, Invalid> {
        if Self::ONE_TO_ONE.contains(&self) {
            Ok(self)
        } else {
            Err(Invalid::new(
                "group_session",
                "a group is recorded once at /v1/group-sessions, with a place per person",
            ))
        }
    }
}

code_list! {
    /// How it took place.
    pub enum SessionMode as "mode" {
        FaceToFace = "face_to_face",
        Phone = "phone",
        Video = "video",
        Text = "text",
    }
}

code_list! {
    /// Whether it happened.
    pub enum SessionStatus as "status" {
        Scheduled = "scheduled",
        Attended = "attended",
        DidNotAttend = "did_not_attend",
        CancelledByPerson = "cancelled_by_person",
        CancelledByService = "cancelled_by_service",
    }
}

/// The link worker's notes: non-clinical, lines allowed.
pub const NOTES: TextRule = TextRule::lines(4000);
/// The longest session recorded, in minutes (a working day).
pub const MAX_DURATION_MINUTES: u32 = 480;

/// A session as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub kind: SessionKind,
    pub mode: SessionMode,
    pub scheduled_at: DateTime<Utc>,
    pub status: SessionStatus,
    /// Required once attended.
    pub duration_minutes: Option<u32>,
    pub notes: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// Sessions are held while the person is engaged: accepted, active or on hold.
pub fn may_add_to(referral: ReferralStatus) -> bool {
    matches!(
        referral,
        ReferralStatus::Accepted | ReferralStatus::Active | ReferralStatus::OnHold
    )
}

/// A duration: 1 to 480 minutes.
pub fn duration(minutes: i64) -> Result<u32, Invalid> {
    u32::try_from(minutes)
        .ok()
        .filter(|m| (1..=MAX_DURATION_MINUTES).contains(m))
        .ok_or_else(|| {
            Invalid::new(
                "out_of_range",
                format!("must be from 1 to {MAX_DURATION_MINUTES} minutes"),
            )
        })
}

impl Session {
    /// The rules across fields, each named with the member it is about: an attended session
    /// has a duration and has happened (not in the future, `now`, nor before the referral
    /// arrived, `received_at`).
    pub fn check(
        &self,
        received_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Vec<(&'static str, Invalid)>> {
        let mut broken = Vec::new();
        if self.status == SessionStatus::Attended {
            if self.duration_minutes.is_none() {
                broken.push((
                    "duration_minutes",
                    Invalid::new("required", "is required once the session is attended"),
                ));
            }
            if self.scheduled_at > now {
                broken.push((
                    "scheduled_at",
                    Invalid::new("in_future", "an attended session cannot be in the future"),
                ));
            }
        }
        if self.scheduled_at < received_at {
            broken.push((
                "scheduled_at",
                Invalid::new(
                    "before_received",
                    "must not be before the referral was received",
                ),
            ));
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(broken)
        }
    }

    /// When this session counts as the first contact: once attended.
    pub fn contact_at(&self) -> Option<DateTime<Utc>> {
        (self.status == SessionStatus::Attended).then_some(self.scheduled_at)
    }

    /// Minutes of one-to-one time it adds: attended coaching and conversations.
    pub fn one_to_one_minutes(&self) -> u32 {
        match (self.status, self.kind) {
            (SessionStatus::Attended, SessionKind::Coaching | SessionKind::Conversation) => {
                self.duration_minutes.unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Marks a change made at `at`: a new version.
    pub fn touch(&mut self, at: DateTime<Utc>) {
        self.updated_at = at;
        self.version += 1;
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;

    fn session(status: SessionStatus, minutes: Option<u32>) -> Session {
        let at = DateTime::from_timestamp(1_773_826_200, 0).unwrap_or_default();
        Session {
            id: Uuid::nil(),
            referral_id: Uuid::nil(),
            kind: SessionKind::Coaching,
            mode: SessionMode::Phone,
            scheduled_at: at,
            status,
            duration_minutes: minutes,
            notes: None,
            created_by: "jo".into(),
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    fn codes(r: Result<(), Vec<(&'static str, Invalid)>>) -> Vec<(&'static str, &'static str)> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|(at, e)| (at, e.code))
            .collect()
    }

    #[test]
    fn an_attended_session_has_a_duration_and_has_happened() {
        let s = session(SessionStatus::Attended, None);
        let (before, after) = (
            s.scheduled_at - Duration::days(1),
            s.scheduled_at + Duration::hours(1),
        );
        assert_eq!(
            codes(s.check(before, after)),
            [("duration_minutes", "required")]
        );
        let s = session(SessionStatus::Attended, Some(45));
        assert_eq!(codes(s.check(before, after)), []);
        assert_eq!(
            codes(s.check(before, s.scheduled_at - Duration::minutes(1))),
            [("scheduled_at", "in_future")]
        );
        assert_eq!(
            codes(s.check(after, after)),
            [("scheduled_at", "before_received")]
        );
        let planned = session(SessionStatus::Scheduled, None);
        assert_eq!(codes(planned.check(before, before)), []);
    }

    #[test]
    fn one_to_one_time_is_attended_coaching_and_conversation() {
        assert_eq!(
            session(SessionStatus::Attended, Some(50)).one_to_one_minutes(),
            50
        );
        let mut group = session(SessionStatus::Attended, Some(90));
        group.kind = SessionKind::Group;
        assert_eq!(group.one_to_one_minutes(), 0);
        assert_eq!(
            session(SessionStatus::DidNotAttend, Some(50)).one_to_one_minutes(),
            0
        );
    }

    #[test]
    fn a_persons_own_session_is_never_a_group() {
        for kind in SessionKind::ALL.iter().copied() {
            let recorded = kind.one_to_one().map_err(|e| e.code);
            match kind {
                SessionKind::Group => assert_eq!(recorded, Err("group_session")),
                _ => assert_eq!(recorded, Ok(kind)),
            }
        }
    }

    #[test]
    fn sessions_belong_to_engaged_referrals() {
        let open: Vec<_> = ReferralStatus::ALL
            .iter()
            .filter(|s| may_add_to(**s))
            .collect();
        assert_eq!(
            open,
            [
                &ReferralStatus::Accepted,
                &ReferralStatus::Active,
                &ReferralStatus::OnHold
            ]
        );
    }

    proptest! {
        #[test]
        fn durations_are_one_to_480_minutes(minutes: i64) {
            prop_assert_eq!(duration(minutes).is_ok(), (1..=480).contains(&minutes));
        }
    }
}
