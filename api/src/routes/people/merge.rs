//! Resolving a possible duplicate: merging two records of one human, or saying they are two.

use actix_web::{HttpResponse, post, web};
use linkwell_persistence::people;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{PersonRecordView, changeable, current};
use crate::access::{Allowed, AllowedJson, DismissDuplicate, MergePeople};
use crate::audit::Refusal;
use crate::error::{ApiError, FieldError};
use crate::precondition::IfMatch;
use crate::schema::{ChangeProblems, ChangeWithoutBodyProblems};
use crate::state::AppState;
use crate::{change, clock, wire};

/// The record to merge into this one.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Merge)]
pub struct MergeInput {
    /// The duplicate: its referrals move to this record, and its id leads here afterwards.
    pub duplicate_id: Uuid,
}

/// Merge a duplicate record into this one.
///
/// The duplicate's referrals move to this record (each gets a new version); the duplicate's
/// id then answers with a redirect here. This record's details stay as they are: correct them
/// with `PATCH` if the duplicate knew better. Send `If-Match` with this record's ETag. Two
/// records with different NHS numbers are two people (409 `different_nhs_numbers`).
#[utoipa::path(
    operation_id = "merge_people",
    tag = "people",
    params(("id" = Uuid, Path, description = "The record that survives"), IfMatch),
    request_body = MergeInput,
    responses(
        (status = 200, description = "The surviving record and its referrals", body = PersonRecordView,
            headers(("ETag" = String, description = "The record's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/people/{id}/merge")]
pub async fn merge_people(
    request: AllowedJson<MergePeople, MergeInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let duplicate_id = body.value.duplicate_id;
    let expected = if_match.versions()?;
    let id = id.into_inner();
    if duplicate_id == id {
        return Err(ApiError::Validation(vec![FieldError::at(
            "/duplicate_id",
            "same_person",
            "is this record: a record cannot merge into itself",
        )]));
    }
    let (record, referrals) = change::change(&state, actor, id, move |conn, actor| {
        let mut survivor = changeable(conn, id, &expected)?;
        let mut duplicate = match current(conn, duplicate_id)? {
            Some(Ok(record)) => record,
            Some(Err(_)) => {
                return Err(Refusal::conflict(ApiError::StateConflict {
                    code: "person_merged",
                    detail: "the duplicate was already merged".into(),
                })
                .into());
            }
            None => {
                let message = "names no person's record";
                return Err(Refusal::invalid("/duplicate_id", "unknown_person", message).into());
            }
        };
        if let (Some(a), Some(b)) = (&survivor.details.nhs_number, &duplicate.details.nhs_number)
            && a != b
        {
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "different_nhs_numbers",
                detail: "the two records have different NHS numbers: they are two people".into(),
            })
            .into());
        }
        let at = clock::now();
        let (survivor_version, duplicate_version) = (survivor.version, duplicate.version);
        if survivor.possible_duplicate_of == Some(duplicate.id) {
            survivor.clear_flag();
        }
        survivor.touch(at);
        duplicate.merged_into = Some(survivor.id);
        duplicate.clear_flag();
        duplicate.touch(at);
        // The duplicate leaves the current records first: a survivor that held its NHS number
        // under a flag now comes under the one-current-record-per-number rule.
        if !people::save(conn, &duplicate, duplicate_version)?
            || !people::save(conn, &survivor, survivor_version)?
        {
            return Err(Refusal::stale().into());
        }
        people::merge(conn, survivor.id, duplicate.id, &actor.caller.sub, at)?;
        let survivor = people::get(conn, survivor.id)?
            .ok_or_else(|| ApiError::Internal("merged record vanished".into()))?;
        let referrals = linkwell_persistence::referrals::for_person(conn, survivor.id)?;
        Ok((survivor, referrals))
    })
    .await?;
    Ok(wire::current(
        record.version,
        &PersonRecordView::new(&record, Some(&referrals)),
    ))
}

/// Say a flagged record is not a duplicate.
///
/// Clears `possible_duplicate_of` and its reason (409 `not_flagged` when it is not set). Send
/// `If-Match`. A record flagged as holding another current record's NHS number
/// (`nhs_number_demographics_differ`, `same_nhs_number`) cannot be dismissed while the two
/// still share it (409 `nhs_number_shared`): merge them, or correct the wrong number with
/// `PATCH` first. Dismissing confirms the person's identity: connections may then be made.
#[utoipa::path(
    operation_id = "dismiss_duplicate",
    tag = "people",
    params(("id" = Uuid, Path, description = "The flagged record"), IfMatch),
    responses(
        (status = 200, description = "The record, no longer flagged", body = PersonRecordView,
            headers(("ETag" = String, description = "The record's new version"))),
        ChangeWithoutBodyProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/people/{id}/dismiss-duplicate")]
pub async fn dismiss_duplicate(
    allowed: Allowed<DismissDuplicate>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match.versions()?;
    let id = id.into_inner();
    let record = change::change(&state, allowed.actor, id, move |conn, _| {
        let mut record = changeable(conn, id, &expected)?;
        if record.possible_duplicate_of.is_none() {
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "not_flagged",
                detail: "this record is not flagged as a possible duplicate".into(),
            })
            .into());
        }
        if record.identity_unconfirmed()
            && let Some(nhs_number) = &record.details.nhs_number
            && let Some(holder) = people::find_by_nhs_number(conn, nhs_number)?
            && holder.id != record.id
        {
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "nhs_number_shared",
                detail: format!(
                    "/v1/people/{} holds the same NHS number: merge the two records, or correct the wrong number first",
                    holder.id
                ),
            })
            .into());
        }
        let previous = record.version;
        record.clear_flag();
        record.touch(clock::now());
        if !people::save(conn, &record, previous)? {
            return Err(Refusal::stale().into());
        }
        Ok(record)
    })
    .await?;
    Ok(wire::current(
        record.version,
        &PersonRecordView::new(&record, None),
    ))
}
