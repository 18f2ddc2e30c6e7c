//! Split conformal classification at scale: calibration on 10⁴ rows, prediction sets for 10⁵
//! and 10⁶ test rows × 10 classes (rows per second), LAC and randomised APS.
//!
//! - `conformal/end-to-end`: what a user pays — calibrating, then validating and predicting the
//!   test probabilities (`ConformalClassifier::predict_flat`: each chunk of rows is validated
//!   and predicted while in cache). This is the figure compared with MAPIE
//!   (`benches/peers/mapie_conformal.py`, whose measured rows per second are kept in
//!   `benches/peers/mapie_conformal.json`).
//! - `conformal/end-to-end-f32`: the same on the 10⁶ rows stored as `f32`.
//! - `conformal/calibrate-predict`: calibrating and predicting a `Probabilities` validated
//!   beforehand (validation not timed).
//! - `conformal/memory-read`: a parallel sum over a buffer of the 10⁶-row input's size, the
//!   physical limit a pass over the input can reach on this machine, measured in the same run.
//!
//! `cargo xtask bench conformal` ends with rows/s, GB/s of input, the share of the memory-read
//! bandwidth and the ratio to MAPIE's figures.

use conformal::{ConformalClassifier, ConformalParams, Probabilities, Score};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rayon::prelude::*;
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use papercraft_benches::{conformal_data as data, CONFORMAL_K as K};

const SCORES: [Score; 2] = [Score::Lac, Score::Aps { randomized: true }];

/// What a user with a raw buffer of probabilities pays: calibration, then
/// [`ConformalClassifier::predict_flat`], which validates every row while it predicts (one pass
/// over memory); `f64` rows (group `conformal/end-to-end`, compared with MAPIE) and the same rows
/// stored as `f32` (group `conformal/end-to-end-f32`: half the bytes).
fn end_to_end(c: &mut Criterion) {
    let (cal, yc) = data(10_000, 1);
    let cal = Probabilities::from_flat(cal, K).expect("valid rows");
    let mut g = c.benchmark_group("conformal/end-to-end");
    g.sample_size(10);
    let mut big = Vec::new();
    for n in [100_000usize, 1_000_000] {
        let (test, _) = data(n, 2);
        g.throughput(Throughput::Elements(n as u64));
        for score in SCORES {
            let params = ConformalParams::new(score, 0.1).check().expect("valid");
            g.bench_function(BenchmarkId::new(score.name(), n), |b| {
                b.iter(|| {
                    let clf =
                        ConformalClassifier::calibrate(&params, &cal, &yc, 3).expect("calibrates");
                    let sets = clf.predict_flat(&test, 4).expect("validates and predicts");
                    black_box(sets.size(0))
                })
            });
        }
        big = test;
    }
    g.finish();
    // The 10⁶ rows in f32, renormalised in f32 (as a model's f32 softmax would be).
    let test32: Vec<f32> = big
        .chunks_exact(K)
        .flat_map(|r| {
            let r: Vec<f32> = r.iter().map(|&v| v as f32).collect();
            let s: f32 = r.iter().sum();
            r.into_iter().map(move |v| v / s)
        })
        .collect();
    let mut g = c.benchmark_group("conformal/end-to-end-f32");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000_000));
    for score in SCORES {
        let params = ConformalParams::new(score, 0.1).check().expect("valid");
        g.bench_function(BenchmarkId::new(score.name(), 1_000_000), |b| {
            b.iter(|| {
                let clf =
                    ConformalClassifier::calibrate(&params, &cal, &yc, 3).expect("calibrates");
                let sets = clf
                    .predict_flat(&test32, 4)
                    .expect("validates and predicts");
                black_box(sets.size(0))
            })
        });
    }
    g.finish();
}

fn calibrate_and_predict(c: &mut Criterion) {
    let (cal, yc) = data(10_000, 1);
    let cal = Probabilities::from_flat(cal, K).expect("valid rows");
    let mut g = c.benchmark_group("conformal/calibrate-predict");
    g.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let test = Probabilities::from_flat(data(n, 2).0, K).expect("valid rows");
        g.throughput(Throughput::Elements(n as u64));
        for score in SCORES {
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

/// A parallel sum over 10⁷ f64 (the 10⁶ × 10 input), 16 accumulators per chunk
/// ([`papercraft_benches::lane_sum`]; a plain `iter().sum()` is bound by the add latency, not
/// the memory): bytes per second (criterion's elements).
fn memory_read(c: &mut Criterion) {
    let buf: Vec<f64> = (0..1_000_000 * K).map(|i| i as f64).collect();
    let mut g = c.benchmark_group("conformal/memory-read");
    g.sample_size(20);
    g.throughput(Throughput::Elements((buf.len() * 8) as u64));
    g.bench_function("parallel-sum-80MB", |b| {
        b.iter(|| {
            black_box(
                buf.par_chunks(1 << 16)
                    .map(papercraft_benches::lane_sum)
                    .sum::<f64>(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, memory_read, end_to_end, calibrate_and_predict);
criterion_main!(benches);
