//! Generated bad input through every public entry point of hmm-linear-filter (the `bad_input`
//! runner: no panic, no call over 2 s, no non-finite output from finite input, and the right
//! answer where an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry point
//! (default 300; 10⁴ for the deep run).
//!
//! Models are drawn small (0–4 states, 1–3 observations, 0–2 actions) with entries from the
//! hostile float classes, so most are refused and the rest are exercised. The independent
//! answers:
//! - the **plain forward algorithm** in probability space (no logs, no shifts) for the
//!   log-likelihood and belief of [`LogForwardFilter`] (compared while the likelihood stays
//!   above 1e-200, where the plain recursion is accurate);
//! - the log-forward filter's belief for [`LinearFilter::exact`] and
//!   [`FunctionalGraphFilter`] (a different algorithm: gathers plus a correction, no
//!   matrix–vector product);
//! - iterating the successor map for [`DeterministicStructure`] (recurrence, depth, order);
//! - `D + εQ = T` for [`NearDeterministic::decompose`];
//! - a plain scan for [`decode`].
//!
//! Documented non-finite values, left out of the finiteness count: logits and log-beliefs of
//! `−∞` (a state of probability zero), a log-likelihood of `−∞` is never returned (an
//! impossible observation is an error), and `chernoff_xi = +∞` (some pair of states is told
//! apart with certainty).

use bad_input::{all_finite, checked, res, Gen, Suite};
use hmm_linear_filter::*;
use nalgebra::DMatrix;

/// Transition matrices of a drawn kind: raw or stochastic, near-deterministic, or a
/// permutation; a tenth of the time of a wrong shape.
fn transition(g: &mut Gen, n: usize) -> DMatrix<f64> {
    let m = if g.coin(0.1) { g.below(5) } else { n };
    match g.below(4) {
        0 => g.column_stochastic(m, m),
        1 => g.near_deterministic(m),
        2 => permutation(g, m),
        _ => functional_graph(g, m),
    }
}

fn permutation(g: &mut Gen, n: usize) -> DMatrix<f64> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        p.swap(i, g.below(i + 1));
    }
    DMatrix::from_fn(n, n, |i, j| if p[j] == i { 1.0 } else { 0.0 })
}

fn functional_graph(g: &mut Gen, n: usize) -> DMatrix<f64> {
    let succ: Vec<usize> = (0..n).map(|_| g.below(n.max(1))).collect();
    DMatrix::from_fn(n, n, |i, j| if succ[j] == i { 1.0 } else { 0.0 })
}

/// A drawn model: `n` states (usually 1–4), `k` observations, `n_actions` actions; two
/// times in three every part is valid (so the filters get exercised), else hostile.
fn model(g: &mut Gen) -> Result<ControlledHmm, HmmError> {
    if g.coin(2.0 / 3.0) {
        let n = g.pick(&[1usize, 2, 3, 4]);
        let k = g.pick(&[1usize, 2, 3]);
        let ts = (0..g.pick(&[1usize, 2]))
            .map(|_| match g.below(4) {
                0 => g.clean_stochastic(n, n),
                1 => g.near_deterministic(n),
                2 => permutation(g, n),
                _ => functional_graph(g, n),
            })
            .collect();
        let e = g.clean_stochastic(k, n);
        let pi = g.clean_stochastic(n, 1).as_slice().to_vec();
        return ControlledHmm::new(ts, e, pi);
    }
    let n = g.pick(&[0usize, 1, 2, 2, 3, 3, 4, 4]);
    let k = g.pick(&[1usize, 2, 3]);
    let n_actions = g.pick(&[0usize, 1, 1, 2]);
    let ts = (0..n_actions).map(|_| transition(g, n)).collect();
    let cols = g.len_near(n);
    let e = g.column_stochastic(k, cols);
    let len = g.len_near(n);
    let pi = g.prob_of(len);
    ControlledHmm::new(ts, e, pi)
}

/// A sequence of (action, observation) pairs, sometimes out of range.
fn inputs(g: &mut Gen, m: &ControlledHmm) -> Vec<(usize, usize)> {
    let len = g.pick(&[0usize, 1, 3, 5]);
    (0..len)
        .map(|_| {
            let a = if g.coin(0.05) {
                g.index(m.n_actions())
            } else {
                g.below(m.n_actions())
            };
            let o = if g.coin(0.05) {
                g.index(m.n_obs())
            } else {
                g.below(m.n_obs())
            };
            (a, o)
        })
        .collect()
}

/// The plain forward algorithm: unnormalised α_k = E[y_k, ·] ⊙ (T(a_k) α_{k−1}), α_0 = π₀.
fn plain_forward(m: &ControlledHmm, start: &[f64], steps: &[(usize, usize)]) -> Vec<f64> {
    let n = m.n_states();
    let mut alpha = start.to_vec();
    for &(a, o) in steps {
        let t = m.transitions()[a].clone();
        alpha = (0..n)
            .map(|i| (0..n).map(|j| t[(i, j)] * alpha[j]).sum::<f64>() * m.emission()[(o, i)])
            .collect();
    }
    alpha
}

/// Compares a filter's belief with the plain forward belief (when the likelihood is not
/// tiny) to 1e-9.
fn belief_matches(belief: &[f64], alpha: &[f64]) -> bool {
    let s: f64 = alpha.iter().sum();
    if !(s > 1e-200 && s.is_finite()) {
        return true;
    }
    belief
        .iter()
        .zip(alpha)
        .all(|(b, a)| (b - a / s).abs() <= 1e-9)
}

/// The logits without their documented −∞ (zero-probability) entries.
fn finite_part(l: &[f64]) -> Vec<f64> {
    l.iter()
        .copied()
        .filter(|&x| x != f64::NEG_INFINITY)
        .collect()
}

/// Steps `f` through `steps`, stopping at the first error (an impossible observation or an
/// index out of range); returns how many steps succeeded.
fn run_filter<F: LogitFilter>(f: &mut F, steps: &[(usize, usize)]) -> usize {
    for (k, &(a, o)) in steps.iter().enumerate() {
        if f.step_with_action(a, o).is_err() {
            return k;
        }
    }
    steps.len()
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run("ControlledHmm::new / Hmm::new / accessors", |g| {
        let m = res!(model(g));
        // Independent check of the validation: every column of every T and of E is a
        // probability vector, π₀ too.
        let col_ok = |t: &DMatrix<f64>| {
            t.column_iter()
                .all(|c| c.iter().all(|&x| x >= 0.0) && (c.sum() - 1.0).abs() < 1e-6)
        };
        let right = m.transitions().iter().all(col_ok)
            && col_ok(m.emission())
            && (m.initial().iter().sum::<f64>() - 1.0).abs() < 1e-6
            && m.transition(m.n_actions()).is_err()
            && m.log_emission_row(m.n_obs()).is_err();
        let hmm = Hmm::new(
            m.transitions()[0].clone(),
            m.emission().clone(),
            m.initial().to_vec(),
        );
        checked(true, vec![], right && hmm.is_ok())
    });

    suite.run(
        "sample_initial / sample_transition / sample_emission / sample_with_actions",
        |g| {
            let m = res!(model(g));
            let mut rng = core_linalg::seeded_rng(g.below(1000) as u64);
            let s0 = m.sample_initial(&mut rng);
            let (a, s) = (g.index(m.n_actions()), g.index(m.n_states()));
            let mut right = s0 < m.n_states() && m.initial()[s0] > 0.0;
            match m.sample_transition(a, s, &mut rng) {
                Ok(s1) => {
                    right &=
                        a < m.n_actions() && s < m.n_states() && m.transitions()[a][(s1, s)] > 0.0
                }
                Err(_) => right &= a >= m.n_actions() || s >= m.n_states(),
            }
            match m.sample_emission(s, &mut rng) {
                Ok(o) => right &= s < m.n_states() && m.emission()[(o, s)] > 0.0,
                Err(_) => right &= s >= m.n_states(),
            }
            let steps = inputs(g, &m);
            let actions: Vec<usize> = steps.iter().map(|s| s.0).collect();
            if let Ok(t) = m.sample_with_actions(&actions, &mut rng) {
                right &= t.states.len() == actions.len() + 1
                    && t.observations.len() == actions.len()
                    && t.states.iter().all(|&s| s < m.n_states())
                    && t.observations.iter().all(|&o| o < m.n_obs());
            }
            checked(true, vec![], right)
        },
    );

    suite.run(
        "LogForwardFilter (new, with_logits, step, likelihood, belief)",
        |g| {
            let m = res!(model(g));
            let steps = inputs(g, &m);
            let mut f = if g.coin(0.5) {
                LogForwardFilter::new(&m)
            } else {
                let l0 = {
                    let l = g.len_near(m.n_states());
                    g.vec_of(l)
                };
                res!(LogForwardFilter::with_logits(&m, &l0))
            };
            let start = f.belief();
            let done = run_filter(&mut f, &steps);
            let alpha = plain_forward(&m, &start, &steps[..done]);
            let ll = f.log_likelihood();
            let lb = f.log_belief();
            let belief = f.belief();
            let s: f64 = alpha.iter().sum();
            let mut right = belief_matches(&belief, &alpha);
            if s > 1e-200 && s.is_finite() {
                right &= (ll - s.ln()).abs() <= 1e-9 * ll.abs().max(1.0);
            }
            right &= f.decode() < m.n_states().max(1);
            let mut v = vec![ll];
            v.extend(finite_part(&lb));
            v.extend(belief);
            checked(true, v, right)
        },
    );

    suite.run(
        "LinearFilter::exact (against the log-forward filter)",
        |g| {
            let m = res!(model(g));
            let mut f = res!(LinearFilter::exact(&m));
            let mut lof = LogForwardFilter::new(&m);
            let steps = inputs(g, &m);
            let done = run_filter(&mut lof, &steps);
            let done_lin = run_filter(&mut f, &steps[..done]);
            let mut right = done_lin == done;
            right &= f
                .belief()
                .iter()
                .zip(lof.belief())
                .all(|(a, b)| (a - b).abs() <= 1e-9);
            let mut v = finite_part(f.logits());
            v.push(f.offset());
            checked(true, v, right)
        },
    );

    suite.run("LinearFilter::adaptive (ALF) / DeltaSchedule", |g| {
        let m = res!(model(g));
        let sched = match g.below(3) {
            0 => DeltaSchedule::Constant(g.unit()),
            1 => DeltaSchedule::Power(g.f()),
            _ => DeltaSchedule::LogInverse { lambda: g.f() },
        };
        let _ = sched.label();
        let delta = res!(sched.delta(g.unit()));
        let mut f = res!(LinearFilter::adaptive(&m, delta));
        let steps = inputs(g, &m);
        run_filter(&mut f, &steps);
        let right = (f.alpha() - (1.0 - delta)).abs() < 1e-15 && f.beta() == delta;
        let mut v = finite_part(f.logits());
        v.extend(f.belief());
        checked(delta.is_finite(), v, right)
    });

    suite.run(
        "LinearFilter::from_parts / step_with_input / set_logits / apply_a / linear_system",
        |g| {
            let n = g.pick(&[0usize, 1, 2, 3]);
            let gathers: Vec<Vec<usize>> = (0..g.pick(&[0usize, 1, 2]))
                .map(|_| {
                    let l = g.len_near(n);
                    (0..l).map(|_| g.index(n)).collect()
                })
                .collect();
            let log_e: Vec<Vec<f64>> = (0..g.pick(&[0usize, 1, 2]))
                .map(|_| {
                    {
                        let l = g.len_near(n);
                        g.vec_of(l)
                    }
                    .into_iter()
                    .map(|x| if g.coin(0.8) { -x.abs() } else { x })
                    .collect()
                })
                .collect();
            let (alpha, beta) = (g.f(), g.f());
            let w0 = g.vec_of(n);
            let fin = alpha.is_finite() && beta.is_finite() && all_finite(&w0);
            let mut f = res!(LinearFilter::from_parts(
                gathers.clone(),
                log_e.clone(),
                alpha,
                beta,
                w0.clone()
            ));
            f.set_renormalise(g.coin(0.5));
            let mut v = Vec::new();
            let mut right = true;
            let a = g.index(gathers.len());
            if let Ok(aw) = f.apply_a(a, &w0) {
                // Independent: row i of the dense A of linear_system has its one non-zero (α)
                // in the column that (A w)_i reads.
                if let Ok(sys) = f.linear_system(a) {
                    if alpha != 0.0 {
                        right &= aw.iter().enumerate().all(|(i, &x)| {
                            let cols: Vec<usize> =
                                (0..n).filter(|&j| sys.a[(i, j)] != 0.0).collect();
                            cols.len() == 1
                                && sys.a[(i, cols[0])] == alpha
                                && x.to_bits() == w0[cols[0]].to_bits()
                        });
                    }
                }
                v.extend(finite_part(&aw));
            }
            let u = {
                let l = g.len_near(n);
                g.vec_of(l)
            };
            let o = g.index(log_e.len());
            let _ = f.step_with_input(a, o, &u);
            let _ = f.set_logits(&g.vec_of(n));
            for _ in 0..3 {
                let _ = f.step_with_action(g.index(gathers.len()), g.index(log_e.len()));
            }
            v.extend(finite_part(f.logits()));
            checked(fin && all_finite(&u), v, right)
        },
    );

    suite.run(
        "FunctionalGraphFilter (against the log-forward filter)",
        |g| {
            let m = res!(model(g));
            let mut f = res!(FunctionalGraphFilter::new(&m));
            let mut lof = LogForwardFilter::new(&m);
            // Actions as drawn: the controlled filter serves several deterministic actions.
            let steps = inputs(g, &m);
            let done = run_filter(&mut lof, &steps);
            let done_fg = run_filter(&mut f, &steps[..done]);
            let right = done_fg == done
                && f.belief()
                    .iter()
                    .zip(lof.belief())
                    .all(|(a, b)| (a - b).abs() <= 1e-9)
                && f.step_with_action(m.n_actions(), 0).is_err();
            let sys = f.linear_system();
            let mut v = finite_part(f.logits());
            v.extend(
                f.last_correction()
                    .iter()
                    .copied()
                    .filter(|x| x.is_finite() || x.is_nan()),
            );
            v.extend(finite_part(sys.b.as_slice()));
            checked(true, v, right)
        },
    );

    suite.run(
        "filter / filter_batch / forward_backward / viterbi (plain forward; the path's joint)",
        |g| {
            let m = res!(model(g));
            let steps = inputs(g, &m);
            let acts: Vec<usize> = steps.iter().map(|s| s.0).collect();
            let obs: Vec<usize> = steps.iter().map(|s| s.1).collect();
            // A mismatched action list now and then.
            let acts_arg = if g.coin(0.05) {
                &acts[..acts.len().saturating_sub(1)]
            } else {
                &acts[..]
            };
            let fb = res!(forward_backward(&m, Some(acts_arg), &obs));
            let f = res!(filter(&m, Some(acts_arg), &obs));
            let batch = res!(filter_batch(
                &m,
                Some(std::slice::from_ref(&acts)),
                std::slice::from_ref(&obs)
            ));
            let vit = res!(viterbi(&m, Some(acts_arg), &obs));
            let alpha = plain_forward(&m, m.initial(), &steps);
            let z: f64 = alpha.iter().sum();
            let ll_ok = !(z > 1e-200 && z.is_finite())
                || (fb.log_likelihood - z.ln()).abs() <= 1e-9 * z.ln().abs().max(1.0);
            let rows_ok = fb
                .smoothed
                .iter()
                .all(|r| (r.iter().sum::<f64>() - 1.0).abs() <= 1e-9);
            let last_ok = obs.is_empty()
                || belief_matches(&fb.smoothed[obs.len() - 1], &alpha)
                    && belief_matches(&f.beliefs[obs.len() - 1], &alpha);
            // The Viterbi path's joint, computed directly (s_0 summed out), is its reported
            // log-probability and at most the likelihood.
            let joint = if vit.states.is_empty() {
                1.0
            } else {
                let s1 = vit.states[0];
                let mut p: f64 = (0..m.n_states())
                    .map(|j| m.transitions()[acts[0]][(s1, j)] * m.initial()[j])
                    .sum::<f64>()
                    * m.emission()[(obs[0], s1)];
                for k in 1..obs.len() {
                    let (a, b) = (vit.states[k - 1], vit.states[k]);
                    p *= m.transitions()[acts[k]][(b, a)] * m.emission()[(obs[k], b)];
                }
                p
            };
            let vit_ok = joint <= 1e-200
                || (vit.log_prob - joint.ln()).abs() <= 1e-9 * joint.ln().abs().max(1.0)
                    && vit.log_prob <= fb.log_likelihood + 1e-9;
            let right = ll_ok && rows_ok && last_ok && vit_ok && batch[0] == f;
            let mut v: Vec<f64> = fb.smoothed.concat();
            v.extend(fb.filtered.concat());
            v.push(fb.log_likelihood);
            v.push(vit.log_prob);
            checked(true, v, right)
        },
    );

    suite.run(
        "pomdp: LinearActorCritic / Standardiser / qmdp_action / FilterFeatures",
        |g| {
            use hmm_linear_filter::pomdp::*;
            let dim = g.pick(&[0usize, 1, 3, 13]);
            let actions = g.pick(&[0usize, 1, 4]);
            let (la, lc, gamma) = (g.unit(), g.unit(), g.unit());
            let mut ac = res!(LinearActorCritic::new(dim, actions, la, lc, gamma));
            let mut sd = Standardiser::new(dim);
            let mut values = Vec::new();
            for _ in 0..g.pick(&[1usize, 5]) {
                let len = g.len_near(dim);
                let phi = g.vec_of(len);
                let len = g.len_near(dim);
                let next = g.vec_of(len);
                let a = g.index(actions);
                let r = g.f();
                let _ = sd.update(&phi);
                if let Ok(x) = sd.apply(&phi) {
                    values.extend(x);
                }
                if let Ok(p) = ac.policy(&phi) {
                    // Independent check: a probability vector.
                    if !((p.iter().sum::<f64>() - 1.0).abs() < 1e-9 && p.iter().all(|&x| x >= 0.0))
                    {
                        return checked(true, p, false);
                    }
                    values.extend(p);
                }
                let _ = ac.update(&phi, a, r, g.coin(0.5).then_some(&next[..]));
                if let Ok(v) = ac.value(&phi) {
                    values.push(v);
                }
            }
            let world = res!(RingWorld::new());
            let n = world.n_states();
            let len = g.len_near(n);
            let b = g.prob_of(len);
            if let Ok(a) = qmdp_action(&b, &world.q_star()) {
                if a >= world.n_actions() {
                    return checked(true, values, false);
                }
            }
            let y = g.index(world.n_beacons());
            let kind = g.pick(&[
                FeatureKind::Observation,
                FeatureKind::Lof,
                FeatureKind::Alf,
                FeatureKind::SoftmaxAlfSharp,
                FeatureKind::TrueState,
            ]);
            let mut f = res!(FilterFeatures::start(&world, kind, y));
            let _ = f.observe(g.index(world.n_actions()), g.index(world.n_beacons()));
            let phi = f.features(g.below(n));
            let right = phi.len() == kind.dim(&world);
            values.extend(phi);
            checked(true, values, right)
        },
    );

    suite.run(
        "DeterministicStructure::from_successors / from_matrix",
        |g| {
            let n = g.len();
            let succ: Vec<usize> = (0..n)
                .map(|_| if g.coin(0.97) { g.below(n) } else { g.index(n) })
                .collect();
            if g.coin(0.2) {
                let m = g.below(6);
                let t = g.near_deterministic(m);
                let _ = DeterministicStructure::from_matrix(&t, 0);
                let _ = NearDeterministic::decompose(&t);
            }
            let s = res!(DeterministicStructure::from_successors(succ.clone()));
            // Brute force: j is recurrent iff f^k(j) = j for some k ≤ n; its depth is the number of
            // steps to the first recurrent state.
            let f_pow = |mut j: usize, k: usize| {
                for _ in 0..k {
                    j = succ[j];
                }
                j
            };
            let rec: Vec<bool> = (0..n).map(|j| (1..=n).any(|k| f_pow(j, k) == j)).collect();
            let depth: Vec<usize> = (0..n)
                .map(|j| (0..=n).find(|&k| rec[f_pow(j, k)]).unwrap_or(usize::MAX))
                .collect();
            let mut right = s.recurrent() == rec.as_slice() && s.depth() == depth.as_slice();
            right &= s.transient_depth() == depth.iter().copied().max().unwrap_or(0);
            right &= s.is_permutation() == rec.iter().all(|&r| r);
            right &= s.require_permutation(0).is_ok() == s.is_permutation();
            if let Some(m) = s.order() {
                if m <= 1 << 16 {
                    right &= (0..n)
                        .filter(|&j| rec[j])
                        .all(|j| f_pow(j, m as usize) == j);
                }
            }
            right &= s.gather().iter().all(|&j| j < n);
            checked(true, vec![], right)
        },
    );

    suite.run("NearDeterministic::decompose (D + εQ = T)", |g| {
        let n = g.below(6);
        let t = if g.coin(0.7) {
            g.near_deterministic(n)
        } else {
            let c = g.pick(&[n, n + 1]);
            g.column_stochastic(n, c)
        };
        let nd = res!(NearDeterministic::decompose(&t));
        let mut d = DMatrix::zeros(n, n);
        for (j, &i) in nd.structure.successors().iter().enumerate() {
            d[(i, j)] = 1.0;
        }
        let back = d + &nd.q * nd.epsilon;
        let right = (back - &t).abs().max() <= 1e-12 && nd.epsilon < 0.5 && nd.epsilon >= 0.0;
        let mut v = vec![nd.epsilon];
        v.extend(nd.q.iter());
        checked(all_finite(t.as_slice()), v, right)
    });

    suite.run("chernoff_xi", |g| {
        let n = g.len().min(16);
        let succ: Vec<usize> = (0..n).map(|_| g.below(n)).collect();
        let s = res!(DeterministicStructure::from_successors(succ));
        let k = g.pick(&[1usize, 2, 3]);
        let c = g.len_near(n);
        let e = g.column_stochastic(k, c);
        let xi = res!(chernoff_xi(&s, &e));
        // Documented: +∞ when a pair is told apart with certainty.
        let v = if xi == f64::INFINITY {
            vec![]
        } else {
            vec![xi]
        };
        checked(all_finite(e.as_slice()), v, xi >= 0.0)
    });

    suite.run("decode / decode_batch", |g| {
        let l = g.vec();
        let d = decode(&l);
        // Independent: the first index of the largest non-NaN entry (0 if none).
        let best = l
            .iter()
            .enumerate()
            .filter(|(_, x)| !x.is_nan())
            .fold(None::<(usize, f64)>, |acc, (i, &x)| match acc {
                Some((_, b)) if b >= x => acc,
                _ => Some((i, x)),
            })
            .map_or(0, |(i, _)| i);
        let mut right = d == best;
        if let Ok(m) = model(g) {
            let obs: Vec<Vec<usize>> = (0..g.below(4))
                .map(|_| inputs(g, &m).into_iter().map(|(_, o)| o).collect())
                .collect();
            let acts: Vec<Vec<usize>> = (0..if g.coin(0.8) { obs.len() } else { g.below(4) })
                .map(|t| {
                    obs.get(t).map_or(vec![], |o| {
                        o.iter().map(|_| g.index(m.n_actions())).collect()
                    })
                })
                .collect();
            if let Ok(out) = decode_batch(&obs, Some(&acts), || LogForwardFilter::new(&m)) {
                right &= out.len() == obs.len() && out.iter().flatten().all(|&s| s < m.n_states());
            }
            if let Ok(out) = decode_batch(&obs, None, || LogForwardFilter::new(&m)) {
                right &= out.len() == obs.len();
            }
        }
        checked(true, vec![], right)
    });

    suite.finish();
}
