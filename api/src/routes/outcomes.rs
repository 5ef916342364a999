//! Outcome measures: SWEMWBS and ONS4, scored by the server. Staff only. A referral's list
//! also says, per instrument, how the latest measurement compares with the baseline.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use linkwell_domain::outcome::{
    self, Answers, Change, Instrument, Ons4, Outcome, Swemwbs, Timepoint,
};
use linkwell_domain::{Invalid, outcome::ONS4_ITEMS};
use linkwell_persistence::outcomes;
use linkwell_persistence::referrals::{self, Visibility};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::access::{
    Allowed, AllowedJson, CreateOutcome, EnterOutcomeInError, GetOutcome, ListOutcomes,
};
use crate::audit::Refusal;
use crate::create::{self, Creatable, Created, Made};
use crate::error::{ApiError, FieldError, at};
use crate::fields::{self, Field};
use crate::idempotency::IdempotencyKey;
use crate::listing;
use crate::pagination::PageQuery;
use crate::precondition::IfMatch;
use crate::schema::{ChangeProblems, CreateUnderProblems, ReadEndableProblems};
use crate::state::AppState;
use crate::{change, clock, db, rules, schema, wire};

/// A measurement to record.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewOutcome)]
pub struct OutcomeInput {
    #[validate(custom(function = "rules::field"))]
    pub instrument: schema::Instrument,
    #[validate(custom(function = "rules::field"))]
    pub timepoint: schema::Timepoint,
    /// When the person answered.
    #[validate(custom(function = "rules::field"))]
    pub recorded_at: fields::Timestamp,
    /// SWEMWBS: an array of exactly seven answers 1–5 in item order. ONS4: an object with
    /// `life_satisfaction`, `worthwhile`, `happiness` and `anxiety`, each 0–10.
    #[schema(schema_with = schema::answers)]
    pub answers: Value,
}

/// The answers for `instrument`, every broken item named at its pointer.
fn answers(instrument: Instrument, value: &Value) -> Result<Answers, ApiError> {
    let error = |pointer: String, e: Invalid| {
        ApiError::Validation(vec![FieldError::at(pointer, e.code, e.message)])
    };
    match instrument {
        Instrument::Swemwbs => {
            let items = value.as_array().ok_or_else(|| {
                error(
                    "/answers".into(),
                    Invalid::new("invalid_type", "must be an array of seven answers"),
                )
            })?;
            let mut numbers = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                numbers.push(item.as_i64().ok_or_else(|| {
                    error(
                        format!("/answers/{index}"),
                        Invalid::new("invalid_type", "must be a whole number"),
                    )
                })?);
            }
            Swemwbs::new(&numbers)
                .map(Answers::Swemwbs)
                .map_err(|(index, e)| {
                    let pointer = index.map_or("/answers".to_owned(), |i| format!("/answers/{i}"));
                    error(pointer, e)
                })
        }
        Instrument::Ons4 => {
            let object = value.as_object().ok_or_else(|| {
                error(
                    "/answers".into(),
                    Invalid::new("invalid_type", "must be an object of the four ONS4 items"),
                )
            })?;
            let mut errors = Vec::new();
            for key in object.keys().filter(|k| !ONS4_ITEMS.contains(&k.as_str())) {
                errors.push(FieldError::at(
                    format!("/answers/{key}"),
                    "unknown_field",
                    "is not an ONS4 item",
                ));
            }
            let mut scores = [0u8; 4];
            for (slot, name) in scores.iter_mut().zip(ONS4_ITEMS) {
                let parsed = match object.get(name) {
                    None => Err(Invalid::new("required", "is required")),
                    Some(v) => v
                        .as_i64()
                        .ok_or_else(|| Invalid::new("invalid_type", "must be a whole number"))
                        .and_then(Ons4::answer),
                };
                match parsed {
                    Ok(score) => *slot = score,
                    Err(e) => errors.push(FieldError::at(
                        format!("/answers/{name}"),
                        e.code,
                        e.message,
                    )),
                }
            }
            if !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
            let [life_satisfaction, worthwhile, happiness, anxiety] = scores;
            Ok(Answers::Ons4(Ons4 {
                life_satisfaction,
                worthwhile,
                happiness,
                anxiety,
            }))
        }
    }
}

/// Why a measure is marked entered in error.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OutcomeEnteredInErrorInput)]
pub struct EnteredInErrorInput {
    /// Why it was wrong (e.g. answers typed against the wrong person).
    #[validate(custom(function = "rules::field"))]
    pub reason: fields::TransitionReason,
}

/// Who marked a measure entered in error, when and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnteredInErrorView {
    #[schema(value_type = crate::fields::TransitionReason)]
    pub reason: String,
    /// The subject of their token.
    #[schema(value_type = crate::schema::Subject)]
    pub by: String,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
}

/// One ONS4 item, scored and banded.
#[derive(Debug, Serialize, ToSchema)]
pub struct BandedItem {
    #[schema(minimum = 0, maximum = 10)]
    pub score: u8,
    #[schema(value_type = schema::Band)]
    pub band: &'static str,
}

/// The four ONS4 items, each with its band. Never summed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ons4Items {
    pub life_satisfaction: BandedItem,
    pub worthwhile: BandedItem,
    pub happiness: BandedItem,
    pub anxiety: BandedItem,
}

/// A recorded measurement with its scores.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Outcome)]
pub struct OutcomeView {
    pub id: Uuid,
    pub referral_id: Uuid,
    #[schema(value_type = schema::Instrument)]
    pub instrument: &'static str,
    #[schema(value_type = schema::Timepoint)]
    pub timepoint: &'static str,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: DateTime<Utc>,
    /// As recorded.
    #[schema(schema_with = schema::answers)]
    pub answers: Value,
    /// SWEMWBS: the sum of the answers, 7–35; `null` for ONS4.
    #[schema(required = true, minimum = 7, maximum = 35)]
    pub raw_score: Option<u8>,
    /// SWEMWBS: the metric score from the published conversion table, 7.00–35.00; `null` for
    /// ONS4.
    #[schema(required = true)]
    pub metric_score: Option<f64>,
    /// ONS4: each item with its band; `null` for SWEMWBS.
    #[schema(required = true)]
    pub items: Option<Ons4Items>,
    /// Which scoring the server applied.
    #[schema(max_length = 64)]
    pub scoring_version: String,
    /// Who recorded it: the subject of their token.
    #[schema(value_type = crate::schema::Subject)]
    pub created_by: String,
    #[serde(serialize_with = "wire::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// `recorded`, or `entered_in_error`: then it counts nowhere (not in the change from
    /// baseline, not in reports), and a new baseline may replace it.
    #[schema(value_type = schema::OutcomeStatus)]
    pub status: &'static str,
    /// Who marked it entered in error, when and why; `null` while it counts.
    #[schema(required = true)]
    pub entered_in_error: Option<EnteredInErrorView>,
    /// Starts at 1; the ETag.
    #[schema(value_type = crate::schema::Version)]
    pub version: i64,
}

fn points(hundredths: impl Into<i32>) -> f64 {
    f64::from(hundredths.into()) / 100.0
}

impl From<&Outcome> for OutcomeView {
    fn from(o: &Outcome) -> Self {
        let (answers, raw_score, metric_score, items) = match o.answers {
            Answers::Swemwbs(s) => {
                let score = s.score();
                (
                    serde_json::json!(s.answers()),
                    Some(score.raw),
                    Some(points(score.metric_hundredths)),
                    None,
                )
            }
            Answers::Ons4(a) => {
                let [l, w, h, x] = a.banded().map(|(_, score, band)| BandedItem {
                    score,
                    band: band.as_str(),
                });
                (
                    serde_json::json!({"life_satisfaction": a.life_satisfaction, "worthwhile": a.worthwhile,
                                       "happiness": a.happiness, "anxiety": a.anxiety}),
                    None,
                    None,
                    Some(Ons4Items {
                        life_satisfaction: l,
                        worthwhile: w,
                        happiness: h,
                        anxiety: x,
                    }),
                )
            }
        };
        Self {
            id: o.id,
            referral_id: o.referral_id,
            instrument: o.answers.instrument().as_str(),
            timepoint: o.timepoint.as_str(),
            recorded_at: o.recorded_at,
            answers,
            raw_score,
            metric_score,
            items,
            scoring_version: o.scoring_version.clone(),
            created_by: o.created_by.clone(),
            created_at: o.created_at,
            status: o.status().as_str(),
            entered_in_error: o.entered_in_error.as_ref().map(|e| EnteredInErrorView {
                reason: e.reason.clone(),
                by: e.by.clone(),
                at: e.at,
            }),
            version: o.version,
        }
    }
}

/// SWEMWBS from the baseline to the latest later measurement.
#[derive(Debug, Serialize, ToSchema)]
pub struct SwemwbsChange {
    pub baseline_id: Uuid,
    pub latest_id: Uuid,
    pub baseline_metric_score: f64,
    pub latest_metric_score: f64,
    /// Latest minus baseline, in metric points.
    pub change: f64,
    /// Whether the improvement reaches the threshold.
    pub meaningful_improvement: bool,
    /// The improvement counted as meaningful (configuration).
    pub threshold: f64,
}

/// ONS4 item changes, latest minus baseline (for anxiety, a fall is an improvement).
#[derive(Debug, Serialize, ToSchema)]
pub struct Ons4ItemChanges {
    #[schema(minimum = -10, maximum = 10)]
    pub life_satisfaction: i16,
    #[schema(minimum = -10, maximum = 10)]
    pub worthwhile: i16,
    #[schema(minimum = -10, maximum = 10)]
    pub happiness: i16,
    #[schema(minimum = -10, maximum = 10)]
    pub anxiety: i16,
}

/// ONS4 from the baseline to the latest later measurement.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ons4Change {
    pub baseline_id: Uuid,
    pub latest_id: Uuid,
    pub change: Ons4ItemChanges,
}

/// Per instrument, the change from the baseline to the latest later measurement; `null`
/// until both exist.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeChanges {
    #[schema(required = true)]
    pub swemwbs: Option<SwemwbsChange>,
    #[schema(required = true)]
    pub ons4: Option<Ons4Change>,
}

/// A page of a referral's measurements, and their change from baseline.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomePage {
    #[schema(max_items = 100)]
    pub items: Vec<OutcomeView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true, value_type = Option<crate::pagination::Cursor>)]
    pub next_cursor: Option<String>,
    /// Over all the referral's measurements, whichever page this is.
    pub change: OutcomeChanges,
}

fn changes(outcomes: &[Outcome], threshold: i32) -> OutcomeChanges {
    let swemwbs = match outcome::change(outcomes, Instrument::Swemwbs, threshold) {
        Some(Change::Swemwbs {
            baseline,
            latest,
            baseline_hundredths,
            latest_hundredths,
            change_hundredths,
            meaningful_improvement,
        }) => Some(SwemwbsChange {
            baseline_id: baseline,
            latest_id: latest,
            baseline_metric_score: points(baseline_hundredths),
            latest_metric_score: points(latest_hundredths),
            change: points(change_hundredths),
            meaningful_improvement,
            threshold: points(threshold),
        }),
        _ => None,
    };
    let ons4 = match outcome::change(outcomes, Instrument::Ons4, threshold) {
        Some(Change::Ons4 {
            baseline,
            latest,
            change: [l, w, h, a],
        }) => Some(Ons4Change {
            baseline_id: baseline,
            latest_id: latest,
            change: Ons4ItemChanges {
                life_satisfaction: l,
                worthwhile: w,
                happiness: h,
                anxiety: a,
            },
        }),
        _ => None,
    };
    OutcomeChanges { swemwbs, ons4 }
}

/// Record a wellbeing measure.
///
/// The server scores it: SWEMWBS raw and metric scores (published conversion table), ONS4
/// bands per item. For a referral that is accepted, active, on hold or closed (409
/// `referral_not_engaged`); `recorded_at` not in the future nor before the referral arrived
/// (422). One baseline per instrument per referral (409 `duplicate`, naming `existing_id`).
#[utoipa::path(
    operation_id = "create_outcome",
    tag = "outcomes",
    params(("id" = Uuid, Path, description = "The referral's id"), IdempotencyKey),
    request_body = OutcomeInput,
    responses(
        Created<OutcomeView>,
        CreateUnderProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/referrals/{id}/outcomes")]
pub async fn create_outcome(
    request: AllowedJson<CreateOutcome, OutcomeInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let input = body.value;
    let referral_id = id.into_inner();
    let instrument: Instrument = at("/instrument", input.instrument.parse())?;
    let timepoint: Timepoint = at("/timepoint", input.timepoint.parse())?;
    let recorded_at = at("/recorded_at", input.recorded_at.parse())?;
    let answers = answers(instrument, &input.answers)?;
    create::create(&state, actor, key, &body.raw, move |conn, actor| {
        let referral =
            referrals::get(conn, referral_id, Visibility::All)?.ok_or_else(Refusal::not_found)?;
        if !outcome::may_record_for(referral.status) {
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "referral_not_engaged",
                detail: format!(
                    "the referral is `{}`: measures are recorded once it is accepted, active, on hold or closed",
                    referral.status
                ),
            })
            .into());
        }
        let now = clock::now();
        let measured = Outcome {
            id: Uuid::now_v7(),
            referral_id,
            timepoint,
            recorded_at,
            answers,
            scoring_version: answers.scoring_version().to_owned(),
            created_by: actor.caller.sub.clone(),
            created_at: now,
            version: 1,
            entered_in_error: None,
        };
        measured
            .check(referral.received_at, now)
            .map_err(|e| Refusal::invalid("/recorded_at", e.code, e.message))?;
        if timepoint == Timepoint::Baseline
            && let Some(existing) = outcomes::baseline(conn, referral_id, instrument)?
        {
            let detail = format!("the referral already has a {instrument} baseline: {existing}");
            return Err(Refusal::duplicate(existing, detail).into());
        }
        outcomes::insert(conn, &measured)?;
        Ok(Made::new(
            measured.id,
            Some(format!("/v1/outcomes/{}", measured.id)),
            Some(measured.version),
            &OutcomeView::from(&measured),
        )?)
    })
    .await
}

/// List a referral's measures, in the order they were taken, with the change from baseline.
#[utoipa::path(
    operation_id = "list_outcomes",
    tag = "outcomes",
    params(("id" = Uuid, Path, description = "The referral's id"), PageQuery),
    responses(
        (status = 200, description = "A page of measures and the change per instrument", body = OutcomePage),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/referrals/{id}/outcomes")]
pub async fn list_outcomes(
    allowed: Allowed<ListOutcomes>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let referral_id = id.into_inner();
    let threshold = state.meaningful_change_hundredths;
    let page = listing::under_parent(
        &state,
        allowed.actor,
        ("outcomes", referral_id),
        &query,
        move |conn| referrals::exists(conn, referral_id),
        move |conn, w| outcomes::for_referral(conn, referral_id, w.after, w.limit),
        move |conn, _, _| Ok(outcomes::change_inputs(conn, referral_id)?),
    )
    .await?;
    Ok(HttpResponse::Ok().json(OutcomePage {
        items: page.rows.iter().map(OutcomeView::from).collect(),
        next_cursor: page.next_cursor,
        change: changes(&page.extra, threshold),
    }))
}

/// Read one measure.
#[utoipa::path(
    operation_id = "get_outcome",
    tag = "outcomes",
    params(("id" = Uuid, Path, description = "The measure's id")),
    responses(
        (status = 200, description = "The measure", body = OutcomeView),
        ReadEndableProblems,
    ),
    security(("bearer" = [])),
)]
#[get("/outcomes/{id}")]
pub async fn get_outcome(
    allowed: Allowed<GetOutcome>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = allowed.actor;
    let id = id.into_inner();
    let found = db::run(&state, move |conn| {
        let found = outcomes::get(conn, id)?;
        actor.record_read(conn, id, found.is_some())?;
        Ok(found)
    })
    .await?;
    let measured = found.ok_or(ApiError::NotFound)?;
    Ok(wire::current(
        measured.version,
        &OutcomeView::from(&measured),
    ))
}

/// Mark a mistyped measure entered in error.
///
/// Send `If-Match` with the measure's ETag and a `reason`. The measure stays readable, with
/// `status` `entered_in_error` and who marked it, when and why, but counts nowhere: not in
/// the change from baseline, not in reports; a new baseline may then replace it. A measure
/// already entered in error is 409 `already_entered_in_error`.
#[utoipa::path(
    operation_id = "enter_outcome_in_error",
    tag = "outcomes",
    params(("id" = Uuid, Path, description = "The measure's id"), IfMatch),
    request_body = EnteredInErrorInput,
    responses(
        (status = 200, description = "The measure, entered in error", body = OutcomeView,
            headers(("ETag" = String, description = "The measure's new version"))),
        ChangeProblems,
    ),
    security(("bearer" = [])),
)]
#[post("/outcomes/{id}/entered-in-error")]
pub async fn enter_outcome_in_error(
    request: AllowedJson<EnterOutcomeInError, EnteredInErrorInput>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let AllowedJson { actor, body, .. } = request;
    let reason = at("/reason", body.value.reason.parse())?;
    let expected = if_match.versions()?;
    let id = id.into_inner();
    let measured = change::change(&state, actor, id, move |conn, actor| {
        let before = expected.current(outcomes::get(conn, id)?, |o| o.version)?;
        let Some(after) =
            before.enter_in_error(reason.clone(), actor.caller.sub.clone(), clock::now())
        else {
            return Err(Refusal::conflict(ApiError::StateConflict {
                code: "already_entered_in_error",
                detail: "the measure is already entered in error".into(),
            })
            .into());
        };
        if !outcomes::enter_in_error(conn, &after, before.version)? {
            return Err(Refusal::stale().into());
        }
        Ok(after)
    })
    .await?;
    Ok(wire::current(
        measured.version,
        &OutcomeView::from(&measured),
    ))
}

impl Creatable for OutcomeView {
    const SAYS: &'static str = "Measure recorded and scored";
    const NOUN: &'static str = "measure";
    const VERSIONED: bool = false;
}
