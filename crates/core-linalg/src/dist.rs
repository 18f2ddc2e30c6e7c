use crate::LinalgError;
use statrs::distribution::{Beta, Continuous, ContinuousCDF, Normal, StudentsT};
use statrs::function::beta::ln_beta;
use statrs::function::gamma::ln_gamma;

fn beta_shapes(a: f64, b: f64) -> Result<Beta, LinalgError> {
    Beta::new(a, b).map_err(|_| LinalgError::Parameter {
        name: "beta shape",
        value: if a > 0.0 && a.is_finite() { b } else { a },
        reason: "Beta shapes must be finite and positive",
    })
}

/// The most continued-fraction terms [`beta_cdf`] spends before failing with
/// [`LinalgError::NotConverged`]. The fraction needs `O(√(min(a, b)))` terms near the mean, so
/// this covers shapes far beyond 10¹⁰.
pub const BETA_CDF_MAX_TERMS: usize = 1_000_000;

/// `ln Γ(z) − ((z − ½) ln z − z + ½ ln 2π)`, the Stirling remainder, for `z ≥ 10` (series to
/// `z⁻⁹`, error below 1e-16 there).
fn stirling_remainder(z: f64) -> f64 {
    let z2 = z * z;
    (1.0 / 12.0
        - (1.0 / 360.0 - (1.0 / 1260.0 - (1.0 / 1680.0 - 1.0 / (1188.0 * z2)) / z2) / z2) / z2)
        / z
}

/// `ln B(a, b)` without the cancellation of `ln Γ(b) − ln Γ(a + b)` for one huge shape
/// (statrs' `ln_beta` at `B(1, 1.8e19)` is off by thousands: each `ln Γ` is about 8e20):
/// with `s = min(a, b)` and `L = max(a, b) ≥ 10`, Stirling's formula gives
/// `ln Γ(L) − ln Γ(L + s) = −s ln(L + s) − (L − ½) ln1p(s/L) + s + r(L) − r(L + s)`.
fn ln_beta_stable(a: f64, b: f64) -> f64 {
    let (s, l) = if a <= b { (a, b) } else { (b, a) };
    if l < 10.0 {
        return ln_beta(a, b);
    }
    ln_gamma(s) - s * (l + s).ln() - (l - 0.5) * (s / l).ln_1p() + s + stirling_remainder(l)
        - stirling_remainder(l + s)
}

/// `ln[xᵃ yᵇ / B(a, b)]` with `y = 1 − x` given separately (so a `y` below 1e-16 is not lost
/// to rounding), accurate for large shapes near the mean: with both shapes at least 10,
/// Stirling's formula turns it into `a·ln1p(d/a) + b·ln1p(−d/b) + ½ ln(ab/(2π(a+b)))` plus
/// remainders, `d = x·b − y·a` (the terms that cancel in `ln Γ` never appear); otherwise `ln Γ`
/// directly, each logarithm taken of the smaller of `x` and `y` (the other through `ln1p`).
fn ln_power_terms(x: f64, y: f64, a: f64, b: f64) -> f64 {
    if a >= 10.0 && b >= 10.0 {
        let d = x * b - y * a;
        let c = a + b;
        a * (d / a).ln_1p()
            + b * (-d / b).ln_1p()
            + 0.5 * (a * b / (c * 2.0 * std::f64::consts::PI)).ln()
            + stirling_remainder(c)
            - stirling_remainder(a)
            - stirling_remainder(b)
    } else {
        let (ln_x, ln_y) = if x <= y {
            (x.ln(), (-x).ln_1p())
        } else {
            ((-y).ln_1p(), y.ln())
        };
        a * ln_x + b * ln_y - ln_beta_stable(a, b)
    }
}

/// The continued fraction of `I_x(a, b)` (modified Lentz), for `x < (a + 1)/(a + b + 2)`.
fn beta_fraction(x: f64, a: f64, b: f64) -> Result<f64, LinalgError> {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    // One Lentz step with partial numerator `aa`: updates (c, d) and returns the factor d·c.
    let step = |aa: f64, c: &mut f64, d: &mut f64| -> f64 {
        *d = 1.0 + aa * *d;
        if d.abs() < TINY {
            *d = TINY;
        }
        *c = 1.0 + aa / *c;
        if c.abs() < TINY {
            *c = TINY;
        }
        *d = 1.0 / *d;
        *d * *c
    };
    for m in 1..=BETA_CDF_MAX_TERMS {
        let m = m as f64;
        let m2 = 2.0 * m;
        h *= step(m * (b - m) * x / ((qam + m2) * (a + m2)), &mut c, &mut d);
        let del = step(
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
            &mut c,
            &mut d,
        );
        h *= del;
        if (del - 1.0).abs() <= 4.0 * f64::EPSILON {
            return Ok(h);
        }
    }
    Err(LinalgError::NotConverged {
        what: "the incomplete beta continued fraction",
        iterations: BETA_CDF_MAX_TERMS,
    })
}

fn check_shapes(a: f64, b: f64) -> Result<(), LinalgError> {
    beta_shapes(a, b).map(|_| ())
}

/// CDF of the Beta(a, b) distribution at `x` (the regularised incomplete beta `I_x(a, b)`):
/// the continued fraction run to convergence (relative step below 4 ulp, at most
/// [`BETA_CDF_MAX_TERMS`] terms, else [`LinalgError::NotConverged`] — never an unconverged
/// value), with the power terms computed by Stirling's formula for large shapes. `x` below 0
/// gives 0 and above 1 gives 1. Errors on a NaN `x` and unless `a, b > 0` are finite.
/// (statrs' `beta_reg` stops after 140 terms and returns what it has: at `n = 10⁷` calibration
/// points its coverage probabilities are off by about 1e-2 near the mean.)
pub fn beta_cdf(x: f64, a: f64, b: f64) -> Result<f64, LinalgError> {
    check_shapes(a, b)?;
    if x.is_nan() {
        return Err(LinalgError::NonFinite {
            what: "Beta CDF argument",
            index: 0,
            value: x,
        });
    }
    if x <= 0.0 {
        return Ok(0.0);
    }
    if x >= 1.0 {
        return Ok(1.0);
    }
    beta_cdf_pair(x, 1.0 - x, a, b)
}

/// `I_x(a, b)` with `y = 1 − x` passed exactly (both in `(0, 1)`): [`binomial_cdf`] needs
/// `x = 1 − p` for `p` far below 1e-16, which `1.0 - p` would round to 1.
fn beta_cdf_pair(x: f64, y: f64, a: f64, b: f64) -> Result<f64, LinalgError> {
    let (swap, x, y, a, b) = if x < (a + 1.0) / (a + b + 2.0) {
        (false, x, y, a, b)
    } else {
        (true, y, x, b, a)
    };
    let front = ln_power_terms(x, y, a, b).exp() / a;
    let v = (front * beta_fraction(x, a, b)?).clamp(0.0, 1.0);
    Ok(if swap { 1.0 - v } else { v })
}

/// The density of Beta(a, b) at `x`, via `statrs`. Errors unless `a, b > 0` are finite.
pub fn beta_pdf(x: f64, a: f64, b: f64) -> Result<f64, LinalgError> {
    Ok(beta_shapes(a, b)?.pdf(x))
}

/// The `p`-quantile of Beta(a, b) (the inverse regularised incomplete beta) by bisection on
/// [`beta_cdf`] to adjacent floating-point values: it always terminates (at most about 1100
/// halvings) and inherits the CDF's accuracy. Errors unless `p ∈ [0, 1]` and `a, b > 0` are
/// finite.
pub fn beta_quantile(p: f64, a: f64, b: f64) -> Result<f64, LinalgError> {
    check_shapes(a, b)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(LinalgError::Parameter {
            name: "p",
            value: p,
            reason: "quantile level must lie in [0, 1]",
        });
    }
    if p == 0.0 {
        return Ok(0.0);
    }
    if p == 1.0 {
        return Ok(1.0);
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            return Ok(hi);
        }
        if beta_cdf(mid, a, b)? < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
}

/// The largest number of trials `m` the beta-binomial functions accept: `10^7`. They sum `m`
/// log-ratios (`ln Γ` differences at the shapes this crate meets cancel to nonsense), so a
/// call costs `O(m)` — about 0.1 s at the limit; beyond it the law of `X/m` is within
/// `O(1/√m)` of `Beta(a, b)` itself.
pub const BETA_BINOMIAL_MAX_TRIALS: u64 = 10_000_000;

fn check_trials(m: u64) -> Result<(), LinalgError> {
    if m > BETA_BINOMIAL_MAX_TRIALS {
        return Err(LinalgError::Parameter {
            name: "m",
            value: m as f64,
            reason:
                "more trials than BETA_BINOMIAL_MAX_TRIALS (10^7): the O(m) sum would take too long",
        });
    }
    Ok(())
}

/// `ln P(X = 0) = Σ_{j<m} ln((b + j)/(a + b + j))` for `X ~ BetaBinomial(m, a, b)`, each ratio
/// as `ln1p(−a/(a + b + j))` (no `ln Γ` of huge shapes, whose difference cancels).
fn beta_binomial_ln_p0(m: u64, a: f64, b: f64) -> f64 {
    (0..m).map(|j| (-a / (a + b + j as f64)).ln_1p()).sum()
}

/// `ln P(X = k + 1) − ln P(X = k)`.
fn beta_binomial_ln_step(k: u64, m: u64, a: f64, b: f64) -> f64 {
    (((m - k) as f64) / ((k + 1) as f64)).ln() + ((k as f64 + a) / ((m - k - 1) as f64 + b)).ln()
}

/// `P(X = k)` for `X ~ BetaBinomial(m, a, b)` (a Binomial(m, π) count with `π ~ Beta(a, b)`):
/// `C(m, k) B(k + a, m − k + b) / B(a, b)`, as `P(X = 0)` times the pmf's ratios, in the log
/// domain (`O(m)`; exact for any finite shapes — `ln Γ` differences at shapes like 1e300 cancel
/// to nonsense). Zero for `k > m`. Errors unless `a, b > 0` are finite and
/// `m ≤` [`BETA_BINOMIAL_MAX_TRIALS`].
pub fn beta_binomial_pmf(k: u64, m: u64, a: f64, b: f64) -> Result<f64, LinalgError> {
    check_shapes(a, b)?;
    check_trials(m)?;
    if k > m {
        return Ok(0.0);
    }
    let ln = (0..k).fold(beta_binomial_ln_p0(m, a, b), |acc, j| {
        acc + beta_binomial_ln_step(j, m, a, b)
    });
    Ok(ln.exp().min(1.0))
}

/// `P(X ≤ k)` for `X ~ BetaBinomial(m, a, b)`, summing the pmf by its ratio recurrence
/// (`O(m)` in all). Errors as [`beta_binomial_pmf`].
pub fn beta_binomial_cdf(k: u64, m: u64, a: f64, b: f64) -> Result<f64, LinalgError> {
    check_shapes(a, b)?;
    check_trials(m)?;
    let mut ln = beta_binomial_ln_p0(m, a, b);
    let mut acc = ln.exp();
    for j in 0..k.min(m) {
        ln += beta_binomial_ln_step(j, m, a, b);
        acc += ln.exp();
    }
    Ok(acc.min(1.0))
}

/// The smallest `k` with `P(X ≤ k) ≥ p − 1e-12` for `X ~ BetaBinomial(m, a, b)` (the slack
/// absorbs the rounding of the running sum, so `p = 1` is reached). One pass of the same sum
/// as [`beta_binomial_cdf`], so `beta_binomial_cdf(k, …)` agrees with it to the bit; `O(m)`.
/// Errors as [`beta_binomial_pmf`], and unless `p ∈ [0, 1]`.
pub fn beta_binomial_quantile(p: f64, m: u64, a: f64, b: f64) -> Result<u64, LinalgError> {
    check_shapes(a, b)?;
    check_trials(m)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(LinalgError::Parameter {
            name: "p",
            value: p,
            reason: "quantile level must lie in [0, 1]",
        });
    }
    let mut ln = beta_binomial_ln_p0(m, a, b);
    let mut acc = ln.exp();
    for j in 0..m {
        if acc.min(1.0) >= p - 1e-12 {
            return Ok(j);
        }
        ln += beta_binomial_ln_step(j, m, a, b);
        acc += ln.exp();
    }
    Ok(m)
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

/// `P(X ≤ k)` for `X ~ Binomial(n, p)`, through the incomplete beta:
/// `P(X ≤ k) = I_{1−p}(n − k, k + 1)` ([`beta_cdf`], which converges at any `n`). Errors unless
/// `p ∈ [0, 1]`.
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> Result<f64, LinalgError> {
    check_probability(p)?;
    if k >= n {
        return Ok(1.0);
    }
    if p == 0.0 {
        return Ok(1.0);
    }
    if p == 1.0 {
        return Ok(0.0);
    }
    // P(X ≤ k) = I_{1−p}(n − k, k + 1), with 1 − p and p both exact (for p ≈ 4e-26 and
    // n ≈ 2e19, `1.0 - p` is 1 and the answer came out as 1 instead of 0.99999924).
    beta_cdf_pair(1.0 - p, p, (n - k) as f64, k as f64 + 1.0)
}

fn check_probability(p: f64) -> Result<(), LinalgError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(LinalgError::Parameter {
            name: "p",
            value: p,
            reason: "binomial success probability must lie in [0, 1]",
        })
    }
}

/// `P(X ≤ k)` for `X ~ Binomial(n, p)` by summing the probability mass directly, a route
/// independent of [`binomial_cdf`] and [`beta_cdf`] (no incomplete beta, no `ln Γ`): the terms
/// are built by the ratio `P(j + 1)/P(j) = (n − j)p/((j + 1)(1 − p))` outwards from the mode,
/// relative to the mode's term, until they fall below 1e-40 of it, and the sum is normalised by
/// the total. `O(√(n p (1 − p)))` terms; accurate to about 1e-13 relative for any `n` (the
/// ratios are exact to rounding and only terms within ~14 standard deviations count). Meant for
/// checks. Errors unless `p ∈ [0, 1]`, and when `n p (1 − p) > 1e12` (over 10⁷ terms: use
/// [`binomial_cdf`]).
pub fn binomial_cdf_by_summation(k: u64, n: u64, p: f64) -> Result<f64, LinalgError> {
    check_probability(p)?;
    if k >= n || p == 0.0 {
        return Ok(1.0);
    }
    if p == 1.0 {
        return Ok(0.0);
    }
    if n as f64 * p * (1.0 - p) > 1e12 {
        return Err(LinalgError::Parameter {
            name: "n",
            value: n as f64,
            reason: "n p (1 − p) above 1e12 needs over 10^7 terms; use binomial_cdf",
        });
    }
    let mode = ((n as f64 + 1.0) * p).floor().min(n as f64) as u64;
    let ratio_up = |j: u64| (n - j) as f64 * p / ((j + 1) as f64 * (1.0 - p));
    const CUT: f64 = 1e-40;
    let (mut below, mut total) = (if mode <= k { 1.0 } else { 0.0 }, 1.0);
    let mut t = 1.0;
    let mut j = mode;
    while j < n {
        t *= ratio_up(j);
        j += 1;
        if t < CUT {
            break;
        }
        total += t;
        if j <= k {
            below += t;
        }
    }
    let (mut t, mut j) = (1.0, mode);
    while j > 0 {
        t /= ratio_up(j - 1);
        j -= 1;
        if t < CUT {
            break;
        }
        total += t;
        if j <= k {
            below += t;
        }
    }
    Ok((below / total).clamp(0.0, 1.0))
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
/// Errors unless `p ∈ (0, 1)` with both tails at least 1e-250 and `dof ≥ 0.01` is finite, or
/// when the quantile leaves the f64 range.
pub fn student_t_quantile(p: f64, dof: f64) -> Result<f64, LinalgError> {
    if !(p > 0.0 && p < 1.0) {
        return Err(LinalgError::Parameter {
            name: "p",
            value: p,
            reason: "quantile level must lie in (0, 1)",
        });
    }
    if !(dof >= 0.01 && dof.is_finite()) {
        return Err(LinalgError::Parameter {
            name: "degrees of freedom",
            value: dof,
            reason: "must be finite and at least 0.01 (below, quantiles leave the f64 range)",
        });
    }
    if p.min(1.0 - p) < 1e-250 {
        return Err(LinalgError::Parameter {
            name: "p",
            value: p,
            reason:
                "tail probabilities below 1e-250 are not supported (statrs' inversion fails there)",
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
    let q = t.inverse_cdf(p);
    if !q.is_finite() {
        return Err(LinalgError::NonFinite {
            what: "Student t quantile (beyond the f64 range)",
            index: 0,
            value: q,
        });
    }
    Ok(q)
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

    /// The incomplete beta against the independent direct binomial summation
    /// (`I_x(a, b) = P(Bin(a + b − 1, x) ≥ a)` for integer shapes), at calibration sizes up to
    /// 10⁷ and points from the far tails to the mean, where statrs' 140-term fraction is off
    /// by up to 1e-2.
    #[test]
    fn beta_cdf_agrees_with_direct_summation_up_to_ten_million() {
        for &n in &[10u64, 1_000, 100_000, 300_000, 10_000_000] {
            for &alpha in &[0.1, 0.5] {
                let l = ((n + 1) as f64 * alpha).floor() as u64;
                let (a, b) = ((n + 1 - l) as f64, l as f64);
                let mean = a / (a + b);
                let sd = (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt();
                for z in [-6.0, -2.0, -0.5, 0.0, 0.3, 1.0, 3.0] {
                    let x = (mean + z * sd).clamp(1e-6, 1.0 - 1e-6);
                    let ours = beta_cdf(x, a, b).unwrap();
                    // P(Bin(a + b − 1, x) ≥ a) = 1 − P(≤ a − 1).
                    let m = (a + b - 1.0) as u64;
                    let direct = 1.0 - binomial_cdf_by_summation(a as u64 - 1, m, x).unwrap();
                    let err = (ours - direct).abs();
                    assert!(
                        err <= 1e-9 * direct.max(1e-300) || err <= 1e-12,
                        "n {n} α {alpha} z {z}: {ours:e} vs {direct:e}"
                    );
                }
            }
        }
    }

    /// The robustness review's silent wrong answers, against values known exactly.
    #[test]
    fn huge_shapes_and_overflowing_samples() {
        // Beta-binomial with b = 1e300: π is ~0, so X = 0 surely.
        assert!((beta_binomial_pmf(0, 10, 2.0, 1e300).unwrap() - 1.0).abs() < 1e-15);
        assert!(beta_binomial_pmf(5, 10, 2.0, 1e300).unwrap() < 1e-290);
        assert!((beta_binomial_cdf(10, 10, 2.0, 1e300).unwrap() - 1.0).abs() < 1e-15);
        // Beta(1, 1) mixing: uniform on 0..=m, also through the recurrence.
        assert!((beta_binomial_cdf(6, 12, 1.0, 1.0).unwrap() - 7.0 / 13.0).abs() < 1e-14);
        assert_eq!(crate::mean_and_sd(&[1e308, 1e308]).unwrap(), (1e308, 0.0));
        let (m, sd) = crate::mean_and_sd(&[1e308, -1e308, 1e308, -1e308]).unwrap();
        assert!(m.abs() < 1e292 && (sd / (1e308 * (4.0f64 / 3.0).sqrt()) - 1.0).abs() < 1e-12);
        assert!(crate::mean_and_sd(&[f64::MAX, -f64::MAX]).is_err());
        let s = crate::softmax(&[f64::INFINITY, 0.0]);
        assert_eq!(s, vec![1.0, 0.0]);
        assert!(crate::softmax(&[f64::NEG_INFINITY; 2])
            .iter()
            .all(|v| v.is_nan()));
    }

    #[test]
    fn binomial_summation_by_hand_and_nan_and_hangs() {
        // Bin(4, 1/2): P(X ≤ 1) = 5/16.
        assert!((binomial_cdf_by_summation(1, 4, 0.5).unwrap() - 5.0 / 16.0).abs() < 1e-15);
        assert_eq!(binomial_cdf_by_summation(4, 4, 0.3).unwrap(), 1.0);
        assert!(binomial_cdf_by_summation(1, 4, f64::NAN).is_err());
        assert!(beta_cdf(f64::NAN, 2.0, 3.0).is_err());
        assert_eq!(beta_cdf(-1.0, 2.0, 3.0).unwrap(), 0.0);
        assert_eq!(beta_cdf(f64::INFINITY, 2.0, 3.0).unwrap(), 1.0);
        // These hung or panicked inside statrs: now they return, and invert the CDF.
        let q = beta_quantile(0.5, 1e7, 2.0).unwrap();
        assert!((beta_cdf(q, 1e7, 2.0).unwrap() - 0.5).abs() < 1e-9);
        let tiny = beta_quantile(1e-300, 0.75, 16.8).unwrap();
        assert!((0.0..1e-300).contains(&tiny));
        // Symmetric shapes have median 1/2 exactly (statrs: 0.4912 at 10⁶).
        assert!((beta_cdf(0.5, 1e6, 1e6).unwrap() - 0.5).abs() < 1e-12);
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

    /// Found by the robustness suite: tiny p with huge n (1 − p rounds to 1) and one huge
    /// Beta shape (ln Γ cancellation); references from 60-digit decimal sums of the pmf.
    #[test]
    fn binomial_cdf_for_tiny_p_and_huge_n() {
        let cases = [
            (
                0u64,
                18_446_744_073_709_551_614u64,
                4.100623996071958e-26,
                0.999_999_243_568_672_1,
            ),
            (
                1,
                18_446_744_073_709_551_614,
                4.4422903804552876e-24,
                0.999_999_996_642_627,
            ),
            (
                2,
                1_099_511_627_776,
                1.8157544163691587e-14,
                0.999_998_693_468_230_9,
            ),
        ];
        for (k, n, p, want) in cases {
            let got = binomial_cdf(k, n, p).unwrap();
            assert!((got - want).abs() < 1e-13, "{k} {n} {p}: {got} vs {want}");
        }
        // ln B(1, b) = −ln b exactly.
        let b = 1.8e19f64;
        assert!((ln_beta_stable(1.0, b) + b.ln()).abs() < 1e-12);
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
