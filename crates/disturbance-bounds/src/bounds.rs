//! The bounds of the input-to-state-stability theorem, as functions of a [`Rate`] and the
//! disturbances, and the closed forms of its applications.

use crate::error::{check_finite, check_non_negative, check_positive, finite, BoundsError, Result};
use crate::rate::Rate;

/// The trajectory bound of the theorem at every step: entry `k` (for `k = 0, …, d.len()`) is
/// `c ρ^k e₀ + L_V Σ_{j<k} ρ^{k−1−j} ‖d_j‖`, where `e₀ = ‖x₀ − x*‖` and `d_norms[j] = ‖d_j‖`.
/// The sum runs as the recursion `s_{k+1} = ρ s_k + ‖d_k‖`. An entry is `+∞` where the bound
/// exceeds `f64::MAX` (it holds trivially there). Errors on a negative or non-finite `e₀` or
/// disturbance norm.
pub fn trajectory_bound(rate: &Rate, e0: f64, d_norms: &[f64]) -> Result<Vec<f64>> {
    check_non_negative("initial error", e0)?;
    check_finite("disturbance norms", d_norms)?;
    if let Some(&v) = d_norms.iter().find(|&&v| v < 0.0) {
        return Err(BoundsError::Parameter {
            name: "disturbance norm",
            value: v,
            reason: "a norm cannot be negative",
        });
    }
    let (c, rho, l_v) = (rate.c(), rate.rho(), rate.l_v());
    let mut out = Vec::with_capacity(d_norms.len() + 1);
    // `ρ^k e₀` kept apart from `c`, so that a bound that overflows at first (c e₀ > f64::MAX)
    // becomes finite again as ρ^k shrinks.
    let (mut transient, mut sum) = (e0, 0.0);
    out.push(c * transient);
    for &d in d_norms {
        transient *= rho;
        sum = rho * sum + d;
        out.push(c * transient + l_v * sum);
    }
    Ok(out)
}

/// The bound uniform in `k`: `c e₀ + γ sup_j ‖d_j‖` with the gain `γ = L_V / (1 − ρ)`.
pub fn sup_bound(rate: &Rate, e0: f64, d_sup: f64) -> Result<f64> {
    check_non_negative("initial error", e0)?;
    check_non_negative("disturbance bound", d_sup)?;
    finite("sup bound", rate.c() * e0 + rate.iss_gain() * d_sup)
}

/// The limit of the sup bound as `k → ∞`: `γ sup ‖d‖`, the error floor a persistent
/// disturbance leaves.
pub fn error_floor(rate: &Rate, d_sup: f64) -> Result<f64> {
    check_non_negative("disturbance bound", d_sup)?;
    finite("error floor", rate.iss_gain() * d_sup)
}

/// The mean-square bound for zero-mean disturbances independent of the state with
/// `E‖d_k‖² ≤ σ²`, for a map that contracts the Euclidean norm (`c = L_V = 1`):
/// `E‖x_k − x*‖² ≤ ρ^{2k} e₀² + σ² (1 − ρ^{2k}) / (1 − ρ²)` (the cross term vanishes in
/// expectation, so each step gives `ρ² E‖x_k − x*‖² + σ²`). Errors with
/// [`BoundsError::NotContractive`] for a rate with `c > 1`.
pub fn mean_square_bound(rate: &Rate, e0: f64, sigma_sq: f64, k: usize) -> Result<f64> {
    check_non_negative("initial error", e0)?;
    check_non_negative("disturbance variance", sigma_sq)?;
    if rate.c() != 1.0 || rate.l_v() != 1.0 {
        return Err(BoundsError::NotContractive { c: rate.c() });
    }
    let r2 = rate.rho() * rate.rho();
    let r2k = r2.powi(i32::try_from(k).unwrap_or(i32::MAX));
    finite(
        "mean-square bound",
        r2k * e0 * e0 + sigma_sq * (1.0 - r2k) / (1.0 - r2),
    )
}

/// The stationary mean-square error `σ² / (1 − ρ²)` (the bound as `k → ∞`); exact for
/// `x ↦ ρ x + d` with isotropic noise, as on an isotropic quadratic.
pub fn mean_square_floor(rate: &Rate, sigma_sq: f64) -> Result<f64> {
    mean_square_bound(rate, 0.0, sigma_sq, usize::MAX)
}

/// The small-gain condition for two interconnected systems of ISS gains `γ₁`, `γ₂`: the loop
/// is stable when `γ₁ γ₂ < 1`. Returns the loop gain `γ₁ γ₂`.
pub fn loop_gain(gamma1: f64, gamma2: f64) -> Result<f64> {
    check_non_negative("gain", gamma1)?;
    check_non_negative("gain", gamma2)?;
    finite("loop gain", gamma1 * gamma2)
}

/// Gradient descent with gradients `τ` steps old, on a `μ`-strongly convex, `L`-smooth
/// function at step `η`: the delay acts as the disturbance
/// `d_k = η(∇F(x_k) − ∇F(x_{k−τ}))`, `‖d_k‖ ≤ η² τ L² sup_{[k−2τ, k]} ‖x_j − x*‖`, and the
/// Razumikhin-type small-gain condition `η τ κ L < 1` (`κ = L/μ`) is sufficient for
/// convergence. Returns `η τ κ L`.
pub fn delay_loop_gain(eta: f64, tau: usize, mu: f64, l: f64) -> Result<f64> {
    check_positive("eta", eta)?;
    check_positive("mu", mu)?;
    check_positive("L", l)?;
    finite("delay loop gain", eta * tau as f64 * (l / mu) * l)
}

/// The largest delay `τ` the small-gain condition `η τ κ L < 1` certifies.
pub fn max_certified_delay(eta: f64, mu: f64, l: f64) -> Result<usize> {
    let per_step = delay_loop_gain(eta, 1, mu, l)?;
    // The largest integer τ with τ · per_step < 1.
    let t = (1.0 / per_step).ceil() - 1.0;
    Ok(if t <= 0.0 { 0 } else { t as usize })
}

/// The quantisation step `Δ = 2B / (2^b − 1)` of a uniform quantiser with `b` bits on
/// `[−B, B]`.
pub fn quantization_step(range: f64, bits: u32) -> Result<f64> {
    check_positive("range B", range)?;
    if !(1..=52).contains(&bits) {
        return Err(BoundsError::Parameter {
            name: "bits",
            value: f64::from(bits),
            reason: "a uniform quantiser here has 1 to 52 bits",
        });
    }
    let step = 2.0 * (range / ((1u64 << bits) - 1) as f64);
    if step.is_finite() && step > 0.0 {
        Ok(step)
    } else {
        Err(BoundsError::Parameter {
            name: "range B",
            value: range,
            reason: "the quantisation step 2B/(2^b − 1) must be a positive finite number",
        })
    }
}

/// The worst-case norm of the quantisation error of an `n`-vector inside `[−B, B]^n`:
/// `√n Δ / 2 = √n B / (2^b − 1)` when rounding to the nearest level, `√n Δ` for dithered
/// (stochastic) rounding, whose error is zero-mean but up to one step per coordinate.
pub fn quantization_error_bound(dim: usize, range: f64, bits: u32, dithered: bool) -> Result<f64> {
    if dim == 0 {
        return Err(BoundsError::Empty { what: "vector" });
    }
    let step = quantization_step(range, bits)?;
    let per = if dithered { step } else { step / 2.0 };
    finite("quantisation error bound", (dim as f64).sqrt() * per)
}

/// The variance bound `E‖Q(v) − v‖² ≤ n Δ² / 4` of dithered rounding (each coordinate's error
/// is a two-point law on an interval of length `Δ`, of variance at most `Δ²/4`).
pub fn dithered_variance_bound(dim: usize, range: f64, bits: u32) -> Result<f64> {
    if dim == 0 {
        return Err(BoundsError::Empty { what: "vector" });
    }
    let step = quantization_step(range, bits)?;
    finite("dithered variance bound", dim as f64 * step * step / 4.0)
}

/// Algorithmic stability: gradient descent at `η ≤ 1/β` on two data sets of `n` samples that
/// differ in one, with a `G`-Lipschitz, `μ`-strongly convex loss, stays within
/// `2G / (μ n)` of itself (the run on `S′` is the run on `S` with `‖d_k‖ ≤ 2ηG/n`, and
/// `γ = 1/(ημ)` for `ρ = 1 − ημ`).
pub fn stability_bound(g: f64, mu: f64, n: usize) -> Result<f64> {
    check_positive("G", g)?;
    check_positive("mu", mu)?;
    if n == 0 {
        return Err(BoundsError::Empty { what: "data set" });
    }
    finite("stability bound", 2.0 * g / (mu * n as f64))
}

/// The uniform stability of the loss this gives, `2G² / (μ n)` (Hardt, Recht and Singer 2016,
/// Thm 3.9, for strongly convex losses).
pub fn uniform_stability(g: f64, mu: f64, n: usize) -> Result<f64> {
    finite("uniform stability", g * stability_bound(g, mu, n)?)
}
