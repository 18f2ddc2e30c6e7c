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
    /// A plot could not be drawn.
    #[error("cannot draw plot {name}: {reason}")]
    Plot {
        /// The plot's name.
        name: String,
        /// What went wrong.
        reason: String,
    },
}
