//! Exact mean-square stability of zeroth-order (ZO) optimisers and the edge of stability they
//! sit at, after Song, Zhang, Li, He, Muehlebach and Oh, *Zeroth-Order Optimization at the Edge
//! of Stability* (arXiv 2604.14669, ICML 2026).
//!
//! - [`estimator`]: the two-point estimator `ĝ = δ u` — Gaussian or sphere directions, central
//!   or forward differences, `q` averaged queries.
//! - [`optim`]: one [`Optimizer`] for ZO-GD, ZO-GDM (Polyak momentum), ZO-Adam and frozen
//!   ZO-Adam, stepped by the estimator ([`Optimizer::zo_step`]) or by a gradient
//!   ([`Optimizer::fo_step`], the first-order counterparts), counting function and gradient
//!   evaluations.
//! - [`threshold`]: the exact thresholds of Theorems 1–3 as roots of secular equations, to full
//!   double precision, with the tractable bounds from `λ_max` and `tr H`.
//! - [`operator`]: the exact second-moment operators — diagonal plus rank-one for ZO-GD, the
//!   `3d` recursion for ZO-GDM — with spectral radii and exact mean-square trajectories.
//! - [`tracker`]: `λ_max`, `tr H` and `tr H₊` from Hessian-vector products (stochastic Lanczos
//!   quadrature), the notes' interval for each method, and a tracker that records them.
//! - [`candle`] (feature `candle`): a candle model's loss as an objective over its flat
//!   parameters, and [`EosObserver`](candle::EosObserver), an observer of core-ml's trainer.
//!
//! # What was reconstructed
//!
//! The paper's prose and theorem statements were available; its display equations were not.
//! They were rebuilt from the Table 1 bounds and an independent derivation (the notes). What
//! this crate implements, and the choices it makes where the paper is silent:
//!
//! - On `f(x) = ½xᵀHx` the estimator is `u uᵀ H x` for every `μ`, and with
//!   `E[u uᵀ A u uᵀ] = 2A + tr(A) I` the second moment evolves by
//!   `S′ = S − η(HS + SH) + η²(2HSH + tr(H²S) I)` ([`operator`]); the thresholds are where its
//!   spectral radius crosses 1. Sphere directions of radius `√d` have
//!   `E[u uᵀ A u uᵀ] = (d/(d+2))(2A + tr(A) I)`, so their threshold is slightly larger; the
//!   theorems (and this crate's thresholds) are for Gaussian directions.
//! - ZO-GDM is Polyak's `m ← βm + ĝ, x ← x − ηm` (Theorem 2's form, whose first-order threshold
//!   is `2(1+β)/λ_max`). ZO-Adam uses the exponential moving average `m ← β₁m + (1−β₁)ĝ`
//!   and `P_{t+1} = (1−β₁^{t+1}) diag(√(v/(1−β₂^{t+1})) + ε)`; frozen ZO-Adam is then ZO-GDM on
//!   `P⁻¹H` with step `η(1−β₁)` and momentum `β₁`, which gives Theorem 3's secular equation.
//! - Theorem 3 assumes `PH = HP`; [`Spectrum::preconditioned`] takes that assumption literally
//!   (both diagonal in one basis).
//! - Negative curvature: the theorems need `H ⪰ 0`. [`Curvature::PositivePart`] drops negative
//!   eigenvalues (the notes' "positive-part trace") and reports their mass.
//! - `λ_max` in the tracker is the largest Lanczos Ritz value, not power iteration's largest
//!   `|λ|` (which near initialisation is often a negative eigenvalue).
//!
//! # Example
//!
//! The threshold of ZO-GD on the spectrum `λ_i = 1/i` (d = 20), checked against the exact
//! second-moment operator's spectral radius:
//!
//! ```
//! use zo_stability::{zo_gd_threshold, zo_gdm_threshold, Curvature, Spectrum, ZoGdOperator};
//!
//! let eigs: Vec<f64> = (1..=20).map(|i| 1.0 / i as f64).collect();
//! let s = Spectrum::new(&eigs, Curvature::Strict)?;
//! let t = zo_gd_threshold(&s)?;
//! assert!((t.eta - 0.42982).abs() < 1e-5);
//! let below = ZoGdOperator::new(&s, 0.98 * t.eta)?.spectral_radius();
//! let above = ZoGdOperator::new(&s, 1.02 * t.eta)?.spectral_radius();
//! assert!(below < 1.0 && above > 1.0);
//! // Momentum makes ZO less stable, not more (first-order GDM's 2(1+β)/λ_max grows with β).
//! assert!(zo_gdm_threshold(&s, 0.9)?.eta < zo_gdm_threshold(&s, 0.5)?.eta);
//! # Ok::<(), zo_stability::ZoError>(())
//! ```

#[cfg(feature = "candle")]
pub mod candle;
mod error;
pub mod estimator;
pub mod operator;
pub mod optim;
mod spectrum;
pub mod threshold;
pub mod tracker;

#[cfg(feature = "experiments")]
pub mod experiments;

pub use error::{Result, ZoError};
pub use estimator::{Difference, Directions, Estimator, Scratch};
pub use operator::{ZoGdOperator, ZoGdmOperator};
pub use optim::{Method, Optimizer};
pub use spectrum::{Curvature, Spectrum};
pub use threshold::{frozen_zo_adam_threshold, zo_gd_threshold, zo_gdm_threshold, Threshold};
pub use tracker::{
    estimate_curvature, CurvatureConfig, CurvatureEstimate, EosInterval, EosTracker,
};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
