use thiserror::Error;

/// Everything that can be wrong with the input to a `landing-diffusion` routine.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LandingError {
    /// Lengths or dimensions that must agree do not.
    #[error("dimension mismatch: {what}: expected {expected}, got {got}")]
    Dimension {
        /// What was compared.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// A NaN or infinite value where only finite values make sense (a point, a constraint
    /// value or Jacobian entry computed at a point, a model output).
    #[error("{what} has a non-finite value {value} at index {index}")]
    NonFinite {
        /// What held the value.
        what: &'static str,
        /// Index of the value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A parameter outside its valid range.
    #[error("invalid parameter {name} = {value}: {reason}")]
    Parameter {
        /// Parameter name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Explicit landing with a rate `α σ² Δt` outside `(0, 2)`: the normal pull overshoots and
    /// the violation grows instead of contracting by `1 − α σ² Δt` per step.
    #[error("explicit landing is unstable: α σ² Δt = {rate} at step {step}, must lie in (0, 2)")]
    UnstableLanding {
        /// The rate `α σ_n² Δt`.
        rate: f64,
        /// The step where it is largest.
        step: usize,
    },
    /// A user-supplied Jacobian that disagrees with central finite differences.
    #[error(
        "the Jacobian of constraint {constraint} in coordinate {coordinate} is {analytic}, finite differences give {finite_difference}"
    )]
    JacobianMismatch {
        /// Constraint index (equalities first, then inequalities).
        constraint: usize,
        /// Coordinate index.
        coordinate: usize,
        /// The supplied entry.
        analytic: f64,
        /// The central-difference estimate.
        finite_difference: f64,
    },
    /// The set has no built-in uniform prior (a user-defined set): pass starting points.
    #[error("{set} has no uniform prior to sample from; pass the starting points")]
    NoUniformPrior {
        /// The set's name.
        set: String,
    },
    /// A dataset or batch with no points.
    #[error("{what} is empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// An error from the score network (candle).
    #[error("score network: {0}")]
    Model(String),
}

/// Result alias of the crate.
pub type Result<T, E = LandingError> = std::result::Result<T, E>;

/// Checks that `xs` has `expected` values, all finite.
pub(crate) fn check_point(what: &'static str, xs: &[f64], expected: usize) -> Result<()> {
    if xs.len() != expected {
        return Err(LandingError::Dimension {
            what,
            expected,
            got: xs.len(),
        });
    }
    check_finite(what, xs)
}

/// Checks that every value is finite.
pub(crate) fn check_finite(what: &'static str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(LandingError::NonFinite {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

/// Checks `lo < value < hi` (or `≤` at a closed end).
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(LandingError::Parameter {
            name,
            value,
            reason: "must be finite and > 0",
        })
    }
}

/// Checks a row-major batch of points in `ℝ^dim`: not empty, a whole number of rows, all
/// finite; returns the number of rows.
pub(crate) fn check_rows(what: &'static str, xs: &[f64], dim: usize) -> Result<usize> {
    if xs.is_empty() {
        return Err(LandingError::Empty { what });
    }
    if dim == 0 || !xs.len().is_multiple_of(dim) {
        return Err(LandingError::Dimension {
            what,
            expected: (xs.len() / dim.max(1) + 1) * dim,
            got: xs.len(),
        });
    }
    check_finite(what, xs)?;
    Ok(xs.len() / dim)
}
