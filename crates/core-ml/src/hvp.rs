//! Curvature of a training loss: Hessian-vector products, exactly by double back-propagation
//! ([`exact_hessian_vector_product`]) or by central differences of gradients
//! ([`hessian_vector_product`]), and from them `λ_max` (power iteration) and `tr(H)`
//! (Hutchinson), via `core-linalg`.
//!
//! **Exact.** `H v = ∇(∇L · v)`: back-propagate once keeping the gradient's graph, dot it with
//! `v`, back-propagate again. candle keeps gradients differentiable only in its non-detaching
//! mode, which it reads from the environment variable `CANDLE_GRAD_DO_NOT_DETACH=1` once per
//! thread, before that thread's first backward pass; the workspace sets it for every cargo
//! command in `.cargo/config.toml`, and [`double_backward_available`] tells whether it is on.
//! Without it the exact routine returns [`MlError::Unsupported`] rather than a wrong answer.
//!
//! **Finite differences.** `H v ≈ (∇L(θ + h v̂) − ∇L(θ − h v̂)) / (2h) · ‖v‖` with `v̂ = v/‖v‖`.
//! The truncation error is `h²/6 · ‖∇³L[v̂, v̂, ·]‖‖v‖` (zero for a quadratic) and the rounding
//! error about `ε·‖∇L‖/h · ‖v‖`; in f64 with the default `h = 1e-4` both are near 1e-8 relative
//! for smooth losses of O(1) curvature. In f32 (ε ≈ 1.2e-7) the rounding term alone is ≈ 1e-3
//! relative at that step and no step brings the total below ≈ 1e-5, so f32 parameters are
//! refused: build the model in `DType::F64`.

use crate::error::{MlError, Result};
use candle_core::{Tensor, Var};
use candle_nn::VarMap;
use core_linalg::{
    hutchinson_trace, power_iteration, PowerIterationParams, PowerIterationResult, Rng,
    TraceEstimate,
};
use nalgebra::DVector;

/// A model's parameters as one flat `f64` vector (variables in name order).
#[derive(Debug, Clone)]
pub struct FlatParams {
    vars: Vec<(String, Var)>,
    len: usize,
}

impl FlatParams {
    /// All variables of `varmap`, sorted by name.
    pub fn new(varmap: &VarMap) -> Self {
        let vars = crate::trainer::named_vars(varmap);
        let len = vars.iter().map(|(_, v)| v.elem_count()).sum();
        Self { vars, len }
    }
    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The current values.
    pub fn get(&self) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(self.len);
        for (_, v) in &self.vars {
            out.extend(
                v.flatten_all()?
                    .to_dtype(candle_core::DType::F64)?
                    .to_vec1::<f64>()?,
            );
        }
        Ok(out)
    }
    /// Overwrites the values. Errors on a length that is not [`Self::len`] or a value that is
    /// not finite (a NaN parameter poisons every later step without a word).
    pub fn set(&self, theta: &[f64]) -> Result<()> {
        if theta.len() != self.len {
            return Err(MlError::Data(format!(
                "{} values for {} parameters",
                theta.len(),
                self.len
            )));
        }
        if let Some(i) = theta.iter().position(|x| !x.is_finite()) {
            return Err(MlError::Data(format!(
                "parameter {i} would be set to {}, not finite",
                theta[i]
            )));
        }
        let mut at = 0;
        for (_, v) in &self.vars {
            let n = v.elem_count();
            let t = Tensor::from_slice(&theta[at..at + n], v.shape(), v.device())?
                .to_dtype(v.dtype())?;
            v.set(&t)?;
            at += n;
        }
        Ok(())
    }
    /// `∇L` at the current values, flattened (zeros for variables the loss does not touch).
    pub fn gradient(&self, loss: &Tensor) -> Result<Vec<f64>> {
        self.flatten(&loss.backward()?)
    }

    /// The entries of `grads` for these variables, flattened in name order (zeros for variables
    /// without a gradient).
    fn flatten(&self, grads: &candle_core::backprop::GradStore) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(self.len);
        for (_, v) in &self.vars {
            match grads.get(v) {
                Some(g) => out.extend(
                    g.flatten_all()?
                        .to_dtype(candle_core::DType::F64)?
                        .to_vec1::<f64>()?,
                ),
                None => out.extend(std::iter::repeat_n(0.0, v.elem_count())),
            }
        }
        Ok(out)
    }
}

/// Whether candle's gradients stay differentiable in this thread (its non-detaching mode, see
/// the module docs): a probe `d/dx (d/dx x³) = 6x` at `x = 1.5`.
pub fn double_backward_available() -> bool {
    let probe = || -> candle_core::Result<bool> {
        let x = Var::new(&[1.5f64], &candle_core::Device::Cpu)?;
        let g = match x.as_tensor().powf(3.0)?.sum_all()?.backward()?.get(&x) {
            Some(g) => g.clone(),
            None => return Ok(false),
        };
        Ok(match g.sum_all()?.backward()?.get(&x) {
            Some(h) => (h.to_vec1::<f64>()?[0] - 9.0).abs() < 1e-12,
            None => false,
        })
    };
    probe().unwrap_or(false)
}

fn check_direction(params: &FlatParams, v: &[f64]) -> Result<()> {
    if v.len() != params.len() {
        return Err(MlError::Data(format!(
            "direction of length {} for {} parameters",
            v.len(),
            params.len()
        )));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(MlError::Data(format!(
            "direction entry {i} is {}, not finite",
            v[i]
        )));
    }
    Ok(())
}

/// `H v` of the loss computed by `loss()` at the current parameters, exactly, by double
/// back-propagation: `∇(∇L · v)`. Needs candle's non-detaching gradient mode (module docs);
/// returns [`MlError::Unsupported`] without it. Works in any float dtype (the products are
/// exact up to that dtype's rounding).
pub fn exact_hessian_vector_product(
    params: &FlatParams,
    loss: &mut dyn FnMut() -> candle_core::Result<Tensor>,
    v: &[f64],
) -> Result<Vec<f64>> {
    check_direction(params, v)?;
    if !double_backward_available() {
        return Err(MlError::Unsupported(
            "exact Hessian-vector products need candle's non-detaching gradients: set CANDLE_GRAD_DO_NOT_DETACH=1 before the process starts (cargo commands in this workspace do)".into(),
        ));
    }
    let grads = loss()?.backward()?;
    let mut dot: Option<Tensor> = None;
    let mut at = 0;
    for (_, var) in &params.vars {
        let n = var.elem_count();
        if let Some(g) = grads.get(var) {
            let vt = Tensor::from_slice(&v[at..at + n], var.shape(), var.device())?
                .to_dtype(var.dtype())?;
            let term = (g * vt)?.sum_all()?;
            dot = Some(match dot {
                Some(d) => (d + term)?,
                None => term,
            });
        }
        at += n;
    }
    let Some(dot) = dot else {
        return Ok(vec![0.0; params.len()]);
    };
    params.flatten(&dot.backward()?)
}

/// `H v` of the loss computed by `loss()` (full batch, deterministic) at the current
/// parameters, by central differences with step `h` along `v/‖v‖`. Restores the parameters.
/// Refuses parameters that are not f64 (see the module docs for the error in f32).
pub fn hessian_vector_product(
    params: &FlatParams,
    loss: &mut dyn FnMut() -> candle_core::Result<Tensor>,
    v: &[f64],
    h: f64,
) -> Result<Vec<f64>> {
    check_direction(params, v)?;
    if let Some((name, var)) = params
        .vars
        .iter()
        .find(|(_, var)| var.dtype() != candle_core::DType::F64)
    {
        return Err(crate::error::config(
            "finite-difference HVP dtype",
            format!("{:?} ({name})", var.dtype()),
            "needs f64 parameters: in f32 the rounding error ε‖∇L‖/h is ≈ 1e-3 relative at h = 1e-4 and no step brings the total below ≈ 1e-5; use exact_hessian_vector_product or an f64 model",
        ));
    }
    if !(h.is_finite() && h > 0.0) {
        return Err(crate::error::config(
            "finite-difference step h",
            h,
            "must be finite and positive",
        ));
    }
    // Scaled: Σ v² overflows for entries beyond 1e154.
    let norm = core_linalg::scaled_norm(&nalgebra::DVector::from_column_slice(v));
    if norm == 0.0 {
        return Ok(vec![0.0; v.len()]);
    }
    let theta = params.get()?;
    let shifted = |s: f64| -> Vec<f64> {
        theta
            .iter()
            .zip(v)
            .map(|(t, d)| t + s * h * d / norm)
            .collect()
    };
    let result = (|| {
        params.set(&shifted(1.0))?;
        let gp = params.gradient(&loss()?)?;
        params.set(&shifted(-1.0))?;
        let gm = params.gradient(&loss()?)?;
        let hv: Vec<f64> = gp
            .iter()
            .zip(&gm)
            .map(|(a, b)| (a - b) / (2.0 * h) * norm)
            .collect();
        if hv.iter().any(|x| !x.is_finite()) {
            return Err(MlError::Data(format!(
                "the gradients at θ ± h·v/‖v‖ (h = {h:e}) leave the f64 range: use a smaller step"
            )));
        }
        Ok(hv)
    })();
    params.set(&theta)?;
    result
}

/// Runs `f` with the HVP as a linear operator for `core-linalg`; the first HVP error (if any)
/// is returned instead of `f`'s result (the operator yields NaNs after it).
fn with_hvp_operator<T>(
    params: &FlatParams,
    loss: &mut dyn FnMut() -> candle_core::Result<Tensor>,
    f: impl FnOnce(
        &mut dyn FnMut(&DVector<f64>) -> DVector<f64>,
    ) -> std::result::Result<T, core_linalg::LinalgError>,
) -> Result<T> {
    let mut err = None;
    let mut op = |x: &DVector<f64>| match hessian_vector_product(params, loss, x.as_slice(), 1e-4) {
        Ok(hv) => DVector::from_vec(hv),
        Err(e) => {
            err.get_or_insert(e);
            DVector::from_element(x.len(), f64::NAN)
        }
    };
    let r = f(&mut op);
    match err {
        Some(e) => Err(e),
        None => r.map_err(|e| MlError::Data(e.to_string())),
    }
}

/// The largest-magnitude Hessian eigenvalue (`λ_max` at a minimum) by power iteration on
/// [`hessian_vector_product`].
pub fn top_hessian_eigenvalue(
    params: &FlatParams,
    loss: &mut dyn FnMut() -> candle_core::Result<Tensor>,
    iters: usize,
    rng: &mut Rng,
) -> Result<PowerIterationResult> {
    let n = params.len();
    with_hvp_operator(params, loss, |op| {
        power_iteration(
            op,
            n,
            &PowerIterationParams {
                max_iter: iters,
                tol: 1e-6,
            },
            rng,
        )
    })
}

/// `tr(H)` by Hutchinson's estimator with `probes` Rademacher vectors.
pub fn hessian_trace(
    params: &FlatParams,
    loss: &mut dyn FnMut() -> candle_core::Result<Tensor>,
    probes: usize,
    rng: &mut Rng,
) -> Result<TraceEstimate> {
    let n = params.len();
    with_hvp_operator(params, loss, |op| hutchinson_trace(op, n, probes, rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::{Init, VarBuilder};
    use nalgebra::{DMatrix, SymmetricEigen};

    #[test]
    fn quadratic_hvp_equals_the_exact_hessian() {
        // L(θ) = ½ θᵀ A θ + bᵀθ with A symmetric: H = A everywhere.
        let dev = Device::Cpu;
        let a = DMatrix::from_row_slice(3, 3, &[4.0, 1.0, -0.5, 1.0, 3.0, 0.2, -0.5, 0.2, 2.0]);
        let at = Tensor::from_slice(a.as_slice(), (3, 3), &dev).unwrap();
        let b = Tensor::new(&[0.3f64, -0.1, 0.7], &dev).unwrap();
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F64, &dev);
        let th = vb.get_with_hints(3, "theta", Init::Const(0.5)).unwrap();
        let mut loss = || -> candle_core::Result<Tensor> {
            let t = th.unsqueeze(1)?;
            (t.t()?.matmul(&at.matmul(&t)?)?.squeeze(0)?.squeeze(0)? * 0.5)?
                + (&th * &b)?.sum_all()?
        };
        let p = FlatParams::new(&vm);
        for v in [[1.0, 0.0, 0.0], [0.3, -2.0, 1.1]] {
            let hv = hessian_vector_product(&p, &mut loss, &v, 1e-3).unwrap();
            let exact = &a * DVector::from_row_slice(&v);
            for (x, y) in hv.iter().zip(exact.iter()) {
                assert!((x - y).abs() < 1e-6, "{x} vs {y}");
            }
        }
        assert_eq!(p.get().unwrap(), vec![0.5, 0.5, 0.5], "parameters restored");
        let mut rng = core_linalg::seeded_rng(1);
        let top = top_hessian_eigenvalue(&p, &mut loss, 500, &mut rng).unwrap();
        let eig = SymmetricEigen::new(a.clone()).eigenvalues.max();
        assert!(
            (top.eigenvalue - eig).abs() < 1e-5,
            "{} vs {eig}",
            top.eigenvalue
        );
        let tr = hessian_trace(&p, &mut loss, 200, &mut rng).unwrap();
        assert!((tr.mean - a.trace()).abs() < 5.0 * tr.std_err + 1e-6);
        assert!(hessian_vector_product(&p, &mut loss, &[1.0], 1e-3).is_err());
        assert!(hessian_vector_product(&p, &mut loss, &[1.0, 0.0, 0.0], 0.0).is_err());
    }
}
