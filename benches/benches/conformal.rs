//! Calibrate + predict sets for 10⁵ and 10⁶ test rows × 10 classes (rows per second), LAC and
//! randomised APS; calibration on 10⁴ rows. Linear in the rows and parallel (rayon).
//!
//! The peer (MAPIE's `SplitConformalClassifier` on the same kind of probabilities) is
//! `benches/peers/mapie_conformal.py`, run by hand.

use conformal::{ConformalClassifier, ConformalParams, Probabilities, Score};
use core_linalg::seeded_rng;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::RngExt;
use std::hint::black_box;

const K: usize = 10;

/// Random probability rows (cubed uniforms, normalised) and labels drawn from them.
fn data(n: usize, seed: u64) -> (Probabilities, Vec<usize>) {
    let mut rng = seeded_rng(seed);
    let mut flat = Vec::with_capacity(n * K);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let r: Vec<f64> = (0..K).map(|_| rng.random::<f64>().powi(3)).collect();
        let s: f64 = r.iter().sum();
        let u = rng.random::<f64>() * s;
        let mut acc = 0.0;
        labels.push(
            r.iter()
                .position(|&v| {
                    acc += v;
                    u < acc
                })
                .unwrap_or(K - 1),
        );
        flat.extend(r.iter().map(|v| v / s));
    }
    (
        Probabilities::from_flat(flat, K).expect("valid rows"),
        labels,
    )
}

fn calibrate_and_predict(c: &mut Criterion) {
    let (cal, yc) = data(10_000, 1);
    let mut g = c.benchmark_group("conformal/calibrate-predict");
    g.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let (test, _) = data(n, 2);
        g.throughput(Throughput::Elements(n as u64));
        for score in [Score::Lac, Score::Aps { randomized: true }] {
            let params = ConformalParams::new(score, 0.1).check().expect("valid");
            g.bench_function(BenchmarkId::new(score.name(), n), |b| {
                b.iter(|| {
                    let clf =
                        ConformalClassifier::calibrate(&params, &cal, &yc, 3).expect("calibrates");
                    let sets = clf.predict(&test, 4).expect("predicts");
                    black_box(sets.size(0))
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, calibrate_and_predict);
criterion_main!(benches);
