use core_linalg::LinalgError;
use thiserror::Error;

/// Everything that can be wrong with an environment, a policy or a learner's configuration.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CommittedQError {
    /// Something that needs at least one element had none.
    #[error("{what} is empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// Lengths that must agree do not.
    #[error("shape mismatch: {what}: expected {expected}, got {got}")]
    Shape {
        /// What was compared.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// A state's feature is not below the number of features.
    #[error("state {state} has feature {feature}, but there are only {n_features} features")]
    FeatureOutOfRange {
        /// The state.
        state: usize,
        /// Its feature.
        feature: usize,
        /// The number of features.
        n_features: usize,
    },
    /// A transition leads to a state that does not exist.
    #[error("state {state}, action {action}: next state {next} is not below {n_states}")]
    StateOutOfRange {
        /// The state.
        state: usize,
        /// The action.
        action: usize,
        /// The offending next state.
        next: usize,
        /// The number of states.
        n_states: usize,
    },
    /// An action index is not below the number of actions.
    #[error("action {action} is not below the number of actions {n_actions}")]
    ActionOutOfRange {
        /// The action.
        action: usize,
        /// The number of actions.
        n_actions: usize,
    },
    /// A distribution (initial states, a transition row, a policy row) is not a probability
    /// vector.
    #[error("{what}: {source}")]
    Probability {
        /// Which distribution, e.g. "transition of state 3, action 1".
        what: String,
        /// What is wrong with it.
        source: LinalgError,
    },
    /// A NaN or infinite number where a finite one is needed.
    #[error("{what} is not finite: {value}")]
    NonFinite {
        /// What held the value.
        what: String,
        /// The value.
        value: f64,
    },
    /// A parameter outside its valid range.
    #[error("invalid parameter {name} = {value}: {reason}")]
    Parameter {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A proper chain whose expected visit counts overflow f64: episodes end with probability
    /// one, but so slowly (an exit probability near 1e-300, say) that the solve is singular in
    /// floating point.
    #[error("{what}: the linear solve is numerically singular (episodes end with probability one, but expected lengths overflow f64)")]
    IllConditioned {
        /// Which solve.
        what: &'static str,
    },
    /// A policy does not end its episodes with probability one, so its undiscounted value is
    /// undefined.
    #[error("the policy is improper: from state {state} the episode never ends")]
    ImproperPolicy {
        /// A reachable state from which no terminal transition can be reached.
        state: usize,
    },
    /// No deterministic reactive policy is proper.
    #[error("no deterministic reactive policy ends its episodes with probability one")]
    NoProperPolicy,
    /// Enumeration would visit more policies than the limit.
    #[error("{count} deterministic reactive policies exceed the enumeration limit {limit}")]
    TooManyPolicies {
        /// `n_actions^n_features` (saturated at `u64::MAX`).
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// An iterative solver stopped before converging.
    #[error("{what} did not converge in {iterations} iterations (residual {residual})")]
    NotConverged {
        /// Which solver.
        what: &'static str,
        /// Iterations used.
        iterations: usize,
        /// The last residual.
        residual: f64,
    },
}

/// `Result` with [`CommittedQError`].
pub type Result<T> = std::result::Result<T, CommittedQError>;
