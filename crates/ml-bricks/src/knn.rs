//! The fruit detector: k-nearest neighbours on two sensor features, the green channel of the
//! colour sensor (0–1024) and the length from the distance sensor (cm, below 21).
//!
//! Distances are taken on the features scaled to their ranges,
//! `√((Δg/1024)² + (Δℓ/20)²)`, as the original page does. The vote is the majority of the `k`
//! nearest training points; an equal count is **undecided** (the web version's rule; the hub's
//! firmware took the first label with the largest count). Choices the original leaves open,
//! made here and kept the same in [`predict`] and [`decision_grid`]:
//!
//! - points at equal distance are ordered by their index (the earlier point is nearer);
//! - with fewer than `k` training points, all of them vote.

use crate::error::{check_range, BricksError, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The colour sensor's green channel runs from 0 to this.
pub const GREEN_MAX: f64 = 1024.0;
/// The length axis and the distance scale, in cm.
pub const LENGTH_SCALE: f64 = 20.0;
/// The distance sensor's readings are accepted below this length, in cm.
pub const LENGTH_LIMIT: f64 = 21.0;
/// The largest `k` the page's slider offers.
pub const K_MAX: usize = 17;
/// The page's decision-border map is this many cells on a side.
pub const GRID: usize = 100;

/// The two classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fruit {
    /// 🍎
    Apple,
    /// 🍌
    Banana,
}

/// A labelled measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Green channel, `[0, 1024]`.
    pub green: f64,
    /// Length in cm, `[0, 21)`.
    pub length: f64,
    /// The class.
    pub label: Fruit,
}

impl Sample {
    /// A sample, checking both features' ranges.
    pub fn new(green: f64, length: f64, label: Fruit) -> Result<Self> {
        check_features(green, length)?;
        Ok(Self {
            green,
            length,
            label,
        })
    }
}

/// Fails unless `green ∈ [0, 1024]` and `length ∈ [0, 21)`.
pub fn check_features(green: f64, length: f64) -> Result<()> {
    check_range("green", green, 0.0, GREEN_MAX)?;
    check_range("length", length, 0.0, LENGTH_LIMIT)?;
    if length >= LENGTH_LIMIT {
        return Err(BricksError::OutOfRange {
            what: "length (must be below 21 cm)",
            value: length,
            lo: 0.0,
            hi: LENGTH_LIMIT,
        });
    }
    Ok(())
}

/// The outcome of a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vote {
    /// Apples have the majority.
    Apple,
    /// Bananas have the majority.
    Banana,
    /// As many of each.
    Undecided,
}

impl From<Fruit> for Vote {
    fn from(f: Fruit) -> Self {
        match f {
            Fruit::Apple => Vote::Apple,
            Fruit::Banana => Vote::Banana,
        }
    }
}

/// The squared scaled distance, the key both routines order by (monotone in the distance, so
/// the same neighbours, and no square root to round two keys into one).
fn key(green: f64, length: f64, s: &Sample) -> f64 {
    let dg = (green - s.green) / GREEN_MAX;
    let dl = (length - s.length) / LENGTH_SCALE;
    dg * dg + dl * dl
}

/// The scaled distance `√((Δg/1024)² + (Δℓ/20)²)` between a point and a sample.
pub fn distance(green: f64, length: f64, s: &Sample) -> f64 {
    key(green, length, s).sqrt()
}

fn vote(train: &[Sample], idx: impl IntoIterator<Item = usize>) -> Vote {
    let (mut apples, mut bananas) = (0usize, 0usize);
    for i in idx {
        match train[i].label {
            Fruit::Apple => apples += 1,
            Fruit::Banana => bananas += 1,
        }
    }
    match apples.cmp(&bananas) {
        std::cmp::Ordering::Greater => Vote::Apple,
        std::cmp::Ordering::Less => Vote::Banana,
        std::cmp::Ordering::Equal => Vote::Undecided,
    }
}

fn check_k(k: usize) -> Result<()> {
    if (1..=K_MAX).contains(&k) {
        Ok(())
    } else {
        Err(BricksError::OutOfRange {
            what: "k",
            value: k as f64,
            lo: 1.0,
            hi: K_MAX as f64,
        })
    }
}

fn check_train(train: &[Sample]) -> Result<()> {
    if train.is_empty() {
        return Err(BricksError::TooFew {
            what: "k-nearest neighbours",
            needed: 1,
            got: 0,
        });
    }
    for s in train {
        check_features(s.green, s.length)?;
    }
    Ok(())
}

/// A prediction and the neighbours behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The majority, or undecided.
    pub vote: Vote,
    /// Indices into the training points, nearest first (`min(k, n)` of them).
    pub neighbours: Vec<usize>,
}

/// Classifies the point `(green, length)` by the `k` nearest of `train` (sorting all
/// distances). Errors on an empty training set, `k ∉ [1, 17]`, or features out of range.
pub fn predict(train: &[Sample], green: f64, length: f64, k: usize) -> Result<Prediction> {
    check_k(k)?;
    check_train(train)?;
    check_features(green, length)?;
    let mut order: Vec<(f64, usize)> = train
        .iter()
        .enumerate()
        .map(|(i, s)| (key(green, length, s), i))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let neighbours: Vec<usize> = order.iter().take(k).map(|p| p.1).collect();
    Ok(Prediction {
        vote: vote(train, neighbours.iter().copied()),
        neighbours,
    })
}

/// The decision-border map: `resolution × resolution` cells over green `[0, 1024]` and
/// length `[0, 20]`, each classified at its centre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Cells per side.
    pub resolution: usize,
    /// `cells[r · resolution + c]`: column `c` is green `(c + ½)/resolution · 1024`, row `r`
    /// is length `(r + ½)/resolution · 20` (row 0 the shortest).
    pub cells: Vec<Vote>,
}

impl Grid {
    /// The centre `(green, length)` of cell `(row, column)`.
    pub fn centre(resolution: usize, row: usize, column: usize) -> (f64, f64) {
        let r = resolution as f64;
        (
            (column as f64 + 0.5) / r * GREEN_MAX,
            (row as f64 + 0.5) / r * LENGTH_SCALE,
        )
    }
}

/// The largest `resolution` [`decision_grid`] accepts.
pub const MAX_RESOLUTION: usize = 1000;

/// The decision-border map of `train` at `k` (the page's is 100 × 100), rows in parallel.
///
/// Every cell equals [`predict`] at its centre: the same keys (the squared scaled distances,
/// bit for bit) and the same order (key, then index), found faster. Along a row, the previous
/// cell's `k` neighbours, measured from this cell, bound the `k`-th smallest key from above
/// by their largest key `τ`; so the `k` nearest are among the points with key `≤ τ` (usually
/// a few more than `k`), and a selection in that total order finds exactly [`predict`]'s
/// neighbours without sorting all points.
pub fn decision_grid(train: &[Sample], k: usize, resolution: usize) -> Result<Grid> {
    check_k(k)?;
    check_train(train)?;
    if !(1..=MAX_RESOLUTION).contains(&resolution) {
        return Err(BricksError::OutOfRange {
            what: "resolution",
            value: resolution as f64,
            lo: 1.0,
            hi: MAX_RESOLUTION as f64,
        });
    }
    let k = k.min(train.len());
    let n = train.len();
    let greens: Vec<f64> = train.iter().map(|s| s.green).collect();
    let mut cells = vec![Vote::Undecided; resolution * resolution];
    cells
        .par_chunks_mut(resolution)
        .enumerate()
        .for_each(|(row, out)| {
            let length = Grid::centre(resolution, row, 0).1;
            // The length term of every key is the same along a row (the expression of `key`).
            let dl2: Vec<f64> = train
                .iter()
                .map(|s| {
                    let dl = (length - s.length) / LENGTH_SCALE;
                    dl * dl
                })
                .collect();
            let mut keys = vec![0.0; n];
            let mut cand: Vec<usize> = Vec::with_capacity(n);
            let mut prev: Vec<usize> = Vec::with_capacity(k);
            let order =
                |keys: &[f64], a: usize, b: usize| keys[a].total_cmp(&keys[b]).then(a.cmp(&b));
            for (column, cell) in out.iter_mut().enumerate() {
                let green = Grid::centre(resolution, row, column).0;
                // (g − s.green)/1024 as `key` computes it: dividing by a power of two is
                // exact, so the reciprocal's product is the same number.
                for ((key, g), d) in keys.iter_mut().zip(&greens).zip(&dl2) {
                    let dg = (green - g) * (1.0 / GREEN_MAX);
                    *key = dg * dg + d;
                }
                cand.clear();
                if prev.is_empty() {
                    cand.extend(0..n);
                } else {
                    let tau = prev
                        .iter()
                        .map(|&i| keys[i])
                        .fold(f64::NEG_INFINITY, f64::max);
                    cand.extend((0..n).filter(|&i| keys[i] <= tau));
                }
                if cand.len() > k {
                    cand.select_nth_unstable_by(k - 1, |&a, &b| order(&keys, a, b));
                    cand.truncate(k);
                }
                *cell = vote(train, cand.iter().copied());
                prev.clear();
                prev.extend_from_slice(&cand);
            }
        });
    Ok(Grid { resolution, cells })
}
