use rand::Rng;

/// What one environment step returned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// The reward of the step.
    pub reward: f64,
    /// The next state, or `None` when the episode ended.
    pub next: Option<usize>,
}

/// A finite episodic environment whose agent sees only a deterministic feature `z = φ(x)` of the
/// state `x` (hard state aggregation).
///
/// States, features and actions are indices `0..n`. The environment itself holds no episode
/// state: [`reset`](Environment::reset) returns a start state and [`step`](Environment::step)
/// maps a state and action to a [`Transition`], so one environment can be shared by many
/// learners running in parallel.
///
/// Indices out of range are a caller's bug: [`TabularEnv`](crate::TabularEnv) and
/// [`Corridor`](crate::Corridor) panic on them with a message (documented on each method),
/// never reading another state's row.
pub trait Environment {
    /// Number of states.
    fn n_states(&self) -> usize;
    /// Number of features (values of `φ`).
    fn n_features(&self) -> usize;
    /// Number of actions.
    fn n_actions(&self) -> usize;
    /// The feature `φ(state)` the agent observes.
    fn feature(&self, state: usize) -> usize;
    /// Draws a start state.
    fn reset<R: Rng + ?Sized>(&self, rng: &mut R) -> usize;
    /// Takes `action` in `state`.
    fn step<R: Rng + ?Sized>(&self, state: usize, action: usize, rng: &mut R) -> Transition;
}
