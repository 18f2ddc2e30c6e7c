//! From one trained sparse + low-rank model to any parameter budget: per-block capacities,
//! the allocation that scales every block by one ratio (spilling between `L` and `S`),
//! deployment as dense or factored weights, and memory accounting.

use crate::error::{check_finite, check_matrix, Result, SalaadError};
use crate::prox::{effective_rank, top_magnitude};
use crate::svd::Svd;
use nalgebra::DMatrix;

/// A block's sparse + low-rank decomposition: `L` as singular triplets and `S` dense with
/// zeros. Made by [`crate::SlrBlock::decomposition`] or the baselines.
#[derive(Debug, Clone)]
pub struct Decomposition {
    /// `L`'s triplets, non-increasing singular values.
    pub factors: Svd,
    /// The sparse part.
    pub sparse: DMatrix<f64>,
}

impl Decomposition {
    /// Checks that the factors and the sparse part agree in shape and are finite.
    pub fn new(factors: Svd, sparse: DMatrix<f64>) -> Result<Self> {
        check_matrix("sparse part S", &sparse)?;
        let (m, n) = sparse.shape();
        let k = factors.sigma.len();
        if factors.u.shape() != (m, k) || factors.vt.shape() != (k, n) {
            return Err(SalaadError::Shape {
                what: "low-rank factors U, Vᵀ against S",
                expected: format!("{m}×{k} and {k}×{n}"),
                got: format!(
                    "{}×{} and {}×{}",
                    factors.u.nrows(),
                    factors.u.ncols(),
                    factors.vt.nrows(),
                    factors.vt.ncols()
                ),
            });
        }
        check_finite("singular values", &factors.sigma)?;
        check_finite("U", factors.u.as_slice())?;
        check_finite("Vᵀ", factors.vt.as_slice())?;
        Ok(Self { factors, sparse })
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        self.sparse.shape()
    }

    /// The block's capacity: the effective rank of `L` at `energy` and the non-zeros of `S`.
    pub fn capacity(&self, energy: f64) -> BlockCapacity {
        let (rows, cols) = self.shape();
        BlockCapacity {
            rows,
            cols,
            rank: effective_rank(&self.factors.sigma, energy),
            nnz: self.sparse.iter().filter(|&&v| v != 0.0).count(),
        }
    }

    /// `trunc_rank(L) + topmag_nnz(S)` as a dense matrix (the architecture unchanged).
    pub fn deploy_dense(&self, rank: usize, nnz: usize) -> DMatrix<f64> {
        self.factors.truncate(rank) + top_magnitude(&self.sparse, nnz)
    }

    /// The same weight in factored form: `A·B` with `A = U_r·diag(σ_r)` (`m × r`),
    /// `B = V_rᵀ` (`r × n`), plus `S` in compressed sparse rows.
    pub fn deploy_factored(&self, rank: usize, nnz: usize) -> FactoredWeight {
        let (m, n) = self.shape();
        let r = rank.min(self.factors.len());
        let mut a = self.factors.u.columns(0, r).into_owned();
        for c in 0..r {
            a.column_mut(c).scale_mut(self.factors.sigma[c]);
        }
        let b = self.factors.vt.rows(0, r).into_owned();
        let pruned = top_magnitude(&self.sparse, nnz);
        let mut row_ptr = Vec::with_capacity(m + 1);
        let (mut col_idx, mut values) = (Vec::new(), Vec::new());
        row_ptr.push(0u32);
        for i in 0..m {
            for j in 0..n {
                let v = pruned[(i, j)];
                if v != 0.0 {
                    col_idx.push(j as u32);
                    values.push(v);
                }
            }
            row_ptr.push(values.len() as u32);
        }
        FactoredWeight {
            a,
            b,
            row_ptr,
            col_idx,
            values,
            cols: n,
        }
    }
}

/// A deployed block `A·B + S` with `S` in compressed sparse rows.
#[derive(Debug, Clone, PartialEq)]
pub struct FactoredWeight {
    /// `U_r·diag(σ_r)`, `m × r`.
    pub a: DMatrix<f64>,
    /// `V_rᵀ`, `r × n`.
    pub b: DMatrix<f64>,
    /// CSR row pointers of `S` (`m + 1`).
    pub row_ptr: Vec<u32>,
    /// CSR column indices of `S`.
    pub col_idx: Vec<u32>,
    /// CSR values of `S`.
    pub values: Vec<f64>,
    cols: usize,
}

impl FactoredWeight {
    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.a.nrows(), self.cols)
    }
    /// The rank of the low-rank factor.
    pub fn rank(&self) -> usize {
        self.a.ncols()
    }
    /// Non-zeros of `S`.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }
    /// The dense weight `A·B + S`.
    pub fn to_dense(&self) -> DMatrix<f64> {
        let mut w = &self.a * &self.b;
        for i in 0..self.a.nrows() {
            for p in self.row_ptr[i] as usize..self.row_ptr[i + 1] as usize {
                w[(i, self.col_idx[p] as usize)] += self.values[p];
            }
        }
        w
    }
    /// `W·x` without forming `W`: `A(Bx) + Sx`, `O(r(m + n) + nnz)`.
    pub fn apply(&self, x: &[f64]) -> Result<Vec<f64>> {
        if x.len() != self.cols {
            return Err(SalaadError::Shape {
                what: "vector multiplied by the factored weight",
                expected: self.cols.to_string(),
                got: x.len().to_string(),
            });
        }
        check_finite("vector multiplied by the factored weight", x)?;
        let xv = nalgebra::DVector::from_column_slice(x);
        let mut y = &self.a * (&self.b * xv);
        for i in 0..self.a.nrows() {
            for p in self.row_ptr[i] as usize..self.row_ptr[i + 1] as usize {
                y[i] += self.values[p] * x[self.col_idx[p] as usize];
            }
        }
        Ok(y.as_slice().to_vec())
    }
    /// Bytes of this form at deployment precision (see [`factored_bytes`]).
    pub fn bytes(&self, format: SparseFormat) -> usize {
        let (m, n) = self.shape();
        factored_bytes(m, n, self.rank(), self.nnz(), format)
    }
}

/// The index layout of the sparse part, for memory accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparseFormat {
    /// Compressed sparse rows: one int32 column index per non-zero plus `m + 1` int32 row
    /// pointers.
    Csr,
    /// Coordinates: two int32 indices per non-zero.
    Coo,
}

/// Bytes of a dense `m × n` weight in bf16: `2mn` (saturating at `usize::MAX`).
pub fn dense_bytes(rows: usize, cols: usize) -> usize {
    rows.saturating_mul(cols).saturating_mul(2)
}

/// Bytes of the factored form in bf16 values and int32 indices: `2r(m + n)` for the factors
/// plus `nnz·(2 + 4)` and `4(m + 1)` row pointers (CSR) or `nnz·(2 + 8)` (COO). The notes'
/// `nnz·(2 + 4f)` is this without the row pointers. Saturates at `usize::MAX`.
pub fn factored_bytes(
    rows: usize,
    cols: usize,
    rank: usize,
    nnz: usize,
    format: SparseFormat,
) -> usize {
    // Saturating: sizes past usize give usize::MAX rather than a wrapped count.
    let factors = rank
        .saturating_mul(rows.saturating_add(cols))
        .saturating_mul(2);
    match format {
        SparseFormat::Csr => factors
            .saturating_add(nnz.saturating_mul(6))
            .saturating_add(rows.saturating_add(1).saturating_mul(4)),
        SparseFormat::Coo => factors.saturating_add(nnz.saturating_mul(10)),
    }
}

/// One block's size and what its decomposition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCapacity {
    /// Rows `m`.
    pub rows: usize,
    /// Columns `n`.
    pub cols: usize,
    /// The effective rank of `L`.
    pub rank: usize,
    /// The non-zeros of `S`.
    pub nnz: usize,
}

impl BlockCapacity {
    /// Parameters of the factored form: `rank·(m + n) + nnz` (saturating at `usize::MAX`).
    pub fn params(&self) -> usize {
        self.rank
            .saturating_mul(self.rows.saturating_add(self.cols))
            .saturating_add(self.nnz)
    }
}

/// A budget split over blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// `(rank, nnz)` per block, in the order given.
    pub blocks: Vec<(usize, usize)>,
    /// The parameters of the allocation including the uncompressed rest.
    pub params: usize,
    /// The full model's parameters (`rest + Σ capacity`).
    pub full: usize,
}

/// Splits a parameter budget `target` over the blocks (after the paper's homomorphic
/// allocation): the cut `D = P_full − target` goes `share` to `L` and the rest to `S`, a part
/// that runs out spilling into the other; every block keeps the same fraction of its rank
/// (`1 − D_L/P_L`) and of its non-zeros (`1 − D_S/P_S`), rounded down; what the rounding
/// frees is given back as non-zeros, block by block in order. `rest` counts the parameters
/// that are never compressed. A target at or above the full size keeps everything; a
/// capacity beyond its block's shape, or totals past `usize`, are errors.
pub fn allocate(
    blocks: &[BlockCapacity],
    rest: usize,
    target: f64,
    share: f64,
) -> Result<Allocation> {
    if blocks.is_empty() {
        return Err(SalaadError::Empty {
            what: "blocks to allocate",
        });
    }
    if !(0.0..=1.0).contains(&share) {
        return Err(SalaadError::Parameter {
            name: "low-rank share of the cut",
            value: share,
            reason: "must lie in [0, 1]",
        });
    }
    let overflow = SalaadError::Parameter {
        name: "total parameters",
        value: f64::INFINITY,
        reason: "overflow usize",
    };
    let (mut p_l, mut p_s) = (0usize, 0usize);
    for (i, b) in blocks.iter().enumerate() {
        let cells = b.rows.checked_mul(b.cols).ok_or(overflow.clone())?;
        if b.rank > b.rows.min(b.cols) || b.nnz > cells {
            return Err(SalaadError::Shape {
                what: "block capacity (rank ≤ min(m, n), nnz ≤ mn)",
                expected: format!("block {i}: rank ≤ {}, nnz ≤ {cells}", b.rows.min(b.cols)),
                got: format!("rank {}, nnz {}", b.rank, b.nnz),
            });
        }
        let l = b
            .rank
            .checked_mul(b.rows.checked_add(b.cols).ok_or(overflow.clone())?)
            .ok_or(overflow.clone())?;
        p_l = p_l.checked_add(l).ok_or(overflow.clone())?;
        p_s = p_s.checked_add(b.nnz).ok_or(overflow.clone())?;
    }
    let full = rest
        .checked_add(p_l)
        .and_then(|v| v.checked_add(p_s))
        .ok_or(overflow)?;
    if !target.is_finite() || target < rest as f64 {
        return Err(SalaadError::Target {
            name: "parameter budget",
            value: target,
            reason: "must be finite and at least the uncompressed parameters",
        });
    }
    if target >= full as f64 {
        return Ok(Allocation {
            blocks: blocks.iter().map(|b| (b.rank, b.nnz)).collect(),
            params: full,
            full,
        });
    }
    let cut = full as f64 - target;
    let (mut d_l, mut d_s) = (share * cut, (1.0 - share) * cut);
    if d_l > p_l as f64 {
        d_s += d_l - p_l as f64;
        d_l = p_l as f64;
    }
    if d_s > p_s as f64 {
        d_l = (d_l + d_s - p_s as f64).min(p_l as f64);
        d_s = p_s as f64;
    }
    let keep_l = if p_l > 0 { 1.0 - d_l / p_l as f64 } else { 0.0 };
    let keep_s = if p_s > 0 { 1.0 - d_s / p_s as f64 } else { 0.0 };
    let mut out: Vec<(usize, usize)> = blocks
        .iter()
        .map(|b| {
            (
                ((b.rank as f64 * keep_l).floor() as usize).min(b.rank),
                ((b.nnz as f64 * keep_s).floor() as usize).min(b.nnz),
            )
        })
        .collect();
    let used = |o: &[(usize, usize)]| -> usize {
        rest + o
            .iter()
            .zip(blocks)
            .map(|(&(r, z), b)| r * (b.rows + b.cols) + z)
            .sum::<usize>()
    };
    let mut left = (target.floor() as usize).saturating_sub(used(&out));
    for (o, b) in out.iter_mut().zip(blocks) {
        let add = left.min(b.nnz - o.1);
        o.1 += add;
        left -= add;
    }
    let params = used(&out);
    Ok(Allocation {
        blocks: out,
        params,
        full,
    })
}
