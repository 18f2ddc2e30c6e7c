use crate::HmmError;
use core_linalg::{check_column_stochastic, check_probability_vector, STOCHASTIC_TOL};
use nalgebra::DMatrix;
use rand::Rng;

/// A hidden Markov model whose transition depends on an action: `T(a)[i, j] = P(s_k = i |
/// s_{k−1} = j, a_k = a)` (column-stochastic), emissions `E[o, s] = P(y = o | s)` (columns sum to
/// one) and an initial distribution `π₀`. Each step is transition, then emission.
///
/// Constructors check shapes, finiteness, non-negativity and column sums to
/// [`STOCHASTIC_TOL`] (`1e-9`, absolute).
#[derive(Debug, Clone, PartialEq)]
pub struct ControlledHmm {
    transitions: Vec<DMatrix<f64>>,
    emission: DMatrix<f64>,
    initial: Vec<f64>,
    /// `log_emission[o][s] = log E[o, s]`, one row per observation.
    log_emission: Vec<Vec<f64>>,
}

/// An uncontrolled hidden Markov model: a [`ControlledHmm`] with one action.
#[derive(Debug, Clone, PartialEq)]
pub struct Hmm(ControlledHmm);

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
        Ok(Self {
            transitions,
            emission,
            initial,
            log_emission,
        })
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
