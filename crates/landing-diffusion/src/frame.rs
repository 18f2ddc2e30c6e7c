//! The local geometry at a point: the active constraints, their Jacobian `J`, the Gram matrix
//! `G = JJᵀ + 10⁻⁶I`, the tangent projector `P = I − JᵀG⁻¹J`, the landing field `JᵀG⁻¹c̃` and
//! the Itô curvature term; and the Newton projection of the baseline.

use crate::error::{check_finite, check_point, LandingError, Result};
use crate::sets::ConstraintSet;
use nalgebra::{DMatrix, DVector};

/// The ridge added to `JJᵀ` (the authors' code uses 10⁻⁶): it keeps `G` invertible where
/// constraint gradients are nearly dependent, and costs a relative `10⁻⁶` of the pull.
pub const GRAM_RIDGE: f64 = 1e-6;

/// The geometry at one point `x`.
///
/// The active set is every equality and every inequality with `g_j(x) ≥ 0`. The residual is
/// `c̃ = [h(x); g_j(x) + ε for active j]`: landing drives `h` to 0 and an active `g_j` to `−ε`
/// (the boundary repulsion `ε ≥ 0`).
#[derive(Debug, Clone)]
pub struct Frame {
    dim: usize,
    active: Vec<usize>,
    h: Vec<f64>,
    g: Vec<f64>,
    j: DMatrix<f64>,
    residual: DVector<f64>,
    gram: Option<nalgebra::Cholesky<f64, nalgebra::Dyn>>,
}

impl Frame {
    /// Evaluates the constraints and the Jacobian at `x`.
    ///
    /// # Errors
    /// [`LandingError::Dimension`] for `x.len() ≠ D`; [`LandingError::NonFinite`] for a
    /// non-finite point, constraint value or Jacobian entry (the torus on its axis);
    /// [`LandingError::Parameter`] for a negative or non-finite repulsion.
    pub fn at<S: ConstraintSet + ?Sized>(set: &S, x: &[f64], repulsion: f64) -> Result<Self> {
        let (d, m, l) = (set.dim(), set.n_eq(), set.n_ineq());
        check_point("point", x, d)?;
        if !(repulsion.is_finite() && repulsion >= 0.0) {
            return Err(LandingError::Parameter {
                name: "boundary repulsion ε",
                value: repulsion,
                reason: "must be finite and ≥ 0",
            });
        }
        let (mut h, mut g) = (vec![0.0; m], vec![0.0; l]);
        set.constraints(x, &mut h, &mut g);
        check_finite("constraint value", &h)?;
        check_finite("constraint value", &g)?;
        let (mut jh, mut jg) = (vec![0.0; m * d], vec![0.0; l * d]);
        set.jacobian(x, &mut jh, &mut jg);
        check_finite("Jacobian", &jh)?;
        check_finite("Jacobian", &jg)?;
        let mut active: Vec<usize> = (0..m).collect();
        active.extend((0..l).filter(|&j| g[j] >= 0.0).map(|j| m + j));
        let rows = active.len();
        let mut jm = DMatrix::zeros(rows, d);
        let mut residual = DVector::zeros(rows);
        for (r, &k) in active.iter().enumerate() {
            let (src, value) = if k < m {
                (&jh[k * d..(k + 1) * d], h[k])
            } else {
                let j = k - m;
                (&jg[j * d..(j + 1) * d], g[j] + repulsion)
            };
            for c in 0..d {
                jm[(r, c)] = src[c];
            }
            residual[r] = value;
        }
        let gram = if rows == 0 {
            None
        } else {
            let mut gm = &jm * jm.transpose();
            for r in 0..rows {
                gm[(r, r)] += GRAM_RIDGE;
            }
            Some(gm.cholesky().ok_or(LandingError::NonFinite {
                what: "Gram matrix JJᵀ (not positive definite)",
                index: 0,
                value: f64::NAN,
            })?)
        };
        Ok(Self {
            dim: d,
            active,
            h,
            g,
            j: jm,
            residual,
            gram,
        })
    }

    /// The active constraints (equalities first, then active inequalities), indexed as in
    /// [`ConstraintSet`].
    pub fn active(&self) -> &[usize] {
        &self.active
    }
    /// `h(x)`.
    pub fn h(&self) -> &[f64] {
        &self.h
    }
    /// `g(x)`.
    pub fn g(&self) -> &[f64] {
        &self.g
    }
    /// `max_i |h_i(x)|` (0 without equalities).
    pub fn eq_violation(&self) -> f64 {
        self.h.iter().fold(0.0, |a, v| a.max(v.abs()))
    }
    /// `max_j relu(g_j(x))` (0 without inequalities).
    pub fn ineq_violation(&self) -> f64 {
        self.g.iter().fold(0.0, |a, v| a.max(v.max(0.0)))
    }

    /// `JᵀG⁻¹r` for `r` over the active constraints: the least-norm displacement whose
    /// linearised effect on the active constraints is `r`.
    ///
    /// # Errors
    /// [`LandingError::Dimension`] unless `r` has one value per active constraint.
    pub fn normal(&self, r: &[f64]) -> Result<Vec<f64>> {
        if r.len() != self.active.len() {
            return Err(LandingError::Dimension {
                what: "residual (one value per active constraint)",
                expected: self.active.len(),
                got: r.len(),
            });
        }
        Ok(self.normal_unchecked(r))
    }

    pub(crate) fn normal_unchecked(&self, r: &[f64]) -> Vec<f64> {
        match &self.gram {
            None => vec![0.0; self.dim],
            Some(ch) => {
                let y = ch.solve(&DVector::from_column_slice(r));
                (self.j.transpose() * y).as_slice().to_vec()
            }
        }
    }

    /// The landing direction `JᵀG⁻¹c̃`: a step `x − γ·JᵀG⁻¹c̃` changes the active constraints
    /// by `−γ·c̃` to first order.
    pub fn landing(&self) -> Vec<f64> {
        self.normal_unchecked(self.residual.as_slice())
    }

    /// Projects `v` onto the tangent space in place: `v ← v − JᵀG⁻¹Jv`.
    ///
    /// # Errors
    /// [`LandingError::Dimension`] unless `v.len() == D`.
    pub fn project(&self, v: &mut [f64]) -> Result<()> {
        if v.len() != self.dim {
            return Err(LandingError::Dimension {
                what: "vector to project",
                expected: self.dim,
                got: v.len(),
            });
        }
        self.project_unchecked(v);
        Ok(())
    }

    pub(crate) fn project_unchecked(&self, v: &mut [f64]) {
        if let Some(ch) = &self.gram {
            let jv = &self.j * DVector::from_column_slice(v);
            let y = ch.solve(&jv);
            let n = self.j.transpose() * y;
            v.iter_mut().zip(n.iter()).for_each(|(a, b)| *a -= b);
        }
    }

    /// The projector `P = I − JᵀG⁻¹J` as a `D × D` matrix (row-major).
    pub fn projector(&self) -> Vec<f64> {
        let d = self.dim;
        let mut p = vec![0.0; d * d];
        for i in 0..d {
            p[i * d + i] = 1.0;
        }
        if let Some(ch) = &self.gram {
            let ginv_j = ch.solve(&self.j);
            let n = self.j.transpose() * ginv_j;
            for i in 0..d {
                for c in 0..d {
                    p[i * d + c] -= n[(i, c)];
                }
            }
        }
        p
    }

    /// The curvature of each active constraint along the tangent space, `tr(P∇²c_k)`: a
    /// tangent increment with covariance `s²P` raises `c_k` by `½s²·tr(P∇²c_k)` on average
    /// (Itô), which is the bias that landing without a correction settles at.
    pub fn tangent_curvature<S: ConstraintSet + ?Sized>(&self, set: &S, x: &[f64]) -> Vec<f64> {
        let d = self.dim;
        let p = self.projector();
        let mut hess = vec![0.0; d * d];
        self.active
            .iter()
            .map(|&k| {
                set.hessian(x, k, &mut hess);
                // tr(P H) = Σ_ij P_ij H_ji.
                p.iter().zip(&hess).map(|(a, b)| a * b).sum::<f64>()
            })
            .collect()
    }

    /// The residual `c̃` over the active constraints.
    pub fn residual(&self) -> &[f64] {
        self.residual.as_slice()
    }
}

/// Settings of the Newton projection onto the set (the projection baseline, and the optional
/// terminal projection).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewtonProjection {
    /// The most Newton iterations before the projection counts as failed.
    pub max_iter: usize,
    /// Converged when every active residual satisfies `|c̃_k| ≤ tol`.
    pub tol: f64,
}

impl Default for NewtonProjection {
    /// 30 iterations, tolerance 10⁻¹⁰.
    fn default() -> Self {
        Self {
            max_iter: 30,
            tol: 1e-10,
        }
    }
}

impl NewtonProjection {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`LandingError::Parameter`] for no iterations or a tolerance that is not positive.
    pub fn check(&self) -> Result<()> {
        if self.max_iter == 0 || self.max_iter > 10_000 {
            return Err(LandingError::Parameter {
                name: "Newton iterations",
                value: self.max_iter as f64,
                reason: "must lie in 1..=10000",
            });
        }
        crate::error::check_positive("Newton tolerance", self.tol)
    }
}

/// What a projection did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Projection {
    /// Converged after this many iterations.
    Converged(usize),
    /// Did not reach the tolerance (or met a singular or non-finite system); the largest
    /// residual at the end.
    Failed(f64),
}

/// Projects `x` onto the set along the constraint normals at `anchor` (`x ← x − J(anchor)ᵀλ`,
/// Newton on `λ` so that `c̃(x) = 0` on the active set of `x`, grown by any inequality the
/// projection pushes past its bound), as RDDPM and the authors' baseline do. With `anchor = x` it is the usual Gauss–Newton projection. A failure leaves
/// `x` at the last iterate and says so; it is never hidden.
///
/// # Errors
/// [`LandingError::Dimension`] / [`LandingError::NonFinite`] for bad points, and as
/// [`NewtonProjection::check`].
pub fn newton_project<S: ConstraintSet + ?Sized>(
    set: &S,
    anchor: &[f64],
    x: &mut [f64],
    repulsion: f64,
    cfg: &NewtonProjection,
) -> Result<Projection> {
    cfg.check()?;
    let d = set.dim();
    check_point("anchor", anchor, d)?;
    check_point("point", x, d)?;
    let start = Frame::at(set, x, repulsion)?;
    Frame::at(set, anchor, repulsion)?;
    // The constraints to satisfy: the active set at the point to project, grown by any
    // inequality the projection itself pushes past its bound (then projected again from `x`).
    let mut active = start.active.clone();
    if active.is_empty() {
        return Ok(Projection::Converged(0));
    }
    let x0 = x.to_vec();
    let (m, l) = (set.n_eq(), set.n_ineq());
    let mut total = 0;
    for _pass in 0..=l {
        x.copy_from_slice(&x0);
        match newton_on(set, anchor, x, &active, repulsion, cfg) {
            Projection::Converged(it) => {
                total += it;
                let (mut hv, mut gv) = (vec![0.0; m], vec![0.0; l]);
                set.constraints(x, &mut hv, &mut gv);
                let newly: Vec<usize> = (0..l)
                    .filter(|&j| gv[j] > 0.0 && !active.contains(&(m + j)))
                    .map(|j| m + j)
                    .collect();
                if newly.is_empty() {
                    return Ok(Projection::Converged(total));
                }
                active.extend(newly);
            }
            failed => return Ok(failed),
        }
    }
    Ok(Projection::Failed(f64::INFINITY))
}

/// Newton on `λ` for `c̃_S(x̂ − J_S(anchor)ᵀλ) = 0` over the constraint set `S = active`.
fn newton_on<S: ConstraintSet + ?Sized>(
    set: &S,
    anchor: &[f64],
    x: &mut [f64],
    active: &[usize],
    repulsion: f64,
    cfg: &NewtonProjection,
) -> Projection {
    let d = set.dim();
    let (m, l) = (set.n_eq(), set.n_ineq());
    let (mut jh, mut jg) = (vec![0.0; m * d], vec![0.0; l * d]);
    set.jacobian(anchor, &mut jh, &mut jg);
    let row = |jh: &[f64], jg: &[f64], k: usize| -> Vec<f64> {
        if k < m {
            jh[k * d..(k + 1) * d].to_vec()
        } else {
            jg[(k - m) * d..(k - m + 1) * d].to_vec()
        }
    };
    let rows = active.len();
    let mut dirs = DMatrix::zeros(rows, d);
    for (r, &k) in active.iter().enumerate() {
        for (c, v) in row(&jh, &jg, k).into_iter().enumerate() {
            dirs[(r, c)] = v;
        }
    }
    let x0 = DVector::from_column_slice(x);
    let mut lambda = DVector::zeros(rows);
    let (mut hv, mut gv) = (vec![0.0; m], vec![0.0; l]);
    for it in 0..=cfg.max_iter {
        let xk = &x0 - dirs.transpose() * &lambda;
        set.constraints(xk.as_slice(), &mut hv, &mut gv);
        let r: DVector<f64> = DVector::from_iterator(
            rows,
            active
                .iter()
                .map(|&k| if k < m { hv[k] } else { gv[k - m] + repulsion }),
        );
        let worst = r.amax();
        if !worst.is_finite() || xk.iter().any(|v| !v.is_finite()) {
            return Projection::Failed(f64::INFINITY);
        }
        x.copy_from_slice(xk.as_slice());
        if worst <= cfg.tol {
            return Projection::Converged(it);
        }
        if it == cfg.max_iter {
            return Projection::Failed(worst);
        }
        set.jacobian(xk.as_slice(), &mut jh, &mut jg);
        let mut jk = DMatrix::zeros(rows, d);
        for (rr, &k) in active.iter().enumerate() {
            for (c, v) in row(&jh, &jg, k).into_iter().enumerate() {
                jk[(rr, c)] = v;
            }
        }
        if jk.iter().any(|v| !v.is_finite()) {
            return Projection::Failed(worst);
        }
        let mmat = &jk * dirs.transpose();
        match mmat.lu().solve(&r) {
            Some(delta) if delta.iter().all(|v| v.is_finite()) => lambda += delta,
            _ => return Projection::Failed(worst),
        }
    }
    Projection::Failed(f64::INFINITY)
}
