//! Hyper-parameters: the behaviour, the authors' decay schedules, and validated parameters.

use crate::{CommittedQError, Result};

/// When the behaviour policy draws a new action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
/// [`check`](Self::check) validates them into [`ValidQLearningParams`]. With the feature `serde`
/// they (de)serialise as plain fields (validate after loading with `check`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// Discount factor `γ ∈ [0, 1]` of the update's bootstrap (default 1: the paper's
    /// undiscounted episodic setting; the [`exact`](crate::exact) tools assume 1).
    pub gamma: f64,
    /// Truncate episodes after this many steps (default none). A truncated step is not
    /// terminal: its update still bootstraps on the next feature (time-limit truncation, not an
    /// end of the MDP); the next step starts a new episode.
    pub time_limit: Option<u64>,
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
            gamma: 1.0,
            time_limit: None,
        }
    }

    /// Sets the discount factor.
    pub fn gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }

    /// Truncates episodes after `steps` steps.
    pub fn time_limit(mut self, steps: u64) -> Self {
        self.time_limit = Some(steps);
        self
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
    /// horizon ≥ 1, `q_init_std ≥ 0` finite, `γ ∈ [0, 1]`, a time limit ≥ 1.
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
        if !(0.0..=1.0).contains(&self.gamma) {
            return Err(CommittedQError::Parameter {
                name: "gamma",
                value: self.gamma,
                reason: "a discount factor lies in [0, 1]",
            });
        }
        if self.time_limit == Some(0) {
            return Err(CommittedQError::Parameter {
                name: "time_limit",
                value: 0.0,
                reason: "an episode needs at least one step",
            });
        }
        Ok(ValidQLearningParams {
            gamma: self.gamma,
            time_limit: self.time_limit,
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
    pub(crate) behaviour: Behaviour,
    pub(crate) alpha: DecaySchedule,
    pub(crate) epsilon: DecaySchedule,
    pub(crate) q_init_std: f64,
    pub(crate) uniform_first_action: bool,
    pub(crate) gamma: f64,
    pub(crate) time_limit: Option<u64>,
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
    /// The discount factor.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
    /// The episode time limit, if any.
    pub fn time_limit(&self) -> Option<u64> {
        self.time_limit
    }
}
