//! SALAAD on a candle model (feature `candle`): a sparse + low-rank block on each selected
//! weight, the penalty for the training loss, the ADMM update as an after-step hook of
//! core-ml's [`Trainer`](core_ml::trainer::Trainer), and deployment of the blocks at a
//! budget back into the model's weights.

use crate::budget::{Allocation, BlockCapacity, Decomposition};
use crate::{BlockConfig, Result, SalaadError, SlrBlock, UpdateStats};
use candle_core::{DType, Tensor, Var};
use nalgebra::DMatrix;
use rayon::prelude::*;

fn model_err(e: candle_core::Error) -> SalaadError {
    SalaadError::Model(e.to_string())
}

/// A weight as an f64 matrix (`[rows, cols]` row-major in candle, column-major here).
pub fn var_matrix(var: &Var) -> Result<DMatrix<f64>> {
    let (r, c) = var.dims2().map_err(model_err)?;
    let rows: Vec<Vec<f32>> = var
        .as_tensor()
        .to_dtype(DType::F32)
        .and_then(|t| t.to_vec2::<f32>())
        .map_err(model_err)?;
    Ok(DMatrix::from_fn(r, c, |i, j| f64::from(rows[i][j])))
}

/// An f64 matrix as a tensor of `dtype` on `like`'s device.
pub fn matrix_tensor(m: &DMatrix<f64>, like: &Tensor) -> Result<Tensor> {
    let (r, c) = m.shape();
    let data: Vec<f32> = (0..r)
        .flat_map(|i| (0..c).map(move |j| (i, j)))
        .map(|(i, j)| m[(i, j)] as f32)
        .collect();
    Tensor::from_vec(data, (r, c), like.device())
        .and_then(|t| t.to_dtype(like.dtype()))
        .map_err(model_err)
}

struct Entry {
    name: String,
    var: Var,
    block: SlrBlock,
    anchor: Tensor,
}

/// The blocks of one model: one [`SlrBlock`] per selected weight.
pub struct SlrModel {
    entries: Vec<Entry>,
    rho: f64,
}

impl std::fmt::Debug for SlrModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlrModel")
            .field("blocks", &self.entries.len())
            .field("rho", &self.rho)
            .finish()
    }
}

impl SlrModel {
    /// Attaches a block with configuration `cfg` to each named rank-2 weight (for a
    /// `TransformerLm`, [`core_ml::models::linear_weights`]). `L = S = Y = 0`, so until the
    /// first update the penalty is `ρ/2·‖X‖²`, as in the paper.
    pub fn attach(weights: Vec<(String, Var)>, cfg: &BlockConfig) -> Result<Self> {
        if weights.is_empty() {
            return Err(SalaadError::Empty {
                what: "weights to attach blocks to",
            });
        }
        let mut entries = Vec::with_capacity(weights.len());
        for (name, var) in weights {
            let (r, c) = var.dims2().map_err(model_err)?;
            let block = SlrBlock::new(r, c, cfg)?;
            let anchor = var.as_tensor().zeros_like().map_err(model_err)?;
            entries.push(Entry {
                name,
                var,
                block,
                anchor,
            });
        }
        Ok(Self {
            entries,
            rho: cfg.params().rho,
        })
    }

    /// `Σ ρ/2·‖X − A‖²` over the blocks, a differentiable scalar for the training loss (the
    /// anchors `A = L + S − Y/ρ` are constants between updates).
    pub fn penalty(&self) -> Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for e in &self.entries {
            let d = e
                .var
                .as_tensor()
                .sub(&e.anchor)
                .and_then(|d| d.sqr())
                .and_then(|d| d.sum_all())
                .map_err(model_err)?;
            total = Some(match total {
                None => d,
                Some(t) => t.add(&d).map_err(model_err)?,
            });
        }
        total
            .ok_or(SalaadError::Empty { what: "blocks" })?
            .affine(0.5 * self.rho, 0.0)
            .map_err(model_err)
    }

    /// One ADMM update of every block at the model's current weights (in parallel across
    /// blocks; each block's work is sequential, so the result does not depend on the thread
    /// count), then the anchors are refreshed. Returns each block's statistics, in order.
    pub fn update(&mut self) -> Result<Vec<UpdateStats>> {
        self.entries
            .par_iter_mut()
            .map(|e| {
                let x = var_matrix(&e.var)?;
                let st = e.block.update(&x)?;
                e.anchor = matrix_tensor(&e.block.anchor(), e.var.as_tensor())?;
                Ok(st)
            })
            .collect()
    }

    /// The blocks' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// The blocks, in order.
    pub fn blocks(&self) -> impl Iterator<Item = &SlrBlock> {
        self.entries.iter().map(|e| &e.block)
    }

    /// Each block's `L` and `S`.
    pub fn decompositions(&self) -> Vec<Decomposition> {
        self.entries
            .iter()
            .map(|e| e.block.decomposition())
            .collect()
    }

    /// Each block's capacity at `energy`.
    pub fn capacities(&self, energy: f64) -> Vec<BlockCapacity> {
        self.entries
            .iter()
            .map(|e| e.block.decomposition().capacity(energy))
            .collect()
    }

    /// The weights themselves (`X`), by name, as f64 matrices.
    pub fn weights(&self) -> Result<Vec<(String, DMatrix<f64>)>> {
        self.entries
            .iter()
            .map(|e| Ok((e.name.clone(), var_matrix(&e.var)?)))
            .collect()
    }
}

/// Writes `decompositions[i]` deployed at `allocation.blocks[i]` into `vars[i]` (dense, the
/// architecture unchanged). Returns the previous values, for [`restore`].
pub fn deploy_into(
    vars: &[(String, Var)],
    decompositions: &[Decomposition],
    allocation: &Allocation,
) -> Result<Vec<Tensor>> {
    if vars.len() != decompositions.len() || vars.len() != allocation.blocks.len() {
        return Err(SalaadError::Shape {
            what: "weights, decompositions and allocation",
            expected: vars.len().to_string(),
            got: format!("{} and {}", decompositions.len(), allocation.blocks.len()),
        });
    }
    let mut saved = Vec::with_capacity(vars.len());
    for (((_, var), d), &(rank, nnz)) in vars.iter().zip(decompositions).zip(&allocation.blocks) {
        let w = d.deploy_dense(rank, nnz);
        let t = matrix_tensor(&w, var.as_tensor())?;
        if t.dims() != var.dims() {
            return Err(SalaadError::Shape {
                what: "deployed weight",
                expected: format!("{:?}", var.dims()),
                got: format!("{:?}", t.dims()),
            });
        }
        saved.push(var.as_tensor().copy().map_err(model_err)?);
        var.set(&t).map_err(model_err)?;
    }
    Ok(saved)
}

/// Puts back the values [`deploy_into`] returned.
pub fn restore(vars: &[(String, Var)], saved: &[Tensor]) -> Result<()> {
    for ((_, var), t) in vars.iter().zip(saved) {
        var.set(t).map_err(model_err)?;
    }
    Ok(())
}
