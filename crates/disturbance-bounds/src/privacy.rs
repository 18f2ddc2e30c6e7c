//! Privacy accounting of noisy gradient descent: zero-concentrated differential privacy (zCDP)
//! of the Gaussian mechanism composed over the steps, its conversion to `(ε, δ)`, and the
//! privacy–utility curve the mean-square bound gives.

use crate::bounds::mean_square_floor;
use crate::error::{check_non_negative, check_positive, finite, BoundsError, Result};
use crate::rate::Rate;

/// The `ℓ2`-sensitivity `2G/n` of the average gradient of `n` per-sample losses whose
/// gradients are clipped to norm `G`: replacing one sample moves the average by at most
/// `2G/n`.
pub fn clipped_sensitivity(g: f64, n: usize) -> Result<f64> {
    check_positive("clip norm G", g)?;
    if n == 0 {
        return Err(BoundsError::Empty { what: "data set" });
    }
    finite("sensitivity", 2.0 * g / n as f64)
}

/// The zCDP parameter of `steps` Gaussian-mechanism releases of a query of `ℓ2`-sensitivity
/// `Δ` with noise `N(0, σ² I)`: `ρ_z = steps · Δ² / (2σ²)` (Bun and Steinke 2016, Prop. 1.6
/// and Lemma 2.3: zCDP composes additively).
pub fn zcdp_noisy_gd(steps: usize, sensitivity: f64, sigma: f64) -> Result<f64> {
    check_positive("sensitivity", sensitivity)?;
    check_positive("sigma", sigma)?;
    finite(
        "zCDP parameter",
        steps as f64 * (sensitivity / sigma) * (sensitivity / sigma) / 2.0,
    )
}

/// `(ε, δ)`-differential privacy implied by `ρ`-zCDP: `ε = ρ + 2√(ρ ln(1/δ))` (Bun and
/// Steinke 2016, Prop. 1.3).
pub fn zcdp_to_epsilon(rho_z: f64, delta: f64) -> Result<f64> {
    check_non_negative("rho_z", rho_z)?;
    check_delta(delta)?;
    finite(
        "epsilon",
        rho_z + 2.0 * (rho_z.sqrt() * (1.0 / delta).ln().sqrt()),
    )
}

/// The largest zCDP parameter whose `(ε, δ)` conversion is at most `ε`: the positive root of
/// `ρ + 2√(ρ ln(1/δ)) = ε`, `√ρ = √(ln(1/δ) + ε) − √(ln(1/δ))`.
pub fn zcdp_for_epsilon(epsilon: f64, delta: f64) -> Result<f64> {
    check_positive("epsilon", epsilon)?;
    check_delta(delta)?;
    let l = (1.0 / delta).ln();
    let s = (l + epsilon).sqrt() - l.sqrt();
    Ok(s * s)
}

/// The noise level `σ` that makes `steps` releases of sensitivity `Δ` `(ε, δ)`-private:
/// `σ = Δ √(steps / (2 ρ_z))` with `ρ_z` from [`zcdp_for_epsilon`].
pub fn sigma_for_epsilon(epsilon: f64, delta: f64, steps: usize, sensitivity: f64) -> Result<f64> {
    check_positive("sensitivity", sensitivity)?;
    if steps == 0 {
        return Err(BoundsError::Empty {
            what: "run (zero steps)",
        });
    }
    let rho_z = zcdp_for_epsilon(epsilon, delta)?;
    finite(
        "sigma",
        sensitivity * (steps as f64 / 2.0).sqrt() / rho_z.sqrt(),
    )
}

/// One point of the privacy–utility curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacyPoint {
    /// The privacy level `ε` (at the curve's `δ`).
    pub epsilon: f64,
    /// The gradient noise `σ` that buys it.
    pub sigma: f64,
    /// The stationary mean-square error bound `η² n σ² / (1 − ρ²)` of
    /// `x ↦ x − η(∇F(x) + w)`, `w ~ N(0, σ² I_n)`.
    pub floor: f64,
}

/// The privacy–utility curve of noisy gradient descent at step `eta` in dimension `dim`, run
/// for `steps` steps with sensitivity `Δ`: for each `ε`, the noise `σ` of
/// [`sigma_for_epsilon`] and the error floor `η² n σ² / (1 − ρ²)` (the disturbance
/// `d = −η w` has `E‖d‖² = η² n σ²`). Needs a Euclidean contraction (`c = 1`).
pub fn privacy_utility_curve(
    rate: &Rate,
    eta: f64,
    dim: usize,
    steps: usize,
    sensitivity: f64,
    delta: f64,
    epsilons: &[f64],
) -> Result<Vec<PrivacyPoint>> {
    check_positive("eta", eta)?;
    if dim == 0 {
        return Err(BoundsError::Empty {
            what: "parameter vector",
        });
    }
    epsilons
        .iter()
        .map(|&epsilon| {
            let sigma = sigma_for_epsilon(epsilon, delta, steps, sensitivity)?;
            let floor = mean_square_floor(rate, eta * eta * dim as f64 * sigma * sigma)?;
            Ok(PrivacyPoint {
                epsilon,
                sigma,
                floor,
            })
        })
        .collect()
}

fn check_delta(delta: f64) -> Result<()> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(BoundsError::Parameter {
            name: "delta",
            value: delta,
            reason: "must lie in (0, 1)",
        })
    }
}
