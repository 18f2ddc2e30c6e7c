use crate::{Branch, Environment, Result, TabularEnv, Transition};
use rand::Rng;

/// The paper's corridor (the authors' `qcorridor.jl`): states `x ∈ {0, …, k}`, start at 0,
/// actions [`LEFT`] and [`RIGHT`] move by one.
///
/// Entering `x = −1` ends the episode with reward −1; entering the goal `x = k + 1` ends it with
/// reward `+k`; entering `1..=k` costs −1 and entering 0 gives 0. The agent sees only
/// `z = 1[x > 0]`, so the interior states are aliased. The optimal reactive policy goes right in
/// both features (return 0 from the start); `q*(x, R) = x` varies inside feature 1, so the
/// environment is not `q*`-realizable, yet every feature is always entered at the same state
/// (0 at the start, 1 from 0), which makes it quasi-Markov.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corridor {
    k: usize,
}

/// Action 0: move left.
pub const LEFT: usize = 0;
/// Action 1: move right.
pub const RIGHT: usize = 1;

impl Corridor {
    /// A corridor of length `k ≥ 1`.
    pub fn new(k: usize) -> Result<Self> {
        // k + 1 states (and k + 2 positions counting the exits) must be representable.
        if k > usize::MAX / 4 {
            return Err(crate::CommittedQError::Parameter {
                name: "k",
                value: k as f64,
                reason: "the corridor's state count must fit in usize",
            });
        }
        if k == 0 {
            return Err(crate::CommittedQError::Parameter {
                name: "k",
                value: 0.0,
                reason: "the corridor needs at least one interior state",
            });
        }
        Ok(Self { k })
    }

    /// Its length `k`.
    pub fn len(&self) -> usize {
        self.k
    }

    /// Always false: a corridor has at least one interior state.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The (deterministic) result of `action` in `state`.
    ///
    /// # Panics
    /// If `state > k` or `action` is neither [`LEFT`] nor [`RIGHT`], like a slice index (an
    /// out-of-range state would otherwise walk off the corridor).
    #[inline]
    pub fn transition(&self, state: usize, action: usize) -> Transition {
        assert!(
            state <= self.k && action <= RIGHT,
            "Corridor::transition: (state {state}, action {action}) out of range ({} states, 2 actions)",
            self.k + 1
        );
        if action == RIGHT {
            if state == self.k {
                Transition {
                    reward: self.k as f64,
                    next: None,
                }
            } else {
                Transition {
                    reward: -1.0,
                    next: Some(state + 1),
                }
            }
        } else if state == 0 {
            Transition {
                reward: -1.0,
                next: None,
            }
        } else {
            Transition {
                reward: if state == 1 { 0.0 } else { -1.0 },
                next: Some(state - 1),
            }
        }
    }

    /// The same environment as explicit tables, for the exact tools (`O(k)` memory).
    pub fn to_tabular(&self) -> TabularEnv {
        let n = self.k + 1;
        let mut branches = Vec::with_capacity(2 * n);
        for x in 0..n {
            for a in [LEFT, RIGHT] {
                let t = self.transition(x, a);
                branches.push(vec![Branch::new(t.next, 1.0, t.reward)]);
            }
        }
        let mut initial = vec![0.0; n];
        initial[0] = 1.0;
        let features = (0..n).map(|x| usize::from(x > 0)).collect();
        TabularEnv::new(features, 2, 2, initial, branches)
            .expect("the corridor's tables are valid by construction")
    }
}

impl Environment for Corridor {
    fn n_states(&self) -> usize {
        self.k + 1
    }
    fn n_features(&self) -> usize {
        2
    }
    fn n_actions(&self) -> usize {
        2
    }
    #[inline]
    fn feature(&self, state: usize) -> usize {
        usize::from(state > 0)
    }
    #[inline]
    fn reset<R: Rng + ?Sized>(&self, _rng: &mut R) -> usize {
        0
    }
    #[inline]
    fn step<R: Rng + ?Sized>(&self, state: usize, action: usize, _rng: &mut R) -> Transition {
        self.transition(state, action)
    }
}
