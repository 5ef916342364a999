//! Sending a referral: idempotent, duplicate-checked, audited.

use actix_web::{HttpResponse, post, web};
use linkwell_domain::{PersonRecord, Referral, StatusChange, self_referral};
use linkwell_persistence::DbConnection;
use linkwell_persistence::{people, referral_history, referrals};
use uuid::Uuid;

use super::{ReferralInput, ReferralView, referring_org};
use crate::access::{AllowedJson, CreateReferral};
use crate::audit::{Actor, Refusal};
use crate::clock;
use crate::create::{self, Made};
use crate::error::ApiError;
use crate::idempotency::IdempotencyKey;
use crate::schema::CreateProblems;
use crate::state::AppState;

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
    params(IdempotencyKey),
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
    let new = body.value.into_domain()?;
    let referral = Referral::received(
        Uuid::now_v7(),
        new,
        Uuid::now_v7(),
        referring_org(&actor.caller),
        String::new(),
        clock::now(),
    );
    create::create(&state, actor, key, &body.raw, move |conn, actor| {
        if let Some(refusal) = duplicate_reference(conn, &referral)? {
            return Err(refusal.into());
        }
        let referral = receive(conn, actor, &referral)?;
        Ok(Made::new(
            referral.id,
            Some(format!("/v1/referrals/{}", referral.id)),
            Some(referral.version),
            &ReferralView::for_caller(&referral, &actor.caller),
        )?)
    })
    .await
}

/// The same `external_reference` twice from one organisation is refused, naming the first.
fn duplicate_reference(
    conn: &mut DbConnection,
    referral: &Referral,
) -> Result<Option<Refusal>, ApiError> {
    let (Some(org), Some(reference)) = (referral.referrer_org_id, &referral.external_reference)
    else {
        return Ok(None);
    };
    Ok(
        referrals::find_by_external_reference(conn, org, reference)?.map(|existing| {
            Refusal::duplicate(
                existing,
                format!(
                    "your organisation already sent a referral with this external_reference: {existing}"
                ),
            )
        }),
    )
}

/// Stores a referral as received, in the caller's transaction: files its person, gives it a
/// short reference and starts its history. Returns it as stored.
pub(crate) fn receive(
    conn: &mut DbConnection,
    actor: &Actor,
    referral: &Referral,
) -> Result<Referral, ApiError> {
    let mut referral = referral.clone();
    (referral.person_id, referral.possible_duplicate_of) = file_person(conn, &referral)?;
    referral.reference = fresh_reference();
    referrals::insert(conn, &referral, &actor.caller.sub)?;
    referral_history::record(
        conn,
        &StatusChange {
            id: Uuid::now_v7(),
            referral_id: referral.id,
            from: None,
            to: referral.status,
            reason_code: None,
            reason: None,
            actor_sub: actor.caller.sub.clone(),
            actor_role: actor.role(),
            at: referral.received_at,
        },
    )?;
    Ok(referral)
}

/// A short reference for a new referral. With 31^6 (about 887 million) to choose from, a
/// clash is rare; it fails the unique index, and the create's transaction is retried with a
/// fresh one (see `db::transaction`).
fn fresh_reference() -> String {
    self_referral::reference(rand::random())
}

/// Finds or files the referral's person. The record already holding its NHS number is reused
/// and its details are left as they are: the referral keeps the details as sent, and staff
/// correct the record themselves. Otherwise a new record is filed, flagged as a possible
/// duplicate of an earlier one with the same names and date of birth (never merged silently).
/// Returns the person's id and its possible-duplicate flag.
fn file_person(
    conn: &mut DbConnection,
    referral: &Referral,
) -> Result<(Uuid, Option<Uuid>), ApiError> {
    let sent = &referral.person;
    if let Some(nhs_number) = &sent.nhs_number
        && let Some(existing) = people::find_by_nhs_number(conn, nhs_number)?
    {
        return Ok((existing.id, existing.possible_duplicate_of));
    }
    let record = PersonRecord {
        id: referral.person_id,
        details: sent.clone(),
        possible_duplicate_of: people::find_similar(conn, sent)?,
        merged_into: None,
        created_at: referral.received_at,
        updated_at: referral.received_at,
        version: 1,
    };
    people::insert(conn, &record)?;
    Ok((record.id, record.possible_duplicate_of))
}
