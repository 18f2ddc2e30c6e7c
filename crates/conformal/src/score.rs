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

/// The rank-order walk of [`Score::walk`] for a non-empty row: `score(r, p_j, before)` is the
/// score of class `j` at 0-based rank `r` with mass `before` ranked ahead (summed in rank order).
/// The walk ends early, before selecting the next class, once `before > stop_above`: callers
/// pass the threshold for scores never below the mass ahead (APS, RAPS: every later class
/// would score above it and be refused), and `+∞` otherwise.
#[inline(always)]
fn walk_ranked(
    p: &[f64],
    order: &mut Vec<usize>,
    stop_above: f64,
    score: impl Fn(usize, f64, f64) -> f64,
    mut visit: impl FnMut(usize, f64) -> bool,
) {
    let k = p.len();
    let mut before = 0.0;
    if k > SMALL_K {
        order.clear();
        order.extend(0..k);
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        for (r, &j) in order.iter().enumerate() {
            if before > stop_above || !visit(j, score(r, p[j], before)) {
                return;
            }
            before += p[j];
        }
        return;
    }
    // Few classes: select the next-ranked class lazily (the largest remaining, ties to the
    // lowest index — the order of the sort above for finite rows), so a walk that stops after
    // r classes costs O(r·K) rather than a sort of the whole row: prediction sets are small,
    // and calibration stops at the true label.
    // A copy of the row on the stack, each selected entry replaced by −∞ (rows are finite
    // here, so −∞ never wins while a class remains): the argmax loop has no second test, and
    // it selects without a data-dependent branch (a branch on `pj > bp` mispredicts about
    // twice per selected class). Tried and slower on 10 classes: a branch-free rank count of
    // all K² pairs (SSE2 lanes only), removing selected classes by shifting the tail (SSE2
    // intrinsics for a tree maximum would need `unsafe`, which the workspace forbids).
    let mut rest = [f64::NEG_INFINITY; SMALL_K];
    rest[..k].copy_from_slice(p);
    for r in 0..k {
        if before > stop_above {
            return;
        }
        let (mut best, mut bp) = (0, rest[0]);
        for (j, &pj) in rest[..k].iter().enumerate().skip(1) {
            let better = pj > bp;
            best = if better { j } else { best };
            bp = if better { pj } else { bp };
        }
        rest[best] = f64::NEG_INFINITY;
        if !visit(best, score(r, p[best], before)) {
            return;
        }
        before += p[best];
    }
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
    /// Margin: `max_{j≠y} p̂_j − p̂_y` (the max is 0 for a single class).
    Margin,
}

/// A probability row and a draw `u ∈ [0, 1]`, as the public score functions require.
fn check_row(p: &[f64], u: f64) -> Result<()> {
    core_linalg::check_probability_vector(p, crate::probs::row_sum_tolerance(p.len()))
        .map_err(|source| ConformalError::Probabilities { row: 0, source })?;
    if !(0.0..=1.0).contains(&u) {
        return Err(ConformalError::Parameter {
            name: "u",
            value: u,
            reason: "the score's uniform draw must lie in [0, 1]",
        });
    }
    Ok(())
}

/// The largest rank penalty λ [`Score::check`] accepts for RAPS and SAPS.
const MAX_LAMBDA: f64 = 1e300;

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

    /// Validates the score's parameters (`0 ≤ λ ≤ 1e300` for RAPS, `0 < λ ≤ 1e300` for SAPS:
    /// below the bound `λ · rank` stays finite for any number of classes under 10^8).
    pub fn check(&self) -> Result<()> {
        match *self {
            Score::Raps { lambda, .. } if !(0.0..=MAX_LAMBDA).contains(&lambda) => {
                Err(ConformalError::Parameter {
                    name: "RAPS lambda",
                    value: lambda,
                    reason: "must lie in [0, 1e300] (larger overflows λ · rank)",
                })
            }
            Score::Saps { lambda, .. } if !(lambda > 0.0 && lambda <= MAX_LAMBDA) => {
                Err(ConformalError::Parameter {
                    name: "SAPS lambda",
                    value: lambda,
                    reason: "must lie in (0, 1e300] (larger overflows λ · rank)",
                })
            }
            _ => Ok(()),
        }
    }

    /// The one routine behind every score: walks the labels of row `p` in rank order
    /// (decreasing probability, ties by class index), calling `visit(label, score)` with the
    /// mass ranked ahead accumulated in that order, until `visit` returns `false`. Calibration
    /// ([`Self::label_score`]) and prediction ([`Self::prefix_set`], [`Self::label_scores`])
    /// all go through it, so a label scores the same floating-point value in both (summing the
    /// mass in another order could differ in the last bits and drop a calibration point's own
    /// label at `q̂ = s`). `order` is scratch space for rows of more than [`SMALL_K`] classes.
    fn walk(
        &self,
        p: &[f64],
        u: f64,
        order: &mut Vec<usize>,
        stop_above: f64,
        mut visit: impl FnMut(usize, f64) -> bool,
    ) {
        let k = p.len();
        if k == 0 {
            return;
        }
        if let Score::Lac = self {
            for (y, &py) in p.iter().enumerate() {
                if !visit(y, 1.0 - py) {
                    return;
                }
            }
            return;
        }
        // The largest two probabilities: only SAPS and Margin use them (a pass saved otherwise).
        let (pmax, second) = match self {
            Score::Saps { .. } | Score::Margin => top_two(p),
            _ => (0.0, 0.0),
        };
        // APS, the score benchmarked against MAPIE, gets a loop of its own without the match
        // of `ranked` on every class (the same expression, so the same bits).
        match *self {
            Score::Aps { randomized } => {
                let uu = if randomized { u } else { 1.0 };
                walk_ranked(
                    p,
                    order,
                    stop_above,
                    |_, py, before| before + uu * py,
                    visit,
                );
            }
            // RAPS adds a non-negative penalty to the APS score: also never below the mass.
            Score::Raps { .. } => walk_ranked(
                p,
                order,
                stop_above,
                |r, py, before| self.ranked(py, r, before, pmax, second, u),
                visit,
            ),
            _ => walk_ranked(
                p,
                order,
                f64::INFINITY,
                |r, py, before| self.ranked(py, r, before, pmax, second, u),
                visit,
            ),
        }
    }

    /// The score of every label of one row: `out[y] = s(x, y)` for draw `u`. `order` is scratch
    /// space (resized as needed). Errors when `out` and `p` differ in length, when `p` is not a
    /// probability row (finite, in `[0, 1]`, summing to one within
    /// [`row_sum_tolerance`](crate::probs::row_sum_tolerance); other values can overflow the
    /// scores) or `u ∉ [0, 1]`.
    pub fn label_scores(
        &self,
        p: &[f64],
        u: f64,
        order: &mut Vec<usize>,
        out: &mut [f64],
    ) -> Result<()> {
        check_row(p, u)?;
        self.label_scores_unchecked(p, u, order, out)
    }

    /// [`Self::label_scores`] on a row already validated (a [`Probabilities`](crate::Probabilities) row).
    pub(crate) fn label_scores_unchecked(
        &self,
        p: &[f64],
        u: f64,
        order: &mut Vec<usize>,
        out: &mut [f64],
    ) -> Result<()> {
        if out.len() != p.len() {
            return Err(ConformalError::Shape {
                what: "scores of a row",
                expected: p.len(),
                got: out.len(),
            });
        }
        self.walk(p, u, order, f64::INFINITY, |j, s| {
            out[j] = s;
            true
        });
        Ok(())
    }

    /// The score of one label `y` (for calibration), computed by the same walk as prediction
    /// (the mass ranked ahead of `y` summed in rank order). Errors when `y` is not a class of
    /// the row, and as [`Self::label_scores`] for the row and `u`.
    pub fn label_score(&self, p: &[f64], y: usize, u: f64) -> Result<f64> {
        check_row(p, u)?;
        self.label_score_unchecked(p, y, u)
    }

    /// [`Self::label_score`] on a row already validated.
    pub(crate) fn label_score_unchecked(&self, p: &[f64], y: usize, u: f64) -> Result<f64> {
        if y >= p.len() {
            return Err(ConformalError::Label {
                label: y,
                row: 0,
                n_classes: p.len(),
            });
        }
        let mut score = f64::NAN;
        let mut order = Vec::new();
        self.walk(p, u, &mut order, f64::INFINITY, |j, s| {
            if j == y {
                score = s;
                false
            } else {
                true
            }
        });
        Ok(score)
    }

    /// Calls `keep(y)` for every label whose score is at most `q`, in rank order, stopping at
    /// the first that exceeds it (every score is non-decreasing in rank). `O(K · set size)` for
    /// few classes: prediction sets are usually small, so this beats sorting every row. Errors
    /// as [`Self::label_scores`] for the row and `u` (then nothing is kept).
    pub fn prefix_set(&self, p: &[f64], u: f64, q: f64, keep: impl FnMut(usize)) -> Result<()> {
        check_row(p, u)?;
        self.prefix_set_unchecked(p, u, q, keep);
        Ok(())
    }

    /// [`Self::prefix_set`] on a row already validated.
    pub(crate) fn prefix_set_unchecked(
        &self,
        p: &[f64],
        u: f64,
        q: f64,
        mut keep: impl FnMut(usize),
    ) {
        let mut order = Vec::new();
        let lac = matches!(self, Score::Lac);
        // Every class past a mass ahead above q scores above q (APS, RAPS): stop there.
        self.walk(p, u, &mut order, q, |j, s| {
            if s <= q {
                keep(j);
                true
            } else {
                // LAC's labels come in index order, not rank order: test every one.
                lac
            }
        });
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
