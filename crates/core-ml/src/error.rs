use thiserror::Error;

/// Everything that can go wrong in `core-ml`.
#[derive(Debug, Error)]
pub enum MlError {
    /// An error from the tensor framework.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// A data set that cannot be used as given.
    #[error("data: {0}")]
    Data(String),
    /// A configuration value out of range.
    #[error("invalid {name} = {value}: {reason}")]
    Config {
        /// Parameter name.
        name: &'static str,
        /// Its value, in words.
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Training produced a NaN or infinite loss.
    #[error("non-finite loss {loss} at step {step}")]
    NonFiniteLoss {
        /// The step.
        step: usize,
        /// The loss.
        loss: f64,
    },
    /// The framework cannot do what was asked in this configuration.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Shorthand result type.
pub type Result<T> = std::result::Result<T, MlError>;

pub(crate) fn config(name: &'static str, value: impl ToString, reason: &'static str) -> MlError {
    MlError::Config {
        name,
        value: value.to_string(),
        reason,
    }
}

impl From<core_data::DataError> for MlError {
    fn from(e: core_data::DataError) -> Self {
        match e {
            core_data::DataError::Data(s) => MlError::Data(s),
            core_data::DataError::Config {
                name,
                value,
                reason,
            } => MlError::Config {
                name,
                value,
                reason,
            },
        }
    }
}
