use crate::{Outcome, ReproError, Rounding, RunContext};
use std::time::Instant;

/// The error type of experiment functions: anything the libraries or the harness return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The function that runs one experiment. It receives a context scoped to its paper and name
/// and builds its outcome with [`RunContext::outcome`].
pub type RunFn = fn(&RunContext) -> Result<Outcome, BoxError>;

/// One experiment of a paper.
#[derive(Debug, Clone, Copy)]
pub struct Experiment {
    /// Short name (used in file names and the summary).
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Runs it.
    pub run: RunFn,
    /// How far its snapshot rounds, and why.
    pub rounding: Rounding,
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

impl Paper {
    /// Runs `experiment` under `root` scoped to this paper and the experiment's name, records
    /// the wall time, and checks the outcome: its names match the registry and
    /// [`Outcome::validate`] passes.
    pub fn run_experiment(
        &self,
        experiment: &Experiment,
        root: &RunContext,
    ) -> Result<Outcome, BoxError> {
        let ctx = root.scoped(self.name, experiment.name);
        let start = Instant::now();
        let mut o = (experiment.run)(&ctx)?;
        o.wall_time_s = start.elapsed().as_secs_f64();
        if o.paper != self.name || o.experiment != experiment.name {
            return Err(ReproError::Invalid {
                paper: self.name.into(),
                experiment: experiment.name.into(),
                reason: format!(
                    "the outcome calls itself {}/{}; build it with ctx.outcome(title)",
                    o.paper, o.experiment
                ),
            }
            .into());
        }
        o.validate()?;
        Ok(o)
    }

    /// Looks an experiment up by name.
    pub fn experiment(&self, name: &str) -> Option<&Experiment> {
        self.experiments.iter().find(|e| e.name == name)
    }
}
