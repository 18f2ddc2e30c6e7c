//! One training step (forward, backward, AdamW) of the core-ml MLP and byte-level transformer,
//! reported as FLOP/s (criterion's "elem/s" with one element per FLOP), next to the machine's
//! square sgemm peak and the GEMM ceiling at the LM's own matmul shapes, measured the same way
//! (candle's f32 matmul, which runs the `gemm` crate's kernels), so every figure has its ratio.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Activation, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use core_linalg::seeded_rng;
use core_ml::kernels::Kernels;
use core_ml::models::{
    dense_ffn, dense_ffn_composite, init_seeded, lm_cross_entropy_with, FfnBuilder, LmConfig, Mlp,
    TransformerLm,
};
use core_ml::text::{rust_book, sample_windows};
use core_ml::trainer::{Forward, Trainer, TrainerConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn sgemm(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group("core-ml/sgemm-peak");
    for &n in &[512usize, 1024, 2048] {
        let a = Tensor::randn(0f32, 1.0, (n, n), &dev).expect("a");
        let b = Tensor::randn(0f32, 1.0, (n, n), &dev).expect("b");
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.sample_size(10);
        g.bench_function(format!("{n}"), |bch| {
            bch.iter(|| black_box(a.matmul(&b).expect("matmul")))
        });
    }
    g.finish();
}

/// The GEMM ceiling at the full-profile LM's own matmul shapes (d = 128, 4 heads, context 128,
/// batch 16: 2048 token rows), forward shapes of one block and the head: what a training step
/// could reach if only its matmuls ran (`cargo xtask bench core-ml` reports their total FLOPs
/// over their total time, one of each). The attention GEMMs run inside the fused attention
/// kernel (nalgebra's matrixmultiply) in the step; candle's batched matmul here.
fn gemm_at_lm_shapes(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group("core-ml/gemm-at-lm-shapes");
    g.sample_size(20);
    let rows = 16 * 128;
    // (name, batch of matrices, m, k, n)
    let shapes = [
        ("qkv 2048x128x384", 1usize, rows, 128usize, 384usize),
        ("o 2048x128x128", 1, rows, 128, 128),
        ("ffn-up 2048x128x512", 1, rows, 128, 512),
        ("ffn-down 2048x512x128", 1, rows, 512, 128),
        ("head 2048x128x256", 1, rows, 128, 256),
        ("scores 64x(128x32x128)", 64, 128, 32, 128),
        ("mix 64x(128x128x32)", 64, 128, 128, 32),
    ];
    for (name, batch, m, k, n) in shapes {
        let a = Tensor::randn(0f32, 1.0, (batch, m, k), &dev).expect("a");
        let b = Tensor::randn(0f32, 1.0, (batch, k, n), &dev).expect("b");
        g.throughput(Throughput::Elements((2 * batch * m * k * n) as u64));
        g.bench_function(name, |bch| {
            bch.iter(|| black_box(a.matmul(&b).expect("matmul")))
        });
    }
    g.finish();
}

fn mlp_step(c: &mut Criterion) {
    let dev = Device::Cpu;
    let widths = [64usize, 256, 128, 10];
    let batch = 256usize;
    let vm = VarMap::new();
    let mlp = Mlp::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        &widths,
        Activation::Relu,
    )
    .expect("mlp");
    init_seeded(&vm, 1).expect("init");
    let mut opt = candle_nn::AdamW::new(vm.all_vars(), ParamsAdamW::default()).expect("opt");
    let x = Tensor::randn(0f32, 1.0, (batch, 64), &dev).expect("x");
    let y = Tensor::zeros(batch, DType::U32, &dev).expect("y");
    let linear: usize = widths.windows(2).map(|w| w[0] * w[1]).sum();
    let mut g = c.benchmark_group("core-ml/train-step");
    g.throughput(Throughput::Elements((6 * batch * linear) as u64));
    g.bench_function("mlp-64-256-128-10-batch256", |b| {
        b.iter(|| {
            let loss =
                candle_nn::loss::cross_entropy(&mlp.forward(&x).expect("fwd"), &y).expect("loss");
            opt.backward_step(&loss).expect("step");
        })
    });
    g.finish();
}

/// The LM training step as the experiments run it (`core_ml::trainer::Trainer`: forward,
/// backward, gradient norm, the in-place AdamW), with the fused kernels and, for reference in
/// the same run, with their composite twins (candle's own operations).
fn lm_step(c: &mut Criterion) {
    let dev = Device::Cpu;
    let corpus = rust_book().expect("corpus");
    let mut g = c.benchmark_group("core-ml/train-step");
    g.sample_size(10);
    for (profile, cfg, batch) in [
        ("quick profile", LmConfig::BYTE_SMALL, 16usize),
        ("full profile", LmConfig::BYTE_MEDIUM, 16),
    ] {
        for kernels in [Kernels::Fused, Kernels::Composite] {
            let vm = VarMap::new();
            let ffn: FfnBuilder<'_> = match kernels {
                Kernels::Fused => &dense_ffn,
                Kernels::Composite => &dense_ffn_composite,
            };
            let lm = TransformerLm::with_kernels(
                VarBuilder::from_varmap(&vm, DType::F32, &dev),
                cfg,
                ffn,
                kernels,
            )
            .expect("lm");
            init_seeded(&vm, 1).expect("init");
            let mut trainer = Trainer::new(&vm, TrainerConfig::default()).expect("trainer");
            let mut rng = seeded_rng(2);
            let (x, y) =
                sample_windows(&corpus, batch, cfg.context, &mut rng, &dev).expect("windows");
            let tokens = batch * cfg.context;
            g.throughput(Throughput::Elements(
                (cfg.train_flops_per_token() * tokens as f64) as u64,
            ));
            let name = format!(
                "lm-d{}-l{}-ctx{}-batch{batch} ({profile}, {})",
                cfg.d_model,
                cfg.layers,
                cfg.context,
                match kernels {
                    Kernels::Fused => "fused",
                    Kernels::Composite => "composite",
                }
            );
            g.bench_function(name, |b| {
                b.iter(|| {
                    trainer
                        .step(|_| {
                            let logits = lm.forward(&x)?;
                            Ok(Forward::new(lm_cross_entropy_with(&logits, &y, kernels)?))
                        })
                        .expect("step")
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, sgemm, gemm_at_lm_shapes, mlp_step, lm_step);
criterion_main!(benches);
