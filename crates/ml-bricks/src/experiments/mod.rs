//! The experiments, run by `cargo xtask reproduce ml-bricks` (feature `experiments`):
//! simulated classrooms for each activity.
//!
//! The paper's evaluation — pre- and post-surveys of 14 students aged 12–17 — is a human
//! study and cannot be reproduced by computation; these experiments check the algorithms the
//! students use and what a simulated class would see.
//!
//! 1. [`fruit`]: the decision-border map against per-point prediction, the tie rule, and
//!    held-out accuracy with 3 + 3 training points at k = 3.
//! 2. [`pitcher`]: least squares against an independent solver and its neighbours, and aimed
//!    throws.
//! 3. [`crawler`]: the Q-update against a hand-computed trace, how fast exploration learns
//!    every reward, and the greedy gait's speed.

mod crawler;
mod fruit;
mod pitcher;

pub use crawler::crawler;
pub use fruit::fruit;
pub use pitcher::pitcher;

use repro::{Experiment, Paper, Rounding};

/// The paper's registry entry.
pub fn paper() -> Paper {
    Paper {
        name: "ml-bricks",
        title: "Teaching Machine Learning Fundamentals with LEGO Robotics",
        experiments: vec![
            Experiment {
                name: "fruit",
                description: "KNN fruit detector: decision border = per-point prediction, ties undecided, accuracy with 3 + 3 points at k = 3",
                run: fruit,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "pitcher",
                description: "linear-regression pitcher: least squares vs an independent solver and its neighbours; aimed throws within 5 cm",
                run: pitcher,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "crawler",
                description: "Q-learning crawler: the update against a hand trace; every reward learned within 60 moves at ε = 0.7; the greedy gait's speed",
                run: crawler,
                rounding: Rounding::EXACT,
            },
        ],
    }
}
