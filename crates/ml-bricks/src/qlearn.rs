//! The crawler: tabular Q-learning over four arm poses.
//!
//! A state is the pose the arm is in; an action is "go to pose j ≠ i", so the table is 4 × 4
//! with an empty diagonal. After each move the reward `r` (the change of the distance to the
//! wall, cm) updates
//!
//! ```text
//!     Q[s][a] ← (1 − α) Q[s][a] + α (r + γ · max_j Q[a][j])
//! ```
//!
//! with `α = 1` and `γ ∈ {0, 1}` on the page ("foresight" off or on). Exploration takes a
//! random move with probability `ε` (high 0.7, low 0.3, none 0), preferring moves whose reward
//! is still unknown; otherwise the move with the largest `Q[s][·]`, ties to the lowest index.

use crate::error::{check_index, check_range, BricksError, Result};
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// Number of arm poses.
pub const POSES: usize = 4;
/// The poses' motor angles in degrees (big motor, small motor).
pub const POSE_ANGLES: [(f64, f64); POSES] =
    [(0.0, 0.0), (290.0, 40.0), (330.0, 250.0), (60.0, 250.0)];

/// The page's exploration setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exploration {
    /// ε = 0.7.
    High,
    /// ε = 0.3.
    Low,
    /// ε = 0: always the greedy move.
    None,
}

impl Exploration {
    /// The probability of a random move.
    pub fn epsilon(self) -> f64 {
        match self {
            Exploration::High => 0.7,
            Exploration::Low => 0.3,
            Exploration::None => 0.0,
        }
    }
}

/// Whether a move was chosen greedily or at random.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The move with the largest Q value.
    Exploitation,
    /// A random move.
    Exploration,
}

/// The learner: its table, the rewards seen, and the pose it is in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QLearner {
    q: [[f64; POSES]; POSES],
    rewards: [[Option<f64>; POSES]; POSES],
    alpha: f64,
    foresight: bool,
    epsilon: f64,
    state: usize,
    moves: u64,
}

impl QLearner {
    /// A learner with all Q values 0 in pose 0; `α ∈ (0, 1]` (the page: 1), `ε ∈ [0, 1]`,
    /// `foresight` sets `γ = 1` (else 0).
    pub fn new(alpha: f64, epsilon: f64, foresight: bool) -> Result<Self> {
        check_range("alpha", alpha, 0.0, 1.0)?;
        if alpha == 0.0 {
            return Err(BricksError::OutOfRange {
                what: "alpha (must be positive)",
                value: alpha,
                lo: f64::MIN_POSITIVE,
                hi: 1.0,
            });
        }
        check_range("epsilon", epsilon, 0.0, 1.0)?;
        Ok(Self {
            q: [[0.0; POSES]; POSES],
            rewards: [[None; POSES]; POSES],
            alpha,
            foresight,
            epsilon,
            state: 0,
            moves: 0,
        })
    }

    /// The page's learner: `α = 1`, the given exploration and foresight.
    pub fn page(exploration: Exploration, foresight: bool) -> Self {
        Self {
            q: [[0.0; POSES]; POSES],
            rewards: [[None; POSES]; POSES],
            alpha: 1.0,
            foresight,
            epsilon: exploration.epsilon(),
            state: 0,
            moves: 0,
        }
    }

    /// The discount: 1 with foresight, else 0.
    pub fn gamma(&self) -> f64 {
        if self.foresight {
            1.0
        } else {
            0.0
        }
    }

    /// Turns foresight on or off (the Q values are kept).
    pub fn set_foresight(&mut self, on: bool) {
        self.foresight = on;
    }

    /// Sets the exploration probability `ε ∈ [0, 1]`.
    pub fn set_epsilon(&mut self, epsilon: f64) -> Result<()> {
        self.epsilon = check_range("epsilon", epsilon, 0.0, 1.0)?;
        Ok(())
    }

    /// The exploration probability.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The pose the crawler is in.
    pub fn state(&self) -> usize {
        self.state
    }

    /// Moves made (updates applied).
    pub fn moves(&self) -> u64 {
        self.moves
    }

    /// `Q[s][a]`, `None` on the diagonal. Errors on an index past 3.
    pub fn q(&self, s: usize, a: usize) -> Result<Option<f64>> {
        check_index("state", s, POSES)?;
        check_index("action", a, POSES)?;
        Ok((s != a).then_some(self.q[s][a]))
    }

    /// The table, `None` on the diagonal.
    pub fn table(&self) -> [[Option<f64>; POSES]; POSES] {
        let mut t = [[None; POSES]; POSES];
        for (s, row) in t.iter_mut().enumerate() {
            for (a, cell) in row.iter_mut().enumerate() {
                if s != a {
                    *cell = Some(self.q[s][a]);
                }
            }
        }
        t
    }

    /// The last reward seen for each move (`None`: not tried yet, and on the diagonal).
    pub fn rewards(&self) -> [[Option<f64>; POSES]; POSES] {
        self.rewards
    }

    /// How many of the 12 moves have a known reward.
    pub fn known(&self) -> usize {
        self.rewards
            .iter()
            .flatten()
            .filter(|r| r.is_some())
            .count()
    }

    /// The greedy move from `s`: the largest `Q[s][a]`, ties to the lowest `a`.
    pub fn greedy(&self, s: usize) -> Result<usize> {
        check_index("state", s, POSES)?;
        let mut best = None::<(usize, f64)>;
        for a in (0..POSES).filter(|&a| a != s) {
            if best.is_none_or(|(_, q)| self.q[s][a] > q) {
                best = Some((a, self.q[s][a]));
            }
        }
        Ok(best.map_or(0, |b| b.0))
    }

    /// The next move from the current pose: with probability `ε` a random one (among the
    /// moves whose reward is unknown, if any), else the greedy one.
    pub fn choose(&self, rng: &mut impl rand::Rng) -> (usize, Mode) {
        let s = self.state;
        if self.epsilon > 0.0 && rng.random::<f64>() < self.epsilon {
            let unknown: Vec<usize> = (0..POSES)
                .filter(|&a| a != s && self.rewards[s][a].is_none())
                .collect();
            let pool: Vec<usize> = if unknown.is_empty() {
                (0..POSES).filter(|&a| a != s).collect()
            } else {
                unknown
            };
            (pool[rng.random_range(0..pool.len())], Mode::Exploration)
        } else {
            // The greedy move from a valid state cannot fail.
            (self.greedy(s).unwrap_or(0), Mode::Exploitation)
        }
    }

    /// Applies the update for the move `s → a` with reward `r` and moves to pose `a`. Returns
    /// the new `Q[s][a]`. Errors on an index past 3, `a = s`, or a non-finite reward; the
    /// learner is unchanged then.
    pub fn update(&mut self, s: usize, a: usize, r: f64) -> Result<f64> {
        check_index("state", s, POSES)?;
        check_index("action", a, POSES)?;
        if s == a {
            return Err(BricksError::Index {
                what: "action",
                index: a,
                reason: "a move must go to another pose".into(),
            });
        }
        check_range("reward", r, f64::MIN, f64::MAX)?;
        let future = (0..POSES)
            .filter(|&j| j != a)
            .map(|j| self.q[a][j])
            .fold(f64::NEG_INFINITY, f64::max);
        let target = r + self.gamma() * future;
        let q = (1.0 - self.alpha) * self.q[s][a] + self.alpha * target;
        if !q.is_finite() {
            return Err(BricksError::NonFinite {
                what: "updated Q value",
                value: q,
            });
        }
        self.q[s][a] = q;
        self.rewards[s][a] = Some(r);
        self.state = a;
        self.moves += 1;
        Ok(q)
    }

    /// Clears the table and the rewards and returns to pose 0 (settings kept).
    pub fn reset(&mut self) {
        self.q = [[0.0; POSES]; POSES];
        self.rewards = [[None; POSES]; POSES];
        self.state = 0;
        self.moves = 0;
    }
}
