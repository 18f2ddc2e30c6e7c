use thiserror::Error;

/// Everything that can be wrong with the input to a `disturbance-bounds` routine.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BoundsError {
    /// A parameter outside its valid range (a rate `ρ ≥ 1`, a non-positive `μ` or `L`, …).
    #[error("invalid parameter {name} = {value}: {reason}")]
    Parameter {
        /// Parameter name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A step size outside the range a rate is certified for.
    #[error("step size {eta} is outside the certified range (0, {max}] ({why})")]
    StepSize {
        /// The step size given.
        eta: f64,
        /// The largest certified step size.
        max: f64,
        /// Which certificate.
        why: &'static str,
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
    /// An input that must hold at least one element was empty.
    #[error("{what} is empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A result too large for an `f64` (the inputs were finite but extreme).
    #[error("{what} overflows f64 ({value})")]
    Overflow {
        /// What was computed.
        what: &'static str,
        /// The value reached.
        value: f64,
    },
    /// A bound that needs a contraction in the Euclidean norm (`c = 1`) got a rate with `c > 1`.
    #[error("the mean-square bound needs a Euclidean contraction (c = 1), got c = {c}")]
    NotContractive {
        /// The rate's constant.
        c: f64,
    },
    /// A numerical routine underneath failed (an unstable matrix, a singular system).
    #[error(transparent)]
    Linalg(#[from] core_linalg::LinalgError),
    /// The shipped data set could not be read (the data crate's error, in words).
    #[error("data: {0}")]
    Data(String),
}

impl From<core_data::DataError> for BoundsError {
    fn from(e: core_data::DataError) -> Self {
        BoundsError::Data(e.to_string())
    }
}

/// Short for `Result<T, BoundsError>`.
pub type Result<T> = std::result::Result<T, BoundsError>;

/// Fails with [`BoundsError::NonFinite`] at the first non-finite value (core-linalg's check,
/// its error in this crate's terms).
pub(crate) fn check_finite(what: &'static str, xs: &[f64]) -> Result<()> {
    core_linalg::check_finite(what, xs).map_err(|e| match e {
        core_linalg::LinalgError::NonFinite { what, index, value } => {
            BoundsError::NonFinite { what, index, value }
        }
        other => BoundsError::Linalg(other),
    })
}

/// Fails unless `value` is finite and non-negative (a norm, a radius, a tolerance).
pub(crate) fn check_non_negative(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(BoundsError::Parameter {
            name,
            value,
            reason: "must be finite and non-negative",
        })
    }
}

/// `value` when finite, else [`BoundsError::Overflow`].
pub(crate) fn finite(what: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(BoundsError::Overflow { what, value })
    }
}

/// Fails unless `value` is finite and strictly positive.
pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(BoundsError::Parameter {
            name,
            value,
            reason: "must be finite and positive",
        })
    }
}

/// Fails unless `value` lies in `[0, 1)`.
pub(crate) fn check_rate(name: &'static str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(BoundsError::Parameter {
            name,
            value,
            reason: "a convergence rate must lie in [0, 1)",
        })
    }
}
