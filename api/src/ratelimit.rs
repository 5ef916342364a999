//! Rate limits. An authenticated caller has one allowance across every operation, keyed by
//! role and subject (so a token of one role cannot spend another's); without a token, each
//! operation open to anyone is limited per client address, and a request whose token was
//! refused spends its address's own allowance (`refused`, a caller's quota). Behind a
//! reverse proxy the address comes from `X-Forwarded-For`, but only when the peer is a
//! configured trusted proxy: anyone else could write whatever they like there. The health
//! probes and the key set spend their own per-address allowance (`probe`), token or not, so a
//! busy caller cannot fail an orchestrator's probe; the docs and the CORS preflight pass no limiter.
//!
//! Each answer to a limited request says where the caller stands in the `RateLimit-Policy` and
//! `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers-11 (May 2026, the latest
//! revision; the structured-field form since -09): `RateLimit-Policy: "default";q=1200;w=60`
//! and `RateLimit: "default";r=1199;t=1`. The limiter is GCRA (governor): the allowance
//! refills evenly over the window, so `t` is the time until it is full again.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::Caller;
use crate::error::{ApiError, Limited};

pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Every quota here is per minute.
const WINDOW_SECONDS: u64 = 60;

/// One named allowance per key, refilled evenly over a minute.
pub struct Limiter<K: Hash + Eq + Clone> {
    name: &'static str,
    per_minute: NonZeroU32,
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>,
}

impl<K: Hash + Eq + Clone> std::fmt::Debug for Limiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("name", &self.name)
            .field("per_minute", &self.per_minute)
            .finish_non_exhaustive()
    }
}

/// Where a request left its caller, for the `RateLimit` fields of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub policy: &'static str,
    pub quota: u32,
    pub remaining: u32,
    /// Seconds until the allowance is full again.
    pub reset: u64,
}

impl Standing {
    /// Writes `RateLimit-Policy` and `RateLimit`.
    pub fn write(&self, headers: &mut HeaderMap) {
        let Standing {
            policy,
            quota,
            remaining,
            reset,
        } = self;
        let pairs = [
            (
                RATELIMIT_POLICY,
                format!("\"{policy}\";q={quota};w={WINDOW_SECONDS}"),
            ),
            (RATELIMIT, format!("\"{policy}\";r={remaining};t={reset}")),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
}

/// Whole seconds, rounded up: a client told 0 would retry too early.
fn ceil_seconds(duration: std::time::Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(name: &'static str, per_minute: NonZeroU32) -> Self {
        Self {
            name,
            per_minute,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)).with_middleware(),
        }
    }

    /// Spends one request of `key`'s allowance; refused with when to come back.
    fn spend(&self, key: &K, scope: Limited) -> (Standing, Result<(), ApiError>) {
        let quota = self.per_minute.get();
        // GCRA refills one request every `interval`: the allowance is full again once the
        // spent ones have refilled.
        let interval = Quota::per_minute(self.per_minute).replenish_interval();
        let reset = |remaining: u32| ceil_seconds(interval * (quota - remaining.min(quota)));
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let standing = Standing {
                    policy: self.name,
                    quota,
                    remaining,
                    reset: reset(remaining),
                };
                (standing, Ok(()))
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let standing = Standing {
                    policy: self.name,
                    quota,
                    remaining: 0,
                    reset: reset(0),
                };
                let retry_after = ceil_seconds(wait).max(1);
                (standing, Err(ApiError::RateLimited { retry_after, scope }))
            }
        }
    }

    /// Forgets keys whose allowance is full again, so the table does not grow forever.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Spends one request of `key`'s allowance and records the standing on the request, where
/// `middleware` finds it for the response (429 included).
fn charge<K: Hash + Eq + Clone>(
    req: &HttpRequest,
    limiter: &Limiter<K>,
    key: &K,
    scope: Limited,
) -> Result<(), ApiError> {
    let (standing, admitted) = limiter.spend(key, scope);
    req.extensions_mut().insert(standing);
    admitted
}

/// The allowance of each authenticated caller, across every operation.
pub type CallerLimits = Limiter<(&'static str, String)>;

/// Spends one request of an authenticated caller's allowance.
pub fn charge_caller(
    req: &HttpRequest,
    limits: &CallerLimits,
    caller: &Caller,
) -> Result<(), ApiError> {
    let key = (caller.role.as_str(), caller.sub.clone());
    charge(req, limits, &key, Limited::Caller)
}

/// The allowance of each client address whose token was refused: a caller's quota, so a
/// client with a broken token is not cut off sooner than a working one, while guessing tokens
/// is limited all the same.
pub type RefusedLimits = Limiter<IpAddr>;

/// Spends one request of the allowance of an address whose token was refused.
pub fn charge_refused(
    req: &HttpRequest,
    limits: &RefusedLimits,
    client: IpAddr,
) -> Result<(), ApiError> {
    charge(req, limits, &client, Limited::Address)
}

/// The allowance of each client address for each health probe and the key set
/// (`LINKWELL_PROBE_RATE_PER_MINUTE`), which orchestrators and token verifiers poll.
pub type ProbeLimits = Limiter<(&'static str, IpAddr)>;

/// Spends one request of an address's allowance for a probe or the key set.
pub fn charge_probe(
    req: &HttpRequest,
    limits: &ProbeLimits,
    operation: &'static str,
    client: IpAddr,
) -> Result<(), ApiError> {
    charge(
        req,
        limits,
        &(operation, allowance_key(client)),
        Limited::Address,
    )
}

/// The per-address limit for public operations, and who may speak for a client.
#[derive(Debug)]
pub struct PublicAccess {
    /// Keyed by operation and address: each public operation has its own allowance.
    limiter: Limiter<(&'static str, IpAddr)>,
    trusted_proxies: Vec<IpAddr>,
}

impl PublicAccess {
    /// `per_minute` requests per address and operation, refilled evenly over the minute.
    pub fn new(per_minute: NonZeroU32, trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            limiter: Limiter::new("public", per_minute),
            trusted_proxies,
        }
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
    /// address in `X-Forwarded-For` that is not one of ours.
    pub fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        Some(client_address(peer, &forwarded, &self.trusted_proxies))
    }

    /// Admits one request of `operation` from `client`, or says when to come back.
    pub fn admit(
        &self,
        req: &HttpRequest,
        operation: &'static str,
        client: IpAddr,
    ) -> Result<(), ApiError> {
        charge(
            req,
            &self.limiter,
            &(operation, allowance_key(client)),
            Limited::Address,
        )
    }

    /// Forgets addresses whose allowance is full again, so the table does not grow forever.
    pub fn forget_idle(&self) {
        self.limiter.forget_idle();
    }
}

/// The client's address from the peer's and the `X-Forwarded-For` hops (nearest last): past
/// each trusted proxy to the first address that is not one, or the last readable one. IPv4
/// peers seen through an IPv6 socket (`::ffff:1.2.3.4`) are IPv4, so they match the
/// configured proxies and share one allowance whichever way they arrive.
pub fn client_address(peer: IpAddr, forwarded: &[&str], trusted: &[IpAddr]) -> IpAddr {
    let trusted = |addr: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *addr);
    let mut client = peer.to_canonical();
    if !trusted(&client) {
        return client;
    }
    for hop in forwarded.iter().rev() {
        match parse_hop(hop) {
            Some(addr) => {
                client = addr;
                if !trusted(&addr) {
                    break;
                }
            }
            // Unreadable from here on: the last address we could trust stands.
            None => break,
        }
    }
    client
}

/// One `X-Forwarded-For` hop: an address, perhaps with a port (`1.2.3.4:5678`, `[::1]:80`)
/// or in brackets (`[::1]`), as proxies write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let addr = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })?;
    Some(addr.to_canonical())
}

/// What an address's allowance is kept under: an IPv4 address, or an IPv6 address's /64 (one
/// host is routinely given a whole /64, so per address it would have 2^64 allowances).
pub fn allowance_key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Writes the `RateLimit` fields on a response whose request spent an allowance.
pub fn write_standing(req: &HttpRequest, headers: &mut HeaderMap) {
    let standing = req.extensions().get::<Standing>().copied();
    if let Some(standing) = standing {
        standing.write(headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_follow_the_draft() {
        let mut headers = HeaderMap::new();
        Standing {
            policy: "default",
            quota: 1200,
            remaining: 1199,
            reset: 1,
        }
        .write(&mut headers);
        assert_eq!(
            headers.get(RATELIMIT_POLICY).and_then(|v| v.to_str().ok()),
            Some("\"default\";q=1200;w=60")
        );
        assert_eq!(
            headers.get(RATELIMIT).and_then(|v| v.to_str().ok()),
            Some("\"default\";r=1199;t=1")
        );
    }

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn forwarded_hops_may_carry_ports_and_brackets() {
        let proxy = [ip("10.0.0.1")];
        let cases = [
            ("1.2.3.4:5678", "1.2.3.4"),
            ("[2001:db8::7]:80", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            (" 2001:db8::7 ", "2001:db8::7"),
            ("::ffff:1.2.3.4", "1.2.3.4"),
            ("[::ffff:1.2.3.4]:443", "1.2.3.4"),
        ];
        for (hop, client) in cases {
            assert_eq!(
                client_address(ip("10.0.0.1"), &[hop], &proxy),
                ip(client),
                "{hop}"
            );
        }
        // Past our own proxies (with ports too) to the first address that is not ours.
        let hops = ["9.9.9.9", "1.2.3.4:1", "10.0.0.1:8080"];
        assert_eq!(client_address(ip("10.0.0.1"), &hops, &proxy), ip("1.2.3.4"));
        // Unreadable: the nearest trusted address stands.
        assert_eq!(
            client_address(ip("10.0.0.1"), &["nonsense"], &proxy),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn an_ipv4_mapped_peer_is_ipv4() {
        let proxy = [ip("10.0.0.1")];
        // A mapped peer matches the configured IPv4 proxy, so its header is believed...
        assert_eq!(
            client_address(ip("::ffff:10.0.0.1"), &["1.2.3.4"], &proxy),
            ip("1.2.3.4")
        );
        // ...and an untrusted mapped peer is keyed as the IPv4 address it is.
        assert_eq!(
            client_address(ip("::ffff:5.6.7.8"), &["1.2.3.4"], &proxy),
            ip("5.6.7.8")
        );
        assert_eq!(allowance_key(ip("::ffff:5.6.7.8")), ip("5.6.7.8"));
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64s_allowance() {
        assert_eq!(
            allowance_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            allowance_key(ip("2001:db8:1:2::1")),
            allowance_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            allowance_key(ip("2001:db8:1:2::1")),
            allowance_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(allowance_key(ip("192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn an_exhausted_allowance_says_when_to_come_back() {
        let limiter: Limiter<u8> = Limiter::new("default", NonZeroU32::MIN.saturating_add(1));
        let (first, ok) = limiter.spend(&1, Limited::Caller);
        assert!(ok.is_ok());
        assert_eq!((first.remaining, first.reset), (1, 30));
        let (second, ok) = limiter.spend(&1, Limited::Caller);
        assert!(ok.is_ok());
        assert_eq!((second.remaining, second.reset), (0, 60));
        let (third, refused) = limiter.spend(&1, Limited::Caller);
        assert_eq!((third.remaining, third.reset), (0, 60));
        assert!(matches!(
            refused,
            Err(ApiError::RateLimited { retry_after, scope: Limited::Caller })
                if (29..=30).contains(&retry_after)
        ));
        // Another key has its own allowance.
        assert!(limiter.spend(&2, Limited::Caller).1.is_ok());
    }
}
