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

/// How a count is published for commissioners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disclosed {
    /// Rounded to the nearest 5 (0 stays 0).
    Count(i64),
    /// A count from 1 to 7, withheld.
    Small,
    /// Withheld so that the withheld counts around it cannot be worked out from totals
    /// (secondary suppression): any count at all.
    Secondary,
}

/// `total = Σ parts`, by index into the counts.
pub type Equation = (usize, Vec<usize>);

/// Where a count may lie, as far as someone reading the published figures can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub lo: i64,
    pub hi: i64,
}

/// No known upper bound.
const UNBOUNDED: i64 = i64::MAX / 4;

/// What a reader can derive about every count from what is published and the equations that
/// hold between them: a published count `v` is within 2 of the truth (and, unless 0, above
/// 7); a small one is 1 to 7; a secondary one anything; then totals and their parts narrow
/// each other until nothing moves (interval propagation).
pub fn bounds(published: &[Disclosed], equations: &[Equation]) -> Vec<Bounds> {
    let half = ROUNDING_BASE / 2;
    let mut b: Vec<Bounds> = published
        .iter()
        .map(|p| match *p {
            Disclosed::Count(0) => Bounds { lo: 0, hi: 0 },
            Disclosed::Count(v) => Bounds {
                lo: (v - half).max(SMALL_NUMBER_MAX + 1),
                hi: v + half,
            },
            Disclosed::Small => Bounds {
                lo: 1,
                hi: SMALL_NUMBER_MAX,
            },
            Disclosed::Secondary => Bounds {
                lo: 0,
                hi: UNBOUNDED,
            },
        })
        .collect();
    // Each pass only narrows; the ranges are finite or unbounded, so this ends.
    for _ in 0..10_000 {
        let mut moved = false;
        for (total, parts) in equations {
            let sum_lo: i64 = parts.iter().map(|p| b[*p].lo).sum();
            let sum_hi: i64 = parts
                .iter()
                .fold(0i64, |sum, p| sum.saturating_add(b[*p].hi))
                .min(UNBOUNDED);
            let t = b[*total];
            let narrowed = Bounds {
                lo: t.lo.max(sum_lo),
                hi: t.hi.min(sum_hi),
            };
            if narrowed != t {
                b[*total] = narrowed;
                moved = true;
            }
            let t = b[*total];
            for (at, part) in parts.iter().enumerate() {
                let p = b[*part];
                let others = || parts.iter().enumerate().filter(|(j, _)| *j != at);
                let others_lo: i64 = others().map(|(_, o)| b[*o].lo).sum();
                let others_hi = others()
                    .fold(0i64, |sum, (_, o)| sum.saturating_add(b[*o].hi))
                    .min(UNBOUNDED);
                let narrowed = Bounds {
                    lo: p.lo.max(t.lo - others_hi),
                    hi: p.hi.min(if t.hi >= UNBOUNDED {
                        UNBOUNDED
                    } else {
                        t.hi - others_lo
                    }),
                };
                if narrowed != p {
                    b[*part] = narrowed;
                    moved = true;
                }
            }
        }
        if !moved {
            break;
        }
    }
    b
}

/// Statistical disclosure control of a table of counts for commissioners: each count is
/// suppressed (1 to 7) or rounded to 5; then, while a reader could still pin a withheld count
/// to one value from the published ones and `equations` (totals equal the sum of their
/// parts: e.g. seven organisations each named with a suppressed count under a published
/// total of 5), one more count near it is withheld as `Secondary`, totals first.
pub fn disclose(counts: &[i64], equations: &[Equation]) -> Vec<Disclosed> {
    let mut published: Vec<Disclosed> = counts
        .iter()
        .map(|n| disclosed_count(*n).map_or(Disclosed::Small, Disclosed::Count))
        .collect();
    loop {
        let b = bounds(&published, equations);
        let pinned = (0..published.len())
            .find(|i| !matches!(published[*i], Disclosed::Count(_)) && b[*i].lo == b[*i].hi);
        let Some(pinned) = pinned else {
            return published;
        };
        let next = secondary_candidate(pinned, &published, equations);
        if published[next] == Disclosed::Secondary {
            // Nothing left to withhold around it (cannot happen: a count whose neighbours
            // are all secondary is unbounded).
            return published;
        }
        published[next] = Disclosed::Secondary;
    }
}

/// The count to withhold next for `pinned`: searching outwards through the equations from
/// it, the first total not yet secondary, else the largest such part; `pinned` itself last.
fn secondary_candidate(pinned: usize, published: &[Disclosed], equations: &[Equation]) -> usize {
    let open = |i: usize| published[i] != Disclosed::Secondary;
    let mut seen = vec![pinned];
    let mut frontier = vec![pinned];
    while !frontier.is_empty() {
        let touching: Vec<&Equation> = equations
            .iter()
            .filter(|(t, parts)| frontier.contains(t) || parts.iter().any(|p| frontier.contains(p)))
            .collect();
        if let Some((total, _)) = touching.iter().find(|(t, _)| open(*t) && *t != pinned) {
            return *total;
        }
        let size = |i: usize| match published[i] {
            Disclosed::Count(v) => v,
            _ => 0,
        };
        if let Some(part) = touching
            .iter()
            .flat_map(|(_, parts)| parts.iter().copied())
            .filter(|p| open(*p) && *p != pinned)
            .max_by_key(|p| (size(*p), std::cmp::Reverse(*p)))
        {
            return part;
        }
        let mut next = Vec::new();
        for (t, parts) in touching {
            for i in std::iter::once(*t).chain(parts.iter().copied()) {
                if !seen.contains(&i) {
                    seen.push(i);
                    next.push(i);
                }
            }
        }
        frontier = next;
    }
    pinned
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
    /// Referrals received, by the team that owns them now (`none`: no team yet).
    pub by_team: Counts,
    pub people_referred: i64,
    pub people_contacted: i64,
    pub sessions_by_kind: Counts,
    pub sessions_by_mode: Counts,
    pub sessions_by_status: Counts,
    /// Attended one-to-one sessions, and their minutes.
    pub one_to_one: Amount,
    /// Group sessions held, each once, and their staff minutes (length once per facilitator).
    pub group_sessions: Amount,
    /// Community development work done in the period: pieces recorded, and their minutes.
    pub community_work: Amount,
    /// Marked places on held group sessions, per person, by attendance.
    pub group_attendances: Counts,
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
                Metric::Team => add(&mut a.by_team, key1, n),
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
                Metric::GroupAttendance => add(&mut a.group_attendances, key1, n),
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
    fn the_issue_case_and_many_small_parts_are_not_given_away() {
        // 5 GP + 2 self: all three withheld as small; nothing pinned.
        let eq: Vec<Equation> = vec![(0, vec![1, 2, 3])];
        assert_eq!(
            disclose(&[7, 5, 2, 0], &eq),
            [
                Disclosed::Small,
                Disclosed::Small,
                Disclosed::Small,
                Disclosed::Count(0)
            ]
        );
        // Twelve organisations with one each: the total 12 is published as 10 (8 to 12), and
        // twelve parts of at least 1 would each be exactly 1, so the total is withheld too.
        let eq: Vec<Equation> = vec![(0, (1..=12).collect())];
        let mut counts = vec![12];
        counts.extend([1; 12]);
        let published = disclose(&counts, &eq);
        assert_eq!(published[0], Disclosed::Secondary);
        assert!(published[1..].iter().all(|p| *p == Disclosed::Small));
        // 8 GP + 2 self: 10, 10 and a suppressed 1 to 4.
        let eq: Vec<Equation> = vec![(0, vec![1, 2])];
        let published = disclose(&[10, 8, 2], &eq);
        assert_eq!(
            published,
            [Disclosed::Count(10), Disclosed::Count(10), Disclosed::Small]
        );
        assert_eq!(bounds(&published, &eq)[2], Bounds { lo: 1, hi: 4 });
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

        /// A total with two breakdowns of it (as referrals by source and by organisation):
        /// whatever the counts, no withheld one can be pinned from the published ones, and
        /// every published one is within 2 of the truth.
        #[test]
        fn disclosure_never_pins_a_withheld_count(
            first in prop::collection::vec(prop_oneof![Just(0i64), 1i64..8, 0i64..30], 1..8),
            second_len in 1usize..12,
            seed in any::<u64>(),
        ) {
            let total: i64 = first.iter().sum();
            // Split the same total over the second breakdown.
            let mut second = vec![0i64; second_len];
            let mut x = seed;
            for _ in 0..total {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let slot = usize::try_from((x >> 33) % second_len as u64).unwrap_or(0);
                second[slot] += 1;
            }
            let mut counts = vec![total];
            counts.extend(&first);
            counts.extend(&second);
            let a: Vec<usize> = (1..=first.len()).collect();
            let b: Vec<usize> = (first.len() + 1..counts.len()).collect();
            let equations: Vec<Equation> = vec![(0, a), (0, b)];
            let published = disclose(&counts, &equations);
            let derived = bounds(&published, &equations);
            for (i, p) in published.iter().enumerate() {
                prop_assert!(derived[i].lo <= counts[i] && counts[i] <= derived[i].hi);
                match p {
                    Disclosed::Count(v) => {
                        prop_assert!((v - counts[i]).abs() <= 2);
                        prop_assert!(!is_small(counts[i]));
                    }
                    _ => prop_assert!(derived[i].lo < derived[i].hi, "{i} pinned: {published:?}"),
                }
                if is_small(counts[i]) {
                    prop_assert!(!matches!(p, Disclosed::Count(_)));
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
