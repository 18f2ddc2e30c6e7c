//! A small POMDP toolkit around the filters: the adapted RingWorld environment of the paper's
//! §6.2, the feature maps a learner reads from the filters, a linear actor–critic, running
//! feature standardisation, value iteration and QMDP.
//!
//! RingWorld (every choice ours; the paper gives neither episode length, beacon layout, slip
//! model nor learner details):
//!
//! - 12 ring positions `0..12` (the paper's 1..12 shifted by one); goals at 1, 2 (paper 2, 3),
//!   traps at 5, 10, 11 (paper 6, 11, 12). Entering a goal pays +1, a trap −1; both end the
//!   episode. Episodes also end after [`RingWorld::HORIZON`] = 40 steps. Starts are uniform over
//!   the 7 non-terminal positions.
//! - Actions CW1, CW2, CCW1, CCW2 move +1, +2, −1, −2. With probability ε = 0.05 the move slips
//!   and the agent stays put: `T(a) = (1 − ε)P(a) + εI`, near-deterministic with `D(a) = P(a)`.
//! - Four beacons at positions 0, 3, 6, 9. Each step the agent hears one beacon `b` with
//!   probability ∝ `exp(−2.5·d(s, b))` (ring distance `d`): emissions are positive and pairwise
//!   distinct (the paper's Assumption 5.8).
//! - That the episode goes on is itself an observation (the agent is not on a goal or trap).
//!   The filters' model has a fifth symbol `done`: goal and trap positions emit it with
//!   probability `1 − 4η`, other positions with `η = 1e-6` (and the beacons with `η` / `1 − η`
//!   scaled), so `E > 0` and the filters are Bayes-correct for the POMDP. The agent only ever
//!   filters beacon symbols; `done` is what ending the episode would show.
//! - Returns are discounted with γ = [`RingWorld::GAMMA`] = 0.97.
//!
//! # Example
//! ```
//! use hmm_linear_filter::pomdp::{RingWorld, FeatureKind, FilterFeatures};
//! let world = RingWorld::new()?;
//! let mut rng = core_linalg::seeded_rng(1);
//! let s = world.starts()[0];
//! let y = world.model().sample_emission(s, &mut rng)?;
//! let f = FilterFeatures::start(&world, FeatureKind::SoftmaxAlfSharp, y)?;
//! assert_eq!(f.features(s).len(), FeatureKind::SoftmaxAlfSharp.dim(&world));
//! # Ok::<(), hmm_linear_filter::HmmError>(())
//! ```

use crate::{ControlledHmm, HmmError, LinearFilter, LogForwardFilter, LogitFilter};
use core_linalg::softmax;
use nalgebra::DMatrix;
use rand::{Rng, RngExt};

/// Ring size.
const N: usize = 12;
const GOALS: [usize; 2] = [1, 2];
const TRAPS: [usize; 3] = [5, 10, 11];
const BEACONS: [usize; 4] = [0, 3, 6, 9];
const MOVES: [isize; 4] = [1, 2, -1, -2];
/// Probability of an "impossible" symbol, keeping `E > 0`.
const ETA: f64 = 1e-6;

/// The adapted RingWorld POMDP (see the module docs).
#[derive(Debug, Clone)]
pub struct RingWorld {
    model: ControlledHmm,
    alf: LinearFilter,
}

impl RingWorld {
    /// Episode length cap.
    pub const HORIZON: usize = 40;
    /// Slip probability ε.
    pub const SLIP: f64 = 0.05;
    /// Discount factor.
    pub const GAMMA: f64 = 0.97;
    /// The ALF's forgetting factor δ.
    pub const ALF_DELTA: f64 = 0.1;

    /// Builds the environment, its controlled HMM (uniform prior) and the ALF (δ = 0.1).
    pub fn new() -> Result<Self, HmmError> {
        let transitions = MOVES
            .iter()
            .map(|&m| {
                let mut t = DMatrix::zeros(N, N);
                for j in 0..N {
                    let i = (j as isize + m).rem_euclid(N as isize) as usize;
                    t[(i, j)] += 1.0 - Self::SLIP;
                    t[(j, j)] += Self::SLIP;
                }
                t
            })
            .collect();
        let dist = |a: usize, b: usize| {
            let d = a.abs_diff(b);
            d.min(N - d) as f64
        };
        let done = BEACONS.len();
        let mut e = DMatrix::zeros(done + 1, N);
        for s in 0..N {
            let w: Vec<f64> = BEACONS.iter().map(|&b| (-2.5 * dist(s, b)).exp()).collect();
            let z: f64 = w.iter().sum();
            let terminal = Self::is_terminal(s);
            for (o, wi) in w.iter().enumerate() {
                e[(o, s)] = if terminal { ETA } else { (1.0 - ETA) * wi / z };
            }
            e[(done, s)] = if terminal {
                1.0 - ETA * BEACONS.len() as f64
            } else {
                ETA
            };
        }
        let model = ControlledHmm::new(transitions, e, vec![1.0 / N as f64; N])?;
        let alf = LinearFilter::adaptive(&model, Self::ALF_DELTA)?;
        Ok(Self { model, alf })
    }

    /// The controlled HMM (uniform prior, five symbols: four beacons and `done`).
    pub fn model(&self) -> &ControlledHmm {
        &self.model
    }
    /// Number of positions.
    pub fn n_states(&self) -> usize {
        N
    }
    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        MOVES.len()
    }
    /// Number of beacon symbols the agent can hear (the model's `done` symbol excluded).
    pub fn n_beacons(&self) -> usize {
        BEACONS.len()
    }
    /// The non-terminal positions, where episodes start (uniformly).
    pub fn starts(&self) -> Vec<usize> {
        (0..N).filter(|&s| !Self::is_terminal(s)).collect()
    }
    fn is_terminal(s: usize) -> bool {
        GOALS.contains(&s) || TRAPS.contains(&s)
    }
    /// `(reward, done)` for entering `state`.
    pub fn reward(&self, state: usize) -> (f64, bool) {
        if GOALS.contains(&state) {
            (1.0, true)
        } else if TRAPS.contains(&state) {
            (-1.0, true)
        } else {
            (0.0, false)
        }
    }
    /// `Q*(s, a)` of the fully observed MDP by value iteration to a sup-norm change below
    /// `1e-12` (γ = 0.97: about 900 sweeps; at most 100 000).
    pub fn q_star(&self) -> Vec<Vec<f64>> {
        let (mut v, mut q) = (vec![0.0; N], vec![vec![0.0; MOVES.len()]; N]);
        for _ in 0..100_000 {
            for (s, qs) in q.iter_mut().enumerate() {
                for (a, t) in self.model.transitions().iter().enumerate() {
                    qs[a] = (0..N)
                        .map(|s2| {
                            let (r, done) = self.reward(s2);
                            t[(s2, s)] * (r + if done { 0.0 } else { Self::GAMMA * v[s2] })
                        })
                        .sum();
                }
            }
            let mut change = 0.0f64;
            for (vs, qs) in v.iter_mut().zip(&q) {
                let nv = qs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                change = change.max((nv - *vs).abs());
                *vs = nv;
            }
            if change < 1e-12 {
                break;
            }
        }
        q
    }
    /// `V*` averaged over the start distribution.
    pub fn optimal_start_value(&self) -> f64 {
        let q = self.q_star();
        let starts = self.starts();
        starts
            .iter()
            .map(|&s| q[s].iter().copied().fold(f64::NEG_INFINITY, f64::max))
            .sum::<f64>()
            / starts.len() as f64
    }
}

/// What a learner reads from the filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureKind {
    /// The last beacon, one-hot (no memory).
    Observation,
    /// The LOF's unnormalised logits `l_k` (log-joint; they grow without bound).
    Lof,
    /// The exact belief `softmax(l_k)`.
    SoftmaxLof,
    /// The ALF's raw logits `w_k` (a δ-weighted forgetting sum of `log e(y)`, near
    /// `log η ≈ −13.8` on terminal positions).
    Alf,
    /// `softmax(w_k)` (flat: `w` is a δ-weighted average).
    SoftmaxAlf,
    /// `softmax(w_k / δ)`: the ALF's logits rescaled to log-likelihood units before the softmax.
    SoftmaxAlfSharp,
    /// The true position, one-hot (the fully observed oracle).
    TrueState,
}

impl FeatureKind {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Observation => "observation only",
            FeatureKind::Lof => "LOF (raw logits)",
            FeatureKind::SoftmaxLof => "softmax(LOF)",
            FeatureKind::Alf => "ALF δ=0.1 (raw)",
            FeatureKind::SoftmaxAlf => "softmax(ALF)",
            FeatureKind::SoftmaxAlfSharp => "softmax(ALF/δ)",
            FeatureKind::TrueState => "true state",
        }
    }
    /// Feature dimension, the constant 1 (bias) included.
    pub fn dim(self, world: &RingWorld) -> usize {
        1 + if self == FeatureKind::Observation {
            world.n_beacons()
        } else {
            world.n_states()
        }
    }
}

/// The filters of one episode and the features they give.
#[derive(Debug, Clone)]
pub struct FilterFeatures<'w> {
    kind: FeatureKind,
    lof: LogForwardFilter<&'w ControlledHmm>,
    alf: LinearFilter,
    obs: usize,
}

impl<'w> FilterFeatures<'w> {
    /// Starts both filters from a uniform prior updated with the first observation `y0`: LOF
    /// `l_0 = log(1/12) + log e(y0)`; the ALF from `w_0 = log e(y0)` — bounded, as
    /// Assumption 5.3 allows (from `w_0 = 0` it would need ≈ 1/δ = 10 steps to localise,
    /// longer than most episodes).
    pub fn start(world: &'w RingWorld, kind: FeatureKind, y0: usize) -> Result<Self, HmmError> {
        let m = world.model();
        let le = m.log_emission_row(y0)?;
        let l0: Vec<f64> = le.iter().map(|l| l - (N as f64).ln()).collect();
        let lof = LogForwardFilter::with_logits(m, &l0)?;
        let mut alf = world.alf.clone();
        alf.set_logits(le)?;
        Ok(Self {
            kind,
            lof,
            alf,
            obs: y0,
        })
    }
    /// Both filters take the step (`action`, then `obs`).
    pub fn observe(&mut self, action: usize, obs: usize) -> Result<(), HmmError> {
        self.lof.step_with_action(action, obs)?;
        self.alf.step_with_action(action, obs)?;
        self.obs = obs;
        Ok(())
    }
    /// The exact belief.
    pub fn lof_belief(&self) -> Vec<f64> {
        self.lof.belief()
    }
    /// The ALF's belief read as `softmax(w/δ)`.
    pub fn alf_belief(&self) -> Vec<f64> {
        let d = RingWorld::ALF_DELTA;
        softmax(&self.alf.logits().iter().map(|w| w / d).collect::<Vec<_>>())
    }
    /// The feature vector (bias first); `state` is read only by [`FeatureKind::TrueState`].
    pub fn features(&self, state: usize) -> Vec<f64> {
        let mut f = vec![1.0];
        let one_hot = |n: usize, at: usize| (0..n).map(move |i| f64::from(u8::from(i == at)));
        match self.kind {
            FeatureKind::Observation => f.extend(one_hot(BEACONS.len(), self.obs)),
            FeatureKind::Lof => {
                let ll = self.lof.log_likelihood();
                f.extend(self.lof.log_belief().iter().map(|l| l + ll));
            }
            FeatureKind::SoftmaxLof => f.extend(self.lof.belief()),
            FeatureKind::Alf => f.extend_from_slice(self.alf.logits()),
            FeatureKind::SoftmaxAlf => f.extend(softmax(self.alf.logits())),
            FeatureKind::SoftmaxAlfSharp => f.extend(self.alf_belief()),
            FeatureKind::TrueState => f.extend(one_hot(N, state)),
        }
        f
    }
}

/// Running per-feature standardisation `(x − mean)/sd` (Welford), the bias (index 0) left as
/// is. Update it while learning and freeze it (stop updating) to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardiser {
    n: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Standardiser {
    /// For features of length `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            n: 0.0,
            mean: vec![0.0; dim],
            m2: vec![0.0; dim],
        }
    }
    /// Adds one feature vector to the running moments (entries within ±[`MAX_FEATURE`]).
    pub fn update(&mut self, x: &[f64]) -> Result<(), HmmError> {
        check_len("features", self.mean.len(), x)?;
        self.n += 1.0;
        for ((m, s), &v) in self.mean.iter_mut().zip(&mut self.m2).zip(x) {
            let d = v - *m;
            *m += d / self.n;
            *s += d * (v - *m);
        }
        Ok(())
    }
    /// `(x − mean)/sd` per feature (sd floored at 1e-8; the bias untouched; the identity before
    /// any update).
    pub fn apply(&self, x: &[f64]) -> Result<Vec<f64>, HmmError> {
        check_len("features", self.mean.len(), x)?;
        if self.n < 2.0 {
            return Ok(x.to_vec());
        }
        Ok(x.iter()
            .enumerate()
            .map(|(i, &v)| {
                if i == 0 {
                    v
                } else {
                    let sd = (self.m2[i] / (self.n - 1.0)).sqrt().max(1e-8);
                    (v - self.mean[i]) / sd
                }
            })
            .collect())
    }
}

/// Largest feature magnitude the learner and the standardiser accept: squares and sums of
/// squares stay finite (`1e100² · 10⁸` entries is far from overflow).
pub const MAX_FEATURE: f64 = 1e100;

fn check_len(what: &'static str, n: usize, x: &[f64]) -> Result<(), HmmError> {
    if x.len() != n {
        return Err(HmmError::Shape {
            what,
            expected: format!("{n}"),
            got: format!("{}", x.len()),
        });
    }
    if let Some(index) = x.iter().position(|v| v.is_nan()) {
        return Err(HmmError::NaN { what, index });
    }
    if let Some(i) = x.iter().position(|v| v.abs() > MAX_FEATURE) {
        return Err(HmmError::Unsupported(format!(
            "{what}: entry {i} is {}, beyond ±{MAX_FEATURE:e}",
            x[i]
        )));
    }
    Ok(())
}

/// One-step episodic actor–critic with a linear critic `v(φ) = w·φ` and a linear-softmax
/// policy `π(a | φ) ∝ exp(θ_a·φ)`; both steps are divided by `1 + ‖φ‖²` (normalised, so
/// unbounded features cannot blow the weights up).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearActorCritic {
    theta: Vec<Vec<f64>>,
    w: Vec<f64>,
    lr_actor: f64,
    lr_critic: f64,
    gamma: f64,
}

impl LinearActorCritic {
    /// Zero weights for features of length `dim` and `n_actions` actions. Errors unless the
    /// step sizes are finite and positive, `γ ∈ [0, 1]`, and `dim`, `n_actions` ≥ 1.
    pub fn new(
        dim: usize,
        n_actions: usize,
        lr_actor: f64,
        lr_critic: f64,
        gamma: f64,
    ) -> Result<Self, HmmError> {
        if dim == 0 || n_actions == 0 {
            return Err(HmmError::Unsupported(format!(
                "a learner needs features and actions (dim {dim}, actions {n_actions})"
            )));
        }
        for (name, v) in [("lr_actor", lr_actor), ("lr_critic", lr_critic)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(HmmError::Unsupported(format!(
                    "{name} = {v}: a step size is finite and positive"
                )));
            }
        }
        if !(0.0..=1.0).contains(&gamma) {
            return Err(HmmError::Unsupported(format!(
                "gamma = {gamma} must lie in [0, 1]"
            )));
        }
        Ok(Self {
            theta: vec![vec![0.0; dim]; n_actions],
            w: vec![0.0; dim],
            lr_actor,
            lr_critic,
            gamma,
        })
    }
    /// `π(· | φ)`.
    pub fn policy(&self, phi: &[f64]) -> Result<Vec<f64>, HmmError> {
        check_len("features", self.w.len(), phi)?;
        let logits: Vec<f64> = self.theta.iter().map(|t| dot(t, phi)).collect();
        if logits.iter().any(|l| !l.is_finite()) {
            return Err(HmmError::NoBelief {
                what: "policy logits θ·φ",
                reason: "an entry overflowed".into(),
            });
        }
        Ok(softmax(&logits))
    }
    /// Draws an action from `π(· | φ)`.
    pub fn act<R: Rng + ?Sized>(&self, phi: &[f64], rng: &mut R) -> Result<usize, HmmError> {
        let p = self.policy(phi)?;
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for (a, pa) in p.iter().enumerate() {
            acc += pa;
            if u < acc {
                return Ok(a);
            }
        }
        Ok(p.len() - 1)
    }
    /// The critic's value `w·φ` (an error if it overflows).
    pub fn value(&self, phi: &[f64]) -> Result<f64, HmmError> {
        check_len("features", self.w.len(), phi)?;
        let v = dot(&self.w, phi);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(HmmError::Unsupported(format!(
                "the value w·φ overflowed ({v})"
            )))
        }
    }
    /// One TD(0) actor–critic update after taking `action` in `phi`, receiving `reward` and
    /// arriving in `next` (`None`: terminal).
    pub fn update(
        &mut self,
        phi: &[f64],
        action: usize,
        reward: f64,
        next: Option<&[f64]>,
    ) -> Result<(), HmmError> {
        check_len("features", self.w.len(), phi)?;
        if let Some(n) = next {
            check_len("next features", self.w.len(), n)?;
        }
        if action >= self.theta.len() {
            return Err(HmmError::ActionOutOfRange {
                action,
                n_actions: self.theta.len(),
            });
        }
        if !reward.is_finite() {
            return Err(HmmError::Unsupported(format!(
                "reward {reward} is not finite"
            )));
        }
        let v = dot(&self.w, phi);
        let target = reward + next.map_or(0.0, |n| self.gamma * dot(&self.w, n));
        let td = target - v;
        let norm = 1.0 + dot(phi, phi);
        let p = self.policy(phi)?;
        let before = (self.w.clone(), self.theta.clone());
        for (wi, &x) in self.w.iter_mut().zip(phi) {
            *wi += self.lr_critic * td * x / norm;
        }
        for (b, tb) in self.theta.iter_mut().enumerate() {
            let g = f64::from(u8::from(b == action)) - p[b];
            for (ti, &x) in tb.iter_mut().zip(phi) {
                *ti += self.lr_actor * td * g * x / norm;
            }
        }
        let finite = self
            .w
            .iter()
            .chain(self.theta.iter().flatten())
            .all(|x| x.is_finite());
        if !finite {
            (self.w, self.theta) = before;
            return Err(HmmError::Unsupported(format!(
                "the update diverged (TD error {td}); weights unchanged"
            )));
        }
        Ok(())
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The QMDP action `argmax_a Σ_s b(s) Q*(s, a)` (ties to the lowest action).
pub fn qmdp_action(belief: &[f64], q: &[Vec<f64>]) -> Result<usize, HmmError> {
    if belief.len() != q.len() || q.is_empty() {
        return Err(HmmError::Shape {
            what: "belief (one entry per row of Q*)",
            expected: format!("{}", q.len()),
            got: format!("{}", belief.len()),
        });
    }
    let n_actions = q[0].len();
    if q.iter().any(|r| r.len() != n_actions) {
        return Err(HmmError::Shape {
            what: "Q* rows",
            expected: format!("{n_actions} actions each"),
            got: "ragged rows".into(),
        });
    }
    let vals: Vec<f64> = (0..n_actions)
        .map(|a| belief.iter().zip(q).map(|(b, r)| b * r[a]).sum())
        .collect();
    Ok(crate::decode(&vals))
}
