//! Outcome measures: validated wellbeing scales, scored here so every client gets the same
//! figures. SWEMWBS (seven items, raw 7–35, converted to a metric score by the published
//! table) and ONS4 (four items 0–10, each banded; never summed). Facts: `docs/domain.md`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codes::code_list;
use crate::{Invalid, ReferralStatus};

code_list! {
    /// Which scale.
    pub enum Instrument as "instrument" {
        /// Short Warwick-Edinburgh Mental Wellbeing Scale.
        Swemwbs = "swemwbs",
        /// ONS personal wellbeing.
        Ons4 = "ons4",
    }
}

code_list! {
    /// When in the person's time with the service.
    pub enum Timepoint as "timepoint" {
        Baseline = "baseline",
        Review = "review",
        Exit = "exit",
    }
}

code_list! {
    /// An ONS4 band. Life satisfaction, worthwhile and happiness use low to very_high; anxiety
    /// (higher is worse) very_low to high.
    pub enum Band as "band" {
        VeryLow = "very_low",
        Low = "low",
        Medium = "medium",
        High = "high",
        VeryHigh = "very_high",
    }
}

/// What the stored scores were computed by; bumped if the tables ever change.
pub const SWEMWBS_SCORING: &str = "swemwbs-metric-2008";
pub const ONS4_SCORING: &str = "ons4-bands-2018";
/// The default meaningful individual change in SWEMWBS metric points.
pub const DEFAULT_MEANINGFUL_CHANGE: f64 = 3.0;

/// SWEMWBS raw score (7–35) to metric score, in hundredths: the published conversion table.
const METRIC_HUNDREDTHS: [u16; 29] = [
    700, 951, 1125, 1240, 1333, 1408, 1475, 1532, 1584, 1636, 1688, 1743, 1798, 1859, 1925, 1998,
    2073, 2154, 2235, 2321, 2411, 2503, 2602, 2703, 2813, 2931, 3070, 3255, 3500,
];

/// The seven SWEMWBS answers, each 1 (none of the time) to 5 (all of the time), in item order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swemwbs([u8; 7]);

/// SWEMWBS scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwemwbsScore {
    /// 7–35.
    pub raw: u8,
    /// The metric score in hundredths (7.00–35.00 is 700–3500).
    pub metric_hundredths: u16,
}

impl Swemwbs {
    /// Seven answers; a missing item is not scored, so exactly seven are required. Errors name
    /// the item index (`None` for the count).
    pub fn new(answers: &[i64]) -> Result<Self, (Option<usize>, Invalid)> {
        if answers.len() != 7 {
            return Err((
                None,
                Invalid::new(
                    "item_count",
                    format!(
                        "must hold exactly 7 answers, one per item (got {})",
                        answers.len()
                    ),
                ),
            ));
        }
        let mut items = [0u8; 7];
        for (index, answer) in answers.iter().enumerate() {
            items[index] = u8::try_from(*answer)
                .ok()
                .filter(|a| (1..=5).contains(a))
                .ok_or_else(|| {
                    (
                        Some(index),
                        Invalid::new("out_of_range", "must be a whole number from 1 to 5"),
                    )
                })?;
        }
        Ok(Self(items))
    }

    pub fn answers(&self) -> [u8; 7] {
        self.0
    }

    pub fn score(&self) -> SwemwbsScore {
        let raw: u8 = self.0.iter().sum();
        SwemwbsScore {
            raw,
            metric_hundredths: metric_hundredths(raw),
        }
    }
}

/// The metric score for a raw score (7–35), in hundredths; raw scores outside are clamped.
pub fn metric_hundredths(raw: u8) -> u16 {
    METRIC_HUNDREDTHS[usize::from(raw.clamp(7, 35) - 7)]
}

/// The four ONS4 answers, each 0–10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ons4 {
    pub life_satisfaction: u8,
    pub worthwhile: u8,
    pub happiness: u8,
    pub anxiety: u8,
}

/// The ONS4 items, in questionnaire order.
pub const ONS4_ITEMS: [&str; 4] = ["life_satisfaction", "worthwhile", "happiness", "anxiety"];

impl Ons4 {
    /// One answer, 0–10.
    pub fn answer(value: i64) -> Result<u8, Invalid> {
        u8::try_from(value)
            .ok()
            .filter(|a| *a <= 10)
            .ok_or_else(|| Invalid::new("out_of_range", "must be a whole number from 0 to 10"))
    }

    /// Each item with its score and band, in questionnaire order.
    pub fn banded(&self) -> [(&'static str, u8, Band); 4] {
        [
            (
                "life_satisfaction",
                self.life_satisfaction,
                positive_band(self.life_satisfaction),
            ),
            (
                "worthwhile",
                self.worthwhile,
                positive_band(self.worthwhile),
            ),
            ("happiness", self.happiness, positive_band(self.happiness)),
            ("anxiety", self.anxiety, anxiety_band(self.anxiety)),
        ]
    }

    /// The scores in questionnaire order.
    pub fn scores(&self) -> [u8; 4] {
        [
            self.life_satisfaction,
            self.worthwhile,
            self.happiness,
            self.anxiety,
        ]
    }
}

/// Life satisfaction, worthwhile, happiness: 0–4 low, 5–6 medium, 7–8 high, 9–10 very high.
pub fn positive_band(score: u8) -> Band {
    match score {
        0..=4 => Band::Low,
        5..=6 => Band::Medium,
        7..=8 => Band::High,
        _ => Band::VeryHigh,
    }
}

/// Anxiety (higher is worse): 0–1 very low, 2–3 low, 4–5 medium, 6–10 high.
pub fn anxiety_band(score: u8) -> Band {
    match score {
        0..=1 => Band::VeryLow,
        2..=3 => Band::Low,
        4..=5 => Band::Medium,
        _ => Band::High,
    }
}

/// A measurement's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    Swemwbs(Swemwbs),
    Ons4(Ons4),
}

impl Answers {
    pub fn instrument(&self) -> Instrument {
        match self {
            Answers::Swemwbs(_) => Instrument::Swemwbs,
            Answers::Ons4(_) => Instrument::Ons4,
        }
    }

    pub fn scoring_version(&self) -> &'static str {
        match self {
            Answers::Swemwbs(_) => SWEMWBS_SCORING,
            Answers::Ons4(_) => ONS4_SCORING,
        }
    }
}

/// One recorded measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub timepoint: Timepoint,
    pub recorded_at: DateTime<Utc>,
    pub answers: Answers,
    pub scoring_version: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Starts at 1; each change adds one (what `If-Match` names).
    pub version: i64,
    /// Set once staff mark it entered in error: it then counts nowhere.
    pub entered_in_error: Option<EnteredInError>,
}

/// Why, by whom and when a measure was marked entered in error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnteredInError {
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

code_list! {
    /// A measure's state: `entered_in_error` counts nowhere (not in the change from baseline,
    /// not in reports, not as the baseline a new one would duplicate).
    pub enum MeasureStatus as "measure status" {
        Recorded = "recorded",
        EnteredInError = "entered_in_error",
    }
}

/// Measures are recorded once the person has engaged: accepted, active, on hold, or at exit
/// once closed.
pub fn may_record_for(status: ReferralStatus) -> bool {
    matches!(
        status,
        ReferralStatus::Accepted
            | ReferralStatus::Active
            | ReferralStatus::OnHold
            | ReferralStatus::Closed
    )
}

impl Outcome {
    /// Whether it counts: not entered in error.
    pub fn counts(&self) -> bool {
        self.entered_in_error.is_none()
    }

    /// `recorded` or `entered_in_error`.
    pub fn status(&self) -> MeasureStatus {
        if self.counts() {
            MeasureStatus::Recorded
        } else {
            MeasureStatus::EnteredInError
        }
    }

    /// The measure marked entered in error at the next version; `None` when it already is
    /// (it cannot be marked twice).
    pub fn enter_in_error(&self, reason: String, by: String, at: DateTime<Utc>) -> Option<Self> {
        if !self.counts() {
            return None;
        }
        Some(Self {
            version: self.version + 1,
            entered_in_error: Some(EnteredInError { reason, by, at }),
            ..self.clone()
        })
    }

    /// Recorded after the referral arrived (`received_at`) and not in the future (`now`).
    pub fn check(&self, received_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Invalid> {
        if self.recorded_at > now {
            return Err(Invalid::new("in_future", "cannot be in the future"));
        }
        if self.recorded_at < received_at {
            return Err(Invalid::new(
                "before_received",
                "must not be before the referral was received",
            ));
        }
        Ok(())
    }
}

/// The change from a baseline to the latest later measurement of the same instrument.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Swemwbs {
        baseline: Uuid,
        latest: Uuid,
        /// The two metric scores, in hundredths.
        baseline_hundredths: u16,
        latest_hundredths: u16,
        /// Metric points, latest minus baseline, in hundredths.
        change_hundredths: i32,
        /// At least the threshold of improvement.
        meaningful_improvement: bool,
    },
    Ons4 {
        baseline: Uuid,
        latest: Uuid,
        /// Per item, latest minus baseline (for anxiety a fall is an improvement).
        change: [i16; 4],
    },
}

/// The change for `instrument` over `outcomes` (any order): from its baseline to its latest
/// later measurement by `recorded_at` (ties by id), if both exist; measures entered in error
/// count for neither. `threshold_hundredths` is the meaningful SWEMWBS change.
pub fn change(
    outcomes: &[Outcome],
    instrument: Instrument,
    threshold_hundredths: i32,
) -> Option<Change> {
    let of = |o: &&Outcome| o.answers.instrument() == instrument && o.counts();
    let baseline = outcomes
        .iter()
        .filter(of)
        .find(|o| o.timepoint == Timepoint::Baseline)?;
    let latest = outcomes
        .iter()
        .filter(of)
        .filter(|o| o.timepoint != Timepoint::Baseline && o.recorded_at > baseline.recorded_at)
        .max_by_key(|o| (o.recorded_at, o.id))?;
    Some(match (baseline.answers, latest.answers) {
        (Answers::Swemwbs(before), Answers::Swemwbs(after)) => {
            let (from, to) = (
                before.score().metric_hundredths,
                after.score().metric_hundredths,
            );
            let delta = i32::from(to) - i32::from(from);
            Change::Swemwbs {
                baseline: baseline.id,
                latest: latest.id,
                baseline_hundredths: from,
                latest_hundredths: to,
                change_hundredths: delta,
                meaningful_improvement: delta >= threshold_hundredths,
            }
        }
        (Answers::Ons4(before), Answers::Ons4(after)) => {
            let (b, a) = (before.scores(), after.scores());
            Change::Ons4 {
                baseline: baseline.id,
                latest: latest.id,
                change: [0, 1, 2, 3].map(|i| i16::from(a[i]) - i16::from(b[i])),
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;

    /// The table in `docs/domain.md`, raw score by raw score.
    const TABLE: [(u8, &str); 29] = [
        (7, "7.00"),
        (8, "9.51"),
        (9, "11.25"),
        (10, "12.40"),
        (11, "13.33"),
        (12, "14.08"),
        (13, "14.75"),
        (14, "15.32"),
        (15, "15.84"),
        (16, "16.36"),
        (17, "16.88"),
        (18, "17.43"),
        (19, "17.98"),
        (20, "18.59"),
        (21, "19.25"),
        (22, "19.98"),
        (23, "20.73"),
        (24, "21.54"),
        (25, "22.35"),
        (26, "23.21"),
        (27, "24.11"),
        (28, "25.03"),
        (29, "26.02"),
        (30, "27.03"),
        (31, "28.13"),
        (32, "29.31"),
        (33, "30.70"),
        (34, "32.55"),
        (35, "35.00"),
    ];

    #[test]
    fn every_raw_score_maps_to_its_table_value() {
        for (raw, metric) in TABLE {
            let h = metric_hundredths(raw);
            assert_eq!(format!("{}.{:02}", h / 100, h % 100), metric, "raw {raw}");
        }
    }

    #[test]
    fn answers_sum_to_the_raw_score() {
        let s = Swemwbs::new(&[1, 2, 3, 4, 5, 4, 3]).unwrap_or(Swemwbs([1; 7]));
        assert_eq!(
            s.score(),
            SwemwbsScore {
                raw: 22,
                metric_hundredths: 1998
            }
        );
        assert_eq!(
            Swemwbs::new(&[1; 6]).err().map(|(i, e)| (i, e.code)),
            Some((None, "item_count"))
        );
        assert_eq!(
            Swemwbs::new(&[1, 1, 1, 6, 1, 1, 1])
                .err()
                .map(|(i, e)| (i, e.code)),
            Some((Some(3), "out_of_range"))
        );
        assert_eq!(
            Swemwbs::new(&[0, 1, 1, 1, 1, 1, 1]).err().map(|(i, _)| i),
            Some(Some(0))
        );
    }

    #[test]
    fn ons4_bands_at_every_boundary() {
        let positive = [
            (0, Band::Low),
            (4, Band::Low),
            (5, Band::Medium),
            (6, Band::Medium),
            (7, Band::High),
            (8, Band::High),
            (9, Band::VeryHigh),
            (10, Band::VeryHigh),
        ];
        for (score, band) in positive {
            assert_eq!(positive_band(score), band, "{score}");
        }
        let anxiety = [
            (0, Band::VeryLow),
            (1, Band::VeryLow),
            (2, Band::Low),
            (3, Band::Low),
            (4, Band::Medium),
            (5, Band::Medium),
            (6, Band::High),
            (10, Band::High),
        ];
        for (score, band) in anxiety {
            assert_eq!(anxiety_band(score), band, "{score}");
        }
        assert_eq!(Ons4::answer(11).err().map(|e| e.code), Some("out_of_range"));
        assert_eq!(Ons4::answer(-1).err().map(|e| e.code), Some("out_of_range"));
    }

    proptest! {
        #[test]
        fn every_set_of_seven_answers_scores_within_the_table(answers in proptest::array::uniform7(1i64..=5)) {
            let score = Swemwbs::new(&answers).map(|s| s.score()).ok();
            let raw = u8::try_from(answers.iter().sum::<i64>()).unwrap_or(0);
            prop_assert_eq!(score.map(|s| s.raw), Some(raw));
            prop_assert!(score.is_some_and(|s| (700..=3500).contains(&s.metric_hundredths)));
        }

        #[test]
        fn the_metric_score_never_falls_as_the_raw_score_rises(raw in 7u8..35) {
            prop_assert!(metric_hundredths(raw + 1) > metric_hundredths(raw));
        }
    }

    fn measured(timepoint: Timepoint, days: i64, answers: Answers) -> Outcome {
        let at =
            DateTime::from_timestamp(1_773_826_200, 0).unwrap_or_default() + Duration::days(days);
        Outcome {
            id: Uuid::now_v7(),
            referral_id: Uuid::nil(),
            timepoint,
            recorded_at: at,
            answers,
            scoring_version: answers.scoring_version().into(),
            created_by: "jo".into(),
            created_at: at,
            version: 1,
            entered_in_error: None,
        }
    }

    #[test]
    fn a_measure_entered_in_error_counts_for_no_change_and_cannot_be_marked_twice() {
        let baseline = measured(Timepoint::Baseline, 0, swemwbs([3; 7]));
        let exit = measured(Timepoint::Exit, 90, swemwbs([4; 7]));
        let wrong = exit
            .enter_in_error(
                "typed the wrong answers".into(),
                "jo".into(),
                exit.recorded_at,
            )
            .unwrap();
        assert_eq!(wrong.version, 2);
        assert_eq!(wrong.status(), MeasureStatus::EnteredInError);
        assert_eq!(exit.status(), MeasureStatus::Recorded);
        assert!(
            wrong
                .enter_in_error("again".into(), "jo".into(), exit.recorded_at)
                .is_none()
        );
        assert!(change(&[baseline.clone(), exit.clone()], Instrument::Swemwbs, 300).is_some());
        assert_eq!(
            change(&[baseline.clone(), wrong.clone()], Instrument::Swemwbs, 300),
            None
        );
        let wrong_baseline = baseline
            .enter_in_error("wrong person".into(), "jo".into(), exit.recorded_at)
            .unwrap();
        assert_eq!(
            change(&[wrong_baseline, exit], Instrument::Swemwbs, 300),
            None
        );
    }

    fn swemwbs(answers: [i64; 7]) -> Answers {
        Answers::Swemwbs(Swemwbs::new(&answers).unwrap_or(Swemwbs([1; 7])))
    }

    #[test]
    fn change_runs_from_the_baseline_to_the_latest_later_measurement() {
        let baseline = measured(Timepoint::Baseline, 0, swemwbs([3; 7])); // raw 21: 19.25
        let review = measured(Timepoint::Review, 30, swemwbs([4, 3, 3, 3, 3, 3, 3])); // 22: 19.98
        let exit = measured(Timepoint::Exit, 90, swemwbs([4, 4, 4, 3, 3, 3, 3])); // 24: 21.54
        let all = [exit.clone(), baseline.clone(), review.clone()];
        assert_eq!(
            change(&all, Instrument::Swemwbs, 300),
            Some(Change::Swemwbs {
                baseline: baseline.id,
                latest: exit.id,
                baseline_hundredths: 1925,
                latest_hundredths: 2154,
                change_hundredths: 229,
                meaningful_improvement: false,
            })
        );
        assert!(matches!(
            change(&all, Instrument::Swemwbs, 200),
            Some(Change::Swemwbs {
                meaningful_improvement: true,
                ..
            })
        ));
        assert_eq!(
            change(std::slice::from_ref(&baseline), Instrument::Swemwbs, 300),
            None
        );
        assert_eq!(change(&all, Instrument::Ons4, 300), None);

        let ons = |l, w, h, a| {
            Answers::Ons4(Ons4 {
                life_satisfaction: l,
                worthwhile: w,
                happiness: h,
                anxiety: a,
            })
        };
        let first = measured(Timepoint::Baseline, 0, ons(4, 5, 3, 8));
        let later = measured(Timepoint::Exit, 60, ons(7, 6, 6, 3));
        assert_eq!(
            change(&[first.clone(), later.clone()], Instrument::Ons4, 300),
            Some(Change::Ons4 {
                baseline: first.id,
                latest: later.id,
                change: [3, 1, 3, -5]
            })
        );
    }
}
