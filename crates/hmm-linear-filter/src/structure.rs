use crate::HmmError;
use nalgebra::DMatrix;

/// Tolerance for "this entry is 1" when reading a deterministic transition matrix: `1e-12`
/// (the other entries of the column must be exactly 0).
pub const DETERMINISTIC_TOL: f64 = 1e-12;

/// The functional graph `j ↦ f(j)` of a deterministic transition (`T[f(j), j] = 1`): its
/// recurrent states (on cycles), transient states, their depth and the cycles' common order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeterministicStructure {
    successor: Vec<usize>,
    recurrent: Vec<bool>,
    depth: Vec<usize>,
    cycle_lengths: Vec<usize>,
    gather: Vec<usize>,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl DeterministicStructure {
    /// Analyses the map `state ↦ successor[state]`.
    pub fn from_successors(successor: Vec<usize>) -> Result<Self, HmmError> {
        let n = successor.len();
        if let Some((j, &s)) = successor.iter().enumerate().find(|(_, &s)| s >= n) {
            return Err(HmmError::Shape {
                what: "successor of a state",
                expected: format!("< {n}"),
                got: format!("{s} for state {j}"),
            });
        }
        // Cycle detection by colouring walks: 0 unvisited, 1 on the current walk, 2 done.
        let mut colour = vec![0u8; n];
        let mut recurrent = vec![false; n];
        let mut cycle_lengths = Vec::new();
        for start in 0..n {
            let mut path = Vec::new();
            let mut v = start;
            while colour[v] == 0 {
                colour[v] = 1;
                path.push(v);
                v = successor[v];
            }
            if colour[v] == 1 {
                // v closes a new cycle: it and everything after it on the path.
                let pos = path.iter().position(|&p| p == v).unwrap_or(0);
                for &c in &path[pos..] {
                    recurrent[c] = true;
                }
                cycle_lengths.push(path.len() - pos);
            }
            for p in path {
                colour[p] = 2;
            }
        }
        // depth(j) = 0 on cycles, else 1 + depth(f(j)).
        let mut depth = vec![usize::MAX; n];
        for j in 0..n {
            let mut chain = Vec::new();
            let mut v = j;
            while depth[v] == usize::MAX && !recurrent[v] {
                chain.push(v);
                v = successor[v];
            }
            let mut d = if recurrent[v] { 0 } else { depth[v] };
            if recurrent[v] {
                depth[v] = 0;
            }
            for &c in chain.iter().rev() {
                d += 1;
                depth[c] = d;
            }
        }
        // A = diag(P, I_r) as a gather: recurrent i reads its recurrent predecessor, transient i
        // reads itself.
        let mut gather: Vec<usize> = (0..n).collect();
        for j in 0..n {
            if recurrent[j] {
                gather[successor[j]] = j;
            }
        }
        Ok(Self {
            successor,
            recurrent,
            depth,
            cycle_lengths,
            gather,
        })
    }

    /// Reads a deterministic transition matrix: every column must hold one entry `1 ±`
    /// [`DETERMINISTIC_TOL`] and zeros elsewhere — exactly zero, since the exact filters would
    /// silently ignore any leak (use [`NearDeterministic::decompose`] and the adaptive filter
    /// for `T = D + εQ`).
    pub fn from_matrix(t: &DMatrix<f64>, action: usize) -> Result<Self, HmmError> {
        check_square_stochastic(t, action)?;
        let mut succ = Vec::with_capacity(t.ncols());
        for (j, col) in t.column_iter().enumerate() {
            let (i, &m) = col
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .ok_or(HmmError::Shape {
                    what: "transition matrix",
                    expected: "non-empty".into(),
                    got: "empty".into(),
                })?;
            // Every other entry must be exactly 0: a leak, however small, is a transition the
            // exact filters would ignore, and the error it causes is not bounded by its size (a
            // 5e-13 leak moved a belief from 1e-5 to 1e-10 in the robustness suite).
            let leak = col.iter().enumerate().any(|(r, &v)| r != i && v != 0.0);
            if leak || (m - 1.0).abs() > DETERMINISTIC_TOL {
                return Err(HmmError::NotDeterministic {
                    action,
                    column: j,
                    max_entry: m,
                    tol: DETERMINISTIC_TOL,
                });
            }
            succ.push(i);
        }
        Self::from_successors(succ)
    }

    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.successor.len()
    }
    /// `f(j)` for each state `j`.
    pub fn successors(&self) -> &[usize] {
        &self.successor
    }
    /// Whether each state lies on a cycle.
    pub fn recurrent(&self) -> &[bool] {
        &self.recurrent
    }
    /// Steps from each state to its cycle (0 on cycles).
    pub fn depth(&self) -> &[usize] {
        &self.depth
    }
    /// `r`: the largest depth. After `r` steps no belief mass is left on transient states, and
    /// from step `r + 1` on the exact filter is linear.
    pub fn transient_depth(&self) -> usize {
        self.depth.iter().copied().max().unwrap_or(0)
    }
    /// Whether the map is a permutation (no transient states).
    pub fn is_permutation(&self) -> bool {
        self.recurrent.iter().all(|&r| r)
    }
    /// Lengths of the cycles.
    pub fn cycle_lengths(&self) -> &[usize] {
        &self.cycle_lengths
    }
    /// `M`, the order of the permutation on the recurrent states (lcm of the cycle lengths);
    /// `None` if it overflows `u64`.
    pub fn order(&self) -> Option<u64> {
        self.cycle_lengths.iter().try_fold(1u64, |acc, &l| {
            let l = l as u64;
            (acc / gcd(acc, l)).checked_mul(l)
        })
    }
    /// The gather form of `A = diag(P, I_r)`: `(A w)_i = w[gather[i]]`.
    pub fn gather(&self) -> &[usize] {
        &self.gather
    }
    /// Fails with [`HmmError::NotPermutation`] unless every state has exactly one predecessor.
    pub fn require_permutation(&self, action: usize) -> Result<(), HmmError> {
        let mut count = vec![0usize; self.n_states()];
        for &s in &self.successor {
            count[s] += 1;
        }
        match count.iter().position(|&c| c != 1) {
            Some(state) => Err(HmmError::NotPermutation {
                action,
                state,
                predecessors: count[state],
            }),
            None => Ok(()),
        }
    }
}

/// A near-deterministic transition `T = D + εQ` (paper, Def. 5.1): `D` deterministic, the
/// columns of `Q` summing to 0, scaled so that `Q`'s most negative entry is `q_min = −1` — so
/// `ε` is the largest probability of leaving the deterministic successor.
#[derive(Debug, Clone, PartialEq)]
pub struct NearDeterministic {
    /// The functional graph of `D` (each column's most likely successor; ties to the lowest
    /// index).
    pub structure: DeterministicStructure,
    /// `ε = max_j (1 − T[f(j), j])` (0 for a deterministic `T`).
    pub epsilon: f64,
    /// `Q = (T − D) / ε` (zero when `ε = 0`).
    pub q: DMatrix<f64>,
}

/// A square, column-stochastic matrix (finite, non-negative, columns summing to 1 within
/// [`core_linalg::STOCHASTIC_TOL`]).
fn check_square_stochastic(t: &DMatrix<f64>, action: usize) -> Result<(), HmmError> {
    if t.nrows() != t.ncols() || t.is_empty() {
        return Err(HmmError::Shape {
            what: "transition matrix",
            expected: "square and non-empty".into(),
            got: format!("{} × {}", t.nrows(), t.ncols()),
        });
    }
    core_linalg::check_column_stochastic(t, core_linalg::STOCHASTIC_TOL)
        .map_err(|source| HmmError::Transition { action, source })
}

impl NearDeterministic {
    /// Decomposes a square column-stochastic `T`. Refuses (typed errors) a matrix that is not
    /// square and column-stochastic, a column whose largest entry is tied (no unique successor:
    /// a uniform `T` would otherwise become "deterministic" with `ε = 1 − 1/n`), and `ε ≥ 1/2`
    /// (a largest entry of at most 1/2 is not a near-deterministic transition).
    pub fn decompose(t: &DMatrix<f64>) -> Result<Self, HmmError> {
        check_square_stochastic(t, 0)?;
        let n = t.ncols();
        let mut succ = Vec::with_capacity(n);
        for (j, c) in t.column_iter().enumerate() {
            let mut best = 0;
            for (i, &v) in c.iter().enumerate() {
                if v > c[best] {
                    best = i;
                }
            }
            if c.iter()
                .enumerate()
                .any(|(i, &v)| i != best && v == c[best])
            {
                return Err(HmmError::NotNearDeterministic {
                    column: j,
                    reason: format!("its largest entry {} is tied", c[best]),
                });
            }
            if c[best] <= 0.5 {
                return Err(HmmError::NotNearDeterministic {
                    column: j,
                    reason: format!("its largest entry {} gives ε ≥ 1/2", c[best]),
                });
            }
            succ.push(best);
        }
        let structure = DeterministicStructure::from_successors(succ)?;
        let mut d = DMatrix::zeros(n, n);
        for (j, &i) in structure.successors().iter().enumerate() {
            d[(i, j)] = 1.0;
        }
        let diff = t - &d;
        let epsilon = structure
            .successors()
            .iter()
            .enumerate()
            .map(|(j, &i)| 1.0 - t[(i, j)])
            .fold(0.0f64, f64::max);
        let q = if epsilon > 0.0 {
            diff / epsilon
        } else {
            DMatrix::zeros(n, n)
        };
        Ok(Self {
            structure,
            epsilon,
            q,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functional_graph_analysis_by_hand() {
        // 0 -> 1 -> 2 -> 0 (3-cycle), 3 -> 3 (fixed point), 4 -> 5 -> 0, 6 -> 4.
        let s = DeterministicStructure::from_successors(vec![1, 2, 0, 3, 5, 0, 4]).unwrap();
        assert_eq!(
            s.recurrent(),
            &[true, true, true, true, false, false, false]
        );
        assert_eq!(s.depth(), &[0, 0, 0, 0, 2, 1, 3]);
        assert_eq!(s.transient_depth(), 3);
        let mut lens = s.cycle_lengths().to_vec();
        lens.sort();
        assert_eq!(lens, vec![1, 3]);
        assert_eq!(s.order(), Some(3));
        assert!(!s.is_permutation());
        // gather: recurrent i reads its predecessor on the cycle; transients read themselves.
        assert_eq!(s.gather(), &[2, 0, 1, 3, 4, 5, 6]);
        assert!(matches!(
            s.require_permutation(0),
            Err(HmmError::NotPermutation {
                state: 0,
                predecessors: 2,
                ..
            })
        ));
        assert!(DeterministicStructure::from_successors(vec![1, 7]).is_err());
    }

    #[test]
    fn decomposition_of_the_two_state_example() {
        let eps = 0.01;
        let t = DMatrix::from_row_slice(2, 2, &[eps, 1.0 - eps, 1.0 - eps, eps]);
        let nd = NearDeterministic::decompose(&t).unwrap();
        assert_eq!(nd.structure.successors(), &[1, 0]);
        assert!((nd.epsilon - eps).abs() < 1e-15);
        // Q = [[1, -1], [-1, 1]]: columns sum to 0, q_min = -1.
        assert!((nd.q[(0, 0)] - 1.0).abs() < 1e-12 && (nd.q[(1, 0)] + 1.0).abs() < 1e-12);
        assert_eq!(nd.structure.order(), Some(2));
    }

    #[test]
    fn from_matrix_rejects_stochastic_columns() {
        let t = DMatrix::from_row_slice(2, 2, &[0.5, 0.0, 0.5, 1.0]);
        assert!(matches!(
            DeterministicStructure::from_matrix(&t, 2),
            Err(HmmError::NotDeterministic {
                action: 2,
                column: 0,
                ..
            })
        ));
    }
}
