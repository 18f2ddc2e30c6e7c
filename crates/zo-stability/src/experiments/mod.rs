//! The paper's experiments, run by `cargo xtask reproduce zo-stability` (feature
//! `experiments`).
//!
//! 1. [`theory`]: Theorems 1–3 against the exact second-moment operators' spectral radii from a
//!    general eigen-solver, the tractable bounds, FO against ZO, and the ZO-GDM threshold in β.
//! 2. [`monte_carlo`]: ZO-GD chains on quadratics at 0.9η* and 1.1η*: the mean-square growth
//!    against the exact operator, its heavy tails, in the eigenbasis and a rotated basis.
//! 3. [`factorisation`]: trace selection on matrix factorisation: below η* ZO-GD stays at a
//!    sharp minimum, above it re-converges only where the new minimum is stable.
//! 4. [`networks`]: a tanh MLP on iris: first-order GD's edge of stability, ZO-GD at a
//!    minimum below and above η*(H*), and zeroth-order training tracked against the interval.

mod factorisation;
mod monte_carlo;
mod networks;
mod theory;

pub use factorisation::factorisation;
pub use monte_carlo::monte_carlo;
pub use networks::networks;
pub use theory::theory;

use repro::{Experiment, Paper, Rounding};

/// The test spectra of the notes: `(name, eigenvalues)`.
pub(crate) fn spectra() -> Vec<(&'static str, Vec<f64>)> {
    let harmonic =
        |d: usize, p: i32| -> Vec<f64> { (1..=d).map(|i| 1.0 / (i as f64).powi(p)).collect() };
    let mut spike = vec![10.0];
    spike.extend([0.1; 49]);
    vec![
        ("1/i (d = 20)", harmonic(20, 1)),
        ("1/i² (d = 20)", harmonic(20, 2)),
        ("flat (d = 50)", vec![1.0; 50]),
        ("spike [10, 49 × 0.1]", spike),
        (
            "geometric 0.8^i (d = 30)",
            (0..30).map(|i| 0.8f64.powi(i)).collect(),
        ),
    ]
}

/// The paper's registry entry.
pub fn paper() -> Paper {
    Paper {
        name: "zo-stability",
        title: "Zeroth-Order Optimization at the Edge of Stability",
        experiments: vec![
            Experiment {
                name: "theory",
                description: "exact thresholds (Theorems 1–3) against the operators' spectral radii; bounds; FO vs ZO; η* vs β",
                run: theory,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "monte-carlo",
                description: "ZO-GD chains on quadratics: mean-square growth at 0.9η* and 1.1η* vs the exact operator; heavy tails",
                run: monte_carlo,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "factorisation",
                description: "trace selection on matrix factorisation: ZO-GD above η* leaves a sharp minimum for a flatter one",
                run: factorisation,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "networks",
                description: "tanh MLP on iris: FO-GD edge of stability; ZO-GD at a minimum at 0.8η* and 1.25η*; ZO training against the tracked interval",
                run: networks,
                rounding: Rounding::EXACT,
            },
        ],
    }
}
