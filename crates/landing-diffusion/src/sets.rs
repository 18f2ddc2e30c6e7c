//! Constraint sets `Σ = {x ∈ ℝᴰ : h(x) = 0, g(x) ≤ 0}` with their Jacobians and Hessians, the
//! built-in sets (sphere, torus, SO(n), a spherical cap) and a set from user closures.

use crate::error::{check_point, LandingError, Result};
use core_linalg::Rng;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

/// A feasible set `Σ = {x ∈ ℝᴰ : h(x) = 0 (m equalities), g(x) ≤ 0 (l inequalities)}`.
///
/// Constraints are indexed equalities first, then inequalities: constraint `k < m` is `h_k`,
/// constraint `m + j` is `g_j`. Jacobians are row-major (`m × D` and `l × D`). The methods may
/// assume `x.len() == dim()`; every public routine of the crate checks lengths and finiteness
/// before it calls them, and checks what they return.
pub trait ConstraintSet: Send + Sync {
    /// A short name for reports and errors.
    fn name(&self) -> String;
    /// The ambient dimension `D`.
    fn dim(&self) -> usize;
    /// The number of equalities `m`.
    fn n_eq(&self) -> usize;
    /// The number of inequalities `l` (0 by default).
    fn n_ineq(&self) -> usize {
        0
    }
    /// Writes `h(x)` into `h` (length `m`) and `g(x)` into `g` (length `l`).
    fn constraints(&self, x: &[f64], h: &mut [f64], g: &mut [f64]);
    /// Writes the Jacobians `∂h/∂x` (`m × D`) and `∂g/∂x` (`l × D`), row-major.
    fn jacobian(&self, x: &[f64], jh: &mut [f64], jg: &mut [f64]);
    /// Writes the Hessian of constraint `k` (`D × D`, row-major). The default takes central
    /// differences of [`ConstraintSet::jacobian`] with step `1e-5·max(1, |x|∞)` and symmetrises;
    /// the built-in sets override it with the closed form.
    fn hessian(&self, x: &[f64], k: usize, out: &mut [f64]) {
        fd_hessian(self, x, k, out);
    }
    /// Draws one point from the uniform (surface-measure) distribution on the set into `out`.
    /// The default says the set has none.
    fn sample_uniform(&self, rng: &mut Rng, out: &mut [f64]) -> Result<()> {
        let _ = (rng, out);
        Err(LandingError::NoUniformPrior { set: self.name() })
    }
}

fn fd_hessian<S: ConstraintSet + ?Sized>(set: &S, x: &[f64], k: usize, out: &mut [f64]) {
    let (d, m, l) = (set.dim(), set.n_eq(), set.n_ineq());
    let scale = x.iter().fold(1.0f64, |a, v| a.max(v.abs()));
    let step = 1e-5 * scale;
    let (mut jh, mut jg) = (vec![0.0; m * d], vec![0.0; l * d]);
    let mut xp = x.to_vec();
    let row = |jh: &[f64], jg: &[f64]| -> Vec<f64> {
        if k < m {
            jh[k * d..(k + 1) * d].to_vec()
        } else {
            jg[(k - m) * d..(k - m + 1) * d].to_vec()
        }
    };
    for i in 0..d {
        xp[i] = x[i] + step;
        set.jacobian(&xp, &mut jh, &mut jg);
        let plus = row(&jh, &jg);
        xp[i] = x[i] - step;
        set.jacobian(&xp, &mut jh, &mut jg);
        let minus = row(&jh, &jg);
        xp[i] = x[i];
        for j in 0..d {
            out[i * d + j] = (plus[j] - minus[j]) / (2.0 * step);
        }
    }
    for i in 0..d {
        for j in 0..i {
            let s = 0.5 * (out[i * d + j] + out[j * d + i]);
            out[i * d + j] = s;
            out[j * d + i] = s;
        }
    }
}

/// The largest disagreement between the set's Jacobian and central finite differences of its
/// constraints at `x`, relative to `max(1, |entry|)`; an error names the worst entry when it
/// exceeds `tol`.
///
/// # Errors
/// [`LandingError::Dimension`] / [`LandingError::NonFinite`] for a bad point or non-finite
/// constraint values, [`LandingError::Parameter`] for `tol ≤ 0`,
/// [`LandingError::JacobianMismatch`] when an entry is off by more than `tol`.
pub fn check_jacobian<S: ConstraintSet + ?Sized>(set: &S, x: &[f64], tol: f64) -> Result<f64> {
    let (d, m, l) = (set.dim(), set.n_eq(), set.n_ineq());
    check_point("point", x, d)?;
    crate::error::check_positive("tol", tol)?;
    let (mut jh, mut jg) = (vec![0.0; m * d], vec![0.0; l * d]);
    set.jacobian(x, &mut jh, &mut jg);
    crate::error::check_finite("Jacobian", &jh)?;
    crate::error::check_finite("Jacobian", &jg)?;
    let scale = x.iter().fold(1.0f64, |a, v| a.max(v.abs()));
    let step = 1e-6 * scale;
    let (mut hp, mut gp, mut hm, mut gm) = (vec![0.0; m], vec![0.0; l], vec![0.0; m], vec![0.0; l]);
    let mut xp = x.to_vec();
    let mut worst = 0.0f64;
    for i in 0..d {
        xp[i] = x[i] + step;
        set.constraints(&xp, &mut hp, &mut gp);
        xp[i] = x[i] - step;
        set.constraints(&xp, &mut hm, &mut gm);
        xp[i] = x[i];
        for k in 0..m + l {
            let (fd, an) = if k < m {
                ((hp[k] - hm[k]) / (2.0 * step), jh[k * d + i])
            } else {
                let j = k - m;
                ((gp[j] - gm[j]) / (2.0 * step), jg[j * d + i])
            };
            if !fd.is_finite() {
                return Err(LandingError::NonFinite {
                    what: "constraint value near the point",
                    index: k,
                    value: fd,
                });
            }
            let err = (fd - an).abs() / an.abs().max(1.0);
            if err > tol {
                return Err(LandingError::JacobianMismatch {
                    constraint: k,
                    coordinate: i,
                    analytic: an,
                    finite_difference: fd,
                });
            }
            worst = worst.max(err);
        }
    }
    Ok(worst)
}

fn normal_vec(rng: &mut Rng, out: &mut [f64]) {
    for v in out.iter_mut() {
        *v = StandardNormal.sample(rng);
    }
}

/// The unit sphere `S^{D−1} = {x : h(x) = (|x|² − 1)/2 = 0}` (the ½ makes `∇h = x` and
/// `∇²h = I`, so `tr(P∇²h) = D − 1` on the sphere).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sphere {
    dim: usize,
}

impl Sphere {
    /// The sphere in `ℝᴰ`, `D ≥ 2`.
    ///
    /// # Errors
    /// [`LandingError::Parameter`] for `D < 2`.
    pub fn new(dim: usize) -> Result<Self> {
        if dim < 2 {
            return Err(LandingError::Parameter {
                name: "sphere dimension",
                value: dim as f64,
                reason: "must be at least 2",
            });
        }
        Ok(Self { dim })
    }
}

impl ConstraintSet for Sphere {
    fn name(&self) -> String {
        format!("S^{}", self.dim - 1)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn n_eq(&self) -> usize {
        1
    }
    fn constraints(&self, x: &[f64], h: &mut [f64], _g: &mut [f64]) {
        h[0] = 0.5 * (core_linalg::sum_of_squares(x) - 1.0);
    }
    fn jacobian(&self, x: &[f64], jh: &mut [f64], _jg: &mut [f64]) {
        jh.copy_from_slice(x);
    }
    fn hessian(&self, _x: &[f64], _k: usize, out: &mut [f64]) {
        out.fill(0.0);
        for i in 0..self.dim {
            out[i * self.dim + i] = 1.0;
        }
    }
    fn sample_uniform(&self, rng: &mut Rng, out: &mut [f64]) -> Result<()> {
        loop {
            normal_vec(rng, out);
            let n = core_linalg::sum_of_squares(out).sqrt();
            if n > 1e-12 {
                out.iter_mut().for_each(|v| *v /= n);
                return Ok(());
            }
        }
    }
}

/// The torus of revolution in `ℝ³` with major radius `R` and minor radius `r < R`:
/// `h(x) = (√(x₁² + x₂²) − R)² + x₃² − r² = 0`. The Jacobian is singular on the axis
/// `x₁ = x₂ = 0`, where a computation reports a non-finite value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Torus {
    major: f64,
    minor: f64,
}

impl Torus {
    /// The torus with radii `0 < minor < major`.
    ///
    /// # Errors
    /// [`LandingError::Parameter`] otherwise.
    pub fn new(major: f64, minor: f64) -> Result<Self> {
        crate::error::check_positive("torus minor radius", minor)?;
        if !(major.is_finite() && major > minor) {
            return Err(LandingError::Parameter {
                name: "torus major radius",
                value: major,
                reason: "must be finite and larger than the minor radius",
            });
        }
        Ok(Self { major, minor })
    }
    /// The torus' angles `(φ, θ)` of a point near it: `φ` around the axis, `θ` around the tube,
    /// both in `(−π, π]`.
    pub fn angles(&self, x: [f64; 3]) -> (f64, f64) {
        let rho = x[0].hypot(x[1]);
        (x[1].atan2(x[0]), x[2].atan2(rho - self.major))
    }
    /// The point at angles `(φ, θ)`.
    pub fn point(&self, phi: f64, theta: f64) -> [f64; 3] {
        let rho = self.major + self.minor * theta.cos();
        [rho * phi.cos(), rho * phi.sin(), self.minor * theta.sin()]
    }
}

impl ConstraintSet for Torus {
    fn name(&self) -> String {
        format!("torus(R = {}, r = {})", self.major, self.minor)
    }
    fn dim(&self) -> usize {
        3
    }
    fn n_eq(&self) -> usize {
        1
    }
    fn constraints(&self, x: &[f64], h: &mut [f64], _g: &mut [f64]) {
        let rho = x[0].hypot(x[1]);
        h[0] = (rho - self.major).powi(2) + x[2] * x[2] - self.minor * self.minor;
    }
    fn jacobian(&self, x: &[f64], jh: &mut [f64], _jg: &mut [f64]) {
        let rho = x[0].hypot(x[1]);
        let f = 2.0 * (rho - self.major) / rho;
        jh[0] = f * x[0];
        jh[1] = f * x[1];
        jh[2] = 2.0 * x[2];
    }
    fn hessian(&self, x: &[f64], _k: usize, out: &mut [f64]) {
        let rho = x[0].hypot(x[1]);
        let c = 2.0 * self.major / rho.powi(3);
        out.fill(0.0);
        out[0] = 2.0 - c * x[1] * x[1];
        out[1] = c * x[0] * x[1];
        out[3] = out[1];
        out[4] = 2.0 - c * x[0] * x[0];
        out[8] = 2.0;
    }
    fn sample_uniform(&self, rng: &mut Rng, out: &mut [f64]) -> Result<()> {
        // Surface measure: φ uniform; θ with density ∝ R + r cos θ (rejection).
        let tau = std::f64::consts::TAU;
        loop {
            let theta = rng.random::<f64>() * tau;
            let accept = (self.major + self.minor * theta.cos()) / (self.major + self.minor);
            if rng.random::<f64>() < accept {
                let phi = rng.random::<f64>() * tau;
                out.copy_from_slice(&self.point(phi, theta));
                return Ok(());
            }
        }
    }
}

/// The rotation group `SO(n) = {X ∈ ℝ^{n×n} : XXᵀ = I, det X > 0}`, `X` stored row-major
/// (`D = n²`), with the `n(n+1)/2` equalities `h_ii = (|x_i|² − 1)/2` and `h_ij = x_i·x_j`
/// (`i < j`, rows `x_i`). The determinant's sign is not a constraint: paths are continuous
/// and start in `SO(n)`, so they stay in the component of the identity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpecialOrthogonal {
    n: usize,
}

impl SpecialOrthogonal {
    /// `SO(n)` for `n ≥ 2`.
    ///
    /// # Errors
    /// [`LandingError::Parameter`] for `n < 2`.
    pub fn new(n: usize) -> Result<Self> {
        if !(2..=64).contains(&n) {
            return Err(LandingError::Parameter {
                name: "SO(n) size",
                value: n as f64,
                reason: "must lie in 2..=64",
            });
        }
        Ok(Self { n })
    }
    /// The matrix size `n`.
    pub fn n(&self) -> usize {
        self.n
    }
    fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.n).flat_map(move |i| (i..self.n).map(move |j| (i, j)))
    }
}

impl ConstraintSet for SpecialOrthogonal {
    fn name(&self) -> String {
        format!("SO({})", self.n)
    }
    fn dim(&self) -> usize {
        self.n * self.n
    }
    fn n_eq(&self) -> usize {
        self.n * (self.n + 1) / 2
    }
    fn constraints(&self, x: &[f64], h: &mut [f64], _g: &mut [f64]) {
        let n = self.n;
        for (k, (i, j)) in self.pairs().enumerate() {
            let dot: f64 = (0..n).map(|c| x[i * n + c] * x[j * n + c]).sum();
            h[k] = if i == j { 0.5 * (dot - 1.0) } else { dot };
        }
    }
    fn jacobian(&self, x: &[f64], jh: &mut [f64], _jg: &mut [f64]) {
        let (n, d) = (self.n, self.n * self.n);
        jh.fill(0.0);
        for (k, (i, j)) in self.pairs().enumerate() {
            let row = &mut jh[k * d..(k + 1) * d];
            for c in 0..n {
                if i == j {
                    row[i * n + c] = x[i * n + c];
                } else {
                    row[i * n + c] = x[j * n + c];
                    row[j * n + c] = x[i * n + c];
                }
            }
        }
    }
    fn hessian(&self, _x: &[f64], k: usize, out: &mut [f64]) {
        let (n, d) = (self.n, self.n * self.n);
        out.fill(0.0);
        if let Some((i, j)) = self.pairs().nth(k) {
            for c in 0..n {
                if i == j {
                    out[(i * n + c) * d + i * n + c] = 1.0;
                } else {
                    out[(i * n + c) * d + j * n + c] = 1.0;
                    out[(j * n + c) * d + i * n + c] = 1.0;
                }
            }
        }
    }
    fn sample_uniform(&self, rng: &mut Rng, out: &mut [f64]) -> Result<()> {
        // Haar measure: QR of a Gaussian matrix with R's diagonal made positive, then one row
        // negated when det < 0.
        let n = self.n;
        loop {
            let mut z = vec![0.0; n * n];
            normal_vec(rng, &mut z);
            let m = nalgebra::DMatrix::from_row_slice(n, n, &z);
            let qr = m.qr();
            let (mut q, r) = (qr.q(), qr.r());
            if (0..n).any(|i| r[(i, i)].abs() < 1e-12) {
                continue;
            }
            for c in 0..n {
                if r[(c, c)] < 0.0 {
                    q.column_mut(c).neg_mut();
                }
            }
            if q.determinant() < 0.0 {
                q.row_mut(0).neg_mut();
            }
            for i in 0..n {
                for c in 0..n {
                    out[i * n + c] = q[(i, c)];
                }
            }
            return Ok(());
        }
    }
}

/// A sphere with a half-space: `S^{D−1} ∩ {x_D ≤ cap}` — one equality and one inequality
/// `g(x) = x_D − cap ≤ 0` (the notes' mixed set is `S² ∩ {z ≤ 0.5}`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SphereCap {
    sphere: Sphere,
    cap: f64,
}

impl SphereCap {
    /// `S^{D−1} ∩ {x_D ≤ cap}` with `cap ∈ (−1, 1]`.
    ///
    /// # Errors
    /// [`LandingError::Parameter`] for `D < 2` or `cap` outside `(−1, 1]`.
    pub fn new(dim: usize, cap: f64) -> Result<Self> {
        let sphere = Sphere::new(dim)?;
        if !(cap > -1.0 && cap <= 1.0) {
            return Err(LandingError::Parameter {
                name: "cap height",
                value: cap,
                reason: "must lie in (−1, 1]",
            });
        }
        Ok(Self { sphere, cap })
    }
    /// The cap height.
    pub fn cap(&self) -> f64 {
        self.cap
    }
}

impl ConstraintSet for SphereCap {
    fn name(&self) -> String {
        format!("{} ∩ {{x_D ≤ {}}}", self.sphere.name(), self.cap)
    }
    fn dim(&self) -> usize {
        self.sphere.dim
    }
    fn n_eq(&self) -> usize {
        1
    }
    fn n_ineq(&self) -> usize {
        1
    }
    fn constraints(&self, x: &[f64], h: &mut [f64], g: &mut [f64]) {
        self.sphere.constraints(x, h, g);
        g[0] = x[self.sphere.dim - 1] - self.cap;
    }
    fn jacobian(&self, x: &[f64], jh: &mut [f64], jg: &mut [f64]) {
        jh.copy_from_slice(x);
        jg.fill(0.0);
        jg[self.sphere.dim - 1] = 1.0;
    }
    fn hessian(&self, x: &[f64], k: usize, out: &mut [f64]) {
        if k == 0 {
            self.sphere.hessian(x, 0, out);
        } else {
            out.fill(0.0);
        }
    }
    fn sample_uniform(&self, rng: &mut Rng, out: &mut [f64]) -> Result<()> {
        loop {
            self.sphere.sample_uniform(rng, out)?;
            if out[self.sphere.dim - 1] <= self.cap {
                return Ok(());
            }
        }
    }
}

/// Constraint values `(x, h, g)` of a [`CustomSet`].
pub type ConstraintFn = Box<dyn Fn(&[f64], &mut [f64], &mut [f64]) + Send + Sync>;

/// A set given by closures: `constraints(x, h, g)` and `jacobian(x, jh, jg)` (row-major);
/// Hessians by finite differences of the Jacobian. No uniform prior: sampling starts from
/// points the caller passes. Check the Jacobian with [`CustomSet::verified_at`] or
/// [`check_jacobian`].
pub struct CustomSet {
    name: String,
    dim: usize,
    n_eq: usize,
    n_ineq: usize,
    constraints: ConstraintFn,
    jacobian: ConstraintFn,
}

impl std::fmt::Debug for CustomSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomSet")
            .field("name", &self.name)
            .field("dim", &self.dim)
            .field("n_eq", &self.n_eq)
            .field("n_ineq", &self.n_ineq)
            .finish()
    }
}

impl CustomSet {
    /// A set in `ℝ^dim` with `n_eq` equalities and `n_ineq` inequalities.
    ///
    /// # Errors
    /// [`LandingError::Parameter`] for `dim = 0`, no constraints at all, or as many equalities
    /// as dimensions (nothing left to sample).
    pub fn new(
        name: impl Into<String>,
        dim: usize,
        n_eq: usize,
        n_ineq: usize,
        constraints: impl Fn(&[f64], &mut [f64], &mut [f64]) + Send + Sync + 'static,
        jacobian: impl Fn(&[f64], &mut [f64], &mut [f64]) + Send + Sync + 'static,
    ) -> Result<Self> {
        if dim == 0 || n_eq + n_ineq == 0 || n_eq >= dim {
            return Err(LandingError::Parameter {
                name: "custom set shape",
                value: dim as f64,
                reason:
                    "needs dim ≥ 1, at least one constraint and fewer equalities than dimensions",
            });
        }
        Ok(Self {
            name: name.into(),
            dim,
            n_eq,
            n_ineq,
            constraints: Box::new(constraints),
            jacobian: Box::new(jacobian),
        })
    }

    /// Checks the Jacobian against central finite differences at each point (relative
    /// tolerance `tol`) and returns the set, or the first disagreement.
    ///
    /// # Errors
    /// As [`check_jacobian`].
    pub fn verified_at(self, points: &[Vec<f64>], tol: f64) -> Result<Self> {
        for p in points {
            check_jacobian(&self, p, tol)?;
        }
        Ok(self)
    }
}

impl ConstraintSet for CustomSet {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn n_eq(&self) -> usize {
        self.n_eq
    }
    fn n_ineq(&self) -> usize {
        self.n_ineq
    }
    fn constraints(&self, x: &[f64], h: &mut [f64], g: &mut [f64]) {
        (self.constraints)(x, h, g)
    }
    fn jacobian(&self, x: &[f64], jh: &mut [f64], jg: &mut [f64]) {
        (self.jacobian)(x, jh, jg)
    }
}
