//! Environment generators for experiments and tests: random aliased chains that satisfy the
//! paper's assumption by construction, and a Singh–Jaakkola–Jordan-style counterexample whose
//! best reactive policy is stochastic.

use crate::{Branch, CommittedQError, Result, TabularEnv};
use rand::{Rng, RngExt};

/// Parameters of [`aliased_chains`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AliasedChainParams {
    /// Number of features (chains).
    pub n_features: usize,
    /// Number of actions.
    pub n_actions: usize,
    /// Shortest chain (states per feature).
    pub min_len: usize,
    /// Longest chain.
    pub max_len: usize,
    /// Probability that any step ends the episode (makes every policy proper).
    pub termination: f64,
}

impl Default for AliasedChainParams {
    fn default() -> Self {
        Self {
            n_features: 4,
            n_actions: 2,
            min_len: 1,
            max_len: 4,
            termination: 0.05,
        }
    }
}

/// The most state–action pairs [`aliased_chains`] will build: `2^24` (about 2 GB of branch
/// lists).
pub const MAX_GENERATED_CELLS: usize = 1 << 24;

/// A random environment of *single-entrance aliased chains*: the corridor's structure made
/// random, quasi-Markov and rewire-robust by construction.
///
/// Feature `z` is a chain of `L_z ∈ [min_len, max_len]` states, all observed as `z`, and it is
/// only ever entered at its first state (the episode starts at the entrance of feature 0). In
/// state `(z, i)` action `u` pays a reward `r(x, u) ~ U(−1, 1)`, then ends the episode with
/// probability `termination`; otherwise it advances to `(z, i + 1)` with a state-dependent
/// probability `a(x, u) ~ U(0.2, 0.9)` and else (or at the end of the chain) exits to the
/// entrance of one of two other features drawn for `(x, u)`, split `w ~ U(0, 1)`. With one
/// feature, exits end the episode.
///
/// Because each feature has one entrance, the law of a committed sojourn (reward, length, exit)
/// depends only on the feature and the action, whatever the policy elsewhere: the environment is
/// quasi-Markov and rewiring cannot change entrance distributions, so rewire-robustness holds
/// trivially. State-dependent rewards and exits make `q*` vary inside a feature, so most
/// instances are *not* `q*`-realizable.
pub fn aliased_chains<R: Rng + ?Sized>(
    params: &AliasedChainParams,
    rng: &mut R,
) -> Result<TabularEnv> {
    let &AliasedChainParams {
        n_features: f,
        n_actions: a,
        min_len,
        max_len,
        termination,
    } = params;
    if f == 0 {
        return Err(CommittedQError::Empty {
            what: "feature set",
        });
    }
    if a == 0 {
        return Err(CommittedQError::Empty { what: "action set" });
    }
    if min_len == 0 || max_len < min_len {
        return Err(CommittedQError::Parameter {
            name: "chain length",
            value: min_len as f64,
            reason: "need 1 ≤ min_len ≤ max_len",
        });
    }
    if !(termination > 0.0 && termination <= 1.0) {
        return Err(CommittedQError::Parameter {
            name: "termination",
            value: termination,
            reason: "must lie in (0, 1] so that every policy ends its episodes",
        });
    }
    // The largest possible table, f·max_len states × a actions, must stay within
    // MAX_GENERATED_CELLS (a generator that silently allocated terabytes, or wrapped the
    // state count, would abort or build a wrong environment).
    let cells = f
        .checked_mul(max_len)
        .and_then(|n| n.checked_mul(a))
        .filter(|&c| c <= MAX_GENERATED_CELLS);
    if cells.is_none() {
        return Err(CommittedQError::Parameter {
            name: "n_features × max_len × n_actions",
            value: f as f64 * max_len as f64 * a as f64,
            reason:
                "the largest possible table exceeds MAX_GENERATED_CELLS (2^24) state–action pairs",
        });
    }
    let lens: Vec<usize> = (0..f)
        .map(|_| rng.random_range(min_len..=max_len))
        .collect();
    let entrance: Vec<usize> = lens
        .iter()
        .scan(0, |acc, &l| {
            let e = *acc;
            *acc += l;
            Some(e)
        })
        .collect();
    let n: usize = lens.iter().sum();
    let mut features = Vec::with_capacity(n);
    let mut branches = Vec::with_capacity(n * a);
    for (z, &len) in lens.iter().enumerate() {
        for i in 0..len {
            features.push(z);
            for _ in 0..a {
                let reward = rng.random_range(-1.0..1.0);
                let stay = (1.0 - termination)
                    * if i + 1 < len {
                        rng.random_range(0.2..0.9)
                    } else {
                        0.0
                    };
                let exit = 1.0 - termination - stay;
                let mut list = vec![Branch::new(None, termination, reward)];
                if stay > 0.0 {
                    list.push(Branch::new(Some(entrance[z] + i + 1), stay, reward));
                }
                if f == 1 {
                    list[0].prob += exit;
                } else {
                    let mut pick = || {
                        let o = rng.random_range(0..f - 1);
                        if o >= z {
                            o + 1
                        } else {
                            o
                        }
                    };
                    let (z1, z2) = (pick(), pick());
                    let w: f64 = rng.random_range(0.0..1.0);
                    list.push(Branch::new(Some(entrance[z1]), exit * w, reward));
                    list.push(Branch::new(Some(entrance[z2]), exit * (1.0 - w), reward));
                }
                branches.push(list);
            }
        }
    }
    let mut initial = vec![0.0; n];
    initial[0] = 1.0;
    TabularEnv::new(features, f, a, initial, branches)
}

/// A Singh–Jaakkola–Jordan (1994)-style counterexample made episodic: two states seen as one
/// feature, two actions. In state 0 action 0 pays +1 and moves to state 1, action 1 pays −1 and
/// stays; in state 1 action 1 pays +1 and moves to state 0, action 0 pays −1 and stays. Every
/// step ends the episode with probability `termination`; the start state is uniform.
///
/// Each deterministic reactive policy collects +1 once and then −1 until the end
/// (value `2 − 1/p` from the rewarding state, `−1/p` from the other, mean `1 − 1/p`); the
/// uniformly random policy earns 0 per step in expectation (value 0), so the best reactive policy
/// is stochastic.
pub fn singh_jaakkola_jordan(termination: f64) -> Result<TabularEnv> {
    if !(termination > 0.0 && termination <= 1.0) {
        return Err(CommittedQError::Parameter {
            name: "termination",
            value: termination,
            reason: "must lie in (0, 1]",
        });
    }
    let p = termination;
    let go = |to: usize, reward: f64| {
        vec![
            Branch::new(None, p, reward),
            Branch::new(Some(to), 1.0 - p, reward),
        ]
    };
    let branches = vec![go(1, 1.0), go(0, -1.0), go(1, -1.0), go(0, 1.0)];
    TabularEnv::new(vec![0, 0], 1, 2, vec![0.5, 0.5], branches)
}
