use crate::exact::{evaluate_policy, optimal_reactive_policy, ReactivePolicy};
use crate::generators::singh_jaakkola_jordan;
use crate::{Behaviour, QLearner, QLearningParams};
use repro::{BoxError, Claim, Outcome, Plot, PlotKind, RunContext, Series, Table, Threshold};

/// Experiment 3: the negative control.
pub fn stochastic(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome("Negative control: a Singh–Jaakkola–Jordan-style environment");
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
    let behaviours = [Behaviour::Committed, Behaviour::Regular];
    let runs: Vec<(u64, usize)> = (0..seeds)
        .flat_map(|s| (0..2).map(move |b| (s, b)))
        .collect();
    let flat: Vec<[f64; 3]> = ctx.map_cells("run", &runs, |&(_, bi), rng| {
        let mut agent = QLearner::new(
            &env,
            QLearningParams::new(behaviours[bi], horizon).check()?,
            rng,
        );
        agent.run(horizon, rng);
        let g = agent.q().greedy_policy();
        let greedy = evaluate_policy(&env, &ReactivePolicy::deterministic(&g, 2)?)?.value;
        // The behaviour at the end: ε-greedy with ε(T) = 0.01.
        let eps = agent.params().epsilon().at(horizon);
        let mut probs = vec![eps / 2.0; 2];
        probs[g[0]] += 1.0 - eps;
        let behaviour = evaluate_policy(&env, &ReactivePolicy::from_rows(&[probs])?)?.value;
        Ok([greedy, behaviour, if g[0] == 0 { 1.0 } else { 0.0 }])
    })?;
    let picks_a0 =
        |bi: usize| flat.iter().skip(bi).step_by(2).map(|r| r[2]).sum::<f64>() / seeds as f64;
    let learned: Vec<[f64; 4]> = flat
        .chunks(2)
        .map(|c| [c[0][0], c[0][1], c[1][0], c[1][1]])
        .collect();
    let mean = |i: usize| learned.iter().map(|r| r[i]).sum::<f64>() / learned.len() as f64;
    let mut t = Table::deterministic(
        "Returns from the start (exact evaluation; every deterministic policy returns the same here, so the learned rows do not depend on which action was learned)",
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
    let mut picks = Table::new(
        "Which action the learned greedy policy commits to (fraction of runs choosing a₀)",
        &["learner", "fraction a₀"],
    );
    picks.push(vec!["committed Q-learning".into(), picks_a0(0).into()]);
    picks.push(vec!["regular Q-learning".into(), picks_a0(1).into()]);
    out.tables.push(picks);
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
