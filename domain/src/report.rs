//! The rules reports follow: how the activity report's figures come from the summed tallies
//! of its period (`tally`), which are suppressed, and how derived figures are rounded.

use std::collections::BTreeMap;

use crate::tally::{Amount, Metric, ONS4_CHANGES};

/// Statistical disclosure control for published figures (NHS England's rule for health
/// data): for commissioners, counts from 1 to [`SMALL_NUMBER_MAX`] are suppressed, every other
/// count (totals included) is rounded to the nearest [`ROUNDING_BASE`] (0 stays 0), and a
/// figure derived from fewer than [`MIN_RECORDS_FOR_DERIVED`] records (a mean, a median, a
/// rate, hours) is suppressed. Rounding every published count is what stops a suppressed one
/// being recovered by subtracting the others from their total.
pub const SMALL_NUMBER_MAX: i64 = 7;

/// Published counts are rounded to the nearest multiple of this.
pub const ROUNDING_BASE: i64 = 5;

/// A derived figure needs at least this many records behind it to be published.
pub const MIN_RECORDS_FOR_DERIVED: i64 = SMALL_NUMBER_MAX + 1;

/// Whether a count is small enough to suppress.
pub fn is_small(count: i64) -> bool {
    (1..=SMALL_NUMBER_MAX).contains(&count)
}

/// A count as published for commissioners: `None` when suppressed (1 to 7), else rounded to
/// the nearest 5 (0 stays 0; halves cannot occur for whole counts).
pub fn disclosed_count(count: i64) -> Option<i64> {
    if is_small(count) {
        return None;
    }
    let half = ROUNDING_BASE / 2;
    Some((count + half).div_euclid(ROUNDING_BASE) * ROUNDING_BASE)
}

/// Whether a figure derived from `records` records may be published for commissioners.
pub fn may_publish_derived(records: i64) -> bool {
    records == 0 || records >= MIN_RECORDS_FOR_DERIVED
}

/// Rounds to `places` decimal places.
pub fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// One-to-one hours from minutes, to one decimal place.
pub fn hours(minutes: i64) -> f64 {
    round(minutes as f64 / 60.0, 1)
}

/// Declined ÷ (accepted + declined), to three decimal places; `None` with neither.
pub fn decline_rate(accepted: i64, declined: i64) -> Option<f64> {
    let decided = accepted + declined;
    (decided > 0).then(|| round(declined as f64 / decided as f64, 3))
}

/// `sum ÷ n`, scaled down by `unit` (100 for hundredths), to two decimal places; `None` when
/// `n` is 0.
pub fn mean(sum: i64, n: i64, unit: f64) -> Option<f64> {
    (n > 0).then(|| round(sum as f64 / n as f64 / unit, 2))
}

/// Counts by code (or organisation id).
pub type Counts = BTreeMap<String, i64>;

/// Change from baseline over each referral's pair of its baseline and its latest later
/// measurement in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wellbeing {
    /// Distinct people with such a pair.
    pub people: i64,
    pub pairs: i64,
    /// Summed changes: SWEMWBS metric hundredths in the first; ONS4 its four items in order.
    pub changes: [i64; 4],
    /// SWEMWBS: pairs improving by at least the meaningful change.
    pub meaningful: i64,
}

/// Every figure of the activity report, before rounding and suppression.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    pub by_source: Counts,
    pub by_reason: Counts,
    pub by_referrer_org: Counts,
    pub people_referred: i64,
    pub people_contacted: i64,
    pub sessions_by_kind: Counts,
    pub sessions_by_mode: Counts,
    pub sessions_by_status: Counts,
    /// Attended one-to-one sessions, and their minutes.
    pub one_to_one: Amount,
    /// The median days to first contact, over `contacted` referrals received in the period.
    pub median_days: Option<f64>,
    pub contacted: i64,
    pub accepted: i64,
    pub declined: i64,
    pub closures: Counts,
    /// Connections made in the period by receiving organisation, then status.
    pub connection_status: BTreeMap<String, Counts>,
    /// The same by outcome.
    pub connection_outcome: BTreeMap<String, Counts>,
    pub swemwbs: Wellbeing,
    pub ons4: Wellbeing,
}

impl Activity {
    /// The figures from a period's summed tallies: `(metric, key1, key2, amount)`.
    /// `meaningful_hundredths` is the SWEMWBS improvement counted as meaningful.
    pub fn from_totals(
        totals: impl IntoIterator<Item = (Metric, String, String, Amount)>,
        meaningful_hundredths: i64,
    ) -> Self {
        let mut a = Activity::default();
        let mut days: BTreeMap<i64, i64> = BTreeMap::new();
        let add = |counts: &mut Counts, key: String, n: i64| *counts.entry(key).or_default() += n;
        for (metric, key1, key2, amount) in totals {
            let n = amount.n;
            match metric {
                Metric::Received => add(&mut a.by_source, key1, n),
                Metric::Reason => add(&mut a.by_reason, key1, n),
                Metric::ReferrerOrg => add(&mut a.by_referrer_org, key1, n),
                Metric::PeopleReferred => a.people_referred += n,
                Metric::PeopleContacted => a.people_contacted += n,
                Metric::SessionKind => add(&mut a.sessions_by_kind, key1, n),
                Metric::SessionMode => add(&mut a.sessions_by_mode, key1, n),
                Metric::SessionStatus => add(&mut a.sessions_by_status, key1, n),
                Metric::OneToOne => {
                    a.one_to_one.n += n;
                    a.one_to_one.total += amount.total;
                }
                Metric::DaysToFirstContact => {
                    *days.entry(key1.parse().unwrap_or(0)).or_default() += n;
                }
                Metric::Decision if key1 == "accepted" => a.accepted += n,
                Metric::Decision => a.declined += n,
                Metric::Closure => add(&mut a.closures, key1, n),
                Metric::ConnectionStatus => {
                    add(a.connection_status.entry(key1).or_default(), key2, n);
                }
                Metric::ConnectionOutcome => {
                    add(a.connection_outcome.entry(key1).or_default(), key2, n);
                }
                Metric::Swemwbs => {
                    a.swemwbs.pairs += n;
                    a.swemwbs.changes[0] += amount.total;
                    if key2
                        .parse::<i64>()
                        .is_ok_and(|c| c >= meaningful_hundredths)
                    {
                        a.swemwbs.meaningful += n;
                    }
                }
                Metric::SwemwbsPeople => a.swemwbs.people += n,
                Metric::Ons4People => a.ons4.people += n,
                Metric::Ons4LifeSatisfaction
                | Metric::Ons4Worthwhile
                | Metric::Ons4Happiness
                | Metric::Ons4Anxiety => {
                    let item = ONS4_CHANGES.iter().position(|m| *m == metric).unwrap_or(0);
                    a.ons4.changes[item] += amount.total;
                    // Every pair has all four items: count it once.
                    if item == 0 {
                        a.ons4.pairs += n;
                    }
                }
            }
        }
        a.contacted = days.values().sum();
        a.median_days = median(&days);
        a
    }
}

/// The median of a histogram (`value → count`): the middle value, or the mean of the two.
pub fn median(histogram: &BTreeMap<i64, i64>) -> Option<f64> {
    let n: i64 = histogram.values().sum();
    if n == 0 {
        return None;
    }
    let nth = |i: i64| {
        let mut seen = 0;
        histogram
            .iter()
            .find(|(_, count)| {
                seen += **count;
                seen > i
            })
            .map_or(0, |(value, _)| *value)
    };
    Some((nth((n - 1) / 2) + nth(n / 2)) as f64 / 2.0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn small_numbers_are_one_to_seven() {
        let small: Vec<i64> = (-1..=9).filter(|n| is_small(*n)).collect();
        assert_eq!(small, [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn published_counts_are_suppressed_or_rounded_to_five() {
        let published: Vec<Option<i64>> = [0, 1, 5, 7, 8, 10, 12, 13, 17, 18, 102, 1003]
            .into_iter()
            .map(disclosed_count)
            .collect();
        assert_eq!(
            published,
            [
                Some(0),
                None,
                None,
                None,
                Some(10),
                Some(10),
                Some(10),
                Some(15),
                Some(15),
                Some(20),
                Some(100),
                Some(1005)
            ]
        );
        assert!(may_publish_derived(0));
        assert!(!may_publish_derived(1));
        assert!(!may_publish_derived(7));
        assert!(may_publish_derived(8));
    }

    #[test]
    fn derived_figures_round_as_documented() {
        assert_eq!(hours(0), 0.0);
        assert_eq!(hours(95), 1.6);
        assert_eq!(hours(90), 1.5);
        assert_eq!(decline_rate(0, 0), None);
        assert_eq!(decline_rate(2, 1), Some(0.333));
        assert_eq!(decline_rate(0, 3), Some(1.0));
        assert_eq!(mean(486, 1, 100.0), Some(4.86));
        assert_eq!(mean(5, 3, 1.0), Some(1.67));
        assert_eq!(mean(5, 0, 1.0), None);
    }

    #[test]
    fn the_median_of_a_histogram_is_the_middle_or_the_mean_of_two() {
        let h = |pairs: &[(i64, i64)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();
        assert_eq!(median(&h(&[])), None);
        assert_eq!(median(&h(&[(4, 1)])), Some(4.0));
        assert_eq!(median(&h(&[(1, 1), (4, 1)])), Some(2.5));
        assert_eq!(median(&h(&[(1, 2), (4, 1)])), Some(1.0));
        assert_eq!(median(&h(&[(0, 2), (3, 2), (9, 1)])), Some(3.0));
    }

    proptest! {
        #[test]
        fn a_histogram_median_is_the_sorted_middle(values in prop::collection::vec(0i64..50, 1..40)) {
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let n = sorted.len();
            let expected = (sorted[(n - 1) / 2] + sorted[n / 2]) as f64 / 2.0;
            let mut h = BTreeMap::new();
            for v in values {
                *h.entry(v).or_insert(0) += 1;
            }
            prop_assert_eq!(median(&h), Some(expected));
        }

        #[test]
        fn a_published_count_is_within_two_of_the_truth_or_suppressed(count in 0i64..1_000_000) {
            match disclosed_count(count) {
                None => prop_assert!((1..=7).contains(&count)),
                Some(published) => {
                    prop_assert_eq!(published % 5, 0);
                    prop_assert!((published - count).abs() <= 2);
                    prop_assert!(count == 0 || count >= 8);
                    prop_assert_eq!(published == 0, count == 0);
                }
            }
        }

        #[test]
        fn a_decline_rate_is_a_proportion(accepted in 0i64..1_000_000, declined in 0i64..1_000_000) {
            if let Some(rate) = decline_rate(accepted, declined) {
                prop_assert!((0.0..=1.0).contains(&rate));
            } else {
                prop_assert_eq!(accepted + declined, 0);
            }
        }
    }
}
