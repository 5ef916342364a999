//! Sending a referral: idempotent, duplicate-checked, audited.

use actix_web::{HttpRequest, HttpResponse, post, web};
use linkwell_domain::{
    PersonRecord, Referral, ReferralSource, StatusChange,
    person::{self, Filing},
    self_referral,
};
use linkwell_persistence::{Tx, people, referral_history, referrals};
use uuid::Uuid;

use super::{ReferralInput, ReferralView, referring_org};
use crate::access::{Allowed, CreateReferral};
use crate::audit::{Actor, Refusal};
use crate::clock;
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, FieldError};
use crate::extract::ValidJson;
use crate::idempotency::IdempotencyKey;
use crate::schema::CreateProblems;
use crate::state::AppState;

/// Refer a person.
///
/// Creates a referral in status `received`. A referrer's organisation is taken from its token,
/// never from the body. A partner organisation's user refers a person onward the same way (a
/// partner's referral comes by `other_agency`, a community group's by `community`) and reads
/// back its own referrals as a referrer does. Send an `Idempotency-Key` to make retries safe: a retry returns the
/// first response (with `Idempotent-Replayed: true`) and creates nothing; the same key with a
/// different body is 422. A second referral with the same `external_reference` from the same
/// organisation is 409 and names the existing referral in `existing_id`.
///
/// A referrer's or partner's `source` follows from its organisation's kind (422 `source_not_allowed` for
/// any other); staff must send one. The person must be at least the service's minimum age
/// (16 unless configured otherwise) whatever the source: 422 `not_eligible_age`. An NHS
/// number that a person's record holds with a different family name or date of birth never
/// files the referral under that record: it gets its own, flagged
/// `nhs_number_demographics_differ` for staff to resolve.
#[utoipa::path(
    operation_id = "create_referral",
    tag = "referrals",
    request_body = ReferralInput,
    params(IdempotencyKey),
    responses(
        Created<ReferralView>,
        CreateProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/referrals")]
pub async fn create_referral(
    allowed: Allowed<CreateReferral>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let org = referring_org(&actor.caller);
    let body = ValidJson::<ReferralInput>::read_checked(&req, payload.into_inner(), |json| {
        staff_source_missing(org, json)
    })
    .await?;
    let sender = match org {
        Some(org) => Some(
            // Already known: the token's organisation was checked when it was read.
            crate::auth::organisation_kind(&state, org)
                .await?
                .ok_or_else(|| ApiError::Unauthorized {
                    detail: "the token's organisation is not registered".into(),
                    invalid_token: true,
                })?,
        ),
        None => None,
    };
    let new = body.value.into_domain(sender)?;
    self_referral::check_age(new.person.date_of_birth, clock::today(), state.min_age).map_err(
        |e| ApiError::Ineligible {
            code: e.code,
            detail: e.message.to_string(),
            errors: vec![FieldError::at("/person/date_of_birth", e.code, e.message)],
        },
    )?;
    let referral = Referral::received(
        Uuid::now_v7(),
        new,
        Uuid::now_v7(),
        org,
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
        )?
        .concerning(referral.person_id, Some(referral.id)))
    })
    .await
}

/// Staff must say how the person came to the service (the domain's rule): listed with the
/// body's other errors, so an empty body names every member it lacks at once.
fn staff_source_missing(org: Option<Uuid>, json: &serde_json::Value) -> Vec<FieldError> {
    let sent = json.get("source").is_some_and(|s| !s.is_null());
    if org.is_some() || sent || !json.is_object() {
        return Vec::new();
    }
    ReferralSource::for_sender(None, None)
        .err()
        .map(|e| FieldError::at("/source", e.code, e.message))
        .into_iter()
        .collect()
}

/// The same `external_reference` twice from one organisation is refused, naming the first.
fn duplicate_reference(
    conn: &mut Tx<'_>,
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
    conn: &mut Tx<'_>,
    actor: &Actor,
    referral: &Referral,
) -> Result<Referral, ApiError> {
    let mut referral = referral.clone();
    let person = file_person(conn, &referral)?;
    referral.person_id = person.id;
    referral.possible_duplicate_of = person.possible_duplicate_of;
    referral.possible_duplicate_reason = person.possible_duplicate_reason;
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

/// Finds or files the referral's person, by the domain's rule (`person::file`): an existing
/// record, or a new one, possibly flagged as the same human as another (never merged
/// silently). A referral's details as sent are kept with it; an existing record's are left as
/// they are, for staff to correct. Returns the record as filed.
///
/// The database keeps one current unflagged record per NHS number: a concurrent referral that
/// filed the same new number first fails this one's insert, and the retried transaction (see
/// `db::transaction`) finds and reuses the winner's record.
fn file_person(conn: &mut Tx<'_>, referral: &Referral) -> Result<PersonRecord, ApiError> {
    let sent = &referral.person;
    let candidates = people::filing_candidates(conn, sent)?;
    let flag = match person::file(sent, &candidates) {
        Filing::Existing(record) => return Ok(record.clone()),
        Filing::New { flag } => flag,
    };
    let record = PersonRecord {
        id: referral.person_id,
        details: sent.clone(),
        possible_duplicate_of: flag.map(|(of, _)| of),
        possible_duplicate_reason: flag.map(|(_, why)| why),
        merged_into: None,
        created_at: referral.received_at,
        updated_at: referral.received_at,
        version: 1,
    };
    people::insert(conn, &record)?;
    Ok(record)
}

impl Creatable for ReferralView {
    const SAYS: &'static str = "Referral created (or the stored response replayed)";
    const NOUN: &'static str = "referral";
}
