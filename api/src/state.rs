//! What every handler can reach: the pool, the token keys, the cursor key.

use std::time::Duration;

use linkwell_persistence::Pool;

use crate::auth::{KnownOrganisations, TokenKeys};
use crate::cors::CorsPolicy;
use crate::pagination::CursorKey;
use crate::ratelimit::{CallerLimits, ProbeLimits, PublicAccess, RefusedLimits};
use crate::revocation::Revoked;

/// Shared application state.
#[derive(Debug)]
pub struct AppState {
    pub pool: Pool,
    /// Where `db::transaction` writes: the same pool on PostgreSQL; on SQLite one connection
    /// of its own. SQLite has one writer at a time anyway, and a connection drops its page
    /// cache whenever another connection has written: rotating writes over the pool made
    /// every write re-read its pages (create at 32 clients: 928/s over the pool of 8, 1,303/s
    /// over one connection; docs/benchmarks.md).
    pub writes: Pool,
    /// Commits the audit rows of reads, many requests' at once.
    pub audit: crate::audit_writer::AuditWriter,
    pub tokens: TokenKeys,
    pub cursors: CursorKey,
    /// Signs one-time action links.
    pub links: crate::routes::action_links::LinkKey,
    /// How long a request waits for a database connection before answering 503.
    pub db_timeout: Duration,
    /// Users whose tokens no longer work.
    pub revoked: Revoked,
    /// The rate limit on operations open to anyone.
    pub public: PublicAccess,
    /// The rate limit on each authenticated caller.
    pub callers: CallerLimits,
    /// The rate limit on requests whose token was refused, per client address.
    pub refused: RefusedLimits,
    /// The rate limit on the health probes and the key set without a token, per client
    /// address and operation.
    pub probes: ProbeLimits,
    /// The origins whose pages may call the API.
    pub cors: CorsPolicy,
    /// Every referral is for people at least this old on the day it arrives.
    pub min_age: u32,
    /// The SWEMWBS improvement counted as meaningful, in hundredths of a metric point.
    pub meaningful_change_hundredths: i32,
    /// How long a request body may take to arrive (408 after that).
    pub body_timeout: Duration,
    /// The kinds of the organisations tokens name.
    pub organisations: KnownOrganisations,
    /// The token endpoint's own URL: what a system's signed assertion names as `aud`.
    pub token_endpoint: String,
    /// How long a token issued to a system lives, in seconds.
    pub client_token_seconds: i64,
    /// The OpenID Connect provider whose tokens act as linked users, when configured.
    pub oidc: Option<crate::oidc::Provider>,
    /// The cap on client secret checks running at once.
    pub secret_checks: crate::secret_checks::SecretChecks,
}
