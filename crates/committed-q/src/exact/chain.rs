//! Absorbing Markov chains: reachability, properness, values and occupancies.

use crate::{CommittedQError, Result};
use nalgebra::{DMatrix, DVector};

/// An absorbing Markov chain: `rows[i]` lists `(j, P(i → j))`; the missing mass ends the episode.
pub(crate) struct Chain {
    pub(crate) rows: Vec<Vec<(usize, f64)>>,
}

impl Chain {
    pub(crate) fn reachable(&self, init: &[f64]) -> Vec<bool> {
        let mut seen: Vec<bool> = init.iter().map(|&p| p > 0.0).collect();
        let mut stack: Vec<usize> = (0..seen.len()).filter(|&i| seen[i]).collect();
        while let Some(i) = stack.pop() {
            for &(j, p) in &self.rows[i] {
                if p > 0.0 && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        seen
    }

    /// Fails with the first reachable state from which termination cannot be reached.
    pub(crate) fn check_proper(&self, reach: &[bool]) -> std::result::Result<(), usize> {
        let n = self.rows.len();
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut ok = vec![false; n];
        let mut stack = Vec::new();
        for i in (0..n).filter(|&i| reach[i]) {
            let mass: f64 = self.rows[i].iter().map(|&(_, p)| p).sum();
            if mass < 1.0 - 1e-12 {
                ok[i] = true;
                stack.push(i);
            }
            for &(j, p) in &self.rows[i] {
                if p > 0.0 {
                    pred[j].push(i);
                }
            }
        }
        while let Some(j) = stack.pop() {
            for &i in &pred[j] {
                if !ok[i] {
                    ok[i] = true;
                    stack.push(i);
                }
            }
        }
        match (0..n).find(|&i| reach[i] && !ok[i]) {
            Some(i) => Err(i),
            None => Ok(()),
        }
    }

    /// `I − P` restricted to the reachable states, with the index map.
    fn system(&self, reach: &[bool], transpose: bool) -> (DMatrix<f64>, Vec<usize>, Vec<usize>) {
        let idx: Vec<usize> = (0..reach.len()).filter(|&i| reach[i]).collect();
        let mut pos = vec![usize::MAX; reach.len()];
        for (k, &i) in idx.iter().enumerate() {
            pos[i] = k;
        }
        let m = idx.len();
        let mut a = DMatrix::identity(m, m);
        for (k, &i) in idx.iter().enumerate() {
            for &(j, p) in &self.rows[i] {
                // Zero-probability branches may lead to states nothing else reaches (which
                // then have no position): they contribute nothing.
                if p == 0.0 {
                    continue;
                }
                let l = pos[j];
                if transpose {
                    a[(l, k)] -= p;
                } else {
                    a[(k, l)] -= p;
                }
            }
        }
        (a, idx, pos)
    }

    /// Expected total reward from each reachable state: `(I − P) v = r`.
    pub(crate) fn values(&self, reward: &[f64], init: &[f64]) -> Result<Vec<Option<f64>>> {
        let reach = self.reachable(init);
        self.check_proper(&reach)
            .map_err(|state| CommittedQError::ImproperPolicy { state })?;
        let (a, idx, _) = self.system(&reach, false);
        let b = DVector::from_iterator(idx.len(), idx.iter().map(|&i| reward[i]));
        // The chain is proper (checked above), so I − P is non-singular in exact arithmetic: a
        // failed solve is numerical, not an improper policy.
        let v = a.lu().solve(&b).ok_or(CommittedQError::IllConditioned {
            what: "policy evaluation (singular I − P)",
        })?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(CommittedQError::IllConditioned {
                what: "policy evaluation",
            });
        }
        let mut out = vec![None; reach.len()];
        for (k, &i) in idx.iter().enumerate() {
            out[i] = Some(v[k]);
        }
        Ok(out)
    }

    /// Expected number of visits to each state per episode: `d = init + Pᵀ d`.
    pub(crate) fn occupancy(&self, init: &[f64]) -> Result<Vec<f64>> {
        let reach = self.reachable(init);
        self.check_proper(&reach)
            .map_err(|state| CommittedQError::ImproperPolicy { state })?;
        let (a, idx, _) = self.system(&reach, true);
        let b = DVector::from_iterator(idx.len(), idx.iter().map(|&i| init[i]));
        let d = a.lu().solve(&b).ok_or(CommittedQError::IllConditioned {
            what: "expected visit counts (singular I − P)",
        })?;
        // Visit counts are at least the start mass; a non-finite or negative one is a
        // numerically singular solve.
        if d.iter()
            .zip(&idx)
            .any(|(x, &i)| !x.is_finite() || *x < init[i] * 0.5)
        {
            return Err(CommittedQError::IllConditioned {
                what: "expected visit counts",
            });
        }
        let mut out = vec![0.0; reach.len()];
        for (k, &i) in idx.iter().enumerate() {
            out[i] = d[k];
        }
        Ok(out)
    }
}
