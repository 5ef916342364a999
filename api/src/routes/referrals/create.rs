//! Sending a referral: idempotent, duplicate-checked, audited.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, post, web};
use linkwell_domain::{Referral, ReferralStatus};
use linkwell_persistence::DbConnection;
use linkwell_persistence::referrals;
use uuid::Uuid;

use super::{ReferralInput, ReferralView, referring_org};
use crate::access::{AllowedJson, CreateReferral};
use crate::audit::{Actor, Outcome};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyKey, Keyed};
use crate::schema::CreateProblems;
use crate::state::AppState;
use crate::{clock, db};

/// What a create came to. A refusal is a value, not an error, so its audit row commits.
enum Created {
    New,
    Replay(linkwell_persistence::idempotency::StoredResponse),
    Refused(ApiError),
}

/// Refer a person.
///
/// Creates a referral in status `received`. A referrer's organisation is taken from its token,
/// never from the body. Send an `Idempotency-Key` to make retries safe: a retry returns the
/// first response (with `Idempotent-Replayed: true`) and creates nothing; the same key with a
/// different body is 422. A second referral with the same `external_reference` from the same
/// organisation is 409 and names the existing referral in `existing_id`.
#[utoipa::path(
    operation_id = "create_referral",
    tag = "referrals",
    request_body = ReferralInput,
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = r"^[\x21-\x7E]+$",
            description = "Makes retries safe: 1 to 255 visible ASCII characters, unique per request."),
    ),
    responses(
        (status = 201, description = "Referral created (or the stored response replayed)", body = ReferralView,
            headers(
                ("Location" = String, description = "The new referral's URL"),
                ("ETag" = String, description = "The referral's version"),
                ("Idempotent-Replayed" = String, description = "`true` when this repeats the stored response to an earlier request with the same Idempotency-Key"),
            )),
        CreateProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/referrals")]
pub async fn create_referral(
    request: AllowedJson<CreateReferral, ReferralInput>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let keyed = Keyed::new(key, &actor.caller, "create_referral", &body.raw)?;
    let now = clock::now();
    let new = body.value.into_domain()?;
    let referral = Referral {
        id: Uuid::now_v7(),
        status: ReferralStatus::Received,
        person: new.person,
        source: new.source,
        reasons: new.reasons,
        summary: new.summary,
        referrer_org_id: referring_org(&actor.caller),
        external_reference: new.external_reference,
        received_at: now,
        updated_at: now,
        version: 1,
    };
    let json = serde_json::to_string(&ReferralView::from(&referral))
        .map_err(|e| ApiError::Internal(format!("serialising a referral: {e}")))?;
    let location = format!("/v1/referrals/{}", referral.id);
    let (stored_json, stored_location) = (json.clone(), location.clone());
    let created = db::transaction(&state, move |conn| {
        create(
            conn,
            &actor,
            &referral,
            keyed.as_ref(),
            &stored_json,
            &stored_location,
        )
    })
    .await?;
    Ok(match created {
        Created::New => HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .insert_header(crate::wire::etag(1))
            .content_type("application/json")
            .body(json),
        Created::Replay(stored) => idempotency::replay(&stored),
        Created::Refused(error) => return Err(error),
    })
}

/// The create transaction: replay or refuse a keyed retry, refuse a duplicate reference, store
/// the referral, its idempotency record and its audit row together.
fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    referral: &Referral,
    keyed: Option<&Keyed>,
    json: &str,
    location: &str,
) -> Result<Created, ApiError> {
    if let Some(keyed) = keyed {
        match keyed.earlier(conn) {
            Ok(Some(stored)) => {
                let id = stored
                    .location
                    .as_deref()
                    .and_then(|l| l.rsplit('/').next())
                    .and_then(|id| Uuid::parse_str(id).ok());
                actor.record(conn, id, Outcome::Replayed)?;
                return Ok(Created::Replay(stored));
            }
            Ok(None) => {}
            Err(ApiError::IdempotencyKeyReused) => {
                actor.record(conn, None, Outcome::Rejected)?;
                return Ok(Created::Refused(ApiError::IdempotencyKeyReused));
            }
            Err(other) => return Err(other),
        }
    }
    if let (Some(org), Some(reference)) = (referral.referrer_org_id, &referral.external_reference)
        && let Some(existing) = referrals::find_by_external_reference(conn, org, reference)?
    {
        actor.record(conn, Some(existing), Outcome::Conflict)?;
        return Ok(Created::Refused(ApiError::Duplicate {
            detail: format!(
                "your organisation already sent a referral with this external_reference: {existing}"
            ),
            existing_id: existing.to_string(),
        }));
    }
    referrals::insert(conn, referral, &actor.caller.sub)?;
    if let Some(keyed) = keyed {
        keyed.save(conn, StatusCode::CREATED, Some(location), json)?;
    }
    actor.record(conn, Some(referral.id), Outcome::Success)?;
    Ok(Created::New)
}
