//! A user-defined constraint set on real data: the iris measurements as directions.
//!
//! Each iris flower's four measurements (cm, all positive) divided by their norm is a point of
//! `S³ ∩ {x ≥ 0}`: one equality `(|x|² − 1)/2 = 0` and four inequalities `−x_i ≤ 0`, given
//! here as closures and checked against finite differences before use. An overdamped sampler
//! with implicit landing (boundary repulsion ε = 0.01) learns the 150 directions; samples start
//! from the uniform law on the orthant's part of the sphere (|z|/‖z‖ for Gaussian z — the
//! set has no built-in prior, so the caller supplies the start). The example prints the
//! violation, the share of samples nearest each species' mean direction (the data: ⅓ each) and
//! the per-coordinate means.
//!
//! ```sh
//! cargo run --release -p landing-diffusion --example custom_set
//! ```

use core_ml::data::Dataset;
use landing_diffusion::score::{train, TrainParams};
use landing_diffusion::{metrics, Correction, CustomSet, SamplerParams, Schedule};
use rand_distr::{Distribution, StandardNormal};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iris = Dataset::iris()?;
    let mut data = Vec::new();
    for i in 0..iris.len() {
        let r = iris.row(i);
        let n = r.iter().map(|v| v * v).sum::<f64>().sqrt();
        data.extend(r.iter().map(|v| v / n));
    }
    let set = CustomSet::new(
        "S³ ∩ positive orthant",
        4,
        1,
        4,
        |x: &[f64], h: &mut [f64], g: &mut [f64]| {
            h[0] = 0.5 * (x.iter().map(|v| v * v).sum::<f64>() - 1.0);
            for (gi, xi) in g.iter_mut().zip(x) {
                *gi = -xi;
            }
        },
        |x: &[f64], jh: &mut [f64], jg: &mut [f64]| {
            jh.copy_from_slice(x);
            jg.fill(0.0);
            for i in 0..4 {
                jg[i * 4 + i] = -1.0;
            }
        },
    )?
    .verified_at(&[data[0..4].to_vec(), vec![0.5, 0.5, 0.5, 0.5]], 1e-6)?;

    let sampler = SamplerParams {
        steps: 100,
        horizon: 2.0,
        schedule: Schedule::Linear {
            min: 0.01,
            max: 1.0,
        },
        correction: Correction::Implicit,
        repulsion: 0.01,
        ..Default::default()
    }
    .check()?;
    let mut rng = core_linalg::seeded_rng(2026);
    let params = TrainParams {
        steps: 1500,
        batch: 1000,
        lr: 5e-3,
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let (net, report) = train(&sampler, &set, &data, &params, &mut rng)?;
    println!(
        "trained {} parameters in {:.1} s: loss {:.3} → {:.3}, {} path refreshes, {} trajectories dropped",
        net.parameters(),
        t0.elapsed().as_secs_f64(),
        report.losses.first().map_or(f64::NAN, |p| p.1),
        report.losses.last().map_or(f64::NAN, |p| p.1),
        report.refreshes,
        report.dropped_paths,
    );

    let n = 3000;
    let mut start = Vec::with_capacity(n * 4);
    for _ in 0..n {
        let z: Vec<f64> = (0..4)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect::<Vec<f64>>();
        let norm = z.iter().map(|v: &f64| v * v).sum::<f64>().sqrt();
        start.extend(z.iter().map(|v| v.abs() / norm));
    }
    let out = sampler.reverse(&set, &net, &start, &mut rng)?;
    let live: Vec<f64> = out.live().flatten().copied().collect();
    let (mean_h, mean_g) = metrics::violation(&set, &live)?;
    println!(
        "{} samples ({} dropped, {} terminal failures): max |h| {:.1e}, max relu(g) {:.1e}, mean |h| {:.1e}, mean relu(g) {:.1e}",
        live.len() / 4,
        out.dropped_count(),
        out.terminal_failures,
        out.max_eq,
        out.max_ineq,
        mean_h,
        mean_g
    );

    // Nearest species mean direction.
    let mut centres = [[0.0f64; 4]; 3];
    for i in 0..iris.len() {
        for c in 0..4 {
            centres[iris.y[i]][c] += data[i * 4 + c] / 50.0;
        }
    }
    let nearest = |p: &[f64]| -> usize {
        (0..3)
            .min_by(|&a, &b| {
                let da: f64 = (0..4).map(|c| (p[c] - centres[a][c]).powi(2)).sum();
                let db: f64 = (0..4).map(|c| (p[c] - centres[b][c]).powi(2)).sum();
                da.total_cmp(&db)
            })
            .expect("three species")
    };
    let mut share = [0usize; 3];
    for p in live.chunks_exact(4) {
        share[nearest(p)] += 1;
    }
    let m = (live.len() / 4) as f64;
    println!(
        "samples nearest each species' mean direction: setosa {:.3}, versicolor {:.3}, virginica {:.3} (data: 0.333 each)",
        share[0] as f64 / m,
        share[1] as f64 / m,
        share[2] as f64 / m
    );
    let mean = |pts: &[f64], c: usize| {
        pts.chunks_exact(4).map(|p| p[c]).sum::<f64>() / (pts.len() / 4) as f64
    };
    for (c, name) in ["sepal length", "sepal width", "petal length", "petal width"]
        .iter()
        .enumerate()
    {
        println!(
            "{name:>13}: data mean {:.4}, sample mean {:.4}",
            mean(&data, c),
            mean(&live, c)
        );
    }
    Ok(())
}
