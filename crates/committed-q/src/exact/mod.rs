//! Exact tools beside the learners, for small tabular environments: policy evaluation, the
//! optimal reactive policy by enumeration, state-based `q*` and `q*`-realizability, the fixed
//! point of the expected Q-learning update under a committed or regular behaviour, and the
//! paper's assumption as code — committed sojourn laws, the SMDP over entrance values, and the
//! quasi-Markov and rewire-robustness checks ([`sojourn_law`], [`smdp_optimum`],
//! [`quasi_markov`], [`rewire_robustness`]).
//!
//! All values are undiscounted episode returns, defined for *proper* policies (those that end the
//! episode with probability one from every state they reach); improper policies are reported as
//! such ([`crate::CommittedQError::ImproperPolicy`]) and skipped by the enumeration.

mod chain;
mod fixed_point;
mod mdp;
mod policy;
mod smdp;

pub use fixed_point::{behaviour_fixed_point, behaviour_occupancy, FixedPoint};
pub use mdp::{optimal_state_q, q_star_realizability, Realizability, MAX_SWEEPS};
pub use policy::{
    evaluate_policy, features_reached, optimal_reactive_policy, policy_from_index, PolicyValue,
    ReactiveOptimum, ReactivePolicy, ENUMERATION_LIMIT,
};
pub use smdp::{
    entrance_distributions, quasi_markov, rewire_robustness, smdp_optimum, sojourn_law,
    QuasiMarkov, RewireRobustness, SmdpOptimum, SojournLaw, CHECK_POLICY_LIMIT,
};

pub(crate) use policy::check_policy_shape;
