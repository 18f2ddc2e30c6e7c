use core_linalg::LinalgError;
use thiserror::Error;

/// Everything that can be wrong with the input to a conformal routine.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ConformalError {
    /// The miscoverage level is not in `(0, 1)`.
    #[error("miscoverage level α = {0} must lie in (0, 1)")]
    Alpha(f64),
    /// An input that needs at least one element had none.
    #[error("{what} is empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// Lengths or widths that must agree do not.
    #[error("shape mismatch: {what}: expected {expected}, got {got}")]
    Shape {
        /// What was compared.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// A NaN or infinite value.
    #[error("{what} has a non-finite value {value} at row {row}")]
    NonFinite {
        /// What held it.
        what: &'static str,
        /// Its row.
        row: usize,
        /// The value.
        value: f64,
    },
    /// A row of probabilities is not a probability vector.
    #[error("probability row {row}: {source}")]
    Probabilities {
        /// The row.
        row: usize,
        /// What is wrong with it.
        source: LinalgError,
    },
    /// A label is not below the number of classes.
    #[error("label {label} at row {row} is out of range for {n_classes} classes")]
    Label {
        /// The row.
        row: usize,
        /// The label.
        label: usize,
        /// The number of classes.
        n_classes: usize,
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
    /// No calibration size up to the search limit meets the target.
    #[error("no calibration size up to {limit} gives coverage ≥ {level} with probability ≥ {confidence}")]
    ImpossibleTarget {
        /// The coverage level `1 − α − ε` asked for.
        level: f64,
        /// The probability `1 − δ` asked for.
        confidence: f64,
        /// The largest size searched.
        limit: usize,
    },
    /// A numerical routine failed.
    #[error(transparent)]
    Numeric(#[from] LinalgError),
}

/// `Result` with [`ConformalError`].
pub type Result<T> = std::result::Result<T, ConformalError>;

pub(crate) fn check_alpha(alpha: f64) -> Result<()> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(ConformalError::Alpha(alpha))
    }
}
