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

    /// Who sends referrals for an organisation: its referrers, and its partners referring a
    /// person onward. Each reads back, and may withdraw, only its own organisation's.
    pub fn sends_for_organisation(self) -> bool {
        matches!(self, Role::Referrer | Role::Partner)
    }

    /// Referrers and partners act for one organisation, and their tokens must say which.
    pub fn needs_org(self) -> bool {
        matches!(self, Role::Referrer | Role::Partner)
    }

    /// Referrers and partners (users or systems, `who`) act for an organisation and must name
    /// it; staff and commissioners act for the service and must not.
    pub fn check_org(self, who: &str, org_id: Option<uuid::Uuid>) -> Result<(), crate::Invalid> {
        match (self.needs_org(), org_id) {
            (true, None) => Err(crate::Invalid::new(
                "org_required",
                format!("a {self} {who} acts for an organisation: give its org_id"),
            )),
            (false, Some(_)) => Err(crate::Invalid::new(
                "org_not_applicable",
                format!("a {self} {who} acts for the service, not an organisation"),
            )),
            _ => Ok(()),
        }
    }
}

impl Role {
    /// Whether a token of this role may act for an organisation of `kind`: a referrer for
    /// anyone who refers (not a partner, which receives connections), a partner for anyone
    /// connections go to (not a GP practice); staff and commissioners are not bound to a kind.
    pub fn may_act_for(self, kind: crate::OrganisationKind) -> bool {
        use crate::OrganisationKind as Kind;
        match self {
            Role::Referrer => !matches!(kind, Kind::Partner),
            Role::Partner => !matches!(kind, Kind::GpPractice),
            Role::Admin | Role::Coordinator | Role::Commissioner => true,
        }
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;
    use crate::OrganisationKind as Kind;

    #[test]
    fn referrers_and_partners_act_only_for_organisations_of_their_side() {
        assert!(Role::Referrer.may_act_for(Kind::GpPractice));
        assert!(Role::Referrer.may_act_for(Kind::Agency));
        assert!(Role::Referrer.may_act_for(Kind::CommunityGroup));
        assert!(!Role::Referrer.may_act_for(Kind::Partner));
        assert!(Role::Partner.may_act_for(Kind::Partner));
        assert!(Role::Partner.may_act_for(Kind::Agency));
        assert!(Role::Partner.may_act_for(Kind::CommunityGroup));
        assert!(!Role::Partner.may_act_for(Kind::GpPractice));
        for kind in Kind::ALL {
            assert!(Role::Coordinator.may_act_for(*kind));
        }
    }
}
