//! Classification and language-model metrics, computed in `f64` from predicted probabilities.

use crate::error::{MlError, Result};

fn check(probs: &[Vec<f64>], labels: &[usize]) -> Result<()> {
    if probs.is_empty() || probs.len() != labels.len() {
        return Err(MlError::Data(format!(
            "{} probability rows for {} labels",
            probs.len(),
            labels.len()
        )));
    }
    for (i, (p, &y)) in probs.iter().zip(labels).enumerate() {
        if y >= p.len() {
            return Err(MlError::Data(format!(
                "label {y} of row {i} ≥ number of classes {}",
                p.len()
            )));
        }
        let s: f64 = p.iter().sum();
        if p.iter().any(|v| !v.is_finite() || *v < 0.0) || (s - 1.0).abs() > 1e-6 {
            return Err(MlError::Data(format!(
                "row {i} is not a probability vector (sum {s})"
            )));
        }
    }
    Ok(())
}

/// Fraction of rows whose most probable class (ties to the lowest) is the label.
pub fn accuracy(probs: &[Vec<f64>], labels: &[usize]) -> Result<f64> {
    check(probs, labels)?;
    let hits = probs
        .iter()
        .zip(labels)
        .filter(|(p, &y)| argmax(p) == y)
        .count();
    Ok(hits as f64 / labels.len() as f64)
}

/// Mean negative log-likelihood `−mean log p[y]` in nats (probabilities floored at 1e-300).
pub fn nll(probs: &[Vec<f64>], labels: &[usize]) -> Result<f64> {
    check(probs, labels)?;
    Ok(-probs
        .iter()
        .zip(labels)
        .map(|(p, &y)| p[y].max(1e-300).ln())
        .sum::<f64>()
        / labels.len() as f64)
}

/// Brier score `mean Σ_k (p_k − 1[y = k])²`.
pub fn brier(probs: &[Vec<f64>], labels: &[usize]) -> Result<f64> {
    check(probs, labels)?;
    Ok(probs
        .iter()
        .zip(labels)
        .map(|(p, &y)| {
            p.iter()
                .enumerate()
                .map(|(k, &pk)| (pk - f64::from(u8::from(k == y))).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / labels.len() as f64)
}

/// The most bins [`ece`] accepts: `10^6`.
pub const MAX_ECE_BINS: usize = 1_000_000;

/// Expected calibration error with `bins` equal-width confidence bins (`1 ≤ bins ≤`
/// [`MAX_ECE_BINS`]):
/// `Σ_b (n_b / n) |accuracy_b − mean confidence_b|`.
pub fn ece(probs: &[Vec<f64>], labels: &[usize], bins: usize) -> Result<f64> {
    check(probs, labels)?;
    if bins == 0 || bins > MAX_ECE_BINS {
        return Err(crate::error::config(
            "ECE bins",
            bins,
            "must lie in 1..=MAX_ECE_BINS (10^6; three counters per bin are allocated)",
        ));
    }
    let mut acc = vec![0.0; bins];
    let mut conf = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    for (p, &y) in probs.iter().zip(labels) {
        let k = argmax(p);
        let c = p[k];
        let b = ((c * bins as f64) as usize).min(bins - 1);
        acc[b] += f64::from(u8::from(k == y));
        conf[b] += c;
        count[b] += 1;
    }
    let n = labels.len() as f64;
    Ok((0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| (acc[b] - conf[b]).abs() / n)
        .sum())
}

/// Bits per byte from a mean NLL in nats per byte (`±∞` when `|NLL|` exceeds
/// `f64::MAX · ln 2`, as the true value does).
pub fn bits_per_byte(mean_nll_nats: f64) -> f64 {
    mean_nll_nats / std::f64::consts::LN_2
}

/// Perplexity `exp(mean NLL)` (`+∞` above an NLL of 709.8 nats, as the true value does).
pub fn perplexity(mean_nll_nats: f64) -> f64 {
    mean_nll_nats.exp()
}

/// The share of rows predicted as the most frequently predicted class (ties to the lowest
/// class): `1/K` for balanced predictions, 1 for a model that predicts one class for every row
/// (a collapse diagnostic). Errors as [`accuracy`] does on rows that are not probability
/// vectors or are ragged; `probs` must not be empty.
pub fn top_class_share(probs: &[Vec<f64>]) -> Result<f64> {
    let k = probs.first().map_or(0, Vec::len);
    if probs.iter().any(|p| p.len() != k) {
        return Err(MlError::Data(
            "probability rows of different lengths".into(),
        ));
    }
    check(probs, &vec![0; probs.len()])?;
    let mut counts = vec![0usize; k];
    for p in probs {
        counts[argmax(p)] += 1;
    }
    Ok(counts.iter().copied().max().unwrap_or(0) as f64 / probs.len() as f64)
}

fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_class_share_counts_the_most_frequent_prediction() {
        let p = |j: usize| {
            let mut v = vec![0.1; 4];
            v[j] = 0.7;
            v
        };
        let rows = vec![p(2), p(2), p(0), p(2)];
        assert_eq!(top_class_share(&rows).unwrap(), 0.75);
        assert!(top_class_share(&[]).is_err());
        assert!(top_class_share(&[p(0), vec![0.5, 0.5]]).is_err());
        assert!(top_class_share(&[vec![f64::NAN, 1.0]]).is_err());
    }

    #[test]
    fn hand_computed_values() {
        let p = vec![vec![0.9, 0.1], vec![0.4, 0.6], vec![0.7, 0.3]];
        let y = vec![0, 0, 1];
        assert!((accuracy(&p, &y).unwrap() - 1.0 / 3.0).abs() < 1e-15);
        let nll_ref = -(0.9f64.ln() + 0.4f64.ln() + 0.3f64.ln()) / 3.0;
        assert!((nll(&p, &y).unwrap() - nll_ref).abs() < 1e-15);
        let brier_ref = ((0.01 + 0.01) + (0.36 + 0.36) + (0.49 + 0.49)) / 3.0;
        assert!((brier(&p, &y).unwrap() - brier_ref).abs() < 1e-15);
        // One bin: |accuracy − mean confidence| = |1/3 − (0.9 + 0.6 + 0.7)/3|.
        assert!((ece(&p, &y, 1).unwrap() - (1.0f64 / 3.0 - 2.2 / 3.0).abs()).abs() < 1e-15);
        assert!((bits_per_byte(2f64.ln()) - 1.0).abs() < 1e-15);
        assert!((perplexity(3f64.ln()) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn perfectly_calibrated_predictions_have_zero_ece() {
        // Confidence 0.75 on 4 rows of which 3 are right.
        let p = vec![vec![0.75, 0.25]; 4];
        let y = vec![0, 0, 0, 1];
        assert!(ece(&p, &y, 10).unwrap().abs() < 1e-15);
    }

    #[test]
    fn bad_inputs() {
        assert!(accuracy(&[vec![0.5, 0.4]], &[0]).is_err());
        assert!(accuracy(&[vec![0.5, 0.5]], &[2]).is_err());
        assert!(accuracy(&[], &[]).is_err());
        assert!(nll(&[vec![f64::NAN, 1.0]], &[0]).is_err());
        assert!(ece(&[vec![1.0]], &[0], 0).is_err());
    }
}
