//! Filter steps per second: the exact log-domain filter (LOF) with a dense T (O(|S|²)), a
//! sparse T (4 non-zeros per column, O(nnz)) and a permutation T (stored sparse: O(|S|)), and
//! the linear filter (a permutation gather, O(|S|)), single trajectory and batched, at
//! |S| ∈ {2, 16, 256, 4096}.
//!
//! - `hmm-linear-filter/memory-read`: a single-threaded sum (32 accumulators) over a
//!   4096 × 4096 f64 buffer (the dense T's size), the ceiling of a dense step, which reads all of
//!   T once, measured in the same run.
//! - The peer, hmmlearn 0.3.3's forward pass (`score`, log and scaling implementations) on the
//!   same kind of model at |S| = 4096, is measured by `benches/peers/hmmlearn_fixture.py` and
//!   kept in `benches/peers/hmmlearn_forward.json`.
//!
//! `cargo xtask bench hmm-linear-filter` ends with steps/s at |S| = 4096, the dense step's share
//! of the memory-read bandwidth and the ratio to hmmlearn.

use core_linalg::{seeded_rng, stream_rng};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmm_linear_filter::{Hmm, LinearFilter, LogForwardFilter, LogitFilter};
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::RngExt;
use rayon::prelude::*;
use std::hint::black_box;

/// A random HMM with permutation T (so both filters apply), positive E with 16 symbols.
fn model(n: usize, seed: u64) -> Hmm {
    let mut rng = seeded_rng(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut rng);
    let mut t = DMatrix::zeros(n, n);
    for (j, &i) in perm.iter().enumerate() {
        t[(i, j)] = 1.0;
    }
    let o = 16;
    let mut e = DMatrix::from_fn(o, n, |_, _| 0.05 + rng.random::<f64>());
    for mut c in e.column_iter_mut() {
        let s = c.sum();
        c /= s;
    }
    Hmm::new(t, e, vec![1.0 / n as f64; n]).expect("valid model")
}

/// The same model with a dense stochastic T (the LOF's general case).
fn dense(n: usize, seed: u64) -> Hmm {
    let base = model(n, seed);
    let mut rng = seeded_rng(seed + 1);
    let mut t = DMatrix::from_fn(n, n, |_, _| rng.random::<f64>());
    for mut c in t.column_iter_mut() {
        let s = c.sum();
        c /= s;
    }
    Hmm::new(t, base.emission().clone(), base.initial().to_vec()).expect("valid model")
}

/// The same model with a sparse T: 4 random non-zeros per column.
fn sparse(n: usize, seed: u64) -> Hmm {
    let base = model(n, seed);
    let mut rng = seeded_rng(seed + 2);
    let mut t = DMatrix::zeros(n, n);
    for j in 0..n {
        for _ in 0..4 {
            t[(rng.random_range(0..n), j)] += 0.05 + rng.random::<f64>();
        }
        let s: f64 = t.column(j).sum();
        t.column_mut(j).iter_mut().for_each(|x| *x /= s);
    }
    Hmm::new(t, base.emission().clone(), base.initial().to_vec()).expect("valid model")
}

/// A single-threaded sum over |S|² f64 (the dense T at |S| = 4096), 16 accumulators
/// ([`papercraft_benches::lane_sum`]; a plain `iter().sum()` is bound by the add latency, not
/// the memory): bytes per second.
fn memory_read(c: &mut Criterion) {
    let n = 4096usize;
    let buf: Vec<f64> = (0..n * n).map(|i| i as f64).collect();
    let mut g = c.benchmark_group("hmm-linear-filter/memory-read");
    g.sample_size(10);
    g.throughput(Throughput::Elements((buf.len() * 8) as u64));
    g.bench_function("sum-134MB", |b| {
        b.iter(|| black_box(papercraft_benches::lane_sum(&buf)))
    });
    g.finish();
}

fn single(c: &mut Criterion) {
    for &n in &[2usize, 16, 256, 4096] {
        let steps = if n >= 4096 { 20 } else { 2000 };
        let m = model(n, 1);
        let d = dense(n, 1);
        let sp = sparse(n, 1);
        let obs = m.sample(steps, &mut seeded_rng(2)).observations;
        let mut g = c.benchmark_group(format!("hmm-linear-filter/single/{n}"));
        g.throughput(Throughput::Elements(steps as u64));
        if n >= 4096 {
            g.sample_size(10);
        }
        g.bench_function("lof-dense-T", |b| {
            b.iter(|| {
                let mut f = LogForwardFilter::new(&d);
                for &y in &obs {
                    f.step(y).expect("step");
                }
                black_box(f.log_likelihood())
            })
        });
        if sp.is_sparse(0) {
            g.bench_function("lof-sparse-T", |b| {
                b.iter(|| {
                    let mut f = LogForwardFilter::new(&sp);
                    for &y in &obs {
                        f.step(y).expect("step");
                    }
                    black_box(f.log_likelihood())
                })
            });
        }
        g.bench_function("lof-permutation-T", |b| {
            b.iter(|| {
                let mut f = LogForwardFilter::new(&m);
                for &y in &obs {
                    f.step(y).expect("step");
                }
                black_box(f.log_likelihood())
            })
        });
        // Built once (its O(|S|²) scan of T is set-up, not filtering); reset per iteration.
        let mut lin = LinearFilter::exact(&m).expect("permutation");
        let w0 = lin.logits().to_vec();
        g.bench_function("linear", |b| {
            b.iter(|| {
                lin.set_logits(&w0).expect("reset");
                for &y in &obs {
                    lin.step(y).expect("step");
                }
                black_box(lin.offset())
            })
        });
        g.finish();
    }
}

fn batched(c: &mut Criterion) {
    for &n in &[16usize, 256] {
        let (traj, steps) = (64usize, 500usize);
        let m = model(n, 3);
        let d = dense(n, 3);
        let obs: Vec<Vec<usize>> = (0..traj)
            .map(|t| m.sample(steps, &mut stream_rng(4, t as u64)).observations)
            .collect();
        let mut g = c.benchmark_group(format!("hmm-linear-filter/batched/{n}"));
        g.throughput(Throughput::Elements((traj * steps) as u64));
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::new("lof-dense-T", traj), &obs, |b, obs| {
            b.iter(|| {
                obs.par_iter()
                    .map(|o| {
                        let mut f = LogForwardFilter::new(&d);
                        o.iter().for_each(|&y| f.step(y).expect("step"));
                        f.log_likelihood()
                    })
                    .sum::<f64>()
            })
        });
        let proto = LinearFilter::exact(&m).expect("permutation");
        g.bench_with_input(BenchmarkId::new("linear", traj), &obs, |b, obs| {
            b.iter(|| {
                obs.par_iter()
                    .map(|o| {
                        let mut f = proto.clone();
                        o.iter().for_each(|&y| f.step(y).expect("step"));
                        f.offset()
                    })
                    .sum::<f64>()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, memory_read, single, batched);
criterion_main!(benches);
