//! The pitcher: a line `power = m · distance + b` through measured throws, fitted by hand
//! (sliders, residuals, the mean squared error) or by ordinary least squares, then used to aim.
//!
//! The page's text speaks of the "sum of vertical distances" but its code shows the mean
//! squared error; so does this module. "Calculate best parameters" rounds the least-squares
//! line to two decimals ([`Line::rounded`]).

use crate::error::{check_range, BricksError, Result};
use serde::{Deserialize, Serialize};

/// The motor power slider's range, in percent.
pub const POWER_MIN: f64 = 20.0;
/// The largest motor power.
pub const POWER_MAX: f64 = 100.0;
/// The distance sensor reads the landing spot only strictly inside `(5, 130)` cm.
pub const DISTANCE_VALID: (f64, f64) = (5.0, 130.0);
/// The slope slider's range.
pub const M_RANGE: (f64, f64) = (-3.0, 3.0);
/// The intercept slider's range.
pub const B_RANGE: (f64, f64) = (-10.0, 50.0);

/// One measured throw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throw {
    /// Where the ball landed, cm.
    pub distance: f64,
    /// The motor power it was thrown with, percent.
    pub power: f64,
}

impl Throw {
    /// A throw, checking that the distance is one the sensor reads and the power one the
    /// slider offers.
    pub fn new(distance: f64, power: f64) -> Result<Self> {
        check_distance(distance)?;
        check_range("power", power, POWER_MIN, POWER_MAX)?;
        Ok(Self { distance, power })
    }
}

/// Fails unless `5 < distance < 130`.
pub fn check_distance(distance: f64) -> Result<f64> {
    let (lo, hi) = DISTANCE_VALID;
    check_range("distance", distance, lo, hi)?;
    if distance <= lo || distance >= hi {
        return Err(BricksError::OutOfRange {
            what: "distance (the sensor reads strictly between 5 and 130 cm)",
            value: distance,
            lo,
            hi,
        });
    }
    Ok(distance)
}

/// `power = m · distance + b`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Slope.
    pub m: f64,
    /// Intercept.
    pub b: f64,
}

impl Line {
    /// A line with both parameters finite.
    pub fn new(m: f64, b: f64) -> Result<Self> {
        check_range("m", m, f64::MIN, f64::MAX)?;
        check_range("b", b, f64::MIN, f64::MAX)?;
        Ok(Self { m, b })
    }

    /// A line set on the page's sliders: `m ∈ [−3, 3]`, `b ∈ [−10, 50]`.
    pub fn from_sliders(m: f64, b: f64) -> Result<Self> {
        check_range("m", m, M_RANGE.0, M_RANGE.1)?;
        check_range("b", b, B_RANGE.0, B_RANGE.1)?;
        Ok(Self { m, b })
    }

    /// The power the line gives at `distance`.
    pub fn at(&self, distance: f64) -> f64 {
        self.m * distance + self.b
    }

    /// Both parameters rounded to two decimals (what "calculate best parameters" shows).
    pub fn rounded(&self) -> Self {
        let r = |v: f64| (v * 100.0).round() / 100.0;
        Self {
            m: r(self.m),
            b: r(self.b),
        }
    }

    /// The power to throw at to land at `target`: `clamp(⌊m · d + b⌋, 20, 100)`, as the
    /// page sends it. Errors unless the target is a distance the sensor reads.
    pub fn aim(&self, target: f64) -> Result<f64> {
        check_distance(target)?;
        Ok(self.at(target).floor().clamp(POWER_MIN, POWER_MAX))
    }
}

fn check_throws(throws: &[Throw]) -> Result<()> {
    for t in throws {
        check_range("distance", t.distance, f64::MIN, f64::MAX)?;
        check_range("power", t.power, f64::MIN, f64::MAX)?;
    }
    Ok(())
}

/// Each throw's vertical residual `power − (m · distance + b)`.
pub fn residuals(throws: &[Throw], line: &Line) -> Vec<f64> {
    throws
        .iter()
        .map(|t| t.power - line.at(t.distance))
        .collect()
}

/// The mean squared error `mean((power − (m · d + b))²)`. Errors on no throws or
/// non-finite values.
pub fn mse(throws: &[Throw], line: &Line) -> Result<f64> {
    if throws.is_empty() {
        return Err(BricksError::TooFew {
            what: "mean squared error",
            needed: 1,
            got: 0,
        });
    }
    check_throws(throws)?;
    Ok(residuals(throws, line).iter().map(|r| r * r).sum::<f64>() / throws.len() as f64)
}

/// Ordinary least squares, `m = Σ(d − d̄)(p − p̄) / Σ(d − d̄)²`, `b = p̄ − m d̄` (centred
/// sums). Errors with fewer than two throws (the page's "at least 2 points") or when every
/// throw landed at the same distance.
pub fn least_squares(throws: &[Throw]) -> Result<Line> {
    if throws.len() < 2 {
        return Err(BricksError::TooFew {
            what: "least squares",
            needed: 2,
            got: throws.len(),
        });
    }
    check_throws(throws)?;
    let n = throws.len() as f64;
    let dm = throws.iter().map(|t| t.distance).sum::<f64>() / n;
    let pm = throws.iter().map(|t| t.power).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for t in throws {
        let dx = t.distance - dm;
        sxy += dx * (t.power - pm);
        sxx += dx * dx;
    }
    if sxx <= f64::EPSILON * throws.iter().map(|t| t.distance * t.distance).sum::<f64>() {
        return Err(BricksError::Degenerate(
            "every throw landed at the same distance: no line is best",
        ));
    }
    let m = sxy / sxx;
    Line::new(m, pm - m * dm)
}
