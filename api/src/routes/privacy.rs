//! Privacy rights: erasing a person's data and exporting everything held about them (UK GDPR
//! articles 17 and 15). Administrators only. See `docs/privacy.md`.

mod export;

use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use linkwell_persistence::erasure::{self, Erased};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

pub use export::export_person;

use crate::access::{AllowedJson, ErasePerson};
use crate::audit::Refusal;
use crate::error::{ApiError, at};
use crate::fields::Field;
use crate::schema::ErasureProblems;
use crate::state::AppState;
use crate::{change, clock, fields, rules, wire};

/// Why the data is erased.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Erasure)]
pub struct ErasureInput {
    #[validate(custom(function = "rules::field"))]
    pub reason: fields::ErasureReason,
}

/// What is left of an erased person: the tombstone.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ErasedPerson)]
pub struct ErasedView {
    pub id: Uuid,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub erased_at: DateTime<Utc>,
    /// Who erased it (the token subject).
    #[schema(value_type = crate::schema::Subject)]
    pub erased_by: String,
    #[schema(value_type = crate::fields::ErasureReason)]
    pub reason: String,
    /// The person's referrals, kept without their free text so report totals stay equal.
    #[schema(value_type = crate::schema::Count)]
    pub referrals: usize,
}

/// Erase a person's personal data.
///
/// Removes or anonymises the person's data in every table, with the records merged into
/// this one: names, date of birth, NHS number and contact details; every free text of their
/// referrals (summary, reasons for changes, session notes, plan, goals, connection notes and
/// what each partner saw, consent reasons, measures' error reasons); stored answers to keyed
/// requests about them; an anonymous self-referrer's address in the audit trail. Ids, codes,
/// dates, durations and scores stay, so report totals are unchanged; the audit trail keeps
/// every access. Refused 409 `referral_open` while any of their referrals is not in a final
/// state (close it first: closing changes the reports). Afterwards every read of the person,
/// their referrals and what hangs off them answers 404, or 410 to administrators, and no list
/// shows them; a second erasure is 410. A record merged into another is erased with the
/// record it was merged into (its own id answers 404 here: erase the survivor).
#[utoipa::path(
    operation_id = "erase_person",
    tag = "people",
    params(("id" = Uuid, Path, description = "The person's id")),
    request_body = ErasureInput,
    responses(
        (status = 200, description = "Erased: what is left of the record", body = ErasedView),
        ErasureProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/people/{id}/erasure")]
pub async fn erase_person(
    request: AllowedJson<ErasePerson, ErasureInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let reason = at("/reason", body.value.reason.parse())?;
    let id = id.into_inner();
    let view = change::change(&state, actor, id, move |conn, actor| {
        let at = clock::now();
        let by = actor.caller.sub.clone();
        match erasure::erase(conn, id, &by, &reason, at)? {
            Erased::Done => Ok(ErasedView {
                id,
                erased_at: at,
                erased_by: by,
                reason: reason.clone(),
                referrals: linkwell_persistence::referrals::for_person(conn, id)?.len(),
            }),
            Erased::NotFound => Err(Refusal::not_found().into()),
            Erased::Already(_) => Err(Refusal::gone().into()),
            Erased::Open(open) => {
                let named: Vec<String> =
                    open.iter().map(|r| format!("/v1/referrals/{r}")).collect();
                Err(Refusal::conflict(ApiError::StateConflict {
                    code: "referral_open",
                    detail: format!(
                        "close these referrals first (closing changes the reports): {}",
                        named.join(", ")
                    ),
                })
                .into())
            }
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}
