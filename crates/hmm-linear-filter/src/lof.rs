use crate::filter::LogitFilter;
use crate::model::SparseTransition;
use crate::{HmmError, ModelRef};
use core_linalg::logsumexp;

/// The exact Bayes filter in the log domain (the paper's LOF):
/// `l_k(i) = log e_k(i) + logsumexp_j(log T[i, j] + l_{k−1}(j))`, belief `softmax(l_k)`.
///
/// This is the reference the linear filters are checked against. It handles zeros in `T`, `E`
/// and `π₀` exactly (−∞ logits).
///
/// Cost per step is one `|S| × |S|` matrix–vector product: `exp(l − max l)` is pushed through
/// `T` in the probability domain, and only rows whose result underflows (below the smallest
/// normal `f64`) fall back to an exact row-wise log-sum-exp, so precision is never lost to
/// subnormals. A transition stored sparse ([`ControlledHmm::is_sparse`](crate::ControlledHmm::is_sparse):
/// at most a quarter of its entries non-zero) is pushed through its non-zeros only, `O(nnz)`
/// per step — `O(|S|)` for a permutation. The stored logits are the paper's `l_k` minus a running shift (the maxima
/// subtracted at each step), so they stay bounded; [`log_likelihood`](Self::log_likelihood)
/// adds the shift back.
///
/// The filter is generic over how it holds its model ([`ModelRef`]): `LogForwardFilter::new(&hmm)`
/// borrows, `LogForwardFilter::new(hmm)` or `new(Arc::new(hmm))` owns, so a filter can be kept
/// in a struct without a lifetime.
#[derive(Debug, Clone)]
pub struct LogForwardFilter<M: ModelRef> {
    model: M,
    logits: Vec<f64>,
    shift: f64,
    p: Vec<f64>,
    q: Vec<f64>,
}

impl<M: ModelRef> LogForwardFilter<M> {
    /// Starts from `l_0 = log π₀`.
    pub fn new(model: M) -> Self {
        let l0: Vec<f64> = model.model().initial().iter().map(|p| p.ln()).collect();
        let n = l0.len();
        Self {
            model,
            logits: l0,
            shift: 0.0,
            p: vec![0.0; n],
            q: vec![0.0; n],
        }
    }

    /// Starts from arbitrary logits `l_0` (normalised internally; −∞ entries allowed; NaN, +∞
    /// and all −∞ — no belief — are errors).
    pub fn with_logits(model: M, l0: &[f64]) -> Result<Self, HmmError> {
        let mut f = Self::new(model);
        crate::error::check_logits("initial logits", f.logits.len(), l0)?;
        // Shift by the maximum first: for logits near ±1e300, `x − logsumexp(l0)` would lose
        // the log-sum's last term (log 2, say) to rounding.
        let m = l0.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let shifted: Vec<f64> = l0.iter().map(|x| x - m).collect();
        let c = logsumexp(&shifted);
        f.logits = shifted.iter().map(|x| x - c).collect();
        Ok(f)
    }

    /// The model.
    pub fn model(&self) -> &crate::ControlledHmm {
        self.model.model()
    }

    /// Restarts from `l_0 = log π₀` (a new trajectory), keeping the buffers.
    pub fn reset(&mut self) {
        let pi = self.model.model().initial();
        for (l, p) in self.logits.iter_mut().zip(pi) {
            *l = p.ln();
        }
        self.shift = 0.0;
    }

    /// `log p(y_1, …, y_k)` of the observations seen so far (under `π₀` when built by
    /// [`new`](Self::new), under `softmax(l_0)` when built by [`with_logits`](Self::with_logits)).
    pub fn log_likelihood(&self) -> f64 {
        logsumexp(&self.logits) + self.shift
    }

    /// The normalised log-belief `log P(s_k = · | y_1..y_k)`.
    pub fn log_belief(&self) -> Vec<f64> {
        core_linalg::log_softmax(&self.logits)
    }

    /// One step for an uncontrolled model (action 0).
    #[inline]
    pub fn step(&mut self, obs: usize) -> Result<(), HmmError> {
        self.step_with_action(0, obs)
    }

    /// One step: transition under `action`, then observe `obs`. On error the state is unchanged.
    #[inline]
    pub fn step_with_action(&mut self, action: usize, obs: usize) -> Result<(), HmmError> {
        let model = self.model.model();
        let t = model.transition(action)?;
        let log_e = model.log_emission_row(obs)?;
        let sparse = model.sparse_transition(action);
        let n = self.logits.len();
        let m = self
            .logits
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        for (p, &l) in self.p.iter_mut().zip(&self.logits) {
            *p = if l == m { 1.0 } else { (l - m).exp() };
        }
        self.q.iter_mut().for_each(|q| *q = 0.0);
        // q = T p, column by column, skipping columns without mass.
        let data = t.as_slice();
        match sparse {
            Some(sp) => {
                for (j, &pj) in self.p.iter().enumerate() {
                    if pj != 0.0 {
                        let col = sp.by_column.col(j);
                        for (&i, &tij) in col.row_indices().iter().zip(col.values()) {
                            self.q[i] += tij * pj;
                        }
                    }
                }
            }
            None => {
                for (j, &pj) in self.p.iter().enumerate() {
                    if pj != 0.0 {
                        let col = &data[j * n..(j + 1) * n];
                        for (q, &tij) in self.q.iter_mut().zip(col) {
                            *q += tij * pj;
                        }
                    }
                }
            }
        }
        let mut new = std::mem::take(&mut self.p);
        let mut best = f64::NEG_INFINITY;
        for i in 0..n {
            let qi = self.q[i];
            let pred = if qi >= f64::MIN_POSITIVE {
                qi.ln()
            } else {
                // Exact row-wise log-sum-exp: underflow must not turn a finite logit into −∞.
                row_logsumexp(sparse, data, n, i, &self.logits, m)
            };
            new[i] = pred + log_e[i];
            best = best.max(new[i]);
        }
        if best == f64::NEG_INFINITY {
            self.p = new;
            return Err(HmmError::ImpossibleObservation { obs });
        }
        self.p = std::mem::replace(&mut self.logits, new);
        self.shift += m;
        Ok(())
    }
}

/// `logsumexp_j (log T[i, j] + l_j − m)` over the non-zeros of row `i`.
fn row_logsumexp(
    sparse: Option<&SparseTransition>,
    data: &[f64],
    n: usize,
    i: usize,
    logits: &[f64],
    m: f64,
) -> f64 {
    let terms: Vec<f64> = match sparse {
        Some(sp) => {
            let row = sp.by_row.row(i);
            row.col_indices()
                .iter()
                .zip(row.values())
                .map(|(&j, &tij)| tij.ln() + (logits[j] - m))
                .collect()
        }
        None => (0..n)
            .filter(|&j| data[j * n + i] > 0.0)
            .map(|j| data[j * n + i].ln() + (logits[j] - m))
            .collect(),
    };
    logsumexp(&terms)
}

impl<M: ModelRef> LogitFilter for LogForwardFilter<M> {
    fn step_with_action(&mut self, action: usize, obs: usize) -> Result<(), HmmError> {
        LogForwardFilter::step_with_action(self, action, obs)
    }
    fn logits(&self) -> &[f64] {
        &self.logits
    }
}
