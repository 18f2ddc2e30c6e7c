//! Exact tools beside the learners, for small tabular environments: policy evaluation, the
//! optimal reactive policy by enumeration, state-based `q*` and `q*`-realizability, and the fixed
//! point of the expected Q-learning update under a committed or regular behaviour.
//!
//! All values are undiscounted episode returns, defined for *proper* policies (those that end the
//! episode with probability one from every state they reach); improper policies are reported as
//! such ([`CommittedQError::ImproperPolicy`]) and skipped by the enumeration.

use crate::agent::Behaviour;
use crate::{CommittedQError, Environment, Result, TabularEnv};
use core_linalg::{check_probability_vector, STOCHASTIC_TOL};
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

/// A reactive (memoryless, feature-based) policy `π(u | z)`, possibly stochastic.
#[derive(Debug, Clone, PartialEq)]
pub struct ReactivePolicy {
    n_features: usize,
    n_actions: usize,
    probs: Vec<f64>,
}

impl ReactivePolicy {
    /// The deterministic policy taking `actions[z]` at feature `z`.
    pub fn deterministic(actions: &[usize], n_actions: usize) -> Result<Self> {
        if actions.is_empty() {
            return Err(CommittedQError::Empty { what: "policy" });
        }
        let mut probs = vec![0.0; actions.len() * n_actions];
        for (z, &a) in actions.iter().enumerate() {
            if a >= n_actions {
                return Err(CommittedQError::ActionOutOfRange {
                    action: a,
                    n_actions,
                });
            }
            probs[z * n_actions + a] = 1.0;
        }
        Ok(Self {
            n_features: actions.len(),
            n_actions,
            probs,
        })
    }

    /// A stochastic policy from rows `π(· | z)`; each must be a probability vector.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self> {
        let n_actions = rows.first().map_or(0, Vec::len);
        if rows.is_empty() || n_actions == 0 {
            return Err(CommittedQError::Empty { what: "policy" });
        }
        let mut probs = Vec::with_capacity(rows.len() * n_actions);
        for (z, r) in rows.iter().enumerate() {
            if r.len() != n_actions {
                return Err(CommittedQError::Shape {
                    what: "policy row length",
                    expected: n_actions,
                    got: r.len(),
                });
            }
            check_probability_vector(r, STOCHASTIC_TOL).map_err(|source| {
                CommittedQError::Probability {
                    what: format!("policy row of feature {z}"),
                    source,
                }
            })?;
            probs.extend_from_slice(r);
        }
        Ok(Self {
            n_features: rows.len(),
            n_actions,
            probs,
        })
    }

    /// `π(u | z)`.
    pub fn prob(&self, z: usize, u: usize) -> f64 {
        self.probs[z * self.n_actions + u]
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }
}

/// The value of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyValue {
    /// `v(x)` for every state reachable from the start distribution; `None` elsewhere.
    pub state_values: Vec<Option<f64>>,
    /// The expected return from the start distribution, `Σ_x ρ₀(x) v(x)`.
    pub value: f64,
}

/// An absorbing Markov chain: `rows[i]` lists `(j, P(i → j))`; the missing mass ends the episode.
struct Chain {
    rows: Vec<Vec<(usize, f64)>>,
}

impl Chain {
    fn reachable(&self, init: &[f64]) -> Vec<bool> {
        let mut seen: Vec<bool> = init.iter().map(|&p| p > 0.0).collect();
        let mut stack: Vec<usize> = (0..seen.len()).filter(|&i| seen[i]).collect();
        while let Some(i) = stack.pop() {
            for &(j, p) in &self.rows[i] {
                if p > 0.0 && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        seen
    }

    /// Fails with the first reachable state from which termination cannot be reached.
    fn check_proper(&self, reach: &[bool]) -> std::result::Result<(), usize> {
        let n = self.rows.len();
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut ok = vec![false; n];
        let mut stack = Vec::new();
        for i in (0..n).filter(|&i| reach[i]) {
            let mass: f64 = self.rows[i].iter().map(|&(_, p)| p).sum();
            if mass < 1.0 - 1e-12 {
                ok[i] = true;
                stack.push(i);
            }
            for &(j, p) in &self.rows[i] {
                if p > 0.0 {
                    pred[j].push(i);
                }
            }
        }
        while let Some(j) = stack.pop() {
            for &i in &pred[j] {
                if !ok[i] {
                    ok[i] = true;
                    stack.push(i);
                }
            }
        }
        match (0..n).find(|&i| reach[i] && !ok[i]) {
            Some(i) => Err(i),
            None => Ok(()),
        }
    }

    /// `I − P` restricted to the reachable states, with the index map.
    fn system(&self, reach: &[bool], transpose: bool) -> (DMatrix<f64>, Vec<usize>, Vec<usize>) {
        let idx: Vec<usize> = (0..reach.len()).filter(|&i| reach[i]).collect();
        let mut pos = vec![usize::MAX; reach.len()];
        for (k, &i) in idx.iter().enumerate() {
            pos[i] = k;
        }
        let m = idx.len();
        let mut a = DMatrix::identity(m, m);
        for (k, &i) in idx.iter().enumerate() {
            for &(j, p) in &self.rows[i] {
                // Zero-probability branches may lead to states nothing else reaches (which
                // then have no position): they contribute nothing.
                if p == 0.0 {
                    continue;
                }
                let l = pos[j];
                if transpose {
                    a[(l, k)] -= p;
                } else {
                    a[(k, l)] -= p;
                }
            }
        }
        (a, idx, pos)
    }

    /// Expected total reward from each reachable state: `(I − P) v = r`.
    fn values(&self, reward: &[f64], init: &[f64]) -> Result<Vec<Option<f64>>> {
        let reach = self.reachable(init);
        self.check_proper(&reach)
            .map_err(|state| CommittedQError::ImproperPolicy { state })?;
        let (a, idx, _) = self.system(&reach, false);
        let b = DVector::from_iterator(idx.len(), idx.iter().map(|&i| reward[i]));
        let v = a.lu().solve(&b).ok_or(CommittedQError::ImproperPolicy {
            state: idx.first().copied().unwrap_or(0),
        })?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(CommittedQError::IllConditioned {
                what: "policy evaluation",
            });
        }
        let mut out = vec![None; reach.len()];
        for (k, &i) in idx.iter().enumerate() {
            out[i] = Some(v[k]);
        }
        Ok(out)
    }

    /// Expected number of visits to each state per episode: `d = init + Pᵀ d`.
    fn occupancy(&self, init: &[f64]) -> Result<Vec<f64>> {
        let reach = self.reachable(init);
        self.check_proper(&reach)
            .map_err(|state| CommittedQError::ImproperPolicy { state })?;
        let (a, idx, _) = self.system(&reach, true);
        let b = DVector::from_iterator(idx.len(), idx.iter().map(|&i| init[i]));
        let d = a.lu().solve(&b).ok_or(CommittedQError::ImproperPolicy {
            state: idx.first().copied().unwrap_or(0),
        })?;
        // Visit counts are at least the start mass; a non-finite or negative one is a
        // numerically singular solve.
        if d.iter()
            .zip(&idx)
            .any(|(x, &i)| !x.is_finite() || *x < init[i] * 0.5)
        {
            return Err(CommittedQError::IllConditioned {
                what: "expected visit counts",
            });
        }
        let mut out = vec![0.0; reach.len()];
        for (k, &i) in idx.iter().enumerate() {
            out[i] = d[k];
        }
        Ok(out)
    }
}

fn check_policy_shape(env: &TabularEnv, n_features: usize, n_actions: usize) -> Result<()> {
    if n_features != env.n_features() {
        return Err(CommittedQError::Shape {
            what: "policy features vs environment features",
            expected: env.n_features(),
            got: n_features,
        });
    }
    if n_actions != env.n_actions() {
        return Err(CommittedQError::Shape {
            what: "policy actions vs environment actions",
            expected: env.n_actions(),
            got: n_actions,
        });
    }
    Ok(())
}

/// The exact value of a reactive policy (by a linear solve over the states it reaches).
pub fn evaluate_policy(env: &TabularEnv, policy: &ReactivePolicy) -> Result<PolicyValue> {
    check_policy_shape(env, policy.n_features(), policy.n_actions())?;
    let n = env.n_states();
    let mut rows = Vec::with_capacity(n);
    let mut reward = vec![0.0; n];
    for (x, r) in reward.iter_mut().enumerate() {
        let z = env.feature(x);
        let mut row: Vec<(usize, f64)> = Vec::new();
        for u in 0..env.n_actions() {
            let pu = policy.prob(z, u);
            if pu == 0.0 {
                continue;
            }
            *r += pu * env.expected_reward(x, u);
            for b in env.branches(x, u) {
                if let Some(x2) = b.next {
                    row.push((x2, pu * b.prob));
                }
            }
        }
        rows.push(row);
    }
    let state_values = Chain { rows }.values(&reward, env.initial())?;
    let value = env
        .initial()
        .iter()
        .zip(&state_values)
        .map(|(&p, v)| if p > 0.0 { p * v.unwrap_or(0.0) } else { 0.0 })
        .sum();
    Ok(PolicyValue {
        state_values,
        value,
    })
}

/// The most deterministic reactive policies [`optimal_reactive_policy`] enumerates.
pub const ENUMERATION_LIMIT: u64 = 1 << 20;

/// The `index`-th deterministic reactive policy (the base-`n_actions` digits of `index`,
/// feature 0 first). Errors when `n_actions` is 0 (there is no policy), when `index` is not
/// below `n_actions^n_features`, or when the policy cannot be allocated.
pub fn policy_from_index(index: u64, n_features: usize, n_actions: usize) -> Result<Vec<usize>> {
    if n_actions == 0 {
        return Err(CommittedQError::Empty { what: "action set" });
    }
    // index < n_actions^n_features (when that power fits in u64): a larger index would be
    // silently reduced modulo the policy count.
    if let Some(count) = u32::try_from(n_features)
        .ok()
        .and_then(|f| (n_actions as u64).checked_pow(f))
    {
        if index >= count {
            return Err(CommittedQError::Parameter {
                name: "index",
                value: index as f64,
                reason: "must be below n_actions^n_features, the number of policies",
            });
        }
    }
    let mut out = Vec::new();
    out.try_reserve_exact(n_features)
        .map_err(|_| CommittedQError::Parameter {
            name: "n_features",
            value: n_features as f64,
            reason: "too many features to allocate a policy",
        })?;
    let mut c = index;
    out.extend((0..n_features).map(|_| {
        let a = (c % n_actions as u64) as usize;
        c /= n_actions as u64;
        a
    }));
    Ok(out)
}

/// The best deterministic reactive policy, found by enumeration.
#[derive(Debug, Clone, PartialEq)]
pub struct ReactiveOptimum {
    /// The optimal action of each feature (the lowest-index policy among exact ties).
    pub policy: Vec<usize>,
    /// Its value from the start distribution.
    pub value: f64,
    /// The best value of a strictly worse policy (more than `1e-9` below), if any.
    pub runner_up: Option<f64>,
    /// How many policies were proper.
    pub proper: u64,
    /// How many were enumerated.
    pub enumerated: u64,
}

/// The optimal deterministic reactive policy by exact evaluation of all
/// `n_actions^n_features` of them (in parallel); improper ones are skipped.
/// Errors beyond [`ENUMERATION_LIMIT`] policies or when none is proper.
pub fn optimal_reactive_policy(env: &TabularEnv) -> Result<ReactiveOptimum> {
    let (f, a) = (env.n_features(), env.n_actions());
    // A feature count past u32 is far past the limit (no truncating cast).
    let f_exp = u32::try_from(f).unwrap_or(u32::MAX);
    let count = (a as u64)
        .checked_pow(f_exp)
        .filter(|&c| c <= ENUMERATION_LIMIT)
        .ok_or(CommittedQError::TooManyPolicies {
            count: (a as u64).saturating_pow(f_exp),
            limit: ENUMERATION_LIMIT,
        })?;
    let values: Vec<Option<f64>> = (0..count)
        .into_par_iter()
        .map(|i| {
            let p = ReactivePolicy::deterministic(&policy_from_index(i, f, a)?, a)?;
            match evaluate_policy(env, &p) {
                Ok(v) => Ok(Some(v.value)),
                Err(CommittedQError::ImproperPolicy { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .collect::<Result<_>>()?;
    let mut best: Option<(u64, f64)> = None;
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = *v {
            if best.is_none_or(|(_, b)| v > b + 1e-12 * (1.0 + b.abs())) {
                best = Some((i as u64, v));
            }
        }
    }
    let (i, value) = best.ok_or(CommittedQError::NoProperPolicy)?;
    let runner_up = values
        .iter()
        .flatten()
        .copied()
        .filter(|&v| v < value - 1e-9 * (1.0 + value.abs()))
        .fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |m| m.max(v)))
        });
    Ok(ReactiveOptimum {
        policy: policy_from_index(i, f, a)?,
        value,
        runner_up,
        proper: values.iter().flatten().count() as u64,
        enumerated: count,
    })
}

/// The optimal state-action values `q*(x, u)` of the underlying MDP (the agent's features
/// ignored), by value iteration to `1e-12`; a states × actions matrix.
pub fn optimal_state_q(env: &TabularEnv) -> Result<DMatrix<f64>> {
    let (n, a) = (env.n_states(), env.n_actions());
    let mut v = vec![0.0; n];
    let mut q = DMatrix::<f64>::zeros(n, a);
    const MAX_ITER: usize = 1_000_000;
    let mut residual = f64::INFINITY;
    for _ in 0..MAX_ITER {
        for x in 0..n {
            for u in 0..a {
                q[(x, u)] = env
                    .branches(x, u)
                    .iter()
                    .map(|b| b.prob * (b.reward + b.next.map_or(0.0, |x2| v[x2])))
                    .sum();
            }
        }
        residual = 0.0;
        for (x, vx) in v.iter_mut().enumerate() {
            let new: f64 = q.row(x).max();
            residual = f64::max(residual, (new - *vx).abs());
            *vx = new;
        }
        if residual <= 1e-12 * (1.0 + v.iter().fold(0.0f64, |m, x| m.max(x.abs()))) {
            return Ok(q);
        }
    }
    Err(CommittedQError::NotConverged {
        what: "value iteration for q*",
        iterations: MAX_ITER,
        residual,
    })
}

/// How far `q*` is from being a function of the feature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Realizability {
    /// `max_{z,u} (max − min)` of `q*(x, u)` over the reachable states `x` of feature `z`.
    pub max_spread: f64,
    /// The `(feature, action)` where the spread is largest.
    pub worst: (usize, usize),
    /// `max_spread ≤ tol`.
    pub realizable: bool,
}

/// Checks `q*`-realizability: whether `q*(x, u)` is constant on each feature, over the states
/// reachable from the start under some sequence of actions.
pub fn q_star_realizability(env: &TabularEnv, tol: f64) -> Result<Realizability> {
    let q = optimal_state_q(env)?;
    let rows = (0..env.n_states())
        .map(|x| {
            (0..env.n_actions())
                .flat_map(|u| env.branches(x, u).iter().filter_map(|b| b.next))
                .map(|x2| (x2, 1.0))
                .collect()
        })
        .collect();
    let reach = Chain { rows }.reachable(env.initial());
    let mut out = Realizability {
        max_spread: 0.0,
        worst: (0, 0),
        realizable: true,
    };
    for z in 0..env.n_features() {
        for u in 0..env.n_actions() {
            let (lo, hi) = env
                .states_of(z)
                .filter(|&x| reach[x])
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                    (lo.min(q[(x, u)]), hi.max(q[(x, u)]))
                });
            if hi - lo > out.max_spread {
                out.max_spread = hi - lo;
                out.worst = (z, u);
            }
        }
    }
    out.realizable = out.max_spread <= tol;
    Ok(out)
}

/// The fixed point of the expected Q-learning update under a behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedPoint {
    /// `Q(z, u)` (features × actions); NaN where the behaviour never takes `u` at `z`.
    pub q: DMatrix<f64>,
    /// Whether the behaviour takes `u` at `z` (`W(z, u) > 0`).
    pub visited: DMatrix<bool>,
    /// The greedy action of each feature (the first maximiser among visited actions; the given
    /// policy's action at features never visited).
    pub greedy: Vec<usize>,
    /// Whether the given policy's action is a maximiser (to `1e-9`) at every visited feature:
    /// the learner, acting ε-greedily on this `Q`, would keep behaving as assumed.
    pub self_consistent: bool,
    /// `max |Q − F(Q)|` over visited pairs, the Bellman residual of the result.
    pub residual: f64,
}

/// The fixed point `Q = F(Q)` of the expected Q-learning update when the agent behaves
/// ε-greedily around the deterministic reactive `policy`, drawing actions as `behaviour` says.
///
/// With `d(x, u)` the expected visits per episode of the behaviour's Markov chain on
/// (state, current action), the expected update vanishes where
/// `Q(z, u) = Σ_{x∈z} d(x, u) [r̄(x, u) + Σ_{x′} P(x′ | x, u) max_{u′} Q(φ(x′), u′)] / Σ_{x∈z} d(x, u)`:
/// the Bellman optimality equation of an aggregated MDP over features, solved here by value
/// iteration and polished by one exact policy-evaluation solve. Errors on `ε ∉ (0, 1]`, a policy
/// of the wrong shape, or a behaviour that does not end its episodes.
pub fn behaviour_fixed_point(
    env: &TabularEnv,
    behaviour: Behaviour,
    policy: &[usize],
    epsilon: f64,
) -> Result<FixedPoint> {
    let (n, f, a) = (env.n_states(), env.n_features(), env.n_actions());
    check_policy_shape(env, policy.len(), a)?;
    if let Some(&bad) = policy.iter().find(|&&u| u >= a) {
        return Err(CommittedQError::ActionOutOfRange {
            action: bad,
            n_actions: a,
        });
    }
    if !(epsilon > 0.0 && epsilon <= 1.0) {
        return Err(CommittedQError::Parameter {
            name: "epsilon",
            value: epsilon,
            reason: "exploration must lie in (0, 1] so every action is tried",
        });
    }
    let mu =
        |z: usize, u: usize| epsilon / a as f64 + if u == policy[z] { 1.0 - epsilon } else { 0.0 };
    // The behaviour's chain on (state, current action), index x·a + u.
    let mut rows = Vec::with_capacity(n * a);
    for x in 0..n {
        let z = env.feature(x);
        for u in 0..a {
            let mut row = Vec::new();
            for b in env.branches(x, u) {
                if let Some(x2) = b.next {
                    let z2 = env.feature(x2);
                    if behaviour == Behaviour::Committed && z2 == z {
                        row.push((x2 * a + u, b.prob));
                    } else {
                        row.extend((0..a).map(|u2| (x2 * a + u2, b.prob * mu(z2, u2))));
                    }
                }
            }
            rows.push(row);
        }
    }
    let init: Vec<f64> = (0..n * a)
        .map(|i| env.initial()[i / a] * mu(env.feature(i / a), i % a))
        .collect();
    let d = Chain { rows }.occupancy(&init)?;
    // The aggregated MDP: r̃(z, u) and P̃(z′ | z, u).
    let mut w = DMatrix::<f64>::zeros(f, a);
    let mut r = DMatrix::<f64>::zeros(f, a);
    let mut p = vec![vec![0.0; f]; f * a];
    for x in 0..n {
        let z = env.feature(x);
        for u in 0..a {
            let dx = d[x * a + u];
            if dx <= 0.0 {
                continue;
            }
            w[(z, u)] += dx;
            r[(z, u)] += dx * env.expected_reward(x, u);
            for b in env.branches(x, u) {
                if let Some(x2) = b.next {
                    p[z * a + u][env.feature(x2)] += dx * b.prob;
                }
            }
        }
    }
    let visited = w.map(|v| v > 0.0);
    for z in 0..f {
        for u in 0..a {
            if visited[(z, u)] {
                r[(z, u)] /= w[(z, u)];
                p[z * a + u].iter_mut().for_each(|v| *v /= w[(z, u)]);
            }
        }
    }
    let vmax = |q: &DMatrix<f64>, z: usize| {
        (0..a)
            .filter(|&u| visited[(z, u)])
            .map(|u| q[(z, u)])
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let apply = |q: &DMatrix<f64>| {
        let v: Vec<f64> = (0..f).map(|z| vmax(q, z)).collect();
        DMatrix::from_fn(f, a, |z, u| {
            if !visited[(z, u)] {
                return f64::NAN;
            }
            r[(z, u)]
                + p[z * a + u]
                    .iter()
                    .zip(&v)
                    .filter(|(&pz, _)| pz > 0.0)
                    .map(|(&pz, &vz)| pz * vz)
                    .sum::<f64>()
        })
    };
    let residual_of = |q: &DMatrix<f64>| {
        let fq = apply(q);
        (0..f * a)
            .filter(|&i| visited[(i % f, i / f)])
            .map(|i| (fq[i] - q[i]).abs())
            .fold(0.0, f64::max)
    };
    let mut q = DMatrix::from_fn(f, a, |z, u| if visited[(z, u)] { 0.0 } else { f64::NAN });
    const MAX_ITER: usize = 1_000_000;
    let mut converged = false;
    let mut change = f64::INFINITY;
    for _ in 0..MAX_ITER {
        let next = apply(&q);
        change = (0..f * a)
            .filter(|&i| visited[(i % f, i / f)])
            .map(|i| (next[i] - q[i]).abs())
            .fold(0.0, f64::max);
        q = next;
        if change
            <= 1e-13
                * (1.0
                    + q.iter()
                        .filter(|v| v.is_finite())
                        .fold(0.0f64, |m, v| m.max(v.abs())))
        {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(CommittedQError::NotConverged {
            what: "fixed-point iteration",
            iterations: MAX_ITER,
            residual: change,
        });
    }
    let greedy: Vec<usize> = (0..f)
        .map(|z| {
            (0..a)
                .filter(|&u| visited[(z, u)])
                .fold(None, |best: Option<usize>, u| match best {
                    Some(b) if q[(z, b)] >= q[(z, u)] => Some(b),
                    _ => Some(u),
                })
                .unwrap_or(policy[z])
        })
        .collect();
    // Polish: solve Q = r̃ + P̃ Q(·, greedy) exactly.
    let pairs: Vec<usize> = (0..f * a).filter(|&i| visited[(i / a, i % a)]).collect();
    let mut pos = vec![usize::MAX; f * a];
    for (k, &i) in pairs.iter().enumerate() {
        pos[i] = k;
    }
    let m = pairs.len();
    let mut sys = DMatrix::<f64>::identity(m, m);
    let mut rhs = DVector::<f64>::zeros(m);
    for (k, &i) in pairs.iter().enumerate() {
        rhs[k] = r[(i / a, i % a)];
        for (z2, &pz) in p[i].iter().enumerate() {
            let col = pos[z2 * a + greedy[z2]];
            if pz > 0.0 && col != usize::MAX {
                sys[(k, col)] -= pz;
            }
        }
    }
    // (m ≥ 1: the start pairs are visited, d ≥ init > 0.)
    if let Some(sol) = sys.lu().solve(&rhs) {
        let polished = DMatrix::from_fn(f, a, |z, u| {
            let i = z * a + u;
            if visited[(z, u)] {
                sol[pos[i]]
            } else {
                f64::NAN
            }
        });
        if residual_of(&polished) <= residual_of(&q) {
            q = polished;
        }
    }
    let self_consistent = (0..f).all(|z| {
        let v = vmax(&q, z);
        !v.is_finite() || q[(z, policy[z])] >= v - 1e-9 * (1.0 + v.abs())
    });
    let residual = residual_of(&q);
    Ok(FixedPoint {
        q,
        visited,
        greedy,
        self_consistent,
        residual,
    })
}
