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
    // Few classes: the rank of every class at once, `rank(j) = #{i ahead of j}` where `i` is
    // ahead of `j` when `p_i > p_j`, or `p_i = p_j` and `i < j` (the order of the sort above
    // for finite rows). The K² comparisons are independent of one another, so they run at the
    // machine's throughput; the lazy selection this replaced (the largest remaining class, one
    // at a time) was a chain of dependent compare-and-selects, ~5 cycles a class per selected
    // class, and APS's walk selects about half the row. Rows are validated (finite), so the
    // ranks are a permutation; a NaN could only repeat a rank (leaving a slot at class 0), never
    // index out of bounds.
    let ranked = if k <= 16 {
        ranks::<16>(p)
    } else {
        ranks::<SMALL_K>(p)
    };
    for (r, &j) in ranked[..k].iter().enumerate() {
        if before > stop_above {
            return;
        }
        let j = usize::from(j);
        if !visit(j, score(r, p[j], before)) {
            return;
        }
        before += p[j];
    }
}

/// The APS score of a class with probability `py`, mass `before` ranked ahead and draw `uu`:
/// the one expression of every route (calibration's walk, prediction's mask).
#[inline(always)]
fn aps(before: f64, uu: f64, py: f64) -> f64 {
    before + uu * py
}

/// Rows of up to this many classes (every score but LAC) get their prediction sets from
/// [`ranked_prefix_mask`].
const NET_K: usize = 16;

/// Puts the larger of `s[a]`, `s[b]` on `a` and the smaller on `b`, without a branch.
#[inline(always)]
fn compare_swap(s: &mut [u64; NET_K], a: usize, b: usize) {
    let (x, y) = (s[a], s[b]);
    s[a] = x.max(y);
    s[b] = x.min(y);
}

/// Applies the comparators listed, in order, spelled out one by one (a loop over a table of
/// them is neither unrolled nor kept in registers).
macro_rules! network {
    ($s:ident; $(($a:literal, $b:literal))*) => {
        $( compare_swap($s, $a, $b); )*
    };
}

/// Sorts 16 keys in decreasing order: Batcher's odd–even merge network (Knuth, TAOCP vol. 3,
/// §5.3.4, Algorithm M), 63 comparators in 10 layers, on integers (a comparator on `f64` keeps
/// NaN semantics or branches, and ran 2–3× slower). A test checks that it sorts all 2¹⁶ inputs
/// of zeros and ones, which by the 0–1 principle makes it a sorting network.
#[inline(always)]
fn sort16_desc(s: &mut [u64; NET_K]) {
    network!(s;
        (0, 1) (2, 3) (4, 5) (6, 7) (8, 9) (10, 11) (12, 13) (14, 15) (0, 2) (1, 3) (4, 6)
        (5, 7) (8, 10) (9, 11) (12, 14) (13, 15) (1, 2) (5, 6) (9, 10) (13, 14) (0, 4) (1, 5)
        (2, 6) (3, 7) (8, 12) (9, 13) (10, 14) (11, 15) (2, 4) (3, 5) (10, 12) (11, 13) (1, 2)
        (3, 4) (5, 6) (9, 10) (11, 12) (13, 14) (0, 8) (1, 9) (2, 10) (3, 11) (4, 12) (5, 13)
        (6, 14) (7, 15) (4, 8) (5, 9) (6, 10) (7, 11) (2, 4) (3, 5) (6, 8) (7, 9) (10, 12)
        (11, 13) (1, 2) (3, 4) (5, 6) (7, 8) (9, 10) (11, 12) (13, 14)
    );
}

/// The order key of a probability: its bits with the sign cleared (`−0.0` becomes `0.0`, the
/// value it ties with). For non-negative finite values the bits ascend with the value, so
/// integer order is probability order and equal keys are equal probabilities.
#[inline(always)]
fn key(v: f64) -> u64 {
    v.to_bits() & !(1 << 63)
}

/// The prediction set `{classes at rank < L}` as a bit mask, for a validated row of at most
/// [`NET_K`] classes, where `L` is the length of the longest rank-order prefix whose scores
/// `score(r, p_(r), before_r)` are all `≤ q`: the set the walk of [`Score::prefix_set`] builds
/// one class at a time, computed without its data-dependent branches.
///
/// The row's keys, padded with zeros, are sorted in decreasing order by [`sort16_desc`], and
/// `before_r` adds the sorted values ahead of rank `r` in rank order — the values the walk adds
/// (and so calibration, [`Score::label_score`]), in the same order, so the same bits: equal
/// probabilities are interchangeable in the sum, and a `−0.0` read back as `0.0` changes no sum
/// or score (the mass ahead starts at `+0.0`). Padding zeros sort among the row's zeros, equal
/// values again. The classes at ranks `< L` are those above the value `t` at rank `L − 1` and,
/// of those equal to it, the lowest indices first: the walk's tie-break. Rows are validated
/// (finite, non-negative); a NaN could only give a wrong set, never a panic.
#[inline(always)]
fn ranked_prefix_mask(p: &[f64], q: f64, score: impl Fn(usize, f64, f64) -> f64) -> Masked {
    let mut sorted: [u64; NET_K] = std::array::from_fn(|i| p.get(i).map_or(0, |&v| key(v)));
    sort16_desc(&mut sorted);
    let (mut before, mut len, mut open) = (0.0, 0usize, true);
    for (r, &kv) in sorted[..p.len()].iter().enumerate() {
        let v = f64::from_bits(kv);
        open &= score(r, v, before) <= q;
        len += usize::from(open);
        before += v;
    }
    let signs = p.iter().fold(0, |acc, v| acc | v.to_bits());
    let Some(&t) = sorted[..len].last() else {
        return Masked {
            mask: 0,
            total: before,
            signs,
        };
    };
    let (mut above, mut equal) = (0u64, 0u64);
    for (j, &pj) in p.iter().enumerate() {
        let kj = key(pj);
        above |= u64::from(kj > t) << j;
        equal |= u64::from(kj == t) << j;
    }
    let mut mask = above;
    for _ in 0..len.saturating_sub(above.count_ones() as usize) {
        mask |= equal & equal.wrapping_neg();
        equal &= equal.wrapping_sub(1);
    }
    Masked {
        mask,
        total: before,
        signs,
    }
}

/// What [`ranked_prefix_mask`] gives: the set, and what the fast check of a row needs (its
/// sum, in rank order, and the OR of its entries' bits), so a row not yet validated is checked
/// in the same pass.
struct Masked {
    mask: u64,
    total: f64,
    signs: u64,
}

impl Masked {
    /// [`scan_row`](crate::probs::scan_row)'s verdict: no sign bit set and the sum within
    /// `tol / 2` of one (a NaN or an infinity fails the sum), so the row is a probability
    /// vector; a row failed goes to the checker.
    fn passes(&self, tol: f64) -> bool {
        self.signs >> 63 == 0 && (self.total - 1.0).abs() <= tol * 0.5
    }
}

/// The classes of a row of at most `N ≤ SMALL_K` entries in rank order (the first `p.len()`
/// slots). Each class's count of classes strictly above it runs over the row padded with `−∞`
/// to `N` entries, a fixed number of lanes with no scalar remainder loop (a pad is never above
/// a class); equal entries share that count and take its consecutive slots in index order, the
/// tie-break of the sort. A NaN (rows are validated, so never) could only misplace classes,
/// never index out of bounds.
#[inline(always)]
fn ranks<const N: usize>(p: &[f64]) -> [u8; SMALL_K] {
    let mut pad = [f64::NEG_INFINITY; N];
    pad[..p.len()].copy_from_slice(p);
    let mut ranked = [0u8; SMALL_K];
    let mut taken = [0u8; SMALL_K];
    for (j, &pj) in p.iter().enumerate() {
        let above = pad.iter().map(|&pi| u64::from(pi > pj)).sum::<u64>() as usize;
        let slot = above + usize::from(taken[above]);
        taken[above] = taken[above].wrapping_add(1);
        if let Some(r) = ranked.get_mut(slot) {
            *r = j as u8;
        }
    }
    ranked
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
    /// go through it, so a label scores the same floating-point value in both (summing the
    /// mass in another order could differ in the last bits and drop a calibration point's own
    /// label at `q̂ = s`). The one exception, prediction sets of rows of up to [`NET_K`]
    /// classes ([`ranked_prefix_mask`]), adds the same values in the same order with the same
    /// score expression; tests compare the two at thresholds equal to every label's score, on
    /// rows with ties and signed zeros. `order` is scratch space for rows of more than
    /// [`SMALL_K`] classes.
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
                    |_, py, before| aps(before, uu, py),
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

    /// Calls `keep(y)` once for every label whose score is at most `q` (the set is a prefix of
    /// the rank order: every score is non-decreasing in rank), in no promised order — ascending
    /// class index for rows of up to 16 classes, whose set is built as a bit mask by a sorting
    /// network without data-dependent branches, rank order beyond. Errors as
    /// [`Self::label_scores`] for the row and `u` (then nothing is kept).
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
        let lac = matches!(self, Score::Lac);
        if let Some(m) = self.prefix_mask(p, u, q) {
            let mut mask = m.mask;
            while mask != 0 {
                keep(mask.trailing_zeros() as usize);
                mask &= mask - 1;
            }
            return;
        }
        let mut order = Vec::new();
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

    /// The prediction set of [`ranked_prefix_mask`] for a row of up to [`NET_K`] classes and
    /// every score but LAC; `None` otherwise.
    #[inline(always)]
    fn prefix_mask(&self, p: &[f64], u: f64, q: f64) -> Option<Masked> {
        if matches!(self, Score::Lac) || p.len() > NET_K {
            return None;
        }
        let (pmax, second) = match self {
            Score::Saps { .. } | Score::Margin => top_two(p),
            _ => (0.0, 0.0),
        };
        Some(match *self {
            Score::Aps { randomized } => {
                let uu = if randomized { u } else { 1.0 };
                ranked_prefix_mask(p, q, |_, py, before| aps(before, uu, py))
            }
            _ => ranked_prefix_mask(p, q, |r, py, before| {
                self.ranked(py, r, before, pmax, second, u)
            }),
        })
    }

    /// On a row not yet validated, of up to [`NET_K`] classes and a score other than LAC: the
    /// prediction set's bit mask and whether the row passed the fast check, from one pass (a
    /// row failed goes to the checker, and the mask is then discarded). `None` for other rows
    /// and scores.
    #[inline]
    pub(crate) fn prefix_mask_scanned(
        &self,
        p: &[f64],
        u: f64,
        q: f64,
        tol: f64,
    ) -> Option<(u64, bool)> {
        self.prefix_mask(p, u, q).map(|m| (m.mask, m.passes(tol)))
    }

    /// The score of a label with probability `py` at 0-based rank `r`, with mass `before`
    /// ranked ahead of it.
    #[inline]
    fn ranked(&self, py: f64, r: usize, before: f64, pmax: f64, second: f64, u: f64) -> f64 {
        let rank = (r + 1) as f64;
        let uu = |randomized: bool| if randomized { u } else { 1.0 };
        match *self {
            Score::Lac => 1.0 - py,
            Score::Aps { randomized } => aps(before, uu(randomized), py),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_sorts_every_input_of_zeros_and_ones() {
        // The 0–1 principle: a comparator network that sorts all 2¹⁶ binary inputs sorts
        // every input. Checked against a count of the ones, not against another sort.
        for bits in 0u32..1 << NET_K {
            let mut s: [u64; NET_K] = std::array::from_fn(|i| u64::from(bits >> i & 1));
            sort16_desc(&mut s);
            let ones = bits.count_ones() as usize;
            assert!(
                s.iter().enumerate().all(|(i, &v)| v == u64::from(i < ones)),
                "input {bits:016b} gave {s:?}"
            );
        }
    }

    #[test]
    fn keys_order_as_probabilities() {
        let vals = [0.0, -0.0, 1e-320, 1e-300, 0.1, 0.5, 0.5000000000000001, 1.0];
        for &a in &vals {
            for &b in &vals {
                assert_eq!(key(a) > key(b), a > b, "{a} vs {b}");
                assert_eq!(key(a) == key(b), a == b, "{a} vs {b}");
            }
        }
    }
}
