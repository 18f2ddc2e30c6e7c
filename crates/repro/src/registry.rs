use crate::{Outcome, RunContext};

/// The function that runs one experiment.
pub type RunFn = fn(&RunContext) -> Result<Outcome, Box<dyn std::error::Error + Send + Sync>>;

/// One experiment of a paper.
#[derive(Debug, Clone, Copy)]
pub struct Experiment {
    /// Short name (used in file names and the summary).
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Runs it.
    pub run: RunFn,
}

/// A paper: its crate name, title and experiments, in report order.
#[derive(Debug, Clone)]
pub struct Paper {
    /// Crate name, also the CLI name (e.g. `hmm-linear-filter`).
    pub name: &'static str,
    /// The paper's title.
    pub title: &'static str,
    /// Its experiments.
    pub experiments: Vec<Experiment>,
}
