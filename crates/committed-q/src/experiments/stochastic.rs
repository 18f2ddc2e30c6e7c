use super::{BoxError, PAPER};
use crate::exact::{evaluate_policy, optimal_reactive_policy, ReactivePolicy};
use crate::generators::singh_jaakkola_jordan;
use crate::{Behaviour, QLearner, QLearningParams};
use core_linalg::stream_rng;
use rayon::prelude::*;
use repro::{Claim, Outcome, Plot, PlotKind, RunContext, Series, Table, Threshold};

/// Experiment 3: the negative control.
pub fn stochastic(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = Outcome::new(
        PAPER,
        "stochastic",
        "Negative control: a Singh–Jaakkola–Jordan-style environment",
        ctx.profile,
        ctx.seed,
    );
    let p = 0.1;
    let seeds = ctx.profile.pick(20u64, 200);
    let horizon = 50_000u64;
    out.param("termination", p)
        .param("seeds", seeds)
        .param("horizon", horizon);
    let env = singh_jaakkola_jordan(p)?;
    let det = optimal_reactive_policy(&env)?;
    let grid: Vec<f64> = (0..=100).map(|j| j as f64 / 100.0).collect();
    let values: Vec<f64> = grid
        .iter()
        .map(|&q| {
            Ok(evaluate_policy(&env, &ReactivePolicy::from_rows(&[vec![q, 1.0 - q]])?)?.value)
        })
        .collect::<Result<_, BoxError>>()?;
    let (best_i, best_stoch) =
        values
            .iter()
            .copied()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, v)| {
                if v > bv {
                    (i, v)
                } else {
                    (bi, bv)
                }
            });
    out.claims.push(Claim::check(
        "every deterministic reactive policy returns 1 − 1/p = −9 (closed form; best by enumeration)",
        det.value - (1.0 - 1.0 / p),
        Threshold::AbsAtMost(1e-9),
    ));
    out.claims.push(Claim::check(
        "the uniform reactive policy returns 0 (closed form)",
        values[50],
        Threshold::AbsAtMost(1e-9),
    ));
    out.claims.push(Claim::check(
        "the best stochastic reactive policy beats the best deterministic one by ≥ 9",
        best_stoch - det.value,
        Threshold::AtLeast(9.0 - 1e-9),
    ));
    let learned: Vec<[f64; 4]> = (0..seeds)
        .into_par_iter()
        .map(|s| {
            let mut row = [0.0; 4];
            for (bi, b) in [Behaviour::Committed, Behaviour::Regular]
                .into_iter()
                .enumerate()
            {
                let mut rng = stream_rng(ctx.seed, 700_000_000 + 2 * s + bi as u64);
                let mut agent =
                    QLearner::new(&env, QLearningParams::new(b, horizon).check()?, &mut rng);
                agent.run(horizon, &mut rng);
                let g = agent.q().greedy_policy();
                row[2 * bi] = evaluate_policy(&env, &ReactivePolicy::deterministic(&g, 2)?)?.value;
                // The behaviour at the end: ε-greedy with ε(T) = 0.01.
                let eps = agent.params().epsilon().at(horizon);
                let mut probs = vec![eps / 2.0; 2];
                probs[g[0]] += 1.0 - eps;
                row[2 * bi + 1] =
                    evaluate_policy(&env, &ReactivePolicy::from_rows(&[probs])?)?.value;
            }
            Ok(row)
        })
        .collect::<Result<_, BoxError>>()?;
    let mean = |i: usize| learned.iter().map(|r| r[i]).sum::<f64>() / learned.len() as f64;
    let mut t = Table::new(
        "Returns from the start (exact evaluation)",
        &["policy", "return", "gap to the best reactive policy"],
    );
    let rows = [
        (
            "best stochastic reactive (grid over π(a₀) in steps of 0.01)",
            best_stoch,
        ),
        ("best deterministic reactive (enumeration)", det.value),
        (
            "committed Q-learning: greedy policy (mean over seeds)",
            mean(0),
        ),
        ("committed Q-learning: ε-greedy behaviour at T", mean(1)),
        ("regular Q-learning: greedy policy", mean(2)),
        ("regular Q-learning: ε-greedy behaviour at T", mean(3)),
    ];
    for (name, v) in rows {
        t.push(vec![name.into(), v.into(), (best_stoch - v).into()]);
    }
    out.tables.push(t);
    out.plots.push(Plot::new(
        "stochastic-policy-value",
        "Return of the reactive policy π(a₀) = q in the Singh–Jaakkola–Jordan-style environment",
        "π(a₀)",
        "return",
        PlotKind::Line(vec![Series::new("exact return", grid.clone(), values)]),
    ));
    out.notes.push(format!(
        "The best reactive policy is stochastic (π(a₀) = {:.2}, return {:.3}); both learners output deterministic greedy policies, so their greedy return is at most the best deterministic one ({:.3}). This is outside the paper's assumption (the environment is not rewire-robust: the feature never changes, so a committed agent keeps one action for the whole episode); nothing is asserted about optimality here.",
        grid[best_i], best_stoch, det.value
    ));
    Ok(out)
}
