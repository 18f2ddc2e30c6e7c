use crate::error::check_alpha;
use crate::probs::{
    check_flat_shape, check_labels, row_error, row_sum_tolerance, scan_row, ProbElement,
};
use crate::theory::pac_rank;
use crate::{ConformalError, PredictionSets, Probabilities, Result, Score};
use core_linalg::{conformal_rank, kth_smallest, stream_rng};
use rand::RngExt;
use rayon::prelude::*;

/// Rows per independent random stream: the draws of row `i` come from stream `i / CHUNK` of the
/// caller's seed, so results do not depend on the number of threads.
const CHUNK: usize = 1024;

/// Which order statistic of the calibration scores becomes the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rank {
    /// The standard `⌈(n + 1)(1 − α)⌉`-th smallest: marginal coverage `≥ 1 − α` on average over
    /// calibration draws.
    Marginal,
    /// The PAC rank of [`pac_rank`]: coverage `≥ 1 − α` with probability `≥ 1 − δ` over
    /// calibration draws.
    Pac {
        /// The allowed failure probability.
        delta: f64,
    },
}

/// Hyper-parameters of split conformal classification, with documented defaults; setters never
/// fail and [`check`](Self::check) validates them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConformalParams {
    /// The non-conformity score.
    pub score: Score,
    /// The miscoverage level `α`.
    pub alpha: f64,
    /// The threshold rule (default [`Rank::Marginal`]).
    pub rank: Rank,
    /// Class-conditional (Mondrian) calibration: one threshold per class from the calibration
    /// points of that class (default false).
    pub mondrian: bool,
    /// Adds `U′ · jitter` (`U′ ~ Unif(0, 1)` per row) to every score of a row, breaking ties
    /// between rows at random so that the finite-sample law is exact (default 0: off).
    pub jitter: f64,
}

impl ConformalParams {
    /// Marginal calibration of `score` at level `alpha`, no jitter.
    pub fn new(score: Score, alpha: f64) -> Self {
        Self {
            score,
            alpha,
            rank: Rank::Marginal,
            mondrian: false,
            jitter: 0.0,
        }
    }

    /// Sets the threshold rule.
    pub fn rank(mut self, rank: Rank) -> Self {
        self.rank = rank;
        self
    }

    /// Turns class-conditional calibration on or off.
    pub fn mondrian(mut self, on: bool) -> Self {
        self.mondrian = on;
        self
    }

    /// Sets the tie-breaking jitter.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Validates: `α ∈ (0, 1)`, the score's parameters, `δ ∈ (0, 1)`, `jitter ≥ 0` finite.
    pub fn check(&self) -> Result<ValidConformalParams> {
        check_alpha(self.alpha)?;
        self.score.check()?;
        if let Rank::Pac { delta } = self.rank {
            if !(delta > 0.0 && delta < 1.0) {
                return Err(ConformalError::Parameter {
                    name: "delta",
                    value: delta,
                    reason: "the failure probability must lie in (0, 1)",
                });
            }
        }
        if !(self.jitter.is_finite() && self.jitter >= 0.0) {
            return Err(ConformalError::Parameter {
                name: "jitter",
                value: self.jitter,
                reason: "must be finite and non-negative",
            });
        }
        Ok(ValidConformalParams(*self))
    }
}

/// Validated parameters; only [`ConformalParams::check`] makes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidConformalParams(ConformalParams);

impl ValidConformalParams {
    /// The parameters.
    pub fn get(&self) -> &ConformalParams {
        &self.0
    }
}

/// Scratch space of one worker.
struct Scratch {
    order: Vec<usize>,
    scores: Vec<f64>,
}

impl Scratch {
    /// Every label's score of row `p` into `self.scores`; false if the row is malformed (it
    /// cannot be: rows are validated).
    fn score_all(&mut self, score: Score, p: &[f64], u: f64) -> bool {
        self.scores.resize(p.len(), 0.0);
        score
            .label_scores_unchecked(p, u, &mut self.order, &mut self.scores)
            .is_ok()
    }
}

/// What to do with one row, given its draws `u` (randomised scores) and `v` (jitter).
trait RowFn: Sync {
    type Out: Send + Default;
    fn call(&self, i: usize, p: &[f64], u: f64, v: f64, s: &mut Scratch, out: &mut [Self::Out]);

    /// [`call`](Self::call) on a row not yet validated, checking it in the same pass where the
    /// work allows (the row is in L1 either way): returns [`scan_row`]'s verdict, and the caller
    /// sends a failed row to the checker (the output is then rewritten or discarded).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn call_scanned(
        &self,
        i: usize,
        p: &[f64],
        u: f64,
        v: f64,
        tol: f64,
        s: &mut Scratch,
        out: &mut [Self::Out],
    ) -> bool {
        scan_then_call(self, i, p, u, v, tol, s, out)
    }
}

/// The rows a pass reads: a validated matrix (`validate: false`), or a raw buffer, of `f64` or
/// `f32`, validated chunk by chunk as it is read (while the chunk is in cache: one pass over
/// memory instead of two).
struct Rows<'a, T> {
    data: &'a [T],
    k: usize,
    validate: bool,
}

impl<'a> Rows<'a, f64> {
    fn of(probs: &'a Probabilities) -> Self {
        Rows {
            data: probs.as_flat(),
            k: probs.n_classes(),
            validate: false,
        }
    }
}

/// The default [`RowFn::call_scanned`]: the fast check, then the call.
#[inline]
#[allow(clippy::too_many_arguments)]
fn scan_then_call<F: RowFn + ?Sized>(
    f: &F,
    i: usize,
    p: &[f64],
    u: f64,
    v: f64,
    tol: f64,
    s: &mut Scratch,
    out: &mut [F::Out],
) -> bool {
    if !scan_row(p, tol, |_, _| {}) {
        return false;
    }
    f.call(i, p, u, v, s, out);
    true
}

/// Runs `f` on every row, in parallel chunks of [`CHUNK`] rows with one random stream per chunk;
/// `out` holds `per_row` values per row. Returns the first row (in row order) that fails
/// validation, with the checker's error (then the output is incomplete).
fn for_each_row<F: RowFn, T: ProbElement>(
    params: &ConformalParams,
    rows: Rows<'_, T>,
    seed: u64,
    out: &mut [F::Out],
    per_row: usize,
    f: &F,
) -> Option<(usize, core_linalg::LinalgError)> {
    let k = rows.k;
    let tol = row_sum_tolerance(k);
    let (draw_u, draw_v) = (params.score.is_randomized(), params.jitter > 0.0);
    out.par_chunks_mut(CHUNK * per_row)
        .zip(rows.data.par_chunks(CHUNK * k))
        .enumerate()
        .find_map_first(|(c, (chunk, raw))| {
            let mut wide = Vec::new();
            let block = T::widen(raw, &mut wide);
            let mut rng = stream_rng(seed, c as u64);
            let mut scratch = Scratch {
                order: Vec::with_capacity(k),
                scores: vec![0.0; k],
            };
            for (j, (slot, p)) in chunk
                .chunks_mut(per_row)
                .zip(block.chunks_exact(k))
                .enumerate()
            {
                let u = if draw_u { rng.random::<f64>() } else { 1.0 };
                let v = if draw_v {
                    rng.random::<f64>() * params.jitter
                } else {
                    0.0
                };
                let i = c * CHUNK + j;
                if !rows.validate {
                    f.call(i, p, u, v, &mut scratch, slot);
                } else if !f.call_scanned(i, p, u, v, tol, &mut scratch, slot) {
                    // The fast check failed: the checker decides (and names the defect).
                    if let Some(e) = row_error(p, tol) {
                        return Some((i, e));
                    }
                    slot.iter_mut().for_each(|o| *o = F::Out::default());
                    f.call(i, p, u, v, &mut scratch, slot);
                }
            }
            None
        })
}

/// Calibration: the (jittered) score of the true label.
struct TrueLabelScore<'a> {
    score: Score,
    labels: &'a [usize],
}
impl RowFn for TrueLabelScore<'_> {
    type Out = f64;
    fn call(&self, i: usize, p: &[f64], u: f64, v: f64, _: &mut Scratch, out: &mut [f64]) {
        // Labels are validated before the rows are scored.
        out[0] = self
            .score
            .label_score_unchecked(p, self.labels[i], u)
            .unwrap_or(f64::NAN)
            + v;
    }
}

/// Prediction with one threshold: the prefix of labels in rank order with score ≤ q̂.
struct PrefixSet {
    score: Score,
    threshold: f64,
}
impl RowFn for PrefixSet {
    type Out = u64;
    fn call(&self, _: usize, p: &[f64], u: f64, v: f64, _: &mut Scratch, out: &mut [u64]) {
        let q = self.threshold - v;
        if let (Score::Lac, [word]) = (self.score, &mut *out) {
            // LAC with at most 64 classes: one branch-free pass, the score computed as in the
            // walk (`1 − p̂_y`, so calibration and prediction agree to the bit).
            let mut w = 0u64;
            for (y, &py) in p.iter().enumerate() {
                w |= u64::from(1.0 - py <= q) << y;
            }
            *word = w;
            return;
        }
        self.score
            .prefix_set_unchecked(p, u, q, |y| out[y / 64] |= 1 << (y % 64));
    }

    #[inline]
    fn call_scanned(
        &self,
        i: usize,
        p: &[f64],
        u: f64,
        v: f64,
        tol: f64,
        s: &mut Scratch,
        out: &mut [u64],
    ) -> bool {
        if let (Score::Lac, [word]) = (self.score, &mut *out) {
            // LAC: the set word built in the checking pass itself (as in `call`, bit for bit).
            let q = self.threshold - v;
            let mut w = 0u64;
            let ok = scan_row(p, tol, |y, py| w |= u64::from(1.0 - py <= q) << y);
            *word = w;
            return ok;
        }
        if let [word] = &mut *out {
            // Rows of up to 16 classes: the set and the check from the same pass.
            if let Some((mask, ok)) = self
                .score
                .prefix_mask_scanned(p, u, self.threshold - v, tol)
            {
                *word = mask;
                return ok;
            }
        }
        scan_then_call(self, i, p, u, v, tol, s, out)
    }
}

/// Prediction with one threshold per class (Mondrian): every label's score.
struct PerClassSet<'a> {
    score: Score,
    thresholds: &'a [f64],
}
impl RowFn for PerClassSet<'_> {
    type Out = u64;
    fn call(&self, _: usize, p: &[f64], u: f64, v: f64, s: &mut Scratch, out: &mut [u64]) {
        if !s.score_all(self.score, p, u) {
            return;
        }
        for (y, (&sc, &q)) in s.scores.iter().zip(self.thresholds).enumerate() {
            if sc + v <= q {
                out[y / 64] |= 1 << (y % 64);
            }
        }
    }
}

/// The (jittered) score of every calibration row's true label, after checking the labels.
fn true_label_scores(
    p: &ConformalParams,
    probs: &Probabilities,
    labels: &[usize],
    seed: u64,
) -> Result<Vec<f64>> {
    check_labels(probs, labels)?;
    let mut scores = vec![0.0; probs.len()];
    for_each_row(
        p,
        Rows::of(probs),
        seed,
        &mut scores,
        1,
        &TrueLabelScore {
            score: p.score,
            labels,
        },
    );
    Ok(scores)
}

/// The scores split by an id in `0..n` (a class or a group), each in row order.
fn by_id(scores: &[f64], ids: &[usize], n: usize) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new(); n];
    for (&s, &i) in scores.iter().zip(ids) {
        out[i].push(s);
    }
    out
}

/// The threshold for one group of calibration scores.
fn threshold(scores: &[f64], params: &ConformalParams) -> Result<f64> {
    let n = scores.len();
    let k = match params.rank {
        Rank::Marginal => conformal_rank(n, params.alpha),
        Rank::Pac { delta } => match pac_rank(n, params.alpha, delta)? {
            Some(l) => n + 1 - l,
            None => n + 1,
        },
    };
    if n == 0 || k > n {
        Ok(f64::INFINITY)
    } else {
        Ok(kth_smallest(scores, k)?)
    }
}

/// A calibrated split-conformal classifier: thresholds on a score, ready to turn probability
/// rows into prediction sets.
#[derive(Debug, Clone, PartialEq)]
pub struct ConformalClassifier {
    params: ValidConformalParams,
    thresholds: Vec<f64>,
    /// The calibration scores of each threshold's group, sorted (for p-values).
    sorted: Vec<Vec<f64>>,
    n_classes: usize,
    n_calibration: usize,
}

impl ConformalClassifier {
    /// Calibrates on held-out probabilities and their true labels. `seed` drives the
    /// randomised scores and the jitter. A threshold is `+∞` (full label sets) when there are
    /// too few calibration points for the requested guarantee — for Mondrian, per class.
    pub fn calibrate(
        params: &ValidConformalParams,
        probs: &Probabilities,
        labels: &[usize],
        seed: u64,
    ) -> Result<Self> {
        let p = params.get();
        let scores = true_label_scores(p, probs, labels, seed)?;
        let mut groups = if p.mondrian {
            by_id(&scores, labels, probs.n_classes())
        } else {
            vec![scores]
        };
        let thresholds = groups
            .iter()
            .map(|s| threshold(s, p))
            .collect::<Result<_>>()?;
        groups
            .iter_mut()
            .for_each(|g| g.sort_unstable_by(f64::total_cmp));
        Ok(Self {
            params: *params,
            thresholds,
            sorted: groups,
            n_classes: probs.n_classes(),
            n_calibration: probs.len(),
        })
    }

    /// The thresholds `q̂` (one, or one per class for Mondrian).
    pub fn thresholds(&self) -> &[f64] {
        &self.thresholds
    }

    /// The number of calibration points.
    pub fn n_calibration(&self) -> usize {
        self.n_calibration
    }

    /// The parameters.
    pub fn params(&self) -> &ConformalParams {
        self.params.get()
    }

    /// Prediction sets `{y : s(x, y) ≤ q̂}` for every row, in parallel. `seed` drives the
    /// randomised scores (use a seed other than the calibration's).
    pub fn predict(&self, probs: &Probabilities, seed: u64) -> Result<PredictionSets> {
        if probs.n_classes() != self.n_classes {
            return Err(ConformalError::Shape {
                what: "classes at prediction vs calibration",
                expected: self.n_classes,
                got: probs.n_classes(),
            });
        }
        // A validated matrix: nothing to report.
        self.predict_rows(Rows::of(probs), seed)
            .map(|(sets, _)| sets)
    }

    /// [`predict`](Self::predict) on a raw row-major buffer of `f64` or `f32` probabilities
    /// (`n × K`, `K` the calibration's class count), validating each row as
    /// [`Probabilities::from_flat`] does while it predicts: each chunk of rows is checked and
    /// scored while it is in cache, one pass over memory instead of two, and the buffer is
    /// borrowed, not copied. `f32` values are widened to `f64` exactly, so the sets are those of
    /// the widened buffer. Same sets as `predict(&Probabilities::from_flat(buffer)?)` for the
    /// same `seed`, and the same error for the first row (in row order) that is not a
    /// probability vector; errors on an empty buffer or a length that is not a multiple of `K`.
    pub fn predict_flat<T: ProbElement>(&self, probs: &[T], seed: u64) -> Result<PredictionSets> {
        let k = self.n_classes;
        check_flat_shape(probs.len(), k)?;
        let rows = Rows {
            data: probs,
            k,
            validate: true,
        };
        match self.predict_rows(rows, seed)? {
            (_, Some((row, source))) => Err(ConformalError::Probabilities { row, source }),
            (sets, None) => Ok(sets),
        }
    }

    /// The sets of `rows` (their class count checked by the caller), and the first row that
    /// failed validation, if any.
    fn predict_rows<T: ProbElement>(
        &self,
        rows: Rows<'_, T>,
        seed: u64,
    ) -> Result<(PredictionSets, Option<(usize, core_linalg::LinalgError)>)> {
        let mut sets = PredictionSets::empty(rows.data.len() / rows.k, self.n_classes);
        let words = sets.words();
        let p = self.params.get();
        let bad = if self.thresholds.len() == 1 {
            let f = PrefixSet {
                score: p.score,
                threshold: self.thresholds[0],
            };
            for_each_row(p, rows, seed, sets.bits_mut(), words, &f)
        } else {
            let f = PerClassSet {
                score: p.score,
                thresholds: &self.thresholds,
            };
            for_each_row(p, rows, seed, sets.bits_mut(), words, &f)
        };
        Ok((sets, bad))
    }

    /// Conformal p-values of every label of every row (row-major, `n × K`):
    /// `p_y(x) = (1 + #{i : s_i ≥ s(x, y)}) / (n + 1)` over the calibration scores `s_i` (of
    /// class `y` alone for Mondrian), with the same draws `U` (and jitter) as
    /// [`predict`](Self::predict) for the same `seed`. A label's p-value is the smallest `α`
    /// at which it would leave the set: with the marginal rank,
    /// `y ∈ C(x) ⇔ (n + 1)·p_y(x) > ⌊(n + 1)α⌋` (the `l` of [`CoverageLaw`](crate::CoverageLaw)).
    pub fn p_values(&self, probs: &Probabilities, seed: u64) -> Result<Vec<f64>> {
        if probs.n_classes() != self.n_classes {
            return Err(ConformalError::Shape {
                what: "classes at p-values vs calibration",
                expected: self.n_classes,
                got: probs.n_classes(),
            });
        }
        let k = self.n_classes;
        let mut out = vec![0.0; probs.len() * k];
        let f = PValues {
            score: self.params.get().score,
            sorted: &self.sorted,
        };
        for_each_row(self.params.get(), Rows::of(probs), seed, &mut out, k, &f);
        Ok(out)
    }
}

/// Conformal p-values of every label of a row.
struct PValues<'a> {
    score: Score,
    sorted: &'a [Vec<f64>],
}
impl RowFn for PValues<'_> {
    type Out = f64;
    fn call(&self, _: usize, p: &[f64], u: f64, v: f64, s: &mut Scratch, out: &mut [f64]) {
        if !s.score_all(self.score, p, u) {
            return;
        }
        for (y, (&sc, o)) in s.scores.iter().zip(out.iter_mut()).enumerate() {
            let cal = &self.sorted[if self.sorted.len() == 1 { 0 } else { y }];
            // #{s_i ≥ sc + v}: everything from the first index with s_i ≥ sc + v.
            let t = sc + v;
            let at_least = cal.len() - cal.partition_point(|&c| c < t);
            *o = (1 + at_least) as f64 / (cal.len() + 1) as f64;
        }
    }
}

/// Prediction with one threshold per user-supplied group.
struct GroupPrefixSet<'a> {
    score: Score,
    thresholds: &'a [f64],
    groups: &'a [usize],
}
impl RowFn for GroupPrefixSet<'_> {
    type Out = u64;
    fn call(&self, i: usize, p: &[f64], u: f64, v: f64, _: &mut Scratch, out: &mut [u64]) {
        let q = self.thresholds[self.groups[i]];
        self.score
            .prefix_set_unchecked(p, u, q - v, |y| out[y / 64] |= 1 << (y % 64));
    }
}

/// Mondrian conformal classification over **user-supplied groups** (crepes' `bins`, MAPIE's
/// `groups`): one threshold per group, from that group's calibration points, so coverage
/// `≥ 1 − α` holds within every group (a site, an age band, a scanner), not only on average.
/// A group with too few calibration points for `α` gets `+∞` (full label sets).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupConformalClassifier {
    params: ValidConformalParams,
    thresholds: Vec<f64>,
    n_classes: usize,
    counts: Vec<usize>,
}

fn check_groups(groups: &[usize], n: usize, n_groups: usize) -> Result<()> {
    if groups.len() != n {
        return Err(ConformalError::Shape {
            what: "groups vs probability rows",
            expected: n,
            got: groups.len(),
        });
    }
    match groups.iter().find(|&&g| g >= n_groups) {
        Some(&g) => Err(ConformalError::Parameter {
            name: "group",
            value: g as f64,
            reason: "a group id must be below n_groups",
        }),
        None => Ok(()),
    }
}

impl GroupConformalClassifier {
    /// Calibrates one threshold per group `0..n_groups` (`groups[i]` is row `i`'s). Errors on
    /// mismatched lengths, a group id `≥ n_groups`, labels out of range, or parameters asking
    /// for label-conditional (Mondrian by label) calibration as well.
    pub fn calibrate(
        params: &ValidConformalParams,
        probs: &Probabilities,
        labels: &[usize],
        groups: &[usize],
        n_groups: usize,
        seed: u64,
    ) -> Result<Self> {
        let p = params.get();
        if p.mondrian {
            return Err(ConformalError::Parameter {
                name: "mondrian",
                value: 1.0,
                reason: "group-conditional calibration replaces the label-conditional one",
            });
        }
        // Labels are checked first (inside the scoring), then the groups, as before.
        let scores = true_label_scores(p, probs, labels, seed)?;
        check_groups(groups, probs.len(), n_groups)?;
        let by_group = by_id(&scores, groups, n_groups);
        Ok(Self {
            params: *params,
            thresholds: by_group
                .iter()
                .map(|s| threshold(s, p))
                .collect::<Result<_>>()?,
            n_classes: probs.n_classes(),
            counts: by_group.iter().map(Vec::len).collect(),
        })
    }

    /// The threshold of each group.
    pub fn thresholds(&self) -> &[f64] {
        &self.thresholds
    }

    /// The calibration points of each group.
    pub fn counts(&self) -> &[usize] {
        &self.counts
    }

    /// Prediction sets, each row against its group's threshold. Errors on a class count other
    /// than the calibration's, mismatched lengths or a group id out of range.
    pub fn predict(
        &self,
        probs: &Probabilities,
        groups: &[usize],
        seed: u64,
    ) -> Result<PredictionSets> {
        if probs.n_classes() != self.n_classes {
            return Err(ConformalError::Shape {
                what: "classes at prediction vs calibration",
                expected: self.n_classes,
                got: probs.n_classes(),
            });
        }
        check_groups(groups, probs.len(), self.thresholds.len())?;
        let mut sets = PredictionSets::empty(probs.len(), self.n_classes);
        let words = sets.words();
        let p = self.params.get();
        let f = GroupPrefixSet {
            score: p.score,
            thresholds: &self.thresholds,
            groups,
        };
        for_each_row(p, Rows::of(probs), seed, sets.bits_mut(), words, &f);
        Ok(sets)
    }
}
