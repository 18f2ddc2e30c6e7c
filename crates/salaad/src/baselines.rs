//! The post-hoc baselines applied to trained weights: robust PCA by the inexact augmented
//! Lagrange multiplier method, and truncated SVD plus magnitude pruning of the residual.

use crate::budget::Decomposition;
use crate::error::{check_matrix, check_positive, Result, SalaadError};
use crate::prox::{soft_threshold, svt, top_magnitude};
use crate::svd::Svd;
use nalgebra::DMatrix;

/// Parameters of [`rpca_ialm`] (Lin, Chen and Ma 2010, Algorithm 5), with their defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RpcaParams {
    /// The sparsity weight `λ`; `None` uses `1/√max(m, n)`.
    pub lambda: Option<f64>,
    /// The growth factor of `μ` per iteration (the notes: 1.6).
    pub mu_growth: f64,
    /// Stop when `‖D − L − S‖_F / ‖D‖_F` falls below this (default 1e-7).
    pub tol: f64,
    /// Iteration cap (default 500).
    pub max_iter: usize,
}

impl Default for RpcaParams {
    fn default() -> Self {
        Self {
            lambda: None,
            mu_growth: 1.6,
            tol: 1e-7,
            max_iter: 500,
        }
    }
}

/// The outcome of [`rpca_ialm`].
#[derive(Debug, Clone)]
pub struct Rpca {
    /// `L` (triplets) and `S`.
    pub decomposition: Decomposition,
    /// Iterations run.
    pub iterations: usize,
    /// The final `‖D − L − S‖_F / ‖D‖_F`.
    pub residual: f64,
}

/// Robust PCA `min ‖L‖_* + λ‖S‖₁ s.t. L + S = D` by the inexact ALM: `Y₀ = D/J(D)` with
/// `J(D) = max(‖D‖₂, ‖D‖_∞/λ)`, `μ₀ = 1.25/‖D‖₂`, `μ ← min(μ·growth, 10⁷μ₀)`; each
/// iteration `L ← SVT(D − S + Y/μ, 1/μ)`, `S ← soft(D − L + Y/μ, λ/μ)`, `Y ← Y + μ(D − L −
/// S)`. A run that stops at `max_iter` above `tol` is an error, not a silent answer.
pub fn rpca_ialm(d: &DMatrix<f64>, params: &RpcaParams) -> Result<Rpca> {
    check_matrix("matrix to decompose", d)?;
    check_positive("tolerance", params.tol)?;
    if !(params.mu_growth.is_finite() && params.mu_growth > 1.0) {
        return Err(SalaadError::Parameter {
            name: "μ growth",
            value: params.mu_growth,
            reason: "must be finite and > 1",
        });
    }
    let (m, n) = d.shape();
    let lambda = params
        .lambda
        .unwrap_or_else(|| 1.0 / (m.max(n) as f64).sqrt());
    check_positive("λ", lambda)?;
    let norm_fro = d.norm();
    if norm_fro == 0.0 {
        let zero = DMatrix::zeros(m, n);
        return Ok(Rpca {
            decomposition: Decomposition::new(
                Svd {
                    u: DMatrix::zeros(m, 0),
                    sigma: Vec::new(),
                    vt: DMatrix::zeros(0, n),
                },
                zero,
            )?,
            iterations: 0,
            residual: 0.0,
        });
    }
    let norm_two = Svd::full(d)?.sigma[0];
    let norm_inf = d.amax() / lambda;
    let mut y = d / norm_two.max(norm_inf);
    let mut mu = 1.25 / norm_two;
    let mu_max = mu * 1e7;
    let mut s = DMatrix::zeros(m, n);
    let mut residual = f64::INFINITY;
    for it in 1..=params.max_iter {
        let th = svt(&(d - &s + &y / mu), 1.0 / mu)?;
        let tau = lambda / mu;
        s = (d - &th.l + &y / mu).map(|v| soft_threshold(v, tau));
        let z = d - &th.l - &s;
        residual = z.norm() / norm_fro;
        y += &z * mu;
        mu = (mu * params.mu_growth).min(mu_max);
        if residual < params.tol {
            return Ok(Rpca {
                decomposition: Decomposition::new(th.factors, s)?,
                iterations: it,
                residual,
            });
        }
    }
    Err(SalaadError::NoConvergence {
        what: "robust PCA (inexact ALM)",
        iterations: params.max_iter,
        residual,
    })
}

/// Truncated SVD plus magnitude pruning: `L` = the best rank-`rank` approximation of `w`
/// (Eckart–Young) and `S` = the `nnz` largest entries of `w − L`.
pub fn svd_prune(w: &DMatrix<f64>, rank: usize, nnz: usize) -> Result<Decomposition> {
    check_matrix("weight to compress", w)?;
    let svd = Svd::full(w)?;
    let r = rank.min(svd.len());
    let l = svd.truncate(r);
    let factors = Svd {
        u: svd.u.columns(0, r).into_owned(),
        sigma: svd.sigma[..r].to_vec(),
        vt: svd.vt.rows(0, r).into_owned(),
    };
    Decomposition::new(factors, top_magnitude(&(w - l), nnz))
}
