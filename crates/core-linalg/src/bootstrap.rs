use crate::error::check_finite;
use crate::{LinalgError, Rng};
use rand::RngExt;

/// A percentile-bootstrap confidence interval for the mean of `data`.
///
/// Draws `resamples` resamples of `data` with replacement (from `rng`), takes each one's mean
/// and returns the `(1 − level)/2` and `(1 + level)/2` empirical quantiles of those means, as
/// `(lo, hi)`. Errors on empty or non-finite data, `resamples == 0` and `level ∉ (0, 1)`.
pub fn bootstrap_mean_ci(
    data: &[f64],
    resamples: usize,
    level: f64,
    rng: &mut Rng,
) -> Result<(f64, f64), LinalgError> {
    check_finite("bootstrap data", data)?;
    if resamples == 0 {
        return Err(LinalgError::Empty {
            what: "bootstrap resamples",
        });
    }
    crate::error::check_level(level)?;
    let n = data.len();
    // Means of the data scaled by its largest magnitude (no overflow in the sums at ±1e308).
    let scale = data
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()))
        .max(f64::MIN_POSITIVE);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            (0..n)
                .map(|_| data[rng.random_range(0..n)] / scale)
                .sum::<f64>()
                / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * resamples as f64).floor() as usize).min(resamples - 1)] * scale;
    Ok((at((1.0 - level) / 2.0), at((1.0 + level) / 2.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;

    #[test]
    fn matches_the_normal_approximation_for_a_proportion() {
        // 300 ones among 1000: the CLT interval is 0.3 ± 1.96·sqrt(0.21/1000) = 0.3 ± 0.0284.
        let data: Vec<f64> = (0..1000).map(|i| f64::from(i < 300)).collect();
        let (lo, hi) = bootstrap_mean_ci(&data, 4000, 0.95, &mut seeded_rng(3)).unwrap();
        let half = 1.96 * (0.21f64 / 1000.0).sqrt();
        assert!((lo - (0.3 - half)).abs() < 0.004, "{lo}");
        assert!((hi - (0.3 + half)).abs() < 0.004, "{hi}");
    }

    #[test]
    fn degenerate_data_give_a_point_and_errors_are_typed() {
        let (lo, hi) = bootstrap_mean_ci(&[1.0; 50], 100, 0.9, &mut seeded_rng(1)).unwrap();
        assert_eq!((lo, hi), (1.0, 1.0));
        let mut rng = seeded_rng(0);
        assert!(matches!(
            bootstrap_mean_ci(&[], 10, 0.9, &mut rng),
            Err(LinalgError::Empty { .. })
        ));
        assert!(matches!(
            bootstrap_mean_ci(&[f64::NAN], 10, 0.9, &mut rng),
            Err(LinalgError::NonFinite { .. })
        ));
        assert!(matches!(
            bootstrap_mean_ci(&[1.0], 0, 0.9, &mut rng),
            Err(LinalgError::Empty { .. })
        ));
        assert!(matches!(
            bootstrap_mean_ci(&[1.0], 10, 1.0, &mut rng),
            Err(LinalgError::Parameter { .. })
        ));
    }
}
