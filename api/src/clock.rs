//! The time, at the precision both databases keep (microseconds), so what is returned on
//! create equals what is read back.

use chrono::{DateTime, SubsecRound, Utc};

pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
