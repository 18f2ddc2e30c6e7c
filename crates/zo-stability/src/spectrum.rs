//! Hessian spectra: validated eigenvalues, from a list or a symmetric matrix.

use crate::error::{check_finite, Result, ZoError};
use nalgebra::DMatrix;

/// What to do with negative eigenvalues.
///
/// The three theorems assume `H ⪰ 0`: along a direction of negative curvature the *mean* of any
/// of these methods already grows, at every step size, so no threshold exists. Near a minimum
/// of a network the Hessian is often slightly indefinite, and the edge-of-stability literature
/// then uses the positive part `H₊` (the notes: "use the positive-part trace"). That is an
/// approximation, and [`Spectrum::negative_mass`] reports what was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Curvature {
    /// A negative eigenvalue is an error ([`ZoError::Indefinite`]).
    #[default]
    Strict,
    /// Negative eigenvalues are replaced by 0 (the positive part `H₊`), and their sum kept in
    /// [`Spectrum::negative_mass`].
    PositivePart,
}

/// The eigenvalues of a positive semi-definite Hessian (after [`Curvature`]'s rule), with the
/// sums the thresholds need.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    eigenvalues: Vec<f64>,
    negative_mass: f64,
}

impl Spectrum {
    /// A spectrum from its eigenvalues (any order). Fails on an empty list, a NaN or ±∞, and —
    /// under [`Curvature::Strict`] — a negative eigenvalue.
    pub fn new(eigenvalues: &[f64], curvature: Curvature) -> Result<Self> {
        check_finite("spectrum", eigenvalues)?;
        let mut negative_mass = 0.0;
        let mut out = Vec::with_capacity(eigenvalues.len());
        for (index, &l) in eigenvalues.iter().enumerate() {
            if l < 0.0 {
                match curvature {
                    Curvature::Strict => return Err(ZoError::Indefinite { index, value: l }),
                    Curvature::PositivePart => {
                        negative_mass += l;
                        out.push(0.0);
                        continue;
                    }
                }
            }
            // −0.0 becomes +0.0, so that every later sign test is plain.
            out.push(l + 0.0);
        }
        Ok(Self {
            eigenvalues: out,
            negative_mass,
        })
    }

    /// The spectrum of a symmetric matrix (nalgebra's symmetric eigen-decomposition).
    ///
    /// The matrix must be square, finite and symmetric to `1e-12 · max|A_ij|`. Eigenvalues
    /// within the decomposition's rounding of zero (`|λ| ≤ 64 ε d max|A_ij|`) are taken as 0
    /// under [`Curvature::Strict`], so that a positive semi-definite matrix is never rejected
    /// for a `−1e-17`.
    pub fn from_symmetric(a: &DMatrix<f64>, curvature: Curvature) -> Result<Self> {
        if a.is_empty() {
            return Err(ZoError::Empty { what: "matrix" });
        }
        if !a.is_square() {
            return Err(ZoError::Dimension {
                what: "columns of a square matrix",
                expected: a.nrows(),
                got: a.ncols(),
            });
        }
        check_finite("matrix", a.as_slice())?;
        let scale = a.amax();
        let n = a.nrows();
        let (mut worst, mut at) = (0.0, (0, 0));
        for i in 0..n {
            for j in 0..i {
                let gap = (a[(i, j)] - a[(j, i)]).abs();
                if gap > worst {
                    worst = gap;
                    at = (i, j);
                }
            }
        }
        if worst > 1e-12 * scale {
            return Err(ZoError::NotSymmetric {
                row: at.0,
                col: at.1,
                gap: worst,
            });
        }
        let sym = (a + a.transpose()) * 0.5;
        let tiny = 64.0 * f64::EPSILON * n as f64 * scale;
        let eigs: Vec<f64> = sym
            .symmetric_eigenvalues()
            .iter()
            .map(|&l| if l.abs() <= tiny { 0.0 } else { l })
            .collect();
        Self::new(&eigs, curvature)
    }

    /// The eigenvalues (non-negative), in the order given.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.eigenvalues.len()
    }

    /// `λ_max`.
    pub fn lambda_max(&self) -> f64 {
        self.eigenvalues.iter().copied().fold(0.0, f64::max)
    }

    /// `tr H = Σ λ_i` (compensated sum).
    pub fn trace(&self) -> f64 {
        neumaier_sum(self.eigenvalues.iter().copied())
    }

    /// The sum of the negative eigenvalues that [`Curvature::PositivePart`] dropped (≤ 0; 0
    /// under [`Curvature::Strict`]).
    pub fn negative_mass(&self) -> f64 {
        self.negative_mass
    }

    /// The spectrum scaled by `s > 0` (the eigenvalues of `sH`).
    pub fn scaled(&self, s: f64) -> Result<Self> {
        crate::error::check_param("scale", s, s > 0.0, "must be positive")?;
        let eigs: Vec<f64> = self.eigenvalues.iter().map(|l| l * s).collect();
        check_finite("scaled spectrum", &eigs)?;
        Ok(Self {
            eigenvalues: eigs,
            negative_mass: self.negative_mass * s,
        })
    }

    /// The spectrum of `P⁻¹H` for a diagonal preconditioner `P = diag(p)` that commutes with `H`
    /// (both diagonal in the same basis, Theorem 3's assumption): `λ̃_i = λ_i / p_i`, with
    /// `p_i > 0` in the order of the eigenvalues.
    pub fn preconditioned(&self, p: &[f64]) -> Result<Self> {
        check_preconditioner(p, self.dim())?;
        let eigs: Vec<f64> = self.eigenvalues.iter().zip(p).map(|(l, q)| l / q).collect();
        check_finite("preconditioned spectrum", &eigs)?;
        Ok(Self {
            eigenvalues: eigs,
            negative_mass: self.negative_mass,
        })
    }
}

/// Fails unless `p` is a positive, finite diagonal of length `dim`.
pub(crate) fn check_preconditioner(p: &[f64], dim: usize) -> Result<()> {
    if p.len() != dim {
        return Err(ZoError::Dimension {
            what: "preconditioner diagonal",
            expected: dim,
            got: p.len(),
        });
    }
    check_finite("preconditioner diagonal", p)?;
    if let Some(i) = p.iter().position(|&v| v <= 0.0) {
        return Err(ZoError::Parameter {
            name: "p_i",
            value: p[i],
            reason: "a preconditioner's diagonal must be positive",
        });
    }
    Ok(())
}

/// Neumaier's compensated sum: the error does not grow with the number of terms.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Compensated {
    sum: f64,
    carry: f64,
}

impl Compensated {
    /// Adds `x`.
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.carry += (self.sum - t) + x;
        } else {
            self.carry += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The sum so far.
    pub(crate) fn value(&self) -> f64 {
        self.sum + self.carry
    }
}

/// The compensated sum of `xs` ([`Compensated`]).
pub(crate) fn neumaier_sum(xs: impl Iterator<Item = f64>) -> f64 {
    let mut c = Compensated::default();
    xs.for_each(|x| c.add(x));
    c.value()
}
