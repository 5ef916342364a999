//! A cap on the argon2 checks running at once. The token endpoint is open to anyone, and each
//! `client_secret_*` attempt costs tens of milliseconds of CPU, unknown clients included (they
//! are checked against a decoy so that refusals take the same time). The per-address limit
//! does not stop many addresses; this bounds the CPU all of them together can take. A request
//! over the cap is turned away before the client is looked up, so the answer says nothing
//! about whether the client exists.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many secret checks may run at once.
#[derive(Debug)]
pub struct SecretChecks {
    running: Arc<AtomicUsize>,
    limit: usize,
}

/// One running check's place; given back when dropped (moved into the blocking task, so a
/// client that hangs up does not free the place while argon2 still runs).
#[derive(Debug)]
pub struct Permit(Arc<AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SecretChecks {
    pub fn new(limit: NonZeroUsize) -> Self {
        Self {
            running: Arc::new(AtomicUsize::new(0)),
            limit: limit.get(),
        }
    }

    /// A place for one check, or `None` when `limit` are running.
    pub fn try_start(&self) -> Option<Permit> {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit(Arc::clone(&self.running)))
    }
}

/// The default cap: one check per core, so secret checks can take the whole CPU only when
/// nothing else wants it, and never queue without bound.
pub fn default_limit() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_limit_run_at_once() {
        let checks = SecretChecks::new(NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN));
        let first = checks.try_start();
        let second = checks.try_start();
        assert!(first.is_some() && second.is_some());
        assert!(checks.try_start().is_none());
        drop(first);
        let third = checks.try_start();
        assert!(third.is_some());
        assert!(checks.try_start().is_none());
        drop((second, third));
        assert_eq!(checks.running.load(Ordering::Acquire), 0);
    }
}
