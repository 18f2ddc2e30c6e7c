use crate::error::check_alpha;
use crate::probs::check_labels;
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

/// What to do with one row, given its draws `u` (randomised scores) and `v` (jitter).
trait RowFn: Sync {
    type Out: Send;
    fn call(&self, i: usize, p: &[f64], u: f64, v: f64, s: &mut Scratch, out: &mut [Self::Out]);
}

/// Runs `f` on every row, in parallel chunks of [`CHUNK`] rows with one random stream per chunk;
/// `out` holds `per_row` values per row.
fn for_each_row<F: RowFn>(
    params: &ConformalParams,
    probs: &Probabilities,
    seed: u64,
    out: &mut [F::Out],
    per_row: usize,
    f: &F,
) {
    let k = probs.n_classes();
    let (draw_u, draw_v) = (params.score.is_randomized(), params.jitter > 0.0);
    out.par_chunks_mut(CHUNK * per_row)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut rng = stream_rng(seed, c as u64);
            let mut scratch = Scratch {
                order: Vec::with_capacity(k),
                scores: vec![0.0; k],
            };
            for (j, slot) in chunk.chunks_mut(per_row).enumerate() {
                let i = c * CHUNK + j;
                let u = if draw_u { rng.random::<f64>() } else { 1.0 };
                let v = if draw_v {
                    rng.random::<f64>() * params.jitter
                } else {
                    0.0
                };
                f.call(i, probs.row(i), u, v, &mut scratch, slot);
            }
        });
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
        self.score
            .prefix_set_unchecked(p, u, self.threshold - v, |y| out[y / 64] |= 1 << (y % 64));
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
        s.scores.resize(p.len(), 0.0);
        if self
            .score
            .label_scores_unchecked(p, u, &mut s.order, &mut s.scores)
            .is_err()
        {
            return;
        }
        for (y, (&sc, &q)) in s.scores.iter().zip(self.thresholds).enumerate() {
            if sc + v <= q {
                out[y / 64] |= 1 << (y % 64);
            }
        }
    }
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
        check_labels(probs, labels)?;
        let p = params.get();
        let mut scores = vec![0.0; probs.len()];
        for_each_row(
            p,
            probs,
            seed,
            &mut scores,
            1,
            &TrueLabelScore {
                score: p.score,
                labels,
            },
        );
        let thresholds = if p.mondrian {
            let mut by_class = vec![Vec::new(); probs.n_classes()];
            for (&s, &y) in scores.iter().zip(labels) {
                by_class[y].push(s);
            }
            by_class
                .iter()
                .map(|s| threshold(s, p))
                .collect::<Result<_>>()?
        } else {
            vec![threshold(&scores, p)?]
        };
        Ok(Self {
            params: *params,
            thresholds,
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
        let mut sets = PredictionSets::empty(probs.len(), self.n_classes);
        let words = sets.words();
        let p = self.params.get();
        if self.thresholds.len() == 1 {
            let f = PrefixSet {
                score: p.score,
                threshold: self.thresholds[0],
            };
            for_each_row(p, probs, seed, sets.bits_mut(), words, &f);
        } else {
            let f = PerClassSet {
                score: p.score,
                thresholds: &self.thresholds,
            };
            for_each_row(p, probs, seed, sets.bits_mut(), words, &f);
        }
        Ok(sets)
    }
}
