//! The papercraft experiment harness.
//!
//! A paper crate describes its experiments as [`Experiment`]s grouped in a [`Paper`]. Running
//! one yields an [`Outcome`]: tables, plots and [`Claim`]s of two kinds:
//!
//! - a **check** ([`ClaimKind::Check`]) must hold if the code is right (an identity, a proven
//!   bound, a closed form); a failed check is a bug and makes `cargo xtask reproduce` fail;
//! - a **finding** ([`ClaimKind::Finding`]) is an empirical claim of the paper tested at our
//!   scale; it is reported as reproduced or not, never fails the run, and one that does not
//!   reproduce carries an explanation.
//!
//! The writers turn outcomes into pretty JSON (stable key order), SVG plots and a Markdown report
//! per paper plus an index, all written atomically (temporary file, then rename).
//!
//! # Example
//! ```
//! use repro::{Claim, Outcome, Profile, Threshold};
//!
//! let mut out = Outcome::new("demo", "identity", "1 + 1 = 2", Profile::Quick, 0);
//! out.claims.push(Claim::check("1 + 1 equals 2 to 1e-12", 1.0 + 1.0 - 2.0, Threshold::AbsAtMost(1e-12)));
//! out.claims.push(Claim::finding("a coin lands heads about half the time", 0.49, Threshold::Between(0.45, 0.55)));
//! assert_eq!(out.checks(), (1, 1));
//! assert_eq!(out.findings(), (1, 1));
//! let json = repro::to_json(&out).unwrap();
//! assert!(json.contains("\"kind\": \"check\""));
//! ```

mod claim;
mod error;
mod outcome;
mod plot;
mod progress;
mod registry;
mod report;
mod write;

pub use claim::{Claim, ClaimKind, Threshold};
pub use error::ReproError;
pub use outcome::{round_significant, Cell, Outcome, Profile, Table};
pub use plot::{render_svg, Plot, PlotKind, Series};
pub use progress::{Progress, RunContext};
pub use registry::{Experiment, Paper, RunFn};
pub use report::{paper_report_markdown, write_index, write_paper, PaperSummary};
pub use write::{to_json, write_atomic};
