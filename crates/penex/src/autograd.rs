//! The losses on candle tensors (autograd), all with one interface so the shared training loop
//! takes any of them: `loss(logits, targets) → scalar tensor`, and `probabilities(logits)` for
//! inference (PENEX scales the logits by `1 + α`).

use crate::loss::RunningRho;
use crate::{PenexError, Result};
use candle_core::{DType, Tensor, D};
use core_ml::candle_nn::ops::{log_softmax, softmax};
use std::cell::Cell;

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
    /// Validates the loss's constants.
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
            LossKind::ConfidencePenalty { beta } => {
                param("beta", beta, beta >= 0.0, "must be non-negative")?
            }
            LossKind::Focal { gamma } => {
                param("gamma", gamma, gamma >= 0.0, "must be non-negative")?
            }
            LossKind::Penex { alpha, rho } => {
                param("alpha", alpha, alpha > 0.0, "must be positive")?;
                match rho {
                    Rho::Fixed(r) => param("rho", r, r > 0.0, "must be positive")?,
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
    /// shapes disagree or a target is not a class (candle's `gather` would silently pick 0 for
    /// an index ≥ K, e.g. `u32::MAX`, and change the loss without a word).
    pub fn loss(&self, logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        let (n, k) = logits.dims2()?;
        if targets.dims() != [n] {
            candle_core::bail!(
                "{n} rows of logits but targets of shape {:?}",
                targets.dims()
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
                let w = lp.exp()?.affine(-1.0, 1.0)?.relu()?.powf(gamma)?;
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
