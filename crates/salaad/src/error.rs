use thiserror::Error;

/// Everything that can be wrong with the input to a `salaad` routine.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SalaadError {
    /// Shapes or lengths that must agree do not.
    #[error("shape mismatch: {what}: expected {expected}, got {got}")]
    Shape {
        /// What was compared.
        what: &'static str,
        /// The expected shape, as `rows×cols` or a length.
        expected: String,
        /// The shape received.
        got: String,
    },
    /// A NaN or infinite value where only finite values make sense.
    #[error("{what} has a non-finite value {value} at index {index}")]
    NonFinite {
        /// What held the value.
        what: &'static str,
        /// Index of the value (column-major for matrices).
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A target that cannot be reached: a rank ratio or density outside `(0, 1]`, or a
    /// parameter budget below what the parts that are never compressed already take.
    #[error("impossible target {name} = {value}: {reason}")]
    Target {
        /// Which target.
        name: &'static str,
        /// Its value.
        value: f64,
        /// Why it cannot be reached.
        reason: &'static str,
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
    /// A matrix or list with no entries.
    #[error("{what} is empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// An iterative routine that stopped before its tolerance.
    #[error("{what} did not converge in {iterations} iterations (residual {residual})")]
    NoConvergence {
        /// Which routine.
        what: &'static str,
        /// Iterations run.
        iterations: usize,
        /// The residual reached.
        residual: f64,
    },
    /// An error from the model (candle).
    #[error("model: {0}")]
    Model(String),
}

/// Result alias of the crate.
pub type Result<T, E = SalaadError> = std::result::Result<T, E>;

/// Checks that every value of `xs` is finite.
pub(crate) fn check_finite(what: &'static str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(SalaadError::NonFinite {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

/// Checks a matrix: not empty and finite.
pub(crate) fn check_matrix(what: &'static str, m: &nalgebra::DMatrix<f64>) -> Result<()> {
    if m.is_empty() {
        return Err(SalaadError::Empty { what });
    }
    check_finite(what, m.as_slice())
}

/// Checks that `m` is `rows × cols`.
pub(crate) fn check_shape(
    what: &'static str,
    m: &nalgebra::DMatrix<f64>,
    rows: usize,
    cols: usize,
) -> Result<()> {
    if m.shape() != (rows, cols) {
        return Err(SalaadError::Shape {
            what,
            expected: format!("{rows}×{cols}"),
            got: format!("{}×{}", m.nrows(), m.ncols()),
        });
    }
    Ok(())
}

/// Checks a ratio target in `(0, 1]`.
pub(crate) fn check_ratio(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(SalaadError::Target {
            name,
            value,
            reason: "must lie in (0, 1]",
        })
    }
}

/// Checks a finite value ≥ 0.
pub(crate) fn check_nonneg(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(SalaadError::Parameter {
            name,
            value,
            reason: "must be finite and ≥ 0",
        })
    }
}

/// Checks a finite value > 0.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(SalaadError::Parameter {
            name,
            value,
            reason: "must be finite and > 0",
        })
    }
}
