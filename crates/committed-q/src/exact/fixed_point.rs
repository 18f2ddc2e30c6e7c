//! The fixed point of the expected Q-learning update under a committed or regular behaviour.

use super::chain::Chain;
use super::check_policy_shape;
use super::mdp::MAX_SWEEPS;
use crate::agent::Behaviour;
use crate::{CommittedQError, Environment, Result, TabularEnv};
use nalgebra::{DMatrix, DVector};

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

/// Expected visits per episode `d(x·A + u)` of the behaviour's Markov chain on (state, current
/// action) when the agent acts ε-greedily around the deterministic reactive `policy`: a
/// committed behaviour keeps its action while the feature stays the same, a regular one redraws
/// every step. Errors as [`behaviour_fixed_point`].
pub fn behaviour_occupancy(
    env: &TabularEnv,
    behaviour: Behaviour,
    policy: &[usize],
    epsilon: f64,
) -> Result<Vec<f64>> {
    let (n, a) = (env.n_states(), env.n_actions());
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
    Chain { rows }.occupancy(&init)
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
    let d = behaviour_occupancy(env, behaviour, policy, epsilon)?;
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
    let mut converged = false;
    let mut change = f64::INFINITY;
    for _ in 0..MAX_SWEEPS {
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
            iterations: MAX_SWEEPS,
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
