//! Whole-sequence inference: forward–backward smoothing, Viterbi decoding and batched
//! filtering, all in the log domain.
//!
//! Conventions as everywhere in the crate: `s_0 ~ π₀` carries no observation, and step
//! `k = 1..=K` is a transition under `a_k` then an observation `y_k` emitted from `s_k`. The
//! posteriors and paths below are over `s_1, …, s_K` (one per observation), with `s_0`
//! marginalised — the same quantities as `hmmlearn`'s for a start distribution `T(a_1) π₀`.

use crate::{ControlledHmm, HmmError, LogForwardFilter, LogitFilter, ModelRef};
use core_linalg::{log_softmax, logsumexp};
use rayon::prelude::*;

/// The result of filtering one sequence with the exact filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filtered {
    /// `beliefs[k − 1][i] = P(s_k = i | y_1..y_k)`, one row per observation.
    pub beliefs: Vec<Vec<f64>>,
    /// `log p(y_1, …, y_K)`.
    pub log_likelihood: f64,
}

/// The result of forward–backward smoothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Smoothed {
    /// `filtered[k − 1][i] = P(s_k = i | y_1..y_k)`.
    pub filtered: Vec<Vec<f64>>,
    /// `smoothed[k − 1][i] = P(s_k = i | y_1..y_K)`.
    pub smoothed: Vec<Vec<f64>>,
    /// `log p(y_1, …, y_K)`.
    pub log_likelihood: f64,
}

/// A most likely state path.
#[derive(Debug, Clone, PartialEq)]
pub struct ViterbiPath {
    /// `argmax_{s_1..s_K} p(s_1..s_K, y_1..y_K)` (ties to the lowest state index).
    pub states: Vec<usize>,
    /// `log p(s_1..s_K, y_1..y_K)` of that path (`s_0` marginalised).
    pub log_prob: f64,
}

fn actions_for(actions: Option<&[usize]>, len: usize) -> Result<Vec<usize>, HmmError> {
    match actions {
        None => Ok(vec![0; len]),
        Some(a) if a.len() == len => Ok(a.to_vec()),
        Some(a) => Err(HmmError::Shape {
            what: "actions (one per observation)",
            expected: format!("{len}"),
            got: format!("{}", a.len()),
        }),
    }
}

/// Runs the exact filter over one sequence and keeps every belief. `actions` (one per
/// observation) defaults to action 0.
///
/// Errors: a mismatched `actions` length, an action or observation out of range, and
/// [`HmmError::ImpossibleObservation`] for a sequence of probability zero.
pub fn filter<M: ModelRef>(
    model: M,
    actions: Option<&[usize]>,
    observations: &[usize],
) -> Result<Filtered, HmmError> {
    let acts = actions_for(actions, observations.len())?;
    let mut f = LogForwardFilter::new(model);
    let mut beliefs = Vec::with_capacity(observations.len());
    for (&a, &y) in acts.iter().zip(observations) {
        f.step_with_action(a, y)?;
        beliefs.push(f.belief());
    }
    Ok(Filtered {
        beliefs,
        log_likelihood: f.log_likelihood(),
    })
}

/// [`filter`] over many sequences in parallel (rayon). Results are in input order and do not
/// depend on the thread count (each sequence is filtered on its own). `actions[t]`, when given,
/// holds the actions of sequence `t`.
pub fn filter_batch<M: ModelRef + Sync>(
    model: &M,
    actions: Option<&[Vec<usize>]>,
    observations: &[Vec<usize>],
) -> Result<Vec<Filtered>, HmmError> {
    crate::filter::check_batch(actions, observations)?;
    observations
        .par_iter()
        .enumerate()
        .map(|(t, obs)| filter(model, actions.map(|a| a[t].as_slice()), obs))
        .collect()
}

/// `out[j] = log Σ_i T[i, j] exp(v_i)` (a pull through `T`'s column `j`), exactly: the sum runs
/// in the probability domain after subtracting `max v`, and a column whose sum underflows is
/// redone as a log-sum-exp.
fn pull(model: &ControlledHmm, action: usize, v: &[f64], out: &mut [f64]) -> Result<(), HmmError> {
    let t = model.transition(action)?;
    let n = v.len();
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        out.iter_mut().for_each(|o| *o = f64::NEG_INFINITY);
        return Ok(());
    }
    let p: Vec<f64> = v.iter().map(|&x| (x - m).exp()).collect();
    let sparse = model.sparse_transition(action);
    let data = t.as_slice();
    for (j, o) in out.iter_mut().enumerate() {
        let (rows, vals): (Vec<usize>, Vec<f64>) = match sparse {
            Some(sp) => {
                let c = sp.by_column.col(j);
                (c.row_indices().to_vec(), c.values().to_vec())
            }
            None => ((0..n).collect(), data[j * n..(j + 1) * n].to_vec()),
        };
        let s: f64 = rows.iter().zip(&vals).map(|(&i, &tij)| tij * p[i]).sum();
        *o = if s >= f64::MIN_POSITIVE {
            s.ln() + m
        } else {
            let terms: Vec<f64> = rows
                .iter()
                .zip(&vals)
                .filter(|(_, &tij)| tij > 0.0)
                .map(|(&i, &tij)| tij.ln() + v[i])
                .collect();
            logsumexp(&terms)
        };
    }
    Ok(())
}

/// Forward–backward smoothing: the filtered and smoothed marginals of `s_1..s_K` and the
/// log-likelihood. Forward pass: the exact log-forward filter; backward pass:
/// `log β_k(j) = log Σ_i T(a_{k+1})[i, j] E[y_{k+1}, i] β_{k+1}(i)` with `β_K = 1`, each
/// renormalised; `P(s_k | y_1..K) ∝ α_k β_k`. `O(K·nnz(T))` time, `O(K·|S|)` memory.
///
/// Errors as [`filter`].
pub fn forward_backward<M: ModelRef>(
    model: M,
    actions: Option<&[usize]>,
    observations: &[usize],
) -> Result<Smoothed, HmmError> {
    let acts = actions_for(actions, observations.len())?;
    let m = model.model();
    let mut f = LogForwardFilter::new(m);
    let mut log_alpha = Vec::with_capacity(observations.len());
    for (&a, &y) in acts.iter().zip(observations) {
        f.step_with_action(a, y)?;
        log_alpha.push(f.log_belief());
    }
    let n = m.n_states();
    let k = observations.len();
    let mut smoothed = vec![Vec::new(); k];
    let mut log_beta = vec![0.0; n];
    let mut v = vec![0.0; n];
    for step in (0..k).rev() {
        let post = log_softmax(
            &log_alpha[step]
                .iter()
                .zip(&log_beta)
                .map(|(a, b)| a + b)
                .collect::<Vec<_>>(),
        );
        smoothed[step] = post.iter().map(|x| x.exp()).collect();
        if step > 0 {
            let le = m.log_emission_row(observations[step])?;
            for ((vi, &e), &b) in v.iter_mut().zip(le).zip(&log_beta) {
                *vi = e + b;
            }
            pull(m, acts[step], &v, &mut log_beta)?;
            let c = log_beta.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if c.is_finite() {
                log_beta.iter_mut().for_each(|b| *b -= c);
            }
        }
    }
    let filtered = log_alpha
        .iter()
        .map(|l| l.iter().map(|x| x.exp()).collect())
        .collect();
    Ok(Smoothed {
        filtered,
        smoothed,
        log_likelihood: f.log_likelihood(),
    })
}

/// Viterbi decoding: the most likely state path `s_1..s_K` and its log joint probability, in
/// the log domain (`O(K·nnz(T))` time, `O(K·|S|)` back-pointers). Ties go to the lowest index.
///
/// Errors as [`filter`] (a sequence of probability zero is
/// [`HmmError::ImpossibleObservation`] at the first step where every path dies).
pub fn viterbi<M: ModelRef>(
    model: M,
    actions: Option<&[usize]>,
    observations: &[usize],
) -> Result<ViterbiPath, HmmError> {
    let acts = actions_for(actions, observations.len())?;
    let m = model.model();
    let n = m.n_states();
    if observations.is_empty() {
        return Ok(ViterbiPath {
            states: Vec::new(),
            log_prob: 0.0,
        });
    }
    // Step 1: s_0 is marginalised, so δ_1 is the exact filter's first (unnormalised) logits.
    let mut f = LogForwardFilter::new(m);
    f.step_with_action(acts[0], observations[0])?;
    let shift = f.log_likelihood() - logsumexp(f.logits());
    let mut delta: Vec<f64> = f.logits().iter().map(|l| l + shift).collect();
    let mut back: Vec<Vec<usize>> = Vec::with_capacity(observations.len());
    let mut next = vec![0.0; n];
    for (&a, &y) in acts.iter().zip(observations).skip(1) {
        let t = m.transition(a)?;
        let le = m.log_emission_row(y)?;
        let mut ptr = vec![0usize; n];
        let sparse = m.sparse_transition(a);
        let data = t.as_slice();
        for i in 0..n {
            let (mut best, mut arg) = (f64::NEG_INFINITY, 0usize);
            let mut visit = |j: usize, tij: f64| {
                if tij > 0.0 {
                    let c = tij.ln() + delta[j];
                    if c > best {
                        (best, arg) = (c, j);
                    }
                }
            };
            match sparse {
                Some(sp) => {
                    let row = sp.by_row.row(i);
                    for (&j, &tij) in row.col_indices().iter().zip(row.values()) {
                        visit(j, tij);
                    }
                }
                None => (0..n).for_each(|j| visit(j, data[j * n + i])),
            }
            next[i] = best + le[i];
            ptr[i] = arg;
        }
        if next.iter().all(|&x| x == f64::NEG_INFINITY) {
            return Err(HmmError::ImpossibleObservation { obs: y });
        }
        std::mem::swap(&mut delta, &mut next);
        back.push(ptr);
    }
    let last = crate::decode(&delta);
    let log_prob = delta[last];
    let mut states = vec![last; observations.len()];
    for (k, ptr) in back.iter().enumerate().rev() {
        states[k] = ptr[states[k + 1]];
    }
    Ok(ViterbiPath { states, log_prob })
}
