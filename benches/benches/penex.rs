//! Loss + gradient over a 4096 × 1000 `f32` logit batch, all under the binaries' allocator
//! (mimalloc):
//! - `penex/loss-grad/4096x1000`: candle tensors, forward and backward — the fused
//!   cross-entropy of core-ml (`core_ml::kernels::cross_entropy`, the fair baseline), PENEX's
//!   fused kernel (`ClassificationLoss`, the default), PENEX built from candle's operations
//!   (`Kernels::Composite`, what second derivatives need) and candle-nn's composite
//!   cross-entropy for context;
//! - `penex/slice-f32/4096x1000`: the plain-slice `PenexLoss::forward_backward` into a
//!   preallocated gradient (no candle);
//! - `penex/memory-read`: a parallel sum over a buffer of the logits' size (16 MB), the
//!   ceiling of a pass over them, measured in the same run.
//!
//! Target: PENEX forward + backward ≤ 1.5× the fused cross-entropy. `cargo xtask bench penex`
//! ends with the ratios.

use candle_core::{Device, Tensor, Var};
use core_linalg::seeded_rng;
use core_ml::kernels::{cross_entropy, Kernels};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use penex::{ClassificationLoss, PenexLoss};
use rand::RngExt;
use rayon::prelude::*;
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N: usize = 4096;
const K: usize = 1000;

fn data() -> (Vec<f32>, Vec<u32>) {
    let mut rng = seeded_rng(3);
    let f = (0..N * K).map(|_| rng.random_range(-3.0f32..3.0)).collect();
    let y = (0..N).map(|_| rng.random_range(0..K as u32)).collect();
    (f, y)
}

fn loss_and_grad(c: &mut Criterion) {
    let (f, y) = data();
    let logits =
        Var::from_tensor(&Tensor::from_vec(f, (N, K), &Device::Cpu).expect("tensor")).expect("var");
    let targets = Tensor::from_vec(y, N, &Device::Cpu).expect("tensor");
    let mut g = c.benchmark_group("penex/loss-grad/4096x1000");
    g.sample_size(20);
    g.throughput(Throughput::Elements((N * K) as u64));
    g.bench_function(BenchmarkId::from_parameter("fused-cross-entropy"), |b| {
        b.iter(|| {
            let l = cross_entropy(logits.as_tensor(), &targets, Kernels::Fused).expect("loss");
            black_box(l.backward().expect("backward"))
        })
    });
    let penex = ClassificationLoss::penex(0.1).expect("valid");
    for (name, loss) in [
        ("penex-fused", penex.clone()),
        ("penex-composite", penex.with_kernels(Kernels::Composite)),
    ] {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let l = loss.loss(logits.as_tensor(), &targets).expect("loss");
                black_box(l.backward().expect("backward"))
            })
        });
    }
    g.bench_function(
        BenchmarkId::from_parameter("candle-nn-cross-entropy"),
        |b| {
            b.iter(|| {
                let l = candle_nn::loss::cross_entropy(logits.as_tensor(), &targets).expect("loss");
                black_box(l.backward().expect("backward"))
            })
        },
    );
    g.finish();
}

fn slice_f32(c: &mut Criterion) {
    let (f, y) = data();
    let loss = PenexLoss::new(0.1).expect("valid");
    let mut grad = vec![0.0f32; f.len()];
    let mut g = c.benchmark_group("penex/slice-f32/4096x1000");
    g.sample_size(20);
    g.throughput(Throughput::Elements((N * K) as u64));
    g.bench_function(BenchmarkId::from_parameter("penex-forward-backward"), |b| {
        b.iter(|| black_box(loss.forward_backward(&f, K, &y, &mut grad).expect("loss")))
    });
    g.finish();
}

/// A parallel sum over `N · K` f32 (the logits' 16 MB) in 16 lanes per thread
/// ([`papercraft_benches::lane_sum`]): bytes per second.
fn memory_read(c: &mut Criterion) {
    let buf: Vec<f32> = (0..N * K).map(|i| (i % 7) as f32).collect();
    let mut g = c.benchmark_group("penex/memory-read");
    g.sample_size(20);
    g.throughput(Throughput::Elements((buf.len() * 4) as u64));
    g.bench_function("parallel-sum-16MB", |b| {
        b.iter(|| {
            black_box(
                buf.par_chunks(1 << 16)
                    .map(papercraft_benches::lane_sum)
                    .sum::<f32>(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, loss_and_grad, slice_f32, memory_read);
criterion_main!(benches);
