use crate::{ControlledHmm, DeltaSchedule, Hmm, LinearFilter, LogForwardFilter, LogitFilter};
use core_linalg::Rng;
use nalgebra::DMatrix;
use rand::RngExt;
use repro::{
    BoxError, Cell, Claim, Estimate, Plot, PlotKind, RunContext, Series, Table, Threshold, Why,
};

/// Decoding horizon of §6.1.
pub const HORIZON: usize = 1000;
/// Trajectories per task (fixed, so results do not depend on the thread count).
pub(crate) const CHUNK: usize = 500;

/// The ALF schedules of §6.1, in table order (LOF is the sixth column).
pub fn schedules() -> [DeltaSchedule; 5] {
    [
        DeltaSchedule::LogInverse { lambda: 0.7 },
        DeltaSchedule::Power(0.5),
        DeltaSchedule::Power(2.0),
        DeltaSchedule::Constant(0.0),
        DeltaSchedule::Constant(1.0),
    ]
}

/// The paper's two-state HMM (eq. 66).
pub fn two_state_hmm(epsilon: f64) -> Result<Hmm, crate::HmmError> {
    let t = DMatrix::from_row_slice(2, 2, &[epsilon, 1.0 - epsilon, 1.0 - epsilon, epsilon]);
    let e = DMatrix::from_row_slice(2, 2, &[0.9, 0.1, 0.1, 0.9]);
    Hmm::new(t, e, vec![1.0, 0.0])
}

/// Third-party reference values at 1/ε = 30 and 250 (paper notes, 80,000 paths), same column
/// order as [`schedules`] then LOF.
const REFERENCE: [(f64, [f64; 6]); 2] = [
    (30.0, [0.0711, 0.0816, 0.450, 0.500, 0.0993, 0.0511]),
    (250.0, [0.0174, 0.0372, 0.398, 0.500, 0.0996, 0.0112]),
];

/// Paths behind the reference table.
const REFERENCE_PATHS: f64 = 80_000.0;
/// The filter pairs whose paired differences the claims use: (√ε, 0.7/log), then each ALF vs LOF.
pub(crate) const PAIRS: [(usize, usize); 6] = [(1, 0), (0, 5), (1, 5), (2, 5), (3, 5), (4, 5)];
/// Two-sided 95% normal quantile.
pub(crate) const Z95: f64 = 1.959_963_984_540_054;

/// Decoding errors of one chunk of trajectories: per filter, and the discordant counts of each
/// pair in [`PAIRS`] (`[a wrong and b right, a right and b wrong]`), from which the paired
/// differences' variances follow.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Chunk {
    pub(crate) errors: [u64; 6],
    pub(crate) discordant: [[u64; 2]; 6],
}

/// Errors of the 5 ALF schedules and LOF at step [`HORIZON`] for `n` trajectories drawn from
/// `rng`. A controlled model's actions are drawn uniformly at random each step (a
/// non-anticipative policy); an uncontrolled one draws none.
pub(crate) fn run_chunk(
    hmm: &ControlledHmm,
    deltas: &[f64; 5],
    rng: &mut Rng,
    n: usize,
) -> Result<Chunk, BoxError> {
    let mut out = Chunk::default();
    let zeros = vec![0.0; hmm.n_states()];
    let n_actions = hmm.n_actions();
    let mut alfs: Vec<LinearFilter> = deltas
        .iter()
        .map(|&d| LinearFilter::adaptive(hmm, d))
        .collect::<Result<_, _>>()?;
    for _ in 0..n {
        let mut s = hmm.sample_initial(rng);
        let mut lof = LogForwardFilter::new(hmm);
        for f in alfs.iter_mut() {
            f.set_logits(&zeros)?;
        }
        for _ in 0..HORIZON {
            let a = if n_actions > 1 {
                rng.random_range(0..n_actions)
            } else {
                0
            };
            s = hmm.sample_transition(a, s, rng)?;
            let y = hmm.sample_emission(s, rng)?;
            lof.step_with_action(a, y)?;
            for f in alfs.iter_mut() {
                f.step_with_action(a, y)?;
            }
        }
        let mut wrong = [false; 6];
        for (k, f) in alfs.iter().enumerate() {
            wrong[k] = f.decode() != s;
        }
        wrong[5] = lof.decode() != s;
        for (k, &w) in wrong.iter().enumerate() {
            out.errors[k] += u64::from(w);
        }
        for (p, &(a, b)) in PAIRS.iter().enumerate() {
            out.discordant[p][0] += u64::from(wrong[a] && !wrong[b]);
            out.discordant[p][1] += u64::from(!wrong[a] && wrong[b]);
        }
    }
    Ok(out)
}

/// The paired difference `p_a − p_b` over `n` common trajectories from its discordant counts,
/// with a normal-approximation interval (`Var d = (n₁₀ + n₀₁)/n − d̄²`).
fn paired(discordant: [u64; 2], n: f64) -> Estimate {
    let d = (discordant[0] as f64 - discordant[1] as f64) / n;
    let var = ((discordant[0] + discordant[1]) as f64 / n - d * d).max(0.0);
    let se = (var / n).sqrt();
    Estimate::with_interval(
        d,
        Some(se),
        [d - Z95 * se, d + Z95 * se],
        n as u64,
        "paired difference over common trajectories, normal approximation",
    )
}

/// Experiment 2: the §6.1 sweep.
pub fn two_state_sweep(ctx: &RunContext) -> Result<repro::Outcome, BoxError> {
    let n_traj = ctx.profile.pick(10_000usize, 80_000);
    let inv_eps: Vec<u64> = (0..23).map(|i| 30 + 10 * i).collect();
    let scheds = schedules();
    let mut names: Vec<String> = scheds.iter().map(DeltaSchedule::label).collect();
    names.push("LOF".into());
    let chunks = n_traj.div_ceil(CHUNK);
    // One stream per (1/ε, chunk): a cell is named by its grid value, not its position.
    let cells: Vec<(u64, usize)> = inv_eps
        .iter()
        .flat_map(|&ie| (0..chunks).map(move |c| (ie, c)))
        .collect();
    let results = ctx.map_cells("trajectories", &cells, |&(ie, c), rng| {
        let eps = 1.0 / ie as f64;
        let hmm = two_state_hmm(eps)?;
        let mut deltas = [0.0; 5];
        for (d, s) in deltas.iter_mut().zip(&scheds) {
            *d = s.delta(eps)?;
        }
        run_chunk(&hmm, &deltas, rng, CHUNK.min(n_traj - c * CHUNK))
    })?;
    // Totals per grid point.
    let mut tot = vec![Chunk::default(); inv_eps.len()];
    for (&(ie, _), r) in cells.iter().zip(&results) {
        let e = inv_eps.iter().position(|&x| x == ie).unwrap_or(0);
        for k in 0..6 {
            tot[e].errors[k] += r.errors[k];
        }
        for p in 0..PAIRS.len() {
            tot[e].discordant[p][0] += r.discordant[p][0];
            tot[e].discordant[p][1] += r.discordant[p][1];
        }
    }
    let n = n_traj as f64;
    let p: Vec<[f64; 6]> = tot.iter().map(|t| t.errors.map(|c| c as f64 / n)).collect();
    let prop = |e: usize, k: usize| Estimate::proportion(tot[e].errors[k], n_traj as u64);
    let se = |q: f64| (q * (1.0 - q) / n).sqrt().max(1.0 / n);

    let mut out = ctx.outcome("§6.1: decoding error at step 1000 vs 1/ε for ALF schedules and LOF");
    out.param("trajectories", n_traj)
        .param("horizon", HORIZON)
        .param("grid", "1/ε = 30, 40, …, 250 (23 points)");

    let mut table = Table::new(
        "Decoding error p_1000",
        &[
            "1/ε", &names[0], &names[1], &names[2], &names[3], &names[4], &names[5],
        ],
    );
    for (e, row) in p.iter().enumerate() {
        let mut r = vec![Cell::from(inv_eps[e] as usize)];
        r.extend(row.iter().map(|&x| Cell::from(x)));
        table.push(r);
    }
    out.tables.push(table);
    let xs: Vec<f64> = inv_eps.iter().map(|&x| x as f64).collect();
    let mut lines = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let ests: Vec<Estimate> = (0..inv_eps.len())
            .map(|e| prop(e, k))
            .collect::<Result<_, _>>()?;
        lines.push(Series::from_estimates(name.clone(), xs.clone(), &ests));
    }
    out.plots.push(
        Plot::new(
            "two-state-sweep",
            "Decoding error at step 1000 (two-state HMM, §6.1), 95% Clopper–Pearson bands",
            "1/ε",
            "P(argmax ≠ s_1000)",
            PlotKind::Line(lines),
        )
        .log_axes(false, true),
    );

    // Checks: closed forms of the two degenerate schedules (Monte-Carlo within 5 SE).
    let worst_z = |k: usize, exact: &dyn Fn(f64) -> f64| {
        inv_eps
            .iter()
            .zip(&p)
            .map(|(&ie, row)| {
                let truth = exact(1.0 / ie as f64);
                (row[k] - truth).abs() / se(truth)
            })
            .fold(0.0f64, f64::max)
    };
    out.claims.push(Claim::check(
        "δ = 1 decodes from the last observation alone: error = P(y ≠ s) = 0.1 exactly (worst |z| over the grid)",
        worst_z(4, &|_| 0.1),
        Threshold::AtMost(5.0),
    ));
    out.claims.push(Claim::check(
        "δ = 0 never updates (argmax ties → state 0): error = P(s_1000 = 1) = (1 − (2ε − 1)^1000)/2 (worst |z|)",
        worst_z(3, &|eps| (1.0 - (2.0 * eps - 1.0f64).powi(HORIZON as i32)) / 2.0),
        Threshold::AtMost(5.0),
    ));

    // Findings, thresholds from the paper notes (§6.1 asserts).
    let mean_over_grid = |ests: &[Estimate], method: &str| {
        let m = ests.iter().map(|x| x.value).sum::<f64>() / ests.len() as f64;
        let se = ests
            .iter()
            .map(|x| x.std_error.unwrap_or(0.0).powi(2))
            .sum::<f64>()
            .sqrt()
            / ests.len() as f64;
        Estimate::with_interval(
            m,
            Some(se),
            [m - Z95 * se, m + Z95 * se],
            (n_traj * ests.len()) as u64,
            method,
        )
    };
    let log_vs_sqrt: Vec<Estimate> = tot.iter().map(|t| paired(t.discordant[0], n)).collect();
    let wins = p.iter().filter(|r| r[0] < r[1]).count();
    out.claims.push(
        Claim::finding_estimate(
            "0.7/log(1/ε) beats √ε: paired difference p(√ε) − p(0.7/log) averaged over the 23 grid points",
            mean_over_grid(&log_vs_sqrt, "mean of per-point paired differences over common trajectories, normal approximation"),
            Threshold::AtLeast(0.0),
        )
        .decided_by_interval()
        .paper_value("log below √ε (notes: on ≥ 18 of 23 points)")
        .with_note(format!("0.7/log(1/ε) has the lower error at {wins} of 23 points.")),
    );
    let last = p.len() - 1;
    for (k, name) in [(0usize, "0.7/log(1/ε)"), (1, "√ε")] {
        // Independent trajectories at the two ends: delta method on the log ratio.
        let (a, b) = (p[last][k], p[0][k]);
        let r = a / b;
        let s = ((1.0 - a) / (n * a) + (1.0 - b) / (n * b)).sqrt();
        out.claims.push(
            Claim::finding_estimate(
                format!("valid schedule {name} decays with ε: p(1/ε=250) / p(1/ε=30)"),
                Estimate::with_interval(
                    r,
                    Some(r * s),
                    [r * (-Z95 * s).exp(), r * (Z95 * s).exp()],
                    2 * n_traj as u64,
                    "ratio of independent proportions, delta method on the log",
                ),
                Threshold::AtMost(1.0),
            )
            .decided_by_interval()
            .paper_value("decays"),
        );
    }
    let (e_min, _) =
        p.iter().enumerate().fold(
            (0, f64::INFINITY),
            |b, (e, r)| if r[2] < b.1 { (e, r[2]) } else { b },
        );
    out.claims.push(Claim::finding_estimate(
        format!(
            "invalid schedule ε² forgets too slowly: smallest error over the grid (at 1/ε = {})",
            inv_eps[e_min]
        ),
        prop(e_min, 2)?,
        Threshold::AtLeast(0.35),
    ));
    // δ = 1 and δ = 0 are not findings: their closed forms are the two checks above.
    // LOF lowest: at every grid point, every ALF's paired difference to LOF lies above 0. The
    // estimate shown is the pair and point with the smallest lower bound.
    let mut weakest: Option<(usize, usize, Estimate)> = None;
    for (e, t) in tot.iter().enumerate() {
        for (&(a, _), &disc) in PAIRS.iter().zip(&t.discordant).skip(1) {
            let d = paired(disc, n);
            let lo = d.interval.map_or(d.value, |b| b[0]);
            if weakest
                .as_ref()
                .is_none_or(|w| lo < w.2.interval.map_or(w.2.value, |b| b[0]))
            {
                weakest = Some((e, a, d));
            }
        }
    }
    if let Some((e, k, d)) = weakest {
        out.claims.push(
            Claim::finding_estimate(
                format!(
                    "LOF has the lowest error at every ε: smallest paired difference p(ALF) − p(LOF) over schedules and points (the weakest is {} at 1/ε = {})",
                    names[k], inv_eps[e]
                ),
                d,
                Threshold::AtLeast(0.0),
            )
            .decided_by_interval(),
        );
    }
    for k in 0..6 {
        // Standardised deviation from the reference at the two endpoints; the reference's own
        // Monte-Carlo noise (80,000 paths) counts in the standard error.
        let (mut worst, mut at) = (0.0f64, 0u64);
        for (ie, refs) in REFERENCE {
            let e = inv_eps
                .iter()
                .position(|&x| x as f64 == ie)
                .ok_or("reference point off the grid")?;
            let q = refs[k];
            let s = (q * (1.0 - q) * (1.0 / n + 1.0 / REFERENCE_PATHS))
                .sqrt()
                .max(1.0 / n);
            let z = (p[e][k] - q).abs() / s;
            if z > worst {
                (worst, at) = (z, ie as u64);
            }
        }
        let name = &names[k];
        out.claims.push(
            Claim::finding_estimate(
                format!("{name}: endpoints (1/ε = 30, 250) agree with the reference table: largest |z| (at 1/ε = {at})"),
                Estimate::with_interval(
                    worst,
                    Some(1.0),
                    [(worst - Z95).max(0.0), worst + Z95],
                    n_traj as u64,
                    "standardised deviation |ours − reference| / √(SE²_ours + SE²_reference), z ± 1.96",
                ),
                Threshold::AtMost(3.0),
            )
            .paper_value("within 3 SE (notes)")
            .explain_if_failed(Why::evidence(
                format!("the deviation is {worst:.1} SE of the two estimates combined; the reference is a third-party rerun, and at 23 × 6 compared cells a few |z| near 3 are expected by chance"),
                &["Decoding error p_1000"],
            )),
        );
    }
    let ratio = |k: usize| {
        let pts: Vec<(f64, f64)> = inv_eps
            .iter()
            .zip(&p)
            .filter(|(&ie, _)| ie >= 200)
            .map(|(&ie, r)| {
                let (ie, eps) = (ie as f64, 1.0 / ie as f64);
                let c = eps * ie.ln();
                (r[k] / c, (r[k] * (1.0 - r[k]) / n).sqrt() / c)
            })
            .collect();
        let m = pts.iter().map(|x| x.0).sum::<f64>() / pts.len() as f64;
        let s = pts.iter().map(|x| x.1 * x.1).sum::<f64>().sqrt() / pts.len() as f64;
        Estimate::with_interval(
            m,
            Some(s),
            [m - Z95 * s, m + Z95 * s],
            (n_traj * pts.len()) as u64,
            "mean over the points of independent proportions, normal approximation",
        )
    };
    let (r_alf, r_lof) = (ratio(0), ratio(5));
    let scale_note = |r: &Estimate| {
        Why::evidence(
            format!(
                "Monte-Carlo noise at this scale: with {n_traj} paths per point the ratio's standard error is {:.3}; the notes ask for 80,000 paths (--profile full)",
                r.std_error.unwrap_or(f64::NAN)
            ),
            &["Decoding error p_1000"],
        )
    };
    out.claims.push(
        Claim::finding_estimate(
            "ALF 0.7/log: error / (ε log 1/ε) for 1/ε ≥ 200",
            r_alf.clone(),
            Threshold::Between(0.7, 0.95),
        )
        .paper_value("0.78–0.86")
        .explain_if_failed(scale_note(&r_alf)),
    );
    out.claims.push(
        Claim::finding_estimate(
            "LOF: error / (ε log 1/ε) for 1/ε ≥ 200",
            r_lof.clone(),
            Threshold::Between(0.45, 0.6),
        )
        .paper_value("0.51–0.55")
        .explain_if_failed(scale_note(&r_lof)),
    );
    out.notes.push("Conventions: s_0 ~ π₀ = [1, 0] with no observation at step 0; each of the 1000 steps is a transition then an emission; ALF starts at w_0 = 0, LOF at l_0 = log π₀; decoding is argmax with ties to state 0; the error is counted after the 1000th step.".into());
    out.notes.push(format!(
        "Scale: this run uses {n_traj} trajectories per grid point ({} profile); the paper notes' reference table uses {REFERENCE_PATHS}. One standard error at p ≈ 0.45 is {:.4} here.",
        ctx.profile,
        se(0.45)
    ));
    out.notes.push("All six filters run on the same trajectories (common random numbers): the comparisons between filters are paired differences, whose intervals come from the discordant counts.".into());
    Ok(out)
}
