//! A training loop on candle with a pluggable loss, AdamW / SGD / momentum, learning-rate
//! schedules, gradient clipping, periodic evaluation, early exit on a non-finite loss, progress,
//! and checkpoints.

use crate::error::{config, MlError, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::VarMap;

/// A loss as a value: logits and targets to a scalar tensor (e.g.
/// `candle_nn::loss::cross_entropy`, or a paper's own loss).
pub type LossFn<'a> = dyn Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor> + 'a;

/// Which optimiser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// AdamW (β = 0.9, 0.999, ε = 1e-8) with decoupled weight decay.
    AdamW {
        /// Weight decay λ.
        weight_decay: f64,
    },
    /// Plain SGD.
    Sgd,
    /// Heavy-ball momentum `v ← βv + g`, `θ ← θ − lr·v`.
    Momentum {
        /// β ∈ [0, 1).
        beta: f64,
    },
}

/// Learning-rate schedule, as a factor on the base rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// Factor 1.
    Constant,
    /// Linear warm-up from 0 over `warmup` steps, then cosine decay to `min_factor` at the last
    /// step.
    CosineWarmup {
        /// Warm-up steps.
        warmup: usize,
        /// Final factor.
        min_factor: f64,
    },
}

impl Schedule {
    /// The factor at `step` (0-based) of `total`.
    pub fn factor(&self, step: usize, total: usize) -> f64 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::CosineWarmup { warmup, min_factor } => {
                if step < warmup {
                    (step + 1) as f64 / warmup as f64
                } else {
                    let span = total.saturating_sub(warmup).max(1) as f64;
                    let t = ((step - warmup) as f64 / span).min(1.0);
                    min_factor + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
                }
            }
        }
    }
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Base learning rate.
    pub lr: f64,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Schedule.
    pub schedule: Schedule,
    /// Clip the global gradient norm to this value.
    pub grad_clip: Option<f64>,
    /// Evaluate every this many steps (and after the last); 0 = only after the last.
    pub eval_every: usize,
}

impl Default for TrainConfig {
    /// 1000 AdamW steps (λ = 0.01) at 1e-3, constant rate, no clipping, evaluation at the end.
    fn default() -> Self {
        Self {
            steps: 1000,
            lr: 1e-3,
            optimizer: OptimizerKind::AdamW { weight_decay: 0.01 },
            schedule: Schedule::Constant,
            grad_clip: None,
            eval_every: 0,
        }
    }
}

impl TrainConfig {
    /// Checks every value; [`train`] calls it first.
    pub fn check(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(config("steps", 0, "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(config(
                "learning rate",
                self.lr,
                "must be finite and positive",
            ));
        }
        if let Some(c) = self.grad_clip {
            if !(c.is_finite() && c > 0.0) {
                return Err(config("grad_clip", c, "must be finite and positive"));
            }
        }
        match self.optimizer {
            OptimizerKind::Momentum { beta } if !(0.0..1.0).contains(&beta) => {
                Err(config("momentum β", beta, "must lie in [0, 1)"))
            }
            OptimizerKind::AdamW { weight_decay }
                if weight_decay.is_nan() || weight_decay < 0.0 =>
            {
                Err(config("weight decay", weight_decay, "must be ≥ 0"))
            }
            _ => match self.schedule {
                Schedule::CosineWarmup { min_factor, .. } if !(0.0..=1.0).contains(&min_factor) => {
                    Err(config("min_factor", min_factor, "must lie in [0, 1]"))
                }
                _ => Ok(()),
            },
        }
    }
}

/// The variables of `varmap` in name order.
pub fn sorted_vars(varmap: &VarMap) -> Vec<Var> {
    crate::trainer::named_vars(varmap)
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// The global L2 norm of the gradients of `vars`.
pub fn grad_norm(grads: &GradStore, vars: &[Var]) -> candle_core::Result<f64> {
    let mut s = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v) {
            s += sum_of_squares(g)?;
        }
    }
    Ok(s.sqrt())
}

/// `Σ x²` of a tensor, accumulated in f64 in element order: straight from the storage of a
/// contiguous CPU tensor (no temporary tensors), through tensor operations otherwise.
fn sum_of_squares(t: &Tensor) -> candle_core::Result<f64> {
    if t.is_contiguous() {
        let (storage, layout) = t.storage_and_layout();
        if let (candle_core::Storage::Cpu(cpu), Some((a, b))) =
            (&*storage, layout.contiguous_offsets())
        {
            match cpu {
                candle_core::CpuStorage::F32(v) => {
                    return Ok(v[a..b].iter().map(|&x| f64::from(x) * f64::from(x)).sum());
                }
                candle_core::CpuStorage::F64(v) => {
                    return Ok(v[a..b].iter().map(|&x| x * x).sum());
                }
                _ => {}
            }
        }
    }
    t.to_dtype(candle_core::DType::F64)?
        .sqr()?
        .sum_all()?
        .to_scalar::<f64>()
}

/// What a training run recorded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// Training loss at every step.
    pub train_loss: Vec<f64>,
    /// `(step, value)` of each evaluation (1-based step count).
    pub evals: Vec<(usize, f64)>,
    /// Gradient norm before clipping at every step.
    pub grad_norms: Vec<f64>,
}

/// Trains the variables of `varmap`. Each step calls `batch(step)` for `(logits, targets)` of a
/// fresh mini-batch, applies `loss`, back-propagates, clips, and steps the optimiser at the
/// scheduled rate. `eval(step)` runs every `eval_every` steps and after the last. Stops with
/// [`MlError::NonFiniteLoss`] as soon as a loss is NaN or infinite.
///
/// A thin wrapper over [`Trainer`](crate::trainer::Trainer) with
/// [`DecayRule::Uniform`](crate::trainer::DecayRule::Uniform) (AdamW's weight decay on every
/// variable, as candle-nn's AdamW does); use the trainer itself for hooks, auxiliary losses,
/// parameter groups or gradient-free steps.
pub fn train(
    varmap: &VarMap,
    cfg: &TrainConfig,
    loss: &LossFn<'_>,
    mut batch: impl FnMut(usize) -> Result<(Tensor, Tensor)>,
    mut eval: impl FnMut(usize) -> Result<f64>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<History> {
    cfg.check()?;
    let mut trainer = crate::trainer::Trainer::new(
        varmap,
        crate::trainer::TrainerConfig {
            lr: cfg.lr,
            optimizer: cfg.optimizer,
            schedule: cfg.schedule,
            total_steps: cfg.steps,
            grad_clip: cfg.grad_clip,
            decay: crate::trainer::DecayRule::Uniform,
        },
    )?;
    let mut h = History::default();
    for _ in 0..cfg.steps {
        let rec = trainer.step(|step| {
            let (logits, targets) = batch(step)?;
            Ok(crate::trainer::Forward::new(loss(&logits, &targets)?))
        })?;
        h.train_loss.push(rec.loss);
        h.grad_norms.push(rec.grad_norm.unwrap_or(f64::NAN));
        let done = rec.step;
        if (cfg.eval_every > 0 && done % cfg.eval_every == 0) || done == cfg.steps {
            h.evals.push((done, eval(done)?));
        }
        if let Some(p) = progress {
            p.inc(1);
        }
    }
    Ok(h)
}

/// Saves every variable of `varmap` to a safetensors file.
pub fn save_checkpoint(varmap: &VarMap, path: &std::path::Path) -> Result<()> {
    varmap.save(path).map_err(|e| MlError::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Loads a safetensors checkpoint into the (already built) variables of `varmap`.
pub fn load_checkpoint(varmap: &mut VarMap, path: &std::path::Path) -> Result<()> {
    varmap.load(path).map_err(|e| MlError::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::{Init, VarBuilder};

    /// Least squares `½‖Xθ − y‖²/n` with a known minimiser: every optimiser must reach it.
    fn fit(kind: OptimizerKind, lr: f64, steps: usize) -> (Vec<f64>, History) {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F64, &dev);
        let theta = vb.get_with_hints(2, "theta", Init::Const(0.0)).unwrap();
        let x = Tensor::new(&[[1.0f64, 0.0], [0.0, 2.0], [1.0, 1.0]], &dev).unwrap();
        let truth = Tensor::new(&[1.5f64, -0.5], &dev).unwrap();
        let y = x
            .matmul(&truth.unsqueeze(1).unwrap())
            .unwrap()
            .squeeze(1)
            .unwrap();
        let cfg = TrainConfig {
            steps,
            lr,
            optimizer: kind,
            schedule: Schedule::Constant,
            grad_clip: None,
            eval_every: 0,
        };
        let mse = |p: &Tensor, t: &Tensor| candle_nn::loss::mse(p, t);
        let h = train(
            &vm,
            &cfg,
            &mse,
            |_| Ok((x.matmul(&theta.unsqueeze(1)?)?.squeeze(1)?, y.clone())),
            |_| Ok(0.0),
            None,
        )
        .unwrap();
        (theta.to_vec1::<f64>().unwrap(), h)
    }

    #[test]
    fn every_optimiser_reaches_the_least_squares_solution() {
        for (kind, lr) in [
            (OptimizerKind::Sgd, 0.3),
            (OptimizerKind::Momentum { beta: 0.8 }, 0.1),
            (OptimizerKind::AdamW { weight_decay: 0.0 }, 0.05),
        ] {
            let (theta, h) = fit(kind, lr, 2000);
            assert!(
                (theta[0] - 1.5).abs() < 1e-4 && (theta[1] + 0.5).abs() < 1e-4,
                "{kind:?}: {theta:?}"
            );
            assert!(h.train_loss.last().unwrap() < &1e-8);
        }
    }

    #[test]
    fn one_sgd_step_by_hand() {
        // L = mean((θ·x − y)²) with x = (1, 0) etc.; from θ = 0 the gradient is −2/n Σ x_i y_i.
        let (theta, _) = fit(OptimizerKind::Sgd, 0.1, 1);
        // y = (1.5, −1, 1); g = −2/3 · (1.5 + 1, −2 + 1) = (−5/3, 2/3); θ1 = −0.1 g.
        assert!(
            (theta[0] - 0.1 * 5.0 / 3.0).abs() < 1e-12
                && (theta[1] + 0.1 * 2.0 / 3.0).abs() < 1e-12,
            "{theta:?}"
        );
    }

    #[test]
    fn cosine_schedule_shape() {
        let s = Schedule::CosineWarmup {
            warmup: 10,
            min_factor: 0.1,
        };
        assert!((s.factor(0, 110) - 0.1).abs() < 1e-15);
        assert!((s.factor(9, 110) - 1.0).abs() < 1e-15);
        assert!((s.factor(60, 110) - 0.55).abs() < 1e-12);
        assert!((s.factor(110, 110) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn non_finite_loss_stops_training_and_bad_configs_are_refused() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let w = vb.get_with_hints(1, "w", Init::Const(1.0)).unwrap();
        let cfg = TrainConfig {
            steps: 5,
            ..Default::default()
        };
        let id = |p: &Tensor, _: &Tensor| p.sum_all();
        let r = train(
            &vm,
            &cfg,
            &id,
            |s| Ok(((&w * if s == 2 { f64::NAN } else { 1.0 })?, w.clone())),
            |_| Ok(0.0),
            None,
        );
        assert!(matches!(r, Err(MlError::NonFiniteLoss { step: 2, .. })));
        for bad in [
            TrainConfig {
                steps: 0,
                ..Default::default()
            },
            TrainConfig {
                lr: -1.0,
                ..Default::default()
            },
            TrainConfig {
                grad_clip: Some(0.0),
                ..Default::default()
            },
            TrainConfig {
                optimizer: OptimizerKind::Momentum { beta: 1.0 },
                ..Default::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn clipping_bounds_the_step() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F64, &Device::Cpu);
        let w = vb.get_with_hints(3, "w", Init::Const(0.0)).unwrap();
        let cfg = TrainConfig {
            steps: 1,
            lr: 1.0,
            optimizer: OptimizerKind::Sgd,
            grad_clip: Some(0.5),
            ..Default::default()
        };
        // L = 10 · Σ w: gradient (10, 10, 10), norm 17.3, clipped to 0.5.
        let l = |p: &Tensor, _: &Tensor| p.sum_all()? * 10.0;
        let h = train(
            &vm,
            &cfg,
            &l,
            |_| Ok((w.clone(), w.clone())),
            |_| Ok(0.0),
            None,
        )
        .unwrap();
        assert!((h.grad_norms[0] - 300f64.sqrt()).abs() < 1e-12);
        let step: f64 = w
            .to_vec1::<f64>()
            .unwrap()
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt();
        assert!((step - 0.5).abs() < 1e-12);
    }

    #[test]
    fn checkpoint_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let w = vb
            .get_with_hints(
                (2, 2),
                "w",
                Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
            )
            .unwrap();
        save_checkpoint(&vm, &p).unwrap();
        let mut vm2 = VarMap::new();
        let vb2 = VarBuilder::from_varmap(&vm2, DType::F32, &Device::Cpu);
        let w2 = vb2.get_with_hints((2, 2), "w", Init::Const(0.0)).unwrap();
        load_checkpoint(&mut vm2, &p).unwrap();
        assert_eq!(w.to_vec2::<f32>().unwrap(), w2.to_vec2::<f32>().unwrap());
        assert!(load_checkpoint(&mut vm2, &dir.path().join("missing")).is_err());
    }
}
