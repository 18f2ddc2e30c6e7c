use std::path::PathBuf;
use thiserror::Error;

/// Errors of the harness itself (writing results, rendering plots, bad plot data).
#[derive(Debug, Error)]
pub enum ReproError {
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// JSON serialisation failed.
    #[error("cannot serialise outcome: {0}")]
    Json(#[from] serde_json::Error),
    /// An estimate could not be formed (no replicates, unpaired replicates, bad counts).
    #[error("cannot form the estimate: {0}")]
    Estimate(String),
    /// An outcome breaks a rule of the harness (an explanation pointing at nothing, a name
    /// that does not match the registry).
    #[error("invalid outcome {paper}/{experiment}: {reason}")]
    Invalid {
        /// The paper.
        paper: String,
        /// The experiment.
        experiment: String,
        /// The broken rule.
        reason: String,
    },
    /// A plot could not be drawn.
    #[error("cannot draw plot {name}: {reason}")]
    Plot {
        /// The plot's name.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

impl From<core_linalg::LinalgError> for ReproError {
    fn from(e: core_linalg::LinalgError) -> Self {
        ReproError::Estimate(e.to_string())
    }
}
