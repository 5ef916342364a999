//! Group sessions (LifeLink's group work): one session, run by one or more link workers, with
//! the people it was booked for. It is recorded once, so a group of ten is one session
//! delivered, ten attendances, and its length once per facilitator in staff time.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::text::TextRule;
use crate::{Invalid, SessionMode};

code_list! {
    /// What kind of group.
    pub enum GroupSessionKind as "kind" {
        /// People with a shared experience supporting each other.
        PeerSupport = "peer_support",
        /// Doing something together: a walk, a craft, a kitchen.
        Activity = "activity",
        /// One of a series that teaches (confidence, money, living well).
        Course = "course",
        /// Open to whoever comes.
        DropIn = "drop_in",
        /// Talks about what the area offers.
        Information = "information",
    }
}

code_list! {
    /// Whether a group session happened. `scheduled` moves to `held` or `cancelled`; both
    /// are final.
    pub enum GroupSessionStatus as "status" {
        Scheduled = "scheduled",
        Held = "held",
        Cancelled = "cancelled",
    }
}

code_list! {
    /// Whether a person booked on a group session came.
    pub enum Attendance as "attendance" {
        Booked = "booked",
        Attended = "attended",
        DidNotAttend = "did_not_attend",
    }
}

/// A group session's title: one line.
pub const TITLE: TextRule = TextRule::line(200);
/// At most this many link workers run one group.
pub const MAX_FACILITATORS: usize = 10;
/// At most this many people are booked on one group.
pub const MAX_ATTENDEES: i64 = 200;

/// A group session as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSession {
    pub id: Uuid,
    pub kind: GroupSessionKind,
    pub mode: SessionMode,
    pub title: String,
    pub scheduled_at: DateTime<Utc>,
    /// The link workers who ran it (user ids), in the order given.
    pub facilitators: Vec<Uuid>,
    pub status: GroupSessionStatus,
    /// Required once held: staff time is this once per facilitator.
    pub duration_minutes: Option<u32>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// One person's place on a group session, under their referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    pub id: Uuid,
    pub group_session_id: Uuid,
    pub referral_id: Uuid,
    pub attendance: Attendance,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// Facilitators as sent: one to ten, none twice.
pub fn facilitators(ids: &[Uuid]) -> Result<Vec<Uuid>, Invalid> {
    if ids.is_empty() || ids.len() > MAX_FACILITATORS {
        return Err(Invalid::new(
            "out_of_range",
            format!("names 1 to {MAX_FACILITATORS} link workers"),
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(Invalid::new(
                "duplicate",
                format!("lists {id} more than once"),
            ));
        }
    }
    Ok(ids.to_vec())
}

impl GroupSessionStatus {
    /// The moves from each status.
    pub fn next(self) -> &'static [GroupSessionStatus] {
        use GroupSessionStatus::*;
        match self {
            Scheduled => &[Held, Cancelled],
            Held | Cancelled => &[],
        }
    }
}

impl GroupSession {
    /// The rules across fields, each named with the member it is about: a held session has
    /// a length and has happened (not after `now`).
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), Vec<(&'static str, Invalid)>> {
        let mut broken = Vec::new();
        if self.status == GroupSessionStatus::Held {
            if self.duration_minutes.is_none() {
                broken.push((
                    "duration_minutes",
                    Invalid::new("required", "is required once the session is held"),
                ));
            }
            if self.scheduled_at > now {
                broken.push((
                    "scheduled_at",
                    Invalid::new("in_future", "a session cannot be held in the future"),
                ));
            }
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(broken)
        }
    }

    /// Whether `self` may become `after`: the status moves only as [`GroupSessionStatus::next`]
    /// allows, and a held or cancelled session keeps its time, kind and mode (the places
    /// marked on it are counted on its day). Err: the code and why.
    pub fn may_become(&self, after: &GroupSession) -> Result<(), Invalid> {
        if after.status != self.status && !self.status.next().contains(&after.status) {
            return Err(Invalid::new(
                "invalid_transition",
                format!(
                    "a `{}` group session cannot become `{}`",
                    self.status, after.status
                ),
            ));
        }
        let fixed = (self.scheduled_at, self.kind, self.mode)
            != (after.scheduled_at, after.kind, after.mode);
        if self.status != GroupSessionStatus::Scheduled && fixed {
            return Err(Invalid::new(
                "group_session_final",
                format!(
                    "the group session is `{}`: its time, kind and mode stay as they are",
                    self.status
                ),
            ));
        }
        Ok(())
    }

    /// Staff minutes it took: its length once per facilitator, once held.
    pub fn staff_minutes(&self) -> i64 {
        match (self.status, self.duration_minutes) {
            (GroupSessionStatus::Held, Some(minutes)) => {
                i64::from(minutes) * self.facilitators.len() as i64
            }
            _ => 0,
        }
    }

    /// Whether `attendance` may be recorded now for a referral received at `received_at`: who
    /// came is marked once the session is held; a booking is taken or put back only while it
    /// is scheduled or held (not cancelled); and never on a session before the referral was
    /// received, as no one-to-one session is (its attendance would be a first contact
    /// before the referral).
    pub fn may_mark(
        &self,
        attendance: Attendance,
        received_at: DateTime<Utc>,
    ) -> Result<(), Invalid> {
        if self.scheduled_at < received_at && self.status != GroupSessionStatus::Cancelled {
            return Err(Invalid::new(
                "before_received",
                "the group session is before the referral was received",
            ));
        }
        match (self.status, attendance) {
            (GroupSessionStatus::Cancelled, _) => Err(Invalid::new(
                "group_session_cancelled",
                "the group session was cancelled",
            )),
            (GroupSessionStatus::Scheduled, Attendance::Attended | Attendance::DidNotAttend) => {
                Err(Invalid::new(
                    "group_session_not_held",
                    "mark who came once the session is recorded as held",
                ))
            }
            _ => Ok(()),
        }
    }

    /// When an attendance counts as the person's first contact: once they attended.
    pub fn contact_at(&self, attendance: Attendance) -> Option<DateTime<Utc>> {
        (attendance == Attendance::Attended).then_some(self.scheduled_at)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;

    fn group(
        status: GroupSessionStatus,
        minutes: Option<u32>,
        facilitators: usize,
    ) -> GroupSession {
        let at = DateTime::from_timestamp(1_773_826_200, 0).unwrap_or_default();
        GroupSession {
            id: Uuid::nil(),
            kind: GroupSessionKind::PeerSupport,
            mode: SessionMode::FaceToFace,
            title: "Coffee and chat".into(),
            scheduled_at: at,
            facilitators: (0..facilitators).map(|_| Uuid::now_v7()).collect(),
            status,
            duration_minutes: minutes,
            created_by: "jo".into(),
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    #[test]
    fn a_held_session_has_a_length_and_has_happened() {
        let g = group(GroupSessionStatus::Held, None, 1);
        let later = g.scheduled_at + Duration::hours(2);
        let codes = |r: Result<(), Vec<(&'static str, Invalid)>>| -> Vec<(&str, &str)> {
            r.err()
                .unwrap_or_default()
                .into_iter()
                .map(|(at, e)| (at, e.code))
                .collect()
        };
        assert_eq!(codes(g.check(later)), [("duration_minutes", "required")]);
        let g = group(GroupSessionStatus::Held, Some(90), 1);
        assert_eq!(codes(g.check(later)), []);
        assert_eq!(
            codes(g.check(g.scheduled_at - Duration::minutes(1))),
            [("scheduled_at", "in_future")]
        );
        let planned = group(GroupSessionStatus::Scheduled, None, 1);
        assert_eq!(
            codes(planned.check(planned.scheduled_at - Duration::days(9))),
            []
        );
    }

    #[test]
    fn attendance_is_marked_once_held_and_never_on_a_cancelled_session() {
        use Attendance::*;
        let cases = [
            (
                GroupSessionStatus::Scheduled,
                [
                    None,
                    Some("group_session_not_held"),
                    Some("group_session_not_held"),
                ],
            ),
            (GroupSessionStatus::Held, [None, None, None]),
            (
                GroupSessionStatus::Cancelled,
                [Some("group_session_cancelled"); 3],
            ),
        ];
        for (status, expected) in cases {
            let g = group(status, Some(60), 1);
            let got: Vec<Option<&str>> = [Booked, Attended, DidNotAttend]
                .iter()
                .map(|a| g.may_mark(*a, g.scheduled_at).err().map(|e| e.code))
                .collect();
            assert_eq!(got, expected, "{status}");
        }
        // A referral received after the session took place has no place on it.
        let later =
            group(GroupSessionStatus::Held, Some(60), 1).scheduled_at + Duration::seconds(1);
        for status in [GroupSessionStatus::Scheduled, GroupSessionStatus::Held] {
            let g = group(status, Some(60), 1);
            for a in [Booked, Attended, DidNotAttend] {
                assert_eq!(
                    g.may_mark(a, later).err().map(|e| e.code),
                    Some("before_received")
                );
            }
        }
        let g = group(GroupSessionStatus::Held, Some(60), 1);
        assert_eq!(g.contact_at(Attended), Some(g.scheduled_at));
        assert_eq!(g.contact_at(DidNotAttend), None);
        assert_eq!(g.contact_at(Booked), None);
    }

    #[test]
    fn the_status_moves_once_from_scheduled() {
        use GroupSessionStatus::*;
        assert_eq!(Scheduled.next(), [Held, Cancelled]);
        assert!(Held.next().is_empty() && Cancelled.next().is_empty());
        let code = |from: GroupSessionStatus, change: &dyn Fn(&mut GroupSession)| {
            let before = group(from, Some(60), 1);
            let mut after = before.clone();
            change(&mut after);
            before.may_become(&after).err().map(|e| e.code)
        };
        assert_eq!(code(Scheduled, &|g| g.status = Held), None);
        assert_eq!(
            code(Held, &|g| g.status = Scheduled),
            Some("invalid_transition")
        );
        assert_eq!(
            code(Cancelled, &|g| g.status = Held),
            Some("invalid_transition")
        );
        let later = |g: &mut GroupSession| g.scheduled_at += Duration::days(1);
        assert_eq!(code(Scheduled, &later), None);
        assert_eq!(code(Held, &later), Some("group_session_final"));
        assert_eq!(
            code(Held, &|g| g.mode = SessionMode::Video),
            Some("group_session_final")
        );
        // The title, the length and who ran it may still be corrected.
        assert_eq!(code(Held, &|g| g.duration_minutes = Some(75)), None);
        assert_eq!(code(Held, &|g| g.title = "Walk and talk".into()), None);
    }

    proptest! {
        #[test]
        fn staff_time_is_the_length_once_per_facilitator_once_held(
            minutes in 1u32..=480,
            facilitators in 1usize..=10,
            status in prop::sample::select(GroupSessionStatus::ALL),
        ) {
            let g = group(status, Some(minutes), facilitators);
            let expected = if status == GroupSessionStatus::Held {
                i64::from(minutes) * facilitators as i64
            } else {
                0
            };
            prop_assert_eq!(g.staff_minutes(), expected);
        }

        #[test]
        fn facilitators_are_one_to_ten_and_distinct(n in 0usize..14, repeat: bool) {
            let mut ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
            if repeat && n > 1 {
                ids[n - 1] = ids[0];
            }
            let expected = if n == 0 || n > MAX_FACILITATORS {
                Some("out_of_range")
            } else if repeat && n > 1 {
                Some("duplicate")
            } else {
                None
            };
            prop_assert_eq!(facilitators(&ids).err().map(|e| e.code), expected);
        }
    }
}
