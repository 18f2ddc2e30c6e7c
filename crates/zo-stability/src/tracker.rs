//! Edge-of-stability tracking from Hessian-vector products: `λ_max`, `tr H` and the
//! positive-part trace every N steps, the notes' interval for each method, and whether the run
//! sits inside it.

use crate::error::{check_param, Result, ZoError};
use crate::optim::Method;
use core_linalg::{stochastic_lanczos_quadrature, Rng};
use nalgebra::DVector;

/// Settings of [`estimate_curvature`]. Defaults: 30 Lanczos steps, 8 probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurvatureConfig {
    /// Lanczos steps per probe (Hessian-vector products per probe).
    pub lanczos_steps: usize,
    /// Rademacher probes.
    pub probes: usize,
}

impl Default for CurvatureConfig {
    fn default() -> Self {
        Self {
            lanczos_steps: 30,
            probes: 8,
        }
    }
}

/// Curvature of a Hessian from Hessian-vector products.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvatureEstimate {
    /// The largest eigenvalue (the largest Lanczos Ritz value: unlike power iteration, which
    /// finds the largest `|λ|`, it is the largest *algebraic* eigenvalue even where a negative
    /// eigenvalue dominates in magnitude, as near initialisation).
    pub lambda_max: f64,
    /// `tr H` (Hutchinson's estimate on the probes: exactly `mean zᵀHz`).
    pub trace: f64,
    /// `tr H₊`, the trace of the positive part (stochastic Lanczos quadrature of `max(λ, 0)`);
    /// near initialisation Hutchinson's `tr H` under-counts it.
    pub positive_trace: f64,
    /// Hessian-vector products used.
    pub hvps: usize,
}

/// Estimates `λ_max`, `tr H` and `tr H₊` of the symmetric operator `hvp` on `R^dim` by
/// stochastic Lanczos quadrature (core-linalg).
pub fn estimate_curvature(
    mut hvp: impl FnMut(&DVector<f64>) -> DVector<f64>,
    dim: usize,
    cfg: &CurvatureConfig,
    rng: &mut Rng,
) -> Result<CurvatureEstimate> {
    let mut hvps = 0usize;
    let q = stochastic_lanczos_quadrature(
        |v| {
            hvps += 1;
            hvp(v)
        },
        dim,
        cfg.lanczos_steps,
        cfg.probes,
        rng,
    )?;
    Ok(CurvatureEstimate {
        lambda_max: q.lambda_max,
        trace: q.trace_of(|t| t),
        positive_trace: q.trace_of(|t| t.max(0.0)),
        hvps,
    })
}

/// The symmetric product `v ↦ P^{-1/2} H P^{-1/2} v` (the spectrum of `P⁻¹H`, which ZO-Adam's
/// interval is built from) from `v ↦ Hv` and the diagonal `p` of `P`. Fails unless `p` is
/// positive and finite with one entry per coordinate.
///
/// ```
/// use nalgebra::DVector;
/// use zo_stability::tracker::preconditioned_hvp;
///
/// // H = diag(4, 9), P = diag(4, 1): P⁻¹H = diag(1, 9).
/// let h = DVector::from_vec(vec![4.0, 9.0]);
/// let mut pv = preconditioned_hvp(|v: &DVector<f64>| v.component_mul(&h), &[4.0, 1.0])?;
/// assert_eq!(pv(&DVector::from_vec(vec![1.0, 1.0])).as_slice(), &[1.0, 9.0]);
/// # Ok::<(), zo_stability::ZoError>(())
/// ```
pub fn preconditioned_hvp(
    mut hvp: impl FnMut(&DVector<f64>) -> DVector<f64>,
    p: &[f64],
) -> Result<impl FnMut(&DVector<f64>) -> DVector<f64>> {
    crate::spectrum::check_preconditioner(p, p.len())?;
    if p.is_empty() {
        return Err(ZoError::Empty {
            what: "preconditioner diagonal",
        });
    }
    let s = DVector::from_iterator(p.len(), p.iter().map(|v| 1.0 / v.sqrt()));
    Ok(move |v: &DVector<f64>| {
        if v.len() != s.len() {
            // A caller error the tracker never makes: keep the shapes honest without a panic.
            return DVector::from_element(v.len(), f64::NAN);
        }
        let hv = hvp(&v.component_mul(&s));
        if hv.len() != s.len() {
            return DVector::from_element(v.len(), f64::NAN);
        }
        hv.component_mul(&s)
    })
}

/// The notes' edge-of-stability interval: the method's threshold quantity against the range
/// that the tractable bounds give it. `threshold ∈ [lower, upper]` ⟺ `η` lies between the
/// bounds on `η*`.
///
/// | method | threshold | interval |
/// |---|---|---|
/// | ZO-GD | `2/η` | `[tr H, tr H + 2λ_max]` |
/// | ZO-GDM | `2(1−β)/η` | `[tr H, tr H + 2λ_max/(1+β)]` |
/// | ZO-Adam | `2/η` | `[tr P⁻¹H, tr P⁻¹H + 2λ_max(P⁻¹H)/(1+β₁)]` |
///
/// For (frozen) ZO-Adam the curvature passed must be that of `P⁻¹H` (the Hessian-vector
/// product `v ↦ P^{-1/2} H P^{-1/2} v`, which has the same spectrum and is symmetric).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EosInterval {
    /// `2/η` or `2(1−β)/η`.
    pub threshold: f64,
    /// The interval's lower end (the trace).
    pub lower: f64,
    /// Its upper end.
    pub upper: f64,
}

impl EosInterval {
    /// The interval for `method` at step size `η` from `λ_max` and a trace (`tr H` or `tr H₊`).
    pub fn new(method: &Method, eta: f64, lambda_max: f64, trace: f64) -> Result<Self> {
        check_param("eta", eta, eta > 0.0, "a step size must be positive")?;
        check_param("lambda_max", lambda_max, true, "must be finite")?;
        check_param("trace", trace, true, "must be finite")?;
        let (threshold, spread) = match method {
            Method::Gd => (2.0 / eta, 2.0 * lambda_max),
            Method::Gdm { beta } => (2.0 * (1.0 - beta) / eta, 2.0 * lambda_max / (1.0 + beta)),
            Method::Adam { beta1, .. } | Method::FrozenAdam { beta1, .. } => {
                (2.0 / eta, 2.0 * lambda_max / (1.0 + beta1))
            }
        };
        Ok(Self {
            threshold,
            lower: trace,
            upper: trace + spread.max(0.0),
        })
    }

    /// Whether the threshold lies inside the interval.
    pub fn contains_threshold(&self) -> bool {
        self.lower <= self.threshold && self.threshold <= self.upper
    }

    /// Where the threshold sits: 0 at the lower end, 1 at the upper end (outside: below 0 or
    /// above 1; `NaN` for an empty interval).
    pub fn position(&self) -> f64 {
        (self.threshold - self.lower) / (self.upper - self.lower)
    }
}

/// One record of an [`EosTracker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EosRecord {
    /// The step at which it was taken.
    pub step: u64,
    /// The curvature there.
    pub curvature: CurvatureEstimate,
    /// The interval from `tr H`.
    pub interval: EosInterval,
    /// The interval from `tr H₊`.
    pub positive_interval: EosInterval,
}

/// Records the curvature and the interval every `every` steps of a run.
#[derive(Debug, Clone)]
pub struct EosTracker {
    /// Record every this many steps.
    pub every: u64,
    /// Curvature settings.
    pub config: CurvatureConfig,
    /// The records so far.
    pub records: Vec<EosRecord>,
}

impl EosTracker {
    /// A tracker recording every `every ≥ 1` steps.
    pub fn new(every: u64, config: CurvatureConfig) -> Result<Self> {
        if every == 0 {
            return Err(ZoError::Parameter {
                name: "every",
                value: 0.0,
                reason: "record at least every step",
            });
        }
        Ok(Self {
            every,
            config,
            records: Vec::new(),
        })
    }

    /// At step `step` (recorded when it is a multiple of `every`), estimates the curvature of
    /// `hvp` and stores the interval for `method` at `eta`. Returns the record when one was
    /// taken.
    pub fn observe(
        &mut self,
        step: u64,
        method: &Method,
        eta: f64,
        hvp: impl FnMut(&DVector<f64>) -> DVector<f64>,
        dim: usize,
        rng: &mut Rng,
    ) -> Result<Option<EosRecord>> {
        if !step.is_multiple_of(self.every) {
            return Ok(None);
        }
        let c = estimate_curvature(hvp, dim, &self.config, rng)?;
        let rec = EosRecord {
            step,
            curvature: c,
            interval: EosInterval::new(method, eta, c.lambda_max, c.trace)?,
            positive_interval: EosInterval::new(method, eta, c.lambda_max, c.positive_trace)?,
        };
        self.records.push(rec);
        Ok(Some(rec))
    }

    /// The fraction of records whose threshold lies inside the (positive-part) interval.
    pub fn fraction_inside(&self) -> f64 {
        if self.records.is_empty() {
            return f64::NAN;
        }
        let n = self
            .records
            .iter()
            .filter(|r| r.positive_interval.contains_threshold())
            .count();
        n as f64 / self.records.len() as f64
    }
}
