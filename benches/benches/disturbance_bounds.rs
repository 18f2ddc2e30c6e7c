//! The Monte-Carlo runner of disturbance-bounds: 2000 runs × 10⁴ steps of noisy gradient
//! descent on an isotropic quadratic in dimension n = 100 (the privacy experiment's setting),
//! on every core (target ≤ 5 s on 2 cores), against a plain single-run loop written by hand
//! (no `Step` / `Disturbance` objects, the same arithmetic) run on one core: steps per second
//! of each, and their ratio.
//!
//! `cargo bench -p papercraft-benches --bench disturbance_bounds`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use disturbance_bounds::{monte_carlo, GaussianNoise, GradientDescent, Quadratic};
use nalgebra::{DMatrix, DVector};
use rand_distr::Distribution;
use std::hint::black_box;

const N: usize = 100;
const RUNS: usize = 2000;
const STEPS: usize = 10_000;
const ETA: f64 = 0.25;
const SIGMA: f64 = 0.5;

fn quadratic() -> Quadratic {
    Quadratic::new(DMatrix::identity(N, N) * 2.0, DVector::zeros(N)).expect("valid")
}

fn runner(c: &mut Criterion) {
    let q = quadratic();
    let x0 = DVector::from_element(N, 1.0);
    let x_star = DVector::zeros(N);
    let mut g = c.benchmark_group("disturbance-bounds/monte-carlo");
    g.sample_size(10);
    g.throughput(Throughput::Elements((RUNS * STEPS) as u64));
    g.bench_function(
        BenchmarkId::new("runner", format!("{RUNS}x{STEPS}-n{N}")),
        |b| {
            b.iter(|| {
                let mc = monte_carlo(RUNS, STEPS, &x0, &x_star, |i| {
                    Ok((
                        GradientDescent::new(q.clone(), ETA)?,
                        GaussianNoise::new(ETA * SIGMA, i as u64)?,
                    ))
                })
                .expect("runs");
                black_box(mc.mean_square[STEPS])
            })
        },
    );
    g.finish();

    // The plain loop: one run of the same iteration, by hand, on one core.
    let mut g = c.benchmark_group("disturbance-bounds/plain-loop");
    g.sample_size(20);
    g.throughput(Throughput::Elements(STEPS as u64));
    g.bench_function(
        BenchmarkId::new("single-run", format!("{STEPS}-n{N}")),
        |b| {
            let mut seed = 0u64;
            b.iter(|| {
                seed += 1;
                // GaussianNoise's generator.
                let mut rng: rand::rngs::Xoshiro256PlusPlus =
                    rand::SeedableRng::seed_from_u64(seed);
                let mut x = vec![1.0f64; N];
                let mut last = 0.0;
                for _ in 0..STEPS {
                    let mut e2 = 0.0;
                    for xi in x.iter_mut() {
                        let z: f64 = rand_distr::StandardNormal.sample(&mut rng);
                        *xi = *xi - ETA * (2.0 * *xi) + ETA * SIGMA * z;
                        e2 += *xi * *xi;
                    }
                    last = e2;
                }
                black_box(last)
            })
        },
    );
    g.finish();
}

criterion_group!(benches, runner);
criterion_main!(benches);
