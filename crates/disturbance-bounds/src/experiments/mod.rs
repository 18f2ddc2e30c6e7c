//! The paper's experiments, run by `cargo xtask reproduce disturbance-bounds` (feature
//! `experiments`). The paper's own experiments are unknown (the notes: "the article appears
//! mainly theoretical"), so nothing here is presented as reproducing a figure of the paper:
//! these are the checks of the theorem and its applications that the paper notes set out.
//!
//! 1. [`trajectory`]: bounded, adversarial, quantisation and delay disturbances on a quadratic
//!    and on logistic regression (breast cancer): the trajectory bound at every step, and its
//!    tightness for a constant disturbance along the weakest eigenvector.
//! 2. [`quantised`]: distributed gradient descent whose workers send b-bit gradients: the
//!    measured error floor against the predicted one, nearest and dithered rounding.
//! 3. [`stability`]: gradient descent on two data sets differing in one sample: the parameter
//!    gap against `2G/(μn)` and its slope in `n`.
//! 4. [`privacy`]: noisy gradient descent: the stationary mean-square error against the exact
//!    value (isotropic) and the bound (anisotropic), and the privacy–utility curve.
//! 5. [`delay`]: delayed gradients: convergence wherever the small-gain condition holds, and
//!    the measured instability threshold beside the certified one.

mod delay;
mod privacy;
mod quantised;
mod stability;
mod trajectory;

pub use delay::delay;
pub use privacy::privacy;
pub use quantised::quantised;
pub use stability::stability;
pub use trajectory::trajectory;

use crate::{Quadratic, Result};
use nalgebra::DVector;
use rand::RngExt;
use repro::{Experiment, Paper, Rounding};

/// A quadratic in dimension `n` with eigenvalues evenly spaced on `[1, κ]` (so `μ = 1`,
/// `L = κ`), a random rotation and a minimiser uniform in `[−1, 1]^n`, all from `seed`.
pub(crate) fn quadratic(n: usize, kappa: f64, seed: u64) -> Result<Quadratic> {
    let eigs: Vec<f64> = (0..n)
        .map(|i| {
            if n == 1 {
                1.0
            } else {
                1.0 + (kappa - 1.0) * i as f64 / (n - 1) as f64
            }
        })
        .collect();
    let mut rng = core_linalg::stream_rng(seed, 1);
    let x_star = DVector::from_fn(n, |_, _| rng.random::<f64>() * 2.0 - 1.0);
    Quadratic::with_spectrum(&eigs, x_star, seed)
}

/// Every `stride`-th point of a series and its last, for plots of long runs.
pub(crate) fn thin(ys: &[f64], stride: usize) -> (Vec<f64>, Vec<f64>) {
    let mut xs = Vec::new();
    let mut out = Vec::new();
    for (k, &y) in ys.iter().enumerate() {
        if k % stride == 0 || k + 1 == ys.len() {
            xs.push(k as f64);
            out.push(y);
        }
    }
    (xs, out)
}

/// The paper's registry entry.
pub fn paper() -> Paper {
    Paper {
        name: "disturbance-bounds",
        title: "A Systems-Theoretic View on the Convergence of Algorithms under Disturbances",
        experiments: vec![
            Experiment {
                name: "trajectory",
                description: "the ISS trajectory bound under bounded, adversarial, quantisation and delay disturbances; tightness",
                run: trajectory,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "quantised",
                description: "distributed gradient descent with b-bit communication: error floors vs the prediction",
                run: quantised,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "stability",
                description: "algorithmic stability: data sets differing in one sample, gap vs 2G/(μn)",
                run: stability,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "privacy",
                description: "noisy gradient descent: stationary error vs the exact value and the bound; privacy–utility",
                run: privacy,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "delay",
                description: "delayed gradients: convergence under the small-gain condition; measured vs certified delay",
                run: delay,
                rounding: Rounding::EXACT,
            },
        ],
    }
}
