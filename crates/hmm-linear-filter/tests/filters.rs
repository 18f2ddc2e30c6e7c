//! Filters against independent references: brute-force enumeration of state paths, hand
//! computations, the dense linear system, and sequential decoding.

use core_linalg::{seeded_rng, stream_rng};
use hmm_linear_filter::{
    decode_batch, ControlledHmm, DeltaSchedule, FunctionalGraphFilter, Hmm, HmmError, LinearFilter,
    LogForwardFilter, LogitFilter,
};
use nalgebra::{DMatrix, DVector};
use rand::RngExt;

fn m(r: usize, c: usize, v: &[f64]) -> DMatrix<f64> {
    DMatrix::from_row_slice(r, c, v)
}

/// Posterior marginals and likelihood by enumerating every state path (|S|^(k+1) of them).
fn brute_force(hmm: &Hmm, obs: &[usize]) -> (Vec<f64>, f64) {
    let n = hmm.n_states();
    let k = obs.len();
    let mut marg = vec![0.0; n];
    let mut total = 0.0;
    let paths = n.pow(k as u32 + 1);
    for code in 0..paths {
        let mut c = code;
        let states: Vec<usize> = (0..=k)
            .map(|_| {
                let s = c % n;
                c /= n;
                s
            })
            .collect();
        let mut p = hmm.initial()[states[0]];
        for t in 0..k {
            p *= hmm.transition()[(states[t + 1], states[t])]
                * hmm.emission()[(obs[t], states[t + 1])];
        }
        marg[states[k]] += p;
        total += p;
    }
    (marg.iter().map(|x| x / total).collect(), total.ln())
}

#[test]
fn lof_matches_path_enumeration_with_zeros_in_t_and_e() {
    // Zeros in T, E and π₀ exercise the −∞ logits.
    let t = m(3, 3, &[0.5, 0.0, 0.2, 0.5, 0.3, 0.0, 0.0, 0.7, 0.8]);
    let e = m(2, 3, &[1.0, 0.4, 0.0, 0.0, 0.6, 1.0]);
    let hmm = Hmm::new(t, e, vec![0.6, 0.4, 0.0]).unwrap();
    let mut rng = seeded_rng(1);
    for _ in 0..20 {
        let traj = hmm.sample(7, &mut rng);
        let mut f = LogForwardFilter::new(&hmm);
        for (k, &y) in traj.observations.iter().enumerate() {
            f.step(y).unwrap();
            let (post, ll) = brute_force(&hmm, &traj.observations[..=k]);
            for (a, b) in f.belief().iter().zip(&post) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
            assert!((f.log_likelihood() - ll).abs() < 1e-10);
        }
    }
}

#[test]
fn lof_underflow_falls_back_to_exact_log_sum_exp() {
    // T = I: state 1's logit −800 must survive (exp(−800) underflows to 0).
    let hmm = Hmm::new(
        DMatrix::identity(2, 2),
        m(2, 2, &[0.5, 0.25, 0.5, 0.75]),
        vec![0.5, 0.5],
    )
    .unwrap();
    let mut f = LogForwardFilter::with_logits(&hmm, &[0.0, -800.0]).unwrap();
    f.step(1).unwrap();
    let lb = f.log_belief();
    let expect = -800.0 + 0.75f64.ln() - 0.5f64.ln();
    assert!((lb[1] - expect).abs() < 1e-9, "{} vs {expect}", lb[1]);
    assert!(lb[0].abs() < 1e-12);
}

#[test]
fn impossible_observation_is_an_error_and_leaves_the_state() {
    let hmm = Hmm::new(
        DMatrix::identity(2, 2),
        m(2, 2, &[1.0, 0.0, 0.0, 1.0]),
        vec![1.0, 0.0],
    )
    .unwrap();
    let mut f = LogForwardFilter::new(&hmm);
    assert_eq!(f.step(1), Err(HmmError::ImpossibleObservation { obs: 1 }));
    assert_eq!(f.log_belief()[0], 0.0);
    assert_eq!(
        f.step(5),
        Err(HmmError::ObservationOutOfRange { obs: 5, n_obs: 2 })
    );
    assert_eq!(
        f.step_with_action(1, 0),
        Err(HmmError::ActionOutOfRange {
            action: 1,
            n_actions: 1
        })
    );
}

fn random_perm_hmm(seed: u64, n: usize, o: usize) -> Hmm {
    let mut rng = seeded_rng(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, rng.random_range(0..=i));
    }
    let mut t = DMatrix::zeros(n, n);
    for (j, &i) in perm.iter().enumerate() {
        t[(i, j)] = 1.0;
    }
    let mut e = DMatrix::from_fn(o, n, |_, _| 0.1 + rng.random::<f64>());
    for mut c in e.column_iter_mut() {
        let s = c.sum();
        c /= s;
    }
    Hmm::new(t, e, vec![1.0 / n as f64; n]).unwrap()
}

#[test]
fn exact_linear_filter_equals_lof_and_its_dense_linear_system() {
    let hmm = random_perm_hmm(3, 9, 4);
    let traj = hmm.sample(500, &mut seeded_rng(4));
    let mut lof = LogForwardFilter::new(&hmm);
    let mut lin = LinearFilter::exact(&hmm).unwrap();
    let sys = lin.linear_system(0).unwrap();
    // The dense system, run without renormalisation.
    let mut h = DVector::from_iterator(9, hmm.initial().iter().map(|p| p.ln()));
    for &y in &traj.observations {
        lof.step(y).unwrap();
        lin.step(y).unwrap();
        let mut onehot = DVector::zeros(4);
        onehot[y] = 1.0;
        h = &sys.a * h + &sys.b * onehot;
        let dense = core_linalg::softmax(h.as_slice());
        for ((a, b), c) in lof.belief().iter().zip(lin.belief()).zip(dense) {
            assert!((a - b).abs() < 1e-12 && (a - c).abs() < 1e-10);
        }
        assert_eq!(lof.decode(), lin.decode());
    }
    // logits + offset are the paper's unnormalised logits (the dense system's state).
    let unnorm: Vec<f64> = lin.logits().iter().map(|w| w + lin.offset()).collect();
    for (a, b) in unnorm.iter().zip(h.iter()) {
        assert!((a - b).abs() < 1e-8 * b.abs().max(1.0));
    }
}

#[test]
fn alf_one_step_by_hand() {
    let e = m(2, 2, &[0.9, 0.2, 0.1, 0.8]);
    let eps = 0.04;
    let hmm = Hmm::new(
        m(2, 2, &[eps, 1.0 - eps, 1.0 - eps, eps]),
        e,
        vec![0.5, 0.5],
    )
    .unwrap();
    let mut alf = LinearFilter::adaptive(&hmm, 0.25).unwrap();
    alf.set_logits(&[0.3, -0.2]).unwrap();
    alf.step(1).unwrap();
    // w1 = 0.75 · P w0 + 0.25 · log E[1, :], P = swap.
    let expect = [
        0.75 * -0.2 + 0.25 * 0.1f64.ln(),
        0.75 * 0.3 + 0.25 * 0.8f64.ln(),
    ];
    for (a, b) in alf.logits().iter().zip(expect) {
        assert!((a - b).abs() < 1e-15);
    }
    assert_eq!(alf.decode(), 1);
    assert!((DeltaSchedule::Power(0.5).delta(eps).unwrap() - 0.2).abs() < 1e-15);
    assert!(
        (DeltaSchedule::LogInverse { lambda: 0.7 }
            .delta(eps)
            .unwrap()
            - 0.7 / 25f64.ln())
        .abs()
            < 1e-15
    );
    assert!(matches!(
        DeltaSchedule::Constant(1.5).delta(eps),
        Err(HmmError::InvalidDelta(_))
    ));
    assert!(matches!(
        DeltaSchedule::Power(0.5).delta(1.0),
        Err(HmmError::InvalidEpsilon(_))
    ));
}

#[test]
fn functional_graph_filter_by_hand() {
    // 0 → 1, 1 → 1: state 0 is transient (r = 1).
    let t = m(2, 2, &[0.0, 0.0, 1.0, 1.0]);
    let e = m(2, 2, &[0.7, 0.2, 0.3, 0.8]);
    let hmm = Hmm::new(t, e, vec![0.5, 0.5]).unwrap();
    let mut f = FunctionalGraphFilter::new(&hmm).unwrap();
    assert_eq!(f.structure().transient_depth(), 1);
    f.step(0).unwrap();
    // All mass on state 1 after one step; the correction fixed state 0 to −∞ and state 1 to
    // log(0.5 + 0.5) + log 0.2 instead of the linear log 0.5 + log 0.2.
    assert_eq!(f.belief(), vec![0.0, 1.0]);
    assert!((f.last_correction()[1] - 2f64.ln()).abs() < 1e-15);
    f.step(1).unwrap();
    assert_eq!(f.last_correction(), &[0.0, 0.0]);
    assert_eq!(f.belief(), vec![0.0, 1.0]);
}

#[test]
fn batched_decoding_equals_sequential_at_any_thread_count() {
    let hmm = random_perm_hmm(5, 12, 3);
    let trajs: Vec<Vec<usize>> = (0..40)
        .map(|t| hmm.sample(200, &mut stream_rng(6, t)).observations)
        .collect();
    let sequential: Vec<Vec<usize>> = trajs
        .iter()
        .map(|o| {
            let mut f = LogForwardFilter::new(&hmm);
            o.iter()
                .map(|&y| {
                    f.step(y).unwrap();
                    f.decode()
                })
                .collect()
        })
        .collect();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let batched = pool
            .install(|| decode_batch(&trajs, None, || LogForwardFilter::new(&hmm)))
            .unwrap();
        assert_eq!(batched, sequential);
    }
    let short = vec![vec![0usize; 3]];
    assert!(matches!(
        decode_batch(&trajs, Some(&short), || LogForwardFilter::new(&hmm)),
        Err(HmmError::Shape { .. })
    ));
}

#[test]
fn sampling_frequencies_match_the_model() {
    let t = m(2, 2, &[0.3, 0.6, 0.7, 0.4]);
    let hmm = Hmm::new(t, m(2, 2, &[0.9, 0.2, 0.1, 0.8]), vec![0.5, 0.5]).unwrap();
    let traj = hmm.sample(200_000, &mut seeded_rng(9));
    let (mut from0, mut to1) = (0.0, 0.0);
    for w in traj.states.windows(2) {
        if w[0] == 0 {
            from0 += 1.0;
            to1 += f64::from(u8::from(w[1] == 1));
        }
    }
    let p = to1 / from0;
    assert!((p - 0.7).abs() < 5.0 * (0.21 / from0).sqrt(), "{p}");
}

#[test]
fn every_constructor_error() {
    let t = m(2, 2, &[0.0, 1.0, 1.0, 0.0]);
    let e = m(2, 2, &[0.9, 0.1, 0.1, 0.9]);
    let pi = vec![0.5, 0.5];
    assert_eq!(
        ControlledHmm::new(vec![], e.clone(), pi.clone()),
        Err(HmmError::NoActions)
    );
    assert!(matches!(
        Hmm::new(DMatrix::identity(3, 3), e.clone(), pi.clone()),
        Err(HmmError::Shape {
            what: "transition matrix",
            ..
        })
    ));
    assert!(matches!(
        Hmm::new(t.clone(), m(2, 3, &[0.5; 6]), pi.clone()),
        Err(HmmError::Shape { .. })
    ));
    match Hmm::new(m(2, 2, &[0.9, 1.0, 0.07, 0.0]), e.clone(), pi.clone()) {
        Err(HmmError::Transition { action: 0, source }) => {
            assert!(source.to_string().contains("column 0 sums to 0.97"))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Hmm::new(t.clone(), m(2, 2, &[0.9, 0.1, 0.2, 0.9]), pi.clone()),
        Err(HmmError::Emission(_))
    ));
    assert!(matches!(
        Hmm::new(t.clone(), e.clone(), vec![1.5, -0.5]),
        Err(HmmError::Initial(_))
    ));
    assert!(matches!(
        Hmm::new(t.clone(), e.clone(), vec![f64::NAN, 0.5]),
        Err(HmmError::Initial(_))
    ));
    assert!(matches!(
        Hmm::new(t.clone(), e.clone(), vec![]),
        Err(HmmError::Initial(_))
    ));

    let stochastic = Hmm::new(m(2, 2, &[0.5, 0.5, 0.5, 0.5]), e.clone(), pi.clone()).unwrap();
    assert!(matches!(
        LinearFilter::exact(&stochastic),
        Err(HmmError::NotDeterministic { column: 0, .. })
    ));
    let merge = Hmm::new(m(2, 2, &[1.0, 1.0, 0.0, 0.0]), e.clone(), pi.clone()).unwrap();
    assert!(matches!(
        LinearFilter::exact(&merge),
        Err(HmmError::NotPermutation {
            state: 0,
            predecessors: 2,
            ..
        })
    ));
    let zero_e = Hmm::new(t.clone(), m(2, 2, &[1.0, 0.1, 0.0, 0.9]), pi.clone()).unwrap();
    assert_eq!(
        LinearFilter::exact(&zero_e),
        Err(HmmError::ZeroEmission { obs: 1, state: 0 })
    );
    assert!(matches!(
        LinearFilter::adaptive(&zero_e, 0.1),
        Err(HmmError::ZeroEmission { .. })
    ));
    assert_eq!(
        LinearFilter::adaptive(&merge, 1.5),
        Err(HmmError::InvalidDelta(1.5))
    );
    assert!(matches!(
        FunctionalGraphFilter::new(&zero_e),
        Err(HmmError::ZeroEmission { .. })
    ));
    assert!(matches!(
        FunctionalGraphFilter::new(&stochastic),
        Err(HmmError::NotDeterministic { .. })
    ));
    let two = ControlledHmm::new(vec![t.clone(), t.clone()], e.clone(), pi.clone()).unwrap();
    // Two deterministic actions: the controlled functional-graph filter is supported.
    assert!(FunctionalGraphFilter::new(&two).is_ok());
    assert!(matches!(
        LogForwardFilter::with_logits(&merge, &[0.0]),
        Err(HmmError::Shape { .. })
    ));
    assert!(matches!(
        LogForwardFilter::with_logits(&merge, &[0.0, f64::NAN]),
        Err(HmmError::NaN { index: 1, .. })
    ));
    let mut lin = LinearFilter::exact(&Hmm::new(t, e, pi).unwrap()).unwrap();
    assert!(matches!(
        lin.set_logits(&[0.0]),
        Err(HmmError::Shape { .. })
    ));
    assert!(matches!(
        lin.step_with_input(0, 0, &[0.0]),
        Err(HmmError::Shape { .. })
    ));
    assert!(matches!(
        LinearFilter::from_parts(
            vec![vec![0, 5]],
            vec![vec![0.0, 0.0]],
            1.0,
            1.0,
            vec![0.0, 0.0]
        ),
        Err(HmmError::Shape { .. })
    ));
}
