//! PENEX, the penalized exponential loss (Kladny, Schölkopf & Muehlebach, *PENEX:
//! AdaBoost-Inspired Neural Network Regularization*, 2025), as a drop-in classification loss.
//!
//! For logits `f` and labels `y`:
//! `L = mean e^{−α f_y} + ρ · mean Σ_j e^{f_j}` with sensitivity `α > 0` and penalty weight
//! `ρ > 0` (fixed, or the authors' running estimate [`RunningRho`]). Its population optimum is
//! `f*_j = log(α p_j/ρ)/(1 + α)`, so inference uses `softmax((1 + α) f)`, which is
//! Fisher-consistent.
//!
//! - [`dropin`]: the drop-in loss on plain `f32`/`f64` slices ([`PenexLoss`]): forward,
//!   backward, reduction, class weights, ignore index, the linear tail and an explicit running
//!   `ρ`;
//! - [`loss`]: the reference formulas in `f64` ([`Penex`]: loss and analytic gradient), the
//!   optimum and the running `ρ` ([`RunningRho`]);
//! - [`autograd`]: the loss and the baselines (cross-entropy, label smoothing, confidence
//!   penalty, focal, SAMME's exponential loss) on candle tensors behind one interface
//!   ([`ClassificationLoss`]), usable in `core_ml::train::train`;
//! - [`metrics`]: margins, and accuracy, NLL, ECE and Brier from `core-ml`.
//!
//! # Example: a digits classifier trained with PENEX
//! ```
//! use candle_core::{DType, Device, Module};
//! use core_ml::candle_nn::{Activation, VarBuilder, VarMap};
//! use core_ml::data::{Dataset, Standardiser, DatasetTensors};
//! use core_ml::models::{init_seeded, Mlp};
//! use core_ml::trainer::{Trainer, TrainerConfig};
//! use penex::{metrics, ClassificationLoss};
//!
//! let split = Dataset::digits()?.stratified_split(0.5, 0.0, 1)?;
//! let z = Standardiser::fit(&split.train);
//! let (x, y) = z.apply(&split.train)?.tensors(DType::F32, &Device::Cpu)?;
//! let (xt, _) = z.apply(&split.test)?.tensors(DType::F32, &Device::Cpu)?;
//! let vm = VarMap::new();
//! let mlp = Mlp::new(VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu), &[64, 10], Activation::Relu)?;
//! init_seeded(&vm, 1)?;
//! let mut loss = ClassificationLoss::penex(0.1)?;
//! let mut trainer = Trainer::new(&vm, TrainerConfig { lr: 0.05, total_steps: 300, ..Default::default() })?;
//! for _ in 0..300 {
//!     // One step; then the running ρ moves from this batch (evaluation never moves it).
//!     loss.train_step(&mut trainer, |_| Ok((mlp.forward(&x)?, y.clone())))?;
//! }
//! let probs = loss.probabilities(&mlp.forward(&xt)?)?; // softmax((1 + α) f)
//! let acc = metrics::accuracy(&probs, &split.test.y)?;
//! assert!(acc > 0.9, "{acc}");
//! assert!(loss.rho().unwrap() != 1.0);
//! # Ok::<(), penex::PenexError>(())
//! ```
//!
//! Without the default `candle` feature the crate is the plain-slice loss [`PenexLoss`]
//! (`f32`/`f64`, reduction, class weights, ignore index; see [`dropin`]), with no candle in
//! the dependency tree.
//!
//! # Choices the paper leaves open
//! The running `ρ` is updated once per training step from that batch's two term means (EMA
//! weight 0.1, clamps `[1e-6, 100]`, start 1), as in the authors' code; the loss of a step uses
//! the `ρ` from before that step's update. Unlike the authors' code (which updates inside every
//! forward call, evaluation included), the update is an explicit step.
//!
//! The ablation ([`Constraint`]) uses the constants of the authors' code (log-sum-exp `ρ = 1`,
//! squared `ρ = 100`, augmented Lagrangian `ρ = ν = 1000` with `λ` from 0, `h = mean_i (Σ_j
//! f_ij)²`); inference for the handlers that penalise `Σ_j f_j` uses `softmax(α f)` (their
//! stationarity makes `p ∝ e^{α f}`), for log-sum-exp `softmax((1 + α) f)` as PENEX; the
//! digits experiment's linear tail is `τ = 1` (the authors' configs give none). With class
//! weights, the running `ρ` balances the weighted term means ([`dropin`]).

#[cfg(feature = "candle")]
pub mod autograd;
pub mod dropin;
mod error;
pub mod loss;
pub mod metrics;

#[cfg(feature = "experiments")]
pub mod experiments;

#[cfg(feature = "candle")]
pub use autograd::{
    ClassificationLoss, Constraint, Kernels, LossForward, LossKind, Rho, MAX_LOGIT,
};
pub use dropin::{BatchStats, Element, Label, LossValue, PenexLoss, Reduction, RhoMode};
pub use error::{PenexError, Result};
pub use loss::{inference_probabilities, Logits, Penex, RunningRho, MAX_ALPHA, MAX_RHO, MIN_ALPHA};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
