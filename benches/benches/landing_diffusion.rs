//! landing-diffusion: one forward (noising) step and one reverse step for a batch of 4096
//! points on S² and on SO(10) (D = 100, 55 equalities), with explicit landing, implicit
//! landing and the Newton-projection baseline; beside them the ceiling of a step that does no
//! geometry at all — drawing the batch's normals and writing the new points (the part every
//! variant shares), and the ceiling of the generic dense route: per point the Jacobian, the
//! Gram matrix `JJᵀ` and its Cholesky factor, computed in parallel and nothing more. Before
//! the benches it prints the function evaluations and path-store bytes of ULLA (N = 50)
//! against OLLA (N = 100) as measured by counting model calls and the stored path, not
//! assumed.
//!
//! `cargo bench -p papercraft-benches --bench landing_diffusion`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use landing_diffusion::{
    ConstraintSet, Correction, Dynamics, NewtonProjection, Sampler, SamplerParams, Schedule,
    ScoreModel, SpecialOrthogonal, Sphere, ZeroScore,
};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 4096;

fn one_step(correction: Correction, dynamics: Dynamics) -> Sampler {
    SamplerParams {
        steps: 1,
        horizon: 0.01,
        schedule: Schedule::Constant(1.0),
        dynamics,
        correction,
        repulsion: 0.0,
        curvature_correction: false,
        terminal: None,
    }
    .check()
    .expect("valid sampler")
}

/// A model that counts its calls (the function evaluations).
struct Counting(AtomicUsize);

impl ScoreModel for Counting {
    fn eval(
        &self,
        input: &[f64],
        rows: usize,
        t: f64,
        out: &mut [f64],
    ) -> landing_diffusion::Result<()> {
        self.0.fetch_add(1, Ordering::Relaxed);
        ZeroScore.eval(input, rows, t, out)
    }
}

fn nfe_and_memory() {
    let sphere = Sphere::new(3).expect("D = 3");
    let mut rng = core_linalg::seeded_rng(5);
    let x0 = Sampler::prior(&sphere, 256, &mut rng).expect("prior");
    let mut rows = Vec::new();
    for (name, steps, horizon, dynamics) in [
        ("OLLA", 100, 4.0, Dynamics::Overdamped),
        ("ULLA", 50, 2.0, Dynamics::Underdamped { friction: 5.0 }),
    ] {
        let s = SamplerParams {
            steps,
            horizon,
            schedule: Schedule::Linear {
                min: 0.01,
                max: 1.0,
            },
            dynamics,
            correction: Correction::Implicit,
            ..Default::default()
        }
        .check()
        .expect("valid");
        let paths = s.forward(&sphere, &x0, &mut rng).expect("forward");
        let model = Counting(AtomicUsize::new(0));
        s.reverse(&sphere, &model, &x0, &mut rng).expect("reverse");
        rows.push((name, model.0.load(Ordering::Relaxed), paths.bytes()));
    }
    for (name, nfe, bytes) in &rows {
        eprintln!("landing-diffusion/{name}: {nfe} function evaluations per sample, {bytes} path bytes for 256 paths on S²");
    }
    eprintln!(
        "landing-diffusion: ULLA/OLLA function evaluations {:.3}, path memory {:.3}",
        rows[1].1 as f64 / rows[0].1 as f64,
        rows[1].2 as f64 / rows[0].2 as f64
    );
}

fn bench_set(c: &mut Criterion, label: &str, set: &dyn ConstraintSet) {
    let mut rng = core_linalg::seeded_rng(11);
    let x0 = Sampler::prior(set, BATCH, &mut rng).expect("prior");
    let d = set.dim();
    let mut g = c.benchmark_group(format!("landing-diffusion/step/{label}"));
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    // The shared floor: the batch's normals and a fresh output buffer, no geometry.
    g.bench_function(BenchmarkId::new("floor-normals-and-write", BATCH), |b| {
        b.iter(|| {
            let z: Vec<f64> = (0..BATCH * d)
                .map(|_| StandardNormal.sample(&mut rng))
                .collect();
            let out: Vec<f64> = x0.iter().zip(&z).map(|(a, b)| a + 1e-3 * b).collect();
            black_box(out)
        })
    });
    // The ceiling of the generic dense route: per point, the Jacobian, the Gram JJᵀ and its
    // Cholesky factor — what any step through `ConstraintSet` must compute — and nothing else.
    let (m, l) = (set.n_eq(), set.n_ineq());
    g.bench_function(
        BenchmarkId::new("floor-jacobian-gram-cholesky", BATCH),
        |b| {
            b.iter(|| {
                let total: f64 = x0
                    .par_chunks_exact(d)
                    .map(|x| {
                        let (mut jh, mut jg) = (vec![0.0; m * d], vec![0.0; l * d]);
                        set.jacobian(x, &mut jh, &mut jg);
                        let j = nalgebra::DMatrix::from_row_slice(m, d, &jh);
                        let gram = &j * j.transpose();
                        gram.cholesky().map_or(0.0, |c| c.l()[(0, 0)])
                    })
                    .sum();
                black_box(total)
            })
        },
    );
    for (name, correction) in [
        ("explicit", Correction::Explicit { alpha: 50.0 }),
        ("implicit", Correction::Implicit),
        (
            "projection",
            Correction::Projection(NewtonProjection {
                max_iter: 10,
                tol: 1e-6,
            }),
        ),
    ] {
        let s = one_step(correction, Dynamics::Overdamped);
        g.bench_function(BenchmarkId::new(format!("forward-{name}"), BATCH), |b| {
            b.iter(|| black_box(s.forward(set, &x0, &mut rng).expect("step").positions.len()))
        });
        g.bench_function(BenchmarkId::new(format!("reverse-{name}"), BATCH), |b| {
            b.iter(|| {
                black_box(
                    s.reverse(set, &ZeroScore, &x0, &mut rng)
                        .expect("step")
                        .points
                        .len(),
                )
            })
        });
    }
    let s = one_step(
        Correction::Implicit,
        Dynamics::Underdamped { friction: 5.0 },
    );
    g.bench_function(
        BenchmarkId::new("reverse-implicit-underdamped", BATCH),
        |b| {
            b.iter(|| {
                black_box(
                    s.reverse(set, &ZeroScore, &x0, &mut rng)
                        .expect("step")
                        .points
                        .len(),
                )
            })
        },
    );
    g.finish();
}

fn steps(c: &mut Criterion) {
    nfe_and_memory();
    bench_set(c, "S2", &Sphere::new(3).expect("D = 3"));
    bench_set(c, "SO10", &SpecialOrthogonal::new(10).expect("n = 10"));
}

criterion_group!(benches, steps);
criterion_main!(benches);
