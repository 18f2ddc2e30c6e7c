use crate::{ConformalError, PredictionSets, Result};

/// How a batch of prediction sets did against the true labels.
#[derive(Debug, Clone, PartialEq)]
pub struct SetMetrics {
    /// Fraction of rows whose set contains the true label.
    pub coverage: f64,
    /// Mean set size.
    pub mean_size: f64,
    /// Fraction of sets with one class.
    pub singleton_rate: f64,
    /// Fraction of empty sets.
    pub empty_rate: f64,
    /// Coverage among the rows of each class (`None` for classes without rows).
    pub class_coverage: Vec<Option<f64>>,
    /// Mean over present classes of `|coverage_y − (1 − α)|` (TorchCP's CovGap, as a fraction).
    pub class_coverage_gap: f64,
    /// `(size, rows, coverage)` for every set size that occurs, ascending.
    pub size_stratified: Vec<(usize, usize, f64)>,
    /// `max_size |coverage_size − (1 − α)|` (size-stratified coverage violation).
    pub size_stratified_violation: f64,
}

/// Evaluates prediction sets against labels at nominal level `1 − α`.
pub fn evaluate(sets: &PredictionSets, labels: &[usize], alpha: f64) -> Result<SetMetrics> {
    crate::error::check_alpha(alpha)?;
    if sets.is_empty() {
        return Err(ConformalError::Empty {
            what: "prediction sets",
        });
    }
    if labels.len() != sets.len() {
        return Err(ConformalError::Shape {
            what: "labels vs prediction sets",
            expected: sets.len(),
            got: labels.len(),
        });
    }
    let k = sets.n_classes();
    if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &y)| y >= k) {
        return Err(ConformalError::Label {
            row,
            label,
            n_classes: k,
        });
    }
    let n = labels.len() as f64;
    let mut covered = 0usize;
    let (mut size_sum, mut single, mut empty) = (0usize, 0usize, 0usize);
    let mut per_class = vec![(0usize, 0usize); k];
    let mut per_size = vec![(0usize, 0usize); k + 1];
    for (i, &y) in labels.iter().enumerate() {
        let hit = sets.contains(i, y);
        let s = sets.size(i);
        covered += usize::from(hit);
        size_sum += s;
        single += usize::from(s == 1);
        empty += usize::from(s == 0);
        per_class[y].0 += 1;
        per_class[y].1 += usize::from(hit);
        per_size[s].0 += 1;
        per_size[s].1 += usize::from(hit);
    }
    let target = 1.0 - alpha;
    let class_coverage: Vec<Option<f64>> = per_class
        .iter()
        .map(|&(c, h)| (c > 0).then(|| h as f64 / c as f64))
        .collect();
    let present: Vec<f64> = class_coverage.iter().flatten().copied().collect();
    let size_stratified: Vec<(usize, usize, f64)> = per_size
        .iter()
        .enumerate()
        .filter(|(_, &(c, _))| c > 0)
        .map(|(s, &(c, h))| (s, c, h as f64 / c as f64))
        .collect();
    Ok(SetMetrics {
        coverage: covered as f64 / n,
        mean_size: size_sum as f64 / n,
        singleton_rate: single as f64 / n,
        empty_rate: empty as f64 / n,
        class_coverage_gap: present.iter().map(|c| (c - target).abs()).sum::<f64>()
            / present.len() as f64,
        class_coverage,
        size_stratified_violation: size_stratified
            .iter()
            .map(|&(_, _, c)| (c - target).abs())
            .fold(0.0, f64::max),
        size_stratified,
    })
}
