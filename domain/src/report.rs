//! The rules reports follow: which figures are suppressed, and how derived figures are
//! rounded.

/// Counts from 1 to this are suppressed for commissioners (`shared/domain.md`): small numbers
/// in published figures can identify people.
pub const SMALL_NUMBER_MAX: i64 = 4;

/// Whether a count is small enough to suppress.
pub fn is_small(count: i64) -> bool {
    (1..=SMALL_NUMBER_MAX).contains(&count)
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn small_numbers_are_one_to_four() {
        let small: Vec<i64> = (-1..=6).filter(|n| is_small(*n)).collect();
        assert_eq!(small, [1, 2, 3, 4]);
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

    proptest! {
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
