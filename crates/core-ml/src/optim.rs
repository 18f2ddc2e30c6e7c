//! Optimisers behind [`candle_nn::Optimizer`] whose state can be saved and restored, so a
//! resumed run continues bit-identically: plain SGD, heavy-ball momentum and AdamW with a weight
//! decay per variable (parameter groups).
//!
//! The update rules are the textbook ones. On the CPU each runs in place, one parallel pass per
//! variable and slot with no allocation, performing the same floating-point operations in the
//! same order as candle-nn's `SGD` and `AdamW` (elsewhere, those tensor expressions themselves
//! run), so uniform settings give bit-for-bit the numbers of candle's own optimisers:
//!
//! - SGD: `θ ← θ − lr·g`;
//! - heavy ball: `v ← β·v + g`, `θ ← θ − lr·v`;
//! - AdamW: `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`,
//!   `θ ← θ(1 − lr·λ_i) − lr·m̂/(√v̂ + ε)` with bias-corrected `m̂, v̂` and `λ_i` the weight decay
//!   of variable `i`.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Tensor, Var};
use candle_nn::Optimizer;
use rayon::prelude::*;

/// One element-wise update rule, applied in place to a variable (or an optimiser slot) from one
/// or two other tensors of its shape. Each rule performs the same floating-point operations, in
/// the same order and precision, as the composite tensor expression beside it (candle's
/// `t * c` is `t·c + 0`, whose `+ 0` turns −0 into +0), so the in-place optimisers give
/// bit-for-bit the numbers of candle-nn's; they only skip the ~15 allocating passes per
/// variable.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// `θ ← θ − (g·lr + 0)` (from `g`).
    Sgd { lr: f64 },
    /// `v ← (v·β + 0) + g` (from `g`).
    Velocity { beta: f64 },
    /// `m ← (m·β + 0) + (g·(1 − β) + 0)`, or with `g·g` (from `g`).
    Moment { beta: f64, square: bool },
    /// `θ ← (θ·(1 − lr·λ) + 0) − ((m·s_m + 0)/(√(v·s_v + 0) + ε)·lr + 0)` (from `m`, `v`).
    Adam {
        lr: f64,
        decay: f64,
        scale_m: f64,
        scale_v: f64,
        eps: f64,
    },
}

/// Elements per rayon task of the in-place updates.
const UPDATE_BLOCK: usize = 1 << 14;

fn contiguous_range(l: &Layout) -> candle_core::Result<(usize, usize)> {
    l.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg("in-place optimiser update of a non-contiguous tensor".into())
    })
}

macro_rules! update_impl {
    ($t:ty, $dst:expr, $a:expr, $b:expr, $rule:expr) => {{
        let k = |v: f64| v as $t;
        let (dst, a, b): (&mut [$t], &[$t], &[$t]) = ($dst, $a, $b);
        let chunks = dst
            .par_chunks_mut(UPDATE_BLOCK)
            .zip(a.par_chunks(UPDATE_BLOCK));
        match $rule {
            Rule::Sgd { lr } => chunks.for_each(|(d, a)| {
                for (d, &g) in d.iter_mut().zip(a) {
                    *d -= g * k(lr) + 0.0;
                }
            }),
            Rule::Velocity { beta } => chunks.for_each(|(d, a)| {
                for (d, &g) in d.iter_mut().zip(a) {
                    *d = (*d * k(beta) + 0.0) + g;
                }
            }),
            Rule::Moment { beta, square } => chunks.for_each(|(d, a)| {
                for (d, &g) in d.iter_mut().zip(a) {
                    let g = if square { g * g } else { g };
                    *d = (*d * k(beta) + 0.0) + (g * k(1.0 - beta) + 0.0);
                }
            }),
            Rule::Adam {
                lr,
                decay,
                scale_m,
                scale_v,
                eps,
            } => dst
                .par_chunks_mut(UPDATE_BLOCK)
                .zip(a.par_chunks(UPDATE_BLOCK))
                .zip(b.par_chunks(UPDATE_BLOCK))
                .for_each(|((d, m), v)| {
                    for ((d, &m), &v) in d.iter_mut().zip(m).zip(v) {
                        let kept = *d * k(1.0 - lr * decay) + 0.0;
                        let step =
                            (m * k(scale_m) + 0.0) / ((v * k(scale_v) + 0.0).sqrt() + k(eps));
                        *d = kept - (step * k(lr) + 0.0);
                    }
                }),
        }
    }};
}

fn update(
    rule: Rule,
    dst: &mut CpuStorage,
    ld: &Layout,
    a: (&CpuStorage, &Layout),
    b: Option<(&CpuStorage, &Layout)>,
) -> candle_core::Result<()> {
    let (d0, d1) = contiguous_range(ld)?;
    let (a0, a1) = contiguous_range(a.1)?;
    let b_range = b.map(|(_, l)| contiguous_range(l)).transpose()?;
    if a1 - a0 != d1 - d0 || b_range.is_some_and(|(b0, b1)| b1 - b0 != d1 - d0) {
        candle_core::bail!("in-place optimiser update: operands of different sizes");
    }
    match (dst, a.0, b.map(|(s, _)| s)) {
        (CpuStorage::F32(d), CpuStorage::F32(x), y) => {
            let y: &[f32] = match (y, b_range) {
                (Some(CpuStorage::F32(y)), Some((b0, b1))) => &y[b0..b1],
                (None, _) => &[],
                _ => candle_core::bail!("in-place optimiser update: mixed dtypes"),
            };
            update_impl!(f32, &mut d[d0..d1], &x[a0..a1], y, rule)
        }
        (CpuStorage::F64(d), CpuStorage::F64(x), y) => {
            let y: &[f64] = match (y, b_range) {
                (Some(CpuStorage::F64(y)), Some((b0, b1))) => &y[b0..b1],
                (None, _) => &[],
                _ => candle_core::bail!("in-place optimiser update: mixed dtypes"),
            };
            update_impl!(f64, &mut d[d0..d1], &x[a0..a1], y, rule)
        }
        _ => candle_core::bail!("in-place optimiser updates run on f32 or f64 CPU tensors"),
    }
    Ok(())
}

impl InplaceOp2 for Rule {
    fn name(&self) -> &'static str {
        "optimiser-update"
    }
    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        update(*self, s1, l1, (s2, l2), None)
    }
}

impl InplaceOp3 for Rule {
    fn name(&self) -> &'static str {
        "optimiser-update"
    }
    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<()> {
        update(*self, s1, l1, (s2, l2), Some((s3, l3)))
    }
}

/// Whether `t` can be updated in place (a contiguous f32/f64 CPU tensor); otherwise the
/// optimisers fall back to the composite expression.
fn in_place(t: &Tensor) -> bool {
    t.device().is_cpu() && t.is_contiguous() && matches!(t.dtype(), DType::F32 | DType::F64)
}

/// An optimiser whose internal state (moments, velocities, step count) can be exported as named
/// tensors and loaded back.
pub trait OptimizerState {
    /// The state as `(name, tensor)` pairs; names are stable (`"{slot}.{index}"`, `"step"`).
    fn state(&self) -> candle_core::Result<Vec<(String, Tensor)>>;
    /// Restores a state exported by [`Self::state`] from an optimiser over the same variables.
    fn load_state(&mut self, state: &[(String, Tensor)]) -> candle_core::Result<()>;
}

fn float_vars(vars: Vec<Var>) -> Vec<Var> {
    vars.into_iter().filter(|v| v.dtype().is_float()).collect()
}

fn find<'a>(state: &'a [(String, Tensor)], name: &str) -> candle_core::Result<&'a Tensor> {
    state
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| candle_core::Error::Msg(format!("optimiser state has no entry {name:?}")))
}

fn load_slot(slot: &[Var], prefix: &str, state: &[(String, Tensor)]) -> candle_core::Result<()> {
    for (i, v) in slot.iter().enumerate() {
        let t = find(state, &format!("{prefix}.{i}"))?;
        if t.shape() != v.shape() {
            candle_core::bail!(
                "optimiser state {prefix}.{i} has shape {:?}, the variable {:?}",
                t.shape(),
                v.shape()
            );
        }
        v.set(&t.to_dtype(v.dtype())?)?;
    }
    Ok(())
}

fn export_slot(
    slot: &[Var],
    prefix: &str,
    out: &mut Vec<(String, Tensor)>,
) -> candle_core::Result<()> {
    // A copy: `Var::set` writes in place, so a clone would change with the next step.
    for (i, v) in slot.iter().enumerate() {
        out.push((format!("{prefix}.{i}"), v.as_tensor().copy()?));
    }
    Ok(())
}

/// Plain stochastic gradient descent `θ ← θ − lr·g`.
#[derive(Debug)]
pub struct Sgd {
    vars: Vec<Var>,
    lr: f64,
}

impl Optimizer for Sgd {
    /// The learning rate.
    type Config = f64;

    fn new(vars: Vec<Var>, lr: f64) -> candle_core::Result<Self> {
        Ok(Self {
            vars: float_vars(vars),
            lr,
        })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        for v in &self.vars {
            if let Some(g) = grads.get(v) {
                if in_place(v) {
                    v.inplace_op2(&g.contiguous()?, &Rule::Sgd { lr: self.lr })?;
                } else {
                    v.set(&v.sub(&(g * self.lr)?)?)?;
                }
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
}

impl OptimizerState for Sgd {
    fn state(&self) -> candle_core::Result<Vec<(String, Tensor)>> {
        Ok(vec![])
    }
    fn load_state(&mut self, _: &[(String, Tensor)]) -> candle_core::Result<()> {
        Ok(())
    }
}

/// Settings of [`HeavyBall`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeavyBallConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum β ∈ [0, 1).
    pub beta: f64,
}

/// Heavy-ball momentum: `v ← β·v + g`, `θ ← θ − lr·v` (candle-nn's SGD has no momentum).
#[derive(Debug)]
pub struct HeavyBall {
    vars: Vec<Var>,
    velocity: Vec<Var>,
    cfg: HeavyBallConfig,
}

impl Optimizer for HeavyBall {
    type Config = HeavyBallConfig;

    fn new(vars: Vec<Var>, cfg: HeavyBallConfig) -> candle_core::Result<Self> {
        let vars = float_vars(vars);
        let velocity = vars
            .iter()
            .map(|v| Var::zeros(v.shape(), v.dtype(), v.device()))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            vars,
            velocity,
            cfg,
        })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        for (theta, vel) in self.vars.iter().zip(&self.velocity) {
            if let Some(g) = grads.get(theta) {
                if in_place(theta) && in_place(vel) {
                    let g = g.contiguous()?;
                    vel.inplace_op2(
                        &g,
                        &Rule::Velocity {
                            beta: self.cfg.beta,
                        },
                    )?;
                    theta.inplace_op2(vel.as_tensor(), &Rule::Sgd { lr: self.cfg.lr })?;
                } else {
                    let v = ((vel.as_tensor() * self.cfg.beta)? + g)?;
                    theta.set(&(theta.as_tensor() - (&v * self.cfg.lr)?)?)?;
                    vel.set(&v)?;
                }
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.cfg.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
}

impl OptimizerState for HeavyBall {
    fn state(&self) -> candle_core::Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        export_slot(&self.velocity, "velocity", &mut out)?;
        Ok(out)
    }
    fn load_state(&mut self, state: &[(String, Tensor)]) -> candle_core::Result<()> {
        load_slot(&self.velocity, "velocity", state)
    }
}

/// Settings of [`AdamW`].
#[derive(Debug, Clone, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate.
    pub lr: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay λ of each variable, in the order given to [`Optimizer::new`]
    /// (parameter groups); an empty vector applies `default_weight_decay` to all.
    pub weight_decay: Vec<f64>,
    /// The weight decay of variables not listed in `weight_decay`.
    pub default_weight_decay: f64,
}

impl Default for AdamWConfig {
    /// lr 1e-3, β = (0.9, 0.999), ε = 1e-8, λ = 0.01 everywhere (candle's and PyTorch's
    /// defaults).
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: vec![],
            default_weight_decay: 0.01,
        }
    }
}

/// AdamW with a weight decay per variable.
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<(Var, f64)>,
    m: Vec<Var>,
    v: Vec<Var>,
    step_t: usize,
    cfg: AdamWConfig,
}

impl AdamW {
    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.step_t
    }
}

impl Optimizer for AdamW {
    type Config = AdamWConfig;

    fn new(vars: Vec<Var>, cfg: AdamWConfig) -> candle_core::Result<Self> {
        let decays: Vec<f64> = (0..vars.len())
            .map(|i| {
                cfg.weight_decay
                    .get(i)
                    .copied()
                    .unwrap_or(cfg.default_weight_decay)
            })
            .collect();
        let vars: Vec<(Var, f64)> = vars
            .into_iter()
            .zip(decays)
            .filter(|(v, _)| v.dtype().is_float())
            .collect();
        let zeros = |vars: &[(Var, f64)]| {
            vars.iter()
                .map(|(v, _)| Var::zeros(v.shape(), v.dtype(), v.device()))
                .collect::<candle_core::Result<Vec<_>>>()
        };
        Ok(Self {
            m: zeros(&vars)?,
            v: zeros(&vars)?,
            vars,
            step_t: 0,
            cfg,
        })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step_t += 1;
        let (lr, b1, b2) = (self.cfg.lr, self.cfg.beta1, self.cfg.beta2);
        let scale_m = 1f64 / (1f64 - b1.powi(self.step_t as i32));
        let scale_v = 1f64 / (1f64 - b2.powi(self.step_t as i32));
        for (((theta, decay), m), v) in self.vars.iter().zip(&self.m).zip(&self.v) {
            if let Some(g) = grads.get(theta) {
                if in_place(theta) && in_place(m) && in_place(v) {
                    let g = g.contiguous()?;
                    m.inplace_op2(
                        &g,
                        &Rule::Moment {
                            beta: b1,
                            square: false,
                        },
                    )?;
                    v.inplace_op2(
                        &g,
                        &Rule::Moment {
                            beta: b2,
                            square: true,
                        },
                    )?;
                    let rule = Rule::Adam {
                        lr,
                        decay: *decay,
                        scale_m,
                        scale_v,
                        eps: self.cfg.eps,
                    };
                    theta.inplace_op3(m.as_tensor(), v.as_tensor(), &rule)?;
                    continue;
                }
                let next_m = ((m.as_tensor() * b1)? + (g * (1.0 - b1))?)?;
                let next_v = ((v.as_tensor() * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                let m_hat = (&next_m * scale_m)?;
                let v_hat = (&next_v * scale_v)?;
                let next_theta = (theta.as_tensor() * (1f64 - lr * decay))?;
                let adjusted = (m_hat / (v_hat.sqrt()? + self.cfg.eps)?)?;
                let next_theta = (next_theta - (adjusted * lr)?)?;
                m.set(&next_m)?;
                v.set(&next_v)?;
                theta.set(&next_theta)?;
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.cfg.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
}

impl OptimizerState for AdamW {
    fn state(&self) -> candle_core::Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        export_slot(&self.m, "m", &mut out)?;
        export_slot(&self.v, "v", &mut out)?;
        let dev = self
            .vars
            .first()
            .map(|(v, _)| v.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        out.push(("step".into(), Tensor::new(&[self.step_t as u32], &dev)?));
        Ok(out)
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> candle_core::Result<()> {
        load_slot(&self.m, "m", state)?;
        load_slot(&self.v, "v", state)?;
        let t = find(state, "step")?.to_vec1::<u32>()?;
        self.step_t =
            *t.first()
                .ok_or_else(|| candle_core::Error::Msg("empty step".into()))? as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn var(vals: &[f64]) -> Var {
        Var::from_tensor(&Tensor::new(vals, &Device::Cpu).unwrap()).unwrap()
    }

    fn grads_of(theta: &Var, g: &[f64]) -> GradStore {
        // L = Σ g_i θ_i has gradient g.
        let gt = Tensor::new(g, &Device::Cpu).unwrap();
        (theta.as_tensor() * &gt)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
    }

    #[test]
    fn adamw_matches_candles_own_and_the_closed_form_first_step() {
        let a = var(&[1.0, -2.0, 0.5]);
        let b = var(&[1.0, -2.0, 0.5]);
        let mut ours = AdamW::new(
            vec![a.clone()],
            AdamWConfig {
                lr: 0.1,
                default_weight_decay: 0.01,
                ..Default::default()
            },
        )
        .unwrap();
        let mut theirs = candle_nn::AdamW::new(
            vec![b.clone()],
            candle_nn::ParamsAdamW {
                lr: 0.1,
                weight_decay: 0.01,
                ..Default::default()
            },
        )
        .unwrap();
        for g in [[0.3, -1.0, 2.0], [0.1, 0.2, -0.3], [1.0, 1.0, 1.0]] {
            ours.step(&grads_of(&a, &g)).unwrap();
            theirs.step(&grads_of(&b, &g)).unwrap();
        }
        assert_eq!(a.to_vec1::<f64>().unwrap(), b.to_vec1::<f64>().unwrap());
        // First step by hand: m̂ = g, v̂ = g², so θ₁ = θ₀(1 − lr λ) − lr·g/(|g| + ε).
        let c = var(&[2.0]);
        let mut one = AdamW::new(
            vec![c.clone()],
            AdamWConfig {
                lr: 0.1,
                default_weight_decay: 0.5,
                ..Default::default()
            },
        )
        .unwrap();
        one.step(&grads_of(&c, &[-3.0])).unwrap();
        let want = 2.0 * (1.0 - 0.05) + 0.1 * 3.0 / (3.0 + 1e-8);
        assert!((c.to_vec1::<f64>().unwrap()[0] - want).abs() < 1e-14);
    }

    /// The in-place f32 update over a large tensor, many steps, bit for bit candle-nn's AdamW.
    #[test]
    fn in_place_adamw_is_candles_adamw_bit_for_bit_in_f32() {
        let dev = Device::Cpu;
        let init = Tensor::randn(0f32, 1.0, 40_000, &dev).unwrap();
        let (a, b) = (
            Var::from_tensor(&init).unwrap(),
            Var::from_tensor(&init.copy().unwrap()).unwrap(),
        );
        let mut ours = AdamW::new(vec![a.clone()], AdamWConfig::default()).unwrap();
        let mut theirs =
            candle_nn::AdamW::new(vec![b.clone()], candle_nn::ParamsAdamW::default()).unwrap();
        for step in 0..7 {
            let g = Tensor::randn(0f32, 1.0 + step as f32, 40_000, &dev).unwrap();
            let grads = |v: &Var| (v.as_tensor() * &g).unwrap().sum_all().unwrap().backward();
            ours.step(&grads(&a).unwrap()).unwrap();
            theirs.step(&grads(&b).unwrap()).unwrap();
        }
        assert_eq!(a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
    }

    #[test]
    fn per_variable_weight_decay() {
        let (a, b) = (var(&[1.0]), var(&[1.0]));
        let mut o = AdamW::new(
            vec![a.clone(), b.clone()],
            AdamWConfig {
                lr: 0.1,
                weight_decay: vec![0.0, 1.0],
                ..Default::default()
            },
        )
        .unwrap();
        // Zero gradient: only the decay moves a variable. (candle prunes a branch scaled by the
        // constant 0.0, so the zero comes from a tensor.)
        let zero = Tensor::new(0.0f64, &Device::Cpu).unwrap();
        let z = (a.as_tensor() + b.as_tensor()).unwrap().sum_all().unwrap();
        o.step(&z.mul(&zero).unwrap().backward().unwrap()).unwrap();
        assert_eq!(a.to_vec1::<f64>().unwrap()[0], 1.0);
        assert!((b.to_vec1::<f64>().unwrap()[0] - 0.9).abs() < 1e-15);
    }

    #[test]
    fn heavy_ball_by_hand_and_state_round_trip() {
        let t = var(&[0.0]);
        let mut o =
            HeavyBall::new(vec![t.clone()], HeavyBallConfig { lr: 0.5, beta: 0.9 }).unwrap();
        o.step(&grads_of(&t, &[1.0])).unwrap(); // v = 1, θ = −0.5
        o.step(&grads_of(&t, &[1.0])).unwrap(); // v = 1.9, θ = −1.45
        assert!((t.to_vec1::<f64>().unwrap()[0] + 1.45).abs() < 1e-15);
        let saved = o.state().unwrap();
        let t2 = var(&[-1.45]);
        let mut o2 =
            HeavyBall::new(vec![t2.clone()], HeavyBallConfig { lr: 0.5, beta: 0.9 }).unwrap();
        o2.load_state(&saved).unwrap();
        o.step(&grads_of(&t, &[0.0])).unwrap();
        o2.step(&grads_of(&t2, &[0.0])).unwrap();
        assert_eq!(t.to_vec1::<f64>().unwrap(), t2.to_vec1::<f64>().unwrap());
        assert!(o2.load_state(&[]).is_err());
        let wrong = vec![(
            "velocity.0".to_string(),
            Tensor::zeros(3, DType::F64, &Device::Cpu).unwrap(),
        )];
        assert!(o2.load_state(&wrong).is_err());
    }
}
