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
    beta_binomial_cdf, beta_binomial_pmf, beta_binomial_quantile, beta_cdf, beta_pdf,
    beta_quantile, conformal_rank, student_t_quantile,
};

/// Refuses a NaN coverage level (statrs used to panic on it; a comparison would silently say 0).
fn check_level_not_nan(t: f64) -> Result<()> {
    if t.is_nan() {
        return Err(ConformalError::Parameter {
            name: "t",
            value: t,
            reason: "a coverage level must not be NaN",
        });
    }
    Ok(())
}

/// The law of calibration-conditional coverage for `n` calibration points at level `α`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoverageLaw {
    n: usize,
    alpha: f64,
    l: usize,
}

/// The largest calibration size [`CoverageLaw`] accepts: `2^40` (about 1.1e12). The law's
/// shapes are of order `n`, and the incomplete beta at shapes beyond this loses the accuracy
/// its quantiles need (the coverage sd is then below 1e-6 anyway).
pub const MAX_LAW_N: usize = 1 << 40;

impl CoverageLaw {
    /// The law for `n ≤` [`MAX_LAW_N`] calibration points at miscoverage `α ∈ (0, 1)`.
    pub fn new(n: usize, alpha: f64) -> Result<Self> {
        check_alpha(alpha)?;
        if n > MAX_LAW_N {
            return Err(ConformalError::Parameter {
                name: "n",
                value: n as f64,
                reason:
                    "more calibration points than MAX_LAW_N (2^40): the Beta shapes lose accuracy",
            });
        }
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
        check_level_not_nan(t)?;
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

    /// The law of empirical coverage on `1 ≤ m ≤` [`core_linalg::BETA_BINOMIAL_MAX_TRIALS`]
    /// (10^7) test points (its pmf is summed term by term; for more test points `K/m` is within
    /// `O(1/√m)` of the coverage law itself).
    pub fn on_test_points(&self, m: usize) -> Result<EmpiricalCoverageLaw> {
        if m == 0 {
            return Err(ConformalError::Empty { what: "test set" });
        }
        if m as u64 > core_linalg::BETA_BINOMIAL_MAX_TRIALS {
            return Err(ConformalError::Parameter {
                name: "m",
                value: m as f64,
                reason: "more test points than core_linalg::BETA_BINOMIAL_MAX_TRIALS (10^7)",
            });
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
        check_level_not_nan(t)?;
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
        // One pass of the CDF's own running sum (O(m)); agrees with `cdf` to the bit.
        let k = match self.law.shapes() {
            // Trivial: K = m surely.
            None => {
                if p <= 1e-12 {
                    0
                } else {
                    self.m
                }
            }
            Some((a, b)) => beta_binomial_quantile(p, self.m as u64, a, b)? as usize,
        };
        Ok(k as f64 / self.m as f64)
    }
}

/// The smallest `n` for which split conformal prediction at level `α` can return a set smaller
/// than the full label set: `⌈1/α⌉ − 1` (9 for α = 0.1, 19 for 0.05, 99 for 0.01), found in a
/// few steps from that guess under the rank rule itself ([`conformal_rank`], in f64: below
/// α ≈ 1e-10 its rounding of `(n + 1)(1 − α)` moves the answer away from `⌈1/α⌉ − 1`).
pub fn min_calibration_size(alpha: f64) -> Result<usize> {
    check_alpha(alpha)?;
    let trivial = |n: usize| conformal_rank(n, alpha) > n;
    // ⌈1/α⌉ − 1 up to the rank rule's rounding: start there and step down, then up, to the
    // first non-trivial size (a few steps at most; no scan from 0).
    let guess = (1.0 / alpha).ceil() - 1.0;
    if guess >= usize::MAX as f64 / 4.0 {
        return Err(ConformalError::Parameter {
            name: "alpha",
            value: alpha,
            reason: "α is so small that no representable calibration size gives non-trivial sets",
        });
    }
    let mut n = guess as usize;
    while n > 0 && !trivial(n - 1) {
        n -= 1;
    }
    while trivial(n) {
        n += 1;
    }
    Ok(n)
}

/// The answer of [`plan_calibration_size`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationPlan {
    /// The smallest calibration size `n₀` such that **every** `n ≥ n₀` meets the target (up to
    /// [`Self::verified_up_to`]): the size to act on — collecting more points never falls below
    /// the target again.
    pub n: usize,
    /// `P(coverage ≥ 1 − α − ε)` at `n`.
    pub probability: f64,
    /// The mean coverage at `n`.
    pub mean: f64,
    /// The first size that meets the target. Coverage probability is a saw-tooth in `n` (it
    /// drops each time `⌊(n + 1)α⌋` steps up), so sizes just above this one can fail again;
    /// informative, not safe to act on.
    pub first_n: usize,
    /// Every size from `n` to this one was verified to meet the target (each saw-tooth tooth's
    /// first size is checked; within a tooth the probability only grows, see
    /// [`plan_calibration_size`]).
    pub verified_up_to: usize,
}

/// The largest calibration size [`plan_calibration_size`] searches.
pub const PLAN_LIMIT: usize = 10_000_000;

/// `l(n) = n + 1 − ⌈(n + 1)(1 − α)⌉`, non-decreasing in `n`.
fn tooth(n: usize, alpha: f64) -> usize {
    (n + 1).saturating_sub(conformal_rank(n, alpha))
}

/// The first size with `l(n) ≥ l` in `lo..=hi` (binary search; `l` is non-decreasing).
fn tooth_start(l: usize, alpha: f64, mut lo: usize, mut hi: usize) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if tooth(mid, alpha) >= l {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Teeth of the saw-tooth walked one by one before [`plan_calibration_size`] switches to
/// bisection over teeth (see there): 50 000 (at most about 0.5 s of probability evaluations).
pub const PLAN_WALK_TEETH: usize = 50_000;

/// The calibration size to collect so that a single calibration set gives coverage
/// `≥ 1 − α − ε` with probability `≥ 1 − δ` (under the exact Beta law, standard rank rule):
/// the smallest `n₀` from which **every** larger size meets the target, with the first size
/// that meets it beside it ([`CalibrationPlan::first_n`]). Sizes below
/// [`min_calibration_size`] are not considered: they meet any target trivially, with the full
/// label set.
///
/// Why this is safe to act on: for fixed `l = ⌊(n + 1)α⌋` coverage is Beta(n + 1 − l, l), which
/// grows stochastically with `n`, so within one tooth of the saw-tooth the probability only
/// increases; it can drop only at a tooth's first size. The planner therefore checks the first
/// size of every tooth from its answer up to `max(2 n₀, n₀ + 10/α)`, or [`PLAN_WALK_TEETH`]
/// teeth if that comes first (reported as [`CalibrationPlan::verified_up_to`]), and moves past
/// any that fails.
///
/// Bounded work: teeth are walked one by one while there are at most [`PLAN_WALK_TEETH`] of
/// them to walk (every target whose answer is below about `50 000/α`, where the answers are exact
/// as described). Beyond that the planner bisects over teeth — for the first tooth whose last
/// size meets the target (`first_n`) and for the first tooth whose first size does (where the
/// walk to `n₀` starts) — which finds the boundary exactly where the probability at those sizes
/// is monotone in the tooth. It is not quite: the saw-tooth's offset (under `α/(n + 1)` in mean
/// coverage) makes it non-monotone over about `2α²/ε` teeth around the boundary, so the
/// planner looks back `4α²/ε` teeth from the bisection's answer for `first_n`, and walks
/// forward from its `n₀` as above (a later failing tooth moves `n₀` past it). A target that by the normal approximation needs more
/// than `2 ·` [`PLAN_LIMIT`] points (`n ≈ z²_{1−δ} α(1 − α)/ε²`) is refused at once.
///
/// Errors on `α ∉ (0, 1)`, `ε ∉ (0, 1 − α)`, `δ ∉ (0, 1)`, or no answer up to [`PLAN_LIMIT`].
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
    let impossible = || ConformalError::ImpossibleTarget {
        level: t,
        confidence: 1.0 - delta,
        limit: PLAN_LIMIT,
    };
    // Hopeless targets at once: the normal approximation's size (tiny ε, say ε = 1e-300).
    if delta < 0.5 {
        let z = student_t_quantile(1.0 - delta, 1e6).unwrap_or(40.0);
        let needed = z * z * alpha * (1.0 - alpha) / (epsilon * epsilon);
        if needed.is_nan() || needed > 2.0 * PLAN_LIMIT as f64 {
            return Err(impossible());
        }
    }
    let start = min_calibration_size(alpha)?;
    if start >= PLAN_LIMIT {
        // α below about 1e-7: even the smallest non-trivial size is past the search limit.
        return Err(impossible());
    }
    let probability =
        |n: usize| -> Result<f64> { Ok(1.0 - CoverageLaw::new(n, alpha)?.prob_below(t)?) };
    let ok = |n: usize| -> Result<bool> { Ok(probability(n)? >= 1.0 - delta) };
    // Teeth: tooth l holds the sizes with l(n) = l; its first and last sizes.
    let first_of = |l: usize| tooth_start(l, alpha, start, PLAN_LIMIT + 1);
    let last_of = |n: usize| tooth_start(tooth(n, alpha) + 1, alpha, n, PLAN_LIMIT + 1) - 1;
    // Gallop to a size whose tooth's first size meets the target (so every later tooth is
    // expected to).
    let mut hi = start.max(1);
    while !ok(first_of(tooth(hi, alpha)))? {
        if hi >= PLAN_LIMIT {
            return Err(impossible());
        }
        hi = (hi * 2).min(PLAN_LIMIT);
    }
    // The first size meeting the target inside the tooth of `from` (at or after `from`), or
    // the next tooth's first size when none of this one does.
    let first_ok_from = |from: usize| -> Result<std::result::Result<usize, usize>> {
        let end = last_of(from);
        if end >= PLAN_LIMIT || !ok(end)? {
            return Ok(Err(end + 1));
        }
        let (mut lo, mut up) = (from, end);
        while lo < up {
            let mid = lo + (up - lo) / 2;
            if ok(mid)? {
                up = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(Ok(lo))
    };
    // The first tooth in [l_lo, l_hi] where `pred` holds, by bisection (pred(l_hi) holds).
    let bisect_teeth = |mut l_lo: usize, mut l_hi: usize, pred: &dyn Fn(usize) -> Result<bool>| {
        while l_lo < l_hi {
            let mid = l_lo + (l_hi - l_lo) / 2;
            if pred(mid)? {
                l_hi = mid;
            } else {
                l_lo = mid + 1;
            }
        }
        Ok::<usize, ConformalError>(l_lo)
    };
    let (l_start, l_hi) = (tooth(start, alpha), tooth(hi, alpha));
    let many = l_hi - l_start > PLAN_WALK_TEETH;
    // first_n: walk the teeth from `start`; with many teeth, walk the first PLAN_WALK_TEETH and
    // bisect the rest on "the tooth's last size meets the target".
    let mut first_n = start;
    let mut walked = 0;
    let first_n = loop {
        if many && walked == PLAN_WALK_TEETH {
            let l_walked = tooth(first_n, alpha);
            let mut l = bisect_teeth(l_walked, l_hi, &|l| ok(last_of(first_of(l))))?;
            // Near the boundary the saw-tooth's offset (under α/(n + 1) in mean coverage)
            // makes the probability non-monotone over about 2α²/ε teeth: look back twice that
            // far for an earlier tooth that meets the target.
            let back = ((4.0 * alpha * alpha / epsilon).ceil() as usize).min(PLAN_WALK_TEETH);
            for l2 in l.saturating_sub(back).max(l_walked)..l {
                if ok(last_of(first_of(l2)))? {
                    l = l2;
                    break;
                }
            }
            match first_ok_from(first_of(l))? {
                Ok(n) => break n,
                Err(_) => return Err(impossible()),
            }
        }
        match first_ok_from(first_n)? {
            Ok(n) => break n,
            Err(next) if next <= hi => first_n = next,
            Err(_) => return Err(impossible()),
        }
        walked += 1;
    };
    // The stable answer: from a size that meets the target, check the first size of every
    // later tooth up to the horizon; after a failure, restart inside the failing tooth. With
    // many teeth, start the walk at the first tooth whose first size meets the target (by
    // bisection), inside the tooth before it.
    let mut n0 = first_n;
    if many && tooth(first_n, alpha) < l_hi {
        let l = bisect_teeth(tooth(first_n, alpha), l_hi, &|l| ok(first_of(l)))?;
        if l > tooth(first_n, alpha) {
            n0 = match first_ok_from(first_of(l - 1).max(first_n))? {
                Ok(m) => m,
                Err(next) => next,
            };
        }
    }
    'verify: loop {
        let horizon = (2 * n0)
            .max(n0 + (10.0 / alpha).ceil() as usize)
            .min(PLAN_LIMIT);
        let mut n = n0;
        let mut teeth = 0;
        loop {
            let next = last_of(n) + 1;
            if next > horizon || teeth == PLAN_WALK_TEETH {
                return Ok(CalibrationPlan {
                    n: n0,
                    probability: probability(n0)?,
                    mean: CoverageLaw::new(n0, alpha)?.mean(),
                    first_n,
                    verified_up_to: if next > horizon { horizon } else { next - 1 },
                });
            }
            if !ok(next)? {
                let mut from = next;
                n0 = loop {
                    match first_ok_from(from)? {
                        Ok(m) => break m,
                        Err(after) if after < PLAN_LIMIT => from = after,
                        Err(_) => return Err(impossible()),
                    }
                };
                continue 'verify;
            }
            n = next;
            teeth += 1;
        }
    }
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
        Ok(beta_cdf(1.0 - alpha, (n - l) as f64 + 1.0, l as f64)? > delta)
    };
    if n == 0 || fails(1)? {
        return Ok(None);
    }
    // The failure probability grows with l: binary search the last l that passes.
    let (mut lo, mut hi) = (1usize, n);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fails(mid)? {
            hi = mid - 1;
        } else {
            lo = mid;
        }
    }
    Ok(Some(lo))
}
