//! The losses on candle tensors (autograd), all with one interface so the shared training loop
//! takes any of them: `loss(logits, targets) → scalar tensor`, and `probabilities(logits)` for
//! inference (PENEX scales the logits by `1 + α`).

use crate::loss::{RunningRho, MAX_ALPHA, MAX_RHO};
use crate::{PenexError, Result};
use candle_core::{DType, Tensor, D};
use core_ml::candle_nn::ops::{log_softmax, softmax};
use std::cell::Cell;

/// The largest logit magnitude [`ClassificationLoss::loss`] accepts: `1e30` (a diverged model;
/// beyond it gradients of the cross-entropy family can be `∞ · 0 = NaN`).
pub const MAX_LOGIT: f64 = 1e30;

/// How PENEX's penalty weight is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rho {
    /// A constant `ρ`.
    Fixed(f64),
    /// The authors' running estimate (the default of their code).
    Running(RunningRho),
}

/// A classification loss over logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossKind {
    /// Cross-entropy.
    CrossEntropy,
    /// Cross-entropy against `(1 − ε)·onehot + ε/K`.
    LabelSmoothing {
        /// Smoothing `ε ∈ [0, 1)`.
        epsilon: f64,
    },
    /// Cross-entropy minus `β` times the entropy of the prediction (Pereyra et al. 2017).
    ConfidencePenalty {
        /// Weight `β ≥ 0`.
        beta: f64,
    },
    /// Focal loss `−(1 − p_y)^γ log p_y` (Lin et al. 2017).
    Focal {
        /// Focusing `γ ≥ 0`.
        gamma: f64,
    },
    /// SAMME's multi-class exponential loss under the sum-to-zero constraint:
    /// `exp(−f̃_y/(K − 1))` with `f̃ = f − mean_j f_j`.
    Samme,
    /// PENEX: `mean e^{−α f_y} + ρ · mean Σ_j e^{f_j}`.
    Penex {
        /// Sensitivity `α > 0`.
        alpha: f64,
        /// The penalty weight.
        rho: Rho,
    },
}

/// A validated loss, ready for the training loop. Holds PENEX's running `ρ` (updated after each
/// call of [`loss`](Self::loss), without gradient).
#[derive(Debug, Clone)]
pub struct ClassificationLoss {
    kind: LossKind,
    rho: Cell<Option<RunningRho>>,
}

fn param(name: &'static str, value: f64, ok: bool, reason: &'static str) -> Result<()> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(PenexError::Parameter {
            name,
            value,
            reason,
        })
    }
}

impl ClassificationLoss {
    /// Validates the loss's constants: label smoothing `ε ∈ [0, 1)`, confidence penalty
    /// `β ∈ [0, 1e6]`, focal `γ ∈ [0, 100]`, PENEX `α ∈ (0, 1e3]` and a fixed `ρ ∈ (0, 1e10]`
    /// (beyond these bounds the losses or their gradients overflow `f32` for ordinary logits).
    pub fn new(kind: LossKind) -> Result<Self> {
        let mut running = None;
        match kind {
            LossKind::CrossEntropy | LossKind::Samme => {}
            LossKind::LabelSmoothing { epsilon } => param(
                "epsilon",
                epsilon,
                (0.0..1.0).contains(&epsilon),
                "must lie in [0, 1)",
            )?,
            LossKind::ConfidencePenalty { beta } => param(
                "beta",
                beta,
                (0.0..=1e6).contains(&beta),
                "must lie in [0, 1e6] (β·entropy overflows f32 beyond)",
            )?,
            LossKind::Focal { gamma } => param(
                "gamma",
                gamma,
                (0.0..=100.0).contains(&gamma),
                "must lie in [0, 100] (γ·(1 − p)^{γ−1} overflows beyond)",
            )?,
            LossKind::Penex { alpha, rho } => {
                param(
                    "alpha",
                    alpha,
                    alpha > 0.0 && alpha <= MAX_ALPHA,
                    "must lie in (0, MAX_ALPHA = 1e3]",
                )?;
                match rho {
                    Rho::Fixed(r) => param(
                        "rho",
                        r,
                        r > 0.0 && r <= MAX_RHO,
                        "must lie in (0, MAX_RHO = 1e10]",
                    )?,
                    Rho::Running(r) => running = Some(r),
                }
            }
        }
        Ok(Self {
            kind,
            rho: Cell::new(running),
        })
    }

    /// PENEX with the authors' running `ρ`.
    pub fn penex(alpha: f64) -> Result<Self> {
        Self::new(LossKind::Penex {
            alpha,
            rho: Rho::Running(RunningRho::default()),
        })
    }

    /// The loss's kind.
    pub fn kind(&self) -> LossKind {
        self.kind
    }

    /// A short name, e.g. `penex(α=0.1)`.
    pub fn name(&self) -> String {
        match self.kind {
            LossKind::CrossEntropy => "cross-entropy".into(),
            LossKind::LabelSmoothing { epsilon } => format!("label smoothing ({epsilon})"),
            LossKind::ConfidencePenalty { beta } => format!("confidence penalty ({beta})"),
            LossKind::Focal { gamma } => format!("focal ({gamma})"),
            LossKind::Samme => "SAMME exponential".into(),
            LossKind::Penex { alpha, .. } => format!("PENEX (α = {alpha})"),
        }
    }

    /// The current `ρ` of PENEX (`None` for other losses).
    pub fn rho(&self) -> Option<f64> {
        match self.kind {
            LossKind::Penex {
                rho: Rho::Fixed(r), ..
            } => Some(r),
            LossKind::Penex { .. } => self.rho.get().map(|r| r.value()),
            _ => None,
        }
    }

    /// The factor applied to logits before the softmax at inference: `1 + α` for PENEX, 1
    /// otherwise.
    pub fn inference_scale(&self) -> f64 {
        match self.kind {
            LossKind::Penex { alpha, .. } => 1.0 + alpha,
            _ => 1.0,
        }
    }

    /// The mean loss of a batch of logits `(n, K)` with `u32` targets `(n,)`. Errors when the
    /// shapes disagree, a target is not a class (candle's `gather` would silently pick 0 for
    /// an index ≥ K, e.g. `u32::MAX`, and change the loss without a word), or a logit is NaN,
    /// infinite or beyond ±[`MAX_LOGIT`].
    ///
    /// PENEX and SAMME are exponential losses: their value is `+∞` (and gradients `±∞`) when
    /// an exponent leaves the dtype's range — a logit beyond about ±88.7 in `f32` (±709.8 in
    /// `f64`), or `ρ · Σ e^f` beyond `f32::MAX` — because the true value does.
    pub fn loss(&self, logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        let (n, k) = logits.dims2()?;
        if targets.dims() != [n] {
            candle_core::bail!(
                "{n} rows of logits but targets of shape {:?}",
                targets.dims()
            );
        }
        // Non-finite logits (a diverged model) would give a NaN loss without a word, and
        // logits beyond ±MAX_LOGIT make gradients ∞ · 0 = NaN (the focal weight's chain rule
        // at a logit spread of 1e308, say).
        let bad = logits
            .sub(logits)?
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()?;
        let largest = logits
            .abs()?
            .to_dtype(DType::F64)?
            .max_all()?
            .to_scalar::<f64>()?;
        if bad.is_nan() || largest > MAX_LOGIT {
            candle_core::bail!(
                "the logits hold a NaN, an infinity or a value beyond ±{MAX_LOGIT:e} (largest |f| = {largest:e})"
            );
        }
        let max_target = targets
            .to_dtype(DType::F64)?
            .max_all()?
            .to_scalar::<f64>()?;
        if max_target.is_nan() || max_target >= k as f64 {
            candle_core::bail!("target {max_target} is not one of the {k} classes");
        }
        let idx = targets.unsqueeze(1)?;
        let pick = |t: &Tensor| t.gather(&idx, 1)?.squeeze(1);
        match self.kind {
            LossKind::CrossEntropy => core_ml::candle_nn::loss::cross_entropy(logits, targets),
            LossKind::LabelSmoothing { epsilon } => {
                let lsm = log_softmax(logits, D::Minus1)?;
                let nll = pick(&lsm)?.neg()?;
                let smooth = lsm.mean(D::Minus1)?.neg()?;
                ((nll * (1.0 - epsilon))? + (smooth * epsilon)?)?.mean_all()
            }
            LossKind::ConfidencePenalty { beta } => {
                let lsm = log_softmax(logits, D::Minus1)?;
                let nll = pick(&lsm)?.neg()?.mean_all()?;
                let entropy = (softmax(logits, D::Minus1)? * &lsm)?
                    .sum(D::Minus1)?
                    .neg()?
                    .mean_all()?;
                nll - (entropy * beta)?
            }
            LossKind::Focal { gamma } => {
                let lp = pick(&log_softmax(logits, D::Minus1)?)?;
                // (1 − p)^γ with the base kept above 1e-30: at p = 1 (one class, or a margin
                // past f32's resolution) the base is 0 and powf's gradient γ·0^{γ−1} is ∞ (NaN
                // after the chain rule) for γ < 1. The product with log p ≈ −(1 − p) makes the
                // clamp's effect on the loss below 1e-30.
                let w = lp.exp()?.affine(-1.0, 1.0)?.maximum(1e-30)?.powf(gamma)?;
                (w * lp)?.neg()?.mean_all()
            }
            LossKind::Samme => {
                if k < 2 {
                    candle_core::bail!("SAMME needs at least two classes");
                }
                let centred = logits.broadcast_sub(&logits.mean_keepdim(D::Minus1)?)?;
                (pick(&centred)? * (-1.0 / (k as f64 - 1.0)))?
                    .exp()?
                    .mean_all()
            }
            LossKind::Penex { alpha, rho } => {
                let exp_term = (pick(logits)? * -alpha)?.exp()?.mean_all()?;
                let penalty = logits.exp()?.sum(D::Minus1)?.mean_all()?;
                let r = match rho {
                    Rho::Fixed(r) => r,
                    Rho::Running(_) => self.rho.get().map_or(1.0, |r| r.value()),
                };
                let loss = (&exp_term + (&penalty * r)?)?;
                if let Some(mut running) = self.rho.get() {
                    let a = exp_term.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                    let b = penalty.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                    running.update(alpha, a, b);
                    self.rho.set(Some(running));
                }
                Ok(loss)
            }
        }
    }

    /// Inference probabilities `softmax(scale · f)` as `f64` rows.
    pub fn probabilities(&self, logits: &Tensor) -> candle_core::Result<Vec<Vec<f64>>> {
        softmax(
            &(logits.to_dtype(DType::F64)? * self.inference_scale())?,
            D::Minus1,
        )?
        .to_vec2::<f64>()
    }
}
