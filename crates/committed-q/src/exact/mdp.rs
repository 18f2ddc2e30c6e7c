//! The underlying MDP: state-based `q*` and `q*`-realizability.

use super::chain::Chain;
use crate::{CommittedQError, Environment, Result, TabularEnv};
use nalgebra::DMatrix;

/// The most sweeps a value or fixed-point iteration of this module runs before it stops with
/// [`CommittedQError::NotConverged`] (with the last residual in the error). A proper policy's
/// contraction reaches `1e-12` in far fewer for the environments this crate builds.
pub const MAX_SWEEPS: usize = 100_000;

/// The optimal state-action values `q*(x, u)` of the underlying MDP (the agent's features
/// ignored), by value iteration to `1e-12`; a states × actions matrix.
pub fn optimal_state_q(env: &TabularEnv) -> Result<DMatrix<f64>> {
    let (n, a) = (env.n_states(), env.n_actions());
    let mut v = vec![0.0; n];
    let mut q = DMatrix::<f64>::zeros(n, a);
    let mut residual = f64::INFINITY;
    for _ in 0..MAX_SWEEPS {
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
        iterations: MAX_SWEEPS,
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
