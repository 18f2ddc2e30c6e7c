use super::model::{pool_probabilities, Pool};
use crate::theory::{min_calibration_size, CoverageLaw};
use crate::{evaluate, ConformalClassifier, ConformalParams, Score};
use core_linalg::{kolmogorov_pvalue, mean_and_sd, Rng};
use core_ml::data::Dataset;
use rand::seq::SliceRandom;
use rand::Rng as _;
use repro::{
    BoxError, Cell, Claim, Estimate, Outcome, Plot, PlotKind, RunContext, Series, Table, Threshold,
    Why,
};

const ALPHA: f64 = 0.1;
const JITTER: f64 = 1e-9;
const MIN_TEST: usize = 80;
const MAIN_TABLE: &str = "Empirical coverage on the m remaining points over calibration draws, against the Beta-binomial law (BB) for that m";

/// The results of one (score, n) cell over all trials.
struct CellResult {
    /// Number of covered test points per trial.
    hits: Vec<usize>,
    m: usize,
    sizes: Vec<f64>,
    singletons: Vec<f64>,
    full: usize,
}

/// One trial: shuffle the pool, calibrate on the first `n` rows, predict the rest. The
/// shuffle and both randomised-score seeds come from the trial's own stream.
fn trial(
    pool: &Pool,
    params: &crate::ValidConformalParams,
    n: usize,
    rng: &mut Rng,
) -> Result<(usize, f64, f64, usize), BoxError> {
    let total = pool.probs.len();
    let m = total - n;
    let k = pool.probs.n_classes();
    let mut idx: Vec<usize> = (0..total).collect();
    idx.shuffle(rng);
    let (cal, test) = idx.split_at(n);
    let cal_labels: Vec<usize> = cal.iter().map(|&i| pool.labels[i]).collect();
    let test_labels: Vec<usize> = test.iter().map(|&i| pool.labels[i]).collect();
    let (cal_seed, test_seed) = (rng.next_u64(), rng.next_u64());
    let clf =
        ConformalClassifier::calibrate(params, &pool.probs.select(cal), &cal_labels, cal_seed)?;
    let sets = clf.predict(&pool.probs.select(test), test_seed)?;
    let met = evaluate(&sets, &test_labels, ALPHA)?;
    let full = (0..sets.len()).filter(|&i| sets.size(i) == k).count();
    Ok((
        (met.coverage * m as f64).round() as usize,
        met.mean_size,
        met.singleton_rate,
        full,
    ))
}

fn mean(v: &[f64]) -> f64 {
    mean_and_sd(v).map_or(f64::NAN, |m| m.0)
}

/// The empirical `p`-quantile (the smallest value with at least a fraction `p` at or below).
fn emp_quantile(sorted: &[f64], p: f64) -> f64 {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

struct Summary {
    n: usize,
    m: usize,
    mean: f64,
    sd: f64,
    q05: f64,
    q95: f64,
    below90: f64,
    below85: f64,
    bb_mean: f64,
    bb_sd: f64,
    bb_q05: f64,
    bb_q95: f64,
    bb_below85: f64,
    beta_sd: f64,
    deconvolved_sd: f64,
    ks_p: f64,
    mean_size: f64,
    singleton: f64,
    trivial: bool,
    full_fraction: f64,
}

fn summarise(r: &CellResult, n: usize, trials: usize) -> Result<Summary, BoxError> {
    let m = r.m;
    let cov: Vec<f64> = r.hits.iter().map(|&h| h as f64 / m as f64).collect();
    let mut sorted = cov.clone();
    sorted.sort_by(f64::total_cmp);
    let law = CoverageLaw::new(n, ALPHA)?;
    let bb = law.on_test_points(m)?;
    // KS distance between the empirical and the Beta-binomial CDF of the hit count.
    let mut counts = vec![0usize; m + 1];
    r.hits.iter().for_each(|&h| counts[h] += 1);
    let (mut acc, mut d, mut cdf) = (0usize, 0.0f64, 0.0f64);
    for (h, &c) in counts.iter().enumerate() {
        acc += c;
        cdf += bb.pmf(h)?;
        d = d.max((acc as f64 / trials as f64 - cdf).abs());
    }
    let (mu, sd) = mean_and_sd(&cov)?;
    let var = sd * sd;
    let deconvolved = ((var - mu * (1.0 - mu) / m as f64) / (1.0 - 1.0 / m as f64))
        .max(0.0)
        .sqrt();
    Ok(Summary {
        n,
        m,
        mean: mu,
        sd,
        q05: emp_quantile(&sorted, 0.05),
        q95: emp_quantile(&sorted, 0.95),
        below90: cov.iter().filter(|&&c| c < 0.90).count() as f64 / trials as f64,
        below85: cov.iter().filter(|&&c| c < 0.85).count() as f64 / trials as f64,
        bb_mean: bb.mean(),
        bb_sd: bb.sd(),
        bb_q05: bb.quantile(0.05)?,
        bb_q95: bb.quantile(0.95)?,
        bb_below85: bb.prob_below(0.85)?,
        beta_sd: law.sd(),
        deconvolved_sd: deconvolved,
        ks_p: kolmogorov_pvalue(d.min(1.0), trials)?,
        mean_size: mean(&r.sizes),
        singleton: mean(&r.singletons),
        trivial: law.is_trivial(),
        full_fraction: r.full as f64 / (trials * m) as f64,
    })
}

fn simulate(ctx: &RunContext, data: Dataset, name: &str, title: &str) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome(title);
    let pool = pool_probabilities(&data, ctx.derive_seed("pool-model"))?;
    let trials = ctx.profile.pick(2000usize, 10_000);
    let ns: Vec<usize> = [5usize, 10, 20, 50, 100, 200, 500]
        .into_iter()
        .filter(|&n| n + MIN_TEST <= pool.probs.len())
        .collect();
    let k = pool.probs.n_classes();
    let scores = [
        Score::Lac,
        Score::Aps { randomized: true },
        Score::Raps {
            lambda: 0.01,
            k_reg: 1,
            randomized: true,
        },
    ];
    out.param("alpha", ALPHA)
        .param("trials", trials)
        .param("pool", pool.probs.len())
        .param("classes", k)
        .param("n", &ns)
        .param(
            "model",
            "softmax regression (one-layer MLP), AdamW 400 full-batch steps on a stratified half",
        )
        .param("pool_accuracy", pool.accuracy)
        .param("jitter", JITTER)
        .param("raps", "λ = 0.01, k_reg = 1, randomised; APS randomised");
    let cells: Vec<(usize, usize)> = (0..scores.len())
        .flat_map(|s| (0..ns.len()).map(move |i| (s, i)))
        .collect();
    let params: Vec<crate::ValidConformalParams> = scores
        .iter()
        .map(|&sc| ConformalParams::new(sc, ALPHA).jitter(JITTER).check())
        .collect::<Result<_, _>>()?;
    // One stream per (score, n, trial).
    let runs: Vec<(&str, usize, usize)> = cells
        .iter()
        .flat_map(|&(s, i)| {
            let (name, n) = (scores[s].name(), ns[i]);
            (0..trials).map(move |t| (name, n, t))
        })
        .collect();
    let per = ctx.map_cells("trial", &runs, |&(sc, n, _), rng| {
        let s = scores.iter().position(|x| x.name() == sc).unwrap_or(0);
        trial(&pool, &params[s], n, rng)
    })?;
    let mut results = Vec::new();
    let mut lac_hits = Vec::new();
    for (c, &(s, i)) in cells.iter().enumerate() {
        let chunk = &per[c * trials..(c + 1) * trials];
        let r = CellResult {
            hits: chunk.iter().map(|p| p.0).collect(),
            m: pool.probs.len() - ns[i],
            sizes: chunk.iter().map(|p| p.1).collect(),
            singletons: chunk.iter().map(|p| p.2).collect(),
            full: chunk.iter().map(|p| p.3).sum(),
        };
        results.push(summarise(&r, ns[i], trials)?);
        if s == 0 {
            // Keep LAC's raw coverages for the histograms.
            lac_hits.push((ns[i], r.m, r.hits));
        }
    }
    let min_n = min_calibration_size(ALPHA)?;
    let mut t = Table::new(
        MAIN_TABLE,
        &[
            "score",
            "n",
            "m",
            "mean",
            "BB mean",
            "sd",
            "BB sd",
            "deconvolved sd",
            "Beta sd",
            "5%",
            "95%",
            "P(cov < .90)",
            "P(cov < .85)",
            "BB P(cov < .85)",
            "KS p",
            "mean size",
            "singletons",
        ],
    );
    let (mut mean_fail, mut law_fail, mut tested) = (0usize, 0usize, 0usize);
    let (mut separable, mut not_separated) = (0usize, 0usize);
    let (mut trivial_sets, mut not_full) = (0usize, 0usize);
    for ((s, _), r) in cells.iter().zip(&results) {
        let row: Vec<Cell> = vec![
            scores[*s].name().into(),
            r.n.into(),
            r.m.into(),
            r.mean.into(),
            r.bb_mean.into(),
            r.sd.into(),
            r.bb_sd.into(),
            r.deconvolved_sd.into(),
            r.beta_sd.into(),
            r.q05.into(),
            r.q95.into(),
            r.below90.into(),
            r.below85.into(),
            r.bb_below85.into(),
            r.ks_p.into(),
            r.mean_size.into(),
            r.singleton.into(),
        ];
        t.push(row);
        if r.trivial {
            let sets = trials * r.m;
            trivial_sets += sets;
            not_full += sets - (r.full_fraction * sets as f64).round() as usize;
            continue;
        }
        tested += 1;
        let se = r.sd / (trials as f64).sqrt();
        mean_fail += usize::from((r.mean - r.bb_mean).abs() > 4.0 * se);
        law_fail += usize::from(r.ks_p <= 0.001);
        // Where the Beta-binomial (test noise included) and the Beta (test noise forgotten)
        // sds differ by more than 4 standard errors of a simulated sd (≈ sd/√(2·trials)), the
        // simulated sd must be the nearer to the Beta-binomial's.
        let se_sd = r.bb_sd / (2.0 * trials as f64).sqrt();
        if (r.bb_sd - r.beta_sd).abs() > 4.0 * se_sd {
            separable += 1;
            not_separated += usize::from((r.sd - r.bb_sd).abs() >= (r.sd - r.beta_sd).abs());
        }
    }
    out.tables.push(t);
    out.claims.push(Claim::check_none(
        "mean coverage is within 4 standard errors of (n + 1 − l)/(n + 1) (cells that are not, of all scores and n ≥ 9)",
        mean_fail,
        tested,
    ));
    out.claims.push(Claim::check_none(
        "the distribution of empirical coverage follows the Beta-binomial law for the actual m: KS p > 0.001 (cells that fail)",
        law_fail,
        tested,
    ));
    out.claims.push(Claim::check_none(
        "where the Beta-binomial and Beta laws' sds differ by > 4 standard errors, the simulated sd is nearer the Beta-binomial's — the test set's own noise is really there (cells that are not, of the separable ones)",
        not_separated,
        separable,
    ));
    if ns[0] < min_n {
        out.claims.push(Claim::check_none(
            format!("below the minimum n ({min_n}) every set is the full label set (sets that are not, n = {}, all scores)", ns[0]),
            not_full,
            trivial_sets,
        ));
    }
    let lac = |n: usize| {
        results
            .iter()
            .zip(&cells)
            .find(|(r, (s, _))| *s == 0 && r.n == n)
            .map(|(r, _)| r)
    };
    if let (Some(a), Some(b)) = (lac(20), lac(200)) {
        let z = |r: &Summary| {
            let se = (r.bb_below85 * (1.0 - r.bb_below85) / trials as f64)
                .sqrt()
                .max(1e-12);
            (r.below85 - r.bb_below85).abs() / se
        };
        out.claims.push(Claim::check(
            "simulated P(empirical coverage < 0.85) at n = 20 and 200 (LAC) agrees with the Beta-binomial law: max |z|",
            z(a).max(z(b)),
            Threshold::AtMost(4.0),
        ));
        let sim_ratio = (a.q95 - a.q05) / (b.q95 - b.q05);
        let bb_ratio = (a.bb_q95 - a.bb_q05) / (b.bb_q95 - b.bb_q05);
        out.param("width_ratio_simulated", sim_ratio)
            .param("width_ratio_beta_binomial", bb_ratio);
        out.claims.push(Claim::check(
            "the simulated 5–95% width ratio n = 20 : n = 200 matches the Beta-binomial law's within 15% (relative error; both ratios in the params)",
            (sim_ratio / bb_ratio - 1.0).abs(),
            Threshold::AtMost(0.15),
        ));
        out.claims.push(Claim::check(
            "with test noise removed (deconvolved), the sd of calibration-conditional coverage at n = 20 matches the Beta law within 15% (relative error)",
            (a.deconvolved_sd / a.beta_sd - 1.0).abs(),
            Threshold::AtMost(0.15),
        ));
        out.claims.push(
            Claim::finding_estimate(
                "with n = 20 calibration points, a deployed calibration set covers < 85% of the test points in more than 12% of draws (LAC)",
                Estimate::proportion((a.below85 * trials as f64).round() as u64, trials as u64)?,
                Threshold::AtLeast(0.12),
            )
            .explain_if_failed(Why::evidence(
                format!(
                    "the test set here has m = {} points, so its own binomial noise moves the fraction; the Beta-binomial law for this m gives {:.3}",
                    a.m, a.bb_below85
                ),
                &[MAIN_TABLE],
            )),
        );
    }
    // Plots: histograms with the law overlaid; coverage band vs n; set size vs n.
    let mut samples = Vec::new();
    let mut dens = Vec::new();
    for (n, m, h) in lac_hits.iter().filter(|(n, _, _)| [20, 200].contains(n)) {
        samples.push(Series::new(
            format!("n = {n} (m = {m})"),
            vec![],
            h.iter().map(|&x| x as f64 / *m as f64).collect(),
        ));
        let bb = CoverageLaw::new(*n, ALPHA)?.on_test_points(*m)?;
        let lo = (0.6 * *m as f64) as usize;
        let xs: Vec<f64> = (lo..=*m).map(|j| j as f64 / *m as f64).collect();
        let ys = (lo..=*m)
            .map(|j| Ok(bb.pmf(j)? * *m as f64))
            .collect::<Result<Vec<_>, BoxError>>()?;
        dens.push(Series::new(format!("Beta-binomial, n = {n}"), xs, ys));
    }
    out.plots.push(Plot::new(
        &format!("{name}-coverage-hist"),
        &format!("{title}: empirical coverage over calibration draws (LAC) and its exact law"),
        "empirical coverage",
        "density",
        PlotKind::HistogramDensity {
            samples,
            densities: dens,
            bins: 40,
        },
    ));
    let lac_rows: Vec<&Summary> = results
        .iter()
        .zip(&cells)
        .filter(|(r, (s, _))| *s == 0 && !r.trivial)
        .map(|(r, _)| r)
        .collect();
    let xs: Vec<f64> = lac_rows.iter().map(|r| r.n as f64).collect();
    let line = |name: &str, f: &dyn Fn(&Summary) -> f64| {
        Series::new(name, xs.clone(), lac_rows.iter().map(|r| f(r)).collect())
    };
    let mut band = vec![
        line("simulated 5%", &|r| r.q05),
        line("simulated 95%", &|r| r.q95),
        line("Beta-binomial 5%", &|r| r.bb_q05),
        line("Beta-binomial 95%", &|r| r.bb_q95),
    ];
    let beta_q = |p: f64| -> Result<Vec<f64>, BoxError> {
        lac_rows
            .iter()
            .map(|r| Ok(CoverageLaw::new(r.n, ALPHA)?.quantile(p)?))
            .collect()
    };
    band.push(Series::new(
        "Beta 5% (no test noise)",
        xs.clone(),
        beta_q(0.05)?,
    ));
    band.push(Series::new(
        "Beta 95% (no test noise)",
        xs.clone(),
        beta_q(0.95)?,
    ));
    out.plots.push(
        Plot::new(
            &format!("{name}-coverage-band"),
            &format!("{title}: 5–95% coverage band vs calibration size (LAC)"),
            "calibration size n",
            "coverage",
            PlotKind::Line(band),
        )
        .log_axes(true, false),
    );
    let size_lines: Vec<Series> = scores
        .iter()
        .enumerate()
        .map(|(s, sc)| {
            let rows: Vec<&Summary> = results
                .iter()
                .zip(&cells)
                .filter(|(r, (c, _))| *c == s && !r.trivial)
                .map(|(r, _)| r)
                .collect();
            Series::new(
                sc.name(),
                rows.iter().map(|r| r.n as f64).collect(),
                rows.iter().map(|r| r.mean_size).collect(),
            )
        })
        .collect();
    out.plots.push(
        Plot::new(
            &format!("{name}-set-size"),
            &format!("{title}: mean set size vs calibration size"),
            "calibration size n",
            "mean set size",
            PlotKind::Line(size_lines),
        )
        .log_axes(true, false),
    );
    out.notes.push(format!(
        "The pool is the half of the data the classifier did not see ({} rows; accuracy in the params). Each trial shuffles it, calibrates on the first n rows and tests on the other m = {} − n, so the empirical coverage is exactly BetaBinomial(m, n + 1 − l, l)/m under exchangeability; the Beta law describes the coverage with the test noise removed. The deconvolved sd is √((Var − μ(1 − μ)/m)/(1 − 1/m)).",
        pool.probs.len(),
        pool.probs.len()
    ));
    Ok(out)
}

/// Experiment 2: breast cancer (569 × 30, two classes).
pub fn breast_cancer(ctx: &RunContext) -> Result<Outcome, BoxError> {
    simulate(
        ctx,
        Dataset::breast_cancer()?,
        "breast-cancer",
        "Breast cancer",
    )
}

/// Experiment 3: digits (1797 × 64, ten classes).
pub fn digits(ctx: &RunContext) -> Result<Outcome, BoxError> {
    simulate(ctx, Dataset::digits()?, "digits", "Digits")
}
