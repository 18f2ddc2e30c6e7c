//! The paper's experiments, run by `cargo xtask reproduce hmm-linear-filter` (feature
//! `experiments`).
//!
//! 1. [`exactness`]: the linear filter equals the exact filter (permutation, functional-graph and
//!    action-controlled cases), with a stochastic-`T` negative control.
//! 2. [`two_state_sweep`]: the §6.1 near-deterministic sweep of the ALF's schedules.
//! 3. [`controlled_alf`]: Thm 5.9, the action-controlled ALF on three permutation families.
//! 4. [`xi_constant`]: the constant `ξ` of Thm 5.7.
//! 5. [`ringworld`]: an adapted RingWorld with a linear actor–critic on filter features.

mod controlled;
mod exactness;
mod ringworld;
mod sweep;
mod xi;

pub use controlled::controlled_alf;
pub use exactness::{exactness, max_log_belief_gap, random_permutation_hmm};
pub use ringworld::ringworld;
pub use sweep::two_state_sweep;
pub use xi::xi_constant;

use repro::{Experiment, Paper, Rounding};

/// The paper's registry entry.
pub fn paper() -> Paper {
    Paper {
        name: "hmm-linear-filter",
        title: "Why Linear Recurrent Memory Works in Partially Observable Reinforcement Learning",
        experiments: vec![
            Experiment {
                name: "exactness",
                description: "linear filter = exact log-domain filter for deterministic T",
                run: exactness,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "two-state-sweep",
                description: "§6.1: ALF schedules on the near-deterministic two-state HMM",
                run: two_state_sweep,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "controlled-alf",
                description: "Thm 5.9: action-controlled ALF under random actions",
                run: controlled_alf,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "xi",
                description: "Thm 5.7: the Chernoff-type constant ξ",
                run: xi_constant,
                rounding: Rounding::EXACT,
            },
            Experiment {
                name: "ringworld",
                description:
                    "§6.2 (adapted): linear actor-critic on filter features in a ring POMDP",
                run: ringworld,
                rounding: Rounding::EXACT,
            },
        ],
    }
}
