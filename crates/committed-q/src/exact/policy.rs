//! Reactive policies: exact evaluation and the optimum by enumeration.

use super::chain::Chain;
use crate::{CommittedQError, Environment, Result, TabularEnv};
use core_linalg::{check_probability_vector, STOCHASTIC_TOL};
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

pub(crate) fn check_policy_shape(
    env: &TabularEnv,
    n_features: usize,
    n_actions: usize,
) -> Result<()> {
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

/// The features a deterministic reactive `policy` reaches from the start distribution, without
/// exploration (states reachable through branches of positive probability).
pub fn features_reached(env: &TabularEnv, policy: &[usize]) -> Result<Vec<bool>> {
    check_policy_shape(env, policy.len(), env.n_actions())?;
    if let Some(&bad) = policy.iter().find(|&&u| u >= env.n_actions()) {
        return Err(CommittedQError::ActionOutOfRange {
            action: bad,
            n_actions: env.n_actions(),
        });
    }
    let rows = (0..env.n_states())
        .map(|x| {
            env.branches(x, policy[env.feature(x)])
                .iter()
                .filter_map(|b| b.next.map(|x2| (x2, b.prob)))
                .collect()
        })
        .collect();
    let reach = Chain { rows }.reachable(env.initial());
    let mut out = vec![false; env.n_features()];
    for (x, &r) in reach.iter().enumerate() {
        if r {
            out[env.feature(x)] = true;
        }
    }
    Ok(out)
}
