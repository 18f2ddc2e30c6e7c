//! Forward noising and reverse sampling on a constraint set: overdamped (OLLA) and underdamped
//! (ULLA, kinetic Langevin in the clock `τ = ∫σ²`) dynamics, each kept on the set by explicit
//! landing, implicit landing (one Gauss–Newton step) or — the baseline — a Newton projection
//! that may fail.

use crate::error::{check_finite, check_point, check_positive, LandingError, Result};
use crate::frame::{newton_project, Frame, NewtonProjection, Projection};
use crate::sets::ConstraintSet;
use core_linalg::Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// The noise level `σ(t)` over `t ∈ [0, T]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// `σ(t) = σ`.
    Constant(f64),
    /// `σ(t) = σ_min + (σ_max − σ_min)·t/T`.
    Linear {
        /// `σ(0)`.
        min: f64,
        /// `σ(T)`.
        max: f64,
    },
    /// `σ(t) = σ_min·(σ_max/σ_min)^{t/T}`.
    Geometric {
        /// `σ(0)`.
        min: f64,
        /// `σ(T)`.
        max: f64,
    },
}

impl Schedule {
    /// `σ` at the fraction `s = t/T ∈ [0, 1]`.
    pub fn at(&self, s: f64) -> f64 {
        match *self {
            Schedule::Constant(v) => v,
            Schedule::Linear { min, max } => min + (max - min) * s,
            Schedule::Geometric { min, max } => min * (max / min).powf(s),
        }
    }
    fn check(&self) -> Result<()> {
        match *self {
            Schedule::Constant(v) => check_positive("σ", v),
            Schedule::Linear { min, max } | Schedule::Geometric { min, max } => {
                check_positive("σ_min", min)?;
                check_positive("σ_max", max)
            }
        }
    }
}

/// The noising dynamics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dynamics {
    /// Overdamped Langevin (OLLA): `y = σ√Δt·P z`.
    Overdamped,
    /// Underdamped (kinetic) Langevin (ULLA) with unit mass and this friction `γ`: the velocity
    /// is an Ornstein–Uhlenbeck process with `a = exp(−γσ²Δt)` per step, and the position moves
    /// by `σ²Δt·P v`.
    Underdamped {
        /// Friction `γ > 0`.
        friction: f64,
    },
}

/// How steps are brought back to the set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Correction {
    /// Explicit landing `x ← x + y − α σ² Δt·JᵀG⁻¹c̃(x)`; stable for `α σ² Δt ∈ (0, 2)`.
    Explicit {
        /// The landing strength `α > 0`.
        alpha: f64,
    },
    /// Implicit landing: one Gauss–Newton step from `x̂ = x + y`, `x̂ − J(x̂)ᵀG(x̂)⁻¹c̃(x̂)`
    /// (explicit landing with `α = 1/(σ²Δt)` evaluated at `x̂`).
    Implicit,
    /// The baseline (OLLA-P / ULLA-P, RDDPM's scheme): Newton projection of `x̂` along the
    /// normals at `x`; a trajectory whose projection fails is dropped and counted.
    Projection(NewtonProjection),
}

impl Correction {
    /// Whether this is a projection baseline.
    pub fn is_projection(&self) -> bool {
        matches!(self, Correction::Projection(_))
    }
}

/// Hyper-parameters of a [`Sampler`]; [`SamplerParams::check`] turns them into one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerParams {
    /// Number of steps `N` (the function evaluations of a reverse run).
    pub steps: usize,
    /// Horizon `T` (`Δt = T/N`).
    pub horizon: f64,
    /// Noise schedule.
    pub schedule: Schedule,
    /// Overdamped or underdamped.
    pub dynamics: Dynamics,
    /// Landing or projection.
    pub correction: Correction,
    /// Boundary repulsion `ε ≥ 0`: an active inequality is driven to `g = −ε`.
    pub repulsion: f64,
    /// Subtract the Itô curvature drift `JᵀG⁻¹(½s²·tr(P∇²c))` (explicit landing only), with
    /// `s² = σ²Δt` (overdamped) or `(σ²Δt)²` (underdamped): the authors' diffusion code omits
    /// it, OLLA's sampler has it.
    pub curvature_correction: bool,
    /// A Newton projection after the last reverse step (failures are counted, not hidden).
    pub terminal: Option<NewtonProjection>,
}

impl Default for SamplerParams {
    /// The notes' S² overdamped setting: `N = 100`, `T = 4`, `σ` linear 0.01 → 1, implicit
    /// landing, no repulsion, no curvature correction, terminal projection.
    fn default() -> Self {
        Self {
            steps: 100,
            horizon: 4.0,
            schedule: Schedule::Linear {
                min: 0.01,
                max: 1.0,
            },
            dynamics: Dynamics::Overdamped,
            correction: Correction::Implicit,
            repulsion: 0.0,
            curvature_correction: false,
            terminal: Some(NewtonProjection::default()),
        }
    }
}

impl SamplerParams {
    /// Checks every value and returns the sampler.
    ///
    /// # Errors
    /// [`LandingError::Parameter`] for `N = 0` (or > 10⁶), a horizon, σ, friction or α that is
    /// not positive and finite, a negative repulsion, bad Newton settings;
    /// [`LandingError::UnstableLanding`] when explicit landing has `α σ_n² Δt ∉ (0, 2)` at
    /// some step.
    pub fn check(self) -> Result<Sampler> {
        if self.steps == 0 || self.steps > 1_000_000 {
            return Err(LandingError::Parameter {
                name: "steps N",
                value: self.steps as f64,
                reason: "must lie in 1..=10⁶",
            });
        }
        check_positive("horizon T", self.horizon)?;
        self.schedule.check()?;
        if !(self.repulsion.is_finite() && self.repulsion >= 0.0) {
            return Err(LandingError::Parameter {
                name: "boundary repulsion ε",
                value: self.repulsion,
                reason: "must be finite and ≥ 0",
            });
        }
        if let Dynamics::Underdamped { friction } = self.dynamics {
            check_positive("friction γ", friction)?;
        }
        if let Some(t) = &self.terminal {
            t.check()?;
        }
        let sampler = Sampler { params: self };
        match self.correction {
            Correction::Explicit { alpha } => {
                check_positive("landing α", alpha)?;
                let (step, rate) = (0..=self.steps)
                    .map(|n| (n, alpha * sampler.step_variance(n)))
                    .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
                if !(rate > 0.0 && rate < 2.0) {
                    return Err(LandingError::UnstableLanding { rate, step });
                }
            }
            Correction::Projection(p) => p.check()?,
            Correction::Implicit => {}
        }
        Ok(sampler)
    }
}

/// A checked sampler: only [`SamplerParams::check`] makes one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    params: SamplerParams,
}

/// Forward paths `x_0 … x_N` of a batch (what score training stores).
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    /// Steps `N`.
    pub steps: usize,
    /// Points per step `B`.
    pub batch: usize,
    /// Dimension `D`.
    pub dim: usize,
    /// `(N + 1) × B × D` positions, step-major.
    pub positions: Vec<f64>,
    /// Trajectories dropped after a failed projection (frozen from then on).
    pub dropped: Vec<bool>,
    /// Mean over live points of `max_i |h_i|` after each step (length `N + 1`).
    pub mean_violation: Vec<f64>,
}

impl Paths {
    /// The point `b` at step `n` (`None` out of range).
    pub fn get(&self, n: usize, b: usize) -> Option<&[f64]> {
        if n > self.steps || b >= self.batch {
            return None;
        }
        let o = (n * self.batch + b) * self.dim;
        self.positions.get(o..o + self.dim)
    }

    pub(crate) fn point(&self, n: usize, b: usize) -> &[f64] {
        let o = (n * self.batch + b) * self.dim;
        &self.positions[o..o + self.dim]
    }
    /// The bytes of the stored positions (f64).
    pub fn bytes(&self) -> usize {
        self.positions.len() * std::mem::size_of::<f64>()
    }
    /// Number of dropped trajectories.
    pub fn dropped_count(&self) -> usize {
        self.dropped.iter().filter(|d| **d).count()
    }
}

/// The drift network of the reverse process: `input` holds `rows` rows of `[x]` (overdamped)
/// or `[x, v]` (underdamped); writes `rows × D` into `out`. Under this crate's
/// parameterisation (the notes') an overdamped model learns about `2∇log p_t` and an
/// underdamped one the velocity correction of the reverse Ornstein–Uhlenbeck step.
pub trait ScoreModel: Sync {
    /// Evaluates the model at time `t`.
    ///
    /// # Errors
    /// Whatever the model's framework reports.
    fn eval(&self, input: &[f64], rows: usize, t: f64, out: &mut [f64]) -> Result<()>;
}

/// The zero drift: the reverse run of an untrained model (it samples the noising's
/// stationary law, the uniform prior, back through time).
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeroScore;

impl ScoreModel for ZeroScore {
    fn eval(&self, _input: &[f64], _rows: usize, _t: f64, out: &mut [f64]) -> Result<()> {
        out.fill(0.0);
        Ok(())
    }
}

/// One violation record of a reverse run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViolationRecord {
    /// Time `t_n` after the step.
    pub t: f64,
    /// Mean over live points of `max_i |h_i|`.
    pub mean_eq: f64,
    /// Mean over live points of `max_j relu(g_j)`.
    pub mean_ineq: f64,
}

/// What a reverse run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Dimension `D`.
    pub dim: usize,
    /// `B × D` final points (dropped ones frozen where they failed).
    pub points: Vec<f64>,
    /// Trajectories dropped after a failed projection during the run.
    pub dropped: Vec<bool>,
    /// Terminal projections that failed (among live trajectories).
    pub terminal_failures: usize,
    /// Function (model) evaluations per sample.
    pub nfe: usize,
    /// Violation after each reverse step (from `t_N` down to `t_0`).
    pub trace: Vec<ViolationRecord>,
    /// Largest `|h_i|` over live final points.
    pub max_eq: f64,
    /// Largest `relu(g_j)` over live final points.
    pub max_ineq: f64,
}

impl Samples {
    /// Number of dropped trajectories.
    pub fn dropped_count(&self) -> usize {
        self.dropped.iter().filter(|d| **d).count()
    }
    /// The live final points.
    pub fn live(&self) -> impl Iterator<Item = &[f64]> {
        self.points
            .chunks_exact(self.dim)
            .zip(&self.dropped)
            .filter(|(_, d)| !**d)
            .map(|(p, _)| p)
    }
}

/// How one corrected step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// The point was moved and corrected.
    Moved,
    /// The projection failed; the trajectory is dropped.
    Failed,
}

fn normals(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

impl Sampler {
    /// The checked parameters.
    pub fn params(&self) -> &SamplerParams {
        &self.params
    }
    /// `Δt = T/N`.
    pub fn dt(&self) -> f64 {
        self.params.horizon / self.params.steps as f64
    }
    /// `σ_n = σ(nΔt)`.
    pub fn sigma(&self, n: usize) -> f64 {
        self.params.schedule.at(n as f64 / self.params.steps as f64)
    }
    /// `σ_n² Δt`, the clock increment of step `n`.
    pub fn step_variance(&self, n: usize) -> f64 {
        self.sigma(n).powi(2) * self.dt()
    }
    /// The landing rate `α σ_n² Δt` of explicit landing (`None` otherwise).
    pub fn landing_rate(&self, n: usize) -> Option<f64> {
        match self.params.correction {
            Correction::Explicit { alpha } => Some(alpha * self.step_variance(n)),
            _ => None,
        }
    }
    /// Function evaluations of a reverse run (`N`).
    pub fn nfe(&self) -> usize {
        self.params.steps
    }
    /// Whether the model takes `[x, v]` (underdamped).
    pub fn uses_velocity(&self) -> bool {
        matches!(self.params.dynamics, Dynamics::Underdamped { .. })
    }
    fn decay(&self, n: usize) -> f64 {
        match self.params.dynamics {
            Dynamics::Underdamped { friction } => (-friction * self.step_variance(n)).exp(),
            Dynamics::Overdamped => 0.0,
        }
    }

    /// One corrected step from `x` by the tangent increment `u` (already projected at `x` with
    /// `frame`), at step index `n` (its `σ_n² Δt` sets the landing rate): writes the new point
    /// into `out`. This is the one routine every forward and reverse step goes through.
    ///
    /// # Errors
    /// [`LandingError::NonFinite`] when the constraints are not finite at an intermediate
    /// point (a landing step) — a projection's failure is [`StepStatus::Failed`] instead.
    pub fn correct<S: ConstraintSet + ?Sized>(
        &self,
        set: &S,
        x: &[f64],
        frame: &Frame,
        u: &[f64],
        n: usize,
        out: &mut [f64],
    ) -> Result<StepStatus> {
        let p = &self.params;
        let h = self.step_variance(n);
        for ((o, a), b) in out.iter_mut().zip(x).zip(u) {
            *o = a + b;
        }
        match p.correction {
            Correction::Explicit { alpha } => {
                let pull = frame.landing();
                for (o, v) in out.iter_mut().zip(&pull) {
                    *o -= alpha * h * v;
                }
                if p.curvature_correction {
                    let s2 = match p.dynamics {
                        Dynamics::Overdamped => h,
                        Dynamics::Underdamped { .. } => h * h,
                    };
                    let tau: Vec<f64> = frame
                        .tangent_curvature(set, x)
                        .iter()
                        .map(|t| 0.5 * s2 * t)
                        .collect();
                    for (o, v) in out.iter_mut().zip(frame.normal_unchecked(&tau)) {
                        *o -= v;
                    }
                }
                Ok(StepStatus::Moved)
            }
            Correction::Implicit => {
                let at = Frame::at(set, out, p.repulsion)?;
                for (o, v) in out.iter_mut().zip(at.landing()) {
                    *o -= v;
                }
                Ok(StepStatus::Moved)
            }
            Correction::Projection(cfg) => match newton_project(set, x, out, p.repulsion, &cfg) {
                Ok(Projection::Converged(_)) => Ok(StepStatus::Moved),
                Ok(Projection::Failed(_)) | Err(LandingError::NonFinite { .. }) => {
                    Ok(StepStatus::Failed)
                }
                Err(e) => Err(e),
            },
        }
    }

    fn check_batch<S: ConstraintSet + ?Sized>(set: &S, points: &[f64]) -> Result<(usize, usize)> {
        let d = set.dim();
        let rows = crate::error::check_rows("batch", points, d)?;
        Ok((rows, d))
    }

    /// Draws `batch` points from the set's uniform prior (the reverse run's start).
    ///
    /// # Errors
    /// [`LandingError::NoUniformPrior`] for a set without one; [`LandingError::Empty`] for
    /// `batch = 0`.
    pub fn prior<S: ConstraintSet + ?Sized>(
        set: &S,
        batch: usize,
        rng: &mut Rng,
    ) -> Result<Vec<f64>> {
        if batch == 0 {
            return Err(LandingError::Empty { what: "batch" });
        }
        let d = set.dim();
        let mut out = vec![0.0; batch * d];
        for p in out.chunks_exact_mut(d) {
            set.sample_uniform(rng, p)?;
        }
        Ok(out)
    }

    /// Noises a batch `x0` (`B × D`, on the set) forward for `N` steps and stores the paths.
    ///
    /// # Errors
    /// [`LandingError::Empty`] / [`LandingError::Dimension`] / [`LandingError::NonFinite`] for
    /// a bad batch, and a non-finite constraint during a landing step. A failed projection
    /// drops its trajectory instead.
    pub fn forward<S: ConstraintSet + ?Sized>(
        &self,
        set: &S,
        x0: &[f64],
        rng: &mut Rng,
    ) -> Result<Paths> {
        let (b, d) = Self::check_batch(set, x0)?;
        let n_steps = self.params.steps;
        let mut positions = Vec::with_capacity((n_steps + 1) * b * d);
        positions.extend_from_slice(x0);
        let mut dropped = vec![false; b];
        let mut mean_violation = vec![violation_mean(set, x0, &dropped, self.params.repulsion)?.0];
        let dt = self.dt();
        for n in 0..n_steps {
            let z = normals(rng, b * d);
            let (sigma, h, a) = (self.sigma(n), self.step_variance(n), self.decay(n));
            let prev_n = n.saturating_sub(1);
            let h_prev = self.step_variance(prev_n);
            let cur = &positions[n * b * d..(n + 1) * b * d];
            let prev = &positions[prev_n * b * d..(prev_n + 1) * b * d];
            let mut next = vec![0.0; b * d];
            let status: Vec<Result<StepStatus>> = next
                .par_chunks_exact_mut(d)
                .enumerate()
                .map(|(i, out)| {
                    let x = &cur[i * d..(i + 1) * d];
                    if dropped[i] {
                        out.copy_from_slice(x);
                        return Ok(StepStatus::Failed);
                    }
                    let frame = Frame::at(set, x, self.params.repulsion)?;
                    let zi = &z[i * d..(i + 1) * d];
                    let mut u: Vec<f64> = match self.params.dynamics {
                        Dynamics::Overdamped => zi.iter().map(|v| sigma * dt.sqrt() * v).collect(),
                        Dynamics::Underdamped { .. } => {
                            // v_n = P(x_n)(x_n − x_{n−1})/h_{n−1}, v_0 = P z (projected below).
                            let v: Vec<f64> = if n == 0 {
                                zi.to_vec()
                            } else {
                                let xp = &prev[i * d..(i + 1) * d];
                                let mut v: Vec<f64> =
                                    x.iter().zip(xp).map(|(a, b)| (a - b) / h_prev).collect();
                                frame.project_unchecked(&mut v);
                                v
                            };
                            let w = if n == 0 { 0.0 } else { (1.0 - a * a).sqrt() };
                            v.iter()
                                .zip(zi)
                                .map(|(v, z)| h * (if n == 0 { *v } else { a * v + w * z }))
                                .collect()
                        }
                    };
                    frame.project_unchecked(&mut u);
                    self.correct(set, x, &frame, &u, n, out)
                })
                .collect();
            for (i, s) in status.into_iter().enumerate() {
                if s? == StepStatus::Failed {
                    if !dropped[i] {
                        next[i * d..(i + 1) * d].copy_from_slice(&cur[i * d..(i + 1) * d]);
                    }
                    dropped[i] = true;
                }
            }
            mean_violation.push(violation_mean(set, &next, &dropped, self.params.repulsion)?.0);
            positions.extend_from_slice(&next);
        }
        Ok(Paths {
            steps: n_steps,
            batch: b,
            dim: d,
            positions,
            dropped,
            mean_violation,
        })
    }

    /// Runs the reverse process from `start` (`B × D`, e.g. [`Sampler::prior`]) with the drift
    /// `model`, then the terminal projection if configured.
    ///
    /// # Errors
    /// As [`Sampler::forward`]; [`LandingError::NonFinite`] for a non-finite model output;
    /// the model's own errors.
    pub fn reverse<S: ConstraintSet + ?Sized>(
        &self,
        set: &S,
        model: &dyn ScoreModel,
        start: &[f64],
        rng: &mut Rng,
    ) -> Result<Samples> {
        let (b, d) = Self::check_batch(set, start)?;
        let p = self.params;
        let n_steps = p.steps;
        let ud = self.uses_velocity();
        let mut x = start.to_vec();
        let mut prev: Vec<f64> = Vec::new();
        let mut dropped = vec![false; b];
        let mut trace = Vec::with_capacity(n_steps);
        let in_dim = if ud { 2 * d } else { d };
        let dt = self.dt();
        // The initial velocity: P z at the start (the OU velocity's stationary law).
        let mut v0 = if ud { normals(rng, b * d) } else { Vec::new() };
        for n in (1..=n_steps).rev() {
            let (sigma, h, a) = (self.sigma(n), self.step_variance(n), self.decay(n));
            let h_prev = self.step_variance(n - 1);
            let frames: Vec<Result<Frame>> = x
                .par_chunks_exact(d)
                .map(|xi| Frame::at(set, xi, p.repulsion))
                .collect();
            let mut frames_ok = Vec::with_capacity(b);
            for (i, f) in frames.into_iter().enumerate() {
                match f {
                    Ok(f) => frames_ok.push(Some(f)),
                    Err(e) if dropped[i] => {
                        let _ = e;
                        frames_ok.push(None)
                    }
                    Err(e) => return Err(e),
                }
            }
            // Velocities v = P(x_n)(x_{n+1} − x_n)/h_n (the forward velocity at n).
            let mut vel = vec![0.0; if ud { b * d } else { 0 }];
            if ud {
                for i in 0..b {
                    let Some(f) = &frames_ok[i] else { continue };
                    let vi = &mut vel[i * d..(i + 1) * d];
                    if n == n_steps {
                        vi.copy_from_slice(&v0[i * d..(i + 1) * d]);
                    } else {
                        let hn = self.step_variance(n);
                        for c in 0..d {
                            vi[c] = (prev[i * d + c] - x[i * d + c]) / hn;
                        }
                    }
                    f.project_unchecked(vi);
                }
            }
            let mut input = vec![0.0; b * in_dim];
            for i in 0..b {
                input[i * in_dim..i * in_dim + d].copy_from_slice(&x[i * d..(i + 1) * d]);
                if ud {
                    input[i * in_dim + d..(i + 1) * in_dim]
                        .copy_from_slice(&vel[i * d..(i + 1) * d]);
                }
            }
            let mut s = vec![0.0; b * d];
            model.eval(&input, b, n as f64 * dt, &mut s)?;
            check_finite("model output", &s)?;
            let z = normals(rng, b * d);
            let mut next = vec![0.0; b * d];
            let status: Vec<Result<StepStatus>> = next
                .par_chunks_exact_mut(d)
                .enumerate()
                .map(|(i, out)| {
                    let xi = &x[i * d..(i + 1) * d];
                    let Some(frame) = frames_ok[i].as_ref().filter(|_| !dropped[i]) else {
                        out.copy_from_slice(xi);
                        return Ok(StepStatus::Failed);
                    };
                    let (si, zi) = (&s[i * d..(i + 1) * d], &z[i * d..(i + 1) * d]);
                    let mut u: Vec<f64> = if ud {
                        let vi = &vel[i * d..(i + 1) * d];
                        let w = (1.0 - a * a).sqrt();
                        (0..d)
                            .map(|c| -h_prev * (a * vi[c] + h * si[c] + w * zi[c]))
                            .collect()
                    } else {
                        (0..d)
                            .map(|c| 0.5 * h * si[c] + sigma * dt.sqrt() * zi[c])
                            .collect()
                    };
                    frame.project_unchecked(&mut u);
                    self.correct(set, xi, frame, &u, n, out)
                })
                .collect();
            for (i, st) in status.into_iter().enumerate() {
                if st? == StepStatus::Failed {
                    if !dropped[i] {
                        next[i * d..(i + 1) * d].copy_from_slice(&x[i * d..(i + 1) * d]);
                    }
                    dropped[i] = true;
                }
            }
            prev = std::mem::replace(&mut x, next);
            let (mean_eq, mean_ineq) = violation_mean(set, &x, &dropped, p.repulsion)?;
            trace.push(ViolationRecord {
                t: (n - 1) as f64 * dt,
                mean_eq,
                mean_ineq,
            });
            v0.clear();
        }
        let mut terminal_failures = 0;
        if let Some(cfg) = p.terminal {
            let results: Vec<Result<Projection>> = x
                .par_chunks_exact_mut(d)
                .zip(&dropped)
                .map(|(xi, dr)| {
                    if *dr {
                        return Ok(Projection::Converged(0));
                    }
                    let anchor = xi.to_vec();
                    match newton_project(set, &anchor, xi, p.repulsion, &cfg) {
                        Err(LandingError::NonFinite { .. }) => Ok(Projection::Failed(f64::NAN)),
                        r => r,
                    }
                })
                .collect();
            for r in results {
                if let Projection::Failed(_) = r? {
                    terminal_failures += 1;
                }
            }
        }
        let (mut max_eq, mut max_ineq) = (0.0f64, 0.0f64);
        let (mut hv, mut gv) = (vec![0.0; set.n_eq()], vec![0.0; set.n_ineq()]);
        for (xi, dr) in x.chunks_exact(d).zip(&dropped) {
            if *dr {
                continue;
            }
            set.constraints(xi, &mut hv, &mut gv);
            max_eq = hv.iter().fold(max_eq, |a, v| a.max(v.abs()));
            max_ineq = gv.iter().fold(max_ineq, |a, v| a.max(v.max(0.0)));
        }
        Ok(Samples {
            dim: d,
            points: x,
            dropped,
            terminal_failures,
            nfe: n_steps,
            trace,
            max_eq,
            max_ineq,
        })
    }
}

/// Mean over live points of `max_i |h_i|` and of `max_j relu(g_j)`.
fn violation_mean<S: ConstraintSet + ?Sized>(
    set: &S,
    x: &[f64],
    dropped: &[bool],
    _repulsion: f64,
) -> Result<(f64, f64)> {
    let d = set.dim();
    let (mut hv, mut gv) = (vec![0.0; set.n_eq()], vec![0.0; set.n_ineq()]);
    let (mut se, mut si, mut count) = (0.0, 0.0, 0usize);
    for (xi, dr) in x.chunks_exact(d).zip(dropped) {
        if *dr {
            continue;
        }
        set.constraints(xi, &mut hv, &mut gv);
        se += hv.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        si += gv.iter().fold(0.0f64, |a, v| a.max(v.max(0.0)));
        count += 1;
    }
    let c = count.max(1) as f64;
    Ok((se / c, si / c))
}

/// Runs `steps` noise-free explicit landing steps from `x` with rate `γ = α σ² Δt` (no
/// tangent move) and returns `max_i |h_i|` after each step: the mechanics a check compares
/// with the contraction `1 − γ` per step.
///
/// # Errors
/// As [`Frame::at`]; [`LandingError::Parameter`] for `γ` not in `(0, 2)`.
pub fn landing_iterates<S: ConstraintSet + ?Sized>(
    set: &S,
    x: &[f64],
    rate: f64,
    steps: usize,
) -> Result<Vec<f64>> {
    check_point("point", x, set.dim())?;
    if !(rate > 0.0 && rate < 2.0) {
        return Err(LandingError::Parameter {
            name: "landing rate α σ² Δt",
            value: rate,
            reason: "must lie in (0, 2)",
        });
    }
    let mut x = x.to_vec();
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        let f = Frame::at(set, &x, 0.0)?;
        for (a, v) in x.iter_mut().zip(f.landing()) {
            *a -= rate * v;
        }
        out.push(Frame::at(set, &x, 0.0)?.eq_violation());
    }
    Ok(out)
}
