//! The two-point zeroth-order gradient estimator.

use crate::error::{check_finite, check_param, Result, ZoError};
use core_linalg::Rng;
use rand_distr::{Distribution, StandardNormal};

/// How random directions are drawn. Both satisfy `E[u uᵀ] = I`, so the estimator is unbiased
/// on a quadratic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Directions {
    /// `u ~ N(0, I_d)` (the theorems' setting).
    #[default]
    Gaussian,
    /// `u` uniform on the sphere of radius `√d` (Appendix B's non-Gaussian directions).
    Sphere,
}

/// The difference quotient along `u`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Difference {
    /// `(f(x + μu) − f(x − μu)) / (2μ)`: two evaluations, `O(μ²)` bias.
    #[default]
    Central,
    /// `(f(x + μu) − f(x)) / μ`: one evaluation besides `f(x)`, `O(μ)` bias.
    Forward,
}

/// Reusable buffers of [`Estimator::estimate_with`] (a direction and a probe point).
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    u: Vec<f64>,
    probe: Vec<f64>,
}

/// `ĝ = (1/q) Σ_{k=1..q} δ_k u_k` with `δ_k` the difference quotient of `f` along `u_k`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimator {
    /// Direction distribution.
    pub directions: Directions,
    /// Difference quotient.
    pub difference: Difference,
    /// Smoothing radius `μ > 0` (the paper: `1e-3`).
    pub mu: f64,
    /// Directions averaged per estimate, `q ≥ 1`.
    pub queries: usize,
}

impl Default for Estimator {
    /// The paper's estimator: Gaussian directions, central differences, `μ = 1e-3`, one query.
    fn default() -> Self {
        Self {
            directions: Directions::Gaussian,
            difference: Difference::Central,
            mu: 1e-3,
            queries: 1,
        }
    }
}

impl Estimator {
    /// Fails unless `μ > 0` is finite and `q ≥ 1`.
    pub fn validate(&self) -> Result<()> {
        check_param(
            "mu",
            self.mu,
            self.mu > 0.0,
            "the smoothing radius must be positive",
        )?;
        if self.queries == 0 {
            return Err(ZoError::Parameter {
                name: "queries",
                value: 0.0,
                reason: "at least one direction per estimate",
            });
        }
        Ok(())
    }

    /// Function evaluations one estimate costs (`2q` central; `q` forward, plus one for `f(x)`
    /// unless it is passed in).
    pub fn evaluations(&self, fx_known: bool) -> u64 {
        let q = self.queries as u64;
        match self.difference {
            Difference::Central => 2 * q,
            Difference::Forward => q + u64::from(!fx_known),
        }
    }

    /// Draws one direction into `u`.
    pub fn draw(&self, rng: &mut Rng, u: &mut [f64]) {
        for v in u.iter_mut() {
            *v = StandardNormal.sample(rng);
        }
        if self.directions == Directions::Sphere && !u.is_empty() {
            let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 0.0 {
                let s = (u.len() as f64).sqrt() / norm;
                u.iter_mut().for_each(|v| *v *= s);
            } else {
                u[0] = (u.len() as f64).sqrt();
            }
        }
    }

    /// Writes the estimate at `x` into `g` and returns the function evaluations spent. `fx`
    /// is `f(x)` when already known (forward differences then save one evaluation).
    ///
    /// Fails on mismatched lengths, a non-finite `x`, or `f` returning a non-finite value.
    pub fn estimate(
        &self,
        f: &mut dyn FnMut(&[f64]) -> f64,
        x: &[f64],
        fx: Option<f64>,
        rng: &mut Rng,
        g: &mut [f64],
    ) -> Result<u64> {
        self.estimate_with(f, x, fx, rng, g, &mut Scratch::default())
    }

    /// [`Self::estimate`] with caller-owned buffers for the direction and the probe point, so
    /// that repeated estimates in high dimension allocate nothing ([`Optimizer`](crate::Optimizer)
    /// keeps one).
    pub fn estimate_with(
        &self,
        f: &mut dyn FnMut(&[f64]) -> f64,
        x: &[f64],
        fx: Option<f64>,
        rng: &mut Rng,
        g: &mut [f64],
        scratch: &mut Scratch,
    ) -> Result<u64> {
        self.validate()?;
        if g.len() != x.len() {
            return Err(ZoError::Dimension {
                what: "gradient estimate",
                expected: x.len(),
                got: g.len(),
            });
        }
        check_finite("point", x)?;
        scratch.u.resize(x.len(), 0.0);
        scratch.probe.resize(x.len(), 0.0);
        let (u, probe) = (&mut scratch.u, &mut scratch.probe);
        let mut evals = 0u64;
        let f0 = match (self.difference, fx) {
            (Difference::Forward, Some(v)) => finite("f(x)", v)?,
            (Difference::Forward, None) => {
                evals += 1;
                finite("f(x)", f(x))?
            }
            (Difference::Central, _) => 0.0,
        };
        g.iter_mut().for_each(|v| *v = 0.0);
        let q = self.queries as f64;
        for _ in 0..self.queries {
            self.draw(rng, u);
            let mut at = |sign: f64| {
                for ((p, &xi), &ui) in probe.iter_mut().zip(x).zip(u.iter()) {
                    *p = xi + sign * self.mu * ui;
                }
                f(probe)
            };
            let delta = match self.difference {
                Difference::Central => {
                    let (fp, fm) = (
                        finite("f(x + μu)", at(1.0))?,
                        finite("f(x − μu)", at(-1.0))?,
                    );
                    evals += 2;
                    (fp - fm) / (2.0 * self.mu)
                }
                Difference::Forward => {
                    let fp = finite("f(x + μu)", at(1.0))?;
                    evals += 1;
                    (fp - f0) / self.mu
                }
            };
            let w = finite(
                "difference quotient (μ too small for f's rounding)",
                delta / q,
            )?;
            for (gi, &ui) in g.iter_mut().zip(u.iter()) {
                *gi += w * ui;
            }
        }
        if let Some(i) = g.iter().position(|v| !v.is_finite()) {
            return Err(ZoError::Diverged {
                what: "gradient estimate",
                value: g[i],
            });
        }
        Ok(evals)
    }
}

fn finite(what: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ZoError::Diverged { what, value: v })
    }
}
