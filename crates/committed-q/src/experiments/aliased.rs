use crate::exact::{
    behaviour_fixed_point, evaluate_policy, optimal_reactive_policy, q_star_realizability,
    ReactivePolicy,
};
use crate::generators::{aliased_chains, AliasedChainParams};
use crate::{Behaviour, Environment, QLearner, QLearningParams, TabularEnv};
use core_linalg::Rng;
use repro::{
    BoxError, Claim, Estimate, Outcome, Plot, PlotKind, RunContext, Series, Table, Threshold, Why,
};

const DIAG_TABLE: &str = "Diagnosis at the largest T: committed misses vs the committed fixed point's smallest action gap, and with a smaller final step size";

/// Instances whose best and second-best deterministic reactive policies differ by less than
/// this are redrawn: no finite run can be asked to separate them.
const MIN_GAP: f64 = 0.02;

struct Instance {
    n_features: usize,
    n_actions: usize,
    realizable: bool,
    fp_optimal: bool,
    fp_residual: f64,
    regular_fp_consistent: bool,
    /// Regret of the learned greedy policy at each checkpoint.
    committed_regret: Vec<f64>,
    regular_regret: Vec<f64>,
    redraws: usize,
    /// Smallest action gap of the committed fixed point, `min_z Q(z, π*(z)) − max_{u≠π*(z)} Q(z, u)`.
    fp_gap: f64,
    /// Regret of committed Q-learning at the largest horizon with α decaying to 0.001 instead
    /// of 0.01 (diagnostic).
    small_alpha_regret: f64,
}

fn value_of(env: &TabularEnv, policy: &[usize]) -> Result<f64, BoxError> {
    Ok(evaluate_policy(
        env,
        &ReactivePolicy::deterministic(policy, env.n_actions())?,
    )?
    .value)
}

fn instance(rng: &mut Rng, i: u64, horizons: &[u64]) -> Result<Instance, BoxError> {
    let params = AliasedChainParams {
        n_features: 3 + (i % 4) as usize,
        n_actions: 2 + ((i / 4) % 2) as usize,
        ..AliasedChainParams::default()
    };
    let mut redraws = 0;
    let (env, best) = loop {
        let env = aliased_chains(&params, rng)?;
        let best = optimal_reactive_policy(&env)?;
        if best.runner_up.is_none_or(|r| best.value - r >= MIN_GAP) {
            break (env, best);
        }
        redraws += 1;
    };
    let fp = behaviour_fixed_point(&env, Behaviour::Committed, &best.policy, 0.01)?;
    let fp_value = value_of(&env, &fp.greedy)?;
    let reg = behaviour_fixed_point(&env, Behaviour::Regular, &best.policy, 0.01)?;
    let realizable = q_star_realizability(&env, 1e-9)?.realizable;
    // One run per horizon T, its schedules tuned to T (α, ε: 0.1 → 0.01 at T), as in the
    // authors' code.
    let mut regret = |b: Behaviour| -> Result<Vec<f64>, BoxError> {
        horizons
            .iter()
            .map(|&t| {
                let mut agent = QLearner::new(&env, QLearningParams::new(b, t).check()?, rng);
                agent.run(t, rng);
                Ok(best.value - value_of(&env, &agent.q().greedy_policy())?)
            })
            .collect()
    };
    let committed_regret = regret(Behaviour::Committed)?;
    let regular_regret = regret(Behaviour::Regular)?;
    let fp_gap = (0..env.n_features())
        .map(|z| {
            let a = best.policy[z];
            let other = (0..env.n_actions())
                .filter(|&u| u != a)
                .map(|u| fp.q[(z, u)])
                .fold(f64::NEG_INFINITY, f64::max);
            fp.q[(z, a)] - other
        })
        .fold(f64::INFINITY, f64::min);
    let t_max = *horizons.last().unwrap_or(&1);
    let mut slow = QLearner::new(
        &env,
        QLearningParams::committed(t_max)
            .alpha(0.1, 0.001)
            .check()?,
        rng,
    );
    slow.run(t_max, rng);
    let small_alpha_regret = best.value - value_of(&env, &slow.q().greedy_policy())?;
    Ok(Instance {
        fp_gap,
        small_alpha_regret,
        n_features: params.n_features,
        n_actions: params.n_actions,
        realizable,
        fp_optimal: (best.value - fp_value).abs() <= 1e-9 * (1.0 + best.value.abs()),
        fp_residual: fp.residual,
        regular_fp_consistent: reg.self_consistent,
        committed_regret,
        regular_regret,
        redraws,
    })
}

/// Experiment 2: random single-entrance aliased chains.
pub fn aliased(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out =
        ctx.outcome("Random aliased chains (quasi-Markov, rewire-robust by construction)");
    let n = ctx.profile.pick(64u64, 400);
    let checkpoints: Vec<u64> = ctx.profile.pick(
        vec![10_000, 100_000, 1_000_000],
        vec![10_000, 100_000, 1_000_000, 4_000_000],
    );
    let last = checkpoints.len() - 1;
    let gen = AliasedChainParams::default();
    out.param("instances", n)
        .param("horizons", &checkpoints)
        .param("features", "3..=6 (cycled)")
        .param("actions", "2, 3 (cycled)")
        .param("chain_length", format!("{}..={}", gen.min_len, gen.max_len))
        .param("termination", gen.termination)
        .param("min_policy_gap", MIN_GAP)
        .param("fixed_point_epsilon", 0.01);
    let ids: Vec<u64> = (0..n).collect();
    let inst = ctx.map_cells("instance", &ids, |&i, rng| instance(rng, i, &checkpoints))?;
    let tol = |r: f64| r <= 1e-9;
    let rate = |sel: &[&Instance], f: &dyn Fn(&Instance) -> bool| {
        sel.iter().filter(|x| f(x)).count() as f64 / sel.len().max(1) as f64
    };
    let mut table = Table::new(
        "Per size: how often the learned greedy policy is an optimal reactive policy (exact value within 1e-9)",
        &[
            "features",
            "actions",
            "instances",
            "q*-realizable",
            "committed optimal",
            "regular optimal",
            "committed mean regret",
            "regular mean regret",
            "regular FP self-consistent at π*",
        ],
    );
    for f in 3..=6 {
        for a in 2..=3 {
            let sel: Vec<&Instance> = inst
                .iter()
                .filter(|x| x.n_features == f && x.n_actions == a)
                .collect();
            if sel.is_empty() {
                continue;
            }
            let mean = |g: &dyn Fn(&Instance) -> f64| {
                sel.iter().map(|x| g(x)).sum::<f64>() / sel.len() as f64
            };
            table.push(vec![
                f.into(),
                a.into(),
                sel.len().into(),
                rate(&sel, &|x| x.realizable).into(),
                rate(&sel, &|x| tol(x.committed_regret[last])).into(),
                rate(&sel, &|x| tol(x.regular_regret[last])).into(),
                mean(&|x| x.committed_regret[last]).into(),
                mean(&|x| x.regular_regret[last]).into(),
                rate(&sel, &|x| x.regular_fp_consistent).into(),
            ]);
        }
    }
    out.tables.push(table);
    let all: Vec<&Instance> = inst.iter().collect();
    let committed = Estimate::proportion_of(all.iter().map(|x| tol(x.committed_regret[last])))?;
    let regular = rate(&all, &|x| tol(x.regular_regret[last]));
    let realizable = rate(&all, &|x| x.realizable);
    let mut by_t = Table::new(
        "All instances: fraction whose learned greedy policy is optimal, by horizon T (one run per T, schedules tuned to T)",
        &["T", "committed optimal", "regular optimal", "committed mean regret", "regular mean regret"],
    );
    let mut curves = [Vec::new(), Vec::new()];
    for (c, &t) in checkpoints.iter().enumerate() {
        let rc = rate(&all, &|x| tol(x.committed_regret[c]));
        let rr = rate(&all, &|x| tol(x.regular_regret[c]));
        let mean =
            |g: &dyn Fn(&Instance) -> f64| all.iter().map(|x| g(x)).sum::<f64>() / all.len() as f64;
        by_t.push(vec![
            (t as usize).into(),
            rc.into(),
            rr.into(),
            mean(&|x| x.committed_regret[c]).into(),
            mean(&|x| x.regular_regret[c]).into(),
        ]);
        curves[0].push(Estimate::proportion_of(
            all.iter().map(|x| tol(x.committed_regret[c])),
        )?);
        curves[1].push(Estimate::proportion_of(
            all.iter().map(|x| tol(x.regular_regret[c])),
        )?);
    }
    out.tables.insert(0, by_t);
    let xs: Vec<f64> = checkpoints.iter().map(|&c| c as f64).collect();
    out.plots.push(
        Plot::new(
            "aliased-optimal",
            "Aliased chains: fraction of instances with an optimal greedy policy (95% bands)",
            "horizon T",
            "fraction optimal",
            PlotKind::Line(vec![
                Series::from_estimates("committed", xs.clone(), &curves[0]).styled(0, false),
                Series::from_estimates("regular", xs, &curves[1]).styled(0, true),
            ]),
        )
        .log_axes(true, false),
    );
    out.claims.push(Claim::check_none(
        "the greedy policy of the committed fixed point is an optimal reactive policy on every instance (instances where it is not)",
        inst.iter().filter(|x| !x.fp_optimal).count(),
        inst.len(),
    ));
    out.claims.push(Claim::check(
        "the fixed points solve their Bellman equations (max residual)",
        inst.iter().map(|x| x.fp_residual).fold(0.0, f64::max),
        Threshold::AtMost(1e-9),
    ));
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else {
            v[v.len() / 2]
        }
    };
    let gaps = |ok: bool| {
        median(
            inst.iter()
                .filter(|x| tol(x.committed_regret[last]) == ok)
                .map(|x| x.fp_gap)
                .collect(),
        )
    };
    let mut diag = Table::new(DIAG_TABLE, &["", "value"]);
    diag.push(vec![
        "median smallest action gap of the committed fixed point, instances learned".into(),
        gaps(true).into(),
    ]);
    diag.push(vec![
        "median smallest action gap of the committed fixed point, instances missed".into(),
        gaps(false).into(),
    ]);
    let slow_rate = rate(&all, &|x| tol(x.small_alpha_regret));
    diag.push(vec![
        "committed optimal with α: 0.1 → 0.001 (ε unchanged)".into(),
        slow_rate.into(),
    ]);
    out.tables.push(diag);
    let (gap_ok, gap_miss) = (gaps(true), gaps(false));
    let slow_text = if slow_rate > committed.value {
        format!(
            "with α decaying to 0.001 instead the rate rises to {:.1}%",
            100.0 * slow_rate
        )
    } else {
        format!(
            "with α decaying to 0.001 the rate is {:.1}%, no higher",
            100.0 * slow_rate
        )
    };
    out.claims.push(
        Claim::finding_estimate(
            "committed Q-learning's greedy policy is an optimal reactive policy in ≥ 95% of instances",
            committed.clone(),
            Threshold::AtLeast(0.95),
        )
        .explain_if_failed(Why::evidence(
            format!(
                "not at the authors' schedule (α ends at 0.01): the missed instances' committed fixed points have a median smallest action gap of {gap_miss:.3}, against {gap_ok:.3} for the learned ones. Under commitment Q(z, u) − V(z) = (q̄(z, u) − V(z))/E[N(z, u)], so action gaps shrink by the expected sojourn length, and a step size of 0.01 leaves Q noise of that order. The exact fixed point is optimal on every instance (the check), and {slow_text}"
            ),
            &[DIAG_TABLE],
        )),
    );
    out.notes.push(format!(
        "Overall: committed optimal in {:.1}% of instances, regular in {:.1}%; {:.1}% of the instances are q*-realizable, so the assumption that holds here (single-entrance, quasi-Markov) is weaker than realizability. {} instances were redrawn because their best two policies were within {MIN_GAP} of each other.",
        100.0 * committed.value,
        100.0 * regular,
        100.0 * realizable,
        inst.iter().map(|x| x.redraws).sum::<usize>()
    ));
    out.notes.push(format!("Generator: committed_q::generators::aliased_chains — each feature is a chain of {}–{} states entered only at its first state; rewards U(−1, 1) per (state, action); advance probability U(0.2, 0.9) per (state, action); exits to one of two random other features; every step ends the episode with probability {}. The optimal reactive policy is found by enumerating all deterministic reactive policies and evaluating each exactly.", gen.min_len, gen.max_len, gen.termination));
    Ok(out)
}
