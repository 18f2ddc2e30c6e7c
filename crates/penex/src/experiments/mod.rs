//! The paper's experiments, run by `cargo xtask reproduce penex` (feature `experiments`).
//!
//! 1. [`gradient_fisher`]: analytic gradient vs finite differences and autograd; gradient
//!    descent on free logits reaches the Fisher-consistent optimum; the running `ρ`.
//! 2. [`margins_toy`]: normalised minimum margin of a linear model on separable data, PENEX
//!    vs cross-entropy.
//! 3. [`digits`]: an MLP on 300 digits with 0% and 20% label noise, every loss.
//! 4. [`implicit_boosting`]: one gradient step's logit change vs `−η J Jᵀ ∇_f L`.
//! 5. [`mnist`]: a small ConvNet on real MNIST digits with clean and 10% noisy labels, every
//!    baseline of the paper's Table 1 (the choices are listed in its module).

mod boosting;
mod digits;
mod fisher;
mod mnist;
mod toy;

pub use boosting::implicit_boosting;
pub use digits::digits;
pub use fisher::gradient_fisher;
pub use mnist::mnist;
pub use toy::margins_toy;

use core_ml::train::{OptimizerKind, Schedule};
use core_ml::trainer::{DecayRule, TrainerConfig};
use repro::{Experiment, Paper, Rounding};

/// The seeds of one replicate, shared by every loss (common random numbers).
#[derive(Debug, Clone, Copy)]
struct Seeds {
    /// Split, initialisation and batch order.
    model: u64,
    /// Which labels are flipped.
    noise: u64,
}

/// The training runs' optimiser: Adam at 1e-3 without weight decay, constant rate, gradient
/// clip 5, for `steps` steps.
fn adam(steps: usize) -> TrainerConfig {
    TrainerConfig {
        lr: 1e-3,
        optimizer: OptimizerKind::AdamW { weight_decay: 0.0 },
        schedule: Schedule::Constant,
        total_steps: steps,
        grad_clip: Some(5.0),
        decay: DecayRule::Uniform,
    }
}

/// The runs of the cell (noise level `ni`, loss `li`), in seed order: `jobs[i] = (noise,
/// loss, seed)` is the job that produced `runs[i]`.
fn runs_at<'a, R>(jobs: &[(usize, usize, u64)], runs: &'a [R], ni: usize, li: usize) -> Vec<&'a R> {
    jobs.iter()
        .zip(runs)
        .filter(|((n, l, _), _)| *n == ni && *l == li)
        .map(|(_, r)| r)
        .collect()
}

/// The paper's registry entry.
pub fn paper() -> Paper {
    Paper {
        name: "penex",
        title: "PENEX: AdaBoost-Inspired Neural Network Regularization",
        experiments: vec![
            Experiment {
                name: "gradient-fisher",
                description: "analytic gradient, autograd, Fisher-consistent optimum, running ρ",
                run: gradient_fisher,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "margins-toy",
                description: "normalised minimum margin on separable data: PENEX vs cross-entropy",
                run: margins_toy,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "digits",
                description: "MLP on 300 digits, 0% and 20% label noise, every loss",
                run: digits,
                rounding: Rounding::TRAINED,
            },
            Experiment {
                name: "implicit-boosting",
                description: "a gradient step's logit change vs −η J Jᵀ ∇_f L",
                // An f64 MLP through candle's matrix kernels, chosen per CPU.
                run: implicit_boosting,
                rounding: Rounding::TRAINED,
            },
            Experiment {
                name: "mnist",
                description: "ConvNet on real MNIST, clean and 10% noisy labels, Table 1's losses",
                run: mnist,
                rounding: Rounding::TRAINED,
            },
        ],
    }
}
