//! Loss + gradient (candle autograd, f32) over a 4096 × 1000 logit batch: PENEX (fixed and
//! running ρ) beside cross-entropy and the other baselines. Target: PENEX ≤ 1.5× cross-entropy.

use candle_core::{Device, Tensor, Var};
use core_linalg::seeded_rng;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use penex::{ClassificationLoss, LossKind, Rho};
use rand::RngExt;
use std::hint::black_box;

fn loss_and_grad(c: &mut Criterion) {
    let (n, k) = (4096usize, 1000usize);
    let mut rng = seeded_rng(3);
    let f: Vec<f32> = (0..n * k).map(|_| rng.random_range(-3.0f32..3.0)).collect();
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..k as u32)).collect();
    let logits =
        Var::from_tensor(&Tensor::from_vec(f, (n, k), &Device::Cpu).expect("tensor")).expect("var");
    let targets = Tensor::from_vec(y, n, &Device::Cpu).expect("tensor");
    let mut g = c.benchmark_group("penex/loss-grad/4096x1000");
    g.sample_size(20);
    g.throughput(Throughput::Elements((n * k) as u64));
    let kinds = [
        ("cross-entropy", LossKind::CrossEntropy),
        (
            "penex-fixed-rho",
            LossKind::Penex {
                alpha: 0.1,
                rho: Rho::Fixed(1.0),
            },
        ),
        (
            "penex-running-rho",
            LossKind::Penex {
                alpha: 0.1,
                rho: Rho::Running(Default::default()),
            },
        ),
        (
            "label-smoothing",
            LossKind::LabelSmoothing { epsilon: 0.05 },
        ),
        ("focal", LossKind::Focal { gamma: 2.0 }),
    ];
    for (name, kind) in kinds {
        let loss = ClassificationLoss::new(kind).expect("valid");
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let l = loss.loss(logits.as_tensor(), &targets).expect("loss");
                black_box(l.backward().expect("backward"))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, loss_and_grad);
criterion_main!(benches);
