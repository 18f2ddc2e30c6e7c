//! The crate's error type.

use thiserror::Error;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BricksError {
    /// A value that must be finite was NaN or infinite.
    #[error("{what} must be finite, got {value}")]
    NonFinite {
        /// What held the value.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// A value outside the range the activity accepts.
    #[error("{what} = {value} is outside [{lo}, {hi}]")]
    OutOfRange {
        /// The quantity.
        what: &'static str,
        /// The value given.
        value: f64,
        /// The smallest accepted value.
        lo: f64,
        /// The largest accepted value.
        hi: f64,
    },
    /// An index past the end of a list, or a move to the same pose.
    #[error("{what} {index} is not valid ({reason})")]
    Index {
        /// What was indexed.
        what: &'static str,
        /// The index given.
        index: usize,
        /// Why it is invalid.
        reason: String,
    },
    /// Not enough data for the computation.
    #[error("{what}: needs at least {needed}, got {got}")]
    TooFew {
        /// The computation.
        what: &'static str,
        /// How many it needs.
        needed: usize,
        /// How many it got.
        got: usize,
    },
    /// A message the hub does not understand: an unknown action or activity, a missing or
    /// mistyped payload field, or an action the activity's state does not allow.
    #[error("{0}")]
    Protocol(String),
    /// The data determine no answer (a least-squares line through points at one distance).
    #[error("{0}")]
    Degenerate(&'static str),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, BricksError>;

/// Fails unless `value` is finite and within `[lo, hi]`.
pub(crate) fn check_range(what: &'static str, value: f64, lo: f64, hi: f64) -> Result<f64> {
    if !value.is_finite() {
        return Err(BricksError::NonFinite { what, value });
    }
    if value < lo || value > hi {
        return Err(BricksError::OutOfRange {
            what,
            value,
            lo,
            hi,
        });
    }
    Ok(value)
}

/// Fails unless `index < len`.
pub(crate) fn check_index(what: &'static str, index: usize, len: usize) -> Result<()> {
    if index < len {
        Ok(())
    } else {
        Err(BricksError::Index {
            what,
            index,
            reason: format!("there are {len}"),
        })
    }
}
