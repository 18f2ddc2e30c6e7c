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

/// The exact filter of an HMM whose `T` is deterministic but not a permutation (a functional
/// graph with transient states), in the paper's block form: `w_k = diag(P, I_r) w_{k−1} +
/// (log E)ᵀ y_k + u_k`, where the correction input `u_k` is non-zero only for the first `r`
/// steps (`r` = [`DeterministicStructure::transient_depth`]): it absorbs the belief flowing out
/// of transient states. From step `r` on, transient logits are `−∞` (belief exactly 0); from
/// step `r + 1` on, `u_k = 0` and the filter is purely linear.
///
/// Needs `E > 0` on recurrent states (transient states may have zero emissions).
#[derive(Debug, Clone)]
pub struct FunctionalGraphFilter {
    structure: DeterministicStructure,
    predecessors: Vec<Vec<usize>>,
    kernel: LinearFilter,
    steps: usize,
    correction: Vec<f64>,
}

impl FunctionalGraphFilter {
    /// Builds the filter for an uncontrolled model with deterministic `T`, from `w_0 = log π₀`.
    pub fn new<M: AsRef<ControlledHmm> + ?Sized>(model: &M) -> Result<Self, HmmError> {
        let model = model.as_ref();
        if model.n_actions() != 1 {
            return Err(HmmError::NeedsOneAction(model.n_actions()));
        }
        let structure = DeterministicStructure::from_matrix(&model.transitions()[0], 0)?;
        require_positive_emission(model, |s| structure.recurrent()[s])?;
        let n = model.n_states();
        let mut predecessors = vec![Vec::new(); n];
        for (j, &i) in structure.successors().iter().enumerate() {
            predecessors[i].push(j);
        }
        let w0 = model.initial().iter().map(|p| p.ln()).collect();
        let mut kernel = LinearFilter::from_parts(
            vec![structure.gather().to_vec()],
            model.log_emission_rows().to_vec(),
            1.0,
            1.0,
            w0,
        )?;
        kernel.set_renormalise(true);
        Ok(Self {
            structure,
            predecessors,
            kernel,
            steps: 0,
            correction: vec![0.0; n],
        })
    }

    /// The graph's structure (recurrent states, depth `r`, …).
    pub fn structure(&self) -> &DeterministicStructure {
        &self.structure
    }

    /// The block-form linear system `(diag(P, I_r), (log E)ᵀ)` (in the original state order).
    pub fn linear_system(&self) -> LinearSystem {
        // Action 0 exists by construction.
        self.kernel
            .linear_system(0)
            .unwrap_or_else(|_| unreachable!())
    }

    /// The correction input `u_k` of the last step (extended reals; `−∞ − (−∞)` read as 0).
    pub fn last_correction(&self) -> &[f64] {
        &self.correction
    }

    /// One step.
    pub fn step(&mut self, obs: usize) -> Result<(), HmmError> {
        if self.steps >= self.structure.transient_depth() {
            self.kernel.step(obs)?;
            self.correction.iter_mut().for_each(|u| *u = 0.0);
        } else {
            let (_, le) = self.kernel.parts(0, obs)?;
            let w = self.kernel.logits();
            let g = self.structure.gather();
            let exact: Vec<f64> = (0..w.len())
                .map(|i| {
                    let terms: Vec<f64> = self.predecessors[i].iter().map(|&j| w[j]).collect();
                    logsumexp(&terms) + le[i]
                })
                .collect();
            for i in 0..w.len() {
                let lin = w[g[i]] + le[i];
                self.correction[i] = if exact[i] == lin { 0.0 } else { exact[i] - lin };
            }
            self.kernel.set_logits(&exact)?;
        }
        self.steps += 1;
        Ok(())
    }
}

impl LogitFilter for FunctionalGraphFilter {
    fn step_with_action(&mut self, action: usize, obs: usize) -> Result<(), HmmError> {
        if action != 0 {
            return Err(HmmError::ActionOutOfRange {
                action,
                n_actions: 1,
            });
        }
        self.step(obs)
    }
    fn logits(&self) -> &[f64] {
        self.kernel.logits()
    }
}
