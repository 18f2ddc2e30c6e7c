//! Margins, beside the shared calibration metrics of `core-ml` (re-exported here).

use crate::{PenexError, Result};

#[cfg(feature = "candle")]
pub use core_ml::metrics::{accuracy, brier, ece, nll, top_class_share};

fn check(rows: usize, labels: &[usize]) -> Result<()> {
    if rows == 0 {
        return Err(PenexError::Empty { what: "rows" });
    }
    if labels.len() != rows {
        return Err(PenexError::Shape {
            what: "labels vs rows",
            expected: rows,
            got: labels.len(),
        });
    }
    Ok(())
}

/// The margin of each row, `scale · (f_y − max_{j≠y} f_j)` on logits `f` (PENEX's code uses
/// `scale = 1 + α`, the inference logits `f̃`). Errors on ragged or non-finite rows, labels out
/// of range, fewer than two classes, or a scale that is not finite and positive. A margin is
/// `±∞` where `scale · (f_y − max f_j)` leaves the f64 range (logits near ±f64::MAX).
pub fn logit_margins(logits: &[Vec<f64>], labels: &[usize], scale: f64) -> Result<Vec<f64>> {
    check(logits.len(), labels)?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(PenexError::Parameter {
            name: "scale",
            value: scale,
            reason: "a margin scale must be finite and positive",
        });
    }
    logits
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(row, (f, &y))| {
            if f.len() < 2 {
                return Err(PenexError::Shape {
                    what: "classes (margins need two)",
                    expected: 2,
                    got: f.len(),
                });
            }
            if y >= f.len() {
                return Err(PenexError::Label {
                    row,
                    label: y,
                    n_classes: f.len(),
                });
            }
            if let Some(class) = f.iter().position(|v| !v.is_finite()) {
                return Err(PenexError::NonFinite {
                    row,
                    class,
                    value: f[class],
                });
            }
            let other = f
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != y)
                .map(|(_, &v)| v)
                .fold(f64::NEG_INFINITY, f64::max);
            Ok(scale * (f[y] - other))
        })
        .collect()
}

/// The probability margin `p_y − max_{j≠y} p_j ∈ [−1, 1]` of each row.
pub fn probability_margins(probs: &[Vec<f64>], labels: &[usize]) -> Result<Vec<f64>> {
    logit_margins(probs, labels, 1.0)
}
