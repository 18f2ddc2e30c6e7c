//! ZO-GD, ZO-GDM, ZO-Adam and frozen ZO-Adam, and their first-order counterparts: one update
//! rule fed either by the two-point estimator or by a gradient, counting what each costs.

use crate::error::{check_finite, check_param, Result, ZoError};
use crate::estimator::{Estimator, Scratch};
use core_linalg::Rng;

/// The update rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// `x ← x − η g`.
    Gd,
    /// Polyak momentum `m ← β m + g`, `x ← x − η m`, `β ∈ [0, 1)`.
    Gdm {
        /// Momentum.
        beta: f64,
    },
    /// Bias-corrected Adam: `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
    /// `x ← x − η P_{t+1}⁻¹ m` with `P_{t+1} = (1−β₁^{t+1}) diag(√(v/(1−β₂^{t+1})) + ε)`.
    Adam {
        /// First-moment decay `β₁ ∈ [0, 1)`.
        beta1: f64,
        /// Second-moment decay `β₂ ∈ [0, 1)`.
        beta2: f64,
        /// `ε > 0`.
        eps: f64,
    },
    /// Adam with a fixed preconditioner (Theorem 3's object): `m ← β₁m + (1−β₁)g`,
    /// `x ← x − η P⁻¹ m` with `P = diag(p)`, `p_i > 0`.
    FrozenAdam {
        /// First-moment decay `β₁ ∈ [0, 1)`.
        beta1: f64,
        /// The diagonal of `P`.
        p: Vec<f64>,
    },
}

impl Method {
    /// Adam with the usual `(β₁, β₂, ε) = (0.9, 0.999, 1e-8)`.
    pub fn adam() -> Self {
        Method::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    fn validate(&self, dim: usize) -> Result<()> {
        let unit =
            |name, v: f64| check_param(name, v, (0.0..1.0).contains(&v), "must lie in [0, 1)");
        match self {
            Method::Gd => Ok(()),
            Method::Gdm { beta } => unit("beta", *beta),
            Method::Adam { beta1, beta2, eps } => {
                unit("beta1", *beta1)?;
                unit("beta2", *beta2)?;
                check_param("eps", *eps, *eps > 0.0, "must be positive")
            }
            Method::FrozenAdam { beta1, p } => {
                unit("beta1", *beta1)?;
                if p.len() != dim {
                    return Err(ZoError::Dimension {
                        what: "frozen preconditioner",
                        expected: dim,
                        got: p.len(),
                    });
                }
                check_finite("frozen preconditioner", p)?;
                match p.iter().position(|&v| v <= 0.0) {
                    Some(i) => Err(ZoError::Parameter {
                        name: "p_i",
                        value: p[i],
                        reason: "a preconditioner's diagonal must be positive",
                    }),
                    None => Ok(()),
                }
            }
        }
    }
}

/// An optimiser over `R^d` with its state (momentum, Adam moments) and its cost counters.
#[derive(Debug, Clone)]
pub struct Optimizer {
    method: Method,
    eta: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    g: Vec<f64>,
    scratch: Scratch,
    steps: u64,
    evaluations: u64,
    gradient_evaluations: u64,
}

impl Optimizer {
    /// An optimiser in dimension `dim ≥ 1` with step size `η > 0`.
    pub fn new(method: Method, eta: f64, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(ZoError::Empty {
                what: "parameter vector",
            });
        }
        check_param("eta", eta, eta > 0.0, "a step size must be positive")?;
        method.validate(dim)?;
        Ok(Self {
            method,
            eta,
            m: vec![0.0; dim],
            v: vec![0.0; dim],
            g: vec![0.0; dim],
            scratch: Scratch::default(),
            steps: 0,
            evaluations: 0,
            gradient_evaluations: 0,
        })
    }

    /// The update rule.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The step size.
    pub fn eta(&self) -> f64 {
        self.eta
    }

    /// Changes the step size (the catapult experiments raise it mid-run); state is kept.
    pub fn set_eta(&mut self, eta: f64) -> Result<()> {
        check_param("eta", eta, eta > 0.0, "a step size must be positive")?;
        self.eta = eta;
        Ok(())
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Function evaluations spent by zeroth-order steps.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Gradient evaluations spent by first-order steps.
    pub fn gradient_evaluations(&self) -> u64 {
        self.gradient_evaluations
    }

    /// The last gradient or estimate used.
    pub fn last_direction(&self) -> &[f64] {
        &self.g
    }

    /// The diagonal of the preconditioner `P` the last step used (Adam: from the current
    /// moments with the last step's bias corrections, `(1−β₁^t)(√(v/(1−β₂^t)) + ε)`, before any
    /// step `(1−β₁)ε`; frozen Adam: `p`; `None` for GD and GDM). The edge-of-stability interval
    /// of ZO-Adam is built from the curvature of `P⁻¹H`.
    pub fn preconditioner(&self) -> Option<Vec<f64>> {
        match &self.method {
            Method::Adam { beta1, beta2, eps } => {
                let t = self.steps.max(1) as i32;
                let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                Some(
                    self.v
                        .iter()
                        .map(|v| c1 * ((v / c2).sqrt() + eps))
                        .collect(),
                )
            }
            Method::FrozenAdam { p, .. } => Some(p.clone()),
            _ => None,
        }
    }

    /// One zeroth-order step: estimate the gradient of `f` at `x` with `est`, then update `x`.
    /// `fx` is `f(x)` when already known (saves an evaluation with forward differences).
    pub fn zo_step(
        &mut self,
        est: &Estimator,
        f: &mut dyn FnMut(&[f64]) -> f64,
        x: &mut [f64],
        fx: Option<f64>,
        rng: &mut Rng,
    ) -> Result<()> {
        self.check_dim(x.len())?;
        let mut g = std::mem::take(&mut self.g);
        let r = est.estimate_with(f, x, fx, rng, &mut g, &mut self.scratch);
        self.g = g;
        self.evaluations += r?;
        self.apply(x)
    }

    /// One first-order step with the gradient `grad(x, out)`.
    pub fn fo_step(
        &mut self,
        grad: &mut dyn FnMut(&[f64], &mut [f64]),
        x: &mut [f64],
    ) -> Result<()> {
        self.check_dim(x.len())?;
        check_finite("point", x)?;
        let mut g = std::mem::take(&mut self.g);
        grad(x, &mut g);
        self.g = g;
        self.gradient_evaluations += 1;
        check_finite("gradient", &self.g)?;
        self.apply(x)
    }

    /// One step along a direction computed elsewhere (a gradient, an estimate).
    pub fn step_with(&mut self, direction: &[f64], x: &mut [f64]) -> Result<()> {
        self.check_dim(x.len())?;
        self.check_dim(direction.len())?;
        check_finite("direction", direction)?;
        self.g.copy_from_slice(direction);
        self.apply(x)
    }

    fn check_dim(&self, got: usize) -> Result<()> {
        if got == self.g.len() {
            Ok(())
        } else {
            Err(ZoError::Dimension {
                what: "parameter vector",
                expected: self.g.len(),
                got,
            })
        }
    }

    fn apply(&mut self, x: &mut [f64]) -> Result<()> {
        let eta = self.eta;
        let g = &self.g;
        match &self.method {
            Method::Gd => x.iter_mut().zip(g).for_each(|(xi, gi)| *xi -= eta * gi),
            Method::Gdm { beta } => {
                for ((xi, mi), gi) in x.iter_mut().zip(&mut self.m).zip(g) {
                    *mi = beta * *mi + gi;
                    *xi -= eta * *mi;
                }
            }
            Method::Adam { beta1, beta2, eps } => {
                let t = (self.steps + 1).min(i32::MAX as u64) as i32;
                let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                for (((xi, mi), vi), gi) in x.iter_mut().zip(&mut self.m).zip(&mut self.v).zip(g) {
                    *mi = beta1 * *mi + (1.0 - beta1) * gi;
                    *vi = beta2 * *vi + (1.0 - beta2) * gi * gi;
                    *xi -= eta * *mi / (c1 * ((*vi / c2).sqrt() + eps));
                }
            }
            Method::FrozenAdam { beta1, p } => {
                for (((xi, mi), gi), pi) in x.iter_mut().zip(&mut self.m).zip(g).zip(p) {
                    *mi = beta1 * *mi + (1.0 - beta1) * gi;
                    *xi -= eta * *mi / pi;
                }
            }
        }
        self.steps += 1;
        // The Adam moments can overflow (g² of a finite g) while x stays finite.
        if let Some(i) = self.m.iter().chain(&self.v).position(|v| !v.is_finite()) {
            return Err(ZoError::Diverged {
                what: "optimiser state (momentum or second moment)",
                value: self
                    .m
                    .iter()
                    .chain(&self.v)
                    .nth(i)
                    .copied()
                    .unwrap_or(f64::NAN),
            });
        }
        match x.iter().position(|v| !v.is_finite()) {
            Some(i) => Err(ZoError::Diverged {
                what: "iterate",
                value: x[i],
            }),
            None => Ok(()),
        }
    }
}
