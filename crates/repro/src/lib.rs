//! The papercraft experiment harness.
//!
//! A paper crate describes its experiments as [`Experiment`]s grouped in a [`Paper`]. Running
//! one ([`Paper::run_experiment`]) hands it a [`RunContext`] scoped to its paper and name, and
//! yields an [`Outcome`]: tables, plots and [`Claim`]s of two kinds:
//!
//! - a **check** ([`ClaimKind::Check`]) must hold if the code is right (an identity, a proven
//!   bound, a closed form); a failed check is a bug and makes `cargo xtask reproduce` fail;
//! - a **finding** ([`ClaimKind::Finding`]) is an empirical claim of the paper tested at our
//!   scale; it is reported as reproduced or not with its [`Estimate`] (interval and replicate
//!   count) and [`Decision`] rule, never fails the run, and one that does not reproduce carries
//!   a [`Why`]: evidence in the same outcome, or a stated hypothesis.
//!
//! What every experiment repeats lives here:
//!
//! - **identity**: [`RunContext::outcome`] fills in the paper and experiment names from the
//!   registry;
//! - **randomness**: [`RunContext::rng`] and [`RunContext::derive_seed`] derive every stream
//!   from the master seed and a stable [`StreamPath`] (paper, experiment, cell, replicate)
//!   through SHA-256 — no hand-picked offsets;
//! - **parallel cells**: [`RunContext::map_cells`] maps a grid in parallel, in a fixed order,
//!   one stream per cell, with a progress bar;
//! - **claims**: [`Claim::check_none`], [`Claim::check_true`], [`Estimate::proportion`]
//!   (Clopper–Pearson), [`Estimate::mean`] and [`Estimate::paired_difference`] (Student t);
//! - **snapshots**: [`snapshot_tests!`] — one line per crate, rounding declared per experiment
//!   ([`Rounding`]), with the thread-count and seed-dependence checks of
//!   [`snapshot::check_paper`].
//!
//! The writers turn outcomes into pretty JSON (stable key order), SVG plots, a Markdown report
//! per paper that opens with its claims table, an index and `summary.json` (every claim), all
//! written atomically (temporary file, then rename).
//!
//! # Example
//! ```
//! use rand::RngExt;
//! use repro::{
//!     BoxError, Claim, Estimate, Experiment, Outcome, Paper, Profile, Rounding, RunContext,
//!     Threshold,
//! };
//!
//! fn coin(ctx: &RunContext) -> Result<Outcome, BoxError> {
//!     let mut out = ctx.outcome("a fair coin");
//!     out.claims.push(Claim::check("1 + 1 equals 2", 1.0 + 1.0 - 2.0, Threshold::AbsAtMost(1e-12)));
//!     // 200 replicates, each with its own stream derived from (paper, experiment, "flip", i).
//!     let flips: Vec<u64> = (0..200u64).collect();
//!     let heads = ctx.map_cells("flip", &flips, |_, rng| Ok(rng.random::<bool>()))?;
//!     out.claims.push(Claim::finding_estimate(
//!         "a coin lands heads about half the time",
//!         Estimate::proportion_of(heads)?,
//!         Threshold::Between(0.4, 0.6),
//!     ));
//!     Ok(out)
//! }
//!
//! let paper = Paper {
//!     name: "demo",
//!     title: "A demo",
//!     experiments: vec![Experiment {
//!         name: "coin",
//!         description: "flips",
//!         run: coin,
//!         rounding: Rounding::EXACT,
//!     }],
//! };
//! let out = paper.run_experiment(&paper.experiments[0], &RunContext::new(Profile::Quick, 7)).unwrap();
//! assert_eq!((out.paper.as_str(), out.experiment.as_str()), ("demo", "coin"));
//! assert_eq!(out.checks(), (1, 1));
//! let interval = out.claims[1].estimate.as_ref().unwrap().interval.unwrap();
//! assert!(interval[0] < 0.5 && 0.5 < interval[1]);
//! ```

mod claim;
mod error;
mod outcome;
mod plot;
mod progress;
mod registry;
mod report;
pub mod snapshot;
mod stream;
mod write;

pub use claim::{Claim, ClaimKind, Decision, Estimate, Threshold, Why, LEVEL};
pub use core_linalg::Rng;
pub use error::ReproError;
pub use outcome::{round_significant, Cell, Outcome, Profile, Rounding, Table};
pub use plot::{render_svg, Band, Plot, PlotKind, Series, Style, MAX_BINS};
pub use progress::{Progress, RunContext};
pub use registry::{BoxError, Experiment, Paper, RunFn};
pub use report::{
    paper_report_markdown, write_index, write_paper, write_summary_json, PaperSummary, RunSummary,
    SummaryClaim,
};
pub use stream::{path_rng, path_seed, StreamPath};
pub use write::{to_json, write_atomic};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
