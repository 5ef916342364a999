//! Deactivated users' and revoked systems' tokens stop working on every instance within one refresh interval,
//! without a database round trip per request: each instance keeps the set of deactivated user
//! ids in memory and reloads it in the background. A deactivation made on this instance takes
//! effect here at once.

use std::collections::HashSet;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use linkwell_persistence::{Pool, api_clients, checkout, users};
use uuid::Uuid;

use crate::state::AppState;

/// The deactivated users and revoked systems this instance knows of.
#[derive(Debug, Default)]
pub struct Revoked(RwLock<Known>);

#[derive(Debug, Default)]
struct Known {
    ids: HashSet<Uuid>,
    /// Counts local changes; a reload notes it before it reads the database.
    generation: u64,
    /// Local changes a reload in flight may not have read: (generation, id, revoked).
    recent: Vec<(u64, Uuid, bool)>,
    /// The generation the installed set was read after; an older read is never installed.
    installed: u64,
}

/// A reload under way: the generation when it began reading.
#[derive(Debug, Clone, Copy)]
pub struct Reading(u64);

impl Revoked {
    /// Whether a token with this subject belongs to a deactivated user. Subjects that are not
    /// user ids (operations scripts, the first admin) are never revoked here.
    pub fn contains(&self, sub: &str) -> bool {
        let Ok(id) = Uuid::parse_str(sub) else {
            return false;
        };
        self.0.read().map(|k| k.ids.contains(&id)).unwrap_or(true)
    }

    /// Records one user's state at once (after the change committed).
    pub fn set(&self, id: Uuid, revoked: bool) {
        if let Ok(mut known) = self.0.write() {
            known.generation += 1;
            let generation = known.generation;
            known.recent.push((generation, id, revoked));
            apply(&mut known.ids, id, revoked);
        }
    }

    /// Reloads the whole set from the database.
    pub fn reload(&self, pool: &Pool, timeout: Duration) -> Result<usize, String> {
        let reading = self.begin_reading();
        let mut conn = checkout(pool, timeout).map_err(|e| e.to_string())?;
        let mut ids = users::inactive_ids(&mut conn).map_err(|e| e.to_string())?;
        ids.extend(api_clients::revoked_ids(&mut conn).map_err(|e| e.to_string())?);
        let count = ids.len();
        self.install(reading, ids);
        Ok(count)
    }

    /// Notes where local changes stand before the database is read.
    pub fn begin_reading(&self) -> Reading {
        Reading(self.0.read().map(|k| k.generation).unwrap_or(0))
    }

    /// Installs what a reload read. A local change made since it began reading may have
    /// committed after the read, so it is applied again on top: a revocation made here is
    /// never undone by a reload that read the database just before it committed. Changes
    /// older than the read are in it, and are forgotten. A read older than the installed one
    /// (two reloads overlapping) is dropped.
    pub fn install(&self, reading: Reading, ids: impl IntoIterator<Item = Uuid>) {
        let Ok(mut known) = self.0.write() else {
            return;
        };
        if reading.0 < known.installed {
            return;
        }
        let mut fresh: HashSet<Uuid> = ids.into_iter().collect();
        known
            .recent
            .retain(|(generation, _, _)| *generation > reading.0);
        for (_, id, revoked) in &known.recent {
            apply(&mut fresh, *id, *revoked);
        }
        known.ids = fresh;
        known.installed = reading.0;
    }
}

fn apply(ids: &mut HashSet<Uuid>, id: Uuid, revoked: bool) {
    if revoked {
        ids.insert(id);
    } else {
        ids.remove(&id);
    }
}

/// Reloads the set every `every` until the app's state is dropped.
pub fn spawn_refresher(state: Weak<AppState>, every: Duration) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(every);
            let Some(state) = state.upgrade() else { return };
            refresh(&state);
        }
    });
}

fn refresh(state: &Arc<AppState>) {
    state.public.forget_idle();
    state.callers.forget_idle();
    state.refused.forget_idle();
    if let Err(e) = state.revoked.reload(&state.pool, state.db_timeout) {
        log::warn!("could not reload deactivated users, keeping the last known set: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_that_read_before_a_revocation_does_not_undo_it() {
        let revoked = Revoked::default();
        let (user, back) = (Uuid::now_v7(), Uuid::now_v7());
        revoked.set(back, true);
        // The reload reads the database: `back` still deactivated, `user` not yet.
        let reading = revoked.begin_reading();
        revoked.set(user, true);
        revoked.set(back, false);
        revoked.install(reading, [back]);
        assert!(revoked.contains(&user.to_string()), "the revocation stands");
        assert!(
            !revoked.contains(&back.to_string()),
            "so does the reactivation"
        );
        // A later reload that read both changes needs them no more.
        let reading = revoked.begin_reading();
        revoked.install(reading, [user]);
        assert!(revoked.contains(&user.to_string()));
        assert!(!revoked.contains(&back.to_string()));
        assert!(
            revoked
                .0
                .read()
                .map(|k| k.recent.is_empty())
                .unwrap_or(false)
        );
    }

    #[test]
    fn an_older_read_never_replaces_a_newer_one() {
        let revoked = Revoked::default();
        let user = Uuid::now_v7();
        let older = revoked.begin_reading();
        revoked.set(user, true);
        let newer = revoked.begin_reading();
        // The newer read saw the revocation; the older, finishing last, did not.
        revoked.install(newer, [user]);
        revoked.install(older, []);
        assert!(revoked.contains(&user.to_string()));
    }
}
