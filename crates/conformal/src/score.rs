use crate::{ConformalError, Result};

/// Up to this many classes, [`Score::prefix_set`] sorts on the stack.
const SMALL_K: usize = 32;

/// The largest and second-largest probability (0 for the second of a single class).
fn top_two(p: &[f64]) -> (f64, f64) {
    let (mut first, mut second) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for &v in p {
        if v > first {
            second = first;
            first = v;
        } else if v > second {
            second = v;
        }
    }
    (first, if p.len() < 2 { 0.0 } else { second })
}

/// A non-conformity score of a label given a row of class probabilities `p̂`. Larger means the
/// label conforms less. `o(y)` is the 1-based rank of `y` when classes are sorted by decreasing
/// probability (ties by class index) and `U ~ Unif(0, 1)` is drawn once per row.
///
/// Every score here is non-decreasing in `o(y)` for a fixed row and `U`, so a prediction set
/// `{y : s(x, y) ≤ q̂}` is a top-ranked prefix of the classes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Score {
    /// LAC / THR: `1 − p̂_y`.
    Lac,
    /// APS: `Σ_{o(j) < o(y)} p̂_j + U·p̂_y` (randomised) or `+ p̂_y` (not).
    Aps {
        /// Draw `U`; otherwise `U = 1`.
        randomized: bool,
    },
    /// RAPS: APS `+ λ (o(y) − k_reg)⁺`.
    Raps {
        /// Penalty per rank beyond `k_reg`.
        lambda: f64,
        /// Ranks free of penalty.
        k_reg: usize,
        /// Draw `U`; otherwise `U = 1`.
        randomized: bool,
    },
    /// Top-K: `o(y)` (integer scores: ties make coverage conservative).
    TopK,
    /// SAPS: `U·p̂_max` if `o(y) = 1`, else `p̂_max + λ (o(y) − 2 + U)`.
    Saps {
        /// Weight of the rank term.
        lambda: f64,
        /// Draw `U`; otherwise `U = 1`.
        randomized: bool,
    },
    /// Margin: `max_{j≠y} p̂_j − p̂_y`.
    Margin,
}

impl Score {
    /// Short name (`"lac"`, `"aps"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Score::Lac => "lac",
            Score::Aps { .. } => "aps",
            Score::Raps { .. } => "raps",
            Score::TopK => "topk",
            Score::Saps { .. } => "saps",
            Score::Margin => "margin",
        }
    }

    /// Whether the score draws `U`.
    pub fn is_randomized(&self) -> bool {
        matches!(
            self,
            Score::Aps { randomized: true }
                | Score::Raps {
                    randomized: true,
                    ..
                }
                | Score::Saps {
                    randomized: true,
                    ..
                }
        )
    }

    /// Validates the score's parameters (`λ ≥ 0` finite for RAPS, `λ > 0` finite for SAPS).
    pub fn check(&self) -> Result<()> {
        match *self {
            Score::Raps { lambda, .. } if !(lambda.is_finite() && lambda >= 0.0) => {
                Err(ConformalError::Parameter {
                    name: "RAPS lambda",
                    value: lambda,
                    reason: "must be finite and non-negative",
                })
            }
            Score::Saps { lambda, .. } if !(lambda.is_finite() && lambda > 0.0) => {
                Err(ConformalError::Parameter {
                    name: "SAPS lambda",
                    value: lambda,
                    reason: "must be finite and positive",
                })
            }
            _ => Ok(()),
        }
    }

    /// The score of every label of one row: `out[y] = s(x, y)` for draw `u`. `order` is scratch
    /// space (resized as needed).
    pub fn label_scores(&self, p: &[f64], u: f64, order: &mut Vec<usize>, out: &mut [f64]) {
        let k = p.len();
        if let Score::Lac = self {
            for (o, &pj) in out.iter_mut().zip(p) {
                *o = 1.0 - pj;
            }
            return;
        }
        order.clear();
        order.extend(0..k);
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        let pmax = p[order[0]];
        let second = if k > 1 { p[order[1]] } else { 0.0 };
        let mut before = 0.0;
        for (r, &j) in order.iter().enumerate() {
            out[j] = self.ranked(p[j], r, before, pmax, second, u);
            before += p[j];
        }
    }

    /// The score of one label `y` (for calibration): `O(K)`, no sort. Label `j` ranks ahead of
    /// `y` when `p_j > p_y`, or `p_j = p_y` and `j < y`.
    pub fn label_score(&self, p: &[f64], y: usize, u: f64) -> f64 {
        let py = p[y];
        if let Score::Lac = self {
            return 1.0 - py;
        }
        let (pmax, second) = top_two(p);
        let (mut rank, mut before) = (0usize, 0.0);
        for (j, &pj) in p.iter().enumerate() {
            if pj > py || (pj == py && j < y) {
                rank += 1;
                before += pj;
            }
        }
        self.ranked(py, rank, before, pmax, second, u)
    }

    /// Calls `keep(y)` for every label whose score is at most `q`, in rank order, stopping at
    /// the first that exceeds it (every score is non-decreasing in rank). `O(K · set size)`:
    /// prediction sets are usually small, so this beats sorting every row.
    pub fn prefix_set(&self, p: &[f64], u: f64, q: f64, mut keep: impl FnMut(usize)) {
        if let Score::Lac = self {
            for (y, &py) in p.iter().enumerate() {
                if 1.0 - py <= q {
                    keep(y);
                }
            }
            return;
        }
        let k = p.len();
        let (pmax, second) = top_two(p);
        let mut before = 0.0;
        if k > SMALL_K {
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
            for (r, &j) in order.iter().enumerate() {
                if self.ranked(p[j], r, before, pmax, second, u) > q {
                    return;
                }
                keep(j);
                before += p[j];
            }
            return;
        }
        // Few classes: an insertion sort on the stack (strict comparisons keep equal
        // probabilities in index order), then the walk.
        let mut buf = [(0.0f64, 0usize); SMALL_K];
        for (j, &pj) in p.iter().enumerate() {
            let mut at = j;
            while at > 0 && buf[at - 1].0 < pj {
                buf[at] = buf[at - 1];
                at -= 1;
            }
            buf[at] = (pj, j);
        }
        for (r, &(pj, j)) in buf[..k].iter().enumerate() {
            if self.ranked(pj, r, before, pmax, second, u) > q {
                return;
            }
            keep(j);
            before += pj;
        }
    }

    /// The score of a label with probability `py` at 0-based rank `r`, with mass `before`
    /// ranked ahead of it.
    #[inline]
    fn ranked(&self, py: f64, r: usize, before: f64, pmax: f64, second: f64, u: f64) -> f64 {
        let rank = (r + 1) as f64;
        let uu = |randomized: bool| if randomized { u } else { 1.0 };
        match *self {
            Score::Lac => 1.0 - py,
            Score::Aps { randomized } => before + uu(randomized) * py,
            Score::Raps {
                lambda,
                k_reg,
                randomized,
            } => before + uu(randomized) * py + lambda * (rank - k_reg as f64).max(0.0),
            Score::TopK => rank,
            Score::Saps { lambda, randomized } => {
                if r == 0 {
                    uu(randomized) * pmax
                } else {
                    pmax + lambda * (rank - 2.0 + uu(randomized))
                }
            }
            Score::Margin => (if r == 0 { second } else { pmax }) - py,
        }
    }
}
