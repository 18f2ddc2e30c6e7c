use core_linalg::LinalgError;
use thiserror::Error;

/// Everything that can be wrong with a model, a filter's configuration or its input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum HmmError {
    /// Matrix or vector shapes that must agree do not.
    #[error("shape mismatch: {what}: expected {expected}, got {got}")]
    Shape {
        /// What was compared.
        what: &'static str,
        /// Expected shape, in words.
        expected: String,
        /// Shape received.
        got: String,
    },
    /// A controlled model needs at least one action.
    #[error("a controlled HMM needs at least one transition matrix")]
    NoActions,
    /// A transition matrix is not column-stochastic.
    #[error("transition matrix of action {action} is not column-stochastic: {source}")]
    Transition {
        /// Which action's matrix.
        action: usize,
        /// What is wrong.
        source: LinalgError,
    },
    /// The emission matrix is not column-stochastic (`E[o, s] = P(o | s)`).
    #[error("emission matrix is not column-stochastic: {0}")]
    Emission(LinalgError),
    /// The initial distribution is not a probability vector.
    #[error("initial distribution is invalid: {0}")]
    Initial(LinalgError),
    /// A transition matrix column is not a point mass where a deterministic one is required.
    #[error("transition of action {action} is not deterministic: column {column} has largest entry {max_entry} (expected 1 ± {tol} and exact zeros elsewhere)")]
    NotDeterministic {
        /// Which action.
        action: usize,
        /// Which column (source state).
        column: usize,
        /// Its largest entry.
        max_entry: f64,
        /// Tolerance used.
        tol: f64,
    },
    /// A deterministic transition is not a permutation where one is required.
    #[error("transition of action {action} is not a permutation: state {state} has {predecessors} predecessors (expected 1)")]
    NotPermutation {
        /// Which action.
        action: usize,
        /// A state without exactly one predecessor.
        state: usize,
        /// How many it has.
        predecessors: usize,
    },
    /// A zero emission probability where the linear filter needs `E > 0` (its logits would be −∞).
    #[error(
        "emission probability E[{obs}, {state}] is 0, but the linear filter needs E > 0 there"
    )]
    ZeroEmission {
        /// Observation.
        obs: usize,
        /// State.
        state: usize,
    },
    /// A structure only defined for a single action was asked of a controlled model.
    #[error("this filter needs an uncontrolled model (one action), got {0} actions")]
    NeedsOneAction(usize),
    /// An observation index outside the alphabet.
    #[error("observation {obs} out of range (model has {n_obs} observations)")]
    ObservationOutOfRange {
        /// The observation.
        obs: usize,
        /// Alphabet size.
        n_obs: usize,
    },
    /// An action index outside the action set.
    #[error("action {action} out of range (model has {n_actions} actions)")]
    ActionOutOfRange {
        /// The action.
        action: usize,
        /// Number of actions.
        n_actions: usize,
    },
    /// The observation has probability zero under the current belief.
    #[error("observation {obs} has probability 0 under the current belief")]
    ImpossibleObservation {
        /// The observation.
        obs: usize,
    },
    /// A forgetting factor outside `[0, 1]`.
    #[error("delta = {0} must lie in [0, 1]")]
    InvalidDelta(f64),
    /// A near-determinism level outside `(0, 1)`.
    #[error("epsilon = {0} must lie in (0, 1)")]
    InvalidEpsilon(f64),
    /// A request this implementation does not serve, with the reason.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An input (initial logits, correction) with a NaN.
    #[error("{what} contains NaN at index {index}")]
    NaN {
        /// What held the NaN.
        what: &'static str,
        /// Where.
        index: usize,
    },
    /// Logits that define no belief: a `+∞` entry (index given) or every entry `−∞`.
    #[error("{what} define no belief: {reason}")]
    NoBelief {
        /// What held the logits.
        what: &'static str,
        /// `"+∞ at index i"` or `"every entry is −∞"`, in words.
        reason: String,
    },
    /// A state index outside the state space.
    #[error("state {state} out of range (model has {n_states} states)")]
    StateOutOfRange {
        /// The state.
        state: usize,
        /// Number of states.
        n_states: usize,
    },
    /// A quadrature (for [`chernoff_xi`](crate::chernoff_xi)) whose error estimate exceeds its
    /// tolerance.
    #[error("quadrature did not converge: integral {integral} with error estimate {error_estimate} > tolerance {tolerance}")]
    Quadrature {
        /// The integral's value.
        integral: f64,
        /// The quadrature's own error estimate.
        error_estimate: f64,
        /// The tolerance it had to meet.
        tolerance: f64,
    },
    /// A transition matrix that is not near-deterministic: a column whose largest entry is tied
    /// (no unique most likely successor) or at most 1/2 (ε ≥ 1/2).
    #[error("transition is not near-deterministic at column {column}: {reason}")]
    NotNearDeterministic {
        /// The column (source state).
        column: usize,
        /// Why, in words.
        reason: String,
    },
}

/// Fails unless `w` holds `n` values, none NaN or `+∞`, and not all `−∞` (a single `−∞` is
/// allowed: a zero-probability state).
pub(crate) fn check_logits(what: &'static str, n: usize, w: &[f64]) -> Result<(), HmmError> {
    if w.len() != n {
        return Err(HmmError::Shape {
            what,
            expected: format!("{n}"),
            got: format!("{}", w.len()),
        });
    }
    if let Some(index) = w.iter().position(|x| x.is_nan()) {
        return Err(HmmError::NaN { what, index });
    }
    if let Some(index) = w.iter().position(|&x| x == f64::INFINITY) {
        return Err(HmmError::NoBelief {
            what,
            reason: format!("+∞ at index {index}"),
        });
    }
    if !w.is_empty() && w.iter().all(|&x| x == f64::NEG_INFINITY) {
        return Err(HmmError::NoBelief {
            what,
            reason: "every entry is −∞".into(),
        });
    }
    Ok(())
}
