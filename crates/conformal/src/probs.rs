//! Validated class-probability matrices.

use crate::{ConformalError, Result};
use core_linalg::{check_probability_vector, softmax_in_place};
use rayon::prelude::*;

/// The smallest tolerance on a row's sum: `1e-6`.
pub const ROW_SUM_TOL: f64 = 1e-6;

/// The tolerance on the sum of a row of `k` probabilities: `max(1e-6, k · ε_f32)`, which admits
/// a softmax computed in `f32` at any number of classes (its `k` roundings of relative size
/// `ε_f32`, about 1.2e-7, add up) — an absolute `1e-6` rejected ordinary f32 rows at
/// `k ≈ 1000`.
pub fn row_sum_tolerance(k: usize) -> f64 {
    ROW_SUM_TOL.max(k as f64 * f64::from(f32::EPSILON))
}

/// A validated matrix of class probabilities: `n` rows (samples) × `k` columns (classes),
/// row-major, every row finite, non-negative and summing to 1 within [`row_sum_tolerance`].
#[derive(Debug, Clone, PartialEq)]
pub struct Probabilities {
    n_classes: usize,
    data: Vec<f64>,
}

impl Probabilities {
    /// From a flat row-major buffer of `n · n_classes` values.
    pub fn from_flat(data: Vec<f64>, n_classes: usize) -> Result<Self> {
        check_flat_shape(data.len(), n_classes)?;
        let tol = row_sum_tolerance(n_classes);
        // In parallel, blocks of rows; the first failing row (in row order) is reported.
        const BLOCK: usize = 4096;
        let bad = data
            .par_chunks(n_classes.saturating_mul(BLOCK))
            .enumerate()
            .find_map_first(|(b, block)| {
                first_bad_row(block, n_classes, tol).map(|(j, e)| (b * BLOCK + j, e))
            });
        if let Some((row, source)) = bad {
            return Err(ConformalError::Probabilities { row, source });
        }
        Ok(Self { n_classes, data })
    }

    /// From rows; errors on ragged rows.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self> {
        let k = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * k);
        for r in rows {
            if r.len() != k {
                return Err(ConformalError::Shape {
                    what: "probability row length",
                    expected: k,
                    got: r.len(),
                });
            }
            data.extend_from_slice(r);
        }
        Self::from_flat(data, k)
    }

    /// The softmax of each row of a flat row-major buffer of logits (stable, log-sum-exp).
    pub fn from_logits(mut logits: Vec<f64>, n_classes: usize) -> Result<Self> {
        if n_classes == 0 {
            return Err(ConformalError::Empty { what: "class set" });
        }
        for (row, r) in logits.chunks_exact_mut(n_classes).enumerate() {
            if let Some(&value) = r.iter().find(|v| !v.is_finite()) {
                return Err(ConformalError::NonFinite {
                    what: "logits",
                    row,
                    value,
                });
            }
            softmax_in_place(r);
        }
        Self::from_flat(logits, n_classes)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len() / self.n_classes
    }

    /// Whether there are no rows (never true for a constructed value).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i ≥ self.len()`, like a slice index.
    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        assert!(
            i < self.len(),
            "Probabilities: row {i} out of range ({} rows)",
            self.len()
        );
        &self.data[i * self.n_classes..(i + 1) * self.n_classes]
    }

    /// The rows listed in `idx`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, idx: &[usize]) -> Self {
        let mut data = Vec::with_capacity(idx.len() * self.n_classes);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Self {
            n_classes: self.n_classes,
            data,
        }
    }

    /// The row-major buffer.
    pub fn as_flat(&self) -> &[f64] {
        &self.data
    }
}

/// The shape of a flat row-major buffer of `len` values over `n_classes` classes: at least one
/// class, at least one row, and whole rows.
pub(crate) fn check_flat_shape(len: usize, n_classes: usize) -> Result<()> {
    if n_classes == 0 {
        return Err(ConformalError::Empty { what: "class set" });
    }
    if len == 0 {
        return Err(ConformalError::Empty {
            what: "probability matrix",
        });
    }
    if !len.is_multiple_of(n_classes) {
        return Err(ConformalError::Shape {
            what: "probability buffer length vs a multiple of the number of classes",
            expected: (len / n_classes + 1) * n_classes,
            got: len,
        });
    }
    Ok(())
}

/// The fast check of one row, in one branch-free pass that also hands each entry to `visit`
/// (so a caller can compute with the row while it checks it): true when no entry has its sign
/// bit set and the sum, in two lanes (a sequential sum is latency-bound), is within `tol / 2`
/// of one. A NaN or an infinite entry makes the sum NaN or infinite and fails the sum test, so
/// every row passed is finite, non-negative and sums to one within `tol` — a probability vector
/// for the checker. A row failed may still be one (a `−0.0`, or a sum between `tol / 2` and
/// `tol` from one) and goes on to the checker for the verdict and the error.
#[inline(always)]
pub(crate) fn scan_row(r: &[f64], tol: f64, mut visit: impl FnMut(usize, f64)) -> bool {
    let (mut even, mut odd, mut signs) = (0.0f64, 0.0f64, 0u64);
    let mut pairs = r.chunks_exact(2);
    for (h, q) in (&mut pairs).enumerate() {
        let (a, b) = (q[0], q[1]);
        visit(2 * h, a);
        visit(2 * h + 1, b);
        signs |= a.to_bits() | b.to_bits();
        even += a;
        odd += b;
    }
    if let [x] = *pairs.remainder() {
        visit(r.len() - 1, x);
        signs |= x.to_bits();
        even += x;
    }
    signs >> 63 == 0 && ((even + odd) - 1.0).abs() <= tol * 0.5
}

/// The checker's error for a row that failed [`scan_row`], or `None` when it is a probability
/// vector after all.
pub(crate) fn row_error(r: &[f64], tol: f64) -> Option<core_linalg::LinalgError> {
    check_probability_vector(r, tol).err()
}

/// The first row of `block` (rows of `k` values) that is not a probability vector within `tol`,
/// with its index in the block and the checker's error. `None` when every row is one.
pub(crate) fn first_bad_row(
    block: &[f64],
    k: usize,
    tol: f64,
) -> Option<(usize, core_linalg::LinalgError)> {
    block.chunks_exact(k).enumerate().find_map(|(j, r)| {
        if scan_row(r, tol, |_, _| {}) {
            return None;
        }
        row_error(r, tol).map(|e| (j, e))
    })
}

/// An element type for raw probability buffers: `f64`, or `f32` (storage only — each value is
/// widened to `f64`, exactly, before it is validated or scored, so an `f32` buffer gives the
/// sets its `f64` widening would). Sealed.
pub trait ProbElement: Copy + Send + Sync + sealed::Sealed {
    /// The rows of `chunk` as `f64`: the chunk itself for `f64`, else widened into `buf`.
    #[doc(hidden)]
    fn widen<'a>(chunk: &'a [Self], buf: &'a mut Vec<f64>) -> &'a [f64];
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl ProbElement for f64 {
    #[inline]
    fn widen<'a>(chunk: &'a [f64], _: &'a mut Vec<f64>) -> &'a [f64] {
        chunk
    }
}

impl ProbElement for f32 {
    #[inline]
    fn widen<'a>(chunk: &'a [f32], buf: &'a mut Vec<f64>) -> &'a [f64] {
        buf.clear();
        buf.extend(chunk.iter().map(|&x| f64::from(x)));
        buf
    }
}

/// Checks labels against a probability matrix: same length, each below the class count.
pub(crate) fn check_labels(probs: &Probabilities, labels: &[usize]) -> Result<()> {
    if labels.len() != probs.len() {
        return Err(ConformalError::Shape {
            what: "labels vs probability rows",
            expected: probs.len(),
            got: labels.len(),
        });
    }
    if let Some((row, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &y)| y >= probs.n_classes())
    {
        return Err(ConformalError::Label {
            row,
            label,
            n_classes: probs.n_classes(),
        });
    }
    Ok(())
}
