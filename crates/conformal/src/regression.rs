use crate::error::check_alpha;
use crate::{ConformalError, Result};
use core_linalg::{check_finite, conformal_quantile};

/// Split conformal regression with the absolute-residual score: intervals `ŷ ± q̂`, where `q̂`
/// is the `⌈(n + 1)(1 − α)⌉`-th smallest calibration residual `|y − ŷ|` (`+∞` when too few).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConformalRegressor {
    half_width: f64,
    n_calibration: usize,
    alpha: f64,
}

impl ConformalRegressor {
    /// Calibrates on held-out predictions and targets.
    pub fn calibrate(predictions: &[f64], targets: &[f64], alpha: f64) -> Result<Self> {
        check_alpha(alpha)?;
        check_finite("predictions", predictions)?;
        check_finite("targets", targets)?;
        if predictions.len() != targets.len() {
            return Err(ConformalError::Shape {
                what: "targets vs predictions",
                expected: predictions.len(),
                got: targets.len(),
            });
        }
        let residuals: Vec<f64> = predictions
            .iter()
            .zip(targets)
            .map(|(p, y)| (y - p).abs())
            .collect();
        Ok(Self {
            half_width: conformal_quantile(&residuals, alpha)?,
            n_calibration: residuals.len(),
            alpha,
        })
    }

    /// `q̂`, the interval's half-width.
    pub fn half_width(&self) -> f64 {
        self.half_width
    }

    /// The number of calibration points.
    pub fn n_calibration(&self) -> usize {
        self.n_calibration
    }

    /// `α`.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The interval for one prediction, `ŷ ± q̂` widened by `4ε · max(|ŷ|, q̂)` (ε = 2⁻⁵²)
    /// and rounded outward: a target whose residual `|y − ŷ|` is at most `q̂` *as computed*
    /// (the calibration point at the threshold, say) is then inside it. The residual's own
    /// rounding is up to an ulp of `max(|ŷ|, q̂)`, which `ŷ ± q̂` rounded to nearest does not
    /// cover: without the widening the threshold point itself was left out (the robustness
    /// suite found it at n = 1). Ends are `±∞` where they overflow (or `q̂ = +∞`).
    pub fn interval(&self, prediction: f64) -> (f64, f64) {
        outward(
            prediction - self.half_width,
            prediction + self.half_width,
            4.0 * prediction.abs().max(self.half_width),
        )
    }

    /// Intervals for many predictions; errors on empty or non-finite input.
    pub fn intervals(&self, predictions: &[f64]) -> Result<Vec<(f64, f64)>> {
        check_finite("predictions", predictions)?;
        Ok(predictions.iter().map(|&p| self.interval(p)).collect())
    }
}

/// The fraction of targets inside their intervals.
pub fn interval_coverage(intervals: &[(f64, f64)], targets: &[f64]) -> Result<f64> {
    check_finite("targets", targets)?;
    if intervals.len() != targets.len() {
        return Err(ConformalError::Shape {
            what: "targets vs intervals",
            expected: intervals.len(),
            got: targets.len(),
        });
    }
    Ok(intervals
        .iter()
        .zip(targets)
        .filter(|((lo, hi), y)| lo <= *y && *y <= hi)
        .count() as f64
        / targets.len() as f64)
}

/// `[lo, hi]` widened by `ε · m` (ε = 2⁻⁵², `m` the magnitude of the operands times the number
/// of roundings they went through) and rounded outward, so that a target whose score is at most
/// `q̂` as computed lies inside (see [`ConformalRegressor::interval`]).
fn outward(lo: f64, hi: f64, m: f64) -> (f64, f64) {
    let slack = f64::EPSILON * m;
    ((lo - slack).next_down(), (hi + slack).next_up())
}

fn same_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(ConformalError::Shape {
            what,
            expected,
            got,
        })
    }
}

fn check_scales(scales: &[f64]) -> Result<()> {
    check_finite("scales", scales)?;
    match scales.iter().position(|&s| s <= 0.0) {
        Some(i) => Err(ConformalError::Parameter {
            name: "scale",
            value: scales[i],
            reason: "a difficulty estimate σ̂(x) must be positive",
        }),
        None => Ok(()),
    }
}

/// Split conformal regression with **normalised residuals** (locally adaptive intervals, as
/// MAPIE's `ResidualNormalisedScore` and crepes' `sigmas`): the score is `|y − ŷ| / σ̂(x)` for a
/// difficulty estimate `σ̂(x) > 0` the caller supplies (a model of `|y − ŷ|`, an ensemble's
/// spread, a k-NN distance), and the interval `ŷ ± q̂ · σ̂(x)` is wider where the problem is
/// harder. Marginal coverage `≥ 1 − α` holds for any `σ̂` fixed before calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormalizedRegressor {
    q: f64,
    n_calibration: usize,
    alpha: f64,
}

impl NormalizedRegressor {
    /// Calibrates on held-out predictions, their difficulty estimates and targets. Errors on
    /// mismatched lengths, non-finite values, a scale `≤ 0` or `α ∉ (0, 1)`.
    pub fn calibrate(
        predictions: &[f64],
        scales: &[f64],
        targets: &[f64],
        alpha: f64,
    ) -> Result<Self> {
        check_alpha(alpha)?;
        check_finite("predictions", predictions)?;
        check_finite("targets", targets)?;
        check_scales(scales)?;
        same_len("targets vs predictions", predictions.len(), targets.len())?;
        same_len("scales vs predictions", predictions.len(), scales.len())?;
        let scores: Vec<f64> = predictions
            .iter()
            .zip(targets)
            .zip(scales)
            .map(|((p, y), s)| (y - p).abs() / s)
            .collect();
        Ok(Self {
            q: conformal_quantile(&scores, alpha)?,
            n_calibration: scores.len(),
            alpha,
        })
    }

    /// `q̂`, the interval's half-width in units of `σ̂` (`+∞` when too few points).
    pub fn quantile(&self) -> f64 {
        self.q
    }

    /// The number of calibration points.
    pub fn n_calibration(&self) -> usize {
        self.n_calibration
    }

    /// `α`.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The interval `ŷ ± q̂ σ̂` for one prediction, widened by a few ulps like
    /// [`ConformalRegressor::interval`]. Errors on a non-finite prediction or a scale `≤ 0`.
    pub fn interval(&self, prediction: f64, scale: f64) -> Result<(f64, f64)> {
        check_finite("prediction", &[prediction])?;
        check_scales(&[scale])?;
        let w = self.q * scale;
        Ok(outward(
            prediction - w,
            prediction + w,
            8.0 * prediction.abs().max(w),
        ))
    }

    /// Intervals for many predictions and their scales.
    pub fn intervals(&self, predictions: &[f64], scales: &[f64]) -> Result<Vec<(f64, f64)>> {
        same_len("scales vs predictions", predictions.len(), scales.len())?;
        predictions
            .iter()
            .zip(scales)
            .map(|(&p, &s)| self.interval(p, s))
            .collect()
    }
}

/// **Conformalised quantile regression** (CQR, Romano, Patterson & Candès 2019; MAPIE's
/// `ConformalizedQuantileRegressor`): from a model's lower and upper quantile predictions
/// `[q̂_lo(x), q̂_hi(x)]`, the score is `E = max(q̂_lo(x) − y, y − q̂_hi(x))` (negative inside the
/// band) and the interval `[q̂_lo(x) − Q, q̂_hi(x) + Q]` with `Q` the conformal quantile of `E`:
/// the band is widened where the quantile model under-covers and narrowed where it
/// over-covers, keeping its adaptivity. `Q` may be negative; a band narrower than `−2Q` then
/// gives an empty interval (`lo > hi`), which covers nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CqrRegressor {
    correction: f64,
    n_calibration: usize,
    alpha: f64,
}

impl CqrRegressor {
    /// Calibrates on held-out lower and upper quantile predictions and targets. Errors on
    /// mismatched lengths, non-finite values or `α ∉ (0, 1)` (crossed quantiles are allowed:
    /// the score handles them).
    pub fn calibrate(lower: &[f64], upper: &[f64], targets: &[f64], alpha: f64) -> Result<Self> {
        check_alpha(alpha)?;
        check_finite("lower quantiles", lower)?;
        check_finite("upper quantiles", upper)?;
        check_finite("targets", targets)?;
        same_len("upper vs lower quantiles", lower.len(), upper.len())?;
        same_len("targets vs quantiles", lower.len(), targets.len())?;
        let scores: Vec<f64> = lower
            .iter()
            .zip(upper)
            .zip(targets)
            .map(|((lo, hi), y)| (lo - y).max(y - hi))
            .collect();
        Ok(Self {
            correction: conformal_quantile(&scores, alpha)?,
            n_calibration: scores.len(),
            alpha,
        })
    }

    /// `Q`, added below and above the band (`+∞` when too few points; may be negative).
    pub fn correction(&self) -> f64 {
        self.correction
    }

    /// The number of calibration points.
    pub fn n_calibration(&self) -> usize {
        self.n_calibration
    }

    /// `α`.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The interval `[lo − Q, hi + Q]`, widened by a few ulps like
    /// [`ConformalRegressor::interval`]. Errors on non-finite quantiles.
    pub fn interval(&self, lower: f64, upper: f64) -> Result<(f64, f64)> {
        check_finite("quantiles", &[lower, upper])?;
        let q = self.correction;
        let m = 4.0 * lower.abs().max(upper.abs()).max(q.abs());
        Ok(outward(lower - q, upper + q, m))
    }

    /// Intervals for many bands.
    pub fn intervals(&self, lower: &[f64], upper: &[f64]) -> Result<Vec<(f64, f64)>> {
        same_len("upper vs lower quantiles", lower.len(), upper.len())?;
        lower
            .iter()
            .zip(upper)
            .map(|(&lo, &hi)| self.interval(lo, hi))
            .collect()
    }
}
