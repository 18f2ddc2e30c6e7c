//! The paper's experiments, run by `cargo xtask reproduce landing-diffusion` (feature
//! `experiments`).
//!
//! 1. [`mechanics`]: explicit landing's contraction `1 − ασ²Δt`, implicit landing's quadratic
//!    convergence, Jacobians and projectors of the built-in sets.
//! 2. [`curvature`]: the curvature bias `(D − 1)/(2α)` of explicit landing on spheres and its
//!    correction.
//! 3. [`benchmarks`]: S², a torus and S² ∩ {z ≤ 0.5}: OLLA and ULLA (landing) against OLLA-P
//!    and ULLA-P (projection), large steps on the torus, the forward terminal against the prior.
//! 4. [`rotations`]: a mixture on SO(n).

mod benchmarks;
mod curvature;
mod generative;
mod mechanics;

pub use benchmarks::{benchmarks, rotations};
pub use curvature::curvature;
pub use mechanics::mechanics;

use repro::{Experiment, Paper, Rounding};

/// The paper's registry entry.
pub fn paper() -> Paper {
    Paper {
        name: "landing-diffusion",
        title: "Efficient Diffusion Models under Nonconvex Equality and Inequality Constraints via Landing",
        experiments: vec![
            Experiment {
                name: "mechanics",
                description: "noise-free landing: contraction 1 − ασ²Δt, quadratic implicit landing, Jacobians and projectors",
                run: mechanics,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "curvature",
                description: "explicit landing with projected noise on S^{D−1} settles at (D − 1)/(2α); the curvature correction removes it",
                run: curvature,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "benchmarks",
                description: "S², torus, S² ∩ {z ≤ 0.5}: OLLA/ULLA (landing) vs OLLA-P/ULLA-P (projection); large steps; the forward terminal vs the prior",
                run: benchmarks,
                rounding: Rounding::TRAINED,
            },
            Experiment {
                name: "rotations",
                description: "a mixture on SO(n): landing vs projection, overdamped and underdamped",
                run: rotations,
                rounding: Rounding::TRAINED,
            },
        ],
    }
}
