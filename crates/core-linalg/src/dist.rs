use crate::LinalgError;
use statrs::distribution::{
    Beta, Binomial, Continuous, ContinuousCDF, DiscreteCDF, Normal, StudentsT,
};
use statrs::function::beta::ln_beta;
use statrs::function::factorial::ln_binomial;

fn beta_shapes(a: f64, b: f64) -> Result<Beta, LinalgError> {
    Beta::new(a, b).map_err(|_| LinalgError::Parameter {
        name: "beta shape",
        value: if a > 0.0 && a.is_finite() { b } else { a },
        reason: "Beta shapes must be finite and positive",
    })
}

/// CDF of the Beta(a, b) distribution at `x` (the regularised incomplete beta `I_x(a, b)`),
/// via `statrs`. Errors unless `a, b > 0` are finite.
pub fn beta_cdf(x: f64, a: f64, b: f64) -> Result<f64, LinalgError> {
    Ok(beta_shapes(a, b)?.cdf(x))
}

/// The density of Beta(a, b) at `x`, via `statrs`. Errors unless `a, b > 0` are finite.
pub fn beta_pdf(x: f64, a: f64, b: f64) -> Result<f64, LinalgError> {
    Ok(beta_shapes(a, b)?.pdf(x))
}

/// The `p`-quantile of Beta(a, b) (the inverse regularised incomplete beta), via `statrs`.
/// Errors unless `p ∈ [0, 1]` and `a, b > 0` are finite.
pub fn beta_quantile(p: f64, a: f64, b: f64) -> Result<f64, LinalgError> {
    beta_shapes(a, b)?
        .try_inverse_cdf(p)
        .map_err(|_| LinalgError::Parameter {
            name: "p",
            value: p,
            reason: "quantile level must lie in [0, 1]",
        })
}

/// `P(X = k)` for `X ~ BetaBinomial(m, a, b)` (a Binomial(m, π) count with `π ~ Beta(a, b)`):
/// `C(m, k) B(k + a, m − k + b) / B(a, b)`, computed in the log domain. Zero for `k > m`.
/// Errors unless `a, b > 0` are finite.
pub fn beta_binomial_pmf(k: u64, m: u64, a: f64, b: f64) -> Result<f64, LinalgError> {
    beta_shapes(a, b)?;
    if k > m {
        return Ok(0.0);
    }
    let (k, m) = (k as f64, m as f64);
    Ok((ln_binomial(m as u64, k as u64) + ln_beta(k + a, m - k + b) - ln_beta(a, b)).exp())
}

/// `P(X ≤ k)` for `X ~ BetaBinomial(m, a, b)`, by summing the pmf (`O(min(k, m))`).
pub fn beta_binomial_cdf(k: u64, m: u64, a: f64, b: f64) -> Result<f64, LinalgError> {
    let mut acc = 0.0;
    for j in 0..=k.min(m) {
        acc += beta_binomial_pmf(j, m, a, b)?;
    }
    Ok(acc.min(1.0))
}

/// The asymptotic p-value of a one-sample Kolmogorov–Smirnov statistic `d` from `n` samples,
/// `Q_KS((√n + 0.12 + 0.11/√n) d)` with `Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2 j² λ²}` (Stephens'
/// small-sample correction). For a discrete reference distribution the test is conservative
/// (the p-value is too large). Errors on `n = 0` or `d ∉ [0, 1]`.
pub fn kolmogorov_pvalue(d: f64, n: usize) -> Result<f64, LinalgError> {
    if n == 0 {
        return Err(LinalgError::Empty { what: "KS sample" });
    }
    if !(0.0..=1.0).contains(&d) {
        return Err(LinalgError::Parameter {
            name: "d",
            value: d,
            reason: "a KS statistic lies in [0, 1]",
        });
    }
    let sn = (n as f64).sqrt();
    let lambda = (sn + 0.12 + 0.11 / sn) * d;
    if lambda < 1e-3 {
        return Ok(1.0);
    }
    let mut q = 0.0;
    for j in 1..=200 {
        let term = (-2.0 * (j * j) as f64 * lambda * lambda).exp();
        q += if j % 2 == 1 { 2.0 * term } else { -2.0 * term };
        if term < 1e-16 {
            break;
        }
    }
    Ok(q.clamp(0.0, 1.0))
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
    crate::error::check_binomial(successes, trials)?;
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Ok(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The Clopper–Pearson ("exact") two-sided interval at confidence `level` for a binomial
/// proportion with `successes` out of `trials`: the `(1 − level)/2` quantile of
/// Beta(k, n − k + 1) and the `(1 + level)/2` quantile of Beta(k + 1, n − k), with the bounds 0
/// at k = 0 and 1 at k = n. Its coverage is at least `level` for every true proportion, so
/// 1000 successes out of 1000 give `[0.9963, 1]`, not a point. Errors when `trials == 0`,
/// `successes > trials` or `level ∉ (0, 1)`.
pub fn clopper_pearson_interval(
    successes: u64,
    trials: u64,
    level: f64,
) -> Result<(f64, f64), LinalgError> {
    crate::error::check_binomial(successes, trials)?;
    crate::error::check_level(level)?;
    let (k, n) = (successes as f64, trials as f64);
    let tail = (1.0 - level) / 2.0;
    let lo = if successes == 0 {
        0.0
    } else {
        beta_quantile(tail, k, n - k + 1.0)?
    };
    let hi = if successes == trials {
        1.0
    } else {
        beta_quantile(1.0 - tail, k + 1.0, n - k)?
    };
    Ok((lo, hi))
}

/// The `p`-quantile of Student's t distribution with `dof` degrees of freedom, via `statrs`.
/// Above 10⁵ degrees of freedom it returns the normal quantile (statrs' inversion loses
/// accuracy there — 1.83 instead of 1.96 at 10⁷ — while t and normal agree to 2e-5).
/// Errors unless `p ∈ (0, 1)` and `dof > 0` is finite.
pub fn student_t_quantile(p: f64, dof: f64) -> Result<f64, LinalgError> {
    if !(p > 0.0 && p < 1.0) {
        return Err(LinalgError::Parameter {
            name: "p",
            value: p,
            reason: "quantile level must lie in (0, 1)",
        });
    }
    if !(dof > 0.0 && dof.is_finite()) {
        return Err(LinalgError::Parameter {
            name: "degrees of freedom",
            value: dof,
            reason: "must be finite and positive",
        });
    }
    if dof > 1e5 {
        return Ok(Normal::standard().inverse_cdf(p));
    }
    let t = StudentsT::new(0.0, 1.0, dof).map_err(|_| LinalgError::Parameter {
        name: "degrees of freedom",
        value: dof,
        reason: "must be finite and positive",
    })?;
    Ok(t.inverse_cdf(p))
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
    fn beta_quantile_inverts_the_cdf_and_closed_forms() {
        for &p in &[0.0, 0.05, 0.5, 0.95, 1.0] {
            assert!((beta_quantile(p, 1.0, 1.0).unwrap() - p).abs() < 1e-12);
            // Beta(3, 1): F(x) = x³, so the quantile is p^(1/3).
            assert!((beta_quantile(p, 3.0, 1.0).unwrap() - p.powf(1.0 / 3.0)).abs() < 1e-10);
            let q = beta_quantile(p, 19.0, 2.0).unwrap();
            assert!((beta_cdf(q, 19.0, 2.0).unwrap() - p).abs() < 1e-10);
        }
        assert!(beta_quantile(1.5, 2.0, 2.0).is_err());
        // Beta(2, 2) density 6x(1 − x).
        assert!((beta_pdf(0.3, 2.0, 2.0).unwrap() - 6.0 * 0.3 * 0.7).abs() < 1e-12);
        assert!(beta_quantile(0.5, -1.0, 2.0).is_err());
    }

    #[test]
    fn beta_binomial_against_closed_forms_and_binomial_mixture() {
        // Beta(1, 1) mixing gives the uniform law on 0..=m.
        for k in 0..=12 {
            assert!((beta_binomial_pmf(k, 12, 1.0, 1.0).unwrap() - 1.0 / 13.0).abs() < 1e-12);
        }
        assert_eq!(beta_binomial_pmf(13, 12, 1.0, 1.0).unwrap(), 0.0);
        // Mean m·a/(a + b), total mass 1.
        let (m, a, b) = (40u64, 18.0, 3.0);
        let (mut mass, mut mean) = (0.0, 0.0);
        for k in 0..=m {
            let p = beta_binomial_pmf(k, m, a, b).unwrap();
            mass += p;
            mean += k as f64 * p;
        }
        assert!((mass - 1.0).abs() < 1e-12);
        assert!((mean - m as f64 * a / (a + b)).abs() < 1e-10);
        assert!((beta_binomial_cdf(m, m, a, b).unwrap() - 1.0).abs() < 1e-12);
        // Integer shapes: the mixture integral by a fine midpoint rule over π.
        let (m, a, b, k) = (9u64, 4.0, 2.0, 6u64);
        let grid = 200_000;
        let dens = |x: f64| x.powf(a - 1.0) * (1.0 - x).powf(b - 1.0) * 20.0; // 1/B(4, 2) = 20
        let mut mix = 0.0;
        for i in 0..grid {
            let x = (i as f64 + 0.5) / grid as f64;
            let c = 84.0; // C(9, 6)
            mix += dens(x) * c * x.powi(k as i32) * (1.0 - x).powi((m - k) as i32) / grid as f64;
        }
        assert!((beta_binomial_pmf(k, m, a, b).unwrap() - mix).abs() < 1e-8);
    }

    #[test]
    fn kolmogorov_known_values() {
        // λ = 1.358 is the classic 5% critical value, 1.628 the 1% one.
        let n = 1_000_000;
        let at = |lambda: f64| kolmogorov_pvalue(lambda / (n as f64).sqrt(), n).unwrap();
        assert!((at(1.358) - 0.05).abs() < 5e-4, "{}", at(1.358));
        assert!((at(1.628) - 0.01).abs() < 2e-4, "{}", at(1.628));
        assert_eq!(kolmogorov_pvalue(0.0, 10).unwrap(), 1.0);
        assert!(kolmogorov_pvalue(0.5, 0).is_err());
        assert!(kolmogorov_pvalue(1.5, 3).is_err());
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
    #[test]
    fn clopper_pearson_known_values_and_coverage() {
        // 1000 of 1000 at 95%: lower bound (0.025)^(1/1000) = 0.996318.
        let (lo, hi) = clopper_pearson_interval(1000, 1000, 0.95).unwrap();
        assert!((lo - 0.025f64.powf(1e-3)).abs() < 1e-9, "{lo}");
        assert_eq!(hi, 1.0);
        // 0 of 10: upper bound 1 − 0.025^(1/10).
        let (lo, hi) = clopper_pearson_interval(0, 10, 0.95).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - (1.0 - 0.025f64.powf(0.1))).abs() < 1e-9, "{hi}");
        // Independent route: the bounds solve P(Bin(n, lo) ≥ k) = 0.025 and P(Bin(n, hi) ≤ k) = 0.025.
        let (k, n) = (7u64, 20u64);
        let (lo, hi) = clopper_pearson_interval(k, n, 0.95).unwrap();
        assert!((1.0 - binomial_cdf(k - 1, n, lo).unwrap() - 0.025).abs() < 1e-9);
        assert!((binomial_cdf(k, n, hi).unwrap() - 0.025).abs() < 1e-9);
        assert!(clopper_pearson_interval(1, 0, 0.95).is_err());
        assert!(clopper_pearson_interval(3, 2, 0.95).is_err());
        assert!(clopper_pearson_interval(1, 2, 1.0).is_err());
        assert!(clopper_pearson_interval(1, 2, f64::NAN).is_err());
    }

    #[test]
    fn student_t_quantiles() {
        // Table values: t_{0.975, 1} = 12.7062, t_{0.975, 10} = 2.2281; large dof → 1.95996.
        assert!((student_t_quantile(0.975, 1.0).unwrap() - 12.7062).abs() < 1e-3);
        assert!((student_t_quantile(0.975, 10.0).unwrap() - 2.2281).abs() < 1e-4);
        assert!((student_t_quantile(0.975, 1000.0).unwrap() - 1.962339).abs() < 1e-5);
        assert!((student_t_quantile(0.975, 1e7).unwrap() - 1.959964).abs() < 1e-5);
        assert!(student_t_quantile(0.975, f64::INFINITY).is_err());
        assert!(student_t_quantile(0.0, 3.0).is_err());
        assert!(student_t_quantile(0.5, 0.0).is_err());
    }
}
