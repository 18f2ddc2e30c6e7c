//! The learners: committed and regular Q-learning on features, sharing one update rule
//! ([`q_update`]), one pair of schedules ([`DecaySchedule`]) and one initialisation.

use crate::{CommittedQError, Environment, Result};
use nalgebra::DMatrix;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

/// When the behaviour policy draws a new action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// Committed Q-learning: draw ε-greedily only at the start of an episode or when the
    /// observed feature changes; otherwise keep the action.
    Committed,
    /// Regular Q-learning on features: draw ε-greedily at every step.
    Regular,
}

impl Behaviour {
    /// `"committed"` or `"regular"`.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Committed => "committed",
            Behaviour::Regular => "regular",
        }
    }
}

/// The authors' hyperbolic decay `c(t) = c₀·c_b/(c_b + t)` with `c_b = c_T·T/(c₀ − c_T)`, so that
/// `c(0) = c₀` and `c(T) = c_T`, decaying further after `T`; constant when `c₀ = c_T`.
/// `t` counts environment steps from 0 across episodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecaySchedule {
    start: f64,
    end: f64,
    horizon: u64,
    cb: f64,
}

impl DecaySchedule {
    /// A schedule from `start` at step 0 to `end` at step `horizon`. Errors unless
    /// `0 < end ≤ start` are finite and `horizon ≥ 1`.
    pub fn new(start: f64, end: f64, horizon: u64) -> Result<Self> {
        if !(start.is_finite() && start > 0.0) {
            return Err(CommittedQError::Parameter {
                name: "schedule start",
                value: start,
                reason: "must be finite and positive",
            });
        }
        if !(end > 0.0 && end <= start) {
            return Err(CommittedQError::Parameter {
                name: "schedule end",
                value: end,
                reason: "must be positive and at most the start value",
            });
        }
        if horizon == 0 {
            return Err(CommittedQError::Parameter {
                name: "horizon",
                value: 0.0,
                reason: "the schedule's horizon must be at least one step",
            });
        }
        // In this order, c_b overflows to +∞ only when end/(start − end) is astronomically
        // large (end = start to ~1e-290), where the constant schedule is the right answer.
        let cb = if end == start {
            f64::INFINITY
        } else {
            end / (start - end) * horizon as f64
        };
        Ok(Self {
            start,
            end,
            horizon,
            cb,
        })
    }

    /// The value at step `t`.
    #[inline]
    pub fn at(&self, t: u64) -> f64 {
        // c₀/(1 + t/c_b): no c₀·c_b product to overflow. t/c_b is +∞ only for t > 0 and
        // c_b = 0 (an end value so small that end·T/(c₀ − end) underflows): the limit 0.
        if t == 0 {
            self.start
        } else {
            self.start / (1.0 + t as f64 / self.cb)
        }
    }

    /// `(c₀, c_T, T)`.
    pub fn parts(&self) -> (f64, f64, u64) {
        (self.start, self.end, self.horizon)
    }
}

/// Hyper-parameters of a learner, with the authors' defaults; setters never fail, and
/// [`check`](Self::check) validates them into [`ValidQLearningParams`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QLearningParams {
    /// When actions are drawn.
    pub behaviour: Behaviour,
    /// The horizon `T` the schedules are tuned to.
    pub horizon: u64,
    /// Step size from `alpha.0` at 0 to `alpha.1` at `T` (default 0.1 → 0.01).
    pub alpha: (f64, f64),
    /// Exploration from `epsilon.0` to `epsilon.1` (default 0.1 → 0.01).
    pub epsilon: (f64, f64),
    /// `Q₀ = q_init_std · N(0, 1)` entry-wise (default 0.1).
    pub q_init_std: f64,
    /// Draw the very first action uniformly, before any update (the authors' `π = [.5, .5]`;
    /// default true).
    pub uniform_first_action: bool,
}

impl QLearningParams {
    /// The authors' defaults for the given behaviour and horizon.
    pub fn new(behaviour: Behaviour, horizon: u64) -> Self {
        Self {
            behaviour,
            horizon,
            alpha: (0.1, 0.01),
            epsilon: (0.1, 0.01),
            q_init_std: 0.1,
            uniform_first_action: true,
        }
    }

    /// Committed Q-learning with the authors' defaults.
    pub fn committed(horizon: u64) -> Self {
        Self::new(Behaviour::Committed, horizon)
    }

    /// Regular Q-learning with the authors' defaults.
    pub fn regular(horizon: u64) -> Self {
        Self::new(Behaviour::Regular, horizon)
    }

    /// Sets the step-size schedule.
    pub fn alpha(mut self, start: f64, end: f64) -> Self {
        self.alpha = (start, end);
        self
    }

    /// Sets the exploration schedule.
    pub fn epsilon(mut self, start: f64, end: f64) -> Self {
        self.epsilon = (start, end);
        self
    }

    /// Sets the standard deviation of the initial Q values.
    pub fn q_init_std(mut self, std: f64) -> Self {
        self.q_init_std = std;
        self
    }

    /// Whether the first action is uniform.
    pub fn uniform_first_action(mut self, yes: bool) -> Self {
        self.uniform_first_action = yes;
        self
    }

    /// Validates: step sizes in `(0, 1]`, exploration in `(0, 1]`, both non-increasing,
    /// horizon ≥ 1, `q_init_std ≥ 0` finite.
    pub fn check(&self) -> Result<ValidQLearningParams> {
        for (name, (a, b)) in [("alpha", self.alpha), ("epsilon", self.epsilon)] {
            if a > 1.0 {
                return Err(CommittedQError::Parameter {
                    name,
                    value: a,
                    reason: "must not exceed 1",
                });
            }
            DecaySchedule::new(a, b, self.horizon)?;
        }
        if !(self.q_init_std >= 0.0 && self.q_init_std <= crate::MAX_ABS_REWARD) {
            return Err(CommittedQError::Parameter {
                name: "q_init_std",
                value: self.q_init_std,
                reason: "must lie in [0, 1e100] (larger initial values overflow the updates)",
            });
        }
        Ok(ValidQLearningParams {
            behaviour: self.behaviour,
            alpha: DecaySchedule::new(self.alpha.0, self.alpha.1, self.horizon)?,
            epsilon: DecaySchedule::new(self.epsilon.0, self.epsilon.1, self.horizon)?,
            q_init_std: self.q_init_std,
            uniform_first_action: self.uniform_first_action,
        })
    }
}

/// Validated hyper-parameters; only [`QLearningParams::check`] makes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidQLearningParams {
    behaviour: Behaviour,
    alpha: DecaySchedule,
    epsilon: DecaySchedule,
    q_init_std: f64,
    uniform_first_action: bool,
}

impl ValidQLearningParams {
    /// When actions are drawn.
    pub fn behaviour(&self) -> Behaviour {
        self.behaviour
    }
    /// The step-size schedule.
    pub fn alpha(&self) -> &DecaySchedule {
        &self.alpha
    }
    /// The exploration schedule.
    pub fn epsilon(&self) -> &DecaySchedule {
        &self.epsilon
    }
}

/// A table `Q(z, u)` over features and actions.
#[derive(Debug, Clone, PartialEq)]
pub struct QTable {
    n_features: usize,
    n_actions: usize,
    values: Vec<f64>,
}

impl QTable {
    /// All zeros.
    ///
    /// # Panics
    /// If `n_features × n_actions` overflows `usize` (like `vec!` on a capacity overflow).
    pub fn zeros(n_features: usize, n_actions: usize) -> Self {
        Self {
            n_features,
            n_actions,
            values: vec![0.0; cells(n_features, n_actions)],
        }
    }

    /// From rows `q[z][u]`; errors on ragged, empty or non-finite input.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self> {
        let n_actions = rows.first().map_or(0, Vec::len);
        if rows.is_empty() || n_actions == 0 {
            return Err(CommittedQError::Empty { what: "Q table" });
        }
        let mut values = Vec::with_capacity(rows.len() * n_actions);
        for r in rows {
            if r.len() != n_actions {
                return Err(CommittedQError::Shape {
                    what: "Q table row length",
                    expected: n_actions,
                    got: r.len(),
                });
            }
            if let Some(&v) = r.iter().find(|v| !v.is_finite()) {
                return Err(CommittedQError::NonFinite {
                    what: "Q table entry".into(),
                    value: v,
                });
            }
            values.extend_from_slice(r);
        }
        Ok(Self {
            n_features: rows.len(),
            n_actions,
            values,
        })
    }

    /// Entries drawn `std · N(0, 1)` (`±∞` where that product overflows, possible only for
    /// `std` beyond about 1e307).
    ///
    /// # Panics
    /// As [`Self::zeros`].
    pub fn random<R: Rng + ?Sized>(
        n_features: usize,
        n_actions: usize,
        std: f64,
        rng: &mut R,
    ) -> Self {
        let values = (0..cells(n_features, n_actions))
            .map(|_| std * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng))
            .collect();
        Self {
            n_features,
            n_actions,
            values,
        }
    }

    /// Number of features (rows).
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of actions (columns).
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// `Q(z, u)`.
    ///
    /// # Panics
    /// If `z` or `u` is out of range, like a slice index (a `u ≥ n_actions` would otherwise read
    /// the next feature's row).
    #[inline]
    pub fn get(&self, z: usize, u: usize) -> f64 {
        self.check(z, u);
        self.values[z * self.n_actions + u]
    }

    /// Sets `Q(z, u)`.
    ///
    /// # Panics
    /// As [`Self::get`].
    #[inline]
    pub fn set(&mut self, z: usize, u: usize, v: f64) {
        self.check(z, u);
        self.values[z * self.n_actions + u] = v;
    }

    #[inline]
    fn check(&self, z: usize, u: usize) {
        assert!(
            z < self.n_features && u < self.n_actions,
            "QTable: (feature {z}, action {u}) out of range ({} features, {} actions)",
            self.n_features,
            self.n_actions
        );
    }

    /// The row `Q(z, ·)`.
    ///
    /// # Panics
    /// If `z` is out of range, like a slice index.
    #[inline]
    pub fn row(&self, z: usize) -> &[f64] {
        assert!(
            z < self.n_features,
            "QTable: feature {z} out of range ({} features)",
            self.n_features
        );
        &self.values[z * self.n_actions..(z + 1) * self.n_actions]
    }

    /// `max_u Q(z, u)` (`−∞` for a table without actions).
    ///
    /// # Panics
    /// As [`Self::row`].
    #[inline]
    pub fn max(&self, z: usize) -> f64 {
        self.row(z)
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The greedy action at `z` (the first maximiser; 0 for a table without actions).
    ///
    /// # Panics
    /// As [`Self::row`].
    #[inline]
    pub fn greedy(&self, z: usize) -> usize {
        let row = self.row(z);
        let mut best = 0;
        for (u, &v) in row.iter().enumerate().skip(1) {
            if v > row[best] {
                best = u;
            }
        }
        best
    }

    /// The greedy action of every feature.
    pub fn greedy_policy(&self) -> Vec<usize> {
        (0..self.n_features).map(|z| self.greedy(z)).collect()
    }

    /// Whether `policy[z]` is the *strict* maximiser of every row (a tie is not optimal; an
    /// action out of range, or a policy of the wrong length, is not).
    pub fn strictly_prefers(&self, policy: &[usize]) -> bool {
        policy.len() == self.n_features
            && policy.iter().enumerate().all(|(z, &a)| {
                if a >= self.n_actions {
                    return false;
                }
                let best = self.get(z, a);
                (0..self.n_actions).all(|u| u == a || self.get(z, u) < best)
            })
    }

    /// `max |Q − other|` over all entries (∞ when the shapes differ).
    pub fn max_abs_diff(&self, other: &QTable) -> f64 {
        if (self.n_features, self.n_actions) != (other.n_features, other.n_actions) {
            return f64::INFINITY;
        }
        self.values
            .iter()
            .zip(&other.values)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }

    /// As a matrix (rows features, columns actions).
    pub fn to_matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.n_features, self.n_actions, &self.values)
    }
}

/// `n_features × n_actions`, panicking (documented on the constructors) on overflow.
fn cells(n_features: usize, n_actions: usize) -> usize {
    n_features
        .checked_mul(n_actions)
        .unwrap_or_else(|| panic!("QTable: {n_features} × {n_actions} entries overflow usize"))
}

/// The one update rule both learners share (undiscounted, episodic):
/// `Q(z, u) += α [r + 1{x′ non-terminal} · max_u′ Q(z′, u′) − Q(z, u)]`.
///
/// `next_feature` is `None` when the episode ended. Returns the TD error.
#[inline]
pub fn q_update(
    q: &mut QTable,
    z: usize,
    u: usize,
    reward: f64,
    next_feature: Option<usize>,
    alpha: f64,
) -> f64 {
    let target = reward + next_feature.map_or(0.0, |z2| q.max(z2));
    let td = target - q.get(z, u);
    q.set(z, u, q.get(z, u) + alpha * td);
    td
}

/// What happened in one learner step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    /// The step index `t` (from 0, across episodes).
    pub t: u64,
    /// The state acted in.
    pub state: usize,
    /// Its feature.
    pub feature: usize,
    /// The action taken.
    pub action: usize,
    /// Whether this step began an episode.
    pub episode_start: bool,
    /// The reward.
    pub reward: f64,
    /// The next state (`None`: the episode ended).
    pub next: Option<usize>,
    /// The TD error of the update.
    pub td_error: f64,
}

/// A Q-learner on features: the algorithm's state, advanced one environment step at a time by
/// [`step`](Self::step).
#[derive(Debug, Clone)]
pub struct QLearner<'e, E> {
    env: &'e E,
    params: ValidQLearningParams,
    q: QTable,
    t: u64,
    episodes: u64,
    current: Option<(usize, usize)>,
}

impl<'e, E: Environment> QLearner<'e, E> {
    /// A learner with `Q₀ = q_init_std · N(0, 1)` drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(env: &'e E, params: ValidQLearningParams, rng: &mut R) -> Self {
        let q = QTable::random(env.n_features(), env.n_actions(), params.q_init_std, rng);
        Self {
            env,
            params,
            q,
            t: 0,
            episodes: 0,
            current: None,
        }
    }

    /// A learner starting from the given table; errors unless its shape is features × actions.
    pub fn with_q(env: &'e E, params: ValidQLearningParams, q: QTable) -> Result<Self> {
        if q.n_features() != env.n_features() || q.n_actions() != env.n_actions() {
            return Err(CommittedQError::Shape {
                what: "Q table entries vs features × actions",
                expected: env.n_features() * env.n_actions(),
                got: q.n_features() * q.n_actions(),
            });
        }
        Ok(Self {
            env,
            params,
            q,
            t: 0,
            episodes: 0,
            current: None,
        })
    }

    #[inline]
    fn draw<R: Rng + ?Sized>(&self, z: usize, rng: &mut R) -> usize {
        let n = self.env.n_actions();
        if self.t == 0 && self.params.uniform_first_action {
            return rng.random_range(0..n);
        }
        if rng.random::<f64>() < self.params.epsilon.at(self.t) {
            rng.random_range(0..n)
        } else {
            self.q.greedy(z)
        }
    }

    /// One environment step: act (drawing an action first if the episode is new), update `Q`,
    /// then choose the next action (committed: only if the feature changed).
    #[inline]
    pub fn step<R: Rng + ?Sized>(&mut self, rng: &mut R) -> StepRecord {
        let (x, u, episode_start) = match self.current {
            Some((x, u)) => (x, u, false),
            None => {
                let x = self.env.reset(rng);
                let u = self.draw(self.env.feature(x), rng);
                self.episodes += 1;
                (x, u, true)
            }
        };
        let z = self.env.feature(x);
        let tr = self.env.step(x, u, rng);
        let z2 = tr.next.map(|x2| self.env.feature(x2));
        let td = q_update(
            &mut self.q,
            z,
            u,
            tr.reward,
            z2,
            self.params.alpha.at(self.t),
        );
        self.current = match (tr.next, z2) {
            (Some(x2), Some(z2)) => {
                let u2 = if self.params.behaviour == Behaviour::Regular || z2 != z {
                    self.draw(z2, rng)
                } else {
                    u
                };
                Some((x2, u2))
            }
            _ => None,
        };
        let rec = StepRecord {
            t: self.t,
            state: x,
            feature: z,
            action: u,
            episode_start,
            reward: tr.reward,
            next: tr.next,
            td_error: td,
        };
        self.t += 1;
        rec
    }

    /// Runs `steps` steps.
    pub fn run<R: Rng + ?Sized>(&mut self, steps: u64, rng: &mut R) {
        for _ in 0..steps {
            self.step(rng);
        }
    }

    /// The current table.
    pub fn q(&self) -> &QTable {
        &self.q
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Episodes begun so far.
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// The hyper-parameters.
    pub fn params(&self) -> &ValidQLearningParams {
        &self.params
    }
}
