//! The learners: committed and regular Q-learning on features, sharing one update rule
//! ([`q_update`]), one pair of schedules ([`DecaySchedule`]) and one initialisation.
//!
//! - [`params`]: [`Behaviour`], [`DecaySchedule`], [`QLearningParams`] → [`ValidQLearningParams`];
//! - [`table`]: [`QTable`] and [`q_update`];
//! - here: the learner [`QLearner`], Q recorded at log-spaced times ([`QLearner::run_recorded`])
//!   and a parallel runner over seeds ([`run_seeds`]).

pub mod params;
pub mod table;

pub use params::{Behaviour, DecaySchedule, QLearningParams, ValidQLearningParams};
pub use table::{q_update, q_update_discounted, QTable};

use crate::{CommittedQError, Environment, Result};
use rand::{Rng, RngExt};

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
    /// Steps taken in the current episode.
    in_episode: u64,
    current: Option<(usize, usize)>,
}

impl<'e, E: Environment> QLearner<'e, E> {
    /// A learner with `Q₀ = q_init_std · N(0, 1)` drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(env: &'e E, params: ValidQLearningParams, rng: &mut R) -> Self {
        let q = QTable::random(env.n_features(), env.n_actions(), params.q_init_std, rng);
        Self::start(env, params, q)
    }

    fn start(env: &'e E, params: ValidQLearningParams, q: QTable) -> Self {
        Self {
            env,
            params,
            q,
            t: 0,
            episodes: 0,
            in_episode: 0,
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
        Ok(Self::start(env, params, q))
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
                self.in_episode = 0;
                (x, u, true)
            }
        };
        let z = self.env.feature(x);
        let tr = self.env.step(x, u, rng);
        let z2 = tr.next.map(|x2| self.env.feature(x2));
        let td = q_update_discounted(
            &mut self.q,
            z,
            u,
            tr.reward,
            z2,
            self.params.alpha.at(self.t),
            self.params.gamma,
        );
        self.in_episode += 1;
        // Time-limit truncation: the update above bootstrapped (the state is not terminal),
        // and the next step starts a new episode.
        let truncated = self
            .params
            .time_limit
            .is_some_and(|limit| self.in_episode >= limit);
        self.current = match (tr.next, z2) {
            _ if truncated => None,
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

    /// Runs until each step count in `at` (increasing, from this learner's current count)
    /// and records `Q` there — the authors' `qcorridor` returns `(ts, qs)` the same way. Errors
    /// on a decreasing list or a count already passed.
    pub fn run_recorded<R: Rng + ?Sized>(&mut self, at: &[u64], rng: &mut R) -> Result<Recording> {
        let mut qs = Vec::with_capacity(at.len());
        for (i, &t) in at.iter().enumerate() {
            if t < self.t || (i > 0 && t < at[i - 1]) {
                return Err(CommittedQError::Parameter {
                    name: "checkpoints",
                    value: t as f64,
                    reason: "must be increasing and not before the learner's current step",
                });
            }
            self.run(t - self.t, rng);
            qs.push(self.q.clone());
        }
        Ok(Recording {
            ts: at.to_vec(),
            qs,
        })
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

/// `Q` recorded at step counts.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Recording {
    /// The step counts.
    pub ts: Vec<u64>,
    /// `Q` after each.
    pub qs: Vec<QTable>,
}

/// `n` log-spaced step counts from 1 to `horizon` (rounded, increasing, duplicates removed, the
/// last one `horizon`). Errors on `n = 0` or `horizon = 0`.
pub fn log_spaced(horizon: u64, n: usize) -> Result<Vec<u64>> {
    if n == 0 || horizon == 0 {
        return Err(CommittedQError::Parameter {
            name: "checkpoints",
            value: n as f64,
            reason: "need at least one checkpoint and a horizon ≥ 1",
        });
    }
    let top = (horizon as f64).ln();
    let mut out: Vec<u64> = (0..n)
        .map(|i| {
            if n == 1 {
                horizon
            } else {
                ((top * i as f64 / (n - 1) as f64).exp().round() as u64).clamp(1, horizon)
            }
        })
        .collect();
    out.dedup();
    if let Some(last) = out.last_mut() {
        *last = horizon;
    }
    Ok(out)
}

/// Runs one learner per seed in parallel (rayon) for `checkpoints.last()` steps, recording `Q`
/// at `checkpoints`. Seed `s` draws from `core_linalg::stream_rng(master_seed, s)`, so the
/// results depend on the seeds only, not on the thread count or the order.
pub fn run_seeds<E: Environment + Sync>(
    env: &E,
    params: ValidQLearningParams,
    checkpoints: &[u64],
    master_seed: u64,
    seeds: &[u64],
) -> Result<Vec<Recording>> {
    use rayon::prelude::*;
    seeds
        .par_iter()
        .map(|&s| {
            let mut rng = core_linalg::stream_rng(master_seed, s);
            let mut agent = QLearner::new(env, params, &mut rng);
            agent.run_recorded(checkpoints, &mut rng)
        })
        .collect()
}
