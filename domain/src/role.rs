//! Who a caller is to the service; each role sees and does different things.

use crate::codes::code_list;

code_list! {
    /// A caller's role, carried in its access token.
    pub enum Role as "role" {
        /// Runs the service: organisations, configuration, everything staff can do.
        Admin = "admin",
        /// A link worker: works with people and their referrals.
        Coordinator = "coordinator",
        /// A referring organisation's system or professional (GP practice, other agency).
        Referrer = "referrer",
        /// A partner organisation receiving onward connections (e.g. Citizens Advice).
        Partner = "partner",
        /// Reads aggregate reports only.
        Commissioner = "commissioner",
    }
}

impl Role {
    /// The service's own people: link workers and administrators.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Coordinator)
    }

    /// Referrers and partners act for one organisation, and their tokens must say which.
    pub fn needs_org(self) -> bool {
        matches!(self, Role::Referrer | Role::Partner)
    }
}
