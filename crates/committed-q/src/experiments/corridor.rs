use super::{BoxError, PAPER};
use crate::exact::{behaviour_fixed_point, optimal_reactive_policy, q_star_realizability};
use crate::{Behaviour, Corridor, QLearner, QLearningParams, QTable, LEFT, RIGHT};
use core_linalg::{bootstrap_mean_ci, stream_rng};
use rayon::prelude::*;
use repro::{Claim, Outcome, Plot, PlotKind, RunContext, Series, Table, Threshold};

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

fn run(
    env: &Corridor,
    b: Behaviour,
    horizon: u64,
    checkpoints: &[u64],
    seed: u64,
    stream: u64,
) -> Run {
    let mut rng = stream_rng(seed, stream);
    let params = QLearningParams::new(b, horizon)
        .check()
        .expect("the authors' defaults are valid");
    let mut agent = QLearner::new(env, params, &mut rng);
    let mut optimal_at = Vec::with_capacity(checkpoints.len());
    for &c in checkpoints {
        agent.run(c - agent.steps(), &mut rng);
        optimal_at.push(agent.q().strictly_prefers(&[RIGHT, RIGHT]));
    }
    Run {
        optimal_at,
        q: agent.q().clone(),
    }
}

fn closed_form_q() -> QTable {
    QTable::from_rows(&[vec![-1.0, 0.0], vec![0.0, 1.0]]).expect("valid table")
}

/// Experiment 1: the corridor.
pub fn corridor(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = Outcome::new(
        PAPER,
        "corridor",
        "The corridor: committed vs regular Q-learning",
        ctx.profile,
        ctx.seed,
    );
    let ks = [2usize, 3, 5, 10];
    let horizons = [1_000u64, 10_000];
    let seeds = ctx.profile.pick(300u64, 1000);
    let long_seeds = ctx.profile.pick(100u64, 1000);
    let long_horizon = 200_000u64;
    let n_checkpoints = 20;
    let boot = 2000;
    out.param("k", serde_json::json!(ks))
        .param("horizons", serde_json::json!(horizons))
        .param("seeds", seeds)
        .param("long_horizon", long_horizon)
        .param("long_horizon_seeds", long_seeds)
        .param("alpha", "0.1 → 0.01 at T (c0·cb/(cb+t))")
        .param("epsilon", "0.1 → 0.01 at T")
        .param("q_init", "0.1·N(0,1)")
        .param("bootstrap_resamples", boot);

    // Exact tools against the closed forms.
    let mut exact = Table::new(
        "Exact tools on the corridor (closed forms: optimal (R, R) with return 0; committed fixed point [[−1, 0], [0, 1]]; q*(x, R) = x)",
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
        regular_story &= reg_ll.self_consistent && !com_ll.self_consistent;
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
    out.claims.push(Claim::check(
        "the optimal reactive policy by enumeration is (R, R) for every k (number of k where it is not)",
        policy_wrong as f64,
        Threshold::AtMost(0.0),
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
    out.claims.push(
        Claim::finding(
            "regular Q-learning's expected update (ε = 0.01) has a self-consistent bad fixed point at (L, L), and committed Q-learning's has none there, for every k (1 = yes)",
            f64::from(u8::from(regular_story)),
            Threshold::AtLeast(1.0),
        )
        .explain_if_failed("the bad fixed point of regular Q-learning described in the paper notes was not found by the exact tool at this ε"),
    );

    // Learning: fraction optimal over k, T, behaviour.
    let behaviours = [Behaviour::Committed, Behaviour::Regular];
    let cells: Vec<(usize, usize, usize)> = (0..ks.len())
        .flat_map(|ki| (0..horizons.len()).flat_map(move |ti| (0..2).map(move |bi| (ki, ti, bi))))
        .collect();
    let bar = ctx.progress(cells.len() as u64, "committed-q corridor");
    let results: Vec<Vec<Run>> = cells
        .iter()
        .map(|&(ki, ti, bi)| {
            let env = Corridor::new(ks[ki]).expect("k ≥ 1");
            let cps = log_checkpoints(horizons[ti], n_checkpoints);
            let runs = (0..seeds)
                .into_par_iter()
                .map(|s| {
                    let stream = (((ki * 2 + ti) * 2 + bi) as u64) * 1_000_000 + s;
                    run(&env, behaviours[bi], horizons[ti], &cps, ctx.seed, stream)
                })
                .collect();
            bar.inc(1);
            runs
        })
        .collect();
    bar.finish();
    let frac = |runs: &[Run], i: usize| {
        runs.iter().filter(|r| r.optimal_at[i]).count() as f64 / runs.len() as f64
    };
    let mut table = Table::new(
        "Fraction of runs whose greedy policy is optimal at T (strict comparison), with 95% bootstrap intervals",
        &["k", "T", "committed", "committed 95% CI", "regular", "regular 95% CI"],
    );
    let (mut committed_min, mut regular_max_k5) = (1.0f64, 0.0f64);
    let mut curves = Vec::new();
    let mut boot_rng = stream_rng(ctx.seed, 900_000_000);
    for (ki, &k) in ks.iter().enumerate() {
        for (ti, &t) in horizons.iter().enumerate() {
            let mut row: Vec<repro::Cell> = vec![k.into(), (t as usize).into()];
            for bi in 0..2 {
                let runs = &results[(ki * 2 + ti) * 2 + bi];
                let last = runs[0].optimal_at.len() - 1;
                let f = frac(runs, last);
                let data: Vec<f64> = runs
                    .iter()
                    .map(|r| f64::from(u8::from(r.optimal_at[last])))
                    .collect();
                let (lo, hi) = bootstrap_mean_ci(&data, boot, 0.95, &mut boot_rng)?;
                row.push(f.into());
                row.push(format!("[{lo:.3}, {hi:.3}]").into());
                if bi == 0 {
                    committed_min = committed_min.min(f);
                } else if k >= 5 {
                    regular_max_k5 = regular_max_k5.max(f);
                }
                if ti == horizons.len() - 1 {
                    let cps = log_checkpoints(t, n_checkpoints);
                    curves.push(Series::new(
                        format!("{} k={k}", behaviours[bi].name()),
                        cps.iter().map(|&c| c as f64).collect(),
                        (0..cps.len()).map(|i| frac(runs, i)).collect(),
                    ));
                }
            }
            table.push(row);
        }
    }
    out.tables.push(table);
    out.claims.push(
        Claim::finding(
            "committed Q-learning's greedy policy is optimal in ≥ 99% of runs for every k ≤ 10 and T ∈ {10³, 10⁴} (minimum over cells)",
            committed_min,
            Threshold::AtLeast(0.99),
        )
        .explain_if_failed("see the table: the cells below 0.99 are the short horizons of the longest corridors, where ε-greedy exploration has not yet reached the goal often enough"),
    );
    out.claims.push(
        Claim::finding(
            "regular Q-learning's greedy policy is optimal in ≤ 20% of runs for k ≥ 5 (maximum over cells)",
            regular_max_k5,
            Threshold::AtMost(0.2),
        )
        .explain_if_failed("regular Q-learning escaped its (L, L) fixed point more often than the paper notes report"),
    );
    out.plots.push(
        Plot::new(
            "fraction-optimal",
            "Fraction of runs with an optimal greedy policy vs steps (T = 10⁴)",
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
        let runs = &results[(ki5 * 2 + 1) * 2 + bi];
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
    let errs: Vec<f64> = (0..long_seeds)
        .into_par_iter()
        .map(|s| {
            run(
                &env5,
                Behaviour::Committed,
                long_horizon,
                &[long_horizon],
                ctx.seed,
                500_000_000 + s,
            )
            .q
            .max_abs_diff(&target)
        })
        .collect();
    let within = errs.iter().filter(|&&e| e < 0.1).count() as f64 / errs.len() as f64;
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
        within.into(),
        sorted[sorted.len() / 2].into(),
        sorted[(sorted.len() * 9) / 10].into(),
    ]);
    out.tables.push(lt);
    out.claims.push(
        Claim::finding(
            "committed Q is within 0.1 (max norm) of the committed fixed point [[−1, 0], [0, 1]] at T = 2·10⁵, k = 5, in ≥ 95% of seeds",
            within,
            Threshold::AtLeast(0.95),
        )
        .explain_if_failed("the rarely explored entries (Q(0, L), Q(1, L)) are updated only on exploratory draws at a feature entrance; with ε decaying to 0.01 some seeds have not averaged their noise below 0.1"),
    );
    out.notes.push("Metric: Q(z, R) > Q(z, L) strictly in both features (ties are not optimal), as in the authors' code. t counts environment steps across episodes; checkpoints are 20 log-spaced step counts from 10 to T.".into());
    out.notes.push("Regular Q-learning's expected update is also self-consistent at (R, R) (table above): both fixed points exist, and regular Q-learning's failure is which one its early, exploration-driven dynamics reach. Visits to feature 1 under (L, L) concentrate at x = 1, where R bootstraps on the pessimistic Q(1, ·), so R rarely looks better; committed Q-learning has no self-consistent point at (L, L) because a committed R from x = 1 always reaches the goal.".into());
    out.notes.push("Each run has its own ChaCha8 stream (seed, cell, run index), so the numbers do not depend on the thread count.".into());
    Ok(out)
}
