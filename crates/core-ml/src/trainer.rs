//! An open training step and the loop that runs it (the shape argmin uses): a [`Trainer`] does
//! one update per [`Trainer::step`] and returns a [`StepRecord`]; [`run`] repeats it under a
//! [`StopRule`] and hands every record to [`Observer`]s, which record and never change the
//! result.
//!
//! Ways in:
//! - the step's closure returns a [`Forward`]: the loss, auxiliary losses (added before
//!   back-propagation, e.g. a mixture of experts' balancing loss) and named statistics;
//! - after-step hooks ([`Trainer::add_after_step`]) get mutable access to the parameters
//!   (proximal steps, projections, ADMM updates of auxiliary matrices);
//! - parameter groups ([`DecayRule`]): by default no weight decay on norms, biases and
//!   embeddings;
//! - [`Trainer::step_with_direction`] applies a caller-supplied update direction with no
//!   backward pass (zeroth-order methods) and counts function evaluations;
//! - checkpoints ([`Trainer::save_checkpoint`]) hold the parameters, the optimiser's state and
//!   the step count, so a resumed run continues bit-identically.
//!
//! # Example: least squares with a projection hook and a loss recorder
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{Init, VarBuilder, VarMap};
//! use core_ml::train::OptimizerKind;
//! use core_ml::trainer::{run, Forward, SeriesRecorder, StopRule, Trainer, TrainerConfig};
//!
//! let dev = Device::Cpu;
//! let vm = VarMap::new();
//! let w = VarBuilder::from_varmap(&vm, DType::F64, &dev).get_with_hints(2, "w", Init::Const(0.0))?;
//! let x = Tensor::new(&[[1.0f64, 0.0], [0.0, 1.0], [1.0, 1.0]], &dev)?;
//! let y = Tensor::new(&[2.0f64, -1.0, 1.0], &dev)?;
//! let cfg = TrainerConfig { lr: 0.2, optimizer: OptimizerKind::Sgd, ..Default::default() };
//! let mut trainer = Trainer::new(&vm, cfg)?;
//! // After every step, project w onto the box [−1.5, 1.5]².
//! trainer.add_after_step(|ctx| {
//!     let v = ctx.var("w").expect("w");
//!     v.set(&v.as_tensor().clamp(-1.5, 1.5)?)?;
//!     Ok(())
//! });
//! let mut loss = SeriesRecorder::new("loss", 10);
//! run(&mut trainer, &StopRule::steps(200), |_| {
//!     let r = (x.matmul(&w.unsqueeze(1)?)?.squeeze(1)? - &y)?;
//!     Ok(Forward::new((r.sqr()?.mean_all()? * 0.5)?))
//! }, &mut [&mut loss])?;
//! let w: Vec<f64> = w.to_vec1()?;
//! assert!((w[0] - 1.5).abs() < 1e-9, "the box binds: {w:?}");
//! assert_eq!(loss.points.len(), 20);
//! # Ok::<(), core_ml::MlError>(())
//! ```

use crate::error::{config, MlError, Result};
use crate::optim::{AdamW, AdamWConfig, HeavyBall, HeavyBallConfig, OptimizerState, Sgd};
use crate::train::{grad_norm, OptimizerKind, Schedule};
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use candle_nn::{Optimizer, VarMap};
use std::collections::HashMap;
use std::path::Path;

/// What one forward pass hands the trainer.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The main loss (a scalar).
    pub loss: Tensor,
    /// Named auxiliary losses, added to the main loss before back-propagation.
    pub aux_losses: Vec<(String, Tensor)>,
    /// Named statistics to record (not differentiated).
    pub stats: Vec<(String, f64)>,
}

impl Forward {
    /// A forward pass with only a loss.
    pub fn new(loss: Tensor) -> Self {
        Self {
            loss,
            aux_losses: Vec::new(),
            stats: Vec::new(),
        }
    }

    /// Adds an auxiliary loss.
    pub fn with_aux(mut self, name: impl Into<String>, loss: Tensor) -> Self {
        self.aux_losses.push((name.into(), loss));
        self
    }

    /// Adds statistics.
    pub fn with_stats(mut self, stats: impl IntoIterator<Item = (String, f64)>) -> Self {
        self.stats.extend(stats);
        self
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Steps done, this one included (1-based).
    pub step: usize,
    /// The main loss before the update.
    pub loss: f64,
    /// Each auxiliary loss's value.
    pub aux: Vec<(String, f64)>,
    /// The learning rate used.
    pub lr: f64,
    /// The global gradient norm before clipping (`None` for a gradient-free step).
    pub grad_norm: Option<f64>,
    /// Whether the gradient was clipped.
    pub clipped: bool,
    /// The statistics the forward pass reported.
    pub stats: Vec<(String, f64)>,
    /// Function evaluations so far (one per [`Trainer::step`], as many as the caller says for
    /// [`Trainer::step_with_direction`]).
    pub evaluations: u64,
}

/// Which variables get weight decay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecayRule {
    /// Every variable.
    Uniform,
    /// None on norms, biases and embeddings: variables of rank ≤ 1 (biases, layer-norm gains)
    /// and variables whose name starts with `tok.` or `pos.` or contains `emb` get none; the
    /// rest (linear layers' weight matrices) get the configured decay. The default, as in most
    /// transformer training recipes.
    #[default]
    ExcludeNormsBiasesEmbeddings,
}

impl DecayRule {
    /// Whether `var` named `name` is decayed.
    pub fn decays(&self, name: &str, var: &Var) -> bool {
        match self {
            DecayRule::Uniform => true,
            DecayRule::ExcludeNormsBiasesEmbeddings => {
                var.rank() >= 2
                    && !name.starts_with("tok.")
                    && !name.starts_with("pos.")
                    && !name.contains("emb")
            }
        }
    }
}

/// Settings of a [`Trainer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainerConfig {
    /// Base learning rate.
    pub lr: f64,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Learning-rate schedule over `total_steps`.
    pub schedule: Schedule,
    /// The horizon the schedule is laid over.
    pub total_steps: usize,
    /// Clip the global gradient norm to this value.
    pub grad_clip: Option<f64>,
    /// Which variables get weight decay (AdamW).
    pub decay: DecayRule,
}

impl Default for TrainerConfig {
    /// AdamW (λ = 0.01, not on norms, biases, embeddings) at 1e-3 for 1000 steps, constant rate,
    /// no clipping.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            optimizer: OptimizerKind::AdamW { weight_decay: 0.01 },
            schedule: Schedule::Constant,
            total_steps: 1000,
            grad_clip: None,
            decay: DecayRule::default(),
        }
    }
}

impl TrainerConfig {
    /// Checks every value.
    pub fn check(&self) -> Result<()> {
        crate::train::TrainConfig {
            steps: self.total_steps,
            lr: self.lr,
            optimizer: self.optimizer,
            schedule: self.schedule,
            grad_clip: self.grad_clip,
            eval_every: 0,
        }
        .check()
    }
}

/// An optimiser the trainer can drive: candle's [`Optimizer`] step plus exportable state.
pub trait TrainerOptimizer: OptimizerState {
    /// One update from `grads`.
    fn apply(&mut self, grads: &GradStore) -> candle_core::Result<()>;
    /// Sets the learning rate.
    fn set_lr(&mut self, lr: f64);
}

impl<T: Optimizer + OptimizerState> TrainerOptimizer for T {
    fn apply(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step(grads)
    }
    fn set_lr(&mut self, lr: f64) {
        self.set_learning_rate(lr);
    }
}

/// What an after-step hook sees.
#[derive(Debug)]
pub struct AfterStep<'a> {
    /// Steps done (1-based).
    pub step: usize,
    /// The learning rate of the step.
    pub lr: f64,
    /// The parameters, by name in name order; `Var::set` changes them in place.
    pub vars: &'a [(String, Var)],
}

impl AfterStep<'_> {
    /// The parameter named `name`.
    pub fn var(&self, name: &str) -> Option<&Var> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

type Hook = Box<dyn FnMut(&AfterStep<'_>) -> Result<()>>;

/// One update at a time over the variables of a [`VarMap`] (see the module docs).
pub struct Trainer {
    named: Vec<(String, Var)>,
    vars: Vec<Var>,
    opt: Box<dyn TrainerOptimizer>,
    cfg: TrainerConfig,
    steps: usize,
    evaluations: u64,
    hooks: Vec<Hook>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("vars", &self.named.len())
            .field("cfg", &self.cfg)
            .field("steps", &self.steps)
            .field("evaluations", &self.evaluations)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

/// The variables of `varmap` by name, in name order.
pub fn named_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let mut named: Vec<(String, Var)> = varmap
        .data()
        .lock()
        .map(|d| d.clone().into_iter().collect())
        .unwrap_or_default();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

impl Trainer {
    /// A trainer over every variable of `varmap` (name order) with the optimiser of `cfg`.
    pub fn new(varmap: &VarMap, cfg: TrainerConfig) -> Result<Self> {
        cfg.check()?;
        let named = named_vars(varmap);
        let vars: Vec<Var> = named.iter().map(|(_, v)| v.clone()).collect();
        let opt: Box<dyn TrainerOptimizer> = match cfg.optimizer {
            OptimizerKind::AdamW { weight_decay } => Box::new(AdamW::new(
                vars.clone(),
                AdamWConfig {
                    lr: cfg.lr,
                    weight_decay: named
                        .iter()
                        .map(|(n, v)| {
                            if cfg.decay.decays(n, v) {
                                weight_decay
                            } else {
                                0.0
                            }
                        })
                        .collect(),
                    default_weight_decay: weight_decay,
                    ..Default::default()
                },
            )?),
            OptimizerKind::Sgd => Box::new(Sgd::new(vars.clone(), cfg.lr)?),
            OptimizerKind::Momentum { beta } => Box::new(HeavyBall::new(
                vars.clone(),
                HeavyBallConfig { lr: cfg.lr, beta },
            )?),
        };
        Ok(Self::with_optimizer(named, opt, cfg))
    }

    /// A trainer over `named` variables with a caller-built optimiser (any
    /// [`candle_nn::Optimizer`] that also implements [`OptimizerState`]); `cfg.optimizer` is
    /// then ignored.
    pub fn with_optimizer(
        named: Vec<(String, Var)>,
        opt: Box<dyn TrainerOptimizer>,
        cfg: TrainerConfig,
    ) -> Self {
        let vars = named.iter().map(|(_, v)| v.clone()).collect();
        Self {
            named,
            vars,
            opt,
            cfg,
            steps: 0,
            evaluations: 0,
            hooks: Vec::new(),
        }
    }

    /// Registers a hook run after every update (gradient or gradient-free), in registration
    /// order.
    pub fn add_after_step(&mut self, hook: impl FnMut(&AfterStep<'_>) -> Result<()> + 'static) {
        self.hooks.push(Box::new(hook));
    }

    /// The parameters by name, in name order.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.named
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> usize {
        self.steps
    }

    /// Function evaluations so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// The configuration.
    pub fn config(&self) -> &TrainerConfig {
        &self.cfg
    }

    /// The learning rate of the next step.
    pub fn next_lr(&self) -> f64 {
        self.cfg.lr * self.cfg.schedule.factor(self.steps, self.cfg.total_steps)
    }

    fn after(&mut self, lr: f64) -> Result<()> {
        let ctx = AfterStep {
            step: self.steps,
            lr,
            vars: &self.named,
        };
        for h in self.hooks.iter_mut() {
            h(&ctx)?;
        }
        Ok(())
    }

    /// One gradient step: `forward(step)` (0-based) gives the loss and its auxiliaries; their
    /// sum is back-propagated, the gradient clipped, the optimiser stepped at the scheduled rate,
    /// then the hooks run. Fails with [`MlError::NonFiniteLoss`] on a NaN or infinite total loss,
    /// before touching the parameters.
    pub fn step(&mut self, forward: impl FnOnce(usize) -> Result<Forward>) -> Result<StepRecord> {
        let lr = self.next_lr();
        self.opt.set_lr(lr);
        let f = forward(self.steps)?;
        let scalar =
            |t: &Tensor| -> Result<f64> { Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?) };
        let value = scalar(&f.loss)?;
        let mut total = f.loss.clone();
        let mut aux = Vec::with_capacity(f.aux_losses.len());
        for (name, a) in &f.aux_losses {
            aux.push((name.clone(), scalar(a)?));
            total = (total + a)?;
        }
        let total_value = value + aux.iter().map(|a| a.1).sum::<f64>();
        if !total_value.is_finite() {
            return Err(MlError::NonFiniteLoss {
                step: self.steps,
                loss: total_value,
            });
        }
        let mut grads = total.backward()?;
        let norm = grad_norm(&grads, &self.vars)?;
        let mut clipped = false;
        if let Some(c) = self.cfg.grad_clip {
            if norm > c {
                clipped = true;
                for v in &self.vars {
                    if let Some(g) = grads.get(v) {
                        let scaled = (g * (c / norm))?;
                        grads.insert(v, scaled);
                    }
                }
            }
        }
        self.opt.apply(&grads)?;
        self.steps += 1;
        self.evaluations += 1;
        self.after(lr)?;
        Ok(StepRecord {
            step: self.steps,
            loss: value,
            aux,
            lr,
            grad_norm: Some(norm),
            clipped,
            stats: f.stats,
            evaluations: self.evaluations,
        })
    }

    /// One gradient-free step `θ ← θ − lr·d` with `direction[i]` the direction of variable `i`
    /// in name order ([`Self::vars`]), at the scheduled rate; `loss` is the caller's estimate of
    /// the loss before the step and `evaluations` the function evaluations it cost (two per
    /// direction for a central-difference estimate). No backward pass runs; the hooks do.
    pub fn step_with_direction(
        &mut self,
        direction: &[Tensor],
        loss: f64,
        evaluations: u64,
    ) -> Result<StepRecord> {
        if direction.len() != self.vars.len() {
            return Err(config(
                "direction",
                direction.len(),
                "needs one tensor per trainable variable",
            ));
        }
        for ((name, v), d) in self.named.iter().zip(direction) {
            if d.shape() != v.shape() {
                return Err(MlError::Data(format!(
                    "direction for {name} has shape {:?}, the variable {:?}",
                    d.shape(),
                    v.shape()
                )));
            }
        }
        if !loss.is_finite() {
            return Err(MlError::NonFiniteLoss {
                step: self.steps,
                loss,
            });
        }
        let lr = self.next_lr();
        for (v, d) in self.vars.iter().zip(direction) {
            v.set(&v.sub(&(d.to_dtype(v.dtype())? * lr)?)?)?;
        }
        self.steps += 1;
        self.evaluations += evaluations;
        self.after(lr)?;
        Ok(StepRecord {
            step: self.steps,
            loss,
            aux: Vec::new(),
            lr,
            grad_norm: None,
            clipped: false,
            stats: Vec::new(),
            evaluations: self.evaluations,
        })
    }

    /// Saves the parameters (`param.<name>`), the optimiser's state (`opt.<key>`) and the step
    /// and evaluation counts to one safetensors file.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        self.save_checkpoint_with(path, &[])
    }

    /// [`Self::save_checkpoint`] plus caller state the training depends on (a loss's running
    /// statistics, say), each a named `f64` vector stored as `state.<name>`; an empty vector is
    /// stored as well and comes back empty.
    pub fn save_checkpoint_with(&self, path: &Path, extra: &[(&str, Vec<f64>)]) -> Result<()> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        let dev = self
            .vars
            .first()
            .map(|v| v.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        for (name, values) in extra {
            // safetensors holds no zero-length tensor portably: one leading length entry.
            let mut v = Vec::with_capacity(values.len() + 1);
            v.push(values.len() as f64);
            v.extend_from_slice(values);
            map.insert(format!("state.{name}"), Tensor::new(v.as_slice(), &dev)?);
        }
        for (n, v) in &self.named {
            map.insert(format!("param.{n}"), v.as_tensor().clone());
        }
        for (k, t) in self.opt.state()? {
            map.insert(format!("opt.{k}"), t);
        }
        let counts = [self.steps as f64, self.evaluations as f64];
        map.insert("trainer.counts".into(), Tensor::new(&counts, &dev)?);
        candle_core::safetensors::save(&map, path).map_err(|e| MlError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// Restores a checkpoint written by [`Self::save_checkpoint`] into this trainer (same
    /// variables, same optimiser kind).
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<()> {
        self.load_checkpoint_with(path).map(|_| ())
    }

    /// [`Self::load_checkpoint`], returning the caller state saved by
    /// [`Self::save_checkpoint_with`] (name order).
    pub fn load_checkpoint_with(&mut self, path: &Path) -> Result<Vec<(String, Vec<f64>)>> {
        let dev = self
            .vars
            .first()
            .map(|v| v.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        let map = candle_core::safetensors::load(path, &dev).map_err(|e| MlError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        for (n, v) in &self.named {
            let t = map
                .get(&format!("param.{n}"))
                .ok_or_else(|| MlError::Data(format!("checkpoint has no parameter {n}")))?;
            if t.shape() != v.shape() {
                return Err(MlError::Data(format!(
                    "checkpoint parameter {n} has shape {:?}, the model {:?}",
                    t.shape(),
                    v.shape()
                )));
            }
            v.set(&t.to_dtype(v.dtype())?)?;
        }
        let state: Vec<(String, Tensor)> = map
            .iter()
            .filter_map(|(k, t)| k.strip_prefix("opt.").map(|s| (s.to_string(), t.clone())))
            .collect();
        self.opt.load_state(&state)?;
        let counts = map
            .get("trainer.counts")
            .ok_or_else(|| MlError::Data("checkpoint has no trainer counts".into()))?
            .to_vec1::<f64>()?;
        if counts.len() != 2 {
            return Err(MlError::Data(
                "checkpoint trainer counts are malformed".into(),
            ));
        }
        let mut extra = Vec::new();
        for (k, t) in &map {
            if let Some(name) = k.strip_prefix("state.") {
                let v = t.to_dtype(DType::F64)?.to_vec1::<f64>()?;
                match v.split_first() {
                    Some((&len, rest)) if len == rest.len() as f64 => {
                        extra.push((name.to_string(), rest.to_vec()))
                    }
                    _ => {
                        return Err(MlError::Data(format!(
                            "checkpoint state {name} is malformed"
                        )))
                    }
                }
            }
        }
        extra.sort_by(|a, b| a.0.cmp(&b.0));
        self.steps = counts[0] as usize;
        self.evaluations = counts[1] as u64;
        Ok(extra)
    }
}

/// When [`run`] stops.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StopRule {
    /// After this many steps of this run.
    pub max_steps: usize,
    /// As soon as a step's loss is at or below this.
    pub target_loss: Option<f64>,
    /// As soon as the trainer has used this many function evaluations.
    pub max_evaluations: Option<u64>,
}

impl StopRule {
    /// Stop after `n` steps.
    pub fn steps(n: usize) -> Self {
        Self {
            max_steps: n,
            ..Default::default()
        }
    }

    fn done(&self, taken: usize, rec: &StepRecord) -> bool {
        taken >= self.max_steps
            || self.target_loss.is_some_and(|t| rec.loss <= t)
            || self.max_evaluations.is_some_and(|m| rec.evaluations >= m)
    }
}

/// Sees every step of [`run`]; records, never changes the result.
pub trait Observer {
    /// Called after every step.
    fn observe(&mut self, record: &StepRecord, trainer: &Trainer) -> Result<()>;
}

/// Records one quantity per step as `(step, value)` points (for plots).
#[derive(Debug, Clone)]
pub struct SeriesRecorder {
    /// The quantity: `"loss"`, `"lr"`, `"grad_norm"`, `"evaluations"`, or the name of an
    /// auxiliary loss or statistic.
    pub quantity: String,
    /// Record every this many steps (1 = all).
    pub every: usize,
    /// The recorded points.
    pub points: Vec<(f64, f64)>,
}

impl SeriesRecorder {
    /// Records `quantity` every `every` steps.
    pub fn new(quantity: impl Into<String>, every: usize) -> Self {
        Self {
            quantity: quantity.into(),
            every: every.max(1),
            points: Vec::new(),
        }
    }

    /// The points as a plot series.
    #[cfg(feature = "experiments")]
    pub fn to_series(&self, name: impl Into<String>) -> repro::Series {
        let (x, y) = self.points.iter().copied().unzip();
        repro::Series::new(name, x, y)
    }
}

impl Observer for SeriesRecorder {
    fn observe(&mut self, r: &StepRecord, _: &Trainer) -> Result<()> {
        if !r.step.is_multiple_of(self.every) {
            return Ok(());
        }
        let v = match self.quantity.as_str() {
            "loss" => Some(r.loss),
            "lr" => Some(r.lr),
            "grad_norm" => r.grad_norm,
            "evaluations" => Some(r.evaluations as f64),
            q => r
                .aux
                .iter()
                .chain(&r.stats)
                .find(|(n, _)| n == q)
                .map(|(_, v)| *v),
        };
        if let Some(v) = v {
            self.points.push((r.step as f64, v));
        }
        Ok(())
    }
}

/// Runs `trainer.step(forward)` until `stop` says so, handing each record to every observer.
/// Returns the records.
pub fn run(
    trainer: &mut Trainer,
    stop: &StopRule,
    mut forward: impl FnMut(usize) -> Result<Forward>,
    observers: &mut [&mut dyn Observer],
) -> Result<Vec<StepRecord>> {
    let mut records = Vec::new();
    if stop.max_steps == 0 {
        return Ok(records);
    }
    loop {
        let rec = trainer.step(&mut forward)?;
        for o in observers.iter_mut() {
            o.observe(&rec, trainer)?;
        }
        let done = stop.done(records.len() + 1, &rec);
        records.push(rec);
        if done {
            return Ok(records);
        }
    }
}
