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
    graph_gap_late: f64,
    graph_transient_mass: f64,
    graph_depth: usize,
    graph_linear_gap: f64,
    controlled_gap: f64,
    controlled_graph_gap: f64,
}

/// The closed form of the exact filter for deterministic transitions, by enumerating the
/// initial state: from `s_0` the path is `s_k = f_{a_k}(s_{k−1})`, so
/// `p(s_k = i, y_1..y_k) = Σ_{s_0 : s_k(s_0) = i} softmax(l_0)(s_0) Π_t E[y_t, s_t(s_0)]`.
/// Returns the log-joint of every state after every step, up to a constant per step. It shares no code with
/// the filters: no gathers, no structure analysis, no correction inputs.
fn enumerated_logits(
    succ: &[Vec<usize>],
    e: &DMatrix<f64>,
    l0: &[f64],
    acts: &[usize],
    obs: &[usize],
) -> Vec<Vec<f64>> {
    let n = l0.len();
    let mut at: Vec<usize> = (0..n).collect();
    let mut acc: Vec<f64> = l0.to_vec();
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); n];
    acts.iter()
        .zip(obs)
        .map(|(&a, &y)| {
            buckets.iter_mut().for_each(Vec::clear);
            for s0 in 0..n {
                at[s0] = succ[a][at[s0]];
                acc[s0] += e[(y, at[s0])].ln();
            }
            // A common shift keeps the sums small (rounding at magnitude 10⁴ would reach 1e-9
            // over 10⁴ steps); it changes every log-joint by the same constant.
            let c = acc.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if c.is_finite() {
                acc.iter_mut().for_each(|x| *x -= c);
            }
            for s0 in 0..n {
                buckets[at[s0]].push(acc[s0]);
            }
            buckets.iter().map(|b| core_linalg::logsumexp(b)).collect()
        })
        .collect()
}

fn random_logits(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| 4.0 * rng.random::<f64>() - 2.0).collect()
}

/// A random functional graph on `s` states: `c ∈ [2, s/2]` recurrent states on random cycles,
/// every other state mapping to a uniformly random earlier state of a random order (trees
/// hanging on the cycles).
fn random_functional_graph(rng: &mut Rng, s: usize) -> Vec<usize> {
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
    succ
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

    // 2. Functional graph, from a random prior l~_0 that puts mass on transient states: the
    // block-form filter (its correction computed from the data for k ≤ r) against the
    // enumerated closed form at every step, and separately for k > r.
    let succ = random_functional_graph(rng, s);
    let graph = Hmm::new(
        deterministic_matrix(&succ),
        random_emission(rng, o, s),
        random_stochastic_column(rng, s, 0.05),
    )?;
    let traj = graph.sample(steps, rng);
    let l_tilde = random_logits(rng, s);
    let mut fg = FunctionalGraphFilter::with_logits(&graph, &l_tilde)?;
    let depth = fg.structure().transient_depth();
    let recurrent = fg.structure().recurrent().to_vec();
    r.graph_depth = depth;
    let closed = enumerated_logits(
        std::slice::from_ref(&succ),
        graph.emission(),
        &l_tilde,
        &traj.actions,
        &traj.observations,
    );
    for (k, (&y, want)) in traj.observations.iter().zip(&closed).enumerate() {
        fg.step(y)?;
        let gap = max_log_belief_gap(want, fg.logits());
        r.graph_gap = r.graph_gap.max(gap);
        let step = k + 1;
        if step > depth {
            r.graph_gap_late = r.graph_gap_late.max(gap);
        }
        if step >= depth {
            let mass: f64 = fg
                .belief()
                .iter()
                .zip(&recurrent)
                .filter(|(_, &rec)| !rec)
                .map(|(p, _)| *p)
                .sum();
            r.graph_transient_mass = r.graph_transient_mass.max(mass);
        }
    }

    // 2b. The paper's construction for a linear-RNN user: a prior on the recurrent states
    // only (π₀ random there), the linear system A = diag(P, I_r) started from a random l~_0,
    // corrected once by the model-only input u_1 = A(l*_0 − l~_0), then purely linear.
    let pi_rec: Vec<f64> = {
        let v: Vec<f64> = recurrent
            .iter()
            .map(|&rec| if rec { 0.05 + rng.random::<f64>() } else { 0.0 })
            .collect();
        let z: f64 = v.iter().sum();
        v.iter().map(|x| x / z).collect()
    };
    let l_star: Vec<f64> = pi_rec.iter().map(|p| p.ln()).collect();
    let sys = fg.linear_system();
    // A's gather, read off the dense matrix the user is handed.
    let gather: Vec<usize> = (0..s)
        .map(|i| (0..s).find(|&j| sys.a[(i, j)] == 1.0).unwrap_or(i))
        .collect();
    let log_e: Vec<Vec<f64>> = (0..o)
        .map(|y| (0..s).map(|i| sys.b[(i, y)]).collect())
        .collect();
    let mut user = LinearFilter::from_parts(vec![gather], log_e, 1.0, 1.0, l_tilde.clone())?;
    user.set_renormalise(true);
    let diff: Vec<f64> = l_star.iter().zip(&l_tilde).map(|(a, b)| a - b).collect();
    let u1 = user.apply_a(0, &diff)?;
    let closed = enumerated_logits(
        std::slice::from_ref(&succ),
        graph.emission(),
        &l_star,
        &traj.actions,
        &traj.observations,
    );
    for (k, (&y, want)) in traj.observations.iter().zip(&closed).enumerate() {
        if k == 0 {
            user.step_with_input(0, y, &u1)?;
        } else {
            user.step(y)?;
        }
        r.graph_linear_gap = r
            .graph_linear_gap
            .max(max_log_belief_gap(want, user.logits()));
    }

    // 3. Action-controlled: 4 permutations, random actions, the linear filter started from a
    // random l~_0 and corrected by u_1 = P(a_1)(l*_0 − l~_0).
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
    let l_tilde = random_logits(rng, s);
    lin.set_logits(&l_tilde)?;
    let diff: Vec<f64> = l_star.iter().zip(&l_tilde).map(|(a, b)| a - b).collect();
    let u1 = lin.apply_a(acts[0], &diff)?;
    lof.step_with_action(acts[0], traj.observations[0])?;
    lin.step_with_input(acts[0], traj.observations[0], &u1)?;
    r.controlled_gap = max_log_belief_gap(lof.logits(), lin.logits());
    r.controlled_gap = r.controlled_gap.max(run_pair(
        &mut lof,
        &mut lin,
        &acts[1..],
        &traj.observations[1..],
    )?);

    // 4. Action-controlled functional graphs: 3 random maps (merging states), random actions,
    // the controlled functional-graph filter against the enumerated closed form.
    let maps: Vec<Vec<usize>> = (0..3)
        .map(|_| (0..s).map(|_| rng.random_range(0..s)).collect())
        .collect();
    let cg = ControlledHmm::new(
        maps.iter().map(|m| deterministic_matrix(m)).collect(),
        random_emission(rng, o, s),
        random_stochastic_column(rng, s, 0.05),
    )?;
    let acts: Vec<usize> = (0..steps).map(|_| rng.random_range(0..3)).collect();
    let traj = cg.sample_with_actions(&acts, rng)?;
    let l0: Vec<f64> = cg.initial().iter().map(|p| p.ln()).collect();
    let closed = enumerated_logits(&maps, cg.emission(), &l0, &acts, &traj.observations);
    let mut fg = FunctionalGraphFilter::new(&cg)?;
    for ((&a, &y), want) in acts.iter().zip(&traj.observations).zip(&closed) {
        fg.step_with_action(a, y)?;
        r.controlled_graph_gap = r
            .controlled_graph_gap
            .max(max_log_belief_gap(want, fg.logits()));
    }
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
        "functional-graph T from a random prior l~0: the block-form filter equals the closed form (paths enumerated from each initial state), every step",
        max(|r| r.graph_gap),
        Threshold::AtMost(1e-9),
    ));
    out.claims.push(Claim::check(
        "functional-graph T: the same for k > r, where the filter is the linear system alone",
        max(|r| r.graph_gap_late),
        Threshold::AtMost(1e-9),
    ));
    out.claims.push(Claim::check_none(
        "functional-graph T: belief on transient states is exactly 0 from step r on (cases with any mass)",
        results.iter().filter(|r| r.graph_transient_mass != 0.0).count(),
        n,
    ));
    out.claims.push(Claim::check(
        "functional-graph T, prior on the recurrent states: the linear system (A, B) handed to a user, from a random l~0 with the model-only input u1 = A(l*0 − l~0), equals the closed form",
        max(|r| r.graph_linear_gap),
        Threshold::AtMost(1e-9),
    ));
    out.claims.push(Claim::check(
        "action-controlled (4 permutations, random actions, random l~0 corrected by u1 = P(a1)(l*0 − l~0)): equals LOF",
        max(|r| r.controlled_gap),
        Threshold::AtMost(1e-9),
    ));
    out.claims.push(Claim::check(
        "action-controlled functional graphs (3 random maps, random actions): the controlled block-form filter equals the closed form",
        max(|r| r.controlled_graph_gap),
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
            "graph gap k > r",
            "linear-system gap",
            "controlled gap",
            "controlled-graph gap",
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
            r.graph_gap_late.into(),
            r.graph_linear_gap.into(),
            r.controlled_gap.into(),
            r.controlled_graph_gap.into(),
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
                    "controlled functional graph",
                    idx.clone(),
                    results
                        .iter()
                        .map(|r| floor(r.controlled_graph_gap))
                        .collect(),
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
    out.notes.push("The closed form enumerates the initial state: a deterministic T gives each s_0 one path, so p(s_k = i, y_1..k) is a sum over the initial states whose path is at i — no gathers, structure analysis or correction inputs. Random starts l~0 are uniform in [−2, 2] per state.".into());
    out.notes.push("For k ≤ r the functional-graph filter's correction input depends on the observations (merging branches carry their evidence), so it is computed by the filter; a user holding only (A, B) gets the exact filter from a start on the recurrent states, with the one model-only input u1.".into());
    Ok(out)
}
