use crate::HmmError;
use core_linalg::{check_column_stochastic, check_probability_vector, STOCHASTIC_TOL};
use nalgebra::DMatrix;
use nalgebra_sparse::{CscMatrix, CsrMatrix};
use rand::Rng;
use std::rc::Rc;
use std::sync::Arc;

/// A transition matrix with at most this fraction of non-zero entries is also stored in
/// compressed form, and the log-forward filter steps it in `O(nnz)` instead of `O(|S|²)`.
pub const SPARSE_DENSITY: f64 = 0.25;

/// The non-zeros of a sparse transition matrix, by column (the push `T p`) and by row (the
/// exact log-sum-exp of a row whose push underflows).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SparseTransition {
    pub(crate) by_column: CscMatrix<f64>,
    pub(crate) by_row: CsrMatrix<f64>,
}

impl SparseTransition {
    fn of(t: &DMatrix<f64>) -> Option<Self> {
        let nnz = t.iter().filter(|&&x| x != 0.0).count();
        if (nnz as f64) > SPARSE_DENSITY * t.len() as f64 {
            return None;
        }
        let by_column = CscMatrix::from(t);
        let by_row = CsrMatrix::from(&by_column);
        Some(Self { by_column, by_row })
    }
}

/// A hidden Markov model whose transition depends on an action: `T(a)[i, j] = P(s_k = i |
/// s_{k−1} = j, a_k = a)` (column-stochastic), emissions `E[o, s] = P(y = o | s)` (columns sum to
/// one) and an initial distribution `π₀`. Each step is transition, then emission.
///
/// Constructors check shapes, finiteness, non-negativity and column sums to
/// [`STOCHASTIC_TOL`] (`1e-9`, absolute).
///
/// With the feature `serde` a model (de)serialises as its three parts in row-major nested
/// arrays — `{"transitions": [[[…], …], …], "emission": [[…], …], "initial": […]}` — and
/// deserialising validates exactly as [`new`](Self::new) does.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "serde_form::Parts", into = "serde_form::Parts")
)]
pub struct ControlledHmm {
    transitions: Vec<DMatrix<f64>>,
    emission: DMatrix<f64>,
    initial: Vec<f64>,
    /// `log_emission[o][s] = log E[o, s]`, one row per observation.
    log_emission: Vec<Vec<f64>>,
    /// Compressed non-zeros of each `T(a)` sparse enough to gain from them.
    sparse: Vec<Option<SparseTransition>>,
}

/// An uncontrolled hidden Markov model: a [`ControlledHmm`] with one action (with the feature
/// `serde`, the same form with one transition matrix).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "ControlledHmm", into = "ControlledHmm")
)]
pub struct Hmm(ControlledHmm);

impl TryFrom<ControlledHmm> for Hmm {
    type Error = HmmError;
    /// A one-action model as an [`Hmm`]; [`HmmError::NeedsOneAction`] otherwise.
    fn try_from(m: ControlledHmm) -> Result<Self, HmmError> {
        if m.n_actions() == 1 {
            Ok(Hmm(m))
        } else {
            Err(HmmError::NeedsOneAction(m.n_actions()))
        }
    }
}

impl From<Hmm> for ControlledHmm {
    fn from(h: Hmm) -> Self {
        h.0
    }
}

#[cfg(feature = "serde")]
mod serde_form {
    use super::ControlledHmm;
    use crate::HmmError;
    use nalgebra::DMatrix;

    /// The serialised form: row-major nested arrays.
    #[derive(serde::Serialize, serde::Deserialize)]
    pub(super) struct Parts {
        transitions: Vec<Vec<Vec<f64>>>,
        emission: Vec<Vec<f64>>,
        initial: Vec<f64>,
    }

    fn rows(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
        m.row_iter().map(|r| r.iter().copied().collect()).collect()
    }

    fn matrix(what: &'static str, rows: &[Vec<f64>]) -> Result<DMatrix<f64>, HmmError> {
        let ncols = rows.first().map_or(0, Vec::len);
        if let Some(r) = rows.iter().find(|r| r.len() != ncols) {
            return Err(HmmError::Shape {
                what,
                expected: format!("rows of {ncols} entries"),
                got: format!("a row of {}", r.len()),
            });
        }
        Ok(DMatrix::from_fn(rows.len(), ncols, |i, j| rows[i][j]))
    }

    impl From<ControlledHmm> for Parts {
        fn from(m: ControlledHmm) -> Self {
            Parts {
                transitions: m.transitions.iter().map(rows).collect(),
                emission: rows(&m.emission),
                initial: m.initial,
            }
        }
    }

    impl TryFrom<Parts> for ControlledHmm {
        type Error = HmmError;
        fn try_from(p: Parts) -> Result<Self, HmmError> {
            let transitions = p
                .transitions
                .iter()
                .map(|t| matrix("transition matrix rows", t))
                .collect::<Result<Vec<_>, _>>()?;
            let emission = matrix("emission matrix rows", &p.emission)?;
            ControlledHmm::new(transitions, emission, p.initial)
        }
    }
}

/// A sampled trajectory: `states[0] ~ π₀`, then for `k = 1..=n` a transition to `states[k]`
/// and an observation `observations[k − 1]` emitted from `states[k]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trajectory {
    /// `s_0, …, s_n`.
    pub states: Vec<usize>,
    /// `y_1, …, y_n`.
    pub observations: Vec<usize>,
    /// `a_1, …, a_n` (all 0 for an uncontrolled model).
    pub actions: Vec<usize>,
}

fn sample_column<R: Rng + ?Sized>(m: &DMatrix<f64>, col: usize, rng: &mut R) -> usize {
    let n = m.nrows();
    core_linalg::sample_index(&m.as_slice()[col * n..(col + 1) * n], rng)
}

impl ControlledHmm {
    /// Builds and validates a controlled HMM.
    pub fn new(
        transitions: Vec<DMatrix<f64>>,
        emission: DMatrix<f64>,
        initial: Vec<f64>,
    ) -> Result<Self, HmmError> {
        if transitions.is_empty() {
            return Err(HmmError::NoActions);
        }
        let s = initial.len();
        check_probability_vector(&initial, STOCHASTIC_TOL).map_err(HmmError::Initial)?;
        for (a, t) in transitions.iter().enumerate() {
            if t.shape() != (s, s) {
                return Err(HmmError::Shape {
                    what: "transition matrix",
                    expected: format!("{s}×{s} (from the initial distribution)"),
                    got: format!("{}×{} for action {a}", t.nrows(), t.ncols()),
                });
            }
            check_column_stochastic(t, STOCHASTIC_TOL)
                .map_err(|source| HmmError::Transition { action: a, source })?;
        }
        if emission.ncols() != s {
            return Err(HmmError::Shape {
                what: "emission matrix columns (one per state)",
                expected: format!("{s}"),
                got: format!("{}", emission.ncols()),
            });
        }
        check_column_stochastic(&emission, STOCHASTIC_TOL).map_err(HmmError::Emission)?;
        let log_emission = (0..emission.nrows())
            .map(|o| emission.row(o).iter().map(|e| e.ln()).collect())
            .collect();
        let sparse = transitions.iter().map(SparseTransition::of).collect();
        Ok(Self {
            transitions,
            emission,
            initial,
            log_emission,
            sparse,
        })
    }

    /// Whether `T(action)` is stored sparse (at most [`SPARSE_DENSITY`] of its entries
    /// non-zero), so that the log-forward filter steps it in `O(nnz)`.
    pub fn is_sparse(&self, action: usize) -> bool {
        matches!(self.sparse.get(action), Some(Some(_)))
    }
    pub(crate) fn sparse_transition(&self, action: usize) -> Option<&SparseTransition> {
        self.sparse.get(action).and_then(Option::as_ref)
    }

    /// Number of hidden states `|S|`.
    pub fn n_states(&self) -> usize {
        self.initial.len()
    }
    /// Number of observation symbols `|O|`.
    pub fn n_obs(&self) -> usize {
        self.emission.nrows()
    }
    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.transitions.len()
    }
    /// `T(action)`, or an error for an unknown action.
    #[inline]
    pub fn transition(&self, action: usize) -> Result<&DMatrix<f64>, HmmError> {
        self.transitions
            .get(action)
            .ok_or_else(|| HmmError::ActionOutOfRange {
                action,
                n_actions: self.n_actions(),
            })
    }
    /// All transition matrices, indexed by action.
    pub fn transitions(&self) -> &[DMatrix<f64>] {
        &self.transitions
    }
    /// The emission matrix `E` (`|O| × |S|`).
    pub fn emission(&self) -> &DMatrix<f64> {
        &self.emission
    }
    /// `π₀`.
    pub fn initial(&self) -> &[f64] {
        &self.initial
    }
    /// `log E[obs, ·]` (length `|S|`), or an error for an unknown observation.
    #[inline]
    pub fn log_emission_row(&self, obs: usize) -> Result<&[f64], HmmError> {
        self.log_emission
            .get(obs)
            .map(Vec::as_slice)
            .ok_or_else(|| HmmError::ObservationOutOfRange {
                obs,
                n_obs: self.n_obs(),
            })
    }
    pub(crate) fn log_emission_rows(&self) -> &[Vec<f64>] {
        &self.log_emission
    }
    /// Checks `action < n_actions`.
    pub(crate) fn check_action(&self, action: usize) -> Result<(), HmmError> {
        self.transition(action).map(|_| ())
    }

    /// Draws `s_0 ~ π₀`.
    pub fn sample_initial<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        core_linalg::sample_index(&self.initial, rng)
    }
    fn check_state(&self, state: usize) -> Result<(), HmmError> {
        if state < self.initial.len() {
            Ok(())
        } else {
            Err(HmmError::StateOutOfRange {
                state,
                n_states: self.initial.len(),
            })
        }
    }

    /// Draws the next state from `T(action)[:, state]`. Errors on an action or state out of
    /// range.
    pub fn sample_transition<R: Rng + ?Sized>(
        &self,
        action: usize,
        state: usize,
        rng: &mut R,
    ) -> Result<usize, HmmError> {
        self.check_action(action)?;
        self.check_state(state)?;
        Ok(sample_column(&self.transitions[action], state, rng))
    }
    /// Draws an observation from `E[:, state]`. Errors on a state out of range.
    pub fn sample_emission<R: Rng + ?Sized>(
        &self,
        state: usize,
        rng: &mut R,
    ) -> Result<usize, HmmError> {
        self.check_state(state)?;
        Ok(sample_column(&self.emission, state, rng))
    }

    /// Samples a trajectory under the given actions (one per step).
    pub fn sample_with_actions<R: Rng + ?Sized>(
        &self,
        actions: &[usize],
        rng: &mut R,
    ) -> Result<Trajectory, HmmError> {
        let mut s = self.sample_initial(rng);
        let mut t = Trajectory {
            states: vec![s],
            observations: Vec::with_capacity(actions.len()),
            actions: actions.to_vec(),
        };
        for &a in actions {
            self.check_action(a)?;
            s = self.sample_transition(a, s, rng)?;
            t.states.push(s);
            t.observations.push(self.sample_emission(s, rng)?);
        }
        Ok(t)
    }
}

impl AsRef<ControlledHmm> for ControlledHmm {
    fn as_ref(&self) -> &ControlledHmm {
        self
    }
}

/// Anything that holds a model: the model itself (a filter that owns it), a reference (a
/// filter that borrows it), or a shared pointer. [`LogForwardFilter`](crate::LogForwardFilter)
/// is generic over it, so a filter can live in a struct beside — or instead of — its model.
pub trait ModelRef {
    /// The model as a [`ControlledHmm`].
    fn model(&self) -> &ControlledHmm;
}

impl ModelRef for ControlledHmm {
    fn model(&self) -> &ControlledHmm {
        self
    }
}
impl ModelRef for Hmm {
    fn model(&self) -> &ControlledHmm {
        &self.0
    }
}
impl<T: ModelRef + ?Sized> ModelRef for &T {
    fn model(&self) -> &ControlledHmm {
        (**self).model()
    }
}
impl<T: ModelRef + ?Sized> ModelRef for Box<T> {
    fn model(&self) -> &ControlledHmm {
        (**self).model()
    }
}
impl<T: ModelRef + ?Sized> ModelRef for Arc<T> {
    fn model(&self) -> &ControlledHmm {
        (**self).model()
    }
}
impl<T: ModelRef + ?Sized> ModelRef for Rc<T> {
    fn model(&self) -> &ControlledHmm {
        (**self).model()
    }
}

impl Hmm {
    /// Builds and validates an HMM (see [`ControlledHmm::new`]).
    pub fn new(
        transition: DMatrix<f64>,
        emission: DMatrix<f64>,
        initial: Vec<f64>,
    ) -> Result<Self, HmmError> {
        ControlledHmm::new(vec![transition], emission, initial).map(Hmm)
    }
    /// The transition matrix `T`.
    pub fn transition(&self) -> &DMatrix<f64> {
        &self.0.transitions[0]
    }
    /// The model as a one-action [`ControlledHmm`].
    pub fn controlled(&self) -> &ControlledHmm {
        &self.0
    }
    /// Samples a trajectory of `steps` steps.
    pub fn sample<R: Rng + ?Sized>(&self, steps: usize, rng: &mut R) -> Trajectory {
        let actions = vec![0; steps];
        // Action 0 always exists, so this cannot fail.
        self.0
            .sample_with_actions(&actions, rng)
            .unwrap_or_else(|_| unreachable!())
    }
}

impl std::ops::Deref for Hmm {
    type Target = ControlledHmm;
    fn deref(&self) -> &ControlledHmm {
        &self.0
    }
}

impl AsRef<ControlledHmm> for Hmm {
    fn as_ref(&self) -> &ControlledHmm {
        &self.0
    }
}
