use crate::filter::LogitFilter;
use crate::structure::{DeterministicStructure, NearDeterministic};
use crate::{ControlledHmm, HmmError};
use core_linalg::logsumexp;
use nalgebra::DMatrix;

/// A linear time-invariant system `h_k = A h_{k−1} + B y_k` (`y_k` one-hot), in the dense form
/// any linear-RNN code takes.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearSystem {
    /// `A` (`|S| × |S|`).
    pub a: DMatrix<f64>,
    /// `B` (`|S| × |O|`).
    pub b: DMatrix<f64>,
}

/// How the ALF's forgetting factor `δ` depends on the near-determinism level `ε`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeltaSchedule {
    /// `δ = c` whatever `ε` (δ = 0 never updates, δ = 1 is memoryless).
    Constant(f64),
    /// `δ = ε^p` (`p = 1/2` is the paper's `√ε`; `p = 2` forgets too slowly).
    Power(f64),
    /// `δ = λ / log(1/ε)`, the rate-optimal schedule of Thm 5.7 (valid for `λ ∈ (0, ξ)`).
    LogInverse {
        /// `λ`.
        lambda: f64,
    },
}

impl DeltaSchedule {
    /// `δ(ε)`; errors unless `ε ∈ (0, 1)` and the result lies in `[0, 1]`.
    pub fn delta(&self, epsilon: f64) -> Result<f64, HmmError> {
        if !(epsilon > 0.0 && epsilon < 1.0) {
            return Err(HmmError::InvalidEpsilon(epsilon));
        }
        let d = match *self {
            DeltaSchedule::Constant(c) => c,
            DeltaSchedule::Power(p) => epsilon.powf(p),
            DeltaSchedule::LogInverse { lambda } => lambda / (1.0 / epsilon).ln(),
        };
        if (0.0..=1.0).contains(&d) {
            Ok(d)
        } else {
            Err(HmmError::InvalidDelta(d))
        }
    }

    /// A short label: `0.7/log(1/ε)`, `ε^0.5`, `δ=1`, ….
    pub fn label(&self) -> String {
        match *self {
            DeltaSchedule::Constant(c) => format!("δ={c}"),
            DeltaSchedule::Power(0.5) => "√ε".into(),
            DeltaSchedule::Power(2.0) => "ε²".into(),
            DeltaSchedule::Power(p) => format!("ε^{p}"),
            DeltaSchedule::LogInverse { lambda } => format!("{lambda}/log(1/ε)"),
        }
    }
}

/// A linear logit filter `w_k = α·A(a_k)·w_{k−1} + β·(log E)ᵀ y_k`, with each `A(a)` a 0/1
/// matrix with one 1 per row, applied as a gather in `O(|S|)` per step.
///
/// - [`LinearFilter::exact`]: the paper's Thm 4.4 / Cor 4.5 filter (`α = β = 1`, `A(a) = P(a)`
///   permutations, `w_0 = log π₀`): it equals the exact filter up to an additive constant.
/// - [`LinearFilter::adaptive`]: the ALF of eq. 28 / 65 (`α = 1 − δ`, `β = δ`,
///   `A(a) = diag(P(a), I_r)` from the deterministic part of each `T(a)`, `w_0 = 0`).
///
/// Both need `E > 0` (finite `log E`).
///
/// The exact filter's logits accumulate log-likelihoods and grow linearly with time, and f64
/// rounding at magnitude `|w|` grows with them (≈ 4e-9 in normalised log-beliefs after 10⁴
/// steps). Because every row of `A(a)` holds exactly one 1, `A(w − c·1) = A w − c·1`: subtracting
/// the maximum after each step changes the logits only by a constant. [`LinearFilter::exact`]
/// does so (see [`set_renormalise`](Self::set_renormalise)); [`offset`](Self::offset) holds the
/// total subtracted, so `logits() + offset()` are the paper's unnormalised logits.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFilter {
    gathers: Vec<Vec<usize>>,
    log_e: Vec<Vec<f64>>,
    alpha: f64,
    beta: f64,
    w: Vec<f64>,
    next: Vec<f64>,
    renormalise: bool,
    offset: f64,
}

pub(crate) fn require_positive_emission(
    model: &ControlledHmm,
    states: impl Fn(usize) -> bool,
) -> Result<(), HmmError> {
    let e = model.emission();
    for s in (0..e.ncols()).filter(|&s| states(s)) {
        for o in 0..e.nrows() {
            if e[(o, s)] <= 0.0 {
                return Err(HmmError::ZeroEmission { obs: o, state: s });
            }
        }
    }
    Ok(())
}

impl LinearFilter {
    /// The exact linear filter of a model whose every `T(a)` is a permutation matrix.
    ///
    /// Errors: [`HmmError::NotDeterministic`] / [`HmmError::NotPermutation`] for a transition
    /// that is not a permutation, [`HmmError::ZeroEmission`] for a zero in `E`.
    pub fn exact<M: AsRef<ControlledHmm> + ?Sized>(model: &M) -> Result<Self, HmmError> {
        let model = model.as_ref();
        let mut gathers = Vec::new();
        for (a, t) in model.transitions().iter().enumerate() {
            let s = DeterministicStructure::from_matrix(t, a)?;
            s.require_permutation(a)?;
            gathers.push(s.gather().to_vec());
        }
        require_positive_emission(model, |_| true)?;
        let w0 = model.initial().iter().map(|p| p.ln()).collect();
        let mut f = Self::from_parts(gathers, model.log_emission_rows().to_vec(), 1.0, 1.0, w0)?;
        f.renormalise = true;
        Ok(f)
    }

    /// The adaptive logit filter (ALF) with forgetting factor `delta ∈ [0, 1]`, starting from
    /// `w_0 = 0`. Each `T(a)` is read as near-deterministic (`T = D + εQ`, see
    /// [`NearDeterministic`]) and `A(a) = diag(P(a), I_r)` from `D(a)`.
    pub fn adaptive<M: AsRef<ControlledHmm> + ?Sized>(
        model: &M,
        delta: f64,
    ) -> Result<Self, HmmError> {
        let model = model.as_ref();
        if !(0.0..=1.0).contains(&delta) {
            return Err(HmmError::InvalidDelta(delta));
        }
        let gathers = model
            .transitions()
            .iter()
            .map(|t| NearDeterministic::decompose(t).map(|nd| nd.structure.gather().to_vec()))
            .collect::<Result<Vec<_>, _>>()?;
        require_positive_emission(model, |_| true)?;
        let n = model.n_states();
        Self::from_parts(
            gathers,
            model.log_emission_rows().to_vec(),
            1.0 - delta,
            delta,
            vec![0.0; n],
        )
    }

    /// A filter from raw parts: `gathers[a][i]` is the column of the 1 in row `i` of `A(a)`,
    /// `log_emission_rows[o][i] = log E[o, i]`, the scalars `α`, `β` and the start `w_0`.
    pub fn from_parts(
        gathers: Vec<Vec<usize>>,
        log_emission_rows: Vec<Vec<f64>>,
        alpha: f64,
        beta: f64,
        w0: Vec<f64>,
    ) -> Result<Self, HmmError> {
        let n = w0.len();
        if gathers.is_empty() {
            return Err(HmmError::NoActions);
        }
        for g in &gathers {
            if g.len() != n || g.iter().any(|&j| j >= n) {
                return Err(HmmError::Shape {
                    what: "gather (one source index < |S| per state)",
                    expected: format!("{n} indices < {n}"),
                    got: format!("{} indices, max {:?}", g.len(), g.iter().max()),
                });
            }
        }
        if let Some(r) = log_emission_rows.iter().find(|r| r.len() != n) {
            return Err(HmmError::Shape {
                what: "log-emission row",
                expected: format!("{n}"),
                got: format!("{}", r.len()),
            });
        }
        crate::error::check_logits("initial logits", n, &w0)?;
        for (name, v) in [("alpha", alpha), ("beta", beta)] {
            if !v.is_finite() {
                return Err(HmmError::Unsupported(format!(
                    "{name} = {v}: the filter's scalars must be finite"
                )));
            }
        }
        // log E entries: finite or −∞ (a zero emission), never NaN or +∞.
        for (o, r) in log_emission_rows.iter().enumerate() {
            if let Some(i) = r.iter().position(|&x| x.is_nan() || x > 0.0) {
                return Err(HmmError::Unsupported(format!(
                    "log-emission row {o} has {} at state {i}: a log-probability is ≤ 0 and not NaN",
                    r[i]
                )));
            }
        }
        Ok(Self {
            gathers,
            log_e: log_emission_rows,
            alpha,
            beta,
            next: vec![0.0; n],
            w: w0,
            renormalise: false,
            offset: 0.0,
        })
    }

    /// Whether to subtract `max w` after each step (only valid as "the same logits up to a
    /// constant" when `α = 1`; the ALF's `α = 1 − δ` keeps its logits bounded anyway).
    /// Off by default, on for [`LinearFilter::exact`].
    pub fn set_renormalise(&mut self, on: bool) {
        self.renormalise = on;
    }

    /// The total subtracted by renormalisation since the last [`set_logits`](Self::set_logits).
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// Replaces the state `w` (e.g. to restart an episode).
    pub fn set_logits(&mut self, w: &[f64]) -> Result<(), HmmError> {
        crate::error::check_logits("logits", self.w.len(), w)?;
        self.w.copy_from_slice(w);
        self.offset = 0.0;
        Ok(())
    }

    /// `α` (1 for the exact filter, `1 − δ` for the ALF).
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    /// `β` (1 for the exact filter, `δ` for the ALF).
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// One step of an uncontrolled model (action 0).
    #[inline]
    pub fn step(&mut self, obs: usize) -> Result<(), HmmError> {
        self.step_with_action(0, obs)
    }

    /// `w ← α·A(action)·w + β·(log E)ᵀ e_obs`.
    ///
    /// Errors: an action or observation out of range, and [`HmmError::NoBelief`] when the new
    /// logits define no belief — a NaN or `+∞` (overflow, possible for `|α| > 1` or huge
    /// parts given to [`from_parts`](Self::from_parts)) or every entry `−∞`. On error the
    /// state is unchanged.
    #[inline]
    pub fn step_with_action(&mut self, action: usize, obs: usize) -> Result<(), HmmError> {
        self.step_inner(action, obs, None)
    }

    /// `w ← α·A(action)·w + β·(log E)ᵀ e_obs + u`, with an extra input `u` (the paper's
    /// correction input, e.g. `u_1 = P(l*_0 − l̃_0)` to start from arbitrary logits `l̃_0`).
    /// Renormalisation (when on) comes after the input. Errors as
    /// [`step_with_action`](Self::step_with_action), and for a `u` of the wrong length or
    /// with a NaN or `+∞` entry (`−∞` is allowed: it sets a state's belief to zero).
    pub fn step_with_input(
        &mut self,
        action: usize,
        obs: usize,
        u: &[f64],
    ) -> Result<(), HmmError> {
        if u.len() != self.w.len() {
            return Err(HmmError::Shape {
                what: "input u",
                expected: format!("{}", self.w.len()),
                got: format!("{}", u.len()),
            });
        }
        // −∞ entries are allowed (they keep a zero-probability state at zero); NaN and +∞ not.
        if let Some(index) = u.iter().position(|&x| x.is_nan() || x == f64::INFINITY) {
            return Err(HmmError::NaN {
                what: "input u (NaN or +∞)",
                index,
            });
        }
        self.step_inner(action, obs, Some(u))
    }

    fn step_inner(&mut self, action: usize, obs: usize, u: Option<&[f64]>) -> Result<(), HmmError> {
        let Self {
            gathers,
            log_e,
            alpha,
            beta,
            w,
            next,
            ..
        } = self;
        let n_actions = gathers.len();
        let n_obs = log_e.len();
        let g = gathers
            .get(action)
            .ok_or(HmmError::ActionOutOfRange { action, n_actions })?;
        let le = log_e
            .get(obs)
            .ok_or(HmmError::ObservationOutOfRange { obs, n_obs })?;
        let (alpha, beta) = (*alpha, *beta);
        for ((n, &src), &l) in next.iter_mut().zip(g).zip(le) {
            *n = alpha * w[src] + beta * l;
        }
        if let Some(u) = u {
            for (n, &ui) in next.iter_mut().zip(u) {
                *n += ui;
            }
        }
        // One pass for the largest entry and any NaN: the state must stay a belief.
        let (mut m, mut nan) = (f64::NEG_INFINITY, false);
        for &x in next.iter() {
            nan |= x.is_nan();
            m = m.max(x);
        }
        if nan || m == f64::INFINITY || (m == f64::NEG_INFINITY && !next.is_empty()) {
            return Err(HmmError::NoBelief {
                what: "logits after the step",
                reason: if nan {
                    "a NaN (an overflow such as ∞ − ∞)".into()
                } else if m == f64::INFINITY {
                    "an entry overflowed to +∞".into()
                } else {
                    "every entry is −∞".into()
                },
            });
        }
        if self.renormalise {
            self.next.iter_mut().for_each(|x| *x -= m);
            self.offset += m;
        }
        std::mem::swap(&mut self.w, &mut self.next);
        Ok(())
    }

    fn parts(&self, action: usize, obs: usize) -> Result<(&[usize], &[f64]), HmmError> {
        let g = self.gathers.get(action).ok_or(HmmError::ActionOutOfRange {
            action,
            n_actions: self.gathers.len(),
        })?;
        let le = self.log_e.get(obs).ok_or(HmmError::ObservationOutOfRange {
            obs,
            n_obs: self.log_e.len(),
        })?;
        Ok((g, le))
    }

    /// `A(a) w` without changing the state (the prediction before the input).
    pub fn apply_a(&self, action: usize, w: &[f64]) -> Result<Vec<f64>, HmmError> {
        let g = self.gathers.get(action).ok_or(HmmError::ActionOutOfRange {
            action,
            n_actions: self.gathers.len(),
        })?;
        if w.len() != g.len() {
            return Err(HmmError::Shape {
                what: "vector",
                expected: format!("{}", g.len()),
                got: format!("{}", w.len()),
            });
        }
        Ok(g.iter().map(|&j| w[j]).collect())
    }

    /// The filter as a dense linear system for action `a`: `A = α·A(a)`, `B = β·(log E)ᵀ`.
    pub fn linear_system(&self, action: usize) -> Result<LinearSystem, HmmError> {
        let (g, _) = self.parts(action, 0)?;
        let n = g.len();
        let mut a = DMatrix::zeros(n, n);
        for (i, &j) in g.iter().enumerate() {
            a[(i, j)] = self.alpha;
        }
        let b = DMatrix::from_fn(n, self.log_e.len(), |i, o| self.beta * self.log_e[o][i]);
        Ok(LinearSystem { a, b })
    }
}

impl LogitFilter for LinearFilter {
    fn step_with_action(&mut self, action: usize, obs: usize) -> Result<(), HmmError> {
        LinearFilter::step_with_action(self, action, obs)
    }
    fn logits(&self) -> &[f64] {
        &self.w
    }
}

/// The exact filter of an HMM whose `T(a)` are deterministic but not permutations (functional
/// graphs with transient states), in the paper's block form: `w_k = A(a_k) w_{k−1} +
/// (log E)ᵀ y_k + u_k` with `A(a) = diag(P(a), I_r)` (recurrent states read their recurrent
/// predecessor, transient states read themselves) and a correction input `u_k` that absorbs
/// the belief flowing out of transient states and merging into recurrent ones.
///
/// - **Uncontrolled** (one action): `u_k` is non-zero only for the first `r` steps (`r` =
///   [`DeterministicStructure::transient_depth`]); from step `r` on, transient logits are `−∞`
///   (belief exactly 0), and from step `r + 1` on the filter is the linear system alone.
/// - **Action-controlled** (several actions, each `T(a)` deterministic): the functional graphs of
///   different actions need not share their recurrent states, so no fixed step makes the
///   filter linear; each step computes the exact update `l_k(i) = log e_k(i) +
///   logsumexp_{j: f_a(j) = i} l_{k−1}(j)` (`O(|S|)`, one term per predecessor) and `u_k` is
///   its difference from the linear part — zero whenever no two states with belief merge.
///
/// The correction for the first steps depends on the observations (which branches merged
/// carries their evidence), so it is computed by the filter, not supplied by the user. From a
/// start supported on recurrent states only, the uncontrolled filter is linear from the first
/// step, and an arbitrary start `l̃_0` is corrected by the model-only input `u_1 = A(l*_0 − l̃_0)`
/// (see the experiment `exactness`).
///
/// Needs `E > 0` on recurrent states (every state for a controlled model); transient states
/// may have zero emissions. An observation impossible under the current belief is
/// [`HmmError::ImpossibleObservation`], with the state unchanged.
#[derive(Debug, Clone)]
pub struct FunctionalGraphFilter {
    structures: Vec<DeterministicStructure>,
    /// `predecessors[a][i]`: the states `j` with `f_a(j) = i`.
    predecessors: Vec<Vec<Vec<usize>>>,
    kernel: LinearFilter,
    steps: usize,
    correction: Vec<f64>,
    exact: Vec<f64>,
}

impl FunctionalGraphFilter {
    /// Builds the filter for a model whose every `T(a)` is deterministic, from `w_0 = log π₀`.
    ///
    /// Errors: [`HmmError::NotDeterministic`] for a transition that is not 0/1,
    /// [`HmmError::ZeroEmission`] for a zero emission where one is not allowed.
    pub fn new<M: AsRef<ControlledHmm> + ?Sized>(model: &M) -> Result<Self, HmmError> {
        let model = model.as_ref();
        let w0: Vec<f64> = model.initial().iter().map(|p| p.ln()).collect();
        Self::build(model, w0)
    }

    /// Builds the filter from arbitrary initial logits `l_0` (a prior `softmax(l_0)`; `−∞`
    /// entries allowed; NaN, `+∞` and all `−∞` refused).
    pub fn with_logits<M: AsRef<ControlledHmm> + ?Sized>(
        model: &M,
        l0: &[f64],
    ) -> Result<Self, HmmError> {
        let model = model.as_ref();
        crate::error::check_logits("initial logits", model.n_states(), l0)?;
        Self::build(model, l0.to_vec())
    }

    fn build(model: &ControlledHmm, w0: Vec<f64>) -> Result<Self, HmmError> {
        let structures = model
            .transitions()
            .iter()
            .enumerate()
            .map(|(a, t)| DeterministicStructure::from_matrix(t, a))
            .collect::<Result<Vec<_>, _>>()?;
        if let [only] = structures.as_slice() {
            require_positive_emission(model, |s| only.recurrent()[s])?;
        } else {
            require_positive_emission(model, |_| true)?;
        }
        let n = model.n_states();
        let predecessors = structures
            .iter()
            .map(|st| {
                let mut pred = vec![Vec::new(); n];
                for (j, &i) in st.successors().iter().enumerate() {
                    pred[i].push(j);
                }
                pred
            })
            .collect();
        let gathers = structures.iter().map(|st| st.gather().to_vec()).collect();
        let mut kernel =
            LinearFilter::from_parts(gathers, model.log_emission_rows().to_vec(), 1.0, 1.0, w0)?;
        kernel.set_renormalise(true);
        Ok(Self {
            structures,
            predecessors,
            kernel,
            steps: 0,
            correction: vec![0.0; n],
            exact: vec![0.0; n],
        })
    }

    /// The graph's structure under action 0 (recurrent states, depth `r`, …).
    pub fn structure(&self) -> &DeterministicStructure {
        &self.structures[0]
    }

    /// The structure of every action's functional graph.
    pub fn structures(&self) -> &[DeterministicStructure] {
        &self.structures
    }

    /// The block-form linear system `(diag(P, I_r), (log E)ᵀ)` of action 0 (in the original
    /// state order); [`linear_system_of`](Self::linear_system_of) for another action.
    pub fn linear_system(&self) -> LinearSystem {
        // Action 0 exists by construction.
        self.kernel
            .linear_system(0)
            .unwrap_or_else(|_| unreachable!())
    }

    /// The block-form linear system of `action`.
    pub fn linear_system_of(&self, action: usize) -> Result<LinearSystem, HmmError> {
        self.kernel.linear_system(action)
    }

    /// The correction input `u_k` of the last step (extended reals; `−∞ − (−∞)` read as 0).
    pub fn last_correction(&self) -> &[f64] {
        &self.correction
    }

    /// One step of an uncontrolled model (action 0).
    pub fn step(&mut self, obs: usize) -> Result<(), HmmError> {
        self.step_with_action(0, obs)
    }

    /// One step: the transition of `action`, then observe `obs`. On error the state is
    /// unchanged.
    pub fn step_with_action(&mut self, action: usize, obs: usize) -> Result<(), HmmError> {
        let linear_now =
            self.structures.len() == 1 && self.steps >= self.structures[0].transient_depth();
        if linear_now {
            // Recurrent-only support: the step is the linear system, u_k = 0. With E > 0 on
            // recurrent states the observation is always possible.
            self.kernel
                .step_with_action(action, obs)
                .map_err(|e| match e {
                    HmmError::NoBelief { .. } => HmmError::ImpossibleObservation { obs },
                    e => e,
                })?;
            self.correction.iter_mut().for_each(|u| *u = 0.0);
        } else {
            let (g, le) = self.kernel.parts(action, obs)?;
            let w = self.kernel.logits();
            let pred = &self.predecessors[action];
            for (i, e) in self.exact.iter_mut().enumerate() {
                *e = match pred[i].as_slice() {
                    [] => f64::NEG_INFINITY,
                    [j] => w[*j],
                    many => logsumexp(&many.iter().map(|&j| w[j]).collect::<Vec<_>>()),
                } + le[i];
            }
            if self.exact.iter().all(|&x| x == f64::NEG_INFINITY) {
                return Err(HmmError::ImpossibleObservation { obs });
            }
            for (i, u) in self.correction.iter_mut().enumerate() {
                let lin = w[g[i]] + le[i];
                *u = if self.exact[i] == lin {
                    0.0
                } else {
                    self.exact[i] - lin
                };
            }
            // Renormalise (the controlled filter runs this branch forever).
            let m = self.exact.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            self.exact.iter_mut().for_each(|x| *x -= m);
            let exact = std::mem::take(&mut self.exact);
            let r = self.kernel.set_logits(&exact);
            self.exact = exact;
            r?;
        }
        self.steps += 1;
        Ok(())
    }
}

impl LogitFilter for FunctionalGraphFilter {
    fn step_with_action(&mut self, action: usize, obs: usize) -> Result<(), HmmError> {
        FunctionalGraphFilter::step_with_action(self, action, obs)
    }
    fn logits(&self) -> &[f64] {
        self.kernel.logits()
    }
}
