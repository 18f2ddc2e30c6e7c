use crate::Probabilities;
use core_ml::candle_core::{DType, Device, Module};
use core_ml::candle_nn::{self, Activation, VarBuilder, VarMap};
use core_ml::data::{Dataset, DatasetTensors, Standardiser};
use core_ml::models::{init_seeded, Mlp};
use core_ml::train::{train, OptimizerKind, Schedule, TrainConfig};
use repro::BoxError;

/// The held-out pool: a classifier's probabilities on the half of the data it did not see.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Probabilities, rounded to 4 decimals and renormalised (see [`pool_probabilities`]).
    pub probs: Probabilities,
    /// True labels.
    pub labels: Vec<usize>,
    /// The classifier's accuracy on the pool.
    pub accuracy: f64,
}

/// Trains a softmax regression (a one-layer [`Mlp`], full-batch AdamW, 400 steps) on a stratified
/// half of `data` and returns its probabilities on the other half.
///
/// The probabilities are rounded to 4 decimals and renormalised, so that last-bit differences
/// between CPUs' matrix kernels rarely change them; the experiments break the resulting ties
/// with a 1e-9 jitter, which keeps the finite-sample law exact.
pub fn pool_probabilities(data: &Dataset, seed: u64) -> Result<Pool, BoxError> {
    let dev = Device::Cpu;
    let split = data.stratified_split(0.5, 0.0, seed)?;
    let z = Standardiser::fit(&split.train);
    let (tr, pool) = (z.apply(&split.train)?, z.apply(&split.test)?);
    let vm = VarMap::new();
    let k = data.n_classes;
    let model = Mlp::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        &[data.d, k],
        Activation::Relu,
    )?;
    init_seeded(&vm, seed)?;
    let (x, y) = tr.tensors(DType::F32, &dev)?;
    let cfg = TrainConfig {
        steps: 400,
        lr: 0.02,
        optimizer: OptimizerKind::AdamW { weight_decay: 1e-3 },
        schedule: Schedule::Constant,
        grad_clip: None,
        eval_every: 0,
    };
    train(
        &vm,
        &cfg,
        &candle_nn::loss::cross_entropy,
        |_| Ok((model.forward(&x)?, y.clone())),
        |_| Ok(0.0),
        None,
    )?;
    let (xp, _) = pool.tensors(DType::F32, &dev)?;
    let logits: Vec<Vec<f32>> = model.forward(&xp)?.to_vec2()?;
    let mut flat = Vec::with_capacity(logits.len() * k);
    for row in &logits {
        let mut p: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        core_linalg::softmax_in_place(&mut p);
        let q: Vec<f64> = p.iter().map(|v| (v * 1e4).round() / 1e4).collect();
        let s: f64 = q.iter().sum();
        flat.extend(q.iter().map(|v| v / s));
    }
    let probs = Probabilities::from_flat(flat, k)?;
    let accuracy = (0..probs.len())
        .filter(|&i| {
            let r = probs.row(i);
            let best = (0..k).fold(0, |b, j| if r[j] > r[b] { j } else { b });
            best == pool.y[i]
        })
        .count() as f64
        / probs.len() as f64;
    Ok(Pool {
        probs,
        labels: pool.y.clone(),
        accuracy,
    })
}
