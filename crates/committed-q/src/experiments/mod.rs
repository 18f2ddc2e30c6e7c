//! The paper's experiments, run by `cargo xtask reproduce committed-q` (feature `experiments`).
//!
//! 1. [`corridor`]: the authors' corridor; fraction of runs whose greedy policy is optimal for
//!    committed and regular Q-learning, over `k` and `T`, with the exact tools as checks.
//! 2. [`aliased`]: random multi-entrance aliased chains, a rewire-robust family (not
//!    `q*`-realizable) and a control that is neither: learned greedy policies vs the exact
//!    optimal reactive policy, several seeds per instance, with the assumption checked exactly.
//! 3. [`stochastic`]: a Singh–Jaakkola–Jordan-style negative control whose best reactive policy
//!    is stochastic.

mod aliased;
mod corridor;
mod stochastic;

pub use aliased::aliased;
pub use corridor::{corridor, log_checkpoints};
pub use stochastic::stochastic;

use repro::{Experiment, Paper, Rounding};

/// The paper's registry entry.
pub fn paper() -> Paper {
    Paper {
        name: "committed-q",
        title: "Commit to the Bit: Reactive Reinforcement Learning Done Right",
        experiments: vec![
            Experiment {
                name: "corridor",
                description: "the corridor: committed vs regular Q-learning over k and T",
                run: corridor,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "aliased",
                description: "multi-entrance aliased chains: a rewire-robust family and a control",
                run: aliased,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "stochastic",
                description: "negative control: the best reactive policy is stochastic",
                run: stochastic,
                rounding: Rounding::EXACT,
            },
        ],
    }
}
