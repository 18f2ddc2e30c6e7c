//! Experiments 3 and 4: generative benchmarks on S², a torus, S² ∩ {z ≤ 0.5} and SO(3), with
//! landing (OLLA, ULLA) against projection (OLLA-P, ULLA-P).

use crate::metrics::{
    jensen_shannon_distance, sphere_histogram, torus_histogram, trace_histograms,
};
use crate::score::{train, TrainParams};
use crate::{
    ConstraintSet, Correction, Dynamics, NewtonProjection, Sampler, SamplerParams, Schedule,
    SpecialOrthogonal, Sphere, SphereCap, Torus,
};
use core_linalg::Rng;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use repro::BoxError;

/// The benchmark data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dataset {
    /// A mixture of four von Mises–Fisher laws (κ = 20) on S².
    Sphere,
    /// A mixture of two wrapped-normal bumps in the angles of the torus R = 2, r = 1.
    Torus,
    /// A vMF mixture on S² restricted to z ≤ 0.5, one component centred on the boundary.
    Mixed,
    /// A mixture of three concentrated laws around fixed rotations in SO(n).
    Rotations(usize),
}

impl Dataset {
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Sphere => "S² vMF mixture",
            Dataset::Torus => "torus",
            Dataset::Mixed => "S² ∩ {z ≤ 0.5}",
            Dataset::Rotations(3) => "SO(3) mixture",
            Dataset::Rotations(4) => "SO(4) mixture",
            Dataset::Rotations(_) => "SO(n) mixture",
        }
    }
    pub fn set(self) -> Box<dyn ConstraintSet> {
        match self {
            Dataset::Sphere => Box::new(Sphere::new(3).expect("D = 3")),
            Dataset::Torus => Box::new(torus()),
            Dataset::Mixed => Box::new(SphereCap::new(3, CAP).expect("valid cap")),
            Dataset::Rotations(n) => Box::new(SpecialOrthogonal::new(n).expect("n ≥ 2")),
        }
    }
    /// The boundary repulsion ε (only the mixed set has an inequality).
    pub(crate) fn repulsion(self) -> f64 {
        match self {
            Dataset::Mixed => 0.01,
            _ => 0.0,
        }
    }
}

const CAP: f64 = 0.5;
const KAPPA: f64 = 20.0;

fn torus() -> Torus {
    Torus::new(2.0, 1.0).expect("valid radii")
}

fn unit(v: [f64; 3]) -> [f64; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    [v[0] / n, v[1] / n, v[2] / n]
}

/// One draw from vMF(μ, κ) on S² (Wood's algorithm in closed form for S²).
fn vmf(mu: [f64; 3], kappa: f64, rng: &mut Rng) -> [f64; 3] {
    let u: f64 = rng.random();
    let w = 1.0 + (u + (1.0 - u) * (-2.0 * kappa).exp()).ln() / kappa;
    let phi = std::f64::consts::TAU * rng.random::<f64>();
    let r = (1.0 - w * w).max(0.0).sqrt();
    // An orthonormal frame (e1, e2, μ).
    let a = if mu[0].abs() < 0.9 {
        [1.0, 0.0, 0.0]
    } else {
        [0.0, 1.0, 0.0]
    };
    let d = a[0] * mu[0] + a[1] * mu[1] + a[2] * mu[2];
    let e1 = unit([a[0] - d * mu[0], a[1] - d * mu[1], a[2] - d * mu[2]]);
    let e2 = [
        mu[1] * e1[2] - mu[2] * e1[1],
        mu[2] * e1[0] - mu[0] * e1[2],
        mu[0] * e1[1] - mu[1] * e1[0],
    ];
    let (c, s) = (r * phi.cos(), r * phi.sin());
    [
        c * e1[0] + s * e2[0] + w * mu[0],
        c * e1[1] + s * e2[1] + w * mu[1],
        c * e1[2] + s * e2[2] + w * mu[2],
    ]
}

/// A skew-symmetric `n × n` matrix with `N(0, scale²)` entries above the diagonal.
fn skew(n: usize, scale: f64, rng: &mut Rng) -> nalgebra::DMatrix<f64> {
    let mut a = nalgebra::DMatrix::zeros(n, n);
    for i in 0..n {
        for j in i + 1..n {
            let z: f64 = StandardNormal.sample(rng);
            a[(i, j)] = scale * z;
            a[(j, i)] = -scale * z;
        }
    }
    a
}

/// Draws `n` points of the data set.
pub(crate) fn sample_data(ds: Dataset, n_points: usize, rng: &mut Rng) -> Vec<f64> {
    let n = n_points;
    let mut out = Vec::with_capacity(n * 9);
    match ds {
        Dataset::Sphere => {
            let mus = [
                unit([1.0, 0.0, 0.3]),
                unit([-0.5, 0.8, -0.2]),
                unit([0.0, -0.6, -0.8]),
                unit([-0.3, -0.3, 0.9]),
            ];
            for _ in 0..n {
                let k = rng.random_range(0..mus.len());
                out.extend_from_slice(&vmf(mus[k], KAPPA, rng));
            }
        }
        Dataset::Mixed => {
            let mus = [unit([0.87, 0.0, 0.5]), unit([-0.6, 0.5, -0.6])];
            while out.len() < n * 3 {
                let k = rng.random_range(0..mus.len());
                let p = vmf(mus[k], KAPPA, rng);
                if p[2] <= CAP {
                    out.extend_from_slice(&p);
                }
            }
        }
        Dataset::Torus => {
            let t = torus();
            let modes = [(0.0, 0.0), (2.5, 2.0), (-2.0, -1.5)];
            for _ in 0..n {
                let (mp, mt) = modes[rng.random_range(0..modes.len())];
                let zp: f64 = StandardNormal.sample(rng);
                let zt: f64 = StandardNormal.sample(rng);
                out.extend_from_slice(&t.point(mp + 0.35 * zp, mt + 0.35 * zt));
            }
        }
        Dataset::Rotations(n) => {
            // Centres exp(A_k) from fixed skew matrices (their own stream: the law is fixed,
            // the sample is seeded); draws C_k·exp(0.25·S) with S skew, N(0, 1) entries.
            let mut fixed = core_linalg::stream_rng(0x5043_0003, n as u64);
            let centres: Vec<nalgebra::DMatrix<f64>> =
                (0..3).map(|_| skew(n, 1.5, &mut fixed).exp()).collect();
            for _ in 0..n_points {
                let c = &centres[rng.random_range(0..centres.len())];
                let x = c * skew(n, 0.25, rng).exp();
                for i in 0..n {
                    for j in 0..n {
                        out.push(x[(i, j)]);
                    }
                }
            }
        }
    }
    out
}

/// The histograms the metric compares (one for S² and the torus, one per trace power for
/// SO(3)).
pub(crate) fn histograms(ds: Dataset, points: &[f64]) -> Result<Vec<Vec<f64>>, BoxError> {
    Ok(match ds {
        Dataset::Sphere => vec![sphere_histogram(points, (-1.0, 1.0), 10, 20)?],
        Dataset::Mixed => vec![sphere_histogram(points, (-1.0, CAP), 8, 20)?],
        Dataset::Torus => vec![torus_histogram(&torus(), points, 15)?],
        Dataset::Rotations(n) => trace_histograms(points, n, &[1, 2], 30)?,
    })
}

/// The mean Jensen–Shannon distance over the data set's histograms.
pub(crate) fn jsd(ds: Dataset, a: &[f64], b: &[f64]) -> Result<f64, BoxError> {
    let (ha, hb) = (histograms(ds, a)?, histograms(ds, b)?);
    let mut s = 0.0;
    for (x, y) in ha.iter().zip(&hb) {
        s += jensen_shannon_distance(x, y)?;
    }
    Ok(s / ha.len() as f64)
}

/// The four samplers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Olla,
    OllaP,
    Ulla,
    UllaP,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Olla, Method::OllaP, Method::Ulla, Method::UllaP];
    pub fn name(self) -> &'static str {
        match self {
            Method::Olla => "OLLA",
            Method::OllaP => "OLLA-P",
            Method::Ulla => "ULLA",
            Method::UllaP => "ULLA-P",
        }
    }
    pub(crate) fn is_landing(self) -> bool {
        matches!(self, Method::Olla | Method::Ulla)
    }
}

/// The baseline's projection: RDDPM's 10 Newton iterations to 10⁻⁶.
pub(crate) const BASELINE_PROJECTION: NewtonProjection = NewtonProjection {
    max_iter: 10,
    tol: 1e-6,
};

/// The notes' S² settings: overdamped N = 100, T = 4, σ linear 0.01 → 1; underdamped N = 50,
/// T = 2, σ linear 0.1 → 2, γ = 5; implicit landing; terminal Newton projection. SO(3) uses
/// the notes' SO(10) settings (overdamped N = 100, T = 1, σ 0.2 → 2; underdamped N = 50,
/// T = 2.5, σ geometric 0.2 → 2, γ = 10).
pub(crate) fn sampler_params(ds: Dataset, m: Method) -> SamplerParams {
    let correction = if m.is_landing() {
        Correction::Implicit
    } else {
        Correction::Projection(BASELINE_PROJECTION)
    };
    let over = matches!(m, Method::Olla | Method::OllaP);
    let (steps, horizon, schedule, dynamics) = match (ds, over) {
        (Dataset::Rotations(_), true) => (
            100,
            1.0,
            Schedule::Linear { min: 0.2, max: 2.0 },
            Dynamics::Overdamped,
        ),
        (Dataset::Rotations(_), false) => (
            50,
            2.5,
            Schedule::Geometric { min: 0.2, max: 2.0 },
            Dynamics::Underdamped { friction: 10.0 },
        ),
        (_, true) => (
            100,
            4.0,
            Schedule::Linear {
                min: 0.01,
                max: 1.0,
            },
            Dynamics::Overdamped,
        ),
        (_, false) => (
            50,
            2.0,
            Schedule::Linear { min: 0.1, max: 2.0 },
            Dynamics::Underdamped { friction: 5.0 },
        ),
    };
    SamplerParams {
        steps,
        horizon,
        schedule,
        dynamics,
        correction,
        repulsion: ds.repulsion(),
        curvature_correction: false,
        terminal: Some(NewtonProjection::default()),
    }
}

/// Sizes by profile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub train_steps: usize,
    pub paths: usize,
    pub data: usize,
    pub samples: usize,
    pub seeds: usize,
    pub lr: f64,
    pub batch: usize,
}

/// What one (data set, method, seed) cell measured.
#[derive(Debug, Clone)]
pub(crate) struct CellResult {
    pub jsd: f64,
    /// JSD of the same network sampled with half the steps.
    pub jsd_half: f64,
    pub dropped_train: usize,
    pub dropped_sample: usize,
    pub terminal_failures: usize,
    pub max_eq: f64,
    pub max_ineq: f64,
    pub nfe: usize,
    pub path_bytes: usize,
    pub final_loss: f64,
    pub trace: Vec<(f64, f64, f64)>,
    pub points: Vec<f64>,
}

/// Trains and samples one cell.
pub(crate) fn run_cell(
    ds: Dataset,
    m: Method,
    sizes: Sizes,
    train_data: &[f64],
    test: &[f64],
    init_seed: u64,
    rng: &mut Rng,
) -> Result<CellResult, BoxError> {
    let set = ds.set();
    let params = sampler_params(ds, m);
    let sampler = params.check()?;
    let tp = TrainParams {
        steps: sizes.train_steps,
        paths: sizes.paths,
        init_seed,
        lr: sizes.lr,
        batch: sizes.batch,
        schedule: core_ml::train::Schedule::CosineWarmup {
            warmup: sizes.train_steps / 20,
            min_factor: 0.05,
        },
        ..Default::default()
    };
    let (net, report) = train(&sampler, set.as_ref(), train_data, &tp, rng)?;
    let start = Sampler::prior(set.as_ref(), sizes.samples, rng)?;
    let s = sampler.reverse(set.as_ref(), &net, &start, rng)?;
    let live: Vec<f64> = s.live().flatten().copied().collect();
    let jsd_full = jsd(ds, &live, test)?;
    let half = SamplerParams {
        steps: params.steps / 2,
        ..params
    }
    .check()?;
    let start = Sampler::prior(set.as_ref(), sizes.samples, rng)?;
    let sh = half.reverse(set.as_ref(), &net, &start, rng)?;
    let live_h: Vec<f64> = sh.live().flatten().copied().collect();
    Ok(CellResult {
        jsd: jsd_full,
        jsd_half: jsd(ds, &live_h, test)?,
        dropped_train: report.dropped_paths,
        dropped_sample: s.dropped_count(),
        terminal_failures: s.terminal_failures,
        max_eq: s.max_eq,
        max_ineq: s.max_ineq,
        nfe: s.nfe,
        path_bytes: report.path_bytes,
        final_loss: report.losses.last().map_or(f64::NAN, |p| p.1),
        trace: s
            .trace
            .iter()
            .map(|r| (r.t, r.mean_eq, r.mean_ineq))
            .collect(),
        points: live,
    })
}
