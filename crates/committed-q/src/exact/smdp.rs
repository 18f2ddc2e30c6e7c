//! The paper's assumption as code: committed sojourn laws, the SMDP over entrance values, and
//! the quasi-Markov and rewire-robustness checks.
//!
//! The full text was not available; these follow the paper notes' reading (marked
//! reconstructed there), made precise as follows.
//!
//! - A **committed sojourn** in feature `z` with action `u` starts when the agent enters `z` (at
//!   the start of an episode or from another feature) and lasts while the feature stays `z`, the
//!   action held at `u`. Its **law**, for an entrance distribution `ρ_z` over the states of `z`,
//!   is the expected total reward `R(z, u)`, the expected length `N(z, u)`, and where it ends:
//!   the distribution of the exit state (outside `z`) and the probability that the episode ends
//!   during it. Computed exactly from the sojourn's absorbing chain: `h = ρ_z (I − P_zz)⁻¹`.
//! - The **entrance distributions a policy induces**: under the committed ε-greedy behaviour
//!   around a deterministic reactive policy `π`, `ρ_z^π(x)` is proportional to the expected
//!   number of entrances into `z` at state `x` per episode (episode starts included).
//! - The **SMDP over entrance values**: with fixed entrance distributions `ρ` (an environment
//!   *rewired* so that entering `z` redraws the state from `ρ_z`), a feature's sojourn is one
//!   decision: `V(z) = max_u [R(z, u) + Σ_z′ P(z′ | z, u) V(z′)]`, solved by value iteration.
//!   Its argmax is the optimal reactive policy of the rewired environment.
//! - **Quasi-Markov**: the sojourn law of every `(z, u)` is the same under the entrance
//!   distributions of every deterministic reactive policy (to a tolerance).
//! - **Rewire-robust**: for every deterministic reactive policy `π`, the optimal policy of the
//!   environment rewired to `ρ^π` is optimal in the original environment.
//!
//! Single-entrance features make both hold trivially; `q*`-realizability implies them (notes).
//! The checks enumerate policies, so they serve small environments
//! ([`CHECK_POLICY_LIMIT`]).

use super::chain::Chain;
use super::fixed_point::behaviour_occupancy;
use super::mdp::MAX_SWEEPS;
use super::policy::{evaluate_policy, optimal_reactive_policy, policy_from_index, ReactivePolicy};
use crate::agent::Behaviour;
use crate::{CommittedQError, Environment, Result, TabularEnv};
use core_linalg::{check_probability_vector, STOCHASTIC_TOL};
use nalgebra::DMatrix;
use rayon::prelude::*;

/// The most deterministic reactive policies [`quasi_markov`] and [`rewire_robustness`]
/// enumerate.
pub const CHECK_POLICY_LIMIT: u64 = 1 << 12;

/// The law of a committed sojourn.
#[derive(Debug, Clone, PartialEq)]
pub struct SojournLaw {
    /// Expected total reward `R(z, u)`.
    pub reward: f64,
    /// Expected number of steps `N(z, u)` (at least 1).
    pub length: f64,
    /// `P(the sojourn ends by entering state x′)`, for every state (0 inside the feature).
    pub exit_states: Vec<f64>,
    /// The same aggregated by feature: `P(z′ | z, u)` (0 at `z`).
    pub exit_features: Vec<f64>,
    /// `P(the episode ends during the sojourn)`.
    pub termination: f64,
}

impl SojournLaw {
    /// The largest difference between two laws over reward, length, exit features and
    /// termination.
    pub fn discrepancy(&self, other: &SojournLaw) -> f64 {
        let exits = self
            .exit_features
            .iter()
            .zip(&other.exit_features)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        (self.reward - other.reward)
            .abs()
            .max((self.length - other.length).abs())
            .max((self.termination - other.termination).abs())
            .max(exits)
    }
}

fn check_feature_action(env: &TabularEnv, feature: usize, action: usize) -> Result<()> {
    if feature >= env.n_features() {
        return Err(CommittedQError::Parameter {
            name: "feature",
            value: feature as f64,
            reason: "must be below n_features",
        });
    }
    if action >= env.n_actions() {
        return Err(CommittedQError::ActionOutOfRange {
            action,
            n_actions: env.n_actions(),
        });
    }
    Ok(())
}

/// The law of a committed sojourn in `feature` with `action`, entered from the distribution
/// `entrance` over all states (a probability vector supported on the feature's states).
///
/// Errors: a feature or action out of range, an entrance of the wrong length, not a
/// probability vector or with mass outside the feature, and [`CommittedQError::ImproperPolicy`]
/// when holding the action can stay in the feature forever.
pub fn sojourn_law(
    env: &TabularEnv,
    feature: usize,
    action: usize,
    entrance: &[f64],
) -> Result<SojournLaw> {
    check_feature_action(env, feature, action)?;
    let n = env.n_states();
    if entrance.len() != n {
        return Err(CommittedQError::Shape {
            what: "entrance distribution length vs number of states",
            expected: n,
            got: entrance.len(),
        });
    }
    check_probability_vector(entrance, STOCHASTIC_TOL).map_err(|source| {
        CommittedQError::Probability {
            what: format!("entrance distribution of feature {feature}"),
            source,
        }
    })?;
    if let Some(x) = (0..n).find(|&x| entrance[x] > 0.0 && env.feature(x) != feature) {
        return Err(CommittedQError::FeatureOutOfRange {
            state: x,
            feature: env.feature(x),
            n_features: env.n_features(),
        });
    }
    // The sojourn's chain: moves inside the feature; everything else ends it.
    let rows: Vec<Vec<(usize, f64)>> = (0..n)
        .map(|x| {
            if env.feature(x) != feature {
                return Vec::new();
            }
            env.branches(x, action)
                .iter()
                .filter_map(|b| {
                    b.next
                        .filter(|&x2| env.feature(x2) == feature)
                        .map(|x2| (x2, b.prob))
                })
                .collect()
        })
        .collect();
    let h = Chain { rows }.occupancy(entrance)?;
    let mut law = SojournLaw {
        reward: 0.0,
        length: 0.0,
        exit_states: vec![0.0; n],
        exit_features: vec![0.0; env.n_features()],
        termination: 0.0,
    };
    for (x, &hx) in h.iter().enumerate() {
        if hx == 0.0 {
            continue;
        }
        law.length += hx;
        law.reward += hx * env.expected_reward(x, action);
        for b in env.branches(x, action) {
            match b.next {
                None => law.termination += hx * b.prob,
                Some(x2) if env.feature(x2) != feature => {
                    law.exit_states[x2] += hx * b.prob;
                    law.exit_features[env.feature(x2)] += hx * b.prob;
                }
                Some(_) => {}
            }
        }
    }
    Ok(law)
}

/// The entrance distribution `ρ_z^π` of every feature under the committed ε-greedy behaviour
/// around the deterministic reactive `policy` (`None` for a feature never entered — or whose
/// expected entrances underflow f64, products of probabilities near 1e-300).
pub fn entrance_distributions(
    env: &TabularEnv,
    policy: &[usize],
    epsilon: f64,
) -> Result<Vec<Option<Vec<f64>>>> {
    let (n, a) = (env.n_states(), env.n_actions());
    let d = behaviour_occupancy(env, Behaviour::Committed, policy, epsilon)?;
    let mut mass = env.initial().to_vec();
    for x in 0..n {
        for u in 0..a {
            let dx = d[x * a + u];
            if dx == 0.0 {
                continue;
            }
            for b in env.branches(x, u) {
                if let Some(x2) = b.next.filter(|&x2| env.feature(x2) != env.feature(x)) {
                    mass[x2] += dx * b.prob;
                }
            }
        }
    }
    Ok((0..env.n_features())
        .map(|z| {
            let total: f64 = env.states_of(z).map(|x| mass[x]).sum();
            (total > 0.0).then(|| {
                (0..n)
                    .map(|x| {
                        if env.feature(x) == z {
                            mass[x] / total
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
        })
        .collect())
}

/// The optimum of the SMDP over entrance values.
#[derive(Debug, Clone, PartialEq)]
pub struct SmdpOptimum {
    /// `Q(z, u) = R(z, u) + Σ_z′ P(z′ | z, u) V(z′)` (features × actions; NaN where the feature
    /// has no entrance distribution).
    pub q: DMatrix<f64>,
    /// `V(z) = max_u Q(z, u)` (NaN where not entered).
    pub values: Vec<f64>,
    /// The argmax of each entered feature (the first maximiser); 0 elsewhere.
    pub policy: Vec<usize>,
    /// Whether each feature has an entrance distribution.
    pub entered: Vec<bool>,
    /// The sojourn law of every entered `(z, u)`, row-major (`None` elsewhere).
    pub laws: Vec<Option<SojournLaw>>,
}

/// Solves the SMDP over entrance values for the given entrance distributions (one per feature,
/// `None` for a feature never entered) by value iteration to `1e-13` (relative).
///
/// Errors: an entrance list of the wrong length, a law that cannot be computed (see
/// [`sojourn_law`]), a sojourn that exits into a feature without an entrance distribution,
/// and [`CommittedQError::NotConverged`] after [`MAX_SWEEPS`].
pub fn smdp_optimum(env: &TabularEnv, entrances: &[Option<Vec<f64>>]) -> Result<SmdpOptimum> {
    let (f, a) = (env.n_features(), env.n_actions());
    if entrances.len() != f {
        return Err(CommittedQError::Shape {
            what: "entrance distributions vs features",
            expected: f,
            got: entrances.len(),
        });
    }
    let entered: Vec<bool> = entrances.iter().map(Option::is_some).collect();
    let mut laws = vec![None; f * a];
    for (z, rho) in entrances.iter().enumerate() {
        if let Some(rho) = rho {
            for u in 0..a {
                let law = sojourn_law(env, z, u, rho)?;
                if let Some(z2) = (0..f).find(|&z2| law.exit_features[z2] > 0.0 && !entered[z2]) {
                    return Err(CommittedQError::Parameter {
                        name: "entrances",
                        value: z2 as f64,
                        reason: "a sojourn exits into a feature without an entrance distribution",
                    });
                }
                laws[z * a + u] = Some(law);
            }
        }
    }
    let backup = |v: &[f64]| {
        DMatrix::from_fn(f, a, |z, u| match &laws[z * a + u] {
            Some(l) => {
                l.reward
                    + l.exit_features
                        .iter()
                        .zip(v)
                        .filter(|(&p, _)| p > 0.0)
                        .map(|(&p, &vz)| p * vz)
                        .sum::<f64>()
            }
            None => f64::NAN,
        })
    };
    let vmax = |q: &DMatrix<f64>| -> Vec<f64> {
        (0..f)
            .map(|z| {
                if entered[z] {
                    (0..a).map(|u| q[(z, u)]).fold(f64::NEG_INFINITY, f64::max)
                } else {
                    f64::NAN
                }
            })
            .collect()
    };
    let mut v: Vec<f64> = entered
        .iter()
        .map(|&e| if e { 0.0 } else { f64::NAN })
        .collect();
    let mut change = f64::INFINITY;
    for _ in 0..MAX_SWEEPS {
        let q = backup(&v);
        let next = vmax(&q);
        change = next
            .iter()
            .zip(&v)
            .filter(|(x, _)| x.is_finite())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        let scale = next
            .iter()
            .filter(|x| x.is_finite())
            .fold(0.0f64, |m, x| m.max(x.abs()));
        v = next;
        if change <= 1e-13 * (1.0 + scale) {
            let q = backup(&v);
            let policy = (0..f)
                .map(|z| {
                    if !entered[z] {
                        return 0;
                    }
                    (0..a).fold(0, |b, u| if q[(z, u)] > q[(z, b)] { u } else { b })
                })
                .collect();
            return Ok(SmdpOptimum {
                values: vmax(&q),
                q,
                policy,
                entered,
                laws,
            });
        }
    }
    Err(CommittedQError::NotConverged {
        what: "SMDP value iteration",
        iterations: MAX_SWEEPS,
        residual: change,
    })
}

fn policies(env: &TabularEnv) -> Result<u64> {
    let (f, a) = (env.n_features(), env.n_actions());
    (a as u64)
        .checked_pow(u32::try_from(f).unwrap_or(u32::MAX))
        .filter(|&c| c <= CHECK_POLICY_LIMIT)
        .ok_or(CommittedQError::TooManyPolicies {
            count: (a as u64).saturating_pow(u32::try_from(f).unwrap_or(u32::MAX)),
            limit: CHECK_POLICY_LIMIT,
        })
}

/// The outcome of [`quasi_markov`].
#[derive(Debug, Clone, PartialEq)]
pub struct QuasiMarkov {
    /// Whether every `(z, u)` has the same sojourn law under every policy's entrances.
    pub holds: bool,
    /// The largest [`SojournLaw::discrepancy`] found.
    pub max_discrepancy: f64,
    /// Where: `(feature, action, policy whose entrances gave the reference law, policy that
    /// differs most)`.
    pub worst: Option<(usize, usize, Vec<usize>, Vec<usize>)>,
    /// How many policies were compared.
    pub policies: u64,
}

/// Checks quasi-Markov entrance dynamics: for every deterministic reactive policy, the sojourn
/// laws under the entrance distributions it induces (committed, ε-greedy) are compared with
/// those of the first policy that enters the feature. Holds when the largest discrepancy is at
/// most `tol`.
pub fn quasi_markov(env: &TabularEnv, epsilon: f64, tol: f64) -> Result<QuasiMarkov> {
    let count = policies(env)?;
    let (f, a) = (env.n_features(), env.n_actions());
    let all: Vec<(Vec<usize>, Vec<Option<SojournLaw>>)> = (0..count)
        .into_par_iter()
        .map(|i| {
            let pi = policy_from_index(i, f, a)?;
            let rho = entrance_distributions(env, &pi, epsilon)?;
            let mut laws = vec![None; f * a];
            for (z, r) in rho.iter().enumerate() {
                if let Some(r) = r {
                    for u in 0..a {
                        laws[z * a + u] = Some(sojourn_law(env, z, u, r)?);
                    }
                }
            }
            Ok((pi, laws))
        })
        .collect::<Result<_>>()?;
    let mut out = QuasiMarkov {
        holds: true,
        max_discrepancy: 0.0,
        worst: None,
        policies: count,
    };
    for cell in 0..f * a {
        let Some((ref_pi, reference)) = all
            .iter()
            .find_map(|(pi, laws)| laws[cell].as_ref().map(|l| (pi, l)))
        else {
            continue;
        };
        for (pi, laws) in &all {
            if let Some(l) = &laws[cell] {
                let d = reference.discrepancy(l);
                if d > out.max_discrepancy {
                    out.max_discrepancy = d;
                    out.worst = Some((cell / a, cell % a, ref_pi.clone(), pi.clone()));
                }
            }
        }
    }
    out.holds = out.max_discrepancy <= tol;
    Ok(out)
}

/// The outcome of [`rewire_robustness`].
#[derive(Debug, Clone, PartialEq)]
pub struct RewireRobustness {
    /// Whether the rewired optimum is optimal in the original environment for every policy.
    pub holds: bool,
    /// The optimal reactive value of the original environment.
    pub optimum: f64,
    /// The largest `optimum − value(rewired optimum)` over the inducing policies (`+∞` when a
    /// rewired optimum is improper in the original).
    pub worst_gap: f64,
    /// The inducing policy of the worst gap and its rewired optimum.
    pub worst: Option<(Vec<usize>, Vec<usize>)>,
    /// How many inducing policies were tried.
    pub policies: u64,
}

/// Checks rewire-robustness: for every deterministic reactive policy `π`, the SMDP optimum for
/// the entrances `π` induces (committed, ε-greedy) is evaluated exactly in the original
/// environment and compared with the optimal reactive value. Holds when every gap is at most
/// `tol`.
pub fn rewire_robustness(env: &TabularEnv, epsilon: f64, tol: f64) -> Result<RewireRobustness> {
    let count = policies(env)?;
    let best = optimal_reactive_policy(env)?;
    let (f, a) = (env.n_features(), env.n_actions());
    let gaps: Vec<(f64, Vec<usize>, Vec<usize>)> = (0..count)
        .into_par_iter()
        .map(|i| {
            let pi = policy_from_index(i, f, a)?;
            let rho = entrance_distributions(env, &pi, epsilon)?;
            let smdp = smdp_optimum(env, &rho)?;
            let gap = match evaluate_policy(env, &ReactivePolicy::deterministic(&smdp.policy, a)?) {
                Ok(v) => best.value - v.value,
                Err(CommittedQError::ImproperPolicy { .. }) => f64::INFINITY,
                Err(e) => return Err(e),
            };
            Ok((gap, pi, smdp.policy))
        })
        .collect::<Result<_>>()?;
    let mut out = RewireRobustness {
        holds: true,
        optimum: best.value,
        worst_gap: f64::NEG_INFINITY,
        worst: None,
        policies: count,
    };
    for (gap, pi, rewired) in gaps {
        if gap > out.worst_gap {
            out.worst_gap = gap;
            out.worst = Some((pi, rewired));
        }
    }
    out.holds = out.worst_gap <= tol * (1.0 + best.value.abs());
    Ok(out)
}
