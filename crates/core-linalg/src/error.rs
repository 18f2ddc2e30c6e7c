use thiserror::Error;

/// Everything that can be wrong with the input to a `core-linalg` routine.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LinalgError {
    /// An input that must hold at least one element was empty.
    #[error("{what} is empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A NaN or infinite value where only finite values make sense.
    #[error("{what} has a non-finite value {value} at index {index}")]
    NonFinite {
        /// What held the value.
        what: &'static str,
        /// Flat index of the value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A negative entry in something that must be a probability.
    #[error("{what} has a negative entry {value} at ({row}, {col})")]
    Negative {
        /// What held the value.
        what: &'static str,
        /// Row of the entry.
        row: usize,
        /// Column of the entry.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// A column, row or vector that must sum to one does not.
    #[error("{what} {index} sums to {sum}, expected 1 ± {tol}")]
    BadSum {
        /// "column", "row" or "vector".
        what: &'static str,
        /// Which column or row (0 for a vector).
        index: usize,
        /// The measured sum.
        sum: f64,
        /// The tolerance used.
        tol: f64,
    },
    /// Shapes that must agree do not.
    #[error("shape mismatch: {what}: expected {expected}, got {got}")]
    Shape {
        /// What was compared.
        what: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape received, in words.
        got: String,
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
    /// An iterative evaluation did not converge within its iteration limit.
    #[error("{what} did not converge in {iterations} iterations")]
    NotConverged {
        /// What was being evaluated.
        what: &'static str,
        /// The iterations spent.
        iterations: usize,
    },
}

/// Fails with [`LinalgError::Empty`] or [`LinalgError::NonFinite`] unless every value is finite.
pub fn check_finite(what: &'static str, xs: &[f64]) -> Result<(), LinalgError> {
    if xs.is_empty() {
        return Err(LinalgError::Empty { what });
    }
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(LinalgError::NonFinite {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

/// Fails unless `level` is a confidence level in `(0, 1)`.
pub(crate) fn check_level(level: f64) -> Result<(), LinalgError> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(LinalgError::Parameter {
            name: "level",
            value: level,
            reason: "confidence level must lie in (0, 1)",
        })
    }
}

/// Fails unless `trials > 0` and `successes ≤ trials`.
pub(crate) fn check_binomial(successes: u64, trials: u64) -> Result<(), LinalgError> {
    if trials == 0 {
        return Err(LinalgError::Empty {
            what: "binomial trials",
        });
    }
    if successes > trials {
        return Err(LinalgError::Parameter {
            name: "successes",
            value: successes as f64,
            reason: "cannot exceed the number of trials",
        });
    }
    Ok(())
}
