//! Candle models as objectives (feature `candle`): a model's full-batch loss over its flat
//! parameters, for the zeroth-order optimisers and the edge-of-stability tracker, and an
//! observer of core-ml's trainer that records the tracker's interval.

use crate::error::{Result, ZoError};
use crate::optim::Method;
use crate::tracker::{preconditioned_hvp, CurvatureConfig, EosRecord, EosTracker};
use core_linalg::Rng;
use core_ml::candle_core::Tensor;
use core_ml::candle_nn::VarMap;
use core_ml::hvp::{hessian_vector_product, FlatParams};
use core_ml::trainer::{Observer, StepRecord, Trainer};
use nalgebra::DVector;

/// The step of the finite-difference Hessian-vector products (core-ml's default).
pub const HVP_STEP: f64 = 1e-4;

fn ml(e: core_ml::MlError) -> ZoError {
    ZoError::Model(e.to_string())
}

/// A candle model's loss as a function of its parameters: `θ ↦ loss()` after setting the
/// model's variables to `θ` (name order, as core-ml's `FlatParams`).
///
/// Evaluations leave the model at the last `θ` evaluated; [`Self::restore`] puts back a saved
/// point. The loss must be deterministic (full batch) for the estimator to be the paper's.
pub struct CandleObjective<'a> {
    params: FlatParams,
    loss: Box<dyn FnMut() -> core_ml::candle_core::Result<Tensor> + 'a>,
}

impl std::fmt::Debug for CandleObjective<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleObjective")
            .field("dim", &self.params.len())
            .finish()
    }
}

impl<'a> CandleObjective<'a> {
    /// The loss computed by `loss` over every variable of `varmap`.
    pub fn new(
        varmap: &VarMap,
        loss: impl FnMut() -> core_ml::candle_core::Result<Tensor> + 'a,
    ) -> Result<Self> {
        let params = FlatParams::new(varmap);
        if params.is_empty() {
            return Err(ZoError::Empty {
                what: "model parameters",
            });
        }
        Ok(Self {
            params,
            loss: Box::new(loss),
        })
    }

    /// The number of parameters.
    pub fn dim(&self) -> usize {
        self.params.len()
    }

    /// The model's current parameters.
    pub fn parameters(&self) -> Result<Vec<f64>> {
        self.params.get().map_err(ml)
    }

    /// Sets the model's parameters.
    pub fn restore(&self, theta: &[f64]) -> Result<()> {
        self.params.set(theta).map_err(ml)
    }

    /// The loss at `θ`.
    pub fn value(&mut self, theta: &[f64]) -> Result<f64> {
        self.params.set(theta).map_err(ml)?;
        let l = (self.loss)()
            .and_then(|t| {
                t.to_dtype(core_ml::candle_core::DType::F64)?
                    .to_scalar::<f64>()
            })
            .map_err(|e| ZoError::Model(e.to_string()))?;
        if l.is_finite() {
            Ok(l)
        } else {
            Err(ZoError::Diverged {
                what: "model loss",
                value: l,
            })
        }
    }

    /// The gradient at `θ` (back-propagation), written into `out`.
    pub fn gradient(&mut self, theta: &[f64], out: &mut [f64]) -> Result<()> {
        if out.len() != self.dim() {
            return Err(ZoError::Dimension {
                what: "gradient",
                expected: self.dim(),
                got: out.len(),
            });
        }
        self.params.set(theta).map_err(ml)?;
        let l = (self.loss)().map_err(|e| ZoError::Model(e.to_string()))?;
        out.copy_from_slice(&self.params.gradient(&l).map_err(ml)?);
        Ok(())
    }

    /// `H v` at `θ` by central differences of gradients (core-ml; needs an f64 model).
    pub fn hvp(&mut self, theta: &[f64], v: &[f64]) -> Result<Vec<f64>> {
        self.params.set(theta).map_err(ml)?;
        hessian_vector_product(&self.params, &mut *self.loss, v, HVP_STEP).map_err(ml)
    }

    /// The loss as a closure for [`Optimizer::zo_step`](crate::Optimizer::zo_step): a failed
    /// evaluation returns NaN, which the estimator reports as
    /// [`ZoError::Diverged`].
    pub fn as_fn<'s>(&'s mut self) -> impl FnMut(&[f64]) -> f64 + use<'s, 'a> {
        move |theta| self.value(theta).unwrap_or(f64::NAN)
    }
}

/// An observer of core-ml's [`Trainer`] that records the edge-of-stability interval of
/// `method` at the trainer's learning rate every `every` steps, from finite-difference
/// Hessian-vector products of the loss (the model must be f64).
///
/// ZO-Adam's interval is built from the curvature of `P⁻¹H`: for [`Method::Adam`] set the
/// preconditioner of the step being observed with [`Self::set_preconditioner`] (from
/// [`Optimizer::preconditioner`](crate::Optimizer::preconditioner)); frozen ZO-Adam uses its
/// own `p`.
pub struct EosObserver<'a> {
    /// The tracker and its records.
    pub tracker: EosTracker,
    method: Method,
    objective: CandleObjective<'a>,
    rng: Rng,
    preconditioner: Option<Vec<f64>>,
}

impl std::fmt::Debug for EosObserver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EosObserver")
            .field("tracker", &self.tracker)
            .field("method", &self.method)
            .finish()
    }
}

impl<'a> EosObserver<'a> {
    /// Tracks `method` (the update rule the trainer runs) on the loss of `objective`.
    pub fn new(
        objective: CandleObjective<'a>,
        method: Method,
        every: u64,
        config: CurvatureConfig,
        rng: Rng,
    ) -> Result<Self> {
        Ok(Self {
            tracker: EosTracker::new(every, config)?,
            method,
            objective,
            rng,
            preconditioner: None,
        })
    }

    /// Sets the diagonal of the preconditioner `P` whose `P⁻¹H` the next records are built
    /// from (ZO-Adam). Errors unless it is positive and finite with one entry per parameter.
    pub fn set_preconditioner(&mut self, p: &[f64]) -> Result<()> {
        crate::spectrum::check_preconditioner(p, self.objective.dim())?;
        self.preconditioner = Some(p.to_vec());
        Ok(())
    }

    /// The records so far.
    pub fn records(&self) -> &[EosRecord] {
        &self.tracker.records
    }

    /// Records at `step` with step size `eta` (what [`Observer::observe`] calls).
    pub fn record(&mut self, step: u64, eta: f64) -> Result<Option<EosRecord>> {
        let p = match (&self.method, &self.preconditioner) {
            (_, Some(p)) => Some(p.clone()),
            (Method::FrozenAdam { p, .. }, None) => Some(p.clone()),
            (Method::Adam { .. }, None) => {
                return Err(ZoError::Parameter {
                    name: "preconditioner",
                    value: f64::NAN,
                    reason: "ZO-Adam's interval is built from P⁻¹H: call set_preconditioner first",
                })
            }
            _ => None,
        };
        let theta = self.objective.parameters()?;
        let dim = theta.len();
        let mut err = None;
        let obj = &mut self.objective;
        let hvp = |v: &DVector<f64>| match obj.hvp(&theta, v.as_slice()) {
            Ok(h) => DVector::from_vec(h),
            Err(e) => {
                err.get_or_insert(e);
                DVector::from_element(v.len(), f64::NAN)
            }
        };
        let r = match p {
            None => self
                .tracker
                .observe(step, &self.method, eta, hvp, dim, &mut self.rng),
            Some(p) => {
                let hvp = preconditioned_hvp(hvp, &p)?;
                self.tracker
                    .observe(step, &self.method, eta, hvp, dim, &mut self.rng)
            }
        };
        // Leave the model where the trainer had it.
        self.objective.restore(&theta)?;
        match err {
            Some(e) => Err(e),
            None => r,
        }
    }
}

impl Observer for EosObserver<'_> {
    fn observe(&mut self, record: &StepRecord, _: &Trainer) -> core_ml::Result<()> {
        self.record(record.step as u64, record.lr)
            .map(|_| ())
            .map_err(|e| core_ml::MlError::Data(e.to_string()))
    }
}
