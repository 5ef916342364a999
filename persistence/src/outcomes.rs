//! Outcome measures under a referral.

use diesel::prelude::*;
use linkwell_domain::outcome::Instrument;
use linkwell_domain::outcome::{Answers, EnteredInError, MeasureStatus, Ons4, Outcome, Swemwbs};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::convert;
use crate::error::{StoreResult, corrupt};
use crate::page::{Keyset, Order, keyset};
use crate::schema::outcomes;
use crate::unit_of_work::Tx;

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = outcomes)]
struct OutcomeRow {
    id: String,
    referral_id: String,
    instrument: String,
    timepoint: String,
    recorded_at: chrono::NaiveDateTime,
    swemwbs_answers: Option<String>,
    raw_score: Option<i32>,
    metric_hundredths: Option<i32>,
    life_satisfaction: Option<i32>,
    worthwhile: Option<i32>,
    happiness: Option<i32>,
    anxiety: Option<i32>,
    scoring_version: String,
    created_by: String,
    created_at: chrono::NaiveDateTime,
    version: i64,
    status: String,
    error_reason: Option<String>,
    error_by: Option<String>,
    error_at: Option<chrono::NaiveDateTime>,
}

impl OutcomeRow {
    fn from_domain(o: &Outcome) -> Self {
        let mut row = Self {
            id: o.id.to_string(),
            referral_id: o.referral_id.to_string(),
            instrument: o.answers.instrument().as_str().to_owned(),
            timepoint: o.timepoint.as_str().to_owned(),
            recorded_at: convert::to_db(o.recorded_at),
            swemwbs_answers: None,
            raw_score: None,
            metric_hundredths: None,
            life_satisfaction: None,
            worthwhile: None,
            happiness: None,
            anxiety: None,
            scoring_version: o.scoring_version.clone(),
            created_by: o.created_by.clone(),
            created_at: convert::to_db(o.created_at),
            version: o.version,
            status: o.status().as_str().to_owned(),
            error_reason: o.entered_in_error.as_ref().map(|e| e.reason.clone()),
            error_by: o.entered_in_error.as_ref().map(|e| e.by.clone()),
            error_at: o.entered_in_error.as_ref().map(|e| convert::to_db(e.at)),
        };
        match o.answers {
            Answers::Swemwbs(s) => {
                let score = s.score();
                row.swemwbs_answers = Some(
                    s.answers()
                        .iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                );
                row.raw_score = Some(i32::from(score.raw));
                row.metric_hundredths = Some(i32::from(score.metric_hundredths));
            }
            Answers::Ons4(a) => {
                row.life_satisfaction = Some(i32::from(a.life_satisfaction));
                row.worthwhile = Some(i32::from(a.worthwhile));
                row.happiness = Some(i32::from(a.happiness));
                row.anxiety = Some(i32::from(a.anxiety));
            }
        }
        row
    }

    fn into_domain(self) -> StoreResult<Outcome> {
        let instrument: Instrument = convert::parse("outcome instrument", &self.instrument)?;
        let answers = match instrument {
            Instrument::Swemwbs => {
                let items = self
                    .swemwbs_answers
                    .as_deref()
                    .unwrap_or_default()
                    .split(',')
                    .map(|a| a.parse::<i64>().map_err(|e| corrupt("swemwbs answer", e)))
                    .collect::<StoreResult<Vec<_>>>()?;
                Answers::Swemwbs(
                    Swemwbs::new(&items).map_err(|(_, e)| corrupt("swemwbs answers", e))?,
                )
            }
            Instrument::Ons4 => {
                let item = |what: &str, v: Option<i32>| {
                    Ons4::answer(i64::from(v.unwrap_or(-1))).map_err(|e| corrupt(what, e))
                };
                Answers::Ons4(Ons4 {
                    life_satisfaction: item("life satisfaction", self.life_satisfaction)?,
                    worthwhile: item("worthwhile", self.worthwhile)?,
                    happiness: item("happiness", self.happiness)?,
                    anxiety: item("anxiety", self.anxiety)?,
                })
            }
        };
        let status: MeasureStatus = convert::parse("outcome status", &self.status)?;
        let entered_in_error = match (status, self.error_reason, self.error_by, self.error_at) {
            (MeasureStatus::Recorded, ..) => None,
            (MeasureStatus::EnteredInError, Some(reason), Some(by), Some(at)) => {
                Some(EnteredInError {
                    reason,
                    by,
                    at: convert::from_db(at),
                })
            }
            _ => {
                return Err(corrupt(
                    "outcome entered in error",
                    "without who, when or why",
                ));
            }
        };
        Ok(Outcome {
            version: self.version,
            entered_in_error,
            id: convert::uuid("outcome id", &self.id)?,
            referral_id: convert::uuid("outcome referral", &self.referral_id)?,
            timepoint: convert::parse("outcome timepoint", &self.timepoint)?,
            recorded_at: convert::from_db(self.recorded_at),
            answers,
            scoring_version: self.scoring_version,
            created_by: self.created_by,
            created_at: convert::from_db(self.created_at),
        })
    }
}

/// Stores a measurement.
pub fn insert(tx: &mut Tx<'_>, outcome: &Outcome) -> StoreResult<()> {
    tx.touch_referral(outcome.referral_id)?;
    let conn: &mut DbConnection = tx;
    diesel::insert_into(outcomes::table)
        .values(OutcomeRow::from_domain(outcome))
        .execute(conn)?;
    Ok(())
}

/// One measurement by id.
pub fn get(conn: &mut DbConnection, id: Uuid) -> StoreResult<Option<Outcome>> {
    outcomes::table
        .find(id.to_string())
        .select(OutcomeRow::as_select())
        .first(conn)
        .optional()?
        .map(OutcomeRow::into_domain)
        .transpose()
}

/// Marks a measure entered in error if it is still at `expected` version; `false` when a
/// concurrent change got there first.
pub fn enter_in_error(tx: &mut Tx<'_>, outcome: &Outcome, expected: i64) -> StoreResult<bool> {
    tx.touch_referral(outcome.referral_id)?;
    let conn: &mut DbConnection = tx;
    let row = OutcomeRow::from_domain(outcome);
    let changed = diesel::update(
        outcomes::table
            .filter(outcomes::id.eq(&row.id))
            .filter(outcomes::version.eq(expected)),
    )
    .set((
        outcomes::version.eq(row.version),
        outcomes::status.eq(&row.status),
        outcomes::error_reason.eq(&row.error_reason),
        outcomes::error_by.eq(&row.error_by),
        outcomes::error_at.eq(row.error_at),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// The baseline of `instrument` under a referral that counts (not entered in error), if any.
pub fn baseline(
    conn: &mut DbConnection,
    referral_id: Uuid,
    instrument: Instrument,
) -> StoreResult<Option<Uuid>> {
    outcomes::table
        .filter(outcomes::referral_id.eq(referral_id.to_string()))
        .filter(outcomes::instrument.eq(instrument.as_str()))
        .filter(outcomes::timepoint.eq("baseline"))
        .filter(outcomes::status.eq(MeasureStatus::Recorded.as_str()))
        .select(outcomes::id)
        .first::<String>(conn)
        .optional()?
        .map(|id| convert::uuid("outcome id", &id))
        .transpose()
}

/// A page of a referral's measurements in the order they were taken, after `after`.
pub fn for_referral(
    conn: &mut DbConnection,
    referral_id: Uuid,
    after: Option<Keyset>,
    limit: i64,
) -> StoreResult<Vec<Outcome>> {
    let query = outcomes::table
        .filter(outcomes::referral_id.eq(referral_id.to_string()))
        .select(OutcomeRow::as_select())
        .limit(limit)
        .into_boxed();
    keyset(
        query,
        (outcomes::recorded_at, outcomes::id),
        Order::OldestFirst,
        after,
    )
    .load(conn)?
    .into_iter()
    .map(OutcomeRow::into_domain)
    .collect()
}

/// The baselines and the latest later measurement of each instrument under a referral: what
/// the change is computed from (at most four rows, whatever the referral holds). Measures
/// entered in error count for neither.
pub fn change_inputs(conn: &mut DbConnection, referral_id: Uuid) -> StoreResult<Vec<Outcome>> {
    let mut found = Vec::new();
    for instrument in Instrument::ALL {
        let of_referral = || {
            outcomes::table
                .filter(outcomes::referral_id.eq(referral_id.to_string()))
                .filter(outcomes::instrument.eq(instrument.as_str()))
                .filter(outcomes::status.eq(MeasureStatus::Recorded.as_str()))
        };
        let Some(baseline) = of_referral()
            .filter(outcomes::timepoint.eq("baseline"))
            .select(OutcomeRow::as_select())
            .first(conn)
            .optional()?
        else {
            continue;
        };
        let latest = of_referral()
            .filter(outcomes::timepoint.ne("baseline"))
            .filter(outcomes::recorded_at.gt(baseline.recorded_at))
            .order((outcomes::recorded_at.desc(), outcomes::id.desc()))
            .select(OutcomeRow::as_select())
            .first(conn)
            .optional()?;
        found.push(baseline.into_domain()?);
        if let Some(latest) = latest {
            found.push(latest.into_domain()?);
        }
    }
    Ok(found)
}
