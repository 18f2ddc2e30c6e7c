//! Strongly convex, smooth objectives (quadratics with a chosen spectrum; ℓ2-regularised
//! logistic regression on real data) and gradient descent on them as a [`Step`].

use crate::error::{check_finite, check_positive, BoundsError, Result};
use crate::iteration::Step;
use crate::rate::Rate;
use nalgebra::{DMatrix, DVector};

/// A `μ`-strongly convex, `L`-smooth, twice-differentiable objective.
pub trait Objective {
    /// The dimension of the parameter.
    fn dim(&self) -> usize;
    /// `F(x)`.
    fn value(&self, x: &DVector<f64>) -> f64;
    /// Writes `∇F(x)` into `out`.
    fn gradient(&self, x: &DVector<f64>, out: &mut DVector<f64>);
    /// The strong-convexity constant `μ` (the smallest Hessian eigenvalue, or a lower bound).
    fn strong_convexity(&self) -> f64;
    /// The smoothness constant `L` (the largest Hessian eigenvalue, or an upper bound).
    fn smoothness(&self) -> f64;
}

/// `F(x) = ½ (x − x*)ᵀ A (x − x*)` with `A` symmetric positive definite (a diagonal `A` is
/// recognised, and its gradient costs `O(n)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Quadratic {
    a: DMatrix<f64>,
    x_star: DVector<f64>,
    eigenvalues: DVector<f64>,
    eigenvectors: DMatrix<f64>,
    /// `A`'s diagonal when every other entry is zero: the gradient is then elementwise, `O(n)`.
    diagonal: Option<DVector<f64>>,
}

impl Quadratic {
    /// From a symmetric positive-definite `A` and the minimiser `x*`. Errors on a non-square,
    /// non-symmetric (beyond `1e-12` relative), non-finite or not positive-definite `A`, and
    /// on a minimiser of another dimension.
    pub fn new(a: DMatrix<f64>, x_star: DVector<f64>) -> Result<Self> {
        if a.is_empty() {
            return Err(BoundsError::Empty { what: "Hessian" });
        }
        if !a.is_square() || x_star.len() != a.nrows() {
            return Err(BoundsError::Dimension {
                what: "Hessian columns and minimiser vs Hessian rows",
                expected: a.nrows(),
                got: if a.is_square() {
                    x_star.len()
                } else {
                    a.ncols()
                },
            });
        }
        check_finite("Hessian", a.as_slice())?;
        check_finite("minimiser", x_star.as_slice())?;
        let asym = (&a - a.transpose()).amax();
        if asym > 1e-12 * a.amax() {
            return Err(BoundsError::Parameter {
                name: "Hessian asymmetry",
                value: asym,
                reason: "the Hessian must be symmetric",
            });
        }
        let eig = a.clone().symmetric_eigen();
        let mu = eig.eigenvalues.min();
        if mu <= 0.0 {
            return Err(BoundsError::Parameter {
                name: "smallest Hessian eigenvalue",
                value: mu,
                reason: "the Hessian must be positive definite",
            });
        }
        let n = a.nrows();
        let is_diagonal = (0..n).all(|i| (0..n).all(|j| i == j || a[(i, j)] == 0.0));
        Ok(Self {
            diagonal: is_diagonal.then(|| a.diagonal()),
            a,
            x_star,
            eigenvalues: eig.eigenvalues,
            eigenvectors: eig.eigenvectors,
        })
    }

    /// `A = Q diag(λ) Qᵀ` with `Q` a random rotation (the Q factor of a Gaussian matrix, drawn
    /// from `seed`) and the minimiser `x*`. Errors on a non-positive or non-finite eigenvalue.
    pub fn with_spectrum(eigenvalues: &[f64], x_star: DVector<f64>, seed: u64) -> Result<Self> {
        if eigenvalues.is_empty() {
            return Err(BoundsError::Empty { what: "spectrum" });
        }
        for &l in eigenvalues {
            check_positive("eigenvalue", l)?;
        }
        let n = eigenvalues.len();
        let mut rng = core_linalg::seeded_rng(seed);
        let g = DMatrix::from_fn(n, n, |_, _| {
            rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, &mut rng)
        });
        let q = g.qr().q();
        let a =
            &q * DMatrix::from_diagonal(&DVector::from_column_slice(eigenvalues)) * q.transpose();
        let a = (&a + a.transpose()) * 0.5;
        Self::new(a, x_star)
    }

    /// The Hessian `A`.
    pub fn hessian(&self) -> &DMatrix<f64> {
        &self.a
    }

    /// The minimiser `x*`.
    pub fn minimizer(&self) -> &DVector<f64> {
        &self.x_star
    }

    /// A unit eigenvector of the smallest eigenvalue `μ`: the direction gradient descent
    /// contracts slowest (at `ρ = 1 − ημ` for `η ≤ 2/(L + μ)`).
    pub fn weakest_direction(&self) -> DVector<f64> {
        let i = self.eigenvalues.argmin().0;
        self.eigenvectors.column(i).into_owned()
    }
}

impl Objective for Quadratic {
    fn dim(&self) -> usize {
        self.x_star.len()
    }
    fn value(&self, x: &DVector<f64>) -> f64 {
        let e = x - &self.x_star;
        0.5 * e.dot(&(&self.a * &e))
    }
    fn gradient(&self, x: &DVector<f64>, out: &mut DVector<f64>) {
        match &self.diagonal {
            // The same products as the matrix route (the zeros add nothing), in O(n).
            Some(diag) => {
                let (x, s, a) = (x.as_slice(), self.x_star.as_slice(), diag.as_slice());
                for (((o, x), s), a) in out.as_mut_slice().iter_mut().zip(x).zip(s).zip(a) {
                    *o = a * (x - s);
                }
            }
            None => out.copy_from(&(&self.a * (x - &self.x_star))),
        }
    }
    fn strong_convexity(&self) -> f64 {
        self.eigenvalues.min()
    }
    fn smoothness(&self) -> f64 {
        self.eigenvalues.max()
    }
}

/// ℓ2-regularised logistic regression, `F(w) = (1/n) Σ_i log(1 + exp(−y_i wᵀx_i)) + (λ/2)‖w‖²`
/// with labels `y_i ∈ {−1, +1}`: `μ = λ`, `L = λ + λ_max(XᵀX) / (4n)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    x: DMatrix<f64>,
    y: Vec<f64>,
    lambda: f64,
    l: f64,
    /// `‖x_i‖²` of every sample.
    row_norms_sq: Vec<f64>,
}

impl LogisticRegression {
    /// From the rows of `x` (samples × features), labels in `{−1, +1}` and `λ > 0`. Errors on
    /// empty or non-finite data, labels of another length or value.
    pub fn new(x: DMatrix<f64>, y: Vec<f64>, lambda: f64) -> Result<Self> {
        if x.is_empty() {
            return Err(BoundsError::Empty { what: "data" });
        }
        if y.len() != x.nrows() {
            return Err(BoundsError::Dimension {
                what: "labels vs samples",
                expected: x.nrows(),
                got: y.len(),
            });
        }
        check_finite("data", x.as_slice())?;
        if let Some(i) = y.iter().position(|&v| v != 1.0 && v != -1.0) {
            return Err(BoundsError::Parameter {
                name: "label",
                value: y[i],
                reason: "labels must be −1 or +1",
            });
        }
        check_positive("lambda", lambda)?;
        let gram = x.transpose() * &x;
        let top = gram.symmetric_eigen().eigenvalues.max();
        let l = lambda + top / (4.0 * x.nrows() as f64);
        let row_norms_sq = x.row_iter().map(|r| r.norm_squared()).collect();
        Ok(Self {
            x,
            y,
            lambda,
            l,
            row_norms_sq,
        })
    }

    /// A binary classification data set of `core-data` (standardised with its own mean and
    /// standard deviation; class 1 is `+1`), e.g. [`core_data::data::Dataset::breast_cancer`].
    pub fn from_dataset(data: &core_data::data::Dataset, lambda: f64) -> Result<Self> {
        if data.n_classes != 2 {
            return Err(BoundsError::Parameter {
                name: "classes",
                value: data.n_classes as f64,
                reason: "logistic regression here is binary",
            });
        }
        let std = core_data::data::Standardiser::fit(data).apply(data)?;
        let x = DMatrix::from_row_slice(std.len(), std.d, &std.x);
        let y = std
            .y
            .iter()
            .map(|&c| if c == 1 { 1.0 } else { -1.0 })
            .collect();
        Self::new(x, y, lambda)
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no samples (never, for a constructed value).
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The regularisation `λ`.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// The same problem with sample `i` replaced by `(row, label)`: the neighbouring data set
    /// of algorithmic stability. Errors as [`Self::new`] and on `i` out of range.
    pub fn with_sample_replaced(&self, i: usize, row: &[f64], label: f64) -> Result<Self> {
        if i >= self.len() {
            return Err(BoundsError::Dimension {
                what: "sample index (must be below the sample count)",
                expected: self.len(),
                got: i,
            });
        }
        if row.len() != self.x.ncols() {
            return Err(BoundsError::Dimension {
                what: "replacement row",
                expected: self.x.ncols(),
                got: row.len(),
            });
        }
        let mut x = self.x.clone();
        x.row_mut(i).copy_from_slice(row);
        let mut y = self.y.clone();
        y[i] = label;
        Self::new(x, y, self.lambda)
    }

    /// The first `n` samples as a problem of their own (`1 ≤ n ≤ len`).
    pub fn head(&self, n: usize) -> Result<Self> {
        if n == 0 || n > self.len() {
            return Err(BoundsError::Dimension {
                what: "subset size (1 to the sample count)",
                expected: self.len(),
                got: n,
            });
        }
        Self::new(
            self.x.rows(0, n).into_owned(),
            self.y[..n].to_vec(),
            self.lambda,
        )
    }

    /// Sample `i`'s row and label.
    pub fn sample(&self, i: usize) -> (Vec<f64>, f64) {
        (self.x.row(i).iter().copied().collect(), self.y[i])
    }

    /// The gradient of sample `i`'s regularised loss `log(1 + exp(−y_i wᵀx_i)) + (λ/2)‖w‖²`.
    pub fn sample_gradient(&self, i: usize, w: &DVector<f64>, out: &mut DVector<f64>) {
        let xi = self.x.row(i).transpose();
        let m = self.y[i] * xi.dot(w);
        let s = sigmoid(-m);
        out.copy_from(&(xi * (-self.y[i] * s) + w * self.lambda));
    }

    /// The largest per-sample gradient norm at `w` (`G` along a path is the largest over its
    /// points), in `O(nd)` without a gradient per sample: with `m_i = wᵀx_i` and
    /// `s_i = σ(−y_i m_i)`, `‖∇ℓ_i‖² = s_i²‖x_i‖² − 2λ y_i s_i m_i + λ²‖w‖²`.
    pub fn max_sample_gradient_norm(&self, w: &DVector<f64>) -> f64 {
        let margins = &self.x * w;
        let ww = self.lambda * self.lambda * w.norm_squared();
        margins
            .iter()
            .zip(&self.y)
            .zip(&self.row_norms_sq)
            .map(|((&m, &y), &xx)| {
                let s = sigmoid(-y * m);
                (s * s * xx - 2.0 * self.lambda * y * s * m + ww)
                    .max(0.0)
                    .sqrt()
            })
            .fold(0.0, f64::max)
    }

    /// The minimiser, by Newton's method from zero (the objective is strongly convex and
    /// smooth, with a Lipschitz Hessian): stops when `‖∇F‖ ≤ 1e-13` or after 100 steps, then
    /// errors with a [`core_linalg::LinalgError::NotConverged`].
    pub fn minimizer(&self) -> Result<DVector<f64>> {
        let d = self.x.ncols();
        let mut w = DVector::zeros(d);
        let mut g = DVector::zeros(d);
        for _ in 0..100 {
            self.gradient(&w, &mut g);
            if g.norm() <= 1e-13 {
                return Ok(w);
            }
            let margins = &self.x * &w;
            let mut h = DMatrix::identity(d, d) * self.lambda;
            let n = self.len() as f64;
            for (i, (&m, &y)) in margins.iter().zip(&self.y).enumerate() {
                let s = sigmoid(y * m);
                let xi = self.x.row(i);
                h += xi.transpose() * xi * (s * (1.0 - s) / n);
            }
            let step = h
                .cholesky()
                .ok_or(core_linalg::LinalgError::NotConverged {
                    what: "Newton step (Hessian not positive definite)",
                    iterations: 0,
                })?
                .solve(&g);
            w -= step;
        }
        Err(core_linalg::LinalgError::NotConverged {
            what: "Newton's method for logistic regression",
            iterations: 100,
        }
        .into())
    }
}

/// `1 / (1 + e^{−t})`, computed without overflow.
fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + e^{t})`, computed without overflow.
fn softplus(t: f64) -> f64 {
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

impl Objective for LogisticRegression {
    fn dim(&self) -> usize {
        self.x.ncols()
    }
    fn value(&self, w: &DVector<f64>) -> f64 {
        let margins = &self.x * w;
        let loss: f64 = margins
            .iter()
            .zip(&self.y)
            .map(|(&m, &y)| softplus(-y * m))
            .sum();
        loss / self.len() as f64 + 0.5 * self.lambda * w.norm_squared()
    }
    fn gradient(&self, w: &DVector<f64>, out: &mut DVector<f64>) {
        let margins = &self.x * w;
        let n = self.len() as f64;
        let coef = DVector::from_iterator(
            self.len(),
            margins
                .iter()
                .zip(&self.y)
                .map(|(&m, &y)| -y * sigmoid(-y * m) / n),
        );
        out.copy_from(&(self.x.transpose() * coef + w * self.lambda));
    }
    fn strong_convexity(&self) -> f64 {
        self.lambda
    }
    fn smoothness(&self) -> f64 {
        self.l
    }
}

/// The gradient of `objective` as the closure the message-passing disturbances take
/// ([`QuantizedMessage`](crate::QuantizedMessage), [`DelayedGradient`](crate::DelayedGradient)):
/// `|x, g|` writes `∇F(x)` into `g`.
pub fn gradient_fn<O: Objective + Clone>(
    objective: &O,
) -> impl FnMut(&DVector<f64>, &mut DVector<f64>) + Clone {
    let o = objective.clone();
    move |x: &DVector<f64>, g: &mut DVector<f64>| o.gradient(x, g)
}

/// Gradient descent `x ↦ x − η ∇F(x)` on an [`Objective`], as a [`Step`].
#[derive(Debug, Clone)]
pub struct GradientDescent<O> {
    objective: O,
    eta: f64,
    grad: DVector<f64>,
}

impl<O: Objective> GradientDescent<O> {
    /// Gradient descent at step `eta` (`0 < η < 2/L`, the range where its rate is certified).
    pub fn new(objective: O, eta: f64) -> Result<Self> {
        let n = objective.dim();
        let gd = Self {
            objective,
            eta,
            grad: DVector::zeros(n),
        };
        gd.rate()?;
        Ok(gd)
    }

    /// The certified rate: `c = L_V = 1`, `ρ = max(|1 − ημ|, |1 − ηL|)`
    /// ([`Rate::gradient_descent_c2`]: the objectives here are twice differentiable).
    pub fn rate(&self) -> Result<Rate> {
        Rate::gradient_descent_c2(
            self.objective.strong_convexity(),
            self.objective.smoothness(),
            self.eta,
        )
    }

    /// The step size `η`.
    pub fn eta(&self) -> f64 {
        self.eta
    }

    /// The objective.
    pub fn objective(&self) -> &O {
        &self.objective
    }
}

impl<O: Objective> Step for GradientDescent<O> {
    fn dim(&self) -> usize {
        self.objective.dim()
    }
    fn apply(&mut self, x: &DVector<f64>, out: &mut DVector<f64>) {
        if self.grad.len() != x.len() {
            self.grad = DVector::zeros(x.len());
        }
        self.objective.gradient(x, &mut self.grad);
        // x − η∇F(x) in one pass (the same rounding as `x - grad * eta`).
        let eta = self.eta;
        for ((o, xi), g) in out
            .as_mut_slice()
            .iter_mut()
            .zip(x.as_slice())
            .zip(self.grad.as_slice())
        {
            *o = xi - eta * g;
        }
    }
}
