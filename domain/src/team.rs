//! Teams within the service, such as the place-based teams of Local Area Coordination: link
//! workers belong to one or more, a referral is owned by one, and a referral moves between
//! teams by a handover (an introduction to another team), kept in its history.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::text::TextRule;
use crate::{Referral, ReferralStatus, Role};

code_list! {
    /// What an entry of a referral's history records.
    pub enum HistoryKind as "history kind" {
        /// A change of status (the first is the referral's receipt).
        Status = "status",
        /// A move to another team (a handover).
        Team = "team",
    }
}

/// A team's name: one line, unique in the service ignoring case.
pub const NAME: TextRule = TextRule::line(200);
/// Where a team works, in words (a ward, a town): one line.
pub const AREA: TextRule = TextRule::line(200);
/// Why a referral is handed over to another team; lines allowed.
pub const HANDOVER_REASON: TextRule = TextRule::lines(1000);

/// A stored team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub area: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// A referral's move from one team to another (or to its first team), as its history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMove {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub from: Option<Uuid>,
    pub to: Uuid,
    /// The referral's status, which a move leaves as it was.
    pub status: ReferralStatus,
    pub reason: Option<String>,
    pub actor_sub: String,
    pub actor_role: Role,
    pub at: DateTime<Utc>,
}

/// Why a handover cannot happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoverRefused {
    /// Closed, declined or withdrawn: its team no longer changes.
    Final(ReferralStatus),
    /// The referral is already that team's.
    SameTeam,
    /// An active referral always has a link worker: name one in the receiving team, or put
    /// the referral on hold first.
    AssigneeRequired,
}

impl HandoverRefused {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            HandoverRefused::Final(_) => "referral_final",
            HandoverRefused::SameTeam => "same_team",
            HandoverRefused::AssigneeRequired => "assignee_required",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            HandoverRefused::Final(status) => {
                format!("the referral is `{status}`, which is final: its team no longer changes")
            }
            HandoverRefused::SameTeam => "the referral is already that team's".to_owned(),
            HandoverRefused::AssigneeRequired => "an active referral needs an assignee: name a \
                 link worker of the receiving team as `assignee_id`, or put it on hold first"
                .to_owned(),
        }
    }
}

/// Who hands a referral over, and when.
#[derive(Debug, Clone)]
pub struct Handover {
    pub move_id: Uuid,
    pub to: Uuid,
    /// A link worker of the receiving team to take the referral on; `None` puts it on the
    /// receiving team's waiting list.
    pub assignee_id: Option<Uuid>,
    pub reason: String,
    pub actor_sub: String,
    pub actor_role: Role,
    pub at: DateTime<Utc>,
}

impl Referral {
    /// Hands the referral over to another team: it leaves its link worker's caseload for the
    /// receiving team's waiting list, or for the caseload of the receiving team's link worker
    /// named. Its status stays as it was. Whether that link worker is an active member of the
    /// receiving team is for the caller to have checked.
    pub fn hand_over(&mut self, handover: Handover) -> Result<TeamMove, HandoverRefused> {
        if self.status.is_final() {
            return Err(HandoverRefused::Final(self.status));
        }
        if self.team_id == Some(handover.to) {
            return Err(HandoverRefused::SameTeam);
        }
        if self.status == ReferralStatus::Active && handover.assignee_id.is_none() {
            return Err(HandoverRefused::AssigneeRequired);
        }
        let moved = TeamMove {
            id: handover.move_id,
            referral_id: self.id,
            from: self.team_id,
            to: handover.to,
            status: self.status,
            reason: Some(handover.reason),
            actor_sub: handover.actor_sub,
            actor_role: handover.actor_role,
            at: handover.at,
        };
        self.team_id = Some(handover.to);
        self.assignee_id = handover.assignee_id;
        self.touch(handover.at);
        Ok(moved)
    }
}
