//! The paper's experiments, run by `cargo xtask reproduce penex` (feature `experiments`).
//!
//! 1. [`gradient_fisher`]: analytic gradient vs finite differences and autograd; gradient
//!    descent on free logits reaches the Fisher-consistent optimum; the running `ρ`.
//! 2. [`margins_toy`]: normalised minimum margin of a linear model on separable data, PENEX
//!    vs cross-entropy.
//! 3. [`digits`]: an MLP on 300 digits with 0% and 20% label noise, every loss.
//! 4. [`implicit_boosting`]: one gradient step's logit change vs `−η J Jᵀ ∇_f L`.

mod boosting;
mod digits;
mod fisher;
mod toy;

pub use boosting::implicit_boosting;
pub use digits::digits;
pub use fisher::gradient_fisher;
pub use toy::margins_toy;

use repro::{Experiment, Paper, Rounding};

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
        ],
    }
}
