//! Certified convergence of iterative algorithms under disturbances, after Er, Trimpe and
//! Muehlebach, *A Systems-Theoretic View on the Convergence of Algorithms under Disturbances*
//! (arXiv 2512.17598, 2025).
//!
//! An algorithm is an iteration `x_{k+1} = f(x_k)`; a disturbance turns it into
//! `x_{k+1} = f(x_k) + d_k`. When the undisturbed map converges linearly and incrementally,
//! `‖φ_k(x) − φ_k(y)‖ ≤ c ρ^k ‖x − y‖`, the converse Lyapunov function
//! `V(x) = sup_k ρ^{−k}‖φ_k(x) − x*‖` is `c`-Lipschitz and decreases by `ρ` per step, and so
//! every disturbed run obeys the input-to-state-stability bound
//!
//! `‖x_k − x*‖ ≤ c ρ^k ‖x₀ − x*‖ + L_V Σ_{j<k} ρ^{k−1−j} ‖d_j‖ ≤ c ρ^k ‖x₀ − x*‖ + L_V sup‖d‖ / (1 − ρ)`,
//!
//! with a mean-square version for zero-mean noise. Quantised communication, delayed gradients,
//! the algorithmic stability of learning (Hardt, Recht and Singer's bound) and the utility of
//! differentially private gradient descent are all instances.
//!
//! **Reconstruction.** The full text was not available when this crate was written; the
//! theorem implemented is the standard converse-Lyapunov / ISS construction that the paper's
//! abstracts describe (Jiang and Wang 2001; Kellett and Teel), and its four applications follow
//! the paper notes' reconstruction. Choices the notes leave open are stated where they are made:
//! the default affine rate halfway between the spectral radius and 1 ([`AffineRate::affine`]),
//! clipping at the quantiser's range ([`Quantizer`]), `x_j = x_0` before the start of a delayed
//! run ([`DelayedGradient`]).
//!
//! - [`Step`] / [`FnStep`]: the undisturbed algorithm, any closure; [`GradientDescent`] on an
//!   [`Objective`] ([`Quadratic`], [`LogisticRegression`] on real data).
//! - [`Disturbance`]: [`BoundedRandom`], [`Adversarial`], [`Constant`], [`GaussianNoise`],
//!   [`QuantizedMessage`] (b-bit uniform [`Quantizer`], nearest or dithered),
//!   [`DelayedGradient`].
//! - [`Rate`]: certified `(c, ρ, L_V)` — closed form for gradient descent, a Lyapunov equation
//!   verified on the matrix for affine maps ([`AffineRate`]), a local estimate from a Jacobian.
//! - [`bounds`]: the trajectory, sup, mean-square and small-gain bounds, and the closed forms
//!   of the applications; [`privacy`]: zCDP of noisy gradient descent and its `(ε, δ)`.
//! - [`run`], [`Certificate`] / [`certify`]: a run with the bound and the measured error at every
//!   step, and the first violation if any; [`monte_carlo`]: many seeded runs in parallel, the
//!   mean-square error at every step (the same at any thread count).
//!
//! # Example: certify your own iteration
//! ```
//! use disturbance_bounds::{certify, AffineRate, BoundedRandom, FnStep};
//! use nalgebra::{DMatrix, DVector};
//!
//! // x ↦ A x + b, a non-normal matrix (its powers grow before they decay).
//! let a = DMatrix::from_row_slice(2, 2, &[0.6, 0.8, 0.0, 0.5]);
//! let b = DVector::from_vec(vec![1.0, -1.0]);
//! let x_star = (DMatrix::identity(2, 2) - &a).lu().solve(&b).unwrap();
//! let cert = AffineRate::affine(&a, Some(0.8))?; // ‖A^k‖ ≤ c 0.8^k, checked on the powers
//! assert!(cert.max_ratio <= 1.0 + 1e-9);
//!
//! let mut step = FnStep::new(2, |x: &DVector<f64>, out: &mut DVector<f64>| {
//!     out.copy_from(&(&a * x + &b))
//! });
//! let mut noise = BoundedRandom::new(0.05, 7)?; // ‖d_k‖ ≤ 0.05
//! let x0 = DVector::from_vec(vec![10.0, -3.0]);
//! let c = certify(&cert.rate, &mut step, &mut noise, &x0, &x_star, 500, 1e-12)?;
//! assert!(c.holds());
//! // The error settles below the ISS floor L_V · 0.05 / (1 − ρ).
//! assert!(c.measured[500] <= cert.rate.iss_gain() * 0.05);
//! # Ok::<(), disturbance_bounds::BoundsError>(())
//! ```

pub mod bounds;
mod error;
#[cfg(feature = "experiments")]
pub mod experiments;
mod iteration;
mod objective;
pub mod privacy;
mod rate;

pub use error::{BoundsError, Result};
pub use iteration::{
    certify, monte_carlo, run, Adversarial, BoundedRandom, Certificate, Constant, DelayedGradient,
    Disturbance, FnStep, GaussianNoise, MonteCarlo, QuantizedMessage, Quantizer, Step, Trajectory,
    Undisturbed, Violation,
};
pub use objective::{gradient_fn, GradientDescent, LogisticRegression, Objective, Quadratic};
pub use rate::{AffineRate, Rate, Scope, MAX_HORIZON};
