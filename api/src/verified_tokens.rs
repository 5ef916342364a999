//! Tokens this server has already verified, until they expire.
//!
//! Verifying an ES256 signature was 15% of the server's own CPU on a create (docs/benchmarks.md),
//! and a client sends the same token with every request until it expires. What verification
//! decides cannot change before `exp`: the keys are fixed for the server's life, the claims are
//! signed, and a token that passed the lifetime checks once passes them until it expires. So a
//! verified token's caller is remembered until its `exp`, and after that the token is verified
//! afresh (which still allows the leeway). Deactivation is checked on every request, after this.
//! Only verified tokens are remembered, so refused ones cannot fill it.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::auth::Caller;

/// The most tokens remembered (a few hundred bytes each); when full, expired ones are dropped,
/// and if none had expired, all are.
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub struct VerifiedTokens(RwLock<HashMap<Box<str>, (Caller, i64)>>);

impl VerifiedTokens {
    /// The caller `token` proves, if it was verified and `now` is before its `exp`.
    pub fn get(&self, token: &str, now: i64) -> Option<Caller> {
        let known = self.0.read().unwrap_or_else(PoisonError::into_inner);
        match known.get(token) {
            Some((caller, exp)) if now < *exp => Some(caller.clone()),
            _ => None,
        }
    }

    /// Remembers that `token`, expiring at `exp`, proves `caller`.
    pub fn put(&self, token: &str, caller: &Caller, exp: i64, now: i64) {
        let mut known = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= CAPACITY {
            known.retain(|_, (_, exp)| now < *exp);
            if known.len() >= CAPACITY {
                known.clear();
            }
        }
        known.insert(token.into(), (caller.clone(), exp));
    }
}

#[cfg(test)]
mod tests {
    use linkwell_domain::Role;

    use super::*;

    fn caller(sub: &str) -> Caller {
        Caller {
            sub: sub.into(),
            role: Role::Coordinator,
            org: None,
        }
    }

    #[test]
    fn a_token_is_remembered_until_it_expires_and_never_past() {
        let tokens = VerifiedTokens::default();
        assert_eq!(tokens.get("t", 100), None);
        tokens.put("t", &caller("a"), 200, 100);
        assert_eq!(tokens.get("t", 199), Some(caller("a")));
        assert_eq!(tokens.get("t", 200), None);
        assert_eq!(tokens.get("other", 150), None);
    }

    #[test]
    fn a_full_cache_drops_the_expired_then_everything() {
        let tokens = VerifiedTokens::default();
        for i in 0..CAPACITY {
            tokens.put(&format!("old{i}"), &caller("a"), 10, 0);
        }
        tokens.put("new", &caller("b"), 100, 50);
        assert_eq!(tokens.0.read().unwrap().len(), 1);
        for i in 0..CAPACITY {
            tokens.put(&format!("live{i}"), &caller("a"), 100, 50);
        }
        assert_eq!(tokens.0.read().unwrap().len(), 1);
        assert_eq!(
            tokens.get(&format!("live{}", CAPACITY - 1), 60),
            Some(caller("a"))
        );
    }
}
