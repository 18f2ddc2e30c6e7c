//! zo-stability: the exact ZO-GD threshold for d = 10⁶ eigenvalues (time and Newton
//! iterations), and ZO-GD steps per second on a d = 10⁵ diagonal quadratic with one chain per
//! core, against the ceiling of that step: one pass over x on every core at once (a read of
//! 800 KB, [`papercraft_benches::lane_sum`]). Drawing the direction (10⁵ normals, ChaCha8 +
//! ziggurat) is measured alone as well, since it is the step's dominant cost.
//!
//! `cargo bench -p papercraft-benches --bench zo_stability`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rayon::prelude::*;
use std::hint::black_box;
use zo_stability::{zo_gd_threshold, Curvature, Estimator, Method, Optimizer, Spectrum};

const D_THRESHOLD: usize = 1_000_000;
const D_STEP: usize = 100_000;
/// Steps per chain per iteration of the step bench.
const STEPS: usize = 8;

fn threshold(c: &mut Criterion) {
    let eigs: Vec<f64> = (1..=D_THRESHOLD).map(|i| 1.0 / (i as f64).sqrt()).collect();
    let s = Spectrum::new(&eigs, Curvature::Strict).expect("valid");
    let t = zo_gd_threshold(&s).expect("threshold");
    eprintln!(
        "zo-stability/threshold: d = {D_THRESHOLD}, η* = {:.15e}, {} Newton iterations",
        t.eta, t.iterations
    );
    let mut g = c.benchmark_group("zo-stability/threshold");
    g.sample_size(20);
    g.throughput(Throughput::Elements(D_THRESHOLD as u64));
    g.bench_function(BenchmarkId::new("zo-gd", format!("d{D_THRESHOLD}")), |b| {
        b.iter(|| black_box(zo_gd_threshold(&s).expect("threshold").eta))
    });
    g.finish();
}

fn steps(c: &mut Criterion) {
    let chains = rayon::current_num_threads();
    let lambda: Vec<f64> = (1..=D_STEP).map(|i| 1.0 / (i as f64).sqrt()).collect();
    let eta = 0.5
        * zo_gd_threshold(&Spectrum::new(&lambda, Curvature::Strict).expect("valid"))
            .expect("threshold")
            .eta;
    let est = Estimator::default();
    let mut state: Vec<(Vec<f64>, Optimizer, core_linalg::Rng)> = (0..chains)
        .map(|k| {
            (
                vec![1.0; D_STEP],
                Optimizer::new(Method::Gd, eta, D_STEP).expect("optimiser"),
                core_linalg::stream_rng(7, k as u64),
            )
        })
        .collect();
    let mut g = c.benchmark_group("zo-stability/zo-gd-step");
    g.sample_size(10);
    g.throughput(Throughput::Elements((chains * STEPS) as u64));
    g.bench_function(
        BenchmarkId::new("steps", format!("d{D_STEP}-{chains}chains")),
        |b| {
            b.iter(|| {
                state.par_iter_mut().for_each(|(x, opt, rng)| {
                    let mut f = |z: &[f64]| -> f64 {
                        0.5 * z
                            .iter()
                            .zip(&lambda)
                            .map(|(zi, l)| l * zi * zi)
                            .sum::<f64>()
                    };
                    for _ in 0..STEPS {
                        opt.zo_step(&est, &mut f, x, None, rng).expect("step");
                    }
                });
                black_box(state[0].0[0])
            })
        },
    );
    g.finish();

    // The ceiling: one read of x per chain, every core at once.
    let xs: Vec<Vec<f64>> = (0..chains).map(|_| vec![1.0; D_STEP]).collect();
    let mut g = c.benchmark_group("zo-stability/memory-pass");
    g.sample_size(20);
    g.throughput(Throughput::Elements(chains as u64));
    g.bench_function(
        BenchmarkId::new("read-x", format!("d{D_STEP}-{chains}chains")),
        |b| {
            b.iter(|| {
                let s: f64 = xs.par_iter().map(|x| papercraft_benches::lane_sum(x)).sum();
                black_box(s)
            })
        },
    );
    g.finish();

    // The direction alone: 10⁵ standard normals per chain.
    let mut rngs: Vec<(Vec<f64>, core_linalg::Rng)> = (0..chains)
        .map(|k| (vec![0.0; D_STEP], core_linalg::stream_rng(8, k as u64)))
        .collect();
    let mut g = c.benchmark_group("zo-stability/direction");
    g.sample_size(20);
    g.throughput(Throughput::Elements(chains as u64));
    g.bench_function(
        BenchmarkId::new("normals", format!("d{D_STEP}-{chains}chains")),
        |b| {
            b.iter(|| {
                rngs.par_iter_mut().for_each(|(u, rng)| est.draw(rng, u));
                black_box(rngs[0].0[0])
            })
        },
    );
    g.finish();
}

criterion_group!(benches, threshold, steps);
criterion_main!(benches);
