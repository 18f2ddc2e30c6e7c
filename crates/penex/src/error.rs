use thiserror::Error;

/// Everything that can be wrong with a PENEX computation.
#[derive(Debug, Error)]
pub enum PenexError {
    /// A parameter outside its valid range (α ≤ 0, ρ ≤ 0, …).
    #[error("invalid parameter {name} = {value}: {reason}")]
    Parameter {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
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
    /// A logit is NaN or infinite.
    #[error("logit at row {row}, class {class} is not finite: {value}")]
    NonFinite {
        /// Row.
        row: usize,
        /// Class.
        class: usize,
        /// The value.
        value: f64,
    },
    /// A logit beyond the limit a loss was given (a diverged model).
    #[error("logit at row {row}, class {class} is {value:e}, beyond ±{limit:e}")]
    LogitTooLarge {
        /// Row.
        row: usize,
        /// Class.
        class: usize,
        /// The value.
        value: f64,
        /// The limit.
        limit: f64,
    },
    /// A label is not below the number of classes.
    #[error("label {label} at row {row} is out of range for {n_classes} classes")]
    Label {
        /// Row.
        row: usize,
        /// The label.
        label: usize,
        /// The number of classes.
        n_classes: usize,
    },
    /// A target that is neither a class nor the ignore index.
    #[error("target {target} at row {row} is not one of the {n_classes} classes (ignore index {ignore_index:?})")]
    Target {
        /// Row.
        row: usize,
        /// The target (saturated to the `i64` range).
        target: i64,
        /// The number of classes.
        n_classes: usize,
        /// The ignore index in force.
        ignore_index: Option<i64>,
    },
    /// An error from candle.
    #[cfg(feature = "candle")]
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An error from the shared ML crate.
    #[cfg(feature = "candle")]
    #[error(transparent)]
    Ml(#[from] core_ml::MlError),
    /// An error from the shared data sets.
    #[cfg(feature = "candle")]
    #[error(transparent)]
    Data(#[from] core_ml::DataError),
}

/// `Result` with [`PenexError`].
pub type Result<T> = std::result::Result<T, PenexError>;
