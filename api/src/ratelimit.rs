//! Operations open to anyone are rate limited per client address. Behind a reverse proxy the
//! address comes from `X-Forwarded-For`, but only when the peer is a configured trusted proxy:
//! anyone else could write whatever they like there.

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// The per-address limit for public operations, and who may speak for a client.
#[derive(Debug)]
pub struct PublicAccess {
    /// Keyed by operation and address: each public operation has its own allowance.
    limiter: DefaultKeyedRateLimiter<(&'static str, IpAddr)>,
    trusted_proxies: Vec<IpAddr>,
}

impl PublicAccess {
    /// `per_minute` requests per address and operation, refilled evenly over the minute.
    pub fn new(per_minute: NonZeroU32, trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            trusted_proxies,
        }
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
    /// address in `X-Forwarded-For` that is not one of ours.
    pub fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded: Vec<String> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| hop.trim().to_owned())
            .collect();
        let mut client = peer;
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(addr) => {
                    client = addr;
                    if !self.trusted_proxies.contains(&addr) {
                        break;
                    }
                }
                // Unreadable from here on: the last address we could trust stands.
                Err(_) => break,
            }
        }
        Some(client)
    }

    /// Admits one request of `operation` from `client`, or says when to come back.
    pub fn admit(&self, operation: &'static str, client: IpAddr) -> Result<(), ApiError> {
        self.limiter
            .check_key(&(operation, client))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                ApiError::RateLimited {
                    retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                }
            })
    }

    /// Forgets addresses whose allowance is full again, so the table does not grow forever.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}
