use crate::Profile;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

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

/// What an experiment receives: its profile, master seed and a way to show progress.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// Quick or full.
    pub profile: Profile,
    /// Master seed: every random draw of the experiment derives from it.
    pub seed: u64,
    bars: Option<MultiProgress>,
}

impl RunContext {
    /// A context without progress display (tests, benches).
    pub fn new(profile: Profile, seed: u64) -> Self {
        Self {
            profile,
            seed,
            bars: None,
        }
    }

    /// A context whose progress bars join `bars` (shared by papers running in parallel).
    pub fn with_progress(profile: Profile, seed: u64, bars: MultiProgress) -> Self {
        Self {
            profile,
            seed,
            bars: Some(bars),
        }
    }

    /// A progress bar of `len` steps labelled `label`; hidden when this context has none.
    pub fn progress(&self, len: u64, label: &str) -> Progress {
        let pb = match &self.bars {
            Some(m) => m.add(ProgressBar::new(len)),
            None => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden()),
        };
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} {elapsed}")
        {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_prefix(label.to_string());
        Progress(pb)
    }
}
