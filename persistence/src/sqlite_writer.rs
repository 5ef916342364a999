//! The queue of this process's SQLite writers: one at a time, each waiting at most its busy
//! timeout.
//!
//! SQLite allows one writer at a time anyway; queueing here wakes the next writer the moment
//! the last commits, where SQLite's busy handler would have it sleep and poll (1, 2, 5, 10…
//! ms), which collapses throughput once transactions overlap. Another process on the same file
//! still waits in the busy handler. A writer waits here no longer than its busy timeout either:
//! behind another process's long write (a `linkwell retotal`) the queue would otherwise grow
//! without bound, each waiter serving its own timeout in turn.
//!
//! Built on `std::sync` rather than `parking_lot`'s timed mutex: parking_lot hands the lock
//! fairly to a sleeping waiter every half millisecond or so, and at a few thousand writes a
//! second each hand-off leaves the one writer's slot idle for a context switch (measured: 15%
//! fewer notes a second; docs/benchmarks.md).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The slot, free or taken. The mutex guards only the flag, never a write, so it is held for
/// nanoseconds; a writer that panicked poisoned nothing.
pub(crate) struct WriterSlot {
    taken: Mutex<bool>,
    freed: Condvar,
}

/// The slot, held until dropped.
pub(crate) struct Held<'a>(&'a WriterSlot);

impl WriterSlot {
    pub(crate) const fn new() -> Self {
        Self {
            taken: Mutex::new(false),
            freed: Condvar::new(),
        }
    }

    fn flag(&self) -> MutexGuard<'_, bool> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot if it is free now.
    pub(crate) fn try_take(&self) -> Option<Held<'_>> {
        let mut taken = self.flag();
        (!*taken).then(|| {
            *taken = true;
            Held(self)
        })
    }

    /// The slot, waiting at most `wait` for it.
    pub(crate) fn take_within(&self, wait: Duration) -> Option<Held<'_>> {
        let (mut taken, _) = self
            .freed
            .wait_timeout_while(self.flag(), wait, |taken| *taken)
            .unwrap_or_else(PoisonError::into_inner);
        (!*taken).then(|| {
            *taken = true;
            Held(self)
        })
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *self.0.flag() = false;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    #[test]
    fn one_writer_at_a_time_and_a_waiter_gives_up_after_its_wait() {
        let slot = WriterSlot::new();
        let held = slot.try_take().expect("a free slot is taken");
        assert!(slot.try_take().is_none());
        let start = Instant::now();
        assert!(slot.take_within(Duration::from_millis(50)).is_none());
        assert!(start.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(slot.take_within(Duration::from_millis(50)).is_some());
    }

    #[test]
    fn waiters_take_turns_and_never_overlap() {
        static SLOT: WriterSlot = WriterSlot::new();
        let inside = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (inside, done) = (inside.clone(), done.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _held = SLOT.take_within(Duration::from_secs(10)).expect("a turn");
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two writers");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(done.load(Ordering::SeqCst), 1600);
    }
}
