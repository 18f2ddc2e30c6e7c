use crate::exact::{behaviour_fixed_point, optimal_reactive_policy, q_star_realizability};
use crate::{Behaviour, Corridor, QLearner, QLearningParams, QTable, LEFT, RIGHT};
use core_linalg::Rng;
use repro::{
    BoxError, Claim, Estimate, Outcome, Plot, PlotKind, RunContext, Series, Table, Threshold, Why,
};

const EXACT_TABLE: &str = "Exact tools on the corridor (closed forms: optimal (R, R) with return 0; committed fixed point [[−1, 0], [0, 1]]; q*(x, R) = x)";
const FRACTION_TABLE: &str = "Fraction of runs whose greedy policy is optimal at T (strict comparison), with 95% Clopper–Pearson intervals";

/// `n` log-spaced step counts from 10 to `horizon` (rounded, distinct, ending at `horizon`).
pub fn log_checkpoints(horizon: u64, n: usize) -> Vec<u64> {
    let top = (horizon as f64).log10();
    let mut c: Vec<u64> = (0..n)
        .map(|i| {
            10f64
                .powf(1.0 + (top - 1.0) * i as f64 / (n.max(2) - 1) as f64)
                .round() as u64
        })
        .collect();
    c.dedup();
    if let Some(last) = c.last_mut() {
        *last = horizon;
    }
    c
}

struct Run {
    optimal_at: Vec<bool>,
    q: QTable,
}

const SAW_TABLE: &str =
    "Committed Q at T = 2·10⁵ (k = 5): the deterministic saw-tooth of the one-step updates vs the measured error";

fn run(
    env: &Corridor,
    b: Behaviour,
    horizon: u64,
    checkpoints: &[u64],
    rng: &mut Rng,
) -> Result<Run, BoxError> {
    let params = QLearningParams::new(b, horizon).check()?;
    let mut agent = QLearner::new(env, params, rng);
    let mut optimal_at = Vec::with_capacity(checkpoints.len());
    for &c in checkpoints {
        agent.run(c - agent.steps(), rng);
        optimal_at.push(agent.q().strictly_prefers(&[RIGHT, RIGHT]));
    }
    Ok(Run {
        optimal_at,
        q: agent.q().clone(),
    })
}

/// The deterministic saw-tooth of the committed one-step updates on the greedy path (R, R) of a
/// corridor of length `k` at a constant step size `alpha`, exploration left out: per episode one
/// update of Q(0, R) (bootstrapping on Q(1, R)), `k − 1` of Q(1, R) towards `−1 + Q(1, R)` and
/// one towards the goal's `+k`. Iterated to its periodic orbit; returns the range `[lo, hi]` of
/// Q(0, R) and of Q(1, R) over one period. (Q(1, L), updated only on exploratory entrances,
/// bootstraps on Q(0, R): its orbit is Q(0, R)'s range; Q(0, L) = −1 exactly.)
fn sawtooth(k: usize, alpha: f64) -> ([f64; 2], [f64; 2]) {
    let (mut q0, mut q1) = (0.0f64, 1.0f64);
    let (mut r0, mut r1) = (
        [f64::INFINITY, f64::NEG_INFINITY],
        [f64::INFINITY, f64::NEG_INFINITY],
    );
    for episode in 0..20_000 {
        let last = episode == 19_999;
        let mut record = |q0: f64, q1: f64| {
            if last {
                r0 = [r0[0].min(q0), r0[1].max(q0)];
                r1 = [r1[0].min(q1), r1[1].max(q1)];
            }
        };
        q0 += alpha * (-1.0 + q1.max(0.0) - q0);
        record(q0, q1);
        for _ in 1..k {
            q1 += alpha * (-1.0 + q1.max(0.0) - q1);
            record(q0, q1);
        }
        q1 += alpha * (k as f64 - q1);
        record(q0, q1);
    }
    (r0, r1)
}

fn closed_form_q() -> QTable {
    QTable::from_rows(&[vec![-1.0, 0.0], vec![0.0, 1.0]]).expect("valid table")
}

/// Experiment 1: the corridor.
pub fn corridor(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome("The corridor: committed vs regular Q-learning");
    let ks = [2usize, 3, 5, 10];
    let horizons = [1_000u64, 10_000];
    let seeds = ctx.profile.pick(300u64, 1000);
    let long_seeds = ctx.profile.pick(100u64, 1000);
    let long_horizon = 200_000u64;
    let n_checkpoints = 20;
    out.param("k", ks)
        .param("horizons", horizons)
        .param("seeds", seeds)
        .param("long_horizon", long_horizon)
        .param("long_horizon_seeds", long_seeds)
        .param("alpha", "0.1 → 0.01 at T (c0·cb/(cb+t))")
        .param("epsilon", "0.1 → 0.01 at T")
        .param("q_init", "0.1·N(0,1)");

    // Exact tools against the closed forms.
    let mut exact = Table::deterministic(
        EXACT_TABLE,
        &[
            "k",
            "optimal policy",
            "optimal return",
            "|committed FP − closed form|",
            "q* spread in z = 1",
            "committed FP self-consistent at (L,L)",
            "regular FP self-consistent at (R,R)",
            "regular FP self-consistent at (L,L)",
        ],
    );
    let (mut fp_err, mut policy_wrong, mut value_err, mut spread_err) =
        (0.0f64, 0usize, 0.0f64, 0.0f64);
    let mut regular_story = true;
    let mut regular_story_fails = 0usize;
    let mut regular_rr = true;
    for &k in &ks {
        let tab = Corridor::new(k)?.to_tabular();
        let best = optimal_reactive_policy(&tab)?;
        let fp = behaviour_fixed_point(&tab, Behaviour::Committed, &[RIGHT, RIGHT], 0.01)?;
        let dev = (0..2)
            .flat_map(|z| (0..2).map(move |u| (z, u)))
            .map(|(z, u)| (fp.q[(z, u)] - closed_form_q().get(z, u)).abs())
            .fold(0.0, f64::max);
        let real = q_star_realizability(&tab, 1e-9)?;
        let reg_rr = behaviour_fixed_point(&tab, Behaviour::Regular, &[RIGHT, RIGHT], 0.01)?;
        let reg_ll = behaviour_fixed_point(&tab, Behaviour::Regular, &[LEFT, LEFT], 0.01)?;
        let com_ll = behaviour_fixed_point(&tab, Behaviour::Committed, &[LEFT, LEFT], 0.01)?;
        fp_err = fp_err.max(dev);
        policy_wrong += usize::from(best.policy != [RIGHT, RIGHT]);
        value_err = value_err.max(best.value.abs());
        spread_err = spread_err.max((real.max_spread - (k as f64 - 1.0)).abs());
        let story = reg_ll.self_consistent && !com_ll.self_consistent;
        regular_story &= story;
        regular_story_fails += usize::from(!story);
        regular_rr &= reg_rr.self_consistent;
        exact.push(vec![
            k.into(),
            format!(
                "{:?}",
                best.policy
                    .iter()
                    .map(|&a| if a == RIGHT { 'R' } else { 'L' })
                    .collect::<String>()
            )
            .into(),
            best.value.into(),
            dev.into(),
            real.max_spread.into(),
            com_ll.self_consistent.to_string().into(),
            reg_rr.self_consistent.to_string().into(),
            reg_ll.self_consistent.to_string().into(),
        ]);
    }
    out.tables.push(exact);
    out.claims.push(Claim::check_none(
        "the optimal reactive policy by enumeration is (R, R) for every k (values of k where it is not)",
        policy_wrong,
        ks.len(),
    ));
    out.claims.push(Claim::check(
        "its return from the start is 0 (max |value| over k)",
        value_err,
        Threshold::AbsAtMost(1e-9),
    ));
    out.claims.push(Claim::check(
        "the committed fixed point (ε = 0.01) is [[−1, 0], [0, 1]] (max |error| over k)",
        fp_err,
        Threshold::AbsAtMost(1e-9),
    ));
    out.claims.push(Claim::check(
        "q* is not realizable: q*(x, R) = x spreads by k − 1 over feature 1 (max |error| over k)",
        spread_err,
        Threshold::AbsAtMost(1e-9),
    ));
    out.claims.push(Claim::check_none(
        "regular Q-learning's expected update (ε = 0.01) has a self-consistent bad fixed point at (L, L), and committed Q-learning's has none there (values of k where this fails)",
        regular_story_fails,
        ks.len(),
    ));

    // Learning: fraction optimal over k, T, behaviour; one stream per run.
    let behaviours = [Behaviour::Committed, Behaviour::Regular];
    let cell_index = |ki: usize, ti: usize, bi: usize| (ki * horizons.len() + ti) * 2 + bi;
    let runs: Vec<(usize, u64, usize, u64)> = ks
        .iter()
        .flat_map(|&k| {
            horizons.iter().flat_map(move |&t| {
                (0..2).flat_map(move |bi| (0..seeds).map(move |s| (k, t, bi, s)))
            })
        })
        .collect();
    let flat = ctx.map_cells("run", &runs, |&(k, t, bi, _), rng| {
        let env = Corridor::new(k)?;
        run(
            &env,
            behaviours[bi],
            t,
            &log_checkpoints(t, n_checkpoints),
            rng,
        )
    })?;
    let mut results: Vec<Vec<Run>> = (0..ks.len() * horizons.len() * 2)
        .map(|_| Vec::new())
        .collect();
    for (&(k, t, bi, _), r) in runs.iter().zip(flat) {
        let ki = ks.iter().position(|&x| x == k).unwrap_or(0);
        let ti = horizons.iter().position(|&x| x == t).unwrap_or(0);
        results[cell_index(ki, ti, bi)].push(r);
    }
    let frac =
        |runs: &[Run], i: usize| Estimate::proportion_of(runs.iter().map(|r| r.optimal_at[i]));
    let mut table = Table::new(
        FRACTION_TABLE,
        &[
            "k",
            "T",
            "committed",
            "committed 95% CI",
            "regular",
            "regular 95% CI",
        ],
    );
    let (mut committed_min, mut regular_max_k5): (Option<Estimate>, Option<Estimate>) =
        (None, None);
    let mut curves = Vec::new();
    for (ki, &k) in ks.iter().enumerate() {
        for (ti, &t) in horizons.iter().enumerate() {
            let mut row: Vec<repro::Cell> = vec![k.into(), (t as usize).into()];
            for bi in 0..2 {
                let runs = &results[cell_index(ki, ti, bi)];
                let last = runs[0].optimal_at.len() - 1;
                let f = frac(runs, last)?;
                let [lo, hi] = f.interval.unwrap_or([f.value; 2]);
                row.push(f.value.into());
                row.push(format!("[{lo:.3}, {hi:.3}]").into());
                if bi == 0 {
                    if committed_min.as_ref().is_none_or(|m| f.value < m.value) {
                        committed_min = Some(f);
                    }
                } else if k >= 5 && regular_max_k5.as_ref().is_none_or(|m| f.value > m.value) {
                    regular_max_k5 = Some(f);
                }
                if ti == horizons.len() - 1 {
                    let cps = log_checkpoints(t, n_checkpoints);
                    let ests: Vec<Estimate> = (0..cps.len())
                        .map(|i| frac(runs, i))
                        .collect::<Result<_, _>>()?;
                    let end = |j: usize| {
                        ests.iter()
                            .map(|e| e.interval.map_or(e.value, |b| b[j]))
                            .collect()
                    };
                    curves.push(
                        Series::new(
                            format!("{} k={k}", behaviours[bi].name()),
                            cps.iter().map(|&c| c as f64).collect(),
                            ests.iter().map(|e| e.value).collect(),
                        )
                        .with_band(end(0), end(1))
                        .styled(ki, bi == 1),
                    );
                }
            }
            table.push(row);
        }
    }
    out.tables.push(table);
    let committed_min = committed_min.ok_or("no cells")?;
    let regular_max_k5 = regular_max_k5.ok_or("no cells with k ≥ 5")?;
    out.claims.push(
        Claim::finding_estimate(
            "committed Q-learning's greedy policy is optimal in ≥ 99% of runs for every k ≤ 10 and T ∈ {10³, 10⁴} (the weakest cell)",
            committed_min,
            Threshold::AtLeast(0.99),
        )
        .explain_if_failed(Why::evidence(
            "the cells below 0.99 are listed in the table; short horizons of long corridors give ε-greedy exploration the fewest visits to the goal",
            &[FRACTION_TABLE],
        )),
    );
    out.claims.push(
        Claim::finding_estimate(
            "regular Q-learning's greedy policy is optimal in ≤ 20% of runs for k ≥ 5 (the strongest cell)",
            regular_max_k5,
            Threshold::AtMost(0.2),
        )
        .explain_if_failed(Why::evidence(
            "regular Q-learning escaped its (L, L) fixed point more often than the paper notes report",
            &[FRACTION_TABLE, EXACT_TABLE],
        )),
    );
    out.plots.push(
        Plot::new(
            "fraction-optimal",
            "Optimal greedy policy vs steps, T = 10⁴ (dashed: regular; 95% bands)",
            "steps t",
            "fraction optimal",
            PlotKind::Line(curves),
        )
        .log_axes(true, false),
    );

    // Mean final Q at k = 5, T = 10⁴.
    let ki5 = ks.iter().position(|&k| k == 5).unwrap_or(0);
    let mut heat = Vec::new();
    let mut qtab = Table::new(
        "Mean final Q at k = 5, T = 10⁴ (rows: agent and feature; committed fixed point [[−1, 0], [0, 1]])",
        &["agent", "z", "Q(z, L)", "Q(z, R)"],
    );
    for (bi, b) in behaviours.iter().enumerate() {
        let runs = &results[cell_index(ki5, 1, bi)];
        for z in 0..2 {
            let mean =
                |u: usize| runs.iter().map(|r| r.q.get(z, u)).sum::<f64>() / runs.len() as f64;
            qtab.push(vec![
                b.name().into(),
                z.into(),
                mean(LEFT).into(),
                mean(RIGHT).into(),
            ]);
            heat.push(vec![mean(LEFT), mean(RIGHT)]);
        }
    }
    out.tables.push(qtab);
    out.plots.push(Plot::new(
        "final-q",
        "Mean final Q, k = 5, T = 10⁴",
        "action",
        "agent, feature",
        PlotKind::Heatmap {
            rows: vec![
                "committed z=0".into(),
                "committed z=1".into(),
                "regular z=0".into(),
                "regular z=1".into(),
            ],
            cols: vec!["L".into(), "R".into()],
            values: heat,
        },
    ));

    // Long horizon: committed Q near the committed fixed point.
    let env5 = Corridor::new(5)?;
    let target = closed_form_q();
    let ids: Vec<u64> = (0..long_seeds).collect();
    let final_q: Vec<QTable> = ctx.map_cells("long-run", &ids, |_, rng| {
        Ok(run(
            &env5,
            Behaviour::Committed,
            long_horizon,
            &[long_horizon],
            rng,
        )?
        .q)
    })?;
    let errs: Vec<f64> = final_q.iter().map(|q| q.max_abs_diff(&target)).collect();
    let within = Estimate::proportion_of(errs.iter().map(|&e| e < 0.1))?;
    let mut sorted = errs.clone();
    sorted.sort_by(f64::total_cmp);
    let mut lt = Table::new(
        "Committed Q at T = 2·10⁵ (k = 5) vs the committed fixed point",
        &[
            "seeds",
            "fraction with max|Q − Q_fp| < 0.1",
            "median max|Q − Q_fp|",
            "90th percentile",
        ],
    );
    lt.push(vec![
        (long_seeds as usize).into(),
        within.value.into(),
        sorted[sorted.len() / 2].into(),
        sorted[(sorted.len() * 9) / 10].into(),
    ]);
    out.tables.push(lt);
    // The long-horizon error is not noise: at the final step size the committed one-step
    // updates follow a deterministic saw-tooth around the fixed point.
    let alpha_t = QLearningParams::committed(long_horizon)
        .check()?
        .alpha()
        .at(long_horizon);
    let (orbit0, orbit1) = sawtooth(5, alpha_t);
    let mean_q = |z: usize, u: usize| {
        final_q.iter().map(|q| q.get(z, u)).sum::<f64>() / final_q.len() as f64
    };
    let mut saw = Table::new(
        SAW_TABLE,
        &[
            "entry",
            "fixed point",
            "saw-tooth orbit at α_T",
            "measured mean at T",
        ],
    );
    let orbit = |r: [f64; 2]| format!("{:.4} – {:.4}", r[0], r[1]);
    for (name, z, u, fp, orb) in [
        ("Q(0, L)", 0, LEFT, -1.0, "−1 (terminal)".to_string()),
        ("Q(0, R)", 0, RIGHT, 0.0, orbit(orbit0)),
        (
            "Q(1, L)",
            1,
            LEFT,
            0.0,
            format!("{} (bootstraps on Q(0, R))", orbit(orbit0)),
        ),
        ("Q(1, R)", 1, RIGHT, 1.0, orbit(orbit1)),
    ] {
        saw.push(vec![
            name.into(),
            fp.into(),
            orb.into(),
            mean_q(z, u).into(),
        ]);
    }
    out.tables.push(saw);
    let (e_lo, e_hi) = (sorted[0], sorted[sorted.len() - 1]);
    let q1l = mean_q(1, LEFT);
    let why = format!(
        "the error is deterministic, not seed noise: at α_T = {alpha_t} the one-step committed updates trace a saw-tooth whose offset Q(0, R) ∈ [{:.4}, {:.4}] (≈ α_T(k − 1)) propagates to every entry; Q(1, L), updated only on exploratory entrances, sits at {q1l:.4}, above the orbit — it lags the offset, which was larger when α was (hypothesis for the lag, not measured separately)",
        orbit0[0], orbit0[1]
    );
    out.claims.push(
        Claim::finding_estimate(
            "committed Q is within 0.1 (max norm) of the committed fixed point [[−1, 0], [0, 1]] at T = 2·10⁵, k = 5, in ≥ 95% of seeds",
            within,
            Threshold::AtLeast(0.95),
        )
        .explain_if_failed(Why::evidence(why.clone(), &[SAW_TABLE])),
    );
    out.notes.push(format!(
        "At T = 2·10⁵ the committed error spans {e_lo:.4}–{e_hi:.4} over seeds: {why}."
    ));
    out.notes.push("Metric: Q(z, R) > Q(z, L) strictly in both features (ties are not optimal), as in the authors' code. t counts environment steps across episodes; checkpoints are 20 log-spaced step counts from 10 to T.".into());
    if regular_rr && regular_story {
        out.notes.push("Regular Q-learning's expected update is self-consistent at (R, R) as well as at (L, L) for every k (exact tools table): both fixed points exist, and regular Q-learning's failure is which one its early, exploration-driven dynamics reach. A hypothesis for why, not measured here: visits to feature 1 under (L, L) concentrate at x = 1, where R bootstraps on the pessimistic Q(1, ·), so R rarely looks better; committed Q-learning has no self-consistent point at (L, L) because a committed R from x = 1 always reaches the goal.".into());
    }
    out.notes.push("Each run has its own random stream, derived from the master seed and the path (k, T, behaviour, run), so the numbers do not depend on the thread count.".into());
    Ok(out)
}
