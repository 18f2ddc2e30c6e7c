//! Certified linear rates `(c, ρ)` and the Lipschitz constant `L_V` of the converse Lyapunov
//! function they give.

use crate::error::{check_finite, check_positive, check_rate, BoundsError, Result};
use core_linalg::{power_bound, spectral_norm, PowerBound};
use nalgebra::DMatrix;

/// Where a rate holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere: the undisturbed map is incrementally stable with these constants.
    Global,
    /// Near the fixed point only: a rate read off the Jacobian there (an estimate for a
    /// nonlinear map, exact for its linearisation). The bounds built on it hold while the
    /// iterates stay where the linearisation is accurate.
    Local,
}

/// A certified linear rate of an undisturbed iteration `x ↦ f(x)` with fixed point `x*`:
/// incremental stability `‖φ_k(x) − φ_k(y)‖ ≤ c ρ^k ‖x − y‖` for the `k`-fold map `φ_k`.
/// The converse Lyapunov function `V(x) = sup_k ρ^{−k} ‖φ_k(x) − x*‖` then satisfies
/// `‖x − x*‖ ≤ V(x) ≤ c ‖x − x*‖` and `V(f(x)) ≤ ρ V(x)`, and it is Lipschitz with
/// `L_V = c`: the constants every bound of this crate is built from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    c: f64,
    rho: f64,
    l_v: f64,
    scope: Scope,
}

impl Rate {
    /// A rate from a user's own constants: `c ≥ 1`, `ρ ∈ [0, 1)`, `L_V ≥ 1`, all finite (`V`
    /// equals `‖x − x*‖` at its `k = 0` term, so no Lipschitz constant below 1 is possible).
    pub fn new(c: f64, rho: f64, l_v: f64) -> Result<Self> {
        if !(c.is_finite() && c >= 1.0) {
            return Err(BoundsError::Parameter {
                name: "c",
                value: c,
                reason: "the transient constant must be finite and at least 1",
            });
        }
        check_rate("rho", rho)?;
        if !(l_v.is_finite() && l_v >= 1.0) {
            return Err(BoundsError::Parameter {
                name: "L_V",
                value: l_v,
                reason: "the Lipschitz constant of V must be finite and at least 1",
            });
        }
        Ok(Self {
            c,
            rho,
            l_v,
            scope: Scope::Global,
        })
    }

    /// Gradient descent `x ↦ x − η∇F(x)` on a `μ`-strongly convex, `L`-smooth `F`, for
    /// `η ∈ (0, 2/(L + μ)]`, the range the paper notes certify: `c = L_V = 1`,
    /// `ρ = max(|1 − ημ|, |1 − ηL|)`, the Lipschitz constant of the map `I − η∇F` on that class
    /// of functions (Ryu and Boyd, *A Primer on Monotone Operator Methods*, 2016; Nesterov's
    /// Thm 2.1.15, 2004, gives the weaker `√(1 − 2ημL/(μ + L))`). The tests compare `ρ` with
    /// the spectral norm of `I − ηA` on quadratics, where it is exact.
    pub fn gradient_descent(mu: f64, l: f64, eta: f64) -> Result<Self> {
        let max = check_smoothness(mu, l)?.0;
        Self::gd(
            mu,
            l,
            eta,
            max,
            "gradient descent on a strongly convex, smooth function",
        )
    }

    /// As [`Self::gradient_descent`] for a twice-differentiable `F` (a quadratic, a logistic
    /// loss), where the map's Jacobian `I − η∇²F` has norm `max(|1 − ημ|, |1 − ηL|)` for every
    /// `η ∈ (0, 2/L)`: the wider range of step sizes.
    pub fn gradient_descent_c2(mu: f64, l: f64, eta: f64) -> Result<Self> {
        let max = check_smoothness(mu, l)?.1;
        if eta >= max {
            return Err(BoundsError::StepSize {
                eta,
                max,
                why: "gradient descent on a twice-differentiable function needs eta < 2/L",
            });
        }
        Self::gd(mu, l, eta, max, "twice-differentiable gradient descent")
    }

    fn gd(mu: f64, l: f64, eta: f64, max: f64, why: &'static str) -> Result<Self> {
        if !(eta > 0.0 && eta <= max) {
            return Err(BoundsError::StepSize { eta, max, why });
        }
        let rho = (1.0 - eta * mu).abs().max((1.0 - eta * l).abs());
        Self::new(1.0, rho, 1.0)
    }

    /// The constant `c`.
    pub fn c(&self) -> f64 {
        self.c
    }

    /// The rate `ρ`.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// The Lipschitz constant `L_V` of the converse Lyapunov function.
    pub fn l_v(&self) -> f64 {
        self.l_v
    }

    /// Where the rate holds.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The input-to-state gain `γ = L_V / (1 − ρ)`: a disturbance bounded by `δ` leaves the
    /// iterates within `γ δ` of `x*` in the limit.
    pub fn iss_gain(&self) -> f64 {
        self.l_v / (1.0 - self.rho)
    }
}

/// Checks `0 < μ ≤ L` finite and returns the certified step-size limits `(2/(L+μ), 2/L)`.
fn check_smoothness(mu: f64, l: f64) -> Result<(f64, f64)> {
    check_positive("mu", mu)?;
    check_positive("L", l)?;
    if mu > l {
        return Err(BoundsError::Parameter {
            name: "mu",
            value: mu,
            reason: "the strong-convexity constant cannot exceed the smoothness constant L",
        });
    }
    Ok((2.0 / (l + mu), 2.0 / l))
}

/// A rate certified for an affine iteration `x ↦ A x + b` (or, labelled [`Scope::Local`], for
/// a nonlinear map from its Jacobian at the fixed point), with the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct AffineRate {
    /// The rate: `c` from the Lyapunov matrix, `ρ` as chosen, `L_V = c`.
    pub rate: Rate,
    /// The Lyapunov certificate behind it (`P`, the spectral radius).
    pub bound: PowerBound,
    /// The powers checked against the bound directly: `‖A^k‖₂ ≤ c ρ^k` for `k ≤ horizon`.
    pub horizon: usize,
    /// The largest `‖A^k‖ / (c ρ^k)` over those powers, at most 1 when the bound holds (the
    /// Frobenius norm stands in for the spectral norm wherever it already meets the bound, so
    /// this is an upper bound of the largest spectral-norm ratio).
    pub max_ratio: f64,
}

/// The powers [`AffineRate`] checks at most.
pub const MAX_HORIZON: usize = 2000;

impl AffineRate {
    /// Certifies `‖A^k‖₂ ≤ c ρ^k` for the matrix of an affine iteration at the rate `ρ`
    /// (default: halfway between the spectral radius `r` and 1, `(r + 1)/2`; a rate nearer `r`
    /// costs a larger `c`). Method: the Lyapunov (Stein) equation `(A/ρ)ᵀ P (A/ρ) − P = −I`,
    /// `c = √(λ_max(P)/λ_min(P))` ([`core_linalg::power_bound`]); then every power up to the
    /// horizon where `c ρ^k < 10⁻¹²` (at most [`MAX_HORIZON`]) is compared with the bound —
    /// through the Frobenius norm, an upper bound of the spectral norm, with an SVD only where
    /// that is not enough. Errors when `A` is not square and finite, `r ≥ 1`, or `ρ ∉ (r, 1)`.
    pub fn affine(a: &DMatrix<f64>, rho: Option<f64>) -> Result<Self> {
        Self::certify(a, rho, Scope::Global)
    }

    /// As [`Self::affine`] on the Jacobian of a nonlinear map at its fixed point: an estimate,
    /// labelled [`Scope::Local`].
    pub fn local(jacobian: &DMatrix<f64>, rho: Option<f64>) -> Result<Self> {
        Self::certify(jacobian, rho, Scope::Local)
    }

    fn certify(a: &DMatrix<f64>, rho: Option<f64>, scope: Scope) -> Result<Self> {
        if a.is_empty() {
            return Err(BoundsError::Empty { what: "matrix" });
        }
        check_finite("matrix", a.as_slice())?;
        let r = core_linalg::spectral_radius(a)?;
        if r >= 1.0 {
            return Err(BoundsError::Parameter {
                name: "spectral radius",
                value: r,
                reason: "the iteration is not convergent (spectral radius at or above 1)",
            });
        }
        let rho = rho.unwrap_or((r + 1.0) / 2.0);
        let bound = power_bound(a, rho)?;
        let c = bound.c;
        let horizon = if rho == 0.0 {
            1
        } else {
            ((1e-12 / c).ln() / rho.ln())
                .ceil()
                .clamp(1.0, MAX_HORIZON as f64) as usize
        };
        let n = a.nrows();
        let mut power = DMatrix::<f64>::identity(n, n);
        let mut max_ratio = 0.0f64;
        for k in 0..=horizon {
            let limit = c * rho.powi(k as i32);
            let frob = power.norm();
            let norm = if frob <= limit {
                frob
            } else {
                spectral_norm(&power)?
            };
            if limit > 0.0 {
                max_ratio = max_ratio.max(norm / limit);
            }
            power = &power * a;
        }
        Ok(Self {
            rate: Rate {
                c,
                rho,
                l_v: c,
                scope,
            },
            bound,
            horizon,
            max_ratio,
        })
    }
}
