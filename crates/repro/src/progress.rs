use crate::stream::{path_rng, path_seed, StreamPath};
use crate::{BoxError, Outcome, Profile};
use core_linalg::Rng;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

/// A progress bar for a long loop. Drawn on stderr only when it is a terminal (indicatif hides
/// it otherwise), so CI logs stay clean.
#[derive(Debug, Clone)]
pub struct Progress(ProgressBar);

impl Progress {
    /// Advances by `n`.
    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    /// The underlying bar (for loops that take an `indicatif::ProgressBar`).
    pub fn bar(&self) -> &ProgressBar {
        &self.0
    }

    /// Marks the work done and removes the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// What an experiment receives: its identity (paper and experiment, filled in by
/// [`Paper::run_experiment`](crate::Paper::run_experiment)), profile, master seed, random
/// streams derived from stable paths, and progress display.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// Quick or full.
    pub profile: Profile,
    /// Master seed: every random draw of the experiment derives from it through [`Self::rng`].
    pub seed: u64,
    paper: &'static str,
    experiment: &'static str,
    bars: Option<MultiProgress>,
}

impl RunContext {
    /// A root context without progress display (tests, benches). Experiments receive it scoped
    /// to their paper and name by [`Paper::run_experiment`](crate::Paper::run_experiment).
    pub fn new(profile: Profile, seed: u64) -> Self {
        Self {
            profile,
            seed,
            paper: "",
            experiment: "",
            bars: None,
        }
    }

    /// A root context whose progress bars join `bars` (shared by papers running in parallel).
    pub fn with_progress(profile: Profile, seed: u64, bars: MultiProgress) -> Self {
        Self {
            bars: Some(bars),
            ..Self::new(profile, seed)
        }
    }

    /// This context scoped to one experiment of one paper.
    pub fn scoped(&self, paper: &'static str, experiment: &'static str) -> Self {
        Self {
            paper,
            experiment,
            ..self.clone()
        }
    }

    /// The paper's crate name (empty on a root context).
    pub fn paper(&self) -> &'static str {
        self.paper
    }

    /// The experiment's name (empty on a root context).
    pub fn experiment(&self) -> &'static str {
        self.experiment
    }

    /// An empty outcome with this context's paper, experiment, profile and seed.
    pub fn outcome(&self, title: &str) -> Outcome {
        Outcome::new(self.paper, self.experiment, title, self.profile, self.seed)
    }

    /// The random stream of `path` within this experiment: ChaCha8 seeded by SHA-256 of the
    /// master seed and (paper, experiment, `path`). The same path always gives the same stream;
    /// any other path (another cell, replicate or purpose) an unrelated one.
    ///
    /// ```
    /// use rand::Rng as _;
    /// use repro::{Profile, RunContext};
    /// let ctx = RunContext::new(Profile::Quick, 42).scoped("demo", "exp");
    /// assert_eq!(ctx.rng(("cell", 3)).next_u64(), ctx.rng(("cell", 3)).next_u64());
    /// assert_ne!(ctx.rng(("cell", 3)).next_u64(), ctx.rng(("cell", 4)).next_u64());
    /// ```
    pub fn rng(&self, path: impl StreamPath) -> Rng {
        path_rng(self.seed, &(self.paper, self.experiment, path))
    }

    /// A `u64` seed for `path`, for library functions that take a seed (data splits, model
    /// initialisation, randomised conformal scores). Same derivation as [`Self::rng`].
    pub fn derive_seed(&self, path: impl StreamPath) -> u64 {
        path_seed(self.seed, &(self.paper, self.experiment, path))
    }

    /// A progress bar of `len` steps labelled `"<paper> <experiment> <label>"`; hidden when this
    /// context has no display.
    pub fn progress(&self, len: u64, label: &str) -> Progress {
        let pb = match &self.bars {
            Some(m) => m.add(ProgressBar::new(len)),
            None => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden()),
        };
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:>36} [{bar:30}] {pos}/{len} {elapsed}")
        {
            pb.set_style(style.progress_chars("=> "));
        }
        let prefix = [self.paper, self.experiment, label]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        pb.set_prefix(prefix);
        Progress(pb)
    }

    /// Maps `f` over `cells` in parallel and returns the results in the cells' order. Each call
    /// gets its own stream, `self.rng((label, cell))`, so the results are identical at any
    /// thread count; a progress bar labelled `label` advances once per cell.
    ///
    /// Cells are stream paths themselves: tuples of indices and names, e.g. `(k, t, replicate)`.
    ///
    /// ```
    /// use rand::RngExt;
    /// use repro::{Profile, RunContext};
    /// let ctx = RunContext::new(Profile::Quick, 1).scoped("demo", "exp");
    /// let cells: Vec<(usize, u64)> = (0..3).flat_map(|a| (0..4).map(move |r| (a, r))).collect();
    /// let draws = ctx.map_cells("grid", &cells, |_, rng| Ok(rng.random::<f64>())).unwrap();
    /// assert_eq!(draws.len(), 12);
    /// assert_eq!(draws, ctx.map_cells("grid", &cells, |_, rng| Ok(rng.random::<f64>())).unwrap());
    /// ```
    pub fn map_cells<C, R, F>(&self, label: &str, cells: &[C], f: F) -> Result<Vec<R>, BoxError>
    where
        C: StreamPath + Sync,
        R: Send,
        F: Fn(&C, &mut Rng) -> Result<R, BoxError> + Sync,
    {
        let bar = self.progress(cells.len() as u64, label);
        let out = cells
            .par_iter()
            .map(|c| {
                let mut rng = self.rng((label, c));
                let r = f(c, &mut rng);
                bar.inc(1);
                r
            })
            .collect::<Result<Vec<R>, BoxError>>();
        bar.finish();
        out
    }
}
