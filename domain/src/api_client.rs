//! Systems that call the API on their own behalf (OAuth 2 client credentials, the NHS "signed
//! JWT" pattern): a GP system at a practice, a partner's case system. An administrator
//! registers each one with the role and organisation its tokens carry.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::text::TextRule;
use crate::{Invalid, Role};

/// What the administrators call the system: one line.
pub const NAME: TextRule = TextRule::line(200);

/// The longest an assertion may live, from now to its `exp` (NHS England's signed-JWT rule):
/// five minutes.
pub const MAX_ASSERTION_SECONDS: i64 = 300;

/// How long an access token issued to a system lives unless configured: five minutes.
pub const DEFAULT_TOKEN_SECONDS: i64 = 300;

/// The roles a system may act as: staff (a case-management system), a referrer, a partner or a
/// commissioner's reporting tool; never an administrator, whose powers stay with people.
pub const ROLES: &[Role] = &[
    Role::Coordinator,
    Role::Referrer,
    Role::Partner,
    Role::Commissioner,
];

/// A system as registered, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiClient {
    pub name: String,
    pub role: Role,
    pub org_id: Option<Uuid>,
}

impl NewApiClient {
    /// A system acts as one of [`ROLES`], for an organisation when its role needs one.
    pub fn new(name: String, role: Role, org_id: Option<Uuid>) -> Result<Self, Invalid> {
        if !ROLES.contains(&role) {
            return Err(Invalid::new(
                "role_not_allowed",
                "a system cannot act as an admin: register a person for that",
            ));
        }
        role.check_org("system", org_id)?;
        Ok(Self { name, role, org_id })
    }
}

/// How a system proves who it is at the token endpoint. Its `Debug` names the kind only: a
/// secret's hash has no business in a log.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCredential {
    /// `client_secret_post` or `client_secret_basic`: the secret's argon2 hash (PHC string).
    SecretHash(String),
    /// `private_key_jwt` (RFC 7523): its public keys, as a JSON Web Key Set document.
    Jwks(String),
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SecretHash(_) => f.write_str("SecretHash(redacted)"),
            Self::Jwks(jwks) => f.debug_tuple("Jwks").field(jwks).finish(),
        }
    }
}

/// A registered system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub id: Uuid,
    /// What the system sends as `client_id` (and as `iss` and `sub` of its assertions).
    pub client_id: String,
    pub name: String,
    pub role: Role,
    pub org_id: Option<Uuid>,
    pub credential: ClientCredential,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// A revoked system gets no new tokens, and its tokens stop working.
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub version: i64,
}

impl ApiClient {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_hash_never_reaches_debug_output() {
        let hash = ClientCredential::SecretHash("$argon2id$v=19$secret-hash".into());
        assert_eq!(format!("{hash:?}"), "SecretHash(redacted)");
    }

    #[test]
    fn systems_follow_the_organisation_rules_of_users_and_are_never_admins() {
        let org = Some(Uuid::nil());
        assert!(NewApiClient::new("GP system".into(), Role::Referrer, org).is_ok());
        assert!(NewApiClient::new("Case system".into(), Role::Coordinator, None).is_ok());
        let code = |r: Result<NewApiClient, Invalid>| r.unwrap_err().code;
        assert_eq!(
            code(NewApiClient::new("x".into(), Role::Admin, None)),
            "role_not_allowed"
        );
        assert_eq!(
            code(NewApiClient::new("x".into(), Role::Partner, None)),
            "org_required"
        );
        assert_eq!(
            code(NewApiClient::new("x".into(), Role::Commissioner, org)),
            "org_not_applicable"
        );
    }
}
