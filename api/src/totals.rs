//! The report totals' background work, on every instance: first, finishing a rebuild the
//! database needs (its first start after upgrading, or one an instance left unfinished),
//! beside live traffic; then folding the writers' deltas into the totals, over and over.
//! Instances share both safely (see `linkwell_persistence::tallies`).

use std::sync::Weak;
use std::time::Duration;

use linkwell_persistence::{StoreResult, checkout, tallies};

use crate::state::AppState;

/// Runs until the app's state is dropped; a failure is logged and tried again next round.
pub fn spawn(state: Weak<AppState>, every: Duration) {
    std::thread::spawn(move || {
        let mut started = false;
        loop {
            let Some(state) = state.upgrade() else { return };
            let mut round = || -> StoreResult<()> {
                let mut conn = checkout(&state.pool, state.db_timeout)?;
                // A rebuild under way (another process's, or one left unfinished) is joined,
                // never restarted; at start, one is begun if the database needs it.
                let began = std::time::Instant::now();
                let made = if tallies::rebuilding(&mut conn)? {
                    Some(tallies::finish_rebuild(&mut conn)?)
                } else if !started && tallies::need_rebuild(&mut conn)? {
                    Some(tallies::rebuild(&mut conn)?)
                } else {
                    None
                };
                started = true;
                if let Some(rows) = made {
                    log::info!(
                        "made {rows} report totals from the records in {:.1} s",
                        began.elapsed().as_secs_f64()
                    );
                }
                tallies::fold(&mut conn)?;
                Ok(())
            };
            if let Err(e) = round() {
                log::warn!("report totals: {e}; trying again next round");
            }
            drop(state);
            std::thread::sleep(every);
        }
    });
}
