//! Referrals: GP systems, agencies and staff send them; referrers read back their own.

mod assignee;
mod create;
mod edit;
mod handover;
mod history;
mod input;
mod read;
mod transition;
mod view;

use linkwell_domain::{Referral, Role, session};
use linkwell_persistence::DbConnection;
use linkwell_persistence::referrals::{self, Visibility};
use uuid::Uuid;

pub use assignee::{assign_referral, unassign_referral};
pub use create::create_referral;
pub(crate) use create::receive;
pub use edit::update_referral;
pub use handover::hand_over_referral;
pub(crate) use history::all as history;
pub use history::{HistoryEntryView, get_referral_history};
pub use input::{PersonInput, ReferralInput};
pub(crate) use read::instant;
pub use read::{ReferralQuery, get_referral, list_referrals};
pub use transition::transition_referral;
pub use view::{PersonView, ReferralPage, ReferralView};

use crate::audit::{Refusal, Stop};
use crate::auth::Caller;
use crate::error::ApiError;

/// The referral that work with the person (a session, a plan, a goal, a connection) is added
/// under, for staff: there (else 404), and engaged — accepted, active or on hold (else 409
/// `referral_not_open`).
pub(crate) fn engaged(conn: &mut DbConnection, id: Uuid, what: &str) -> Result<Referral, Stop> {
    let referral = referrals::get(conn, id, Visibility::All)?.ok_or_else(Refusal::not_found)?;
    if !session::may_add_to(referral.status) {
        return Err(Refusal::conflict(ApiError::StateConflict {
            code: "referral_not_open",
            detail: format!(
                "the referral is `{}`: {what} are added while it is accepted, active or on hold",
                referral.status
            ),
        })
        .into());
    }
    Ok(referral)
}

/// Which referrals a caller may see. Every role is named, so a role given access later must
/// be given a rule here too; anything unforeseen sees nothing.
pub(crate) fn visibility(caller: &Caller) -> Result<Visibility, ApiError> {
    match (caller.role, caller.org) {
        (Role::Admin | Role::Coordinator, _) => Ok(Visibility::All),
        // A partner sees the referrals it sent onward, as a referrer sees its own.
        (Role::Referrer | Role::Partner, Some(org)) => Ok(Visibility::Organisation(org)),
        (Role::Referrer | Role::Partner, None) | (Role::Commissioner, _) => {
            Err(ApiError::Forbidden)
        }
    }
}

/// The organisation a new referral is filed under: a referrer's own. Staff enter referrals
/// for no organisation, even when their token names one, so no referrer can read them.
fn referring_org(caller: &Caller) -> Option<Uuid> {
    match caller.role {
        Role::Referrer | Role::Partner => caller.org,
        Role::Admin | Role::Coordinator | Role::Commissioner => None,
    }
}
