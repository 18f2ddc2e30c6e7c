//! Any iteration `x_{k+1} = f(x_k) + d_k`: the undisturbed step, the disturbances that wrap
//! it, the loop that runs them, and the certificate that checks the theorem's bound along a
//! run.

use crate::bounds::trajectory_bound;
use crate::error::{check_finite, check_non_negative, check_positive, BoundsError, Result};
use crate::rate::Rate;
use core_linalg::{scaled_norm, Rng};
use nalgebra::DVector;
use rand::RngExt;
use std::collections::VecDeque;

/// One step `x ↦ f(x)` of an undisturbed algorithm (after argmin: the state and its step kept
/// apart from the loop that runs them).
pub trait Step {
    /// The dimension of the state.
    fn dim(&self) -> usize;
    /// Writes `f(x)` into `out` (both of length [`Self::dim`]).
    fn apply(&mut self, x: &DVector<f64>, out: &mut DVector<f64>);
}

/// A [`Step`] from a closure `|x, out| …` that writes `f(x)` into `out`: any algorithm,
/// including a user's own.
pub struct FnStep<F> {
    dim: usize,
    f: F,
}

impl<F: FnMut(&DVector<f64>, &mut DVector<f64>)> FnStep<F> {
    /// The step `f` on states of dimension `dim`.
    pub fn new(dim: usize, f: F) -> Self {
        Self { dim, f }
    }
}

impl<F: FnMut(&DVector<f64>, &mut DVector<f64>)> Step for FnStep<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&mut self, x: &DVector<f64>, out: &mut DVector<f64>) {
        (self.f)(x, out)
    }
}

/// A disturbance: the `d_k` added to the step's output, computed from the step index, the state
/// `x_k` and the undisturbed next state `f(x_k)` (and whatever history it keeps itself).
pub trait Disturbance {
    /// Writes `d_k` into `d` (zeroed before the call).
    fn disturb(&mut self, k: usize, x: &DVector<f64>, fx: &DVector<f64>, d: &mut DVector<f64>);
}

/// No disturbance: `d_k = 0`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Undisturbed;

impl Disturbance for Undisturbed {
    fn disturb(&mut self, _: usize, _: &DVector<f64>, _: &DVector<f64>, _: &mut DVector<f64>) {}
}

/// The same `d` at every step (a constant bias; along the weakest eigenvector of a quadratic it
/// makes the sup bound tight).
#[derive(Debug, Clone)]
pub struct Constant {
    d: DVector<f64>,
}

impl Constant {
    /// The disturbance `d_k = d` (finite).
    pub fn new(d: DVector<f64>) -> Result<Self> {
        check_finite("disturbance", d.as_slice())?;
        Ok(Self { d })
    }
}

impl Disturbance for Constant {
    fn disturb(&mut self, _: usize, _: &DVector<f64>, _: &DVector<f64>, d: &mut DVector<f64>) {
        d.copy_from(&self.d);
    }
}

/// A random disturbance of norm at most `radius`: a uniform direction, a norm uniform on
/// `[0, radius]`, from a seeded generator.
#[derive(Debug, Clone)]
pub struct BoundedRandom {
    radius: f64,
    rng: Rng,
}

impl BoundedRandom {
    /// Norms in `[0, radius]` (`radius ≥ 0` finite), draws from `seed`.
    pub fn new(radius: f64, seed: u64) -> Result<Self> {
        check_non_negative("radius", radius)?;
        Ok(Self {
            radius,
            rng: core_linalg::seeded_rng(seed),
        })
    }
}

impl Disturbance for BoundedRandom {
    fn disturb(&mut self, _: usize, _: &DVector<f64>, fx: &DVector<f64>, d: &mut DVector<f64>) {
        let dir = core_linalg::uniform_on_sphere(&mut self.rng, fx.len());
        let r = self.radius * self.rng.random::<f64>();
        d.copy_from(&(dir * r));
    }
}

/// The adversary of norm `radius` that pushes the next state straight away from the fixed
/// point: `d_k = radius · (f(x_k) − x*) / ‖f(x_k) − x*‖` (any unit direction when
/// `f(x_k) = x*`), the step's worst case for the error.
#[derive(Debug, Clone)]
pub struct Adversarial {
    radius: f64,
    x_star: DVector<f64>,
}

impl Adversarial {
    /// An adversary of norm `radius` (finite, `≥ 0`) against the fixed point `x_star`.
    pub fn new(radius: f64, x_star: DVector<f64>) -> Result<Self> {
        check_non_negative("radius", radius)?;
        check_finite("fixed point", x_star.as_slice())?;
        Ok(Self { radius, x_star })
    }
}

impl Disturbance for Adversarial {
    fn disturb(&mut self, _: usize, _: &DVector<f64>, fx: &DVector<f64>, d: &mut DVector<f64>) {
        if fx.len() != self.x_star.len() {
            return;
        }
        let away = fx - &self.x_star;
        let n = away.norm();
        if n > 0.0 {
            d.copy_from(&(away * (self.radius / n)));
        } else if !d.is_empty() {
            d[0] = self.radius;
        }
    }
}

/// Gaussian noise injection `d_k ~ N(0, σ² I)` (zero-mean, independent of the state:
/// `E‖d‖² = n σ²`), from a seeded generator.
///
/// The generator is Xoshiro256++ (rand's, fixed by name, so the same seed gives the same
/// draws in every rand release that ships it), not the workspace's ChaCha8: Monte-Carlo runs
/// draw billions of normals, and one costs 2.1 ns against ChaCha8's 3.6 ns on the
/// development machine (ziggurat sampling, one core).
#[derive(Debug, Clone)]
pub struct GaussianNoise {
    sigma: f64,
    rng: rand::rngs::Xoshiro256PlusPlus,
}

impl GaussianNoise {
    /// Noise of standard deviation `sigma ≥ 0` per coordinate, draws from `seed`.
    pub fn new(sigma: f64, seed: u64) -> Result<Self> {
        check_non_negative("sigma", sigma)?;
        Ok(Self {
            sigma,
            rng: rand::SeedableRng::seed_from_u64(seed),
        })
    }
}

impl Disturbance for GaussianNoise {
    fn disturb(&mut self, _: usize, _: &DVector<f64>, fx: &DVector<f64>, d: &mut DVector<f64>) {
        // In place, the draws in the order of `core_linalg::standard_normal_vector`.
        for di in d.as_mut_slice().iter_mut().take(fx.len()) {
            let z: f64 =
                rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut self.rng);
            *di = z * self.sigma;
        }
    }
}

/// A uniform quantiser with `b` bits on `[−B, B]`: `2^b` levels `−B + iΔ`, `Δ = 2B/(2^b − 1)`.
/// Values outside the range are clipped (and counted: the quantisation bounds assume none).
#[derive(Debug, Clone)]
pub struct Quantizer {
    range: f64,
    step: f64,
    levels: f64,
    dither: Option<Rng>,
    saturated: u64,
}

impl Quantizer {
    /// Rounding to the nearest level (error at most `Δ/2` per coordinate).
    pub fn nearest(range: f64, bits: u32) -> Result<Self> {
        Self::build(range, bits, None)
    }

    /// Dithered (stochastic) rounding: up with probability equal to the fractional position,
    /// so the error is zero-mean and at most `Δ` per coordinate; draws from `seed`.
    pub fn dithered(range: f64, bits: u32, seed: u64) -> Result<Self> {
        Self::build(range, bits, Some(core_linalg::seeded_rng(seed)))
    }

    fn build(range: f64, bits: u32, dither: Option<Rng>) -> Result<Self> {
        let step = crate::bounds::quantization_step(range, bits)?;
        Ok(Self {
            range,
            step,
            levels: ((1u64 << bits) - 1) as f64,
            dither,
            saturated: 0,
        })
    }

    /// The step `Δ`.
    pub fn step(&self) -> f64 {
        self.step
    }

    /// How many values fell outside `[−B, B]` so far (clipped).
    pub fn saturated(&self) -> u64 {
        self.saturated
    }

    /// The quantised value of `v` (a NaN stays NaN, and counts as saturated).
    pub fn quantize(&mut self, v: f64) -> f64 {
        if !(-self.range..=self.range).contains(&v) {
            self.saturated += 1;
        }
        // The position on the grid, and the level back, relative to B (no overflow for any
        // finite B): level i is −B + iΔ = B (2i/(2^b − 1) − 1).
        let t = ((v.clamp(-self.range, self.range) / self.range + 1.0) * 0.5 * self.levels)
            .clamp(0.0, self.levels);
        let i = match &mut self.dither {
            None => t.round(),
            Some(rng) => {
                let lo = t.floor();
                if rng.random::<f64>() < t - lo {
                    lo + 1.0
                } else {
                    lo
                }
            }
        };
        self.range * (2.0 * (i.min(self.levels) / self.levels) - 1.0)
    }
}

/// Quantised communication: a message `m(x)` (the gradient, in distributed gradient descent)
/// is sent through a [`Quantizer`] and the step uses the received copy, so the disturbance is
/// `d_k = gain · (Q(m(x_k)) − m(x_k))` (for gradient descent `x − η∇F`, `gain = −η`).
pub struct QuantizedMessage<M> {
    quantizer: Quantizer,
    gain: f64,
    message: M,
    buf: DVector<f64>,
}

impl<M: FnMut(&DVector<f64>, &mut DVector<f64>)> QuantizedMessage<M> {
    /// The message `m` (written into its second argument, of the state's dimension), sent
    /// through `quantizer`, entering the step with factor `gain` (finite).
    pub fn new(quantizer: Quantizer, gain: f64, message: M) -> Result<Self> {
        check_finite("gain", &[gain])?;
        Ok(Self {
            quantizer,
            gain,
            message,
            buf: DVector::zeros(0),
        })
    }

    /// The quantiser (its saturation count).
    pub fn quantizer(&self) -> &Quantizer {
        &self.quantizer
    }
}

impl<M: FnMut(&DVector<f64>, &mut DVector<f64>)> Disturbance for QuantizedMessage<M> {
    fn disturb(&mut self, _: usize, x: &DVector<f64>, _: &DVector<f64>, d: &mut DVector<f64>) {
        if self.buf.len() != x.len() {
            self.buf = DVector::zeros(x.len());
        }
        (self.message)(x, &mut self.buf);
        for (di, &m) in d.iter_mut().zip(self.buf.iter()) {
            *di = self.gain * (self.quantizer.quantize(m) - m);
        }
    }
}

/// Delayed gradients: the step `x − η∇F(x)` computed with the gradient of `τ` steps ago, so
/// `d_k = −η (∇F(x_{k−τ}) − ∇F(x_k))` (`x_j = x_0` for `j < 0`). Keeps the last `τ + 1`
/// states.
pub struct DelayedGradient<G> {
    tau: usize,
    eta: f64,
    gradient: G,
    history: VecDeque<DVector<f64>>,
    now: DVector<f64>,
    then: DVector<f64>,
}

impl<G: FnMut(&DVector<f64>, &mut DVector<f64>)> DelayedGradient<G> {
    /// A delay of `tau` steps on the gradient `gradient` at step size `eta > 0`.
    pub fn new(tau: usize, eta: f64, gradient: G) -> Result<Self> {
        check_positive("eta", eta)?;
        Ok(Self {
            tau,
            eta,
            gradient,
            history: VecDeque::with_capacity(tau + 1),
            now: DVector::zeros(0),
            then: DVector::zeros(0),
        })
    }
}

impl<G: FnMut(&DVector<f64>, &mut DVector<f64>)> Disturbance for DelayedGradient<G> {
    fn disturb(&mut self, _: usize, x: &DVector<f64>, _: &DVector<f64>, d: &mut DVector<f64>) {
        if self.history.is_empty() {
            // Before the first step: the states before x_0 are x_0.
            self.history
                .extend(std::iter::repeat_n(x.clone(), self.tau));
        }
        self.history.push_back(x.clone());
        let old = self.history.pop_front().unwrap_or_else(|| x.clone());
        if self.now.len() != x.len() {
            self.now = DVector::zeros(x.len());
            self.then = DVector::zeros(x.len());
        }
        (self.gradient)(x, &mut self.now);
        (self.gradient)(&old, &mut self.then);
        for ((di, &a), &b) in d.iter_mut().zip(self.then.iter()).zip(self.now.iter()) {
            *di = -self.eta * (a - b);
        }
    }
}

/// `‖v‖₂`: the plain sum of squares where it neither overflows nor loses the small entries
/// (one pass), else [`scaled_norm`] (two passes and a division per entry).
#[inline]
fn norm(v: &DVector<f64>) -> f64 {
    let s = core_linalg::sum_of_squares(v.as_slice());
    if s.is_finite() && s >= 1e-280 {
        s.sqrt()
    } else {
        scaled_norm(v)
    }
}

/// `‖x − y‖₂` in one pass, through the scratch vector `diff` only where the plain sum of
/// squares under- or overflows.
#[inline]
fn distance(x: &DVector<f64>, y: &DVector<f64>, diff: &mut DVector<f64>) -> f64 {
    let s = core_linalg::squared_distance(x.as_slice(), y.as_slice()).unwrap_or(f64::NAN);
    if s.is_finite() && s >= 1e-280 {
        return s.sqrt();
    }
    diff.copy_from(x);
    *diff -= y;
    norm(diff)
}

/// What a run records: the error `‖x_k − x*‖` at every step and the norm of every disturbance.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// `‖x_k − x*‖` for `k = 0, …, steps`.
    pub errors: Vec<f64>,
    /// `‖d_k‖` for `k = 0, …, steps − 1`.
    pub disturbances: Vec<f64>,
    /// The last state.
    pub last: DVector<f64>,
}

/// Runs `x_{k+1} = f(x_k) + d_k` for `steps` steps from `x0`, recording the errors against
/// `x_star` and the disturbance norms. Errors when the dimensions of `x0`, `x_star` and the
/// step disagree, an input is not finite, or the run leaves the finite numbers (reported at
/// the step where it did).
pub fn run<S: Step + ?Sized, D: Disturbance + ?Sized>(
    step: &mut S,
    disturbance: &mut D,
    x0: &DVector<f64>,
    x_star: &DVector<f64>,
    steps: usize,
) -> Result<Trajectory> {
    let n = step.dim();
    if n == 0 {
        return Err(BoundsError::Empty { what: "state" });
    }
    for (what, v) in [("initial state", x0), ("fixed point", x_star)] {
        if v.len() != n {
            return Err(BoundsError::Dimension {
                what,
                expected: n,
                got: v.len(),
            });
        }
        check_finite(what, v.as_slice())?;
    }
    let mut x = x0.clone();
    let mut fx = DVector::zeros(n);
    let mut d = DVector::zeros(n);
    let mut diff = DVector::zeros(n);
    let mut errors = Vec::with_capacity(steps + 1);
    let mut disturbances = Vec::with_capacity(steps);
    errors.push(distance(&x, x_star, &mut diff));
    for k in 0..steps {
        step.apply(&x, &mut fx);
        d.as_mut_slice().fill(0.0);
        disturbance.disturb(k, &x, &fx, &mut d);
        if fx.len() != n || d.len() != n {
            return Err(BoundsError::Dimension {
                what: "step or disturbance output",
                expected: n,
                got: if fx.len() != n { fx.len() } else { d.len() },
            });
        }
        // Slices, not nalgebra's strided iterators: this loop runs 10⁸ times in a
        // Monte-Carlo study.
        for ((xi, f), di) in x
            .as_mut_slice()
            .iter_mut()
            .zip(fx.as_slice())
            .zip(d.as_slice())
        {
            *xi = f + di;
        }
        let e = distance(&x, x_star, &mut diff);
        if !e.is_finite() {
            return Err(BoundsError::NonFinite {
                what: "iterate (step index)",
                index: k + 1,
                value: e,
            });
        }
        errors.push(e);
        disturbances.push(norm(&d));
    }
    Ok(Trajectory {
        errors,
        disturbances,
        last: x,
    })
}

/// What [`monte_carlo`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct MonteCarlo {
    /// `E‖x_k − x*‖²` estimated over the runs, for `k = 0, …, steps`.
    pub mean_square: Vec<f64>,
    /// Each run's final error `‖x_K − x*‖`, in run order.
    pub final_errors: Vec<f64>,
}

/// Runs of one group are summed together before the groups are added in order, so the mean
/// does not depend on the number of threads.
const MC_GROUP: usize = 64;

/// Runs `runs` independent copies of a disturbed iteration in parallel (rayon) for `steps`
/// steps from `x0`: `make(i)` builds run `i`'s step and disturbance (seed its randomness from
/// `i`). Returns the mean-square error at every step and every run's final error; the result is
/// the same at any thread count (runs are summed in fixed groups, in order). Errors as [`run`],
/// and on zero runs.
pub fn monte_carlo<S, D, F>(
    runs: usize,
    steps: usize,
    x0: &DVector<f64>,
    x_star: &DVector<f64>,
    make: F,
) -> Result<MonteCarlo>
where
    S: Step,
    D: Disturbance,
    F: Fn(usize) -> Result<(S, D)> + Sync,
{
    use rayon::prelude::*;
    if runs == 0 {
        return Err(BoundsError::Empty {
            what: "Monte Carlo (zero runs)",
        });
    }
    let groups: Vec<(Vec<f64>, Vec<f64>)> = (0..runs.div_ceil(MC_GROUP))
        .into_par_iter()
        .map(|g| {
            let mut sum = vec![0.0; steps + 1];
            let mut finals = Vec::with_capacity(MC_GROUP);
            for i in g * MC_GROUP..((g + 1) * MC_GROUP).min(runs) {
                let (mut step, mut dist) = make(i)?;
                let t = run(&mut step, &mut dist, x0, x_star, steps)?;
                for (s, e) in sum.iter_mut().zip(&t.errors) {
                    *s += e * e;
                }
                finals.push(t.errors[steps]);
            }
            Ok((sum, finals))
        })
        .collect::<Result<_>>()?;
    let mut mean_square = vec![0.0; steps + 1];
    let mut final_errors = Vec::with_capacity(runs);
    for (sum, finals) in groups {
        for (m, s) in mean_square.iter_mut().zip(sum) {
            *m += s;
        }
        final_errors.extend(finals);
    }
    mean_square.iter_mut().for_each(|m| *m /= runs as f64);
    Ok(MonteCarlo {
        mean_square,
        final_errors,
    })
}

/// The first step at which a run broke its bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Violation {
    /// The step `k`.
    pub step: usize,
    /// The measured `‖x_k − x*‖`.
    pub measured: f64,
    /// The bound at `k`.
    pub bound: f64,
}

/// The theorem checked along a run: the trajectory bound built from the rate and the
/// disturbances the run actually met, beside the measured error, at every step.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// The rate the bound is built on.
    pub rate: Rate,
    /// The bound at each step ([`trajectory_bound`] of the run's disturbance norms).
    pub bound: Vec<f64>,
    /// The measured error at each step.
    pub measured: Vec<f64>,
    /// The absolute tolerance of the comparison.
    pub tol: f64,
    /// The first step where `measured > bound + tol`, if any.
    pub first_violation: Option<Violation>,
    /// How many steps broke the bound.
    pub violations: usize,
    /// The largest `measured / (bound + tol)` over the steps (those with `bound + tol > 0`): at
    /// most 1 exactly when the bound held everywhere, and how close the run came to it.
    pub max_ratio: f64,
}

impl Certificate {
    /// Checks a recorded run against the bound of `rate` with absolute tolerance `tol ≥ 0`.
    ///
    /// The bound is that of the exact iteration; a floating-point run also rounds its state by
    /// about `ε ‖x_k‖` each step, a disturbance the record does not see, which can add up to
    /// about `ε max‖x‖ / (1 − ρ)` (no iterate comes closer to `x*` than its ulp). With states of
    /// order one, `tol = 1e-12` covers it; with large states choose `tol` of that order.
    pub fn check(rate: &Rate, run: &Trajectory, tol: f64) -> Result<Self> {
        check_non_negative("tol", tol)?;
        let e0 = *run
            .errors
            .first()
            .ok_or(BoundsError::Empty { what: "run" })?;
        let bound = trajectory_bound(rate, e0, &run.disturbances)?;
        if bound.len() != run.errors.len() {
            return Err(BoundsError::Dimension {
                what: "errors vs disturbances + 1",
                expected: bound.len(),
                got: run.errors.len(),
            });
        }
        let mut first_violation = None;
        let mut violations = 0;
        let mut max_ratio = 0.0f64;
        for (k, (&m, &b)) in run.errors.iter().zip(&bound).enumerate() {
            if m > b + tol {
                violations += 1;
                first_violation.get_or_insert(Violation {
                    step: k,
                    measured: m,
                    bound: b,
                });
            }
            if b + tol > 0.0 {
                max_ratio = max_ratio.max(m / (b + tol));
            }
        }
        Ok(Self {
            rate: *rate,
            bound,
            measured: run.errors.clone(),
            tol,
            first_violation,
            violations,
            max_ratio,
        })
    }

    /// Whether the bound held at every step.
    pub fn holds(&self) -> bool {
        self.first_violation.is_none()
    }
}

/// Runs the iteration and checks it: [`run`], then [`Certificate::check`].
pub fn certify<S: Step + ?Sized, D: Disturbance + ?Sized>(
    rate: &Rate,
    step: &mut S,
    disturbance: &mut D,
    x0: &DVector<f64>,
    x_star: &DVector<f64>,
    steps: usize,
    tol: f64,
) -> Result<Certificate> {
    let trajectory = run(step, disturbance, x0, x_star, steps)?;
    Certificate::check(rate, &trajectory, tol)
}
