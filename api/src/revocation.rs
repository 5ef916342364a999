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

/// The deactivated users this instance knows of.
#[derive(Debug, Default)]
pub struct Revoked(RwLock<HashSet<Uuid>>);

impl Revoked {
    /// Whether a token with this subject belongs to a deactivated user. Subjects that are not
    /// user ids (operations scripts, the first admin) are never revoked here.
    pub fn contains(&self, sub: &str) -> bool {
        let Ok(id) = Uuid::parse_str(sub) else {
            return false;
        };
        self.0.read().map(|set| set.contains(&id)).unwrap_or(true)
    }

    /// Records one user's state at once.
    pub fn set(&self, id: Uuid, revoked: bool) {
        if let Ok(mut set) = self.0.write() {
            if revoked {
                set.insert(id);
            } else {
                set.remove(&id);
            }
        }
    }

    /// Reloads the whole set from the database.
    pub fn reload(&self, pool: &Pool, timeout: Duration) -> Result<usize, String> {
        let mut conn = checkout(pool, timeout).map_err(|e| e.to_string())?;
        let mut ids = users::inactive_ids(&mut conn).map_err(|e| e.to_string())?;
        ids.extend(api_clients::revoked_ids(&mut conn).map_err(|e| e.to_string())?);
        let count = ids.len();
        if let Ok(mut set) = self.0.write() {
            *set = ids.into_iter().collect();
        }
        Ok(count)
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
