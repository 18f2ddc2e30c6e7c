//! The losses on candle tensors (autograd), all with one interface so the shared training loop
//! takes any of them: `loss(logits, targets) → scalar tensor`, and `probabilities(logits)` for
//! inference (PENEX scales the logits by `1 + α`).
//!
//! A loss is a pure function of its inputs: [`ClassificationLoss::loss`] never changes the
//! running `ρ` of PENEX, so evaluation passes and Hessian-vector products see one fixed
//! function. Training moves `ρ` explicitly: [`ClassificationLoss::train_step`] runs one
//! [`Trainer`] step and then [`ClassificationLoss::update_state`] with that step's batch
//! statistics ([`ClassificationLoss::forward`] returns them), and
//! [`ClassificationLoss::save_checkpoint`] stores `ρ` beside the parameters and the optimiser.
//!
//! On the CPU, PENEX and cross-entropy run fused kernels by default ([`Kernels::Fused`]): PENEX
//! the plain-slice kernel of [`PenexLoss`] (forward and backward each one pass over the
//! logits), cross-entropy `core_ml::kernels::cross_entropy`. [`Kernels::Composite`] builds them
//! from candle's differentiable operations instead, which is what a second derivative (an exact
//! Hessian-vector product) needs; the other baselines are always composite.

use crate::dropin::{Label, PenexLoss};
use crate::loss::{check_penalty_weight, check_sensitivity, RunningRho};
use crate::{PenexError, Result};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, D};
use core_ml::candle_nn::ops::{log_softmax, softmax};
pub use core_ml::kernels::Kernels;
use core_ml::trainer::{Forward, StepRecord, Trainer};
use std::path::Path;

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
    /// The exponential loss `mean e^{−α f_y}` with one of the authors' other constraint
    /// handlers in place of PENEX's penalty (the paper's ablation).
    Exponential {
        /// Sensitivity `α > 0`.
        alpha: f64,
        /// How the logits are kept from diverging.
        constraint: Constraint,
    },
}

/// The authors' constraint handlers beside PENEX's `ρ Σ_j e^{f_j}` penalty, for
/// [`LossKind::Exponential`]. With `h = mean_i (Σ_j f_ij)²` (the squared violation of the
/// sum-to-zero constraint of CONEX/SAMME, as the authors' code writes it):
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Constraint {
    /// Nothing: the loss has no minimiser (the label logit grows without bound).
    Unconstrained,
    /// The hard constraint: the loss of the centred logits `f − mean_j f_j`.
    SumToZero,
    /// `+ ρ · mean logsumexp(f)` (the authors' default `ρ = 1`).
    LogSumExp {
        /// Weight `ρ > 0`.
        rho: f64,
    },
    /// `+ (ρ/2) h²` (the authors square twice; default `ρ = 100`).
    Squared {
        /// Weight `ρ > 0`.
        rho: f64,
    },
    /// `+ λ h + (ρ/2) h²` with the multiplier moved after each training step,
    /// `λ ← λ + (ρ/ν) h` (defaults `ρ = ν = 1000`, `λ` from 0).
    AugmentedLagrangian {
        /// Penalty `ρ > 0`.
        rho: f64,
        /// Step divisor `ν > 0`.
        nu: f64,
    },
}

/// A validated loss, ready for the training loop. Holds PENEX's running `ρ`, which only
/// [`update_state`](Self::update_state) (or [`train_step`](Self::train_step)) moves (and the
/// augmented Lagrangian's multiplier likewise). `Send + Sync`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationLoss {
    kind: LossKind,
    rho: Option<RunningRho>,
    /// The augmented Lagrangian's multiplier.
    lambda: f64,
    /// PENEX's linear tail `τ`.
    tail: Option<f64>,
    kernels: Kernels,
}

/// A forward pass: the loss, and the batch statistics a stateful loss moves its state by
/// ([`ClassificationLoss::update_state`]): for PENEX with a running `ρ` the two term means
/// `[mean e^{−α f_y}, mean Σ_j e^{f_j}]`, for the augmented Lagrangian `[h]` (detached).
#[derive(Debug, Clone)]
pub struct LossForward {
    /// The scalar loss.
    pub loss: Tensor,
    /// The statistics (`None` for a loss without state).
    pub terms: Option<Tensor>,
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
    /// `β ∈ [0, 1e6]`, focal `γ ∈ [0, 100]`, PENEX `α ∈ [1e-30, 1e3]` and a fixed `ρ ∈ (0, 1e10]`
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
                check_sensitivity(alpha)?;
                match rho {
                    Rho::Fixed(r) => check_penalty_weight("rho", r)?,
                    Rho::Running(r) => running = Some(r),
                }
            }
            LossKind::Exponential { alpha, constraint } => {
                check_sensitivity(alpha)?;
                let weight = check_penalty_weight;
                match constraint {
                    Constraint::Unconstrained | Constraint::SumToZero => {}
                    Constraint::LogSumExp { rho } | Constraint::Squared { rho } => {
                        weight("rho", rho)?
                    }
                    Constraint::AugmentedLagrangian { rho, nu } => {
                        weight("rho", rho)?;
                        weight("nu", nu)?;
                    }
                }
            }
        }
        Ok(Self {
            kind,
            rho: running,
            lambda: 0.0,
            tail: None,
            kernels: Kernels::Fused,
        })
    }

    /// PENEX with the authors' linear ("Huberised") tail: where `e^{−α f_y}` would exceed
    /// `τ > 0` it continues along its tangent (see [`PenexLoss::with_linear_tail`]). Errors
    /// for other losses or an invalid `τ`.
    pub fn with_linear_tail(mut self, tau: f64) -> Result<Self> {
        if !matches!(self.kind, LossKind::Penex { .. }) {
            return Err(PenexError::Parameter {
                name: "tail",
                value: tau,
                reason: "only PENEX has a linear tail",
            });
        }
        param("tail", tau, tau > 0.0, "must be finite and positive")?;
        self.tail = Some(tau);
        Ok(self)
    }

    /// The augmented Lagrangian's current multiplier `λ` (`None` for other losses).
    pub fn multiplier(&self) -> Option<f64> {
        matches!(
            self.kind,
            LossKind::Exponential {
                constraint: Constraint::AugmentedLagrangian { .. },
                ..
            }
        )
        .then_some(self.lambda)
    }

    /// The same loss computed by other kernels ([`Kernels::Composite`] for second
    /// derivatives).
    pub fn with_kernels(mut self, kernels: Kernels) -> Self {
        self.kernels = kernels;
        self
    }

    /// The kernels in use.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// PENEX with the authors' running `ρ`, started at `ρ = 1`. For short trainings start it
    /// at its balance instead ([`RunningRho::balanced`]; see [`RunningRho`] for why).
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
            LossKind::Penex { alpha, .. } => match self.tail {
                Some(t) => format!("PENEX (α = {alpha}, tail τ = {t})"),
                None => format!("PENEX (α = {alpha})"),
            },
            LossKind::Exponential { alpha, constraint } => match constraint {
                Constraint::Unconstrained => format!("exp, no constraint (α = {alpha})"),
                Constraint::SumToZero => format!("exp, hard sum-to-zero (α = {alpha})"),
                Constraint::LogSumExp { rho } => format!("exp + {rho}·LSE (α = {alpha})"),
                Constraint::Squared { rho } => format!("exp + squared penalty {rho} (α = {alpha})"),
                Constraint::AugmentedLagrangian { rho, nu } => {
                    format!("exp, augmented Lagrangian ρ = {rho}, ν = {nu} (α = {alpha})")
                }
            },
        }
    }

    /// The current `ρ` of PENEX (`None` for other losses).
    pub fn rho(&self) -> Option<f64> {
        match self.kind {
            LossKind::Penex {
                rho: Rho::Fixed(r), ..
            } => Some(r),
            LossKind::Penex { .. } => self.rho.map(|r| r.value()),
            _ => None,
        }
    }

    /// The factor applied to logits before the softmax at inference: `1 + α` for PENEX and the
    /// log-sum-exp penalty, `α` for the other exponential losses, 1 otherwise.
    pub fn inference_scale(&self) -> f64 {
        match self.kind {
            LossKind::Penex { alpha, .. } => 1.0 + alpha,
            // The log-sum-exp penalty has PENEX's stationarity: p ∝ e^{(1 + α) f}.
            LossKind::Exponential {
                alpha,
                constraint: Constraint::LogSumExp { .. },
            } => 1.0 + alpha,
            // A penalty on Σ_j f_j moves every logit's gradient by the same amount, so at the
            // optimum p_j e^{−α f_j} is constant: p ∝ e^{α f} (also without a constraint,
            // where no optimum exists: documented choice).
            LossKind::Exponential { alpha, .. } => alpha,
            _ => 1.0,
        }
    }

    /// The mean loss of a batch of logits `(n, K)` with `u32` (or `i64`) targets `(n,)`.
    /// Errors when the shapes disagree, a target is not a class (candle's `gather` would
    /// silently pick 0 for an index ≥ K, e.g. `u32::MAX`, and change the loss without a word),
    /// or a logit is NaN, infinite or (composite kernels) beyond ±[`MAX_LOGIT`]. Never changes
    /// the running `ρ` (see [`Self::forward`]).
    ///
    /// PENEX and SAMME are exponential losses: their value is `+∞` (and gradients `±∞`) when
    /// an exponent leaves the dtype's range — a logit beyond about ±88.7 in `f32` (±709.8 in
    /// `f64`), or `ρ · Σ e^f` beyond `f32::MAX` — because the true value does.
    pub fn loss(&self, logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
        Ok(self.forward(logits, targets)?.loss)
    }

    /// The loss and, for PENEX with a running `ρ`, the batch statistics that
    /// [`Self::update_state`] takes. Pure: `ρ` is read, never written.
    pub fn forward(&self, logits: &Tensor, targets: &Tensor) -> candle_core::Result<LossForward> {
        let (n, k) = logits.dims2()?;
        if targets.dims() != [n] {
            candle_core::bail!(
                "{n} rows of logits but targets of shape {:?}",
                targets.dims()
            );
        }
        let fused = self.kernels == Kernels::Fused
            && logits.device().is_cpu()
            && n > 0
            && k > 0
            && matches!(logits.dtype(), DType::F32 | DType::F64);
        if let (LossKind::Penex { alpha, .. }, true) = (self.kind, fused) {
            // The kernel validates logits and targets in its own pass.
            let op = PenexOp {
                loss: PenexLoss::new(alpha)
                    .and_then(|l| l.with_fixed_rho(self.current_rho()))
                    .and_then(|l| l.with_max_logit(MAX_LOGIT))
                    .and_then(|l| match self.tail {
                        Some(t) => l.with_linear_tail(t),
                        None => Ok(l),
                    })
                    .map_err(candle_core::Error::wrap)?
                    .with_ignore_index(None),
            };
            let out = logits.contiguous()?.apply_op2(&targets.contiguous()?, op)?;
            let terms = self.rho.map(|_| out.narrow(0, 1, 2)).transpose()?;
            return Ok(LossForward {
                loss: out.get(0)?,
                terms: terms.map(|t| t.detach()),
            });
        }
        self.check_composite(logits, targets, k)?;
        let idx = targets.unsqueeze(1)?;
        let pick = |t: &Tensor| t.gather(&idx, 1)?.squeeze(1);
        let loss = match self.kind {
            LossKind::CrossEntropy => {
                core_ml::kernels::cross_entropy(logits, targets, self.kernels)?
            }
            LossKind::LabelSmoothing { epsilon } => {
                let lsm = log_softmax(logits, D::Minus1)?;
                let nll = pick(&lsm)?.neg()?;
                let smooth = lsm.mean(D::Minus1)?.neg()?;
                ((nll * (1.0 - epsilon))? + (smooth * epsilon)?)?.mean_all()?
            }
            LossKind::ConfidencePenalty { beta } => {
                let lsm = log_softmax(logits, D::Minus1)?;
                let nll = pick(&lsm)?.neg()?.mean_all()?;
                let entropy = (softmax(logits, D::Minus1)? * &lsm)?
                    .sum(D::Minus1)?
                    .neg()?
                    .mean_all()?;
                (nll - (entropy * beta)?)?
            }
            LossKind::Focal { gamma } => {
                let lp = pick(&log_softmax(logits, D::Minus1)?)?;
                // (1 − p)^γ with the base kept above 1e-30: at p = 1 (one class, or a margin
                // past f32's resolution) the base is 0 and powf's gradient γ·0^{γ−1} is ∞ (NaN
                // after the chain rule) for γ < 1. The product with log p ≈ −(1 − p) makes the
                // clamp's effect on the loss below 1e-30.
                let w = lp.exp()?.affine(-1.0, 1.0)?.maximum(1e-30)?.powf(gamma)?;
                (w * lp)?.neg()?.mean_all()?
            }
            LossKind::Samme => {
                if k < 2 {
                    candle_core::bail!("SAMME needs at least two classes");
                }
                let centred = logits.broadcast_sub(&logits.mean_keepdim(D::Minus1)?)?;
                (pick(&centred)? * (-1.0 / (k as f64 - 1.0)))?
                    .exp()?
                    .mean_all()?
            }
            LossKind::Exponential { alpha, constraint } => {
                let exp_of = |f: &Tensor| (pick(f)? * -alpha)?.exp()?.mean_all();
                // h = mean_i (Σ_j f_ij)².
                let violation = || logits.sum(D::Minus1)?.sqr()?.mean_all();
                match constraint {
                    Constraint::Unconstrained => exp_of(logits)?,
                    Constraint::SumToZero => {
                        exp_of(&logits.broadcast_sub(&logits.mean_keepdim(D::Minus1)?)?)?
                    }
                    Constraint::LogSumExp { rho } => {
                        let lse = logits.log_sum_exp(D::Minus1)?.mean_all()?;
                        (exp_of(logits)? + (lse * rho)?)?
                    }
                    Constraint::Squared { rho } => {
                        (exp_of(logits)? + (violation()?.sqr()? * (rho / 2.0))?)?
                    }
                    Constraint::AugmentedLagrangian { rho, .. } => {
                        let h = violation()?;
                        let loss =
                            ((exp_of(logits)? + (&h * self.lambda)?)? + (h.sqr()? * (rho / 2.0))?)?;
                        let terms = Some(h.reshape(1)?.detach());
                        return Ok(LossForward { loss, terms });
                    }
                }
            }
            LossKind::Penex { alpha, .. } => {
                let z = (pick(logits)? * -alpha)?;
                let exp_term = match self.tail {
                    // The tangent τ(1 + z − ln τ) of e^z beyond z = ln τ.
                    Some(tau) => {
                        let line = ((&z - tau.ln())?.affine(tau, tau))?;
                        z.gt(tau.ln())?.where_cond(&line, &z.exp()?)?
                    }
                    None => z.exp()?,
                }
                .mean_all()?;
                let penalty = logits.exp()?.sum(D::Minus1)?.mean_all()?;
                let loss = (&exp_term + (&penalty * self.current_rho())?)?;
                let terms = match self.rho {
                    Some(_) => Some(Tensor::stack(&[&exp_term, &penalty], 0)?.detach()),
                    None => None,
                };
                return Ok(LossForward { loss, terms });
            }
        };
        Ok(LossForward { loss, terms: None })
    }

    /// The `ρ` the next forward pass uses (1 for losses without one).
    fn current_rho(&self) -> f64 {
        match self.kind {
            LossKind::Penex {
                rho: Rho::Fixed(r), ..
            } => r,
            _ => self.rho.map_or(1.0, |r| r.value()),
        }
    }

    /// The composite path's checks (the fused kernels check in their own pass).
    fn check_composite(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        k: usize,
    ) -> candle_core::Result<()> {
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
        Ok(())
    }

    /// Moves the loss's state by one training step's [`LossForward::terms`] (one host read of
    /// at most two numbers): PENEX's running `ρ` by one EMA step, the augmented Lagrangian's
    /// multiplier by `λ ← λ + (ρ/ν) h`; a no-op for other losses.
    pub fn update_state(&mut self, terms: &Tensor) -> Result<()> {
        let t = terms.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        match (self.kind, self.rho.as_mut()) {
            (LossKind::Penex { alpha, .. }, Some(r)) => {
                let &[a, b] = t.as_slice() else {
                    return Err(PenexError::Shape {
                        what: "ρ statistics [exp term, penalty]",
                        expected: 2,
                        got: t.len(),
                    });
                };
                r.update(alpha, a, b);
            }
            (
                LossKind::Exponential {
                    constraint: Constraint::AugmentedLagrangian { rho, nu },
                    ..
                },
                _,
            ) => {
                let &[h] = t.as_slice() else {
                    return Err(PenexError::Shape {
                        what: "augmented Lagrangian statistics [h]",
                        expected: 1,
                        got: t.len(),
                    });
                };
                if h.is_finite() {
                    self.lambda += rho / nu * h;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// One training step: `batch(step)` gives `(logits, targets)`, the trainer back-propagates
    /// this loss and steps, and then the loss's state (PENEX's running `ρ`, the augmented
    /// Lagrangian's `λ`) moves by [`Self::update_state`] from that batch's statistics — so the
    /// step's loss uses the state from before its update, as in the authors' code.
    pub fn train_step(
        &mut self,
        trainer: &mut Trainer,
        batch: impl FnOnce(usize) -> core_ml::Result<(Tensor, Tensor)>,
    ) -> Result<StepRecord> {
        let mut terms = None;
        let this = &*self;
        let rec = trainer.step(|step| {
            let (logits, targets) = batch(step)?;
            let f = this.forward(&logits, &targets)?;
            terms = f.terms;
            Ok(Forward::new(f.loss))
        })?;
        if let Some(t) = terms {
            self.update_state(&t)?;
        }
        Ok(rec)
    }

    /// The loss's state as numbers: the running `ρ`'s `[ρ, momentum, lo, hi]`, the augmented
    /// Lagrangian's `[λ]`, empty otherwise.
    pub fn state(&self) -> Vec<f64> {
        match (self.rho, self.multiplier()) {
            (Some(r), _) => r.to_state().to_vec(),
            (None, Some(l)) => vec![l],
            (None, None) => Vec::new(),
        }
    }

    /// Restores [`Self::state`] exactly (a running `ρ` checked as [`RunningRho::from_state`];
    /// a state of the wrong length is an error).
    pub fn restore_state(&mut self, state: &[f64]) -> Result<()> {
        let wrong = |expected| PenexError::Shape {
            what: "loss state",
            expected,
            got: state.len(),
        };
        let has_multiplier = self.multiplier().is_some();
        match (&mut self.rho, has_multiplier) {
            (Some(r), _) => *r = RunningRho::from_state(state)?,
            (None, true) => match state {
                &[l] if l.is_finite() => self.lambda = l,
                _ => return Err(wrong(1)),
            },
            (None, false) if state.is_empty() => {}
            (None, false) => return Err(wrong(0)),
        }
        Ok(())
    }

    /// Saves the trainer's checkpoint (parameters, optimiser state, counts) with this loss's
    /// state under `loss.state`, so that a run resumed by [`Self::load_checkpoint`] continues
    /// bit-identically.
    pub fn save_checkpoint(&self, trainer: &Trainer, path: &Path) -> Result<()> {
        Ok(trainer.save_checkpoint_with(path, &[("loss.state", self.state())])?)
    }

    /// Restores a checkpoint written by [`Self::save_checkpoint`] into `trainer` and this loss.
    pub fn load_checkpoint(&mut self, trainer: &mut Trainer, path: &Path) -> Result<()> {
        let extra = trainer.load_checkpoint_with(path)?;
        let state = extra
            .iter()
            .find(|(k, _)| k == "loss.state")
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[]);
        self.restore_state(state)
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

/// The fused PENEX kernel on candle tensors: `[loss, mean e^{−α f_y}, mean Σ_j e^{f_j}]` from
/// [`PenexLoss::forward`]; its backward is [`PenexLoss::forward_backward`] scaled by the
/// gradient of the loss entry (the two statistics are detached by the caller).
#[derive(Debug, Clone)]
struct PenexOp {
    loss: PenexLoss,
}

/// The contiguous storage of a CPU tensor as `&[T]`.
fn storage_slice<'a, T: candle_core::WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
) -> candle_core::Result<&'a [T]> {
    core_ml::kernels::slice(s, l, "fused PENEX")
}

fn penex_fwd<T, L>(
    op: &PenexOp,
    x: &[T],
    t: &[L],
    k: usize,
) -> candle_core::Result<(CpuStorage, Shape)>
where
    T: crate::dropin::Element + candle_core::WithDType,
    L: Label,
{
    let v = op.loss.forward(x, k, t).map_err(candle_core::Error::wrap)?;
    let out =
        [v.value, v.stats.exp_term, v.stats.penalty].map(<T as crate::dropin::Element>::narrow);
    Ok((T::to_cpu_storage_owned(out.to_vec()), Shape::from(3)))
}

fn penex_bwd<T, L>(
    op: &PenexOp,
    x: &[T],
    t: &[L],
    k: usize,
    g: T,
) -> candle_core::Result<(CpuStorage, Shape)>
where
    T: crate::dropin::Element + candle_core::WithDType,
    L: Label,
{
    let mut grad = vec![T::zero(); x.len()];
    op.loss
        .forward_backward(x, k, t, &mut grad)
        .map_err(candle_core::Error::wrap)?;
    if g != T::one() {
        grad.iter_mut().for_each(|v| *v *= g);
    }
    Ok((T::to_cpu_storage_owned(grad), Shape::from((t.len(), k))))
}

/// Dispatches on (logits dtype, targets dtype).
macro_rules! dispatch_penex {
    ($f:ident, $op:expr, ($s1:expr, $l1:expr), ($s2:expr, $l2:expr) $(, $g:expr)?) => {{
        let k = $l1.dims()[1];
        match ($s1, $s2) {
            (CpuStorage::F32(_), CpuStorage::U32(_)) => $f::<f32, u32>($op, storage_slice($s1, $l1)?, storage_slice($s2, $l2)?, k $(, storage_slice::<f32>($g.0, $g.1)?[0])?),
            (CpuStorage::F32(_), CpuStorage::I64(_)) => $f::<f32, i64>($op, storage_slice($s1, $l1)?, storage_slice($s2, $l2)?, k $(, storage_slice::<f32>($g.0, $g.1)?[0])?),
            (CpuStorage::F64(_), CpuStorage::U32(_)) => $f::<f64, u32>($op, storage_slice($s1, $l1)?, storage_slice($s2, $l2)?, k $(, storage_slice::<f64>($g.0, $g.1)?[0])?),
            (CpuStorage::F64(_), CpuStorage::I64(_)) => $f::<f64, i64>($op, storage_slice($s1, $l1)?, storage_slice($s2, $l2)?, k $(, storage_slice::<f64>($g.0, $g.1)?[0])?),
            (a, b) => candle_core::bail!(
                "fused PENEX: logits must be f32 or f64 and targets u32 or i64, not {:?} and {:?}",
                a.dtype(),
                b.dtype()
            ),
        }
    }};
}

impl CustomOp2 for PenexOp {
    fn name(&self) -> &'static str {
        "fused-penex"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        dispatch_penex!(penex_fwd, self, (s1, l1), (s2, l2))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // Only the loss entry carries gradient; the statistics are detached by the caller.
        let g = grad.narrow(0, 0, 1)?.contiguous()?;
        let back = PenexBackward { op: self.clone() };
        Ok((Some(logits.apply_op3_no_bwd(targets, &g, &back)?), None))
    }
}

/// The fused backward pass (not itself differentiable: a second derivative through it is
/// candle's `BackwardNotSupported`; use [`Kernels::Composite`]).
struct PenexBackward {
    op: PenexOp,
}

impl CustomOp3 for PenexBackward {
    fn name(&self) -> &'static str {
        "fused-penex-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        dispatch_penex!(penex_bwd, &self.op, (s1, l1), (s2, l2), (s3, l3))
    }
}
