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
        let slack = 4.0 * f64::EPSILON * prediction.abs().max(self.half_width);
        (
            (prediction - self.half_width - slack).next_down(),
            (prediction + self.half_width + slack).next_up(),
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
