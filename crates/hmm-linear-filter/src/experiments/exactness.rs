use crate::{
    ControlledHmm, FunctionalGraphFilter, Hmm, LinearFilter, LogForwardFilter, LogitFilter,
};
use core_linalg::{log_softmax, Rng};
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::RngExt;
use repro::{BoxError, Cell, Claim, Plot, PlotKind, RunContext, Series, Table, Threshold};

/// The largest gap between two normalised log-beliefs (`l − logsumexp l`). Entries that are
/// `−∞` in both count as equal; `−∞` in one only gives `+∞`.
pub fn max_log_belief_gap(a: &[f64], b: &[f64]) -> f64 {
    let (la, lb) = (log_softmax(a), log_softmax(b));
    la.iter()
        .zip(&lb)
        .map(|(&x, &y)| if x == y { 0.0 } else { (x - y).abs() })
        .fold(0.0, f64::max)
}

fn random_stochastic_column(rng: &mut Rng, n: usize, floor: f64) -> Vec<f64> {
    let v: Vec<f64> = (0..n).map(|_| floor + rng.random::<f64>()).collect();
    let s: f64 = v.iter().sum();
    v.into_iter().map(|x| x / s).collect()
}

fn random_emission(rng: &mut Rng, n_obs: usize, n_states: usize) -> DMatrix<f64> {
    let cols: Vec<f64> = (0..n_states)
        .flat_map(|_| random_stochastic_column(rng, n_obs, 0.05))
        .collect();
    DMatrix::from_column_slice(n_obs, n_states, &cols)
}

fn deterministic_matrix(succ: &[usize]) -> DMatrix<f64> {
    let n = succ.len();
    let mut t = DMatrix::zeros(n, n);
    for (j, &i) in succ.iter().enumerate() {
        t[(i, j)] = 1.0;
    }
    t
}

fn random_permutation(rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    p.shuffle(rng);
    p
}

/// A random HMM with a permutation `T`, positive emissions (every entry ≥ 0.05/(1 + 0.05·|O|)
/// before normalising) and a positive initial distribution.
pub fn random_permutation_hmm(rng: &mut Rng, n_states: usize, n_obs: usize) -> Hmm {
    let t = deterministic_matrix(&random_permutation(rng, n_states));
    let e = random_emission(rng, n_obs, n_states);
    let pi = random_stochastic_column(rng, n_states, 0.05);
    Hmm::new(t, e, pi).unwrap_or_else(|e| unreachable!("generator builds valid HMMs: {e}"))
}

/// Runs `exact` and `linear` side by side on `obs`/`acts`; returns the largest gap.
fn run_pair(
    exact: &mut dyn LogitFilter,
    linear: &mut dyn LogitFilter,
    acts: &[usize],
    obs: &[usize],
) -> Result<f64, BoxError> {
    let mut worst = 0.0f64;
    for (&a, &o) in acts.iter().zip(obs) {
        exact.step_with_action(a, o)?;
        linear.step_with_action(a, o)?;
        worst = worst.max(max_log_belief_gap(exact.logits(), linear.logits()));
    }
    Ok(worst)
}

#[derive(Debug, Clone, Copy, Default)]
struct CaseResult {
    states: usize,
    obs: usize,
    perm_gap: f64,
    negative_gap: f64,
    graph_gap: f64,
    graph_transient_mass: f64,
    graph_late_correction: f64,
    graph_depth: usize,
    controlled_gap: f64,
}

fn one_case(rng: &mut Rng, steps: usize) -> Result<CaseResult, BoxError> {
    let s = rng.random_range(4..=32usize);
    let o = rng.random_range(2..=16usize);
    let mut r = CaseResult {
        states: s,
        obs: o,
        ..Default::default()
    };

    // 1. Permutation T.
    let hmm = random_permutation_hmm(rng, s, o);
    let traj = hmm.sample(steps, rng);
    let mut lof = LogForwardFilter::new(&hmm);
    let mut lin = LinearFilter::exact(&hmm)?;
    r.perm_gap = run_pair(&mut lof, &mut lin, &traj.actions, &traj.observations)?;

    // Negative control: T = 0.7 P + 0.3 R (stochastic), linear filter still uses P.
    let mut t = hmm.transition() * 0.7;
    for j in 0..s {
        let col = random_stochastic_column(rng, s, 0.0);
        for i in 0..s {
            t[(i, j)] += 0.3 * col[i];
        }
    }
    let noisy = Hmm::new(t, hmm.emission().clone(), hmm.initial().to_vec())?;
    let traj = noisy.sample(steps.min(2000), rng);
    let mut lof = LogForwardFilter::new(&noisy);
    let mut lin = LinearFilter::exact(&hmm)?;
    r.negative_gap = run_pair(&mut lof, &mut lin, &traj.actions, &traj.observations)?;

    // 2. Functional graph: c recurrent states on cycles, the rest hang on trees, in a random
    // order; state k (k >= c) maps to a uniformly random earlier state.
    let c = rng.random_range(2..=s / 2);
    let order = random_permutation(rng, s);
    let mut succ = vec![0; s];
    let cyc = random_permutation(rng, c);
    for k in 0..c {
        succ[order[k]] = order[cyc[k]];
    }
    for k in c..s {
        succ[order[k]] = order[rng.random_range(0..k)];
    }
    let graph = Hmm::new(
        deterministic_matrix(&succ),
        random_emission(rng, o, s),
        random_stochastic_column(rng, s, 0.05),
    )?;
    let traj = graph.sample(steps, rng);
    let mut lof = LogForwardFilter::new(&graph);
    let mut fg = FunctionalGraphFilter::new(&graph)?;
    let depth = fg.structure().transient_depth();
    let recurrent = fg.structure().recurrent().to_vec();
    r.graph_depth = depth;
    for (k, &y) in traj.observations.iter().enumerate() {
        lof.step(y)?;
        fg.step(y)?;
        r.graph_gap = r
            .graph_gap
            .max(max_log_belief_gap(lof.logits(), fg.logits()));
        let step = k + 1;
        if step >= depth {
            let mass = |b: Vec<f64>| {
                b.iter()
                    .zip(&recurrent)
                    .filter(|(_, &rec)| !rec)
                    .map(|(p, _)| *p)
                    .sum::<f64>()
            };
            r.graph_transient_mass = r
                .graph_transient_mass
                .max(mass(lof.belief()))
                .max(mass(fg.belief()));
        }
        if step > depth {
            let u = fg
                .last_correction()
                .iter()
                .fold(0.0f64, |m, x| m.max(x.abs()));
            r.graph_late_correction = r.graph_late_correction.max(u);
        }
    }

    // 3. Action-controlled: 4 permutations, random actions, linear filter started from
    // arbitrary logits l~_0 = 0 and corrected by u_1 = P(a_1)(l*_0 - l~_0).
    let ts: Vec<DMatrix<f64>> = (0..4)
        .map(|_| deterministic_matrix(&random_permutation(rng, s)))
        .collect();
    let ctrl = ControlledHmm::new(
        ts,
        random_emission(rng, o, s),
        random_stochastic_column(rng, s, 0.05),
    )?;
    let acts: Vec<usize> = (0..steps).map(|_| rng.random_range(0..4)).collect();
    let traj = ctrl.sample_with_actions(&acts, rng)?;
    let mut lof = LogForwardFilter::new(&ctrl);
    let mut lin = LinearFilter::exact(&ctrl)?;
    let l_star: Vec<f64> = ctrl.initial().iter().map(|p| p.ln()).collect();
    lin.set_logits(&vec![0.0; s])?;
    let u1 = lin.apply_a(acts[0], &l_star)?;
    lof.step_with_action(acts[0], traj.observations[0])?;
    lin.step_with_input(acts[0], traj.observations[0], &u1)?;
    r.controlled_gap = max_log_belief_gap(lof.logits(), lin.logits());
    r.controlled_gap = r.controlled_gap.max(run_pair(
        &mut lof,
        &mut lin,
        &acts[1..],
        &traj.observations[1..],
    )?);
    Ok(r)
}

/// Experiment 1: exactness of the linear filters.
pub fn exactness(ctx: &RunContext) -> Result<repro::Outcome, BoxError> {
    let cases = ctx.profile.pick(24u64, 100);
    let steps = 10_000usize;
    let mut out =
        ctx.outcome("Linear filter = exact filter for deterministic T (Thm 4.4, Cor 4.5)");
    out.param("cases", cases)
        .param("steps", steps)
        .param("states", "4..=32")
        .param("observations", "2..=16");
    let ids: Vec<u64> = (0..cases).collect();
    let results = ctx.map_cells("case", &ids, |_, rng| one_case(rng, steps))?;
    let n = results.len();
    let max = |f: fn(&CaseResult) -> f64| results.iter().map(f).fold(0.0f64, f64::max);
    let min = |f: fn(&CaseResult) -> f64| results.iter().map(f).fold(f64::INFINITY, f64::min);

    out.claims.push(Claim::check(
        format!("permutation T: linear filter's normalised log-belief equals LOF over {steps} steps ({cases} random HMMs)"),
        max(|r| r.perm_gap),
        Threshold::AtMost(1e-9),
    ));
    out.claims.push(Claim::check(
        "functional-graph T: block-form filter with correction input equals LOF",
        max(|r| r.graph_gap),
        Threshold::AtMost(1e-9),
    ));
    out.claims.push(Claim::check_none(
        "functional-graph T: belief on transient states is exactly 0 from step r on, LOF and linear (cases with any mass)",
        results.iter().filter(|r| r.graph_transient_mass != 0.0).count(),
        n,
    ));
    out.claims.push(Claim::check_none(
        "functional-graph T: the correction input is exactly 0 after step r (cases with a non-zero input)",
        results.iter().filter(|r| r.graph_late_correction != 0.0).count(),
        n,
    ));
    out.claims.push(Claim::check(
        "action-controlled (4 permutations, random actions, l~0 = 0 corrected by u1): equals LOF",
        max(|r| r.controlled_gap),
        Threshold::AtMost(1e-9),
    ));
    out.claims.push(Claim::check(
        "negative control: with stochastic T = 0.7P + 0.3R the linear filter departs from LOF (smallest worst-case gap over cases)",
        min(|r| r.negative_gap),
        Threshold::AtLeast(0.1),
    ));
    let mut t = Table::new(
        "Per case (worst gap over all steps)",
        &[
            "case",
            "|S|",
            "|O|",
            "perm gap",
            "graph depth r",
            "graph gap",
            "controlled gap",
            "negative-control gap",
        ],
    );
    for (i, r) in results.iter().enumerate() {
        t.push(vec![
            Cell::from(i),
            r.states.into(),
            r.obs.into(),
            r.perm_gap.into(),
            r.graph_depth.into(),
            r.graph_gap.into(),
            r.controlled_gap.into(),
            r.negative_gap.into(),
        ]);
    }
    out.tables.push(t);
    let idx: Vec<f64> = (0..results.len()).map(|i| i as f64).collect();
    let floor = |x: f64| x.max(1e-17);
    out.plots.push(
        Plot::new(
            "exactness-gaps",
            "Worst normalised log-belief gap vs LOF, per random HMM",
            "case",
            "gap (floored at 1e-17)",
            PlotKind::Scatter(vec![
                Series::new(
                    "permutation",
                    idx.clone(),
                    results.iter().map(|r| floor(r.perm_gap)).collect(),
                ),
                Series::new(
                    "functional graph",
                    idx.clone(),
                    results.iter().map(|r| floor(r.graph_gap)).collect(),
                ),
                Series::new(
                    "action-controlled",
                    idx.clone(),
                    results.iter().map(|r| floor(r.controlled_gap)).collect(),
                ),
                Series::new(
                    "stochastic T (negative control)",
                    idx,
                    results.iter().map(|r| floor(r.negative_gap)).collect(),
                ),
            ]),
        )
        .log_axes(false, true),
    );
    out.notes.push("Gap = max over steps and states of |(l − lse l) − (l_LOF − lse l_LOF)|; −∞ entries equal in both count as 0.".into());
    out.notes.push("Functional graphs: c ∈ [2, |S|/2] recurrent states on random cycles; every other state maps to a uniformly random earlier state of a random order, so transients form trees hanging on the cycles.".into());
    Ok(out)
}
