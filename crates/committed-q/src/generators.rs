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

/// The checks both chain generators share: non-empty features and actions, `1 ≤ min_len ≤
/// max_len`, `termination ∈ (0, 1]`, and at most [`MAX_GENERATED_CELLS`] state–action pairs.
fn validate(params: &AliasedChainParams) -> Result<()> {
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
    Ok(())
}

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
    validate(params)?;
    let &AliasedChainParams {
        n_features: f,
        n_actions: a,
        min_len,
        max_len,
        termination,
    } = params;
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

/// Parameters of [`multi_entrance`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultiEntranceParams {
    /// Number of features.
    pub n_features: usize,
    /// Number of actions.
    pub n_actions: usize,
    /// Entrances per feature: each is the first state of its own chain, all observed as the
    /// feature (at least 2).
    pub entrances: usize,
    /// Shortest chain.
    pub min_len: usize,
    /// Longest chain.
    pub max_len: usize,
    /// Probability that any step ends the episode.
    pub termination: f64,
    /// `true`: a feature's chains are statistically identical copies (the separating family:
    /// quasi-Markov and rewire-robust, not `q*`-realizable); `false`: each chain is drawn on its
    /// own (the control: in general neither).
    pub identical: bool,
}

impl Default for MultiEntranceParams {
    fn default() -> Self {
        Self {
            n_features: 4,
            n_actions: 2,
            entrances: 2,
            min_len: 2,
            max_len: 4,
            termination: 0.05,
            identical: true,
        }
    }
}

/// One chain position's law under one action: (reward, advance probability, the two exit
/// features, their split).
type StepLaw = (f64, f64, usize, usize, f64);

/// A random environment of *multi-entrance aliased chains*, shaped like the paper's corridor.
///
/// Feature `z` holds `entrances` chains of `L_z ∈ [min_len, max_len]` states each, all observed
/// as `z`; a chain is entered only at its first state. In every position, action 0 leaves the
/// feature at once for a payoff `U(−1, 1)`; every other action pushes on: a cost `−U(0, 1)` and
/// an advance to the next position with probability `U(0.5, 0.95)` (else it leaves), and at the
/// chain's last position a bonus `U(0, L_z)` as it leaves. Every step first ends the episode
/// with probability `termination`. Leaving goes to one of two other features (split
/// `w ~ U(0, 1)`), entering a chain of the target drawn uniformly for every branch — so the
/// entrance distributions depend on the policy. The episode starts at the first chain of
/// feature 0. With one feature, leaving ends the episode.
///
/// With `identical`, every chain of a feature shares its payoffs, costs, advance probabilities,
/// bonus, exit features and split, so a committed sojourn's law (reward, length, exit feature)
/// is the same from every entrance: the environment is quasi-Markov and rewire-robust for any
/// entrance distribution, while `q*` varies along the chains (not `q*`-realizable) and regular
/// Q-learning, which bootstraps pushing on the feature's own mixed value, can settle on leaving
/// early. Without it, each chain draws its own and both properties fail in general (check with
/// [`crate::exact::quasi_markov`] and [`crate::exact::rewire_robustness`]).
pub fn multi_entrance<R: Rng + ?Sized>(
    params: &MultiEntranceParams,
    rng: &mut R,
) -> Result<TabularEnv> {
    let &MultiEntranceParams {
        n_features: f,
        n_actions: a,
        entrances: c,
        min_len,
        max_len,
        termination,
        identical,
    } = params;
    if c < 2 {
        return Err(CommittedQError::Parameter {
            name: "entrances",
            value: c as f64,
            reason: "a multi-entrance feature needs at least 2 entrances",
        });
    }
    // Same checks as the single-entrance generator, for f·c chains.
    let check = AliasedChainParams {
        // f·c chains (saturating: an overflow fails the table-size check).
        n_features: f.saturating_mul(c),
        n_actions: a,
        min_len,
        max_len,
        termination,
    };
    validate(&check)?;
    if f == 0 {
        return Err(CommittedQError::Empty {
            what: "feature set",
        });
    }
    let lens: Vec<usize> = (0..f)
        .map(|_| rng.random_range(min_len..=max_len))
        .collect();
    // first[z][k]: the first state of chain k of feature z.
    let mut first = vec![Vec::with_capacity(c); f];
    let mut next = 0;
    for (z, &len) in lens.iter().enumerate() {
        for _ in 0..c {
            first[z].push(next);
            next += len;
        }
    }
    let n = next;
    let mut features = vec![0; n];
    let mut branches = vec![Vec::new(); n * a];
    let other = |rng: &mut R, z: usize| {
        let o = rng.random_range(0..f - 1);
        if o >= z {
            o + 1
        } else {
            o
        }
    };
    for (z, &len) in lens.iter().enumerate() {
        // The law of chain position i under action u: (reward, advance, exit features, split).
        let draw = |rng: &mut R| -> Vec<Vec<StepLaw>> {
            (0..len)
                .map(|i| {
                    (0..a)
                        .map(|u| {
                            // Action 0 leaves at once (a random payoff); the others push on
                            // along the chain at a cost and collect a bonus at its end, as in
                            // the corridor.
                            let last = i + 1 == len;
                            let (reward, advance) = if u == 0 {
                                (rng.random_range(-1.0..1.0), 0.0)
                            } else if last {
                                (rng.random_range(0.0..1.0) * len as f64, 0.0)
                            } else {
                                (-rng.random_range(0.0..1.0), rng.random_range(0.5..0.95))
                            };
                            let (z1, z2) = if f > 1 {
                                (other(rng, z), other(rng, z))
                            } else {
                                (0, 0)
                            };
                            (reward, advance, z1, z2, rng.random_range(0.0..1.0))
                        })
                        .collect()
                })
                .collect()
        };
        let shared = draw(rng);
        for k in 0..c {
            let law = if identical { shared.clone() } else { draw(rng) };
            for (i, row) in law.iter().enumerate() {
                let x = first[z][k] + i;
                features[x] = z;
                for (u, &(reward, advance, z1, z2, w)) in row.iter().enumerate() {
                    let stay = (1.0 - termination) * advance;
                    let exit = 1.0 - termination - stay;
                    let mut list = vec![Branch::new(None, termination, reward)];
                    if stay > 0.0 {
                        list.push(Branch::new(Some(x + 1), stay, reward));
                    }
                    if f == 1 {
                        list[0].prob += exit;
                    } else {
                        let e1 = first[z1][rng.random_range(0..c)];
                        let e2 = first[z2][rng.random_range(0..c)];
                        list.push(Branch::new(Some(e1), exit * w, reward));
                        list.push(Branch::new(Some(e2), exit * (1.0 - w), reward));
                    }
                    branches[x * a + u] = list;
                }
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
