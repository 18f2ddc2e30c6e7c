use crate::LinalgError;
use statrs::distribution::{Beta, Binomial, ContinuousCDF, DiscreteCDF};

/// CDF of the Beta(a, b) distribution at `x` (the regularised incomplete beta `I_x(a, b)`),
/// via `statrs`. Errors unless `a, b > 0` are finite.
pub fn beta_cdf(x: f64, a: f64, b: f64) -> Result<f64, LinalgError> {
    let d = Beta::new(a, b).map_err(|_| LinalgError::Parameter {
        name: "beta shape",
        value: if a > 0.0 && a.is_finite() { b } else { a },
        reason: "Beta shapes must be finite and positive",
    })?;
    Ok(d.cdf(x))
}

/// `P(X ≤ k)` for `X ~ Binomial(n, p)`, via `statrs`. Errors unless `p ∈ [0, 1]`.
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> Result<f64, LinalgError> {
    let d = Binomial::new(p, n).map_err(|_| LinalgError::Parameter {
        name: "p",
        value: p,
        reason: "binomial success probability must lie in [0, 1]",
    })?;
    Ok(d.cdf(k))
}

/// The Wilson score interval `(lo, hi)` for a binomial proportion with `successes` out of
/// `trials` at normal quantile `z` (1.96 for 95%). Errors when `trials == 0` or
/// `successes > trials`.
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> Result<(f64, f64), LinalgError> {
    if trials == 0 {
        return Err(LinalgError::Empty {
            what: "binomial trials",
        });
    }
    if successes > trials {
        return Err(LinalgError::Parameter {
            name: "successes",
            value: successes as f64,
            reason: "cannot exceed the number of trials",
        });
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Ok(((centre - half).max(0.0), (centre + half).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_cdf_closed_forms() {
        for &x in &[0.0, 0.1, 0.5, 0.77, 1.0] {
            assert!((beta_cdf(x, 1.0, 1.0).unwrap() - x).abs() < 1e-12);
            assert!((beta_cdf(x, 2.0, 1.0).unwrap() - x * x).abs() < 1e-12);
            // Beta(1, 3): 1 - (1 - x)^3
            assert!((beta_cdf(x, 1.0, 3.0).unwrap() - (1.0 - (1.0 - x).powi(3))).abs() < 1e-12);
        }
        assert!(beta_cdf(0.5, 0.0, 1.0).is_err());
    }

    #[test]
    fn binomial_cdf_matches_brute_force_sum_and_beta_identity() {
        let (n, p) = (17u64, 0.3f64);
        let mut acc = 0.0;
        let mut coef = 1.0f64; // C(n, k)
        for k in 0..=n {
            if k > 0 {
                coef = coef * (n - k + 1) as f64 / k as f64;
            }
            acc += coef * p.powi(k as i32) * (1.0 - p).powi((n - k) as i32);
            let c = binomial_cdf(k, n, p).unwrap();
            assert!((c - acc).abs() < 1e-12, "k={k}: {c} vs {acc}");
            // P(X <= k) = I_{1-p}(n - k, k + 1) for k < n.
            if k < n {
                let b = beta_cdf(1.0 - p, (n - k) as f64, (k + 1) as f64).unwrap();
                assert!((c - b).abs() < 1e-10);
            }
        }
        assert!(binomial_cdf(1, 3, 1.5).is_err());
    }

    #[test]
    fn wilson_interval_known_value() {
        // 8 of 10 at z = 1.96: (0.4902, 0.9433) (standard textbook value).
        let (lo, hi) = wilson_interval(8, 10, 1.96).unwrap();
        assert!(
            (lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4,
            "{lo} {hi}"
        );
        assert!(wilson_interval(1, 0, 1.96).is_err());
        assert!(wilson_interval(3, 2, 1.96).is_err());
    }
}
