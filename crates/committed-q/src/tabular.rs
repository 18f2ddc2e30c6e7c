use crate::{CommittedQError, Environment, Result, Transition};
use core_linalg::{check_probability_vector, sample_index, STOCHASTIC_TOL};
use rand::Rng;

/// One possible result of taking an action: where it leads, with what probability and reward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Branch {
    /// The next state, or `None` for the end of the episode.
    pub next: Option<usize>,
    /// Its probability.
    pub prob: f64,
    /// The reward received on this branch.
    pub reward: f64,
}

impl Branch {
    /// A branch to `next` (or to the end of the episode).
    pub fn new(next: Option<usize>, prob: f64, reward: f64) -> Self {
        Self { next, prob, reward }
    }
}

/// A finite episodic MDP given by explicit tables, with a feature map: the form every exact tool
/// of this crate ([`crate::exact`]) works on.
///
/// Validated on construction: every feature below `n_features`, the initial distribution and
/// every `(state, action)` branch list a probability vector (tolerance
/// [`core_linalg::STOCHASTIC_TOL`] = 1e-9 on the sum), next states in range, rewards finite.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularEnv {
    features: Vec<usize>,
    n_features: usize,
    n_actions: usize,
    initial: Vec<f64>,
    branches: Vec<Vec<Branch>>,
    probs: Vec<Vec<f64>>,
}

/// The largest reward magnitude [`TabularEnv::new`] accepts: returns and Q-values are sums of
/// rewards over episodes, and rewards near `f64::MAX` overflow them to ∞ (then NaN).
pub const MAX_ABS_REWARD: f64 = 1e100;

impl TabularEnv {
    /// Builds an environment.
    ///
    /// - `features[x]`: the feature of state `x` (below `n_features`);
    /// - `initial[x]`: the start distribution;
    /// - `branches[x * n_actions + u]`: what action `u` does in state `x`.
    pub fn new(
        features: Vec<usize>,
        n_features: usize,
        n_actions: usize,
        initial: Vec<f64>,
        branches: Vec<Vec<Branch>>,
    ) -> Result<Self> {
        let n = features.len();
        if n == 0 {
            return Err(CommittedQError::Empty { what: "state set" });
        }
        if n_actions == 0 {
            return Err(CommittedQError::Empty { what: "action set" });
        }
        if let Some((state, &feature)) = features.iter().enumerate().find(|(_, &z)| z >= n_features)
        {
            return Err(CommittedQError::FeatureOutOfRange {
                state,
                feature,
                n_features,
            });
        }
        if initial.len() != n {
            return Err(CommittedQError::Shape {
                what: "initial distribution length vs number of states",
                expected: n,
                got: initial.len(),
            });
        }
        check_probability_vector(&initial, STOCHASTIC_TOL).map_err(|source| {
            CommittedQError::Probability {
                what: "initial distribution".into(),
                source,
            }
        })?;
        let cells = n.checked_mul(n_actions).ok_or(CommittedQError::Parameter {
            name: "n_actions",
            value: n_actions as f64,
            reason: "states × actions overflows usize",
        })?;
        if branches.len() != cells {
            return Err(CommittedQError::Shape {
                what: "branch lists vs states × actions",
                expected: cells,
                got: branches.len(),
            });
        }
        for (i, list) in branches.iter().enumerate() {
            let (state, action) = (i / n_actions, i % n_actions);
            let probs: Vec<f64> = list.iter().map(|b| b.prob).collect();
            check_probability_vector(&probs, STOCHASTIC_TOL).map_err(|source| {
                CommittedQError::Probability {
                    what: format!("transition of state {state}, action {action}"),
                    source,
                }
            })?;
            for b in list {
                if let Some(next) = b.next.filter(|&x| x >= n) {
                    return Err(CommittedQError::StateOutOfRange {
                        state,
                        action,
                        next,
                        n_states: n,
                    });
                }
                if !b.reward.is_finite() {
                    return Err(CommittedQError::NonFinite {
                        what: format!("reward of state {state}, action {action}"),
                        value: b.reward,
                    });
                }
                if b.reward.abs() > MAX_ABS_REWARD {
                    return Err(CommittedQError::Parameter {
                        name: "reward",
                        value: b.reward,
                        reason: "rewards beyond ±1e100 overflow the returns and Q-values (f64)",
                    });
                }
            }
        }
        let probs = branches
            .iter()
            .map(|l| l.iter().map(|b| b.prob).collect())
            .collect();
        Ok(Self {
            features,
            n_features,
            n_actions,
            initial,
            branches,
            probs,
        })
    }

    /// The feature of every state.
    pub fn features(&self) -> &[usize] {
        &self.features
    }

    /// The start distribution.
    pub fn initial(&self) -> &[f64] {
        &self.initial
    }

    /// What `action` does in `state`.
    ///
    /// # Panics
    /// If `state` or `action` is out of range, like a slice index (an `action ≥ n_actions`
    /// would otherwise read the next state's row).
    pub fn branches(&self, state: usize, action: usize) -> &[Branch] {
        assert!(
            action < self.n_actions && state < self.features.len(),
            "TabularEnv::branches: (state {state}, action {action}) out of range ({} states, {} actions)",
            self.features.len(),
            self.n_actions
        );
        &self.branches[state * self.n_actions + action]
    }

    /// The expected reward `r̄(x, u)` of taking `action` in `state`.
    ///
    /// # Panics
    /// As [`Self::branches`].
    pub fn expected_reward(&self, state: usize, action: usize) -> f64 {
        self.branches(state, action)
            .iter()
            .map(|b| b.prob * b.reward)
            .sum()
    }

    /// The states whose feature is `feature`.
    pub fn states_of(&self, feature: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.features.len()).filter(move |&x| self.features[x] == feature)
    }
}

impl Environment for TabularEnv {
    fn n_states(&self) -> usize {
        self.features.len()
    }
    fn n_features(&self) -> usize {
        self.n_features
    }
    fn n_actions(&self) -> usize {
        self.n_actions
    }
    /// # Panics
    /// If `state` is out of range, like a slice index.
    fn feature(&self, state: usize) -> usize {
        assert!(
            state < self.features.len(),
            "TabularEnv::feature: state {state} out of range ({} states)",
            self.features.len()
        );
        self.features[state]
    }
    fn reset<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        sample_index(&self.initial, rng)
    }
    /// # Panics
    /// As [`TabularEnv::branches`]: a state or action out of range (never another row).
    fn step<R: Rng + ?Sized>(&self, state: usize, action: usize, rng: &mut R) -> Transition {
        assert!(
            action < self.n_actions && state < self.features.len(),
            "TabularEnv::step: (state {state}, action {action}) out of range ({} states, {} actions)",
            self.features.len(),
            self.n_actions
        );
        let i = state * self.n_actions + action;
        let b = self.branches[i][sample_index(&self.probs[i], rng)];
        Transition {
            reward: b.reward,
            next: b.next,
        }
    }
}
