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
                // At start, whatever the database needs; later, a rebuild another process
                // started (or left unfinished) is joined, so it always ends.
                let wanted = if started {
                    tallies::rebuilding(&mut conn)?
                } else {
                    tallies::need_rebuild(&mut conn)?
                };
                started = true;
                if wanted {
                    let began = std::time::Instant::now();
                    let rows = tallies::rebuild(&mut conn)?;
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
