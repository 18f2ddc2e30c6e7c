//! Singular value decompositions: the full thin SVD (faer, one thread; nalgebra's as the
//! measured alternative) and a warm-started subspace iteration that tracks only the leading
//! `k` triplets.

use crate::error::{check_finite, check_matrix, Result, SalaadError};
use nalgebra::DMatrix;

/// A thin SVD `M ≈ U·diag(σ)·Vᵀ` with `σ` non-increasing: `U` is `m × k`, `Vᵀ` is `k × n`.
#[derive(Debug, Clone, PartialEq)]
pub struct Svd {
    /// Left singular vectors, `m × k`, orthonormal columns.
    pub u: DMatrix<f64>,
    /// Singular values, non-increasing, `k` of them.
    pub sigma: Vec<f64>,
    /// Right singular vectors transposed, `k × n`, orthonormal rows.
    pub vt: DMatrix<f64>,
}

impl Svd {
    /// The full thin SVD of `m` (`k = min(rows, cols)`), singular values sorted
    /// non-increasing: faer's divide-and-conquer SVD on one thread (parallelise across
    /// blocks instead), on the matrix scaled by its largest magnitude, so entries near the
    /// ends of the f64 range neither overflow nor underflow inside it.
    pub fn full(m: &DMatrix<f64>) -> Result<Self> {
        check_matrix("matrix to decompose", m)?;
        let (rows, cols) = m.shape();
        let k = rows.min(cols);
        let scale = m.amax();
        if scale == 0.0 {
            return Ok(Self::zero(rows, cols));
        }
        let scaled = m / scale;
        let a = faer::MatRef::from_column_major_slice(scaled.as_slice(), rows, cols);
        let mut s = faer::diag::Diag::<f64>::zeros(k);
        let mut u = faer::Mat::<f64>::zeros(rows, k);
        let mut v = faer::Mat::<f64>::zeros(cols, k);
        let par = faer::Par::Seq;
        let params: faer::Spec<faer::linalg::svd::SvdParams, f64> = Default::default();
        let mut buf = faer::dyn_stack::MemBuffer::new(faer::linalg::svd::svd_scratch::<f64>(
            rows,
            cols,
            faer::linalg::svd::ComputeSvdVectors::Thin,
            faer::linalg::svd::ComputeSvdVectors::Thin,
            par,
            params,
        ));
        let stack = faer::dyn_stack::MemStack::new(&mut buf);
        faer::linalg::svd::svd(
            a,
            s.as_mut(),
            Some(u.as_mut()),
            Some(v.as_mut()),
            par,
            stack,
            params,
        )
        .map_err(|_| SalaadError::NoConvergence {
            what: "SVD (faer)",
            iterations: 0,
            residual: f64::NAN,
        })?;
        let sv = s.column_vector();
        let sigma: Vec<f64> = (0..k).map(|i| sv[i] * scale).collect();
        check_finite("singular values", &sigma)?;
        let u = DMatrix::from_fn(rows, k, |r, c| u[(r, c)]);
        let vt = DMatrix::from_fn(k, cols, |r, c| v[(c, r)]);
        check_finite("singular vectors U", u.as_slice())?;
        check_finite("singular vectors Vᵀ", vt.as_slice())?;
        let out = Self { u, sigma, vt };
        debug_assert!(out.sigma.windows(2).all(|w| w[0] >= w[1]));
        Ok(out)
    }

    /// The same decomposition by nalgebra's Golub–Kahan iteration (capped at `1000·max(m, n)`
    /// sweeps), sorted non-increasing: the slower alternative the bench compares with.
    pub fn full_nalgebra(m: &DMatrix<f64>) -> Result<Self> {
        check_matrix("matrix to decompose", m)?;
        let (rows, cols) = m.shape();
        let scale = m.amax();
        if scale == 0.0 {
            return Ok(Self::zero(rows, cols));
        }
        let max_iter = 1000 * rows.max(cols);
        let svd = nalgebra::SVD::try_new(m / scale, true, true, f64::EPSILON * 5.0, max_iter)
            .ok_or(SalaadError::NoConvergence {
                what: "SVD (Golub–Kahan)",
                iterations: max_iter,
                residual: f64::NAN,
            })?;
        let (u, vt) = match (svd.u, svd.v_t) {
            (Some(u), Some(vt)) => (u, vt),
            _ => {
                return Err(SalaadError::NoConvergence {
                    what: "SVD (Golub–Kahan)",
                    iterations: 0,
                    residual: f64::NAN,
                })
            }
        };
        let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
        order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
        let sigma: Vec<f64> = order
            .iter()
            .map(|&i| svd.singular_values[i] * scale)
            .collect();
        check_finite("singular values", &sigma)?;
        let u = DMatrix::from_fn(u.nrows(), order.len(), |r, c| u[(r, order[c])]);
        let vt = DMatrix::from_fn(order.len(), vt.ncols(), |r, c| vt[(order[r], c)]);
        check_finite("singular vectors U", u.as_slice())?;
        check_finite("singular vectors Vᵀ", vt.as_slice())?;
        Ok(Self { u, sigma, vt })
    }

    /// The SVD of a zero matrix: identity vectors, zero values.
    fn zero(rows: usize, cols: usize) -> Self {
        let k = rows.min(cols);
        Self {
            u: DMatrix::identity(rows, k),
            sigma: vec![0.0; k],
            vt: DMatrix::identity(k, cols),
        }
    }

    /// The number of triplets held.
    pub fn len(&self) -> usize {
        self.sigma.len()
    }

    /// Whether no triplet is held.
    pub fn is_empty(&self) -> bool {
        self.sigma.is_empty()
    }

    /// `U·diag(w)·Vᵀ` over the first `w.len()` triplets (`w` replaces the singular values:
    /// thresholded, truncated).
    pub fn reconstruct_with(&self, w: &[f64]) -> DMatrix<f64> {
        let k = w.len().min(self.len());
        let mut us = self.u.columns(0, k).into_owned();
        for (c, &wc) in w.iter().take(k).enumerate() {
            us.column_mut(c).scale_mut(wc);
        }
        us * self.vt.rows(0, k)
    }

    /// `U_k·diag(σ_k)·V_kᵀ`, the best rank-`k` approximation (Eckart–Young). Plain
    /// arithmetic: singular values near `f64::MAX` can overflow in the product.
    pub fn truncate(&self, k: usize) -> DMatrix<f64> {
        self.reconstruct_with(&self.sigma[..k.min(self.len())])
    }
}

/// Warm-started subspace (orthogonal) iteration for the leading `k` singular triplets: each
/// call runs `iterations` rounds of `Q ← orth(Mᵀ·orth(M·Q))` from the previous call's `Q`,
/// then a small exact SVD of `Uᵀ·M` (`k × n`). Between ADMM updates the matrix changes
/// little, so one round per update tracks its leading subspace at `O(mnk)` instead of the
/// full SVD's `O(mn·min(m, n))`.
#[derive(Debug, Clone)]
pub struct SubspaceIteration {
    q: Option<DMatrix<f64>>,
    iterations: usize,
}

impl SubspaceIteration {
    /// A tracker running `iterations ≥ 1` rounds per call.
    pub fn new(iterations: usize) -> Result<Self> {
        if iterations == 0 {
            return Err(SalaadError::Parameter {
                name: "subspace iterations",
                value: 0.0,
                reason: "must be ≥ 1",
            });
        }
        Ok(Self {
            q: None,
            iterations,
        })
    }

    /// The leading `k` triplets of `m` (`1 ≤ k ≤ min(rows, cols)`), warm-started from the
    /// previous call's subspace (its first `k` directions, or all of them plus seeded Gaussian
    /// ones when `k` grew). The first call, or one with a different column count, starts from
    /// the leading right singular vectors of a full SVD, so the tracker begins exact.
    pub fn leading(&mut self, m: &DMatrix<f64>, k: usize) -> Result<Svd> {
        check_matrix("matrix to decompose", m)?;
        let (rows, cols) = m.shape();
        if k == 0 || k > rows.min(cols) {
            return Err(SalaadError::Parameter {
                name: "subspace rank k",
                value: k as f64,
                reason: "must lie in 1..=min(rows, cols)",
            });
        }
        let mut q = match self.q.take() {
            Some(q) if q.nrows() == cols && q.ncols() >= k => q.columns(0, k).into_owned(),
            Some(q) if q.nrows() == cols => {
                // Grow the tracked subspace by seeded Gaussian directions; the first round
                // orthonormalises them against the kept ones.
                let mut rng = core_linalg::seeded_rng(k as u64);
                let extra = DMatrix::from_fn(cols, k - q.ncols(), |_, _| {
                    rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, &mut rng)
                });
                let mut grown = DMatrix::zeros(cols, k);
                grown.columns_mut(0, q.ncols()).copy_from(&q);
                grown
                    .columns_mut(q.ncols(), k - q.ncols())
                    .copy_from(&extra);
                grown
            }
            _ => Svd::full(m)?.vt.rows(0, k).transpose(),
        };
        let mut u = orthonormal(&(m * &q));
        for _ in 0..self.iterations {
            q = orthonormal(&(m.transpose() * &u));
            u = orthonormal(&(m * &q));
        }
        let b = u.transpose() * m; // k × n
        let small = Svd::full(&b)?;
        let out = Svd {
            u: &u * &small.u,
            sigma: small.sigma,
            vt: small.vt,
        };
        self.q = Some(out.vt.transpose());
        Ok(out)
    }
}

/// An orthonormal basis of the columns of `a` (thin QR's `Q`).
fn orthonormal(a: &DMatrix<f64>) -> DMatrix<f64> {
    a.clone().qr().q()
}
