//! The wellbeing plan: what matters to the person, in their words, their strengths, and the
//! goals agreed with the link worker — each goal's changes of status kept (who, when).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::text::TextRule;
use crate::{Invalid, Role};

code_list! {
    /// Where a goal stands. Any status may follow any other (a goal dropped in a hard month is
    /// taken up again; one marked achieved too soon is reopened): the history keeps each change.
    pub enum GoalStatus as "status" {
        Proposed = "proposed",
        Active = "active",
        Achieved = "achieved",
        NotAchieved = "not_achieved",
        Dropped = "dropped",
    }
}

/// What matters to the person, in their words.
pub const WHAT_MATTERS: TextRule = TextRule::lines(4000);
/// The person's strengths and what they bring.
pub const STRENGTHS: TextRule = TextRule::lines(4000);
/// A goal, as agreed.
pub const GOAL_DESCRIPTION: TextRule = TextRule::lines(1000);

/// A note on progress towards a goal, from a receiving organisation the plan is shared with.
pub const PROGRESS_NOTE: TextRule = TextRule::lines(2000);

/// The earliest target date a goal may have.
pub const EARLIEST_TARGET_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
/// How far ahead a goal's target date may be, in years.
pub const TARGET_YEARS_AHEAD: u32 = 10;

/// A goal's target date: on or after 2000-01-01 and at most ten years after `today` (a date
/// outside is a typing slip, e.g. 0026 for 2026, and would sink every report on goals).
pub fn target_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, Invalid> {
    let latest = today
        .checked_add_months(chrono::Months::new(12 * TARGET_YEARS_AHEAD))
        .unwrap_or(NaiveDate::MAX);
    if date < EARLIEST_TARGET_DATE || date > latest {
        return Err(Invalid::new(
            "out_of_range",
            format!(
                "must be from {EARLIEST_TARGET_DATE} to {latest} (at most {TARGET_YEARS_AHEAD} years ahead)"
            ),
        ));
    }
    Ok(date)
}

/// A referral's wellbeing plan: one per referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub referral_id: Uuid,
    pub what_matters: String,
    pub strengths: Option<String>,
    /// When the person agreed it; `None` while it is still a draft.
    pub agreed_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Plan {
    /// The rule across fields: a plan is agreed after the referral arrived (`received_at`) and
    /// not in the future (`now`).
    pub fn check(
        &self,
        received_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Vec<(&'static str, Invalid)>> {
        match self.agreed_at {
            Some(at) if at > now => Err(vec![(
                "agreed_at",
                Invalid::new("in_future", "a plan cannot be agreed in the future"),
            )]),
            Some(at) if at < received_at => Err(vec![(
                "agreed_at",
                Invalid::new(
                    "before_received",
                    "must not be before the referral was received",
                ),
            )]),
            _ => Ok(()),
        }
    }

    /// Whether `other` says the same as this plan (ignoring who wrote it, when, and versions).
    pub fn same_content(&self, other: &Plan) -> bool {
        (&self.what_matters, &self.strengths, self.agreed_at)
            == (&other.what_matters, &other.strengths, other.agreed_at)
    }
}

/// A goal in a referral's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub description: String,
    pub target_date: Option<NaiveDate>,
    pub status: GoalStatus,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// One change of a goal's status. The first is the goal's creation (`from` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalStatusChange {
    pub id: Uuid,
    pub goal_id: Uuid,
    pub from: Option<GoalStatus>,
    pub to: GoalStatus,
    pub actor_sub: String,
    pub actor_role: Role,
    pub at: DateTime<Utc>,
}

/// A note on progress towards a goal, added through a connection that shares the plan: by
/// the receiving organisation, or by staff for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressNote {
    pub id: Uuid,
    pub goal_id: Uuid,
    /// The connection the plan was shared through.
    pub connection_id: Uuid,
    pub text: String,
    pub author_sub: String,
    pub author_role: Role,
    /// The organisation a partner wrote for; `None` for the service's staff.
    pub author_org_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Who changes a goal and when.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub actor_sub: &'a str,
    pub actor_role: Role,
    pub at: DateTime<Utc>,
}

impl Goal {
    /// A new goal and the first entry of its history.
    pub fn new(
        referral_id: Uuid,
        description: String,
        target_date: Option<NaiveDate>,
        status: GoalStatus,
        by: Change<'_>,
    ) -> (Self, GoalStatusChange) {
        let goal = Goal {
            id: Uuid::now_v7(),
            referral_id,
            description,
            target_date,
            status,
            created_by: by.actor_sub.to_owned(),
            created_at: by.at,
            updated_at: by.at,
            version: 1,
        };
        let first = goal.change_to(None, by);
        (goal, first)
    }

    /// Records a change made by `by` to what `edited` holds: a new version, and the history
    /// entry when the status moved.
    pub fn changed(
        before: &Goal,
        mut edited: Goal,
        by: Change<'_>,
    ) -> (Goal, Option<GoalStatusChange>) {
        edited.updated_at = by.at;
        edited.version = before.version + 1;
        let moved =
            (edited.status != before.status).then(|| edited.change_to(Some(before.status), by));
        (edited, moved)
    }

    fn change_to(&self, from: Option<GoalStatus>, by: Change<'_>) -> GoalStatusChange {
        GoalStatusChange {
            id: Uuid::now_v7(),
            goal_id: self.id,
            from,
            to: self.status,
            actor_sub: by.actor_sub.to_owned(),
            actor_role: by.actor_role,
            at: by.at,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn target_dates_are_bounded() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        let today = day(2026, 3, 18);
        assert_eq!(target_date(day(2000, 1, 1), today), Ok(day(2000, 1, 1)));
        assert_eq!(target_date(day(2036, 3, 18), today), Ok(day(2036, 3, 18)));
        for bad in [day(1999, 12, 31), day(2036, 3, 19), day(26, 6, 1)] {
            assert_eq!(
                target_date(bad, today).map_err(|e| e.code),
                Err("out_of_range"),
                "{bad}"
            );
        }
    }

    fn when() -> DateTime<Utc> {
        DateTime::from_timestamp(1_773_826_200, 0).unwrap_or_default()
    }

    fn by(at: DateTime<Utc>) -> Change<'static> {
        Change {
            actor_sub: "jo",
            actor_role: Role::Coordinator,
            at,
        }
    }

    #[test]
    fn a_plan_is_agreed_between_receipt_and_now() {
        let at = when();
        let mut plan = Plan {
            referral_id: Uuid::nil(),
            what_matters: "Getting out of the house".into(),
            strengths: None,
            agreed_at: Some(at),
            created_by: "jo".into(),
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let codes = |p: &Plan, received, now| {
            p.check(received, now)
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|(m, e)| (m, e.code))
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(&plan, at, at), []);
        assert_eq!(
            codes(&plan, at, at - Duration::seconds(1)),
            [("agreed_at", "in_future")]
        );
        assert_eq!(
            codes(&plan, at + Duration::seconds(1), at + Duration::days(1)),
            [("agreed_at", "before_received")]
        );
        plan.agreed_at = None;
        assert_eq!(codes(&plan, at + Duration::days(1), at), []);
    }

    #[test]
    fn every_status_change_is_kept_and_edits_alone_are_not_moves() {
        let (goal, first) = Goal::new(
            Uuid::nil(),
            "Join the walking group".into(),
            None,
            GoalStatus::Proposed,
            by(when()),
        );
        assert_eq!(
            (first.from, first.to, goal.version),
            (None, GoalStatus::Proposed, 1)
        );

        let mut edited = goal.clone();
        edited.description = "Join the Tuesday walking group".into();
        let later = when() + Duration::hours(1);
        let (edited, moved) = Goal::changed(&goal, edited, by(later));
        assert_eq!((moved, edited.version, edited.updated_at), (None, 2, later));

        for (from, to) in [
            (GoalStatus::Proposed, GoalStatus::Achieved),
            (GoalStatus::Dropped, GoalStatus::Active),
            (GoalStatus::Achieved, GoalStatus::NotAchieved),
        ] {
            let before = Goal {
                status: from,
                ..goal.clone()
            };
            let (after, moved) = Goal::changed(
                &before,
                Goal {
                    status: to,
                    ..before.clone()
                },
                by(later),
            );
            let moved = moved.map(|m| (m.from, m.to, m.actor_sub, m.at));
            assert_eq!(moved, Some((Some(from), to, "jo".to_owned(), later)));
            assert_eq!(after.status, to);
        }
    }
}
