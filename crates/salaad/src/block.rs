//! The sparse + low-rank block `X ≈ L + S` attached to one weight matrix, its augmented-
//! Lagrangian penalty and the ADMM update with the adaptive threshold controller.

use crate::error::{
    check_matrix, check_nonneg, check_positive, check_ratio, check_shape, Result, SalaadError,
};
use crate::prox::{effective_rank, soft_threshold, svt_from, Thresholded};
use crate::svd::{SubspaceIteration, Svd};
use nalgebra::DMatrix;

/// Relative size below which a singular value or an entry of `S` is rounding residue and is
/// dropped (the effective thresholds are `max(τ_L, 10⁻¹²·σ₁)` and `max(τ_S, 10⁻¹²·max|X|)`).
pub const RESIDUE: f64 = 1e-12;

/// How the singular value thresholding gets its SVD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SvdMethod {
    /// The full thin SVD at every update (the paper).
    Full,
    /// Warm-started subspace iteration for the leading `k` triplets, `k` = the last kept rank
    /// plus `oversample` (at least `min_rank`), doubling when every tracked value survives the
    /// threshold; `iterations` rounds per update (S-SALAAD uses one).
    Subspace {
        /// Extra directions tracked beyond the kept rank.
        oversample: usize,
        /// The smallest tracked rank.
        min_rank: usize,
        /// Rounds of `Q ← orth(Mᵀ orth(M Q))` per update.
        iterations: usize,
    },
}

/// The controller's gains. The thresholds are `τ_L = α/ρ` and `τ_S = β/ρ`; the paper's
/// update `α ← α + ρ δ_α (γ_L − γ*)` is, in thresholds,
///
/// `τ_L ← max(0, τ_L + δ_α·(γ_L − γ*) + d_α·max(0, γ_L − γ_L^{prev}))`,
///
/// an integral controller on the rank ratio plus, after `damping_after` updates, a one-sided
/// derivative term that pushes back only while the rate is rising (and likewise `τ_S` with
/// `δ_β, d_β` on the density). The clamp at 0 is this crate's choice (a negative threshold
/// would expand singular values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControllerParams {
    /// `δ_α`, the integral gain on the rank ratio (paper: 0.2).
    pub gain_rank: f64,
    /// `δ_β`, the integral gain on the density (paper: 0.002).
    pub gain_density: f64,
    /// `d_α`, the one-sided damping gain on a rising rank ratio (0 = off).
    pub damping_rank: f64,
    /// `d_β`, the one-sided damping gain on a rising density (0 = off).
    pub damping_density: f64,
    /// Updates before the damping term switches on (paper: 1500).
    pub damping_after: usize,
    /// Units of the gains: [`GainScale::Absolute`] (the paper: threshold units, tuned for
    /// weights of LM scale) or [`GainScale::Spectrum`] (multiplied by the first update's
    /// largest singular value for `τ_L` and largest entry magnitude for `τ_S`, so the same
    /// gains work at any weight scale).
    pub scale: GainScale,
}

/// Units of the controller gains, see [`ControllerParams::scale`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GainScale {
    /// Gains in threshold units.
    Absolute,
    /// Gains relative to the block's scale at its first update.
    Spectrum,
}

impl Default for ControllerParams {
    /// The paper's gains (llama_9m config), damping off.
    fn default() -> Self {
        Self {
            gain_rank: 0.2,
            gain_density: 0.002,
            damping_rank: 0.0,
            damping_density: 0.0,
            damping_after: 1500,
            scale: GainScale::Absolute,
        }
    }
}

/// Hyper-parameters of one block, with documented defaults; [`BlockParams::check`] turns them
/// into a [`BlockConfig`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockParams {
    /// Target rank ratio `γ* = r_eff / min(m, n)` in `(0, 1]` (paper: 0.15).
    pub rank_ratio: f64,
    /// Target density `υ* = nnz(S) / (mn)` in `(0, 1]` (paper: 0.05).
    pub density: f64,
    /// The penalty weight `ρ > 0` (paper: 1e-6 for linear layers; the synthetic experiment
    /// uses 1).
    pub rho: f64,
    /// Initial `τ_L ≥ 0` (paper: 0).
    pub tau_l: f64,
    /// Initial `τ_S ≥ 0` (paper: 0).
    pub tau_s: f64,
    /// Energy fraction of the effective rank (paper: 0.999).
    pub energy: f64,
    /// The controller.
    pub controller: ControllerParams,
    /// How the SVD is computed.
    pub svd: SvdMethod,
}

impl Default for BlockParams {
    fn default() -> Self {
        Self {
            rank_ratio: 0.15,
            density: 0.05,
            rho: 1e-6,
            tau_l: 0.0,
            tau_s: 0.0,
            energy: 0.999,
            controller: ControllerParams::default(),
            svd: SvdMethod::Full,
        }
    }
}

/// Checked block hyper-parameters; only [`BlockParams::check`] makes one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockConfig(BlockParams);

impl BlockConfig {
    /// The parameters.
    pub fn params(&self) -> &BlockParams {
        &self.0
    }
}

impl BlockParams {
    /// Validates: targets in `(0, 1]`, `ρ > 0`, thresholds and gains finite and ≥ 0, energy
    /// in `(0, 1]`, subspace iterations ≥ 1.
    pub fn check(self) -> Result<BlockConfig> {
        check_ratio("rank ratio γ*", self.rank_ratio)?;
        check_ratio("density υ*", self.density)?;
        check_positive("penalty weight ρ", self.rho)?;
        check_nonneg("initial τ_L", self.tau_l)?;
        check_nonneg("initial τ_S", self.tau_s)?;
        if !(self.energy > 0.0 && self.energy <= 1.0) {
            return Err(SalaadError::Parameter {
                name: "effective-rank energy",
                value: self.energy,
                reason: "must lie in (0, 1]",
            });
        }
        let c = &self.controller;
        check_nonneg("controller gain δ_α", c.gain_rank)?;
        check_nonneg("controller gain δ_β", c.gain_density)?;
        check_nonneg("damping gain d_α", c.damping_rank)?;
        check_nonneg("damping gain d_β", c.damping_density)?;
        if let SvdMethod::Subspace { iterations: 0, .. } = self.svd {
            return Err(SalaadError::Parameter {
                name: "subspace iterations",
                value: 0.0,
                reason: "must be ≥ 1",
            });
        }
        Ok(BlockConfig(self))
    }
}

/// What one ADMM update measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateStats {
    /// The update's index (0 for the first).
    pub update: usize,
    /// Effective rank of `L` after the update.
    pub rank: usize,
    /// `γ_L = rank / min(m, n)`.
    pub rank_ratio: f64,
    /// Non-zeros of `S`.
    pub nnz: usize,
    /// `υ_S = nnz / (mn)`.
    pub density: f64,
    /// `τ_L` after the controller.
    pub tau_l: f64,
    /// `τ_S` after the controller.
    pub tau_s: f64,
    /// `‖X − L − S‖_F / ‖X‖_F` after the update (the primal residual).
    pub residual: f64,
}

/// A sparse + low-rank surrogate `L + S` of one `m × n` weight matrix `X`, with the scaled
/// multiplier `Y` and the controller's thresholds.
///
/// The training loss gains `ρ/2·‖X − L − S + Y/ρ‖²_F` ([`SlrBlock::penalty`], gradient
/// [`SlrBlock::penalty_grad`]), and every few optimiser steps [`SlrBlock::update`] runs, in
/// this order: `L ← SVT(X − S + Y/ρ, τ_L)`; the controller on `γ_L`; `S ← soft(X − L + Y/ρ,
/// τ_S)`; the controller on `υ_S`; `Y ← Y + ρ(X − L − S)`.
#[derive(Debug, Clone)]
pub struct SlrBlock {
    cfg: BlockParams,
    l: DMatrix<f64>,
    l_factors: Svd,
    s: DMatrix<f64>,
    y: DMatrix<f64>,
    tau_l: f64,
    tau_s: f64,
    updates: usize,
    last: Option<(f64, f64)>,
    scale: Option<(f64, f64)>,
    tracker: Option<(SubspaceIteration, usize)>,
}

impl SlrBlock {
    /// A block for an `rows × cols` weight with `L = S = Y = 0`.
    pub fn new(rows: usize, cols: usize, cfg: &BlockConfig) -> Result<Self> {
        if rows == 0 || cols == 0 {
            return Err(SalaadError::Empty {
                what: "block shape",
            });
        }
        let p = cfg.0;
        let tracker = match p.svd {
            SvdMethod::Full => None,
            SvdMethod::Subspace {
                oversample,
                min_rank,
                iterations,
            } => Some((
                SubspaceIteration::new(iterations)?,
                min_rank.max(oversample).max(1).min(rows.min(cols)),
            )),
        };
        Ok(Self {
            cfg: p,
            l: DMatrix::zeros(rows, cols),
            l_factors: Svd {
                u: DMatrix::zeros(rows, 0),
                sigma: Vec::new(),
                vt: DMatrix::zeros(0, cols),
            },
            s: DMatrix::zeros(rows, cols),
            y: DMatrix::zeros(rows, cols),
            tau_l: p.tau_l,
            tau_s: p.tau_s,
            updates: 0,
            last: None,
            scale: None,
            tracker,
        })
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        self.l.shape()
    }
    /// The low-rank part `L`.
    pub fn low_rank(&self) -> &DMatrix<f64> {
        &self.l
    }
    /// `L`'s kept singular triplets (shrunk values), for truncation without another SVD.
    pub fn low_rank_factors(&self) -> &Svd {
        &self.l_factors
    }
    /// The sparse part `S`.
    pub fn sparse(&self) -> &DMatrix<f64> {
        &self.s
    }
    /// The multiplier `Y`.
    pub fn multiplier(&self) -> &DMatrix<f64> {
        &self.y
    }
    /// `(τ_L, τ_S)`.
    pub fn thresholds(&self) -> (f64, f64) {
        (self.tau_l, self.tau_s)
    }
    /// `ρ`.
    pub fn rho(&self) -> f64 {
        self.cfg.rho
    }
    /// Updates run so far.
    pub fn updates(&self) -> usize {
        self.updates
    }
    /// `(γ*, υ*)`.
    pub fn targets(&self) -> (f64, f64) {
        (self.cfg.rank_ratio, self.cfg.density)
    }

    /// Changes the targets (both in `(0, 1]`); the controller steers toward them from the
    /// next update.
    pub fn set_targets(&mut self, rank_ratio: f64, density: f64) -> Result<()> {
        check_ratio("rank ratio γ*", rank_ratio)?;
        check_ratio("density υ*", density)?;
        self.cfg.rank_ratio = rank_ratio;
        self.cfg.density = density;
        Ok(())
    }

    /// Starts `L` at the best rank-`r` approximation of `x` (the paper's optional
    /// initialisation), `S = Y = 0`.
    pub fn init_truncated(&mut self, x: &DMatrix<f64>, r: usize) -> Result<()> {
        self.check_x(x)?;
        let svd = Svd::full(x)?;
        let k = r.min(svd.len());
        self.l = svd.truncate(k);
        self.l_factors = Svd {
            u: svd.u.columns(0, k).into_owned(),
            sigma: svd.sigma[..k].to_vec(),
            vt: svd.vt.rows(0, k).into_owned(),
        };
        Ok(())
    }

    fn check_x(&self, x: &DMatrix<f64>) -> Result<()> {
        check_shape("weight X", x, self.l.nrows(), self.l.ncols())?;
        check_matrix("weight X", x)
    }

    /// The anchor `A = L + S − Y/ρ`: the penalty is `ρ/2·‖X − A‖²_F`, so a training loss
    /// that holds `A` as a constant adds it with one subtraction.
    pub fn anchor(&self) -> DMatrix<f64> {
        &self.l + &self.s - &self.y / self.cfg.rho
    }

    /// `ρ/2·‖X − L − S + Y/ρ‖²_F`.
    pub fn penalty(&self, x: &DMatrix<f64>) -> Result<f64> {
        self.check_x(x)?;
        let d = x - self.anchor();
        Ok(0.5 * self.cfg.rho * d.norm_squared())
    }

    /// The penalty's gradient in `X`: `ρ(X − L − S) + Y`.
    pub fn penalty_grad(&self, x: &DMatrix<f64>) -> Result<DMatrix<f64>> {
        self.check_x(x)?;
        Ok((x - &self.l - &self.s) * self.cfg.rho + &self.y)
    }

    /// One ADMM update at the current weight `x` (see the type's docs for the order).
    pub fn update(&mut self, x: &DMatrix<f64>) -> Result<UpdateStats> {
        self.check_x(x)?;
        let rho = self.cfg.rho;
        let (m, n) = x.shape();
        let yr = &self.y / rho;
        // 1. L ← SVT(X − S + Y/ρ, τ_L).
        let target_l = x - &self.s + &yr;
        let svd = self.svd_of(&target_l)?;
        let (scale_l, scale_s) =
            *self
                .scale
                .get_or_insert_with(|| match self.cfg.controller.scale {
                    GainScale::Absolute => (1.0, 1.0),
                    GainScale::Spectrum => {
                        let top = svd.sigma.first().copied().unwrap_or(0.0);
                        let amax = (x + &yr).amax();
                        (
                            if top > 0.0 { top } else { 1.0 },
                            if amax > 0.0 { amax } else { 1.0 },
                        )
                    }
                });
        let floor = RESIDUE * svd.sigma.first().copied().unwrap_or(0.0);
        let Thresholded { l, factors } = svt_from(svd, self.tau_l.max(floor))?;
        if let Some((_, k)) = &mut self.tracker {
            // Track a little more than what survives; grow when everything survived.
            let kept = factors.len();
            let cap = m.min(n);
            let SvdMethod::Subspace {
                oversample,
                min_rank,
                ..
            } = self.cfg.svd
            else {
                unreachable!("a tracker exists only for SvdMethod::Subspace")
            };
            *k = if kept >= *k {
                (2 * *k).min(cap)
            } else {
                (kept + oversample).max(min_rank).clamp(1, cap)
            };
        }
        let rank = effective_rank(&factors.sigma, self.cfg.energy);
        let rank_ratio = rank as f64 / m.min(n) as f64;
        self.l = l;
        self.l_factors = factors;
        // 2. τ_L by the controller.
        let c = self.cfg.controller;
        let damp = self.updates >= c.damping_after;
        let (prev_rank, prev_density) = self.last.unwrap_or((rank_ratio, f64::NAN));
        let rise = if damp {
            (rank_ratio - prev_rank).max(0.0)
        } else {
            0.0
        };
        self.tau_l = (self.tau_l
            + scale_l * (c.gain_rank * (rank_ratio - self.cfg.rank_ratio) + c.damping_rank * rise))
            .clamp(0.0, f64::MAX);
        // 3. S ← soft(X − L + Y/ρ, τ_S). Entries within RESIDUE of the weight's scale are
        // the rounding residue of X − L (at τ = 0, L = X up to rounding), not structure:
        // they are zeroed, so the density never counts rounding noise.
        let tau_s = self.tau_s.max(RESIDUE * x.amax());
        let mut nnz = 0usize;
        self.s = DMatrix::from_fn(m, n, |r, cc| {
            let v = soft_threshold(x[(r, cc)] - self.l[(r, cc)] + yr[(r, cc)], tau_s);
            nnz += usize::from(v != 0.0);
            v
        });
        let density = nnz as f64 / (m * n) as f64;
        // 4. τ_S by the controller.
        let rise = if damp && prev_density.is_finite() {
            (density - prev_density).max(0.0)
        } else {
            0.0
        };
        self.tau_s = (self.tau_s
            + scale_s * (c.gain_density * (density - self.cfg.density) + c.damping_density * rise))
            .clamp(0.0, f64::MAX);
        // 6. Y ← Y + ρ(X − L − S)  (5., a ρ schedule, is fixed here as in the shipped configs).
        let r = x - &self.l - &self.s;
        self.y += &r * rho;
        let xn = x.norm();
        let stats = UpdateStats {
            update: self.updates,
            rank,
            rank_ratio,
            nnz,
            density,
            tau_l: self.tau_l,
            tau_s: self.tau_s,
            residual: if xn > 0.0 { r.norm() / xn } else { r.norm() },
        };
        self.last = Some((rank_ratio, density));
        self.updates += 1;
        Ok(stats)
    }

    fn svd_of(&mut self, m: &DMatrix<f64>) -> Result<Svd> {
        match &mut self.tracker {
            None => Svd::full(m),
            Some((tracker, k)) => tracker.leading(m, *k),
        }
    }
}

impl SlrBlock {
    /// `L` (as triplets) and `S`, for capacity read-outs and deployment.
    pub fn decomposition(&self) -> crate::budget::Decomposition {
        crate::budget::Decomposition {
            factors: self.l_factors.clone(),
            sparse: self.s.clone(),
        }
    }
}
