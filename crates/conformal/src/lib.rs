//! Split conformal prediction, and what small calibration sets really deliver (Kladny,
//! Schölkopf, Koch, Baumgartner & Muehlebach, *A Critical Perspective on Finite Sample Conformal
//! Prediction Theory in Medical Applications*, 2025).
//!
//! - Classification over any model's probabilities ([`Probabilities`], validated): scores
//!   [`Score::Lac`], APS (randomised or not), RAPS, Top-K, SAPS and Margin; the finite-sample
//!   `⌈(n + 1)(1 − α)⌉`-th score as threshold (full label sets when that rank exceeds `n`), or
//!   the PAC rank ([`Rank::Pac`]); class-conditional (Mondrian) calibration
//!   ([`ConformalClassifier`]) or by user-supplied groups ([`GroupConformalClassifier`]);
//!   conformal p-values of every label ([`ConformalClassifier::p_values`]). Parallel and
//!   linear in the number of rows; [`ConformalClassifier::predict_flat`] takes a raw `f64` or
//!   `f32` buffer and validates each chunk of rows while it predicts (one pass over memory).
//! - Regression with the absolute residual ([`ConformalRegressor`]), normalised residuals
//!   ([`NormalizedRegressor`], intervals `ŷ ± q̂ σ̂(x)`) and conformalised quantile regression
//!   ([`CqrRegressor`]).
//! - Metrics ([`evaluate`]): coverage, mean size, singleton and empty rates, class-conditional
//!   coverage and its gap, size-stratified coverage.
//! - **The paper's point as a tool** ([`theory`]): the exact law of coverage given one
//!   calibration set ([`CoverageLaw`], Beta) and of empirical coverage on `m` test points
//!   (Beta-binomial), its quantiles and `P(coverage < t)`; the minimum `n` for non-trivial
//!   sets; a calibration-size planner whose answer stays safe for every larger size
//!   ([`plan_calibration_size`]); and the PAC rank
//!   ([`pac_rank`]).
//!
//! # Example
//! ```
//! use conformal::{evaluate, ConformalClassifier, ConformalParams, Probabilities, Score};
//! use conformal::theory::{plan_calibration_size, CoverageLaw};
//!
//! // Calibrate on held-out probabilities (3 classes) and their labels …
//! let cal = Probabilities::from_rows(&[
//!     vec![0.7, 0.2, 0.1], vec![0.1, 0.8, 0.1], vec![0.3, 0.3, 0.4], vec![0.6, 0.3, 0.1],
//!     vec![0.2, 0.2, 0.6], vec![0.5, 0.4, 0.1], vec![0.1, 0.1, 0.8], vec![0.9, 0.05, 0.05],
//!     vec![0.2, 0.7, 0.1], vec![0.4, 0.4, 0.2], vec![0.3, 0.6, 0.1], vec![0.1, 0.3, 0.6],
//! ])?;
//! let labels = [0, 1, 2, 0, 2, 1, 2, 0, 1, 0, 1, 2];
//! let params = ConformalParams::new(Score::Lac, 0.2).check()?;
//! let clf = ConformalClassifier::calibrate(&params, &cal, &labels, 0)?;
//! // … then predict sets for new rows.
//! let test = Probabilities::from_rows(&[vec![0.8, 0.1, 0.1], vec![0.35, 0.35, 0.3]])?;
//! let sets = clf.predict(&test, 1)?;
//! // q̂ is the 11th smallest of the 12 scores 1 − p̂_y: 0.6, so a set keeps the classes with
//! // p̂ ≥ 0.4. The confident row gets {0}; the ambiguous one gets no class at all under LAC.
//! assert!((clf.thresholds()[0] - 0.6).abs() < 1e-12);
//! assert_eq!(sets.classes(0), vec![0]);
//! assert_eq!(sets.size(1), 0);
//! let m = evaluate(&sets, &[0, 1], 0.2)?;
//! assert_eq!(m.coverage, 0.5);
//!
//! // How much to trust that guarantee: with n = 12 and α = 0.2 one calibration set covers
//! // less than 70% with probability ≈ 0.085 (coverage ~ Beta(11, 2)).
//! let law = CoverageLaw::new(12, 0.2)?;
//! assert!((law.mean() - 11.0 / 13.0).abs() < 1e-12);
//! assert!((law.prob_below(0.7)? - 0.085).abs() < 0.001);
//! // The calibration size for coverage ≥ 0.85 with probability ≥ 0.95 at α = 0.1, from which
//! // every larger size also meets the target (coverage probability is a saw-tooth in n):
//! let plan = plan_calibration_size(0.1, 0.05, 0.05)?;
//! assert!(plan.probability >= 0.95 && plan.n >= plan.first_n);
//! # Ok::<(), conformal::ConformalError>(())
//! ```
//!
//! # Choices the paper leaves open
//! Only the abstract was available; everything follows the standard theory (Vovk 2012;
//! Angelopoulos & Bates). Rows must sum to one within [`probs::row_sum_tolerance`]`(K)` = max(1e-6, K·ε_f32). Class
//! ranks `o(y)` break probability ties by class index. Randomised scores draw one `U` per row
//! from stream `row / 1024` of the caller's seed, so sets do not depend on the thread count.

mod classifier;
mod error;
mod metrics;
pub mod probs;
mod regression;
mod score;
mod sets;
pub mod theory;

#[cfg(feature = "experiments")]
pub mod experiments;

pub use classifier::{
    ConformalClassifier, ConformalParams, GroupConformalClassifier, Rank, ValidConformalParams,
};
pub use error::{ConformalError, Result};
pub use metrics::{evaluate, SetMetrics};
pub use probs::{ProbElement, Probabilities};
pub use regression::{interval_coverage, ConformalRegressor, CqrRegressor, NormalizedRegressor};
pub use score::Score;
pub use sets::PredictionSets;
pub use theory::{
    min_calibration_size, pac_rank, plan_calibration_size, CalibrationPlan, CoverageLaw,
    EmpiricalCoverageLaw,
};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
