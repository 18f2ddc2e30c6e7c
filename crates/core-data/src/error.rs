use thiserror::Error;

/// Everything that can go wrong in `core-data`.
#[derive(Debug, Error)]
pub enum DataError {
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
}

/// Shorthand result type.
pub type Result<T> = std::result::Result<T, DataError>;

pub(crate) fn config(name: &'static str, value: impl ToString, reason: &'static str) -> DataError {
    DataError::Config {
        name,
        value: value.to_string(),
        reason,
    }
}
