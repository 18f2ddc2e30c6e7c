//! Diffusion models on nonconvex sets with **landing** instead of projection, after Jeon,
//! Muehlebach and Tao, *Efficient Diffusion Models under Nonconvex Equality and Inequality
//! Constraints via Landing* (ICML 2026).
//!
//! A feasible set `Σ = {x : h(x) = 0, g(x) ≤ 0}` ([`ConstraintSet`]: [`Sphere`], [`Torus`],
//! [`SpecialOrthogonal`], [`SphereCap`], or your own [`CustomSet`]) is kept by the *landing
//! field* `−α·JᵀG⁻¹c̃` rather than by projecting every step back onto it: a noise step moves in
//! the tangent space, and a normal pull makes the violation decay by `1 − ασ²Δt` per step
//! ([`Correction::Explicit`]), or one Gauss–Newton step removes it to second order
//! ([`Correction::Implicit`]). Nothing can fail, where the baseline's Newton projection
//! ([`Correction::Projection`], as RDDPM) drops the trajectories it cannot project — and
//! reports how many.
//!
//! - [`Frame`]: the active set, `J`, `G = JJᵀ + 10⁻⁶I`, the projector `P`, the landing
//!   direction and the Itô curvature `tr(P∇²c)`;
//! - [`Sampler`]: overdamped (OLLA) and underdamped (ULLA, kinetic Langevin) forward noising
//!   and reverse sampling, batched over points with rayon (feature-free);
//! - [`score`] (feature `candle`, default): the SiLU MLP score network and its training on
//!   core-ml's trainer with the reverse-kernel likelihood on stored forward paths;
//! - [`metrics`]: histogram Jensen–Shannon distances and violations.
//!
//! # Choices the paper leaves open (the full text was not available; see the crate README)
//! - The sphere is `h = (|x|² − 1)/2` and `SO(n)` uses `h_ii = (|x_i|² − 1)/2`, `h_ij = x_i·x_j`,
//!   so `∇²h = I` and the curvature bias is exactly `tr(P)/(2α)`.
//! - The underdamped loss is written with consistent forward/reverse indices (see [`score`]).
//! - The curvature correction uses the increment's variance `σ²Δt` (overdamped) or `(σ²Δt)²`
//!   (underdamped, unit-variance velocity), and only with explicit landing.
//!
//! # Example: explicit landing contracts the violation by `1 − ασ²Δt` per step
//! ```
//! use landing_diffusion::{landing_iterates, Sphere};
//! let sphere = Sphere::new(3)?;
//! // A point off the sphere: h = (|x|² − 1)/2 = 0.005.
//! let x = [(1.01f64).sqrt(), 0.0, 0.0];
//! let rate = 0.3;
//! let hs = landing_iterates(&sphere, &x, rate, 6)?;
//! let ratio = hs[5] / hs[4];
//! assert!((ratio - (1.0 - rate)).abs() < 1e-3, "{ratio}");
//! # Ok::<(), landing_diffusion::LandingError>(())
//! ```
//!
//! # Example: sample the uniform law on a sphere ∩ half-space, with landing
//! ```
//! use landing_diffusion::{
//!     Correction, Dynamics, Sampler, SamplerParams, Schedule, SphereCap, ZeroScore,
//! };
//! let set = SphereCap::new(3, 0.5)?;
//! let sampler = SamplerParams {
//!     steps: 50,
//!     horizon: 1.0,
//!     schedule: Schedule::Constant(0.5),
//!     dynamics: Dynamics::Overdamped,
//!     correction: Correction::Explicit { alpha: 50.0 },
//!     repulsion: 0.01,
//!     ..Default::default()
//! }
//! .check()?;
//! let mut rng = core_linalg::seeded_rng(1);
//! let start = Sampler::prior(&set, 256, &mut rng)?;
//! let out = sampler.reverse(&set, &ZeroScore, &start, &mut rng)?;
//! assert_eq!(out.dropped_count(), 0);
//! assert!(out.max_eq <= 1e-6 && out.max_ineq == 0.0);
//! # Ok::<(), landing_diffusion::LandingError>(())
//! ```

mod error;
mod frame;
pub mod metrics;
mod sampler;
#[cfg(feature = "candle")]
pub mod score;
mod sets;

#[cfg(feature = "experiments")]
pub mod experiments;

pub use error::{LandingError, Result};
pub use frame::{newton_project, Frame, NewtonProjection, Projection, GRAM_RIDGE};
pub use sampler::{
    landing_iterates, Correction, Dynamics, Paths, Sampler, SamplerParams, Samples, Schedule,
    ScoreModel, StepStatus, ViolationRecord, ZeroScore,
};
pub use sets::{
    check_jacobian, ConstraintFn, ConstraintSet, CustomSet, SpecialOrthogonal, Sphere, SphereCap,
    Torus,
};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
