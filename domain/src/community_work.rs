//! Community development work (LifeLink): time link workers spend starting and supporting
//! community groups, rather than with one person. It is about groups, never people, and
//! reports give its hours beside the one-to-one hours.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Invalid;
use crate::codes::code_list;
use crate::text::TextRule;

code_list! {
    /// What the time was spent on.
    pub enum CommunityActivity as "activity" {
        /// Helping a new group get going.
        Starting = "starting",
        /// Supporting a group that runs already.
        Supporting = "supporting",
        /// Finding, training or supporting volunteers.
        Volunteers = "volunteers",
        /// Funding bids, premises and other practicalities.
        Funding = "funding",
        /// Bringing groups and services together.
        Networking = "networking",
        /// Telling people and practices about groups.
        Promotion = "promotion",
    }
}

/// A group not (yet) in the directory, by name: one line.
pub const GROUP_NAME: TextRule = TextRule::line(200);
/// What was done, in words: lines allowed, about groups, not people.
pub const NOTES: TextRule = TextRule::lines(2000);
/// The longest piece of community work recorded at once, in minutes (a working day).
pub const MAX_MINUTES: u32 = 480;

/// The group the work was for: one in the directory, or a new one by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommunityGroup {
    Service(Uuid),
    Named(String),
}

impl CommunityGroup {
    /// Exactly one of a directory service or a name.
    pub fn new(service_id: Option<Uuid>, name: Option<String>) -> Result<Self, Invalid> {
        match (service_id, name) {
            (Some(id), None) => Ok(CommunityGroup::Service(id)),
            (None, Some(name)) => Ok(CommunityGroup::Named(name)),
            _ => Err(Invalid::new(
                "one_of",
                "give the group's `service_id` (a directory service) or its `name`, not both",
            )),
        }
    }
}

/// A piece of community development work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityWork {
    pub id: Uuid,
    pub group: CommunityGroup,
    pub activity: CommunityActivity,
    pub minutes: u32,
    pub occurred_at: DateTime<Utc>,
    /// The team it counts for in reports, if any.
    pub team_id: Option<Uuid>,
    pub notes: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Minutes: 1 to 480.
pub fn minutes(value: i64) -> Result<u32, Invalid> {
    u32::try_from(value)
        .ok()
        .filter(|m| (1..=MAX_MINUTES).contains(m))
        .ok_or_else(|| Invalid::new("out_of_range", format!("must be from 1 to {MAX_MINUTES}")))
}

/// When it happened: not in the future (`now`).
pub fn occurred_at(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, Invalid> {
    if at > now {
        return Err(Invalid::new(
            "in_future",
            "work is recorded once it is done",
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_group_is_a_service_or_a_name_never_both_nor_neither() {
        let id = Uuid::now_v7();
        assert_eq!(
            CommunityGroup::new(Some(id), None),
            Ok(CommunityGroup::Service(id))
        );
        assert_eq!(
            CommunityGroup::new(None, Some("Knit and natter".into())),
            Ok(CommunityGroup::Named("Knit and natter".into()))
        );
        for (service, name) in [(None, None), (Some(id), Some("Both".to_owned()))] {
            assert_eq!(
                CommunityGroup::new(service, name).err().map(|e| e.code),
                Some("one_of")
            );
        }
    }

    #[test]
    fn work_is_recorded_once_done() {
        let now = Utc::now();
        assert!(occurred_at(now, now).is_ok());
        assert_eq!(
            occurred_at(now + Duration::minutes(1), now)
                .err()
                .map(|e| e.code),
            Some("in_future")
        );
    }

    proptest! {
        #[test]
        fn minutes_are_one_to_480(value: i64) {
            prop_assert_eq!(minutes(value).is_ok(), (1..=480).contains(&value));
        }
    }
}
