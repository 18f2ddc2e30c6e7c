//! PENEX as a drop-in loss on plain slices, `f32` or `f64`, with the options a user of
//! `torch.nn.CrossEntropyLoss` expects: a [`Reduction`], class weights and an ignore index,
//! plus the authors' optional linear ("Huberised") tail. No candle: this module needs only the
//! standard library, `rayon` and `num-traits`.
//!
//! The penalty weight `ρ` is explicit state. [`PenexLoss::forward`] and
//! [`PenexLoss::forward_backward`] never change it; they return the batch's [`BatchStats`],
//! and a training loop calls [`PenexLoss::update_rho`] once per step (evaluation passes simply
//! do not). The state is plain `f64`s ([`PenexLoss::rho_state`]), `Send + Sync`, saved with a
//! checkpoint and restored bit for bit.
//!
//! # Definitions
//! For a batch with logits `f_i ∈ ℝ^K`, targets `y_i` and class weights `w` (all 1 unless
//! given), over the rows `I` whose target is not the ignore index:
//! - `E_i = e^{−α f_{i,y_i}}`, or with a tail `τ`, its tangent line `τ(1 + z − ln τ)` in
//!   `z = −α f_{i,y_i}` where `E_i` would exceed `τ` (the authors' Huberisation);
//! - `S_i = Σ_j e^{f_ij}`, and the row's loss `ℓ_i = w_{y_i} (E_i + ρ S_i)`;
//! - [`Reduction::Mean`]: `Σ_I ℓ_i / Σ_I w_{y_i}` (torch's weighted mean), [`Reduction::Sum`]:
//!   `Σ_I ℓ_i`, [`Reduction::None`]: every `ℓ_i` (0 for ignored rows);
//! - the running `ρ`'s batch statistics are the weighted means `Σ_I w E / Σ_I w` and
//!   `Σ_I w S / Σ_I w` (the authors' code has no weights; with weights these are the means of
//!   the weighted objective, a choice of ours).
//!
//! Sums over rows are accumulated in `f64`, in blocks of [`ROW_BLOCK`] rows added in block
//! order, so results are identical at any thread count.
//!
//! # Example
//! ```
//! use penex::{PenexLoss, Reduction};
//!
//! // Three rows of four logits; the last row is padding (ignore index −100).
//! let f: [f32; 12] = [2.0, 0.1, -1.0, 0.0, 0.5, 1.5, 0.2, -0.3, 9.0, 9.0, 9.0, 9.0];
//! let targets: [i64; 3] = [0, 1, -100];
//! let mut loss = PenexLoss::new(0.1)?.with_reduction(Reduction::Mean);
//! let mut grad = vec![0.0f32; f.len()];
//! let out = loss.forward_backward(&f, 4, &targets, &mut grad)?;
//! assert!(out.value > 0.0 && grad[8..].iter().all(|&g| g == 0.0));
//! let before = loss.rho();
//! loss.update_rho(&out.stats); // once per training step, never in evaluation
//! assert_ne!(loss.rho(), before);
//! # Ok::<(), penex::PenexError>(())
//! ```

use crate::loss::{check_penalty_weight, check_sensitivity, RunningRho};
use crate::{PenexError, Result};
use num_traits::Float;
use rayon::prelude::*;

/// Rows per block of the parallel loops (fixed, so sums do not depend on the thread count).
pub const ROW_BLOCK: usize = 64;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
    impl Sealed for usize {}
    impl Sealed for i32 {}
    impl Sealed for i64 {}
}

/// The logit types: `f32` and `f64`.
pub trait Element:
    Float + std::ops::MulAssign + Send + Sync + std::fmt::Debug + sealed::Sealed + 'static
{
    /// Widens to `f64` exactly.
    fn widen(self) -> f64;
    /// Rounds an `f64` to nearest.
    fn narrow(v: f64) -> Self;
}

impl Element for f32 {
    fn widen(self) -> f64 {
        f64::from(self)
    }
    fn narrow(v: f64) -> Self {
        v as f32
    }
}

impl Element for f64 {
    fn widen(self) -> f64 {
        self
    }
    fn narrow(v: f64) -> Self {
        v
    }
}

/// The target types: `u32`, `u64`, `usize`, `i32`, `i64` (negative values can only be the
/// ignore index).
pub trait Label: Copy + Send + Sync + sealed::Sealed + 'static {
    /// The value as `i128` (lossless for every implementor).
    fn to_i128(self) -> i128;
}

macro_rules! label {
    ($($t:ty),*) => {$(
        impl Label for $t {
            fn to_i128(self) -> i128 {
                self as i128
            }
        }
    )*};
}
label!(u32, u64, usize, i32, i64);

/// How row losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The weighted mean over the rows not ignored (the default, as torch).
    #[default]
    Mean,
    /// The weighted sum over the rows not ignored.
    Sum,
    /// Every row's weighted loss (0 for ignored rows); the gradient is then each row's own
    /// `∂ℓ_i/∂f_i` (the rows are independent).
    None,
}

/// How `ρ` is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RhoMode {
    /// A constant `ρ`.
    Fixed(f64),
    /// The authors' running estimate, moved only by [`PenexLoss::update_rho`].
    Running(RunningRho),
}

/// The two term means of a batch (over the rows not ignored, weighted), which the running `ρ`
/// balances, and the total weight of those rows (the means are 0 when that weight is 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchStats {
    /// `Σ w E / Σ w`: the exponential term's mean.
    pub exp_term: f64,
    /// `Σ w S / Σ w`: the penalty sum's mean (`ρ` not applied).
    pub penalty: f64,
    /// `Σ w` over the rows not ignored.
    pub weight: f64,
    /// The rows not ignored.
    pub rows: usize,
}

/// What a forward pass returns.
#[derive(Debug, Clone, PartialEq)]
pub struct LossValue {
    /// The reduced loss ([`Reduction::Mean`] or [`Reduction::Sum`]); for [`Reduction::None`]
    /// the sum of the row losses.
    pub value: f64,
    /// The row losses `ℓ_i` for [`Reduction::None`] (empty otherwise).
    pub rows: Vec<f64>,
    /// The batch's statistics, for [`PenexLoss::update_rho`].
    pub stats: BatchStats,
}

/// PENEX with its options; see the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct PenexLoss {
    alpha: f64,
    rho: RhoMode,
    reduction: Reduction,
    weights: Option<Vec<f64>>,
    ignore_index: Option<i64>,
    tail: Option<f64>,
    max_logit: f64,
}

fn parameter(name: &'static str, value: f64, reason: &'static str) -> PenexError {
    PenexError::Parameter {
        name,
        value,
        reason,
    }
}

impl PenexLoss {
    /// PENEX with sensitivity `α ∈ [`[`MIN_ALPHA`](crate::MIN_ALPHA)`,` [`MAX_ALPHA`](crate::MAX_ALPHA)`]`, the authors' running `ρ`
    /// ([`RunningRho::default`]), mean reduction, no class weights, ignore index −100 (torch's)
    /// and no tail.
    pub fn new(alpha: f64) -> Result<Self> {
        check_sensitivity(alpha)?;
        Ok(Self {
            alpha,
            rho: RhoMode::Running(RunningRho::default()),
            reduction: Reduction::Mean,
            weights: None,
            ignore_index: Some(-100),
            tail: None,
            max_logit: f64::INFINITY,
        })
    }

    /// A fixed `ρ ∈ (0,` [`MAX_RHO`](crate::MAX_RHO)`]`.
    pub fn with_fixed_rho(mut self, rho: f64) -> Result<Self> {
        check_penalty_weight("rho", rho)?;
        self.rho = RhoMode::Fixed(rho);
        Ok(self)
    }

    /// A running `ρ` with the given start, EMA weight and clamps.
    pub fn with_running_rho(mut self, rho: RunningRho) -> Self {
        self.rho = RhoMode::Running(rho);
        self
    }

    /// The reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// One weight per class, finite and non-negative (the number of classes of every batch must
    /// then equal `weights.len()`).
    pub fn with_class_weights(mut self, weights: Vec<f64>) -> Result<Self> {
        if weights.is_empty() {
            return Err(PenexError::Empty {
                what: "class weights",
            });
        }
        if let Some(&w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(parameter(
                "class weight",
                w,
                "must be finite and non-negative",
            ));
        }
        self.weights = Some(weights);
        Ok(self)
    }

    /// The target value whose rows are skipped (`None`: every target must be a class).
    pub fn with_ignore_index(mut self, ignore: Option<i64>) -> Self {
        self.ignore_index = ignore;
        self
    }

    /// The authors' Huberised tail: where `e^{−α f_y}` would exceed `τ > 0` it continues
    /// linearly with the same slope (see the [module docs](self)).
    pub fn with_linear_tail(mut self, tau: f64) -> Result<Self> {
        if !(tau.is_finite() && tau > 0.0) {
            return Err(parameter("tail", tau, "must be finite and positive"));
        }
        self.tail = Some(tau);
        Ok(self)
    }

    /// Refuses logits with `|f| > limit` (a diverged model) with
    /// [`PenexError::LogitTooLarge`]; by default every finite logit is accepted. `limit` must
    /// be positive (`+∞` allowed).
    pub fn with_max_logit(mut self, limit: f64) -> Result<Self> {
        if limit.is_nan() || limit <= 0.0 {
            return Err(parameter("max_logit", limit, "must be positive"));
        }
        self.max_logit = limit;
        Ok(self)
    }

    /// `α`.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The `ρ` the next forward pass uses.
    pub fn rho(&self) -> f64 {
        match self.rho {
            RhoMode::Fixed(r) => r,
            RhoMode::Running(r) => r.value(),
        }
    }

    /// How `ρ` is set, with its state.
    pub fn rho_mode(&self) -> RhoMode {
        self.rho
    }

    /// The reduction.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// The factor of the logits in the inference softmax: `1 + α`.
    pub fn inference_scale(&self) -> f64 {
        1.0 + self.alpha
    }

    /// Moves a running `ρ` by one EMA step towards the balance `α · exp_term / penalty` of
    /// `stats` (a no-op for a fixed `ρ`, a batch of zero total weight, or one whose balance is
    /// not finite); returns
    /// the new `ρ`. Call it once per training step, after the step's forward pass.
    pub fn update_rho(&mut self, stats: &BatchStats) -> f64 {
        if let (RhoMode::Running(r), true) = (&mut self.rho, stats.weight > 0.0) {
            r.update(self.alpha, stats.exp_term, stats.penalty);
        }
        self.rho()
    }

    /// The running `ρ`'s state as plain numbers (`[ρ, momentum, lo, hi]`, empty for a fixed
    /// `ρ`), to save with a checkpoint.
    pub fn rho_state(&self) -> Vec<f64> {
        match self.rho {
            RhoMode::Fixed(_) => Vec::new(),
            RhoMode::Running(r) => r.to_state().to_vec(),
        }
    }

    /// Restores [`Self::rho_state`] (errors for a fixed `ρ` given a non-empty state, or a
    /// state that is not a valid running `ρ`).
    pub fn restore_rho_state(&mut self, state: &[f64]) -> Result<()> {
        match &mut self.rho {
            RhoMode::Fixed(_) if state.is_empty() => Ok(()),
            RhoMode::Fixed(_) => Err(PenexError::Shape {
                what: "ρ state of a fixed ρ",
                expected: 0,
                got: state.len(),
            }),
            RhoMode::Running(r) => {
                *r = RunningRho::from_state(state)?;
                Ok(())
            }
        }
    }

    /// The loss of a batch (`logits` row-major `n × k`, `targets` of length `n`) without its
    /// gradient. Leaves `ρ` unchanged.
    ///
    /// Errors: `k = 0`; `logits.len() ≠ n·k`; class weights not of length `k`; a target that is
    /// neither a class nor the ignore index; a NaN or infinite logit (the first in row order);
    /// no row left after ignoring, or a zero total weight under [`Reduction::Mean`].
    /// Values are `±∞` where the true value leaves the type's range: an exponential of a logit
    /// beyond ≈ 88.7 in `f32` (709.8 in `f64`), or class weights near the type's maximum.
    pub fn forward<T: Element, L: Label>(
        &self,
        logits: &[T],
        k: usize,
        targets: &[L],
    ) -> Result<LossValue> {
        self.run(logits, k, targets, None)
    }

    /// The loss and its gradient with respect to every logit, written to `grad` (same length
    /// and layout as `logits`; 0 on ignored rows). Leaves `ρ` unchanged. Errors as
    /// [`Self::forward`], and when `grad` has the wrong length.
    pub fn forward_backward<T: Element, L: Label>(
        &self,
        logits: &[T],
        k: usize,
        targets: &[L],
        grad: &mut [T],
    ) -> Result<LossValue> {
        if grad.len() != logits.len() {
            return Err(PenexError::Shape {
                what: "gradient vs logits",
                expected: logits.len(),
                got: grad.len(),
            });
        }
        self.run(logits, k, targets, Some(grad))
    }

    /// The class of every row (`None` for an ignored row).
    fn classes<L: Label>(&self, k: usize, targets: &[L]) -> Result<Vec<Option<usize>>> {
        let mut out = Vec::with_capacity(targets.len());
        for (row, t) in targets.iter().enumerate() {
            let v = t.to_i128();
            if self.ignore_index.is_some_and(|ig| i128::from(ig) == v) {
                out.push(None);
            } else if (0..k as i128).contains(&v) {
                out.push(Some(v as usize));
            } else {
                return Err(PenexError::Target {
                    row,
                    target: v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
                    n_classes: k,
                    ignore_index: self.ignore_index,
                });
            }
        }
        Ok(out)
    }

    fn run<T: Element, L: Label>(
        &self,
        logits: &[T],
        k: usize,
        targets: &[L],
        grad: Option<&mut [T]>,
    ) -> Result<LossValue> {
        if k == 0 {
            return Err(PenexError::Empty { what: "classes" });
        }
        let expected = targets.len().saturating_mul(k);
        if logits.len() != expected {
            return Err(PenexError::Shape {
                what: "logits vs targets × classes",
                expected,
                got: logits.len(),
            });
        }
        if let Some(w) = &self.weights {
            if w.len() != k {
                return Err(PenexError::Shape {
                    what: "class weights vs classes",
                    expected: k,
                    got: w.len(),
                });
            }
        }
        let classes = self.classes(k, targets)?;
        // A mean does not change when every weight is scaled: divide by the largest weight in
        // the batch, so that tiny (subnormal) weights keep their ratios instead of rounding in
        // the sums.
        let present = || classes.iter().flatten();
        let unit = match (self.reduction, &self.weights) {
            (Reduction::Mean, Some(w)) => present().map(|&c| w[c]).fold(0.0, f64::max),
            _ => 1.0,
        };
        let scaled: Option<Vec<f64>> = match &self.weights {
            Some(w) if unit > 0.0 && unit != 1.0 => Some(w.iter().map(|v| v / unit).collect()),
            other => other.clone(),
        };
        let weight = |c: usize| scaled.as_ref().map_or(1.0, |w| w[c]);
        let total: f64 = present().map(|&c| weight(c)).sum();
        let rows = classes.iter().filter(|c| c.is_some()).count();
        if rows == 0 {
            return Err(PenexError::Empty {
                what: "batch after ignoring targets",
            });
        }
        if self.reduction == Reduction::Mean && total <= 0.0 {
            return Err(PenexError::Parameter {
                name: "total class weight",
                value: total,
                reason: "must be positive for a mean",
            });
        }
        let rho = self.rho();
        // What each row's weight is divided by in the gradient.
        let denominator = match self.reduction {
            Reduction::Mean => total,
            Reduction::Sum | Reduction::None => 1.0,
        };
        let kernel = Kernel {
            alpha: T::narrow(self.alpha),
            rho: T::narrow(rho),
            tail: self.tail.map(|tau| (T::narrow(tau), T::narrow(tau.ln()))),
            limit: T::narrow(self.max_logit),
        };
        let keep_rows = self.reduction == Reduction::None;
        let block = |(b, (xs, cs)): (usize, (&[T], &[Option<usize>])),
                     mut gs: Option<&mut [T]>|
         -> std::result::Result<Block, PenexError> {
            let mut out = Block::default();
            for (r, (row, c)) in xs.chunks(k).zip(cs).enumerate() {
                let g = gs.as_deref_mut().map(|g| &mut g[r * k..(r + 1) * k]);
                let Some(c) = *c else {
                    if let Some(g) = g {
                        g.fill(T::zero());
                    }
                    if keep_rows {
                        out.rows.push(0.0);
                    }
                    continue;
                };
                let w = weight(c);
                let coef = T::narrow(w / denominator);
                let (e, s) = match g {
                    Some(g) => kernel.row_with_grad(row, c, coef, g),
                    None => kernel.row(row, c),
                }
                .ok_or_else(|| {
                    let limit = self.max_logit;
                    let j = row
                        .iter()
                        .position(|v| {
                            let a = v.widen().abs();
                            a.is_nan() || a > limit
                        })
                        .unwrap_or(0);
                    let (row, class, value) = (b * ROW_BLOCK + r, j, row[j].widen());
                    if value.is_finite() {
                        PenexError::LogitTooLarge {
                            row,
                            class,
                            value,
                            limit,
                        }
                    } else {
                        PenexError::NonFinite { row, class, value }
                    }
                })?;
                let (e, s) = (e.widen(), s.widen());
                out.exp_term += w * e;
                out.penalty += w * s;
                let l = w * (e + rho * s);
                out.loss += l;
                if keep_rows {
                    out.rows.push(l);
                }
            }
            Ok(out)
        };
        let chunks = logits
            .par_chunks(k * ROW_BLOCK)
            .zip(classes.par_chunks(ROW_BLOCK));
        let blocks: Vec<std::result::Result<Block, PenexError>> = match grad {
            Some(g) => chunks
                .zip(g.par_chunks_mut(k * ROW_BLOCK))
                .enumerate()
                .map(|(b, (xc, gs))| block((b, xc), Some(gs)))
                .collect(),
            None => chunks
                .enumerate()
                .map(|(b, xc)| block((b, xc), None))
                .collect(),
        };
        let mut sum = Block::default();
        for b in blocks {
            let b = b?;
            sum.exp_term += b.exp_term;
            sum.penalty += b.penalty;
            sum.loss += b.loss;
            sum.rows.extend(b.rows);
        }
        let value = match self.reduction {
            Reduction::Mean => sum.loss / total,
            Reduction::Sum | Reduction::None => sum.loss,
        };
        Ok(LossValue {
            value,
            rows: sum.rows,
            stats: BatchStats {
                // A zero total weight (possible under Sum and None) has no mean: 0, and
                // update_rho skips such a batch.
                exp_term: if total > 0.0 {
                    sum.exp_term / total
                } else {
                    0.0
                },
                penalty: if total > 0.0 {
                    sum.penalty / total
                } else {
                    0.0
                },
                weight: if unit > 0.0 { total * unit } else { total },
                rows,
            },
        })
    }
}

#[derive(Default)]
struct Block {
    exp_term: f64,
    penalty: f64,
    loss: f64,
    rows: Vec<f64>,
}

/// The per-row arithmetic in the logits' own type.
struct Kernel<T> {
    alpha: T,
    rho: T,
    /// `(τ, ln τ)`.
    tail: Option<(T, T)>,
    /// The largest `|f|` accepted.
    limit: T,
}

impl<T: Element> Kernel<T> {
    /// `(E, dE/df_y)` at the label's logit. With a tail, `z = −α f_y` beyond `ln τ` gives the
    /// tangent `τ(1 + z − ln τ)` of `e^z` at `z = ln τ` (no division by `α`).
    fn exp_term(&self, fy: T) -> (T, T) {
        let z = -self.alpha * fy;
        match self.tail {
            Some((tau, ln_tau)) if z > ln_tau => {
                (tau * (T::one() + (z - ln_tau)), -self.alpha * tau)
            }
            _ => {
                let e = z.exp();
                (e, -self.alpha * e)
            }
        }
    }

    /// Whether the row's checks passed: `0 · v` is NaN exactly for NaN and ±∞ (and the NaN
    /// survives the sum); the largest `|v|` within the limit.
    fn accept(&self, check: T, largest: T) -> bool {
        !check.is_nan() && largest <= self.limit
    }

    /// `(E, S)` of one row, or `None` when a logit is NaN, infinite or beyond the limit.
    fn row(&self, row: &[T], c: usize) -> Option<(T, T)> {
        let (mut s, mut check, mut largest) = (T::zero(), T::zero(), T::zero());
        for &v in row {
            s = s + v.exp();
            check = check + v * T::zero();
            largest = largest.max(v.abs());
        }
        if !self.accept(check, largest) {
            return None;
        }
        Some((self.exp_term(row[c]).0, s))
    }

    /// As [`Self::row`], writing `coef · ∂(E + ρ S)/∂f` to `g`.
    fn row_with_grad(&self, row: &[T], c: usize, coef: T, g: &mut [T]) -> Option<(T, T)> {
        let (mut s, mut check, mut largest) = (T::zero(), T::zero(), T::zero());
        let cr = coef * self.rho;
        for (gj, &v) in g.iter_mut().zip(row) {
            let e = v.exp();
            s = s + e;
            check = check + v * T::zero();
            largest = largest.max(v.abs());
            *gj = cr * e;
        }
        if !self.accept(check, largest) {
            return None;
        }
        let (e, de) = self.exp_term(row[c]);
        g[c] = g[c] + coef * de;
        Some((e, s))
    }
}
