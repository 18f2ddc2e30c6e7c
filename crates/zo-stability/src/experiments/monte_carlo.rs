use super::spectra;
use crate::{zo_gd_threshold, Curvature, Estimator, Method, Optimizer, Spectrum, ZoGdOperator};
use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, StandardNormal};
use repro::{
    BoxError, Claim, Estimate, Outcome, Plot, PlotKind, RunContext, Series, Threshold, Why,
};

/// Chains per cell of the parallel map.
const BLOCK: usize = 100;
/// Step-size factors around η*.
const FACTORS: [f64; 2] = [0.9, 1.1];
/// Points of the mean-square trajectory kept for the plot.
const POINTS: usize = 20;

/// One configuration: a spectrum, and the basis the objective is written in.
struct Config {
    name: String,
    spectrum: Spectrum,
    /// `None`: the eigenbasis (diagonal H); `Some(Q)`: `H = Q diag(λ) Qᵀ`.
    rotation: Option<DMatrix<f64>>,
}

impl Config {
    fn h(&self) -> DMatrix<f64> {
        let d = DMatrix::from_diagonal(&DVector::from_column_slice(self.spectrum.eigenvalues()));
        match &self.rotation {
            None => d,
            Some(q) => q * d * q.transpose(),
        }
    }
}

/// Per block of chains: Σ‖x_T‖², every chain's ‖x_T‖², and Σ‖x_k‖² at the plot's steps.
struct Block {
    finals: Vec<f64>,
    path_sums: Vec<f64>,
}

fn run_block(
    cfg: &Config,
    h: &DMatrix<f64>,
    eta: f64,
    steps: usize,
    x0: &[f64],
    rng: &mut core_linalg::Rng,
) -> Result<Block, BoxError> {
    let diag = cfg.spectrum.eigenvalues().to_vec();
    let rotated = cfg.rotation.is_some();
    let mut f = |x: &[f64]| -> f64 {
        if rotated {
            let v = DVector::from_column_slice(x);
            0.5 * v.dot(&(h * &v))
        } else {
            0.5 * x.iter().zip(&diag).map(|(xi, l)| l * xi * xi).sum::<f64>()
        }
    };
    let est = Estimator::default();
    let stride = (steps / POINTS).max(1);
    let mut finals = Vec::with_capacity(BLOCK);
    let mut path_sums = vec![0.0; steps / stride + 1];
    let norm0: f64 = x0.iter().map(|v| v * v).sum();
    for _ in 0..BLOCK {
        let mut x = x0.to_vec();
        let mut opt = Optimizer::new(Method::Gd, eta, x.len())?;
        path_sums[0] += 1.0;
        for k in 1..=steps {
            opt.zo_step(&est, &mut f, &mut x, None, rng)?;
            if k % stride == 0 {
                path_sums[k / stride] += x.iter().map(|v| v * v).sum::<f64>() / norm0;
            }
        }
        finals.push(x.iter().map(|v| v * v).sum::<f64>() / norm0);
    }
    Ok(Block { finals, path_sums })
}

/// `E‖x_1‖²` after one step from `x0` in the eigenbasis, sampled `n` times with the estimator's
/// directions, against nothing: the caller compares with the exact value.
fn one_step(
    s: &Spectrum,
    eta: f64,
    x0: &[f64],
    est: &Estimator,
    n: usize,
    rng: &mut core_linalg::Rng,
) -> Result<Vec<f64>, BoxError> {
    let l = s.eigenvalues().to_vec();
    let mut f = |x: &[f64]| 0.5 * x.iter().zip(&l).map(|(xi, li)| li * xi * xi).sum::<f64>();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut x = x0.to_vec();
        let mut opt = Optimizer::new(Method::Gd, eta, x.len())?;
        opt.zo_step(est, &mut f, &mut x, None, rng)?;
        out.push(x.iter().map(|v| v * v).sum());
    }
    Ok(out)
}

fn mean_sd(xs: &[f64]) -> Result<(f64, f64), BoxError> {
    Ok(core_linalg::mean_and_sd(xs)?)
}

fn median(xs: &[f64]) -> Result<f64, BoxError> {
    Ok(core_linalg::quantile(
        xs,
        0.5,
        core_linalg::QuantileRule::Midpoint,
    )?)
}

/// Experiment 2: Monte Carlo of ZO-GD on quadratics.
pub fn monte_carlo(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome(
        "ZO-GD chains (Gaussian two-point estimator, μ = 1e-3) on quadratics at 0.9η* and 1.1η*: the Monte-Carlo mean-square growth E‖x_T‖²/‖x_0‖² against the exact second-moment operator",
    );
    let chains = ctx.profile.pick(2_000usize, 20_000);
    let steps = ctx.profile.pick(200usize, 400);
    out.param("chains", chains);
    out.param("steps", steps);
    out.param("mu", 1e-3);
    let all = spectra();
    let pick = |name: &str| all.iter().find(|(n, _)| *n == name).map(|p| p.1.clone());
    let mut configs = Vec::new();
    for name in ["flat (d = 50)", "spike [10, 49 × 0.1]", "1/i (d = 20)"] {
        let eigs = pick(name).ok_or("missing spectrum")?;
        configs.push(Config {
            name: format!("{name}, eigenbasis"),
            spectrum: Spectrum::new(&eigs, Curvature::Strict)?,
            rotation: None,
        });
    }
    {
        let eigs = pick("1/i (d = 20)").ok_or("missing spectrum")?;
        let mut rng = ctx.rng("rotation");
        let g = DMatrix::from_fn(eigs.len(), eigs.len(), |_, _| {
            StandardNormal.sample(&mut rng)
        });
        configs.push(Config {
            name: "1/i (d = 20), random rotation".into(),
            spectrum: Spectrum::new(&eigs, Curvature::Strict)?,
            rotation: Some(g.qr().q()),
        });
    }
    let blocks = chains / BLOCK;
    let cells: Vec<(usize, usize, usize)> = (0..configs.len())
        .flat_map(|c| (0..FACTORS.len()).flat_map(move |f| (0..blocks).map(move |b| (c, f, b))))
        .collect();
    // x0: equal weight on every eigendirection, unit norm (rotated into the objective's basis).
    let x0_eig = |d: usize| vec![1.0 / (d as f64).sqrt(); d];
    let x0_for = |cfg: &Config| -> Vec<f64> {
        let e = DVector::from_vec(x0_eig(cfg.spectrum.dim()));
        match &cfg.rotation {
            None => e.as_slice().to_vec(),
            Some(q) => (q * e).as_slice().to_vec(),
        }
    };
    // Per configuration, once: η*, the start and the objective's matrix.
    let eta_stars = configs
        .iter()
        .map(|c| Ok(zo_gd_threshold(&c.spectrum)?.eta))
        .collect::<Result<Vec<f64>, BoxError>>()?;
    let x0s: Vec<Vec<f64>> = configs.iter().map(x0_for).collect();
    let hs: Vec<DMatrix<f64>> = configs.iter().map(Config::h).collect();
    let results = ctx.map_cells("chains", &cells, |&(c, f, _), rng| {
        run_block(
            &configs[c],
            &hs[c],
            FACTORS[f] * eta_stars[c],
            steps,
            &x0s[c],
            rng,
        )
    })?;

    let growth_table = "Mean-square growth E‖x_T‖²/‖x_0‖²: Monte Carlo (mean ± standard error) against the exact operator; the median and the share of the sum carried by the top 1% of chains show the heavy tails";
    let mut t = repro::Table::new(
        growth_table,
        &[
            "configuration",
            "η/η*",
            "exact",
            "MC mean",
            "z = (log MC − log exact)/se",
            "MC median",
            "top-1% share of the sum",
        ],
    );
    let (mut flips_bad, mut z_bad) = (0usize, 0usize);
    let mut heavy = Vec::new();
    let mut series = Vec::new();
    let stride = (steps / POINTS).max(1);
    for (c, cfg) in configs.iter().enumerate() {
        let mut growth = [0.0; 2];
        for (fi, &factor) in FACTORS.iter().enumerate() {
            let mut finals = Vec::with_capacity(chains);
            let mut path = vec![0.0; steps / stride + 1];
            for ((cc, ff, _), b) in cells.iter().zip(&results) {
                if *cc == c && *ff == fi {
                    finals.extend_from_slice(&b.finals);
                    path.iter_mut().zip(&b.path_sums).for_each(|(p, s)| *p += s);
                }
            }
            let op = ZoGdOperator::new(&cfg.spectrum, factor * eta_stars[c])?;
            let exact_path = op.mean_square(&x0_eig(cfg.spectrum.dim()), steps)?;
            let exact = exact_path[steps];
            let (m, sd) = mean_sd(&finals)?;
            let se_log = sd / (m * (finals.len() as f64).sqrt());
            let z = (m.ln() - exact.ln()) / se_log;
            let mut sorted = finals.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let top = sorted[..(finals.len() / 100).max(1)].iter().sum::<f64>()
                / sorted.iter().sum::<f64>();
            growth[fi] = m;
            z_bad += usize::from(z.abs() > 3.0);
            if z.abs() > 3.0 {
                heavy.push(format!(
                    "{} at {factor}η*: z = {z:.1}, top-1% share {top:.2}, median {:.3}",
                    cfg.name,
                    median(&finals)?
                ));
            }
            t.push(vec![
                cfg.name.clone().into(),
                factor.into(),
                exact.into(),
                format!("{m:.4e} ± {:.2e}", sd / (finals.len() as f64).sqrt()).into(),
                z.into(),
                median(&finals)?.into(),
                top.into(),
            ]);
            if c < 2 {
                let xs: Vec<f64> = (0..path.len()).map(|k| (k * stride) as f64).collect();
                let n = finals.len() as f64;
                series.push(
                    Series::new(
                        format!("{} {factor}η*: MC mean", cfg.name),
                        xs.clone(),
                        path.iter().map(|p| p / n).collect(),
                    )
                    .styled(2 * c + fi, false),
                );
                series.push(
                    Series::new(
                        format!("{} {factor}η*: exact", cfg.name),
                        xs.clone(),
                        xs.iter().map(|&k| exact_path[k as usize]).collect(),
                    )
                    .styled(2 * c + fi, true),
                );
            }
        }
        flips_bad += usize::from(!(growth[0] < 1.0 && growth[1] > 1.0));
    }
    out.tables.push(t);
    out.claims.push(
        Claim::finding(
            "the Monte-Carlo mean-square growth changes sign between 0.9η* and 1.1η* (fraction of configurations where it does not)",
            0.0,
            Threshold::AtMost(0.0),
        )
        .with_estimate(Estimate::proportion(flips_bad as u64, configs.len() as u64)?)
        .paper_value("the notes: the sign of log(mean‖x_T‖²/‖x_0‖²) flips"),
    );
    let explain = Why::evidence(
        format!("the mismatches are heavy-tailed: {}. The mean-square growth is carried by rare chains that a finite sample under-represents, so the sample mean falls short of the exact value and its standard error understates the gap; the median, which follows the typical (logarithmic) growth rate, can even decay while E‖x‖² grows", heavy.join("; ")),
        &[growth_table],
    );
    out.claims.push(
        Claim::finding(
            "the Monte-Carlo mean matches the exact operator within 3 standard errors of its logarithm (fraction of configurations where it does not)",
            0.0,
            Threshold::AtMost(0.0),
        )
        .with_estimate(Estimate::proportion(z_bad as u64, (configs.len() * FACTORS.len()) as u64)?)
        .paper_value("the notes: flat spectrum within 1%; spike at 1.1η*: MC mean 7.1e2 against an exact 9.6e10, median 0.13")
        .explain_if_failed(explain),
    );
    out.plots.push(
        Plot::new(
            "mean_square",
            "E‖x_k‖²/‖x_0‖²: Monte-Carlo mean (solid) and exact (dashed), flat and spike spectra",
            "step k",
            "mean square",
            PlotKind::Line(series),
        )
        .log_axes(false, true),
    );

    // One step, many chains: the fourth moments behind the operator. Gaussian directions have
    // E‖x_1‖² = ‖x‖² − 2η xᵀHx + (d+2)η²‖Hx‖² (the operator); sphere directions of radius √d
    // have d in place of d+2 (the crate docs' claim, checked here).
    let draws = ctx.profile.pick(20_000usize, 200_000);
    let s = &configs[2].spectrum;
    let d = s.dim();
    let eta = zo_gd_threshold(s)?.eta;
    let x0 = x0_eig(d);
    let mut op_out = vec![0.0; d];
    let sq: Vec<f64> = x0.iter().map(|v| v * v).collect();
    ZoGdOperator::new(s, eta)?.apply(&sq, &mut op_out)?;
    let gaussian_exact: f64 = op_out.iter().sum();
    let hx2: f64 = x0
        .iter()
        .zip(s.eigenvalues())
        .map(|(x, l)| (l * x).powi(2))
        .sum();
    let xhx: f64 = x0.iter().zip(s.eigenvalues()).map(|(x, l)| l * x * x).sum();
    let sphere_exact = 1.0 - 2.0 * eta * xhx + d as f64 * eta * eta * hx2;
    let one = ctx.map_cells("one step", &[0usize, 1], |&k, rng| {
        let est = Estimator {
            directions: if k == 0 {
                crate::Directions::Gaussian
            } else {
                crate::Directions::Sphere
            },
            ..Default::default()
        };
        one_step(s, eta, &x0, &est, draws, rng)
    })?;
    let mut t = repro::Table::new(
        "One ZO-GD step at η* on 1/i (d = 20): sampled E‖x_1‖² against the closed forms",
        &[
            "directions",
            "closed form",
            "sampled mean",
            "standard error",
            "z",
        ],
    );
    let mut worst_z = 0.0f64;
    for (k, exact) in [gaussian_exact, sphere_exact].into_iter().enumerate() {
        let (m, sd) = mean_sd(&one[k])?;
        let se = sd / (one[k].len() as f64).sqrt();
        let z = (m - exact) / se;
        worst_z = worst_z.max(z.abs());
        t.push(vec![
            (if k == 0 {
                "Gaussian (operator)"
            } else {
                "sphere √d (d in place of d + 2)"
            })
            .into(),
            exact.into(),
            m.into(),
            se.into(),
            z.into(),
        ]);
    }
    out.tables.push(t);
    out.claims.push(Claim::check(
        "one-step second moments match their closed forms (max |z| over Gaussian and sphere directions; a 5σ rule, false-alarm probability 6e-7)",
        worst_z,
        Threshold::AtMost(5.0),
    ));
    out.param("one_step_draws", draws);
    out.notes.push("Why the mean: the theorems are about E‖x‖², the quantity whose recursion is linear. Under heavy tails a sample of chains estimates it poorly (the rare chains that carry it are rarely drawn) and the sample median tracks E log‖x‖ instead, which is smaller by Jensen's inequality. Sign and magnitude of the mean-square growth are therefore checked against the exact operator, not against the median.".into());
    Ok(out)
}
