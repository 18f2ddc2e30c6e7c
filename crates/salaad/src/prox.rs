//! The two proximal maps of the ADMM update and the rank and density read-outs.

use crate::error::{check_matrix, check_nonneg, Result};
use crate::svd::Svd;
use nalgebra::DMatrix;

/// `sign(x)·max(|x| − τ, 0)`, the proximal map of `τ|x|`.
#[inline]
pub fn soft_threshold(x: f64, tau: f64) -> f64 {
    if x > tau {
        x - tau
    } else if x < -tau {
        x + tau
    } else {
        0.0
    }
}

/// Elementwise [`soft_threshold`] of `m` by `τ ≥ 0`, and the number of non-zeros left: the
/// proximal map of `τ‖·‖₁`.
pub fn soft_threshold_matrix(m: &DMatrix<f64>, tau: f64) -> Result<(DMatrix<f64>, usize)> {
    check_matrix("matrix to soft-threshold", m)?;
    check_nonneg("soft threshold τ", tau)?;
    let out = m.map(|x| soft_threshold(x, tau));
    let nnz = out.iter().filter(|&&x| x != 0.0).count();
    Ok((out, nnz))
}

/// The result of singular value thresholding.
#[derive(Debug, Clone)]
pub struct Thresholded {
    /// `U·diag(max(σ − τ, 0))·Vᵀ`.
    pub l: DMatrix<f64>,
    /// The kept triplets with their shrunk singular values (only the non-zero ones), so the
    /// result can be truncated further without another SVD.
    pub factors: Svd,
}

/// Singular value thresholding by `τ ≥ 0`: the proximal map of `τ‖·‖_*` (nuclear norm),
/// computed from an SVD of `m` (full or tracked, see [`crate::svd`]).
pub fn svt_from(svd: Svd, tau: f64) -> Result<Thresholded> {
    check_nonneg("singular value threshold τ", tau)?;
    let kept = svd.sigma.iter().take_while(|&&s| s > tau).count();
    let shrunk: Vec<f64> = svd.sigma[..kept].iter().map(|s| s - tau).collect();
    let factors = Svd {
        u: svd.u.columns(0, kept).into_owned(),
        sigma: shrunk,
        vt: svd.vt.rows(0, kept).into_owned(),
    };
    let l = if kept == 0 {
        DMatrix::zeros(svd.u.nrows(), svd.vt.ncols())
    } else {
        factors.reconstruct_with(&factors.sigma)
    };
    Ok(Thresholded { l, factors })
}

/// [`svt_from`] with the full SVD of `m`.
pub fn svt(m: &DMatrix<f64>, tau: f64) -> Result<Thresholded> {
    svt_from(Svd::full(m)?, tau)
}

/// The effective rank: the smallest `k` with `Σ_{i≤k} σ_i² ≥ energy · Σ σ_i²` for
/// non-increasing `σ` (0 when every σ is 0). The paper's read-out uses `energy = 0.999`.
pub fn effective_rank(sigma: &[f64], energy: f64) -> usize {
    let total: f64 = sigma.iter().map(|s| s * s).sum();
    if total <= 0.0 {
        return 0;
    }
    let mut acc = 0.0;
    for (i, s) in sigma.iter().enumerate() {
        acc += s * s;
        if acc >= energy * total {
            return i + 1;
        }
    }
    sigma.len()
}

/// The `nnz` largest-magnitude entries of `m`, the rest zeroed (ties broken by position, so
/// the result is deterministic).
pub fn top_magnitude(m: &DMatrix<f64>, nnz: usize) -> DMatrix<f64> {
    let n = m.len();
    if nnz >= n {
        return m.clone();
    }
    let mut out = DMatrix::zeros(m.nrows(), m.ncols());
    if nnz == 0 {
        return out;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    let data = m.as_slice();
    // Larger magnitude first, then lower index.
    idx.select_nth_unstable_by(nnz - 1, |&a, &b| {
        data[b].abs().total_cmp(&data[a].abs()).then(a.cmp(&b))
    });
    for &i in &idx[..nnz] {
        out.as_mut_slice()[i] = data[i];
    }
    out
}
