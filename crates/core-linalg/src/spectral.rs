use crate::rng::{standard_normal_vector, Rng};
use crate::LinalgError;
use nalgebra::DVector;
use rand::RngExt;

/// Settings of [`power_iteration`]. Defaults: 1000 iterations, relative tolerance `1e-12`.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerIterationParams {
    /// Maximum number of operator applications.
    pub max_iter: usize,
    /// Stop when the Rayleigh quotient changes by less than `tol · max(1, |λ|)`.
    pub tol: f64,
}

impl Default for PowerIterationParams {
    fn default() -> Self {
        Self {
            max_iter: 1000,
            tol: 1e-12,
        }
    }
}

/// The result of [`power_iteration`].
#[derive(Debug, Clone)]
pub struct PowerIterationResult {
    /// The eigenvalue of largest magnitude (Rayleigh quotient at the last iterate).
    pub eigenvalue: f64,
    /// A unit eigenvector estimate.
    pub eigenvector: DVector<f64>,
    /// Operator applications used.
    pub iterations: usize,
    /// Whether the tolerance was met before `max_iter`.
    pub converged: bool,
}

/// `‖v‖₂` without overflow or underflow in the squares: `max|v_i| · ‖v / max|v_i|‖₂` (+∞ only
/// when the norm itself exceeds `f64::MAX`; NaN for a NaN entry).
pub fn scaled_norm(v: &DVector<f64>) -> f64 {
    let m = v.amax();
    if m == 0.0 || !m.is_finite() {
        return m;
    }
    m * (v / m).norm()
}

/// Power iteration for the eigenvalue of largest magnitude of a symmetric linear operator
/// `x ↦ op(x)` on `R^dim` (a matrix, or a Hessian-vector product).
///
/// Starts from a Gaussian vector drawn from `rng`. For a non-symmetric operator the Rayleigh
/// quotient still converges when the top eigenvalue is real and simple.
pub fn power_iteration<F>(
    mut op: F,
    dim: usize,
    params: &PowerIterationParams,
    rng: &mut Rng,
) -> Result<PowerIterationResult, LinalgError>
where
    F: FnMut(&DVector<f64>) -> DVector<f64>,
{
    if dim == 0 {
        return Err(LinalgError::Empty {
            what: "operator dimension",
        });
    }
    if params.tol.is_nan() || params.tol <= 0.0 {
        return Err(LinalgError::Parameter {
            name: "tol",
            value: params.tol,
            reason: "must be positive",
        });
    }
    let mut x = standard_normal_vector(rng, dim);
    x /= x.norm();
    let mut lambda = 0.0;
    for it in 1..=params.max_iter {
        let y = op(&x);
        check_output(dim, &y)?;
        crate::check_finite("operator output", y.as_slice())?;
        let new_lambda = x.dot(&y);
        // Scaled, so that an operator like x ↦ 1e200·x does not overflow the sum of squares
        // (which used to turn the iterate into 0 and report eigenvalue 0, converged).
        let norm = scaled_norm(&y);
        if !norm.is_finite() || !new_lambda.is_finite() {
            return Err(LinalgError::NonFinite {
                what: "power iteration (|A x| beyond the f64 range)",
                index: 0,
                value: norm,
            });
        }
        if norm == 0.0 {
            // x is in the null space: the operator is zero on it; report 0.
            return Ok(PowerIterationResult {
                eigenvalue: 0.0,
                eigenvector: x,
                iterations: it,
                converged: true,
            });
        }
        let converged =
            it > 1 && (new_lambda - lambda).abs() <= params.tol * new_lambda.abs().max(1.0);
        lambda = new_lambda;
        x = y / norm;
        if converged {
            return Ok(PowerIterationResult {
                eigenvalue: lambda,
                eigenvector: x,
                iterations: it,
                converged: true,
            });
        }
    }
    Ok(PowerIterationResult {
        eigenvalue: lambda,
        eigenvector: x,
        iterations: params.max_iter,
        converged: false,
    })
}

/// A Monte-Carlo trace estimate with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceEstimate {
    /// Mean of the probe values `zᵀ A z`.
    pub mean: f64,
    /// Standard error of the mean (sample std / √samples; 0 for one sample).
    pub std_err: f64,
    /// Number of probes.
    pub samples: usize,
}

/// Hutchinson's estimator `tr(A) ≈ mean_k z_kᵀ A z_k` with Rademacher probes `z_k ∈ {±1}^dim`.
///
/// Unbiased for any square operator; its variance is `2 Σ_{i≠j} A_ij²`-ish per probe (zero for a
/// diagonal matrix).
pub fn hutchinson_trace<F>(
    mut op: F,
    dim: usize,
    samples: usize,
    rng: &mut Rng,
) -> Result<TraceEstimate, LinalgError>
where
    F: FnMut(&DVector<f64>) -> DVector<f64>,
{
    if dim == 0 {
        return Err(LinalgError::Empty {
            what: "operator dimension",
        });
    }
    if samples == 0 {
        return Err(LinalgError::Empty {
            what: "Hutchinson probes",
        });
    }
    let mut vals = Vec::with_capacity(samples);
    for _ in 0..samples {
        let z = rademacher(rng, dim);
        let az = op(&z);
        check_output(dim, &az)?;
        vals.push(z.dot(&az));
    }
    let n = samples as f64;
    let mean = vals.iter().sum::<f64>() / n;
    let std_err = if samples > 1 {
        (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt()
    } else {
        0.0
    };
    if !(mean.is_finite() && std_err.is_finite()) {
        return Err(LinalgError::NonFinite {
            what: "Hutchinson estimate (the probes' zᵀAz leave the f64 range)",
            index: 0,
            value: mean,
        });
    }
    Ok(TraceEstimate {
        mean,
        std_err,
        samples,
    })
}

/// Gauss quadrature of a symmetric operator's spectral density from stochastic Lanczos
/// quadrature ([`stochastic_lanczos_quadrature`]): `tr f(A) ≈ Σ_k w_k f(θ_k)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralQuadrature {
    /// The Ritz values `θ_k` of every probe.
    pub nodes: Vec<f64>,
    /// Their weights (non-negative, summing to the dimension).
    pub weights: Vec<f64>,
    /// Probes used.
    pub probes: usize,
    /// The largest Ritz value (a lower bound on `λ_max`, tight after a few dozen steps).
    pub lambda_max: f64,
}

impl SpectralQuadrature {
    /// `tr f(A) ≈ Σ_k w_k f(θ_k)`; e.g. `|x| x.max(0.0)` for the trace of the positive part.
    pub fn trace_of(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(&t, &w)| w * f(t))
            .sum()
    }
}

/// Stochastic Lanczos quadrature (Ubaru, Chen and Saad, 2017) for a symmetric operator
/// `x ↦ op(x)` on `R^dim`: for each of `probes` Rademacher vectors `z`, `steps` Lanczos steps
/// (full re-orthogonalisation, stopping early on an invariant subspace) give a tridiagonal
/// `T = Σ θ_k y_k y_kᵀ`, and `zᵀ f(A) z ≈ ‖z‖² Σ_k y_k[0]² f(θ_k)`.
///
/// With `f(x) = x` this is exactly Hutchinson's estimate on the same probes; with
/// `f(x) = max(x, 0)` it estimates the trace of the positive part, which Hutchinson cannot.
pub fn stochastic_lanczos_quadrature<F>(
    mut op: F,
    dim: usize,
    steps: usize,
    probes: usize,
    rng: &mut Rng,
) -> Result<SpectralQuadrature, LinalgError>
where
    F: FnMut(&DVector<f64>) -> DVector<f64>,
{
    if dim == 0 {
        return Err(LinalgError::Empty {
            what: "operator dimension",
        });
    }
    if steps == 0 || probes == 0 {
        return Err(LinalgError::Empty {
            what: "Lanczos steps or probes",
        });
    }
    let m = steps.min(dim);
    let (mut nodes, mut weights) = (Vec::new(), Vec::new());
    let mut lambda_max = f64::NEG_INFINITY;
    let scale = dim as f64 / probes as f64;
    for _ in 0..probes {
        let z = rademacher(rng, dim);
        let mut q: Vec<DVector<f64>> = vec![&z / z.norm()];
        let (mut alpha, mut beta) = (Vec::with_capacity(m), Vec::with_capacity(m));
        for j in 0..m {
            let mut w = op(&q[j]);
            check_output(dim, &w)?;
            crate::check_finite("operator output", w.as_slice())?;
            let a = q[j].dot(&w);
            alpha.push(a);
            let scale_w = scaled_norm(&w);
            // Full re-orthogonalisation, twice (Kahan's "twice is enough").
            for _ in 0..2 {
                for qi in &q {
                    let c = qi.dot(&w);
                    w.axpy(-c, qi, 1.0);
                }
            }
            let b = w.norm();
            if j + 1 == m || b <= 1e-10 * scale_w {
                break;
            }
            beta.push(b);
            q.push(w / b);
        }
        let k = alpha.len();
        let t = nalgebra::DMatrix::from_fn(k, k, |i, j| {
            if i == j {
                alpha[i]
            } else if i + 1 == j {
                beta[i]
            } else if j + 1 == i {
                beta[j]
            } else {
                0.0
            }
        });
        let eig = t.symmetric_eigen();
        for (idx, &theta) in eig.eigenvalues.iter().enumerate() {
            nodes.push(theta);
            weights.push(scale * eig.eigenvectors[(0, idx)].powi(2));
            lambda_max = lambda_max.max(theta);
        }
    }
    Ok(SpectralQuadrature {
        nodes,
        weights,
        probes,
        lambda_max,
    })
}

/// A vector of `dim` independent ±1 entries (Rademacher probes).
fn rademacher(rng: &mut Rng, dim: usize) -> DVector<f64> {
    DVector::from_fn(dim, |_, _| if rng.random::<bool>() { 1.0 } else { -1.0 })
}

/// Fails unless an operator's output has the operator's dimension.
fn check_output(dim: usize, y: &DVector<f64>) -> Result<(), LinalgError> {
    if y.len() == dim {
        Ok(())
    } else {
        Err(LinalgError::Shape {
            what: "operator output",
            expected: format!("{dim}"),
            got: format!("{}", y.len()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded_rng;
    use nalgebra::{DMatrix, SymmetricEigen};

    fn random_symmetric(n: usize, seed: u64) -> DMatrix<f64> {
        let mut rng = seeded_rng(seed);
        let g = DMatrix::from_fn(n, n, |_, _| rng.random::<f64>() - 0.5);
        &g + g.transpose()
    }

    #[test]
    fn huge_operators_do_not_overflow_to_a_zero_eigenvalue() {
        let mut rng = crate::seeded_rng(3);
        let r =
            power_iteration(|x| x * 1e200, 4, &PowerIterationParams::default(), &mut rng).unwrap();
        assert!(
            (r.eigenvalue / 1e200 - 1.0).abs() < 1e-12,
            "{}",
            r.eigenvalue
        );
        let r = power_iteration(|x| x * 1e300, 4, &PowerIterationParams::default(), &mut rng);
        assert!(r.is_ok_and(|r| (r.eigenvalue / 1e300 - 1.0).abs() < 1e-12));
        let v = DVector::from_vec(vec![1e200, 1e200]);
        assert!((scaled_norm(&v) / (1e200 * 2f64.sqrt()) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn power_iteration_matches_symmetric_eigen() {
        for seed in 0..5 {
            let a = random_symmetric(12, seed);
            let eig = SymmetricEigen::new(a.clone());
            let top =
                eig.eigenvalues
                    .iter()
                    .copied()
                    .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
            let mut rng = seeded_rng(100 + seed);
            let params = PowerIterationParams {
                max_iter: 100_000,
                tol: 1e-14,
            };
            let r = power_iteration(|x| &a * x, 12, &params, &mut rng).unwrap();
            assert!(r.converged);
            assert!(
                (r.eigenvalue - top).abs() < 1e-8 * top.abs().max(1.0),
                "{} vs {top}",
                r.eigenvalue
            );
            // It is an eigenvector: ||A v - λ v|| small.
            let resid = (&a * &r.eigenvector - &r.eigenvector * r.eigenvalue).norm();
            assert!(resid < 1e-4, "residual {resid}");
        }
    }

    #[test]
    fn power_iteration_errors() {
        let mut rng = seeded_rng(0);
        let p = PowerIterationParams::default();
        assert!(matches!(
            power_iteration(|x| x.clone(), 0, &p, &mut rng),
            Err(LinalgError::Empty { .. })
        ));
        assert!(matches!(
            power_iteration(|_| DVector::zeros(3), 2, &p, &mut rng),
            Err(LinalgError::Shape { .. })
        ));
        assert!(matches!(
            power_iteration(|x| x * f64::NAN, 2, &p, &mut rng),
            Err(LinalgError::NonFinite { .. })
        ));
    }

    #[test]
    fn hutchinson_is_exact_on_diagonal_and_unbiased_otherwise() {
        let d = DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, -2.0, 5.0]));
        let mut rng = seeded_rng(3);
        let t = hutchinson_trace(|x| &d * x, 3, 4, &mut rng).unwrap();
        assert_eq!(t.mean, 4.0);
        assert_eq!(t.std_err, 0.0);

        let a = random_symmetric(20, 9);
        let exact = a.trace();
        let t = hutchinson_trace(|x| &a * x, 20, 4000, &mut rng).unwrap();
        assert!(
            (t.mean - exact).abs() < 5.0 * t.std_err,
            "{} vs {exact} (se {})",
            t.mean,
            t.std_err
        );
        assert!(hutchinson_trace(|x| &a * x, 20, 0, &mut rng).is_err());
    }

    #[test]
    fn lanczos_quadrature_rejects_bad_operators_and_is_exact_on_a_diagonal() {
        let mut rng = crate::seeded_rng(4);
        let diag = DVector::from_vec(vec![2.0, -1.0, 0.5, 3.0]);
        let q =
            stochastic_lanczos_quadrature(|v| v.component_mul(&diag), 4, 4, 2, &mut rng).unwrap();
        // Rademacher probes weigh every coordinate of a diagonal matrix by 1: tr f(A) exactly.
        assert!((q.trace_of(|t| t) - 4.5).abs() < 1e-12);
        assert!((q.trace_of(|t| t.max(0.0)) - 5.5).abs() < 1e-12);
        assert!((q.lambda_max - 3.0).abs() < 1e-12);
        assert!((q.weights.iter().sum::<f64>() - 4.0).abs() < 1e-12);
        let bad = |v: &DVector<f64>| DVector::from_element(v.len() + 1, 1.0);
        assert!(stochastic_lanczos_quadrature(bad, 4, 4, 1, &mut rng).is_err());
        let nan = |v: &DVector<f64>| v.map(|_| f64::NAN);
        assert!(stochastic_lanczos_quadrature(nan, 4, 4, 1, &mut rng).is_err());
        assert!(stochastic_lanczos_quadrature(|v| v.clone(), 0, 4, 1, &mut rng).is_err());
        assert!(stochastic_lanczos_quadrature(|v| v.clone(), 4, 0, 1, &mut rng).is_err());
        assert!(stochastic_lanczos_quadrature(|v| v.clone(), 4, 4, 0, &mut rng).is_err());
    }
}
