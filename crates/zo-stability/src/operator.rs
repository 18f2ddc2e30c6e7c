//! The exact second-moment operators of ZO-GD and ZO-GDM on a quadratic, in the eigenbasis of
//! `H`, with their spectral radii and exact mean-square propagation.
//!
//! On `f(x) = ½ xᵀHx` the two-point estimator is `ĝ = u uᵀ H x` for every `μ` (the difference
//! quotient of a quadratic is exact). With `E[u uᵀ A u uᵀ] = 2A + tr(A) I` for Gaussian `u`
//! and symmetric `A` (Isserlis), the second moment `S = E[x xᵀ]` of ZO-GD evolves as
//!
//! ```text
//!     S′ = S − η(HS + SH) + η² (2 HSH + tr(H² S) I).
//! ```
//!
//! In the eigenbasis the off-diagonal entries decouple (each is multiplied by
//! `1 − η(λ_i + λ_j) + 2η²λ_iλ_j`) and never enter `E‖x‖² = tr S`; the diagonal follows
//! `s′ = D s + η² 1 (λ²)ᵀ s` with `D_i = 1 − 2ηλ_i + 2η²λ_i²`: a diagonal plus a rank-one
//! coupling ([`ZoGdOperator`]). For ZO-GDM the state per eigendirection is
//! `(E x_k², E x_k x_{k−1}, E x_{k−1}²)` ([`ZoGdmOperator`], the notes' 3d recursion).

use crate::error::{check_param, Result, ZoError};
use crate::spectrum::Spectrum;
use nalgebra::DMatrix;

/// The largest dimension for which [`ZoGdmOperator::spectral_radius`] builds its dense
/// `3d × 3d` matrix.
pub const MAX_DENSE_GDM_DIM: usize = 600;

fn check_eta(eta: f64) -> Result<()> {
    check_param("eta", eta, eta > 0.0, "a step size must be positive")
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(ZoError::Dimension {
            what,
            expected,
            got,
        })
    }
}

/// ZO-GD's second-moment operator `s ↦ D s + η² 1 (λ²)ᵀ s` on the diagonal of `E[x xᵀ]` in the
/// eigenbasis of `H`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoGdOperator {
    lambda: Vec<f64>,
    eta: f64,
}

impl ZoGdOperator {
    /// The operator of ZO-GD with step size `η > 0` on a quadratic with this spectrum.
    pub fn new(s: &Spectrum, eta: f64) -> Result<Self> {
        check_eta(eta)?;
        Ok(Self {
            lambda: s.eigenvalues().to_vec(),
            eta,
        })
    }

    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.lambda.len()
    }

    /// The diagonal `D_i = 1 − 2ηλ_i + 2η²λ_i²` (positive: `(1 − ηλ)² + (ηλ)²`).
    pub fn diagonal(&self) -> Vec<f64> {
        let e = self.eta;
        self.lambda
            .iter()
            .map(|&l| (1.0 - e * l).powi(2) + (e * l).powi(2))
            .collect()
    }

    /// One application, `O(d)`: `out = D s + η² (Σ_j λ_j² s_j) 1`.
    pub fn apply(&self, s: &[f64], out: &mut [f64]) -> Result<()> {
        check_len("second-moment state", self.dim(), s.len())?;
        check_len("output", self.dim(), out.len())?;
        // (ηλ)², never η²·λ²: the products stay in range where η and λ alone are extreme.
        let e = self.eta;
        let coupling: f64 = self
            .lambda
            .iter()
            .zip(s)
            .map(|(l, v)| (e * l) * (e * l) * v)
            .sum();
        for ((o, &v), &l) in out.iter_mut().zip(s).zip(&self.lambda) {
            let el = self.eta * l;
            *o = ((1.0 - el).powi(2) + el * el) * v + coupling;
        }
        Ok(())
    }

    /// The dense `d × d` matrix (for checks against a general eigen-solver).
    pub fn to_dense(&self) -> DMatrix<f64> {
        let d = self.dim();
        let e = self.eta;
        let diag = self.diagonal();
        DMatrix::from_fn(d, d, |i, j| {
            (e * self.lambda[j]).powi(2) + if i == j { diag[i] } else { 0.0 }
        })
    }

    /// The spectral radius, `O(d)` per iteration: the operator is non-negative, so its spectral
    /// radius is its Perron root, the largest root `ρ > max_{λ_j ≠ 0} D_j` of
    /// `η² Σ_j λ_j² / (ρ − D_j) = 1` (decreasing and convex in `ρ`; safeguarded Newton), or
    /// `1` (a zero eigenvalue's `D_j`) when that is larger.
    pub fn spectral_radius(&self) -> f64 {
        let e = self.eta;
        let diag = self.diagonal();
        let mut dmax = f64::NEG_INFINITY;
        let mut zero_dir = false;
        let mut sum_sq = 0.0;
        for (&l, &dj) in self.lambda.iter().zip(&diag) {
            if l == 0.0 {
                zero_dir = true;
            } else {
                dmax = dmax.max(dj);
                sum_sq += (e * l) * (e * l);
            }
        }
        if dmax == f64::NEG_INFINITY {
            return 1.0;
        }
        // h(ρ) = Σ (ηλ_j)² / (ρ − D_j) − 1, decreasing on (dmax, ∞); h(dmax + Σ(ηλ)²) ≤ 0.
        let h = |rho: f64| -> (f64, f64) {
            let (mut v, mut dv) = (0.0, 0.0);
            for (&l, &dj) in self.lambda.iter().zip(&diag) {
                if l != 0.0 {
                    let g = rho - dj;
                    let el2 = (e * l) * (e * l);
                    v += el2 / g;
                    dv -= el2 / (g * g);
                }
            }
            (v - 1.0, dv)
        };
        let (mut lo, mut hi) = (dmax, dmax + sum_sq);
        let mut x = hi;
        for _ in 0..crate::threshold::MAX_ITERATIONS {
            let (v, dv) = h(x);
            if v == 0.0 {
                lo = x;
                hi = x;
                break;
            }
            if v > 0.0 {
                lo = lo.max(x);
            } else {
                hi = hi.min(x);
            }
            let next = x - v / dv;
            // From the left (h > 0) Newton rises monotonically to the root; stop when it stalls.
            if v > 0.0 && next <= x {
                break;
            }
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            x = if next > lo && next < hi { next } else { mid };
        }
        // max/min, not clamp: rounding can leave lo a hair above hi, where clamp panics.
        let rho = if lo == hi { lo } else { x.max(lo).min(hi) };
        if zero_dir {
            rho.max(1.0)
        } else {
            rho
        }
    }

    /// `E‖x_k‖²` for `k = 0..=steps` from a deterministic start whose coordinates in the
    /// eigenbasis are `x0`: the exact mean-square trajectory (`O(d)` per step).
    pub fn mean_square(&self, x0: &[f64], steps: usize) -> Result<Vec<f64>> {
        check_len("initial point", self.dim(), x0.len())?;
        crate::error::check_finite("initial point", x0)?;
        let mut s: Vec<f64> = x0.iter().map(|v| v * v).collect();
        let mut next = vec![0.0; s.len()];
        let mut out = Vec::with_capacity(steps + 1);
        out.push(s.iter().sum());
        for _ in 0..steps {
            self.apply(&s, &mut next)?;
            std::mem::swap(&mut s, &mut next);
            out.push(s.iter().sum());
        }
        Ok(out)
    }
}

/// ZO-GDM's second-moment recursion on `(a, b, c) = (E x_k², E x_k x_{k−1}, E x_{k−1}²)` per
/// eigendirection, with `p_i = 1 + β − ηλ_i` (the notes' "operator for a Rust check"):
///
/// ```text
///     a′ = p² a − 2βp b + β² c + η² (λ_i² a_i + Σ_j λ_j² a_j),   b′ = p a − β b,   c′ = a.
/// ```
///
/// The state is laid out `[a_1..a_d, b_1..b_d, c_1..c_d]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoGdmOperator {
    lambda: Vec<f64>,
    eta: f64,
    beta: f64,
}

impl ZoGdmOperator {
    /// The operator of ZO-GDM with step size `η > 0` and momentum `β ∈ [0, 1)`.
    pub fn new(s: &Spectrum, eta: f64, beta: f64) -> Result<Self> {
        check_eta(eta)?;
        check_param(
            "beta",
            beta,
            (0.0..1.0).contains(&beta),
            "momentum must lie in [0, 1)",
        )?;
        Ok(Self {
            lambda: s.eigenvalues().to_vec(),
            eta,
            beta,
        })
    }

    /// The dimension `d` of the iterate (the state has `3d` entries).
    pub fn dim(&self) -> usize {
        self.lambda.len()
    }

    /// One application, `O(d)`.
    pub fn apply(&self, state: &[f64], out: &mut [f64]) -> Result<()> {
        let d = self.dim();
        check_len("second-moment state (3d)", 3 * d, state.len())?;
        check_len("output (3d)", 3 * d, out.len())?;
        let (e, b) = (self.eta, self.beta);
        let (a, rest) = state.split_at(d);
        let (bb, c) = rest.split_at(d);
        let coupling: f64 = self
            .lambda
            .iter()
            .zip(a)
            .map(|(l, v)| (e * l) * (e * l) * v)
            .sum();
        let (oa, orest) = out.split_at_mut(d);
        let (ob, oc) = orest.split_at_mut(d);
        for i in 0..d {
            let l = self.lambda[i];
            let p = 1.0 + b - e * l;
            oa[i] =
                (p * p + (e * l) * (e * l)) * a[i] - 2.0 * b * p * bb[i] + b * b * c[i] + coupling;
            ob[i] = p * a[i] - b * bb[i];
            oc[i] = a[i];
        }
        Ok(())
    }

    /// The dense `3d × 3d` matrix of the recursion.
    pub fn to_dense(&self) -> DMatrix<f64> {
        let d = self.dim();
        let (e, b) = (self.eta, self.beta);
        let mut m = DMatrix::zeros(3 * d, 3 * d);
        for i in 0..d {
            let l = self.lambda[i];
            let p = 1.0 + b - e * l;
            for j in 0..d {
                m[(i, j)] = (e * self.lambda[j]).powi(2);
            }
            m[(i, i)] += p * p + (e * l) * (e * l);
            m[(i, d + i)] = -2.0 * b * p;
            m[(i, 2 * d + i)] = b * b;
            m[(d + i, i)] = p;
            m[(d + i, d + i)] = -b;
            m[(2 * d + i, i)] = 1.0;
        }
        m
    }

    /// The spectral radius, from the complex eigenvalues of the dense matrix (real Schur form,
    /// `O(d³)`); fails for `d >` [`MAX_DENSE_GDM_DIM`].
    pub fn spectral_radius(&self) -> Result<f64> {
        if self.dim() > MAX_DENSE_GDM_DIM {
            return Err(ZoError::Dimension {
                what: "ZO-GDM operator for the dense spectral radius (at most this many)",
                expected: MAX_DENSE_GDM_DIM,
                got: self.dim(),
            });
        }
        Ok(core_linalg::spectral_radius(&self.to_dense())?)
    }

    /// `E‖x_k‖²` for `k = 0..=steps`, starting at rest (`m_0 = 0`, i.e. `x_{−1} = x_0`) from
    /// eigenbasis coordinates `x0`.
    pub fn mean_square(&self, x0: &[f64], steps: usize) -> Result<Vec<f64>> {
        check_len("initial point", self.dim(), x0.len())?;
        crate::error::check_finite("initial point", x0)?;
        let d = self.dim();
        let sq: Vec<f64> = x0.iter().map(|v| v * v).collect();
        let mut s: Vec<f64> = sq.iter().chain(&sq).chain(&sq).copied().collect();
        let mut next = vec![0.0; 3 * d];
        let mut out = Vec::with_capacity(steps + 1);
        out.push(s[..d].iter().sum());
        for _ in 0..steps {
            self.apply(&s, &mut next)?;
            std::mem::swap(&mut s, &mut next);
            out.push(s[..d].iter().sum());
        }
        Ok(out)
    }
}
