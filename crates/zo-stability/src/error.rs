use thiserror::Error;

/// Everything that can be wrong with the input to a `zo-stability` routine.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ZoError {
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
        /// Index of the value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A parameter outside its valid range (a step size `η ≤ 0`, a momentum `β ∉ [0, 1)`, …).
    #[error("invalid parameter {name} = {value}: {reason}")]
    Parameter {
        /// Parameter name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Dimensions that must agree do not.
    #[error("dimension mismatch: {what}: expected {expected}, got {got}")]
    Dimension {
        /// What was compared.
        what: &'static str,
        /// The expected dimension.
        expected: usize,
        /// The dimension received.
        got: usize,
    },
    /// A matrix that must be symmetric is not.
    #[error("the matrix is not symmetric: |A[{row},{col}] − A[{col},{row}]| = {gap}")]
    NotSymmetric {
        /// Row of the worst pair.
        row: usize,
        /// Column of the worst pair.
        col: usize,
        /// Their difference.
        gap: f64,
    },
    /// A spectrum with a negative eigenvalue where the theorem needs `H ⪰ 0` (use
    /// [`Curvature::PositivePart`](crate::Curvature::PositivePart) to drop such directions).
    #[error("eigenvalue {value} at index {index} is negative: the stability theorems need H ⪰ 0 (or the positive-part option)")]
    Indefinite {
        /// Index of the eigenvalue.
        index: usize,
        /// The eigenvalue.
        value: f64,
    },
    /// A spectrum without positive curvature: every step size is stable and no threshold exists.
    #[error("the spectrum has no positive eigenvalue: every step size is mean-square stable")]
    NoCurvature,
    /// An objective returned a non-finite value or a run left the finite numbers.
    #[error("{what} is not finite ({value})")]
    Diverged {
        /// What was evaluated.
        what: &'static str,
        /// The value reached.
        value: f64,
    },
    /// A candle model or core-ml failed (feature `candle`), in words.
    #[error("model: {0}")]
    Model(String),
    /// A numerical routine underneath failed.
    #[error(transparent)]
    Linalg(#[from] core_linalg::LinalgError),
}

/// Short for `Result<T, ZoError>`.
pub type Result<T, E = ZoError> = std::result::Result<T, E>;

/// Fails unless every value is finite (and there is at least one).
pub(crate) fn check_finite(what: &'static str, xs: &[f64]) -> Result<()> {
    core_linalg::check_finite(what, xs).map_err(|e| match e {
        core_linalg::LinalgError::Empty { what } => ZoError::Empty { what },
        core_linalg::LinalgError::NonFinite { what, index, value } => {
            ZoError::NonFinite { what, index, value }
        }
        e => ZoError::Linalg(e),
    })
}

/// Fails unless `value` lies in the range that `ok` accepts.
pub(crate) fn check_param(
    name: &'static str,
    value: f64,
    ok: bool,
    reason: &'static str,
) -> Result<()> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(ZoError::Parameter {
            name,
            value,
            reason,
        })
    }
}
