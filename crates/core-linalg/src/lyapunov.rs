//! Discrete-time Lyapunov (Stein) equations, spectral radii and the transient bound
//! `‖A^k‖₂ ≤ c ρ^k` they certify.

use crate::LinalgError;
use nalgebra::DMatrix;

/// Doublings [`stein_solve`] tries before it gives up (each squares the power of `B`).
pub const MAX_DOUBLINGS: usize = 64;

/// Fails unless `a` is a non-empty square matrix of finite values.
fn check_square(what: &'static str, a: &DMatrix<f64>) -> Result<(), LinalgError> {
    if a.is_empty() {
        return Err(LinalgError::Empty { what });
    }
    if !a.is_square() {
        return Err(LinalgError::Shape {
            what,
            expected: "a square matrix".into(),
            got: format!("{} × {}", a.nrows(), a.ncols()),
        });
    }
    crate::check_finite(what, a.as_slice())
}

/// The spectral radius `max |λ_i(A)|` of a square matrix, from its complex eigenvalues
/// (nalgebra's real Schur form, at most [`schur_iterations`]`(n)` QR sweeps).
///
/// nalgebra's own `complex_eigenvalues` iterates without limit with a deflation tolerance of
/// one machine epsilon, at which it can stall forever on matrices with repeated eigenvalues (a
/// diagonal plus a rank-one matrix with 49 equal diagonal entries, for one). This caps the
/// sweeps and, when they run out, retries with the deflation tolerance relaxed to 8ε and then
/// 64ε (which moves the eigenvalues by at most that much relative to `‖A‖`); it fails with
/// [`LinalgError::NotConverged`] only when all three stall.
pub fn spectral_radius(a: &DMatrix<f64>) -> Result<f64, LinalgError> {
    check_square("matrix", a)?;
    let n = a.nrows();
    for tol in [1.0, 8.0, 64.0] {
        if let Some(schur) =
            nalgebra::linalg::Schur::try_new(a.clone(), tol * f64::EPSILON, schur_iterations(n))
        {
            return Ok(schur
                .complex_eigenvalues()
                .iter()
                .map(|z| z.norm())
                .fold(0.0, f64::max));
        }
    }
    Err(LinalgError::NotConverged {
        what: "real Schur decomposition",
        iterations: 3 * schur_iterations(n),
    })
}

/// The QR sweeps [`spectral_radius`] allows an `n × n` matrix: `100 n + 1000` (LAPACK's
/// `dhseqr` allows 30 per eigenvalue).
pub fn schur_iterations(n: usize) -> usize {
    100 * n + 1000
}

/// The spectral norm `‖A‖₂` (the largest singular value).
pub fn spectral_norm(a: &DMatrix<f64>) -> Result<f64, LinalgError> {
    if a.is_empty() {
        return Err(LinalgError::Empty { what: "matrix" });
    }
    crate::check_finite("matrix", a.as_slice())?;
    Ok(a.singular_values().iter().copied().fold(0.0, f64::max))
}

/// The solution `P = Σ_{k≥0} (Bᵀ)^k Q B^k` of the Stein equation `Bᵀ P B − P + Q = 0`, by the
/// doubling iteration (Smith's method): `P ← P + (B^{2^j})ᵀ P B^{2^j}`, `B^{2^{j+1}} = (B^{2^j})²`,
/// which converges quadratically when the spectral radius of `B` is below one. Stops when the
/// power of `B` has fallen below `1e-18` of one in norm (the remaining terms are below the
/// rounding of `P`), and fails with [`LinalgError::NotConverged`] after [`MAX_DOUBLINGS`]
/// doublings or when the iterates overflow (a spectral radius at or above one), and with
/// [`LinalgError::Parameter`] when `Q` is not symmetric.
pub fn stein_solve(b: &DMatrix<f64>, q: &DMatrix<f64>) -> Result<DMatrix<f64>, LinalgError> {
    check_square("B", b)?;
    check_square("Q", q)?;
    if q.nrows() != b.nrows() {
        return Err(LinalgError::Shape {
            what: "Q vs B",
            expected: format!("{0} × {0}", b.nrows()),
            got: format!("{} × {}", q.nrows(), q.ncols()),
        });
    }
    let asym = (q - q.transpose()).amax();
    if asym > 1e-12 * q.amax().max(f64::MIN_POSITIVE) {
        return Err(LinalgError::Parameter {
            name: "Q asymmetry",
            value: asym,
            reason: "Q must be symmetric",
        });
    }
    let mut p = q.clone();
    let mut power = b.clone();
    for _ in 0..MAX_DOUBLINGS {
        if power.amax() < 1e-18 {
            return Ok((&p + p.transpose()) * 0.5);
        }
        p += power.transpose() * &p * &power;
        power = &power * &power;
        if !p.iter().chain(power.iter()).all(|v| v.is_finite()) {
            break;
        }
    }
    Err(LinalgError::NotConverged {
        what: "Stein equation (doubling; spectral radius of B at or above 1?)",
        iterations: MAX_DOUBLINGS,
    })
}

/// A certified transient bound `‖A^k‖₂ ≤ c ρ^k` for every `k ≥ 0`.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerBound {
    /// The constant `c ≥ 1`.
    pub c: f64,
    /// The rate `ρ`, above the spectral radius.
    pub rho: f64,
    /// The spectral radius of `A`.
    pub spectral_radius: f64,
    /// The Lyapunov matrix `P` of `(A/ρ)ᵀ P (A/ρ) − P = −I`; `‖x‖_P = √(xᵀPx)` does not grow
    /// under `A/ρ`.
    pub p: DMatrix<f64>,
}

/// The bound `‖A^k‖₂ ≤ c ρ^k` at a chosen rate `ρ ∈ (r(A), 1)`: with `P` solving the Stein
/// equation of `B = A/ρ` with `Q = I`, `BᵀPB ⪯ P`, so `‖B^k x‖_P ≤ ‖x‖_P` and
/// `c = √(λ_max(P)/λ_min(P))` (the condition number of the norm change). A `ρ` closer to the
/// spectral radius gives a larger `c`. Errors when `ρ` is not in `(r(A), 1)` or `A` is not a
/// finite square matrix.
pub fn power_bound(a: &DMatrix<f64>, rho: f64) -> Result<PowerBound, LinalgError> {
    let r = spectral_radius(a)?;
    if !(rho > r && rho < 1.0) {
        return Err(LinalgError::Parameter {
            name: "rho",
            value: rho,
            reason: "the certified rate must lie strictly between the spectral radius and 1",
        });
    }
    let n = a.nrows();
    let p = stein_solve(&(a / rho), &DMatrix::identity(n, n))?;
    let eig = p.clone().symmetric_eigen().eigenvalues;
    let (lo, hi) = eig.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    if !(lo > 0.0 && hi.is_finite()) {
        return Err(LinalgError::NotConverged {
            what: "Stein equation (P not positive definite)",
            iterations: MAX_DOUBLINGS,
        });
    }
    Ok(PowerBound {
        c: (hi / lo).sqrt(),
        rho,
        spectral_radius: r,
        p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectral_radius_of_a_matrix_that_stalls_nalgebras_schur() {
        // D + 1 bᵀ with 49 equal diagonal entries stalls the unrelaxed Schur iteration. Its
        // eigenvalues: d (48 times) and d + Σ b (the rank-one direction), so ρ = d + Σ b.
        let (d, b) = (0.8, 0.004);
        let m = DMatrix::from_fn(50, 50, |i, j| b + if i == j { d } else { 0.0 });
        let r = spectral_radius(&m).unwrap();
        assert!((r - (d + 50.0 * b)).abs() < 1e-12, "{r}");
    }

    #[test]
    fn stein_solution_satisfies_its_equation() {
        let b = DMatrix::from_row_slice(3, 3, &[0.5, 0.9, 0.0, 0.0, 0.4, 0.7, 0.1, 0.0, -0.3]);
        let q = DMatrix::identity(3, 3);
        let p = stein_solve(&b, &q).unwrap();
        let resid = b.transpose() * &p * &b - &p + &q;
        assert!(resid.amax() < 1e-12, "{resid}");
    }

    #[test]
    fn a_diagonal_matrix_has_its_closed_form() {
        // B = diag(a, b): P = diag(1/(1−a²), 1/(1−b²)).
        let b = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![0.5, -0.9]));
        let p = stein_solve(&b, &DMatrix::identity(2, 2)).unwrap();
        assert!((p[(0, 0)] - 1.0 / 0.75).abs() < 1e-12);
        assert!((p[(1, 1)] - 1.0 / 0.19).abs() < 1e-10);
        assert!(p[(0, 1)].abs() < 1e-15);
    }

    #[test]
    fn unstable_matrices_and_bad_rates_are_errors() {
        let b = DMatrix::from_row_slice(2, 2, &[1.1, 0.0, 0.0, 0.2]);
        assert!(matches!(
            stein_solve(&b, &DMatrix::identity(2, 2)),
            Err(LinalgError::NotConverged { .. })
        ));
        let a = DMatrix::from_row_slice(2, 2, &[0.5, 1.0, 0.0, 0.5]);
        assert!(power_bound(&a, 0.4).is_err());
        assert!(power_bound(&a, 1.0).is_err());
        assert!(power_bound(&DMatrix::zeros(2, 3), 0.5).is_err());
    }

    #[test]
    fn the_power_bound_holds_on_every_power() {
        // A Jordan block: ‖A^k‖ grows before it decays, so c must exceed 1.
        let a = DMatrix::from_row_slice(2, 2, &[0.5, 1.0, 0.0, 0.5]);
        let pb = power_bound(&a, 0.7).unwrap();
        assert!((pb.spectral_radius - 0.5).abs() < 1e-12);
        assert!(pb.c > 1.0);
        let mut ak = DMatrix::identity(2, 2);
        for k in 0..200 {
            let norm = spectral_norm(&ak).unwrap();
            assert!(norm <= pb.c * pb.rho.powi(k) * (1.0 + 1e-9), "k={k}");
            ak = &ak * &a;
        }
    }
}
