//! The exact finite-sample law of split-conformal coverage — the paper's point as a tool.
//!
//! With `n` exchangeable calibration scores without ties and `l = n + 1 − ⌈(n + 1)(1 − α)⌉`
//! (`= ⌊(n + 1)α⌋`), the coverage of the calibrated predictor on a fresh point, *given* the
//! calibration set, is distributed as **Beta(n + 1 − l, l)** over calibration draws (Vovk 2012).
//! Its mean is at least `1 − α`, but one deployed calibration set can cover much less. On `m`
//! test points the empirical coverage is `BetaBinomial(m, n + 1 − l, l)/m`.

use crate::error::check_alpha;
use crate::{ConformalError, Result};
use core_linalg::{
    beta_binomial_cdf, beta_binomial_pmf, beta_cdf, beta_pdf, beta_quantile, conformal_rank,
};

/// The law of calibration-conditional coverage for `n` calibration points at level `α`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoverageLaw {
    n: usize,
    alpha: f64,
    l: usize,
}

impl CoverageLaw {
    /// The law for `n` calibration points at miscoverage `α ∈ (0, 1)`.
    pub fn new(n: usize, alpha: f64) -> Result<Self> {
        check_alpha(alpha)?;
        let k = conformal_rank(n, alpha);
        Ok(Self {
            n,
            alpha,
            l: (n + 1).saturating_sub(k),
        })
    }

    /// `n`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `α`.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// `l = ⌊(n + 1)α⌋`; 0 means the threshold is infinite (every set is the full label set).
    pub fn l(&self) -> usize {
        self.l
    }

    /// Whether `n` is below the minimum for non-trivial sets (coverage is then 1 surely).
    pub fn is_trivial(&self) -> bool {
        self.l == 0
    }

    /// The Beta shapes `(n + 1 − l, l)`, or `None` when trivial.
    pub fn shapes(&self) -> Option<(f64, f64)> {
        (!self.is_trivial()).then(|| ((self.n + 1 - self.l) as f64, self.l as f64))
    }

    /// Mean coverage `(n + 1 − l)/(n + 1)` (1 when trivial).
    pub fn mean(&self) -> f64 {
        (self.n + 1 - self.l) as f64 / (self.n + 1) as f64
    }

    /// Standard deviation `√((n + 1 − l) l / ((n + 1)² (n + 2)))`.
    pub fn sd(&self) -> f64 {
        let (a, b) = ((self.n + 1 - self.l) as f64, self.l as f64);
        (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt()
    }

    /// `P(coverage < t)` over calibration draws.
    pub fn prob_below(&self, t: f64) -> Result<f64> {
        Ok(match self.shapes() {
            None => f64::from(u8::from(t > 1.0)),
            Some((a, b)) => beta_cdf(t.clamp(0.0, 1.0), a, b)?,
        })
    }

    /// The `p`-quantile of coverage.
    pub fn quantile(&self, p: f64) -> Result<f64> {
        match self.shapes() {
            None => Ok(1.0),
            Some((a, b)) => Ok(beta_quantile(p, a, b)?),
        }
    }

    /// The density at `x ∈ (0, 1)` (0 when trivial).
    pub fn density(&self, x: f64) -> f64 {
        match self.shapes() {
            Some((a, b)) if x > 0.0 && x < 1.0 => beta_pdf(x, a, b).unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// The law of empirical coverage on `m ≥ 1` test points.
    pub fn on_test_points(&self, m: usize) -> Result<EmpiricalCoverageLaw> {
        if m == 0 {
            return Err(ConformalError::Empty { what: "test set" });
        }
        Ok(EmpiricalCoverageLaw { law: *self, m })
    }
}

/// The law of empirical coverage `K/m` on `m` test points: `K ~ BetaBinomial(m, n + 1 − l, l)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmpiricalCoverageLaw {
    law: CoverageLaw,
    m: usize,
}

impl EmpiricalCoverageLaw {
    /// The number of test points.
    pub fn m(&self) -> usize {
        self.m
    }

    /// `P(K = k)`.
    pub fn pmf(&self, k: usize) -> Result<f64> {
        Ok(match self.law.shapes() {
            None => f64::from(u8::from(k == self.m)),
            Some((a, b)) => beta_binomial_pmf(k as u64, self.m as u64, a, b)?,
        })
    }

    /// `P(K ≤ k)`.
    pub fn cdf(&self, k: usize) -> Result<f64> {
        Ok(match self.law.shapes() {
            None => f64::from(u8::from(k >= self.m)),
            Some((a, b)) => beta_binomial_cdf(k as u64, self.m as u64, a, b)?,
        })
    }

    /// Mean coverage (equal to the calibration-conditional mean).
    pub fn mean(&self) -> f64 {
        self.law.mean()
    }

    /// Standard deviation of `K/m`: `√(Var(C)(1 − 1/m) + E[C](1 − E[C])/m)`.
    pub fn sd(&self) -> f64 {
        let (v, mu, m) = (self.law.sd().powi(2), self.law.mean(), self.m as f64);
        (v * (1.0 - 1.0 / m) + mu * (1.0 - mu) / m).sqrt()
    }

    /// `P(K/m < t)`.
    pub fn prob_below(&self, t: f64) -> Result<f64> {
        // K/m < t  ⟺  K ≤ ⌈t·m⌉ − 1.
        let kmax = (t * self.m as f64 - 1e-12).ceil() - 1.0;
        if kmax < 0.0 {
            return Ok(0.0);
        }
        self.cdf((kmax as usize).min(self.m))
    }

    /// The smallest `k/m` with `P(K ≤ k) ≥ p`.
    pub fn quantile(&self, p: f64) -> Result<f64> {
        if !(0.0..=1.0).contains(&p) {
            return Err(ConformalError::Parameter {
                name: "p",
                value: p,
                reason: "quantile level must lie in [0, 1]",
            });
        }
        let mut acc = 0.0;
        for k in 0..=self.m {
            acc += self.pmf(k)?;
            if acc >= p - 1e-12 {
                return Ok(k as f64 / self.m as f64);
            }
        }
        Ok(1.0)
    }
}

/// The smallest `n` for which split conformal prediction at level `α` can return a set smaller
/// than the full label set: `⌈1/α⌉ − 1` (9 for α = 0.1, 19 for 0.05, 99 for 0.01).
pub fn min_calibration_size(alpha: f64) -> Result<usize> {
    check_alpha(alpha)?;
    Ok((0..)
        .find(|&n| conformal_rank(n, alpha) <= n)
        .expect("a finite n always exists for α > 0"))
}

/// The answer of [`plan_calibration_size`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationPlan {
    /// The smallest calibration size meeting the target.
    pub n: usize,
    /// `P(coverage ≥ 1 − α − ε)` at that size.
    pub probability: f64,
    /// The mean coverage at that size.
    pub mean: f64,
}

/// The largest calibration size [`plan_calibration_size`] searches.
pub const PLAN_LIMIT: usize = 10_000_000;

/// The smallest calibration size `n` such that a single calibration set gives coverage
/// `≥ 1 − α − ε` with probability `≥ 1 − δ` (under the exact Beta law, standard rank rule).
/// Sizes below [`min_calibration_size`] are not considered: they meet any target trivially,
/// with the full label set.
///
/// The probability is not monotone in `n` (it jumps with `⌊(n + 1)α⌋`); this returns the first
/// size that meets the target. Errors on `α ∉ (0, 1)`, `ε ∉ (0, 1 − α)`, `δ ∉ (0, 1)`, or no size
/// up to [`PLAN_LIMIT`].
pub fn plan_calibration_size(alpha: f64, epsilon: f64, delta: f64) -> Result<CalibrationPlan> {
    check_alpha(alpha)?;
    if !(epsilon > 0.0 && epsilon < 1.0 - alpha) {
        return Err(ConformalError::Parameter {
            name: "epsilon",
            value: epsilon,
            reason: "the slack must lie in (0, 1 − α); with ε = 0 the probability tends to 1/2",
        });
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(ConformalError::Parameter {
            name: "delta",
            value: delta,
            reason: "the failure probability must lie in (0, 1)",
        });
    }
    let t = 1.0 - alpha - epsilon;
    let start = min_calibration_size(alpha)?;
    // Gallop to a size that works, then scan for the first one (the first can precede
    // the gallop's point because of the sawtooth).
    let ok = |n: usize| -> Result<Option<f64>> {
        let law = CoverageLaw::new(n, alpha)?;
        let p = 1.0 - law.prob_below(t)?;
        Ok((p >= 1.0 - delta).then_some(p))
    };
    let mut hi = start.max(1);
    while ok(hi)?.is_none() {
        if hi >= PLAN_LIMIT {
            return Err(ConformalError::ImpossibleTarget {
                level: t,
                confidence: 1.0 - delta,
                limit: PLAN_LIMIT,
            });
        }
        hi = (hi * 2).min(PLAN_LIMIT);
    }
    for n in start..=hi {
        if let Some(probability) = ok(n)? {
            return Ok(CalibrationPlan {
                n,
                probability,
                mean: CoverageLaw::new(n, alpha)?.mean(),
            });
        }
    }
    unreachable!("hi itself meets the target")
}

/// The PAC (training-conditional) choice for `n` calibration points: the largest `l ≥ 1` with
/// `P(coverage < 1 − α) = I_{1−α}(n + 1 − l, l) ≤ δ`, so that thresholding at the
/// `(n + 1 − l)`-th smallest score covers `≥ 1 − α` with probability `≥ 1 − δ` over calibration
/// draws. `None` when even `l = 1` (the largest score) does not suffice: `n` is too small.
pub fn pac_rank(n: usize, alpha: f64, delta: f64) -> Result<Option<usize>> {
    check_alpha(alpha)?;
    if !(delta > 0.0 && delta < 1.0) {
        return Err(ConformalError::Parameter {
            name: "delta",
            value: delta,
            reason: "the failure probability must lie in (0, 1)",
        });
    }
    let fails = |l: usize| -> Result<bool> {
        Ok(beta_cdf(1.0 - alpha, (n + 1 - l) as f64, l as f64)? > delta)
    };
    if n == 0 || fails(1)? {
        return Ok(None);
    }
    // The failure probability grows with l: binary search the last l that passes.
    let (mut lo, mut hi) = (1usize, n);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fails(mid)? {
            hi = mid - 1;
        } else {
            lo = mid;
        }
    }
    Ok(Some(lo))
}
