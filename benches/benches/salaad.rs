//! salaad: one ADMM update of a 512 × 512 block (SVT, soft thresholding, controller,
//! multiplier), with the full SVD and with one round of warm-started subspace iteration; the
//! SVD routes alone (faer's, the crate's default, and nalgebra's, the measured alternative); and the ceiling of the same run: a 512³ f64 GEMM through the same
//! library (nalgebra), so the report can state each cost in GEMMs. Then the LM experiment's
//! full-profile model: one training step with the penalty against one ADMM update of all its
//! blocks (the update runs every 2 steps, so the overhead is half the update over a step).
//!
//! `cargo bench -p papercraft-benches --bench salaad`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nalgebra::DMatrix;
use rand_distr::{Distribution, StandardNormal};
use salaad::{
    BlockParams, ControllerParams, GainScale, SlrBlock, SubspaceIteration, Svd, SvdMethod,
};
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N: usize = 512;
/// ADMM updates before the timed ones.
const WARM_UP: usize = 150;

/// A 512 × 512 weight with a decaying spectrum (`σ_i = 0.97^i`) plus small noise, the shape
/// of a trained layer.
fn weight() -> DMatrix<f64> {
    let mut rng = core_linalg::seeded_rng(3);
    let g = |rng: &mut core_linalg::Rng| DMatrix::from_fn(N, N, |_, _| StandardNormal.sample(rng));
    let u = g(&mut rng).qr().q();
    let v = g(&mut rng).qr().q();
    let s = nalgebra::DVector::from_fn(N, |i, _| 0.97f64.powi(i as i32));
    u * DMatrix::from_diagonal(&s) * v.transpose() + g(&mut rng) * 1e-3
}

/// A block warmed up on `½‖X − W‖²` + the penalty (the X-step in closed form before each
/// update, as in the crate's recovery experiment), so its thresholds have settled near the
/// targets as in training; returns it with the current `X`.
fn block(svd: SvdMethod, w: &DMatrix<f64>) -> (SlrBlock, DMatrix<f64>) {
    let cfg = BlockParams {
        rho: 1.0,
        controller: ControllerParams {
            gain_rank: 0.1,
            gain_density: 0.1,
            scale: GainScale::Spectrum,
            ..Default::default()
        },
        svd,
        // Start at the thresholds the targets need (σ₇₇ = 0.97⁷⁷ for rank ratio 0.15; about
        // the 95th percentile of the residual's magnitudes for density 0.05), as a block
        // does once training has settled them.
        tau_l: 0.97f64.powi(77),
        tau_s: 2.5e-3,
        ..Default::default()
    }
    .check()
    .expect("valid block");
    let mut b = SlrBlock::new(N, N, &cfg).expect("block");
    // Then the coupled updates (the kept rank — singular values above τ_L — sets the
    // subspace method's cost).
    let mut last = None;
    let mut x = w.clone();
    for _ in 0..WARM_UP {
        last = Some(b.update(&x).expect("update"));
        x = (w + b.anchor() * b.rho()) / (1.0 + b.rho());
    }
    let st = last.expect("warmed up");
    eprintln!(
        "salaad/{svd:?}: after {WARM_UP} updates effective rank {} (target {:.0}), kept rank {}, density {:.4}",
        st.rank,
        0.15 * N as f64,
        b.low_rank_factors().len(),
        st.density
    );
    (b, x)
}

fn admm(c: &mut Criterion) {
    let x = weight();
    let mut g = c.benchmark_group("salaad/admm-update/512x512");
    g.sample_size(10);
    g.throughput(Throughput::Elements((N * N) as u64));
    g.bench_function(BenchmarkId::new("ceiling-gemm-512", N), |b| {
        b.iter(|| black_box((&x * &x)[(0, 0)]))
    });
    g.bench_function(BenchmarkId::new("svd-full-faer", N), |b| {
        b.iter(|| black_box(Svd::full(&x).expect("svd").sigma[0]))
    });
    g.bench_function(BenchmarkId::new("svd-full-nalgebra", N), |b| {
        b.iter(|| black_box(Svd::full_nalgebra(&x).expect("svd").sigma[0]))
    });
    let k = (0.15 * N as f64) as usize + 8;
    let mut tracker = SubspaceIteration::new(1).expect("one round");
    tracker.leading(&x, k).expect("warm start");
    g.bench_function(BenchmarkId::new(format!("svd-subspace-k{k}"), N), |b| {
        b.iter(|| black_box(tracker.leading(&x, k).expect("subspace").sigma[0]))
    });
    let (mut full, xf) = block(SvdMethod::Full, &x);
    g.bench_function(BenchmarkId::new("update-full-svd", N), |b| {
        b.iter(|| black_box(full.update(&xf).expect("update").rank))
    });
    let (mut sub, xs) = block(
        SvdMethod::Subspace {
            oversample: 8,
            min_rank: 16,
            iterations: 1,
        },
        &x,
    );
    g.bench_function(BenchmarkId::new("update-subspace", N), |b| {
        b.iter(|| black_box(sub.update(&xs).expect("update").rank))
    });
    g.finish();
}

/// The LM experiment's full-profile model (d = 128, 4 layers, context 128, batch 16): one
/// AdamW training step with the penalty in the loss, against one ADMM update of all its
/// blocks (every linear weight), which runs every 2 steps: the overhead per step is half the
/// update over the step.
fn lm_overhead(c: &mut Criterion) {
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};
    use core_ml::models::{
        dense_ffn, init_seeded, linear_weights, lm_cross_entropy, LmConfig, TransformerLm,
    };
    use core_ml::text::{rust_book, sample_windows, ByteCorpus};
    use core_ml::train::{OptimizerKind, Schedule};
    use core_ml::trainer::{Forward, Trainer, TrainerConfig};
    let dev = Device::Cpu;
    let cfg = LmConfig::BYTE_MEDIUM;
    let vm = VarMap::new();
    let lm = TransformerLm::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        cfg,
        &dense_ffn,
    )
    .expect("model");
    init_seeded(&vm, 1).expect("init");
    let block_cfg = BlockParams {
        rho: 1e-3,
        controller: ControllerParams {
            gain_rank: 0.1,
            gain_density: 0.1,
            scale: GainScale::Spectrum,
            ..Default::default()
        },
        ..Default::default()
    }
    .check()
    .expect("valid block");
    let slr = std::rc::Rc::new(std::cell::RefCell::new(
        salaad::model::SlrModel::attach(linear_weights(&vm), &block_cfg).expect("blocks"),
    ));
    let mut trainer = Trainer::new(
        &vm,
        TrainerConfig {
            lr: 3e-3,
            optimizer: OptimizerKind::AdamW { weight_decay: 0.0 },
            schedule: Schedule::Constant,
            total_steps: 1_000_000,
            grad_clip: Some(1.0),
            ..Default::default()
        },
    )
    .expect("trainer");
    let corpus = ByteCorpus::new(rust_book().expect("corpus"), 0.1).expect("split");
    let mut rng = core_linalg::seeded_rng(2);
    let mut step = |trainer: &mut Trainer| {
        trainer
            .step(|_| {
                let (x, y) = sample_windows(corpus.train(), 16, cfg.context, &mut rng, &dev)?;
                let loss = lm_cross_entropy(&lm.forward(&x)?, &y)?;
                let pen = slr
                    .borrow()
                    .penalty()
                    .map_err(|e| core_ml::MlError::Data(e.to_string()))?;
                Ok(Forward::new(loss).with_aux("penalty", pen))
            })
            .expect("step")
            .loss
    };
    // Settle the thresholds a little first, as in training.
    for _ in 0..20 {
        step(&mut trainer);
        slr.borrow_mut().update().expect("update");
    }
    let mut g = c.benchmark_group("salaad/lm-step/d128-l4-ctx128-b16");
    g.sample_size(10);
    g.bench_function("training-step-with-penalty", |b| {
        b.iter(|| black_box(step(&mut trainer)))
    });
    g.bench_function("admm-update-all-blocks", |b| {
        b.iter(|| black_box(slr.borrow_mut().update().expect("update").len()))
    });
    g.finish();
}

criterion_group!(benches, admm, lm_overhead);
criterion_main!(benches);
