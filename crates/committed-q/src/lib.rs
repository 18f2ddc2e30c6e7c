//! Committed Q-learning (Eberhard, Vernade & Muehlebach, *Commit to the Bit: Reactive
//! Reinforcement Learning Done Right*, ICML 2026): learning the optimal **reactive** policy of a
//! finite episodic environment whose agent sees only a deterministic feature `z = φ(x)` of the
//! state (hard state aggregation).
//!
//! Committed Q-learning is tabular Q-learning on features whose behaviour policy draws an
//! ε-greedy action only at the start of an episode or when the observed feature changes, and
//! otherwise keeps it. Regular Q-learning on features redraws every step and can settle on a
//! self-consistent but wrong fixed point (the corridor below).
//!
//! - [`Environment`]: the finite episodic interface; [`TabularEnv`] explicit tables (validated,
//!   typed errors); [`Corridor`] the paper's corridor.
//! - [`QLearner`] with [`QLearningParams`] (builder) → [`ValidQLearningParams`]
//!   (checked): both learners share [`q_update`], the authors' schedules ([`DecaySchedule`]) and
//!   initialisation; only [`Behaviour`] differs.
//! - [`exact`]: policy evaluation, the optimal reactive policy by enumeration,
//!   `q*`-realizability, the fixed point of the expected update under a behaviour (the
//!   *committed fixed point*), and the assumption as code: committed sojourn laws, the SMDP over
//!   entrance values, [`exact::quasi_markov`] and [`exact::rewire_robustness`] (definitions
//!   reconstructed; the reading is in [`exact`]'s `smdp` docs and below).
//! - [`generators`]: single-entrance chains (the assumption holds trivially), multi-entrance
//!   chains — a rewire-robust, non-realizable family and a control that is neither — and a
//!   counterexample whose best reactive policy is stochastic.
//! - [`run_seeds`], [`QLearner::run_recorded`], [`log_spaced`]: many seeds in parallel, `Q` at
//!   log-spaced times; [`QLearningParams::gamma`] and [`QLearningParams::time_limit`] for
//!   discounted and truncated episodes; `serde` (feature) for tables and parameters.
//!
//! # Example: the corridor
//! ```
//! use committed_q::{exact, Corridor, QLearner, QLearningParams, RIGHT};
//! use core_linalg::seeded_rng;
//!
//! let env = Corridor::new(5)?;
//! let mut rng = seeded_rng(1);
//! let mut agent = QLearner::new(&env, QLearningParams::committed(10_000).check()?, &mut rng);
//! agent.run(10_000, &mut rng);
//! // Going right in both features is optimal, and committed Q-learning finds it.
//! assert!(agent.q().strictly_prefers(&[RIGHT, RIGHT]));
//!
//! // The exact tools agree: (R, R) is the optimal reactive policy, with return 0.
//! let best = exact::optimal_reactive_policy(&env.to_tabular())?;
//! assert_eq!(best.policy, vec![RIGHT, RIGHT]);
//! assert!(best.value.abs() < 1e-12);
//! # Ok::<(), committed_q::CommittedQError>(())
//! ```
//!
//! # Choices the paper leaves open
//! The full text was not available; the algorithm and schedules follow the authors' code as
//! described in the paper notes. Where that left room:
//! - `t` counts environment steps from 0 across episodes; `α(t)` and `ε(t)` use the step being
//!   taken, and the action drawn after an update uses the same `ε(t)`.
//! - The very first action is uniform (the authors' initial `π = [.5, .5]`); every later draw is
//!   ε-greedy on the current `Q` (the first maximiser on ties).
//! - Policies are compared by their exact value where ties are possible; the corridor metric is
//!   the authors' strict comparison (a tie is not optimal).
//! - The assumption (reconstructed): a committed sojourn's law — expected reward, expected
//!   length, exit-state distribution — for an entrance distribution over a feature's states;
//!   *quasi-Markov* when every `(z, u)` has the same law under the entrance distributions every
//!   deterministic reactive policy induces (committed, ε-greedy); *rewire-robust* when, for
//!   every such policy, the optimum of the environment rewired to its entrance distributions
//!   (the SMDP over entrance values) is optimal in the original. The checks enumerate policies
//!   (at most [`exact::CHECK_POLICY_LIMIT`]).
//! - The exact tools are undiscounted (the paper's setting); a discount `γ < 1` serves the
//!   learners only.
//! - The committed fixed point is computed for the ε-greedy behaviour around a given policy
//!   ([`exact::behaviour_fixed_point`]); in single-entrance environments (the corridor and
//!   [`generators::aliased_chains`]) it does not depend on ε.

pub mod agent;
mod corridor;
mod env;
mod error;
pub mod exact;
pub mod generators;
mod tabular;

#[cfg(feature = "experiments")]
pub mod experiments;

pub use agent::{
    log_spaced, q_update, q_update_discounted, run_seeds, Behaviour, DecaySchedule, QLearner,
    QLearningParams, QTable, Recording, StepRecord, ValidQLearningParams,
};
pub use corridor::{Corridor, LEFT, RIGHT};
pub use env::{Environment, Transition};
pub use error::{CommittedQError, Result};
pub use tabular::{Branch, TabularEnv, MAX_ABS_REWARD};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
