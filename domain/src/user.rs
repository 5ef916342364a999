//! Registered users: link workers, administrators, and the people who act for referring and
//! partner organisations. A token whose subject is a user's id acts as that user.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::text::TextRule;
use crate::{Email, Invalid, Role};

/// How a user is shown to colleagues: one line.
pub const DISPLAY_NAME: TextRule = TextRule::line(200);

/// A user as registered, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: Email,
    pub display_name: String,
    pub role: Role,
    pub org_id: Option<Uuid>,
}

impl NewUser {
    /// Referrer and partner users act for an organisation and must name it; staff and
    /// commissioners act for the service and must not.
    pub fn new(
        email: Email,
        display_name: String,
        role: Role,
        org_id: Option<Uuid>,
    ) -> Result<Self, Invalid> {
        role.check_org("user", org_id)?;
        Ok(Self {
            email,
            display_name,
            role,
            org_id,
        })
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: Email,
    pub display_name: String,
    pub role: Role,
    pub org_id: Option<Uuid>,
    /// A deactivated user's tokens stop working; their history stays.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl User {
    /// Only an active link worker holds a caseload.
    pub fn can_hold_caseload(&self) -> bool {
        self.active && self.role == Role::Coordinator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisations_go_with_referrer_and_partner_users_only() {
        let email = || Email::parse("a@example.org").unwrap_or_else(|_| unreachable!());
        let org = Some(Uuid::nil());
        for role in Role::ALL {
            let with = NewUser::new(email(), "A".into(), *role, org).map_err(|e| e.code);
            let without = NewUser::new(email(), "A".into(), *role, None).map_err(|e| e.code);
            if role.needs_org() {
                assert!(with.is_ok() && without == Err("org_required"), "{role}");
            } else {
                assert!(
                    without.is_ok() && with == Err("org_not_applicable"),
                    "{role}"
                );
            }
        }
    }
}
