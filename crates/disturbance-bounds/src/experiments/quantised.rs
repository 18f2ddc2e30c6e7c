use super::quadratic;
use crate::bounds::{error_floor, mean_square_floor, quantization_step};
use crate::{run, Disturbance, GradientDescent, Objective, Quadratic, Quantizer};
use core_linalg::uniform_on_sphere;
use nalgebra::{DMatrix, DVector};
use repro::{BoxError, Claim, Outcome, Plot, PlotKind, RunContext, Series, Table};

const BITS: [u32; 4] = [2, 4, 8, 16];
/// Dimension, workers, condition number of each worker's quadratic, spread of their minimisers.
const N: usize = 20;
const WORKERS: usize = 4;
const KAPPA: f64 = 10.0;
const SPREAD: f64 = 0.5;

/// The workers' quadratics `f_i(x) = ½(x − c_i)ᵀA_i(x − c_i)` and their average
/// `F = (1/m) Σ f_i`, itself a quadratic with Hessian `Ā` and minimiser
/// `x* = (Σ A_i)⁻¹ Σ A_i c_i`.
struct Workers {
    a: Vec<DMatrix<f64>>,
    c: Vec<DVector<f64>>,
    mean: Quadratic,
}

impl Workers {
    fn new(seed: u64) -> Result<Self, BoxError> {
        let mut a = Vec::new();
        let mut c = Vec::new();
        let mut rng = core_linalg::stream_rng(seed, 2);
        for i in 0..WORKERS {
            let q = quadratic(N, KAPPA, seed.wrapping_add(i as u64 + 1))?;
            a.push(q.hessian().clone());
            c.push(uniform_on_sphere(&mut rng, N) * SPREAD);
        }
        let sum_a = a.iter().fold(DMatrix::zeros(N, N), |s, m| s + m);
        let sum_ac = a
            .iter()
            .zip(&c)
            .fold(DVector::zeros(N), |s, (m, ci)| s + m * ci);
        let x_star = sum_a
            .clone()
            .lu()
            .solve(&sum_ac)
            .ok_or("singular Hessian")?;
        let mean = Quadratic::new(sum_a / WORKERS as f64, x_star)?;
        Ok(Self { a, c, mean })
    }

    /// The largest worker gradient coordinate at `x*`, `max_i ‖A_i(x* − c_i)‖_∞`.
    fn heterogeneity(&self) -> f64 {
        let x = self.mean.minimizer();
        self.a
            .iter()
            .zip(&self.c)
            .map(|(m, ci)| (m * (x - ci)).amax())
            .fold(0.0, f64::max)
    }
}

/// The server's disturbance: each worker sends its gradient through a b-bit quantiser, and the
/// step uses the average of the received copies, so `d = −η (1/m) Σ (Q(g_i) − g_i)`. A user's
/// own [`Disturbance`], as the crate intends.
struct QuantisedWorkers<'a> {
    workers: &'a Workers,
    quantizer: Quantizer,
    eta: f64,
}

impl Disturbance for QuantisedWorkers<'_> {
    fn disturb(&mut self, _: usize, x: &DVector<f64>, _: &DVector<f64>, d: &mut DVector<f64>) {
        let m = self.workers.a.len() as f64;
        for (a, c) in self.workers.a.iter().zip(&self.workers.c) {
            let g = a * (x - c);
            for (di, &gi) in d.iter_mut().zip(g.iter()) {
                *di -= self.eta * (self.quantizer.quantize(gi) - gi) / m;
            }
        }
    }
}

/// The range `B` for `b` bits that covers every gradient coordinate along a run started at
/// distance `e0` (the worker gradients are at most `κ (‖x − x*‖ + …)` plus their value at
/// `x*`): the fixed point of `B = 1.05 (κ (e0 + floor(B)) + h)` with the nearest-rounding
/// floor `√n B / ((2^b − 1) μ)`, or `None` when there is none (`2^b − 1 ≤ κ√n/μ`: the floor
/// outgrows any range).
fn consistent_range(bits: u32, e0: f64, h: f64) -> Option<f64> {
    let per = KAPPA * (N as f64).sqrt() / ((1u64 << bits) - 1) as f64;
    (per < 1.0 / 1.05).then(|| 1.05 * (KAPPA * e0 + h) / (1.0 - 1.05 * per))
}

/// Experiment 2: distributed gradient descent with quantised communication.
pub fn quantised(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome(
        "Distributed gradient descent, 4 workers sending b-bit gradients (n = 20, κ = 10): error floors against the ISS prediction",
    );
    let workers = Workers::new(ctx.derive_seed("workers"))?;
    let f = &workers.mean;
    let eta = 1.0 / f.smoothness();
    let gd = GradientDescent::new(f.clone(), eta)?;
    let rate = gd.rate()?;
    let steps = ctx.profile.pick(1_000, 5_000);
    let reps = ctx.profile.pick(4usize, 16);
    let e0 = 2.0;
    let h = workers.heterogeneity();
    out.param("steps", steps);
    out.param("replicates", reps);
    out.param("initial_error", e0);
    out.param("worker_gradient_at_optimum_max", h);
    out.param("mu", f.strong_convexity());
    out.param("L", f.smoothness());
    let cells: Vec<(usize, bool, usize)> = (0..BITS.len())
        .flat_map(|b| {
            [false, true]
                .into_iter()
                .flat_map(move |dith| (0..reps).map(move |r| (b, dith, r)))
        })
        .collect();
    struct Run {
        range: f64,
        consistent: bool,
        floor: f64,
        mean_square: f64,
        saturated: u64,
    }
    let runs = ctx.map_cells("run", &cells, |&(b, dithered, r), rng| {
        let bits = BITS[b];
        let (range, consistent) = match consistent_range(bits, e0, h) {
            Some(r) => (r, true),
            None => (4.0 * (KAPPA * e0 + h), false),
        };
        let quantizer = if dithered {
            Quantizer::dithered(range, bits, ctx.derive_seed(("dither", b, r)))?
        } else {
            Quantizer::nearest(range, bits)?
        };
        let mut d = QuantisedWorkers {
            workers: &workers,
            quantizer,
            eta,
        };
        let x0 = f.minimizer() + uniform_on_sphere(rng, N) * e0;
        let mut step = gd.clone();
        let t = run(&mut step, &mut d, &x0, f.minimizer(), steps)?;
        let tail = &t.errors[steps * 3 / 4..];
        let half = &t.errors[steps / 2..];
        Ok(Run {
            range,
            consistent,
            floor: tail.iter().copied().fold(0.0, f64::max),
            mean_square: half.iter().map(|e| e * e).sum::<f64>() / half.len() as f64,
            saturated: d.quantizer.saturated(),
        })
    })?;
    let mut t = Table::new(
        "Error floors by bits per coordinate: measured (worst over the last quarter of every run; mean square over the last half) against the prediction",
        &[
            "bits",
            "range B",
            "B covers the run (fixed point exists)",
            "nearest: measured floor",
            "nearest: predicted √nΔ/(2μ)",
            "measured / predicted",
            "dithered: measured mean square",
            "dithered: bound η²nΔ²/(4m(1 − ρ²))",
            "measured / bound",
            "saturations",
        ],
    );
    let (mut near_bad, mut near_n, mut dith_bad, mut dith_n) = (0, 0, 0, 0);
    let (mut xs, mut meas, mut pred) = (Vec::new(), Vec::new(), Vec::new());
    for (b, &bits) in BITS.iter().enumerate() {
        let of = |dith: bool| {
            cells
                .iter()
                .zip(&runs)
                .filter(move |((cb, cd, _), _)| *cb == b && *cd == dith)
                .map(|(_, r)| r)
        };
        let range = of(false).next().map_or(f64::NAN, |r| r.range);
        let consistent = of(false).all(|r| r.consistent);
        let step = quantization_step(range, bits)?;
        let near_floor = of(false).map(|r| r.floor).fold(0.0, f64::max);
        let near_pred = error_floor(&rate, eta * (N as f64).sqrt() * step / 2.0)?;
        let ms: f64 = of(true).map(|r| r.mean_square).sum::<f64>() / reps as f64;
        let ms_bound = mean_square_floor(
            &rate,
            eta * eta * N as f64 * step * step / (4.0 * WORKERS as f64),
        )?;
        let saturated: u64 = of(false).chain(of(true)).map(|r| r.saturated).sum();
        let near_sat: u64 = of(false).map(|r| r.saturated).sum();
        let dith_sat: u64 = of(true).map(|r| r.saturated).sum();
        if near_sat == 0 {
            near_n += 1;
            near_bad += usize::from(near_floor > near_pred);
        }
        if dith_sat == 0 {
            dith_n += 1;
            dith_bad += usize::from(ms > ms_bound);
        }
        t.push(vec![
            (bits as usize).into(),
            range.into(),
            (if consistent { "yes" } else { "no" }).into(),
            near_floor.into(),
            near_pred.into(),
            (near_floor / near_pred).into(),
            ms.into(),
            ms_bound.into(),
            (ms / ms_bound).into(),
            (saturated as usize).into(),
        ]);
        xs.push(f64::from(bits));
        meas.push(near_floor);
        pred.push(near_pred);
    }
    out.tables.push(t);
    out.claims.push(Claim::check_none(
        "nearest rounding: the measured error floor is at most √nB/((2^b − 1)μ) for every bit width whose runs stayed within [−B, B] (widths above it)",
        near_bad,
        near_n,
    ));
    out.claims.push(Claim::check_none(
        "dithered rounding: the stationary mean square is at most η²nΔ²/(4m(1 − ρ²)) for every bit width whose runs stayed within [−B, B] (widths above it)",
        dith_bad,
        dith_n,
    ));
    out.plots.push(
        Plot::new(
            "quantised-floors",
            "Error floor of quantised distributed gradient descent (nearest rounding)",
            "bits per coordinate",
            "floor",
            PlotKind::Line(vec![
                Series::new("measured", xs.clone(), meas),
                Series::new("predicted √nB/((2^b − 1)μ)", xs, pred).styled(1, true),
            ]),
        )
        .log_axes(false, true),
    );
    out.notes.push(format!(
        "The floor formula assumes every message lies in [−B, B] (no clipping). Along a run the worker gradients reach about κ(‖x − x*‖) plus their value at x* ({h:.3}), and ‖x − x*‖ can reach the floor itself, which grows with B: a range that covers the run exists only when 2^b − 1 > κ√n/μ = {:.1}, here b ≥ 6. For smaller b the table uses B = 4(κ e₀ + that value) and shows the saturations; the checks cover only widths whose runs never clipped.",
        KAPPA * (N as f64).sqrt()
    ));
    Ok(out)
}
