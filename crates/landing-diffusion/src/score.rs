//! The score network (a SiLU MLP on candle) and its training on core-ml's trainer with the
//! reverse-kernel likelihood on stored forward paths.
//!
//! For a forward path `x_0 … x_N` the loss of step `n` is the negative log-likelihood of the
//! observed backward move under the Gaussian reverse kernel, restricted to the tangent space:
//! - overdamped: `½‖P(x_n)(x_{n−1} − x_n − ½σ_n²Δt·s_θ(x_n, t_n))‖² / (σ_n²Δt)`;
//! - underdamped: `½‖P(x_n)((x_{n−1} − x_n)/h_{n−1} + a_n v_n + h_n s_θ(x_n, v_n, t_n))‖² /
//!   (1 − a_n²)` with `h_n = σ_n²Δt`, `a_n = exp(−γh_n)` and `v_n = P(x_n)(x_{n+1} − x_n)/h_n`
//!   — the velocity the reverse run has at `x_n` (that of its previous step). The notes write
//!   the same kernel with `h_n` for `h_{n−1}` and multiply through by `h²`; this form keeps the
//!   forward and reverse indices consistent.
//!
//! Each optimiser step draws a minibatch of `(path, n)` pairs uniformly from the current paths;
//! the paths are re-simulated from fresh data points every `refresh_every` steps.

use crate::error::{LandingError, Result};
use crate::frame::Frame;
use crate::sampler::{Paths, Sampler, ScoreModel};
use crate::sets::ConstraintSet;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Activation, VarBuilder, VarMap};
use core_linalg::Rng;
use core_ml::models::{init_seeded, Mlp};
use core_ml::train::{OptimizerKind, Schedule};
use core_ml::trainer::{run, Forward, SeriesRecorder, StopRule, Trainer, TrainerConfig};
use rand::RngExt;

/// The network's float type. f64: f32 trains about 1.5× faster, but its last-bit differences
/// between CPUs' kernels, grown by training and the reverse run, move samples across histogram
/// bins, and the snapshot would no longer hold across machines.
const DTYPE: DType = DType::F64;

fn model_err(e: impl std::fmt::Display) -> LandingError {
    LandingError::Model(e.to_string())
}

/// A SiLU MLP `[x, (v), t/T] → D`, in f64 on the CPU.
pub struct ScoreNet {
    mlp: Mlp,
    varmap: VarMap,
    dim: usize,
    in_dim: usize,
    horizon: f64,
}

impl std::fmt::Debug for ScoreNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScoreNet")
            .field("dim", &self.dim)
            .field("in_dim", &self.in_dim)
            .finish()
    }
}

impl ScoreNet {
    /// A network for points in `ℝ^dim` (inputs `[x]`, or `[x, v]` with `velocity`), hidden
    /// widths `hidden`, initialised from `seed`; time enters as `t / horizon`.
    ///
    /// # Errors
    /// [`LandingError::Parameter`] for `dim = 0`, no or zero hidden widths, or a horizon that
    /// is not positive; [`LandingError::Model`] from candle.
    pub fn new(
        dim: usize,
        velocity: bool,
        hidden: &[usize],
        horizon: f64,
        seed: u64,
    ) -> Result<Self> {
        if dim == 0 || hidden.is_empty() || hidden.contains(&0) {
            return Err(LandingError::Parameter {
                name: "score network widths",
                value: dim as f64,
                reason: "need D ≥ 1 and at least one positive hidden width",
            });
        }
        crate::error::check_positive("horizon", horizon)?;
        let in_dim = if velocity { 2 * dim } else { dim };
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DTYPE, &Device::Cpu);
        let mut widths = vec![in_dim + 1];
        widths.extend_from_slice(hidden);
        widths.push(dim);
        let mlp = Mlp::new(vb.pp("score"), &widths, Activation::Silu).map_err(model_err)?;
        init_seeded(&varmap, seed).map_err(model_err)?;
        Ok(Self {
            mlp,
            varmap,
            dim,
            in_dim,
            horizon,
        })
    }

    /// The number of parameters.
    pub fn parameters(&self) -> usize {
        core_ml::trainer::named_vars(&self.varmap)
            .iter()
            .map(|(_, v)| v.elem_count())
            .sum()
    }

    fn forward_tensor(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        self.mlp.forward(input)
    }

    fn input_tensor(
        &self,
        input: &[f64],
        times: &[f64],
        rows: usize,
    ) -> candle_core::Result<Tensor> {
        let w = self.in_dim + 1;
        let mut buf = Vec::with_capacity(rows * w);
        for (r, t) in input.chunks_exact(self.in_dim).zip(times) {
            buf.extend_from_slice(r);
            buf.push(t / self.horizon);
        }
        Tensor::from_vec(buf, (rows, w), &Device::Cpu)?.to_dtype(DTYPE)
    }
}

impl ScoreModel for ScoreNet {
    fn eval(&self, input: &[f64], rows: usize, t: f64, out: &mut [f64]) -> Result<()> {
        if input.len() != rows * self.in_dim || out.len() != rows * self.dim {
            return Err(LandingError::Dimension {
                what: "score network input rows × (D or 2D)",
                expected: rows * self.in_dim,
                got: input.len(),
            });
        }
        let times = vec![t; rows];
        let x = self.input_tensor(input, &times, rows).map_err(model_err)?;
        let y: Vec<f64> = self
            .forward_tensor(&x)
            .and_then(|y| y.flatten_all()?.to_dtype(DType::F64)?.to_vec1())
            .map_err(model_err)?;
        out.copy_from_slice(&y);
        Ok(())
    }
}

/// Settings of [`train`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    /// Optimiser steps.
    pub steps: usize,
    /// `(path, n)` pairs per step.
    pub batch: usize,
    /// Adam's learning rate (the notes: 2e-3).
    pub lr: f64,
    /// Gradient-norm clip (the notes: 10).
    pub grad_clip: f64,
    /// Learning-rate schedule over the steps.
    pub schedule: Schedule,
    /// Hidden widths of the MLP (the notes' reproduction: 3 × 64).
    pub hidden: Vec<usize>,
    /// Paths simulated per refresh.
    pub paths: usize,
    /// Re-simulate the paths every this many steps.
    pub refresh_every: usize,
    /// Seed of the network's initialisation.
    pub init_seed: u64,
}

impl Default for TrainParams {
    /// 2000 Adam steps of 256 pairs at 2e-3 (clip 10, constant rate), 3 × 64 SiLU, 256 paths refreshed every
    /// 100 steps.
    fn default() -> Self {
        Self {
            steps: 2000,
            batch: 256,
            lr: 2e-3,
            grad_clip: 10.0,
            schedule: Schedule::Constant,
            hidden: vec![64, 64, 64],
            paths: 256,
            refresh_every: 100,
            init_seed: 0,
        }
    }
}

/// What training did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// `(step, loss)` every 50 steps.
    pub losses: Vec<(f64, f64)>,
    /// Path simulations.
    pub refreshes: usize,
    /// Trajectories dropped by failed projections over all simulations.
    pub dropped_paths: usize,
    /// Bytes of one stored path set (`(N + 1) × paths × D` f64).
    pub path_bytes: usize,
}

/// The training pairs of one path set: per pair the network input, the time, `base`, `coef`,
/// the weight and `P` (so that the loss is `½ w ‖base + coef·P s‖²`).
struct Pairs {
    dim: usize,
    in_dim: usize,
    input: Vec<f64>,
    time: Vec<f64>,
    base: Vec<f64>,
    coef: Vec<f64>,
    weight: Vec<f64>,
    proj: Vec<f64>,
}

fn pairs<S: ConstraintSet + ?Sized>(sampler: &Sampler, set: &S, paths: &Paths) -> Result<Pairs> {
    let (d, b, n_steps) = (paths.dim, paths.batch, paths.steps);
    let ud = sampler.uses_velocity();
    let in_dim = if ud { 2 * d } else { d };
    let dt = sampler.dt();
    let mut p = Pairs {
        dim: d,
        in_dim,
        input: Vec::new(),
        time: Vec::new(),
        base: Vec::new(),
        coef: Vec::new(),
        weight: Vec::new(),
        proj: Vec::new(),
    };
    let last = if ud { n_steps - 1 } else { n_steps };
    let friction = match sampler.params().dynamics {
        crate::sampler::Dynamics::Underdamped { friction } => friction,
        crate::sampler::Dynamics::Overdamped => 0.0,
    };
    for i in (0..b).filter(|&i| !paths.dropped[i]) {
        for n in 1..=last {
            let (x, xm) = (paths.point(n, i), paths.point(n - 1, i));
            let frame = Frame::at(set, x, sampler.params().repulsion)?;
            let proj = frame.projector();
            let h = sampler.step_variance(n);
            let mut base: Vec<f64>;
            if ud {
                let hp = sampler.step_variance(n - 1);
                let a = (-friction * h).exp();
                let xn1 = paths.point(n + 1, i);
                let mut v: Vec<f64> = xn1.iter().zip(x).map(|(a, b)| (a - b) / h).collect();
                frame.project_unchecked(&mut v);
                base = (0..d).map(|c| (xm[c] - x[c]) / hp + a * v[c]).collect();
                p.input.extend_from_slice(x);
                p.input.extend_from_slice(&v);
                p.coef.push(h);
                p.weight.push(1.0 / (1.0 - a * a));
            } else {
                base = xm.iter().zip(x).map(|(a, b)| a - b).collect();
                p.input.extend_from_slice(x);
                p.coef.push(-0.5 * h);
                p.weight.push(1.0 / h);
            }
            frame.project_unchecked(&mut base);
            p.base.extend_from_slice(&base);
            p.proj.extend_from_slice(&proj);
            p.time.push(n as f64 * dt);
        }
    }
    if p.time.is_empty() {
        return Err(LandingError::Empty {
            what: "training pairs (every path was dropped)",
        });
    }
    Ok(p)
}

/// Trains a [`ScoreNet`] for `sampler` on `data` (`n × D` points on the set) and returns it
/// with what training did.
///
/// # Errors
/// [`LandingError::Empty`] / [`LandingError::Dimension`] / [`LandingError::NonFinite`] for
/// bad data; [`LandingError::Parameter`] for zero steps, batch, paths or refresh interval, or
/// a learning rate or clip that is not positive; [`LandingError::Model`] from candle or the
/// trainer (a non-finite loss among them).
pub fn train<S: ConstraintSet + ?Sized>(
    sampler: &Sampler,
    set: &S,
    data: &[f64],
    params: &TrainParams,
    rng: &mut Rng,
) -> Result<(ScoreNet, TrainReport)> {
    let d = set.dim();
    let rows = crate::error::check_rows("training data", data, d)?;
    for (name, v) in [
        ("training steps", params.steps),
        ("batch", params.batch),
        ("paths", params.paths),
        ("refresh interval", params.refresh_every),
    ] {
        if v == 0 {
            return Err(LandingError::Parameter {
                name,
                value: 0.0,
                reason: "must be ≥ 1",
            });
        }
    }
    crate::error::check_positive("learning rate", params.lr)?;
    crate::error::check_positive("gradient clip", params.grad_clip)?;
    let net = ScoreNet::new(
        d,
        sampler.uses_velocity(),
        &params.hidden,
        sampler.params().horizon,
        params.init_seed,
    )?;
    let cfg = TrainerConfig {
        lr: params.lr,
        optimizer: OptimizerKind::AdamW { weight_decay: 0.0 },
        total_steps: params.steps,
        grad_clip: Some(params.grad_clip),
        schedule: params.schedule,
        ..Default::default()
    };
    let mut trainer = Trainer::new(&net.varmap, cfg).map_err(model_err)?;
    let mut report = TrainReport {
        losses: Vec::new(),
        refreshes: 0,
        dropped_paths: 0,
        path_bytes: 0,
    };
    let mut current: Option<Pairs> = None;
    let mut failure: Option<LandingError> = None;
    let mut recorder = SeriesRecorder::new("loss", 50);
    let dev = Device::Cpu;
    let result = run(
        &mut trainer,
        &StopRule::steps(params.steps),
        |step| {
            if step % params.refresh_every == 0 || current.is_none() {
                let mut x0 = Vec::with_capacity(params.paths * d);
                for _ in 0..params.paths {
                    let r = rng.random_range(0..rows);
                    x0.extend_from_slice(&data[r * d..(r + 1) * d]);
                }
                let built = sampler.forward(set, &x0, rng).and_then(|paths| {
                    report.refreshes += 1;
                    report.dropped_paths += paths.dropped_count();
                    report.path_bytes = paths.bytes();
                    pairs(sampler, set, &paths)
                });
                match built {
                    Ok(p) => current = Some(p),
                    Err(e) => {
                        failure = Some(e.clone());
                        return Err(core_ml::MlError::Data(e.to_string()));
                    }
                }
            }
            let p = current.as_ref().expect("pairs were just built");
            let total = p.time.len();
            let idx: Vec<usize> = (0..params.batch)
                .map(|_| rng.random_range(0..total))
                .collect();
            let (dd, ind) = (p.dim, p.in_dim);
            let mut inp = Vec::with_capacity(idx.len() * ind);
            let (mut times, mut base, mut coef, mut w, mut proj) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for &k in &idx {
                inp.extend_from_slice(&p.input[k * ind..(k + 1) * ind]);
                times.push(p.time[k]);
                base.extend_from_slice(&p.base[k * dd..(k + 1) * dd]);
                coef.push(p.coef[k]);
                w.push(p.weight[k]);
                proj.extend_from_slice(&p.proj[k * dd * dd..(k + 1) * dd * dd]);
            }
            let bsz = idx.len();
            let x = net.input_tensor(&inp, &times, bsz)?;
            let s = net.forward_tensor(&x)?;
            let pm = Tensor::from_vec(proj, (bsz, dd, dd), &dev)?.to_dtype(DTYPE)?;
            // P s per row as a broadcast product and a sum (D is small: one batched GEMM per row
            // would cost more than the network).
            let ps = pm.broadcast_mul(&s.unsqueeze(1)?)?.sum(2)?;
            let base = Tensor::from_vec(base, (bsz, dd), &dev)?.to_dtype(DTYPE)?;
            let coef = Tensor::from_vec(coef, (bsz, 1), &dev)?.to_dtype(DTYPE)?;
            let w = Tensor::from_vec(w, bsz, &dev)?.to_dtype(DTYPE)?;
            let r = (base + ps.broadcast_mul(&coef)?)?;
            let loss = ((r.sqr()?.sum(1)? * w)?.mean_all()? * 0.5)?;
            Ok(Forward::new(loss))
        },
        &mut [&mut recorder],
    );
    if let Some(e) = failure {
        return Err(e);
    }
    result.map_err(model_err)?;
    report.losses = recorder.points.clone();
    Ok((net, report))
}
