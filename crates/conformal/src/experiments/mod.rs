//! The paper's experiments, run by `cargo xtask reproduce conformal` (feature `experiments`).
//!
//! 1. [`exact_law`]: the exact law of calibration-conditional coverage (Beta), the table of the
//!    paper notes, the planner and the PAC rank, with independent checks.
//! 2. [`breast_cancer`] and [`digits`]: a classifier trained on half of the data, then
//!    thousands of random calibration/test splits of the other half for n = 5 … 500: coverage
//!    and set size for LAC, APS and RAPS against the Beta-binomial law.

mod law;
mod model;
mod simulation;

pub use law::exact_law;
pub use model::{pool_probabilities, Pool};
pub use simulation::{breast_cancer, digits};

use repro::{Experiment, Paper, Rounding};

/// The paper's registry entry.
pub fn paper() -> Paper {
    Paper {
        name: "conformal",
        title: "A Critical Perspective on Finite Sample Conformal Prediction Theory in Medical Applications",
        experiments: vec![
            Experiment {
                name: "exact-law",
                description: "the exact Beta law of coverage given one calibration set; planner; PAC rank",
                run: exact_law,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "breast-cancer",
                description: "breast cancer (569 × 30): coverage over 2000+ calibration draws vs the law",
                run: breast_cancer,
                // The classifier is trained with candle; its probabilities are rounded to 4
                // decimals, so a last-bit difference can still move a count by one in a few of
                // the thousands of trials.
                rounding: Rounding::TRAINED,
            },
            Experiment {
                name: "digits",
                description: "digits (1797 × 64, 10 classes): coverage over 2000+ calibration draws vs the law",
                run: digits,
                // The classifier is trained with candle; its probabilities are rounded to 4
                // decimals, so a last-bit difference can still move a count by one in a few of
                // the thousands of trials.
                rounding: Rounding::TRAINED,
            },
        ],
    }
}
