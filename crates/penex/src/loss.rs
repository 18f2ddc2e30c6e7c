//! The PENEX loss as plain `f64` functions of a logit matrix, with its analytic gradient, its
//! Fisher-consistent optimum and the running penalty weight.

use crate::{PenexError, Result};

/// A batch of logits `f` (row-major, `n × k`) with labels, validated.
#[derive(Debug, Clone, Copy)]
pub struct Logits<'a> {
    data: &'a [f64],
    k: usize,
    labels: &'a [usize],
}

impl<'a> Logits<'a> {
    /// Validates shapes, finiteness and label range.
    pub fn new(data: &'a [f64], k: usize, labels: &'a [usize]) -> Result<Self> {
        if k == 0 || data.is_empty() {
            return Err(PenexError::Empty { what: "logits" });
        }
        // Checked: a huge k would otherwise wrap labels × k to the data length.
        let expected = labels.len().saturating_mul(k);
        if data.len() != expected {
            return Err(PenexError::Shape {
                what: "logits vs labels × classes",
                expected,
                got: data.len(),
            });
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(PenexError::NonFinite {
                row: i / k,
                class: i % k,
                value: data[i],
            });
        }
        if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &y)| y >= k) {
            return Err(PenexError::Label {
                row,
                label,
                n_classes: k,
            });
        }
        Ok(Self { data, k, labels })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Always false for a validated batch.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.k
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.k..(i + 1) * self.k]
    }

    /// `(mean e^{−α f_y}, mean Σ_j e^{f_j})`, the two terms of the loss.
    pub fn terms(&self, alpha: f64) -> (f64, f64) {
        let n = self.len() as f64;
        let (mut a, mut b) = (0.0, 0.0);
        for (i, &y) in self.labels.iter().enumerate() {
            let r = self.row(i);
            a += (-alpha * r[y]).exp();
            b += r.iter().map(|v| v.exp()).sum::<f64>();
        }
        (a / n, b / n)
    }
}

/// PENEX's two constants: sensitivity `α > 0` and penalty weight `ρ > 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penex {
    alpha: f64,
    rho: f64,
}

/// The largest sensitivity `α` PENEX accepts: `1e3` (the paper uses 0.01–1; beyond, `e^{−α f}`
/// overflows `f32` for any logit below −0.09).
pub const MAX_ALPHA: f64 = 1e3;
/// The smallest sensitivity the drop-in loss and the candle losses accept: `1e-30` (below
/// `f32`'s smallest normal number, `α` would round to 0 and the loss to a constant).
pub const MIN_ALPHA: f64 = 1e-30;
/// The largest penalty weight `ρ` PENEX accepts: `1e10` (the authors' running estimate is
/// clamped to `[1e-6, 100]`; beyond, `ρ · Σ e^f` overflows `f32` for ordinary logits).
pub const MAX_RHO: f64 = 1e10;

fn check_at_most(name: &'static str, v: f64, max: f64) -> Result<()> {
    check_positive(name, v)?;
    if v > max {
        return Err(PenexError::Parameter {
            name,
            value: v,
            reason: "above its documented bound (MAX_ALPHA = 1e3, MAX_RHO = 1e10)",
        });
    }
    Ok(())
}

fn check_positive(name: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(PenexError::Parameter {
            name,
            value: v,
            reason: "must be finite and positive",
        })
    }
}

/// The sensitivity bounds of the drop-in and candle losses: `α ∈ [MIN_ALPHA, MAX_ALPHA]`.
pub(crate) fn check_sensitivity(alpha: f64) -> Result<()> {
    if alpha.is_finite() && (MIN_ALPHA..=MAX_ALPHA).contains(&alpha) {
        Ok(())
    } else {
        Err(PenexError::Parameter {
            name: "alpha",
            value: alpha,
            reason:
                "must lie in [MIN_ALPHA = 1e-30, MAX_ALPHA = 1e3] (below, α rounds to 0 in f32)",
        })
    }
}

/// A penalty weight's bounds: `(0, MAX_RHO]`.
pub(crate) fn check_penalty_weight(name: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 && v <= MAX_RHO {
        Ok(())
    } else {
        Err(PenexError::Parameter {
            name,
            value: v,
            reason: "must lie in (0, MAX_RHO = 1e10]",
        })
    }
}

impl Penex {
    /// `L = mean e^{−α f_y} + ρ · mean Σ_j e^{f_j}`; errors unless `0 < α ≤` [`MAX_ALPHA`] and
    /// `0 < ρ ≤` [`MAX_RHO`].
    pub fn new(alpha: f64, rho: f64) -> Result<Self> {
        check_at_most("alpha", alpha, MAX_ALPHA)?;
        check_at_most("rho", rho, MAX_RHO)?;
        Ok(Self { alpha, rho })
    }

    /// `α`.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// `ρ`.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// The loss of a batch: `+∞` when a logit exceeds `ln f64::MAX ≈ 709.8` or `α f_y` falls
    /// below `−709.8` (an exponential loss: the true value is beyond `f64`).
    pub fn loss(&self, f: &Logits<'_>) -> f64 {
        let (a, b) = f.terms(self.alpha);
        a + self.rho * b
    }

    /// The loss and its gradient with respect to every logit (row-major like the input):
    /// `∂L/∂f_ij = (−α e^{−α f_iy} 1[j = y_i] + ρ e^{f_ij}) / n` (entries `±∞` where the loss
    /// is, see [`Self::loss`]).
    pub fn loss_and_grad(&self, f: &Logits<'_>) -> (f64, Vec<f64>) {
        let n = f.len() as f64;
        let k = f.n_classes();
        let mut g = vec![0.0; f.len() * k];
        for (i, &y) in f.labels.iter().enumerate() {
            let r = f.row(i);
            for j in 0..k {
                g[i * k + j] = self.rho * r[j].exp() / n;
            }
            g[i * k + y] -= self.alpha * (-self.alpha * r[y]).exp() / n;
        }
        (self.loss(f), g)
    }

    /// The population optimum for class probabilities `p`: `f*_j = log(α p_j / ρ)/(1 + α)`
    /// (`−∞` where `p_j = 0`), as a sum of logarithms so that `α p_j / ρ` cannot overflow (it
    /// did for α near f64::MAX or ρ near 5e-324).
    pub fn optimum(&self, p: &[f64]) -> Vec<f64> {
        let c = self.alpha.ln() - self.rho.ln();
        p.iter()
            .map(|&pj| (c + pj.ln()) / (1.0 + self.alpha))
            .collect()
    }

    /// Inference probabilities `softmax((1 + α) f)` of one row: Fisher-consistent, so at the
    /// optimum they equal `p`.
    pub fn probabilities(&self, row: &[f64]) -> Vec<f64> {
        inference_probabilities(row, self.alpha)
    }
}

/// `softmax((1 + α) f)`, as `softmax` of `f` at temperature `1/(1 + α)` computed from the
/// centred logits `f − max f`, so that `(1 + α) f` overflowing (`f = 1e308`) does not turn the
/// probabilities into NaN. Non-finite logits give NaN (documented, as `core_linalg::softmax`).
pub fn inference_probabilities(row: &[f64], alpha: f64) -> Vec<f64> {
    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return core_linalg::softmax(row);
    }
    // f − max f is −∞ when the spread overflows (−f64::MAX − f64::MAX): keep it −∞ (a zero
    // probability) rather than 0 · −∞ = NaN at α = −1.
    let s = 1.0 + alpha;
    let scaled: Vec<f64> = row
        .iter()
        .map(|v| {
            let d = v - m;
            if d == f64::NEG_INFINITY {
                d
            } else {
                s * d
            }
        })
        .collect();
    core_linalg::softmax(&scaled)
}

/// The authors' running penalty weight: after each batch
/// `ρ ← clamp((1 − m) ρ + m · α · mean e^{−α f_y} / mean Σ_j e^{f_j}, lo, hi)`, the stationarity
/// balance of the two terms, computed without gradient (defaults `m = 0.1`, `[1e-6, 100]`,
/// initial `ρ = 1`).
///
/// **Start it at the balance for short trainings** ([`RunningRho::balanced`]): the initial
/// `ρ = 1` is `K/α` times the balance `α/K` at zero logits (170× for `K = 10`, `α = 0.058`),
/// so the first steps push every logit down; with Adam those early gradients inflate the
/// second-moment estimate and the discriminative signal that follows is damped for hundreds of
/// steps. The penex `mnist` experiment measures it: a ConvNet trained for a few epochs from
/// `ρ = 1` predicts nearly one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunningRho {
    value: f64,
    momentum: f64,
    lo: f64,
    hi: f64,
}

impl Default for RunningRho {
    fn default() -> Self {
        Self {
            value: 1.0,
            momentum: 0.1,
            lo: 1e-6,
            hi: 100.0,
        }
    }
}

impl RunningRho {
    /// A running estimate starting at `initial`, with EMA weight `momentum ∈ (0, 1]` and clamps
    /// `0 < lo ≤ hi ≤` [`MAX_RHO`].
    pub fn new(initial: f64, momentum: f64, lo: f64, hi: f64) -> Result<Self> {
        check_positive("rho", initial)?;
        check_positive("lo", lo)?;
        check_at_most("hi", hi, MAX_RHO)?;
        if !(momentum > 0.0 && momentum <= 1.0) {
            return Err(PenexError::Parameter {
                name: "momentum",
                value: momentum,
                reason: "must lie in (0, 1]",
            });
        }
        if !(hi >= lo && hi.is_finite()) {
            return Err(PenexError::Parameter {
                name: "hi",
                value: hi,
                reason: "must be finite and at least lo",
            });
        }
        Ok(Self {
            value: initial.clamp(lo, hi),
            momentum,
            lo,
            hi,
        })
    }

    /// The defaults started at the balance of the two terms at zero logits: with every
    /// `f = 0` the target `α · mean e^{−α f_y} / mean Σ_j e^{f_j}` is `α / K`.
    pub fn balanced(alpha: f64, n_classes: usize) -> Result<Self> {
        check_sensitivity(alpha)?;
        if n_classes == 0 {
            return Err(PenexError::Parameter {
                name: "n_classes",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        let d = Self::default();
        Self::new(alpha / n_classes as f64, d.momentum, d.lo, d.hi)
    }

    /// The current `ρ`.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The balance `α · mean e^{−α f_y} / mean Σ_j e^{f_j}` of the two terms given their means.
    pub fn target(alpha: f64, exp_term: f64, penalty_term: f64) -> f64 {
        alpha * exp_term / penalty_term
    }

    /// Updates from the two term means of a batch; returns the new `ρ`.
    pub fn update(&mut self, alpha: f64, exp_term: f64, penalty_term: f64) -> f64 {
        let t = Self::target(alpha, exp_term, penalty_term);
        if t.is_finite() {
            self.value =
                ((1.0 - self.momentum) * self.value + self.momentum * t).clamp(self.lo, self.hi);
        }
        self.value
    }

    /// `(lo, hi)`.
    pub fn clamps(&self) -> (f64, f64) {
        (self.lo, self.hi)
    }

    /// `[ρ, momentum, lo, hi]`, to save with a checkpoint.
    pub fn to_state(&self) -> [f64; 4] {
        [self.value, self.momentum, self.lo, self.hi]
    }

    /// Restores [`Self::to_state`] exactly (the value is not re-clamped), checking the same
    /// constraints as [`Self::new`] and that the value lies within the clamps.
    pub fn from_state(state: &[f64]) -> Result<Self> {
        let &[value, momentum, lo, hi] = state else {
            return Err(PenexError::Shape {
                what: "running ρ state [ρ, momentum, lo, hi]",
                expected: 4,
                got: state.len(),
            });
        };
        let r = Self::new(value, momentum, lo, hi)?;
        if r.value != value {
            return Err(PenexError::Parameter {
                name: "rho",
                value,
                reason: "a saved running ρ must lie within its clamps",
            });
        }
        Ok(r)
    }
}
