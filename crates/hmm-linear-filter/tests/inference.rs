//! Smoothing, Viterbi, batched filtering, sparse transitions, owned filters and the controlled
//! functional-graph filter, each against an independent route: brute-force enumeration of every
//! state path on tiny models, hmmlearn 0.3.3 on larger ones (fixture made by
//! `benches/peers/hmmlearn_fixture.py`), and the dense log-forward filter.

use core_linalg::seeded_rng;
use hmm_linear_filter::{
    filter, filter_batch, forward_backward, viterbi, ControlledHmm, FunctionalGraphFilter, Hmm,
    HmmError, LogForwardFilter, LogitFilter,
};
use nalgebra::DMatrix;
use rand::RngExt;
use std::sync::Arc;

fn random_column(rng: &mut core_linalg::Rng, n: usize, zero_prob: f64) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            if rng.random::<f64>() < zero_prob {
                0.0
            } else {
                0.05 + rng.random::<f64>()
            }
        })
        .collect();
    let k = rng.random_range(0..n);
    v[k] += 0.5;
    let s: f64 = v.iter().sum();
    v.iter().map(|x| x / s).collect()
}

fn random_matrix(rng: &mut core_linalg::Rng, rows: usize, cols: usize, zero: f64) -> DMatrix<f64> {
    let data: Vec<f64> = (0..cols)
        .flat_map(|_| random_column(rng, rows, zero))
        .collect();
    DMatrix::from_column_slice(rows, cols, &data)
}

fn random_controlled(rng: &mut core_linalg::Rng, s: usize, o: usize, a: usize) -> ControlledHmm {
    let ts = (0..a).map(|_| random_matrix(rng, s, s, 0.4)).collect();
    let e = random_matrix(rng, o, s, 0.2);
    ControlledHmm::new(ts, e, random_column(rng, s, 0.3)).unwrap()
}

/// Every path s_0..s_K with its joint log-probability, by enumeration.
fn enumerate(
    m: &ControlledHmm,
    acts: &[usize],
    obs: &[usize],
    mut visit: impl FnMut(&[usize], f64),
) {
    let n = m.n_states();
    let k = obs.len();
    let total = n.pow(k as u32 + 1);
    let mut path = vec![0; k + 1];
    for code in 0..total {
        let mut c = code;
        for p in path.iter_mut() {
            *p = c % n;
            c /= n;
        }
        let mut lp = m.initial()[path[0]].ln();
        for t in 0..k {
            lp += m.transitions()[acts[t]][(path[t + 1], path[t])].ln()
                + m.emission()[(obs[t], path[t + 1])].ln();
        }
        visit(&path, lp);
    }
}

fn lse(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[test]
fn smoothing_and_viterbi_match_brute_force_enumeration() {
    let mut rng = seeded_rng(7);
    let mut checked = 0;
    for case in 0..40 {
        let (s, o, a) = (2 + case % 3, 2 + case % 2, 1 + case % 3);
        let m = random_controlled(&mut rng, s, o, a);
        let k = 1 + case % 6;
        let acts: Vec<usize> = (0..k).map(|_| rng.random_range(0..a)).collect();
        let traj = m.sample_with_actions(&acts, &mut rng).unwrap();
        let obs = traj.observations;
        // Brute force: marginals of s_1..s_K, the likelihood, and the best path over s_1..s_K
        // with s_0 summed out.
        let mut all = Vec::new();
        let mut marg = vec![vec![Vec::new(); s]; k];
        let mut by_tail: std::collections::BTreeMap<Vec<usize>, Vec<f64>> = Default::default();
        enumerate(&m, &acts, &obs, |p, lp| {
            all.push(lp);
            for t in 0..k {
                marg[t][p[t + 1]].push(lp);
            }
            by_tail.entry(p[1..].to_vec()).or_default().push(lp);
        });
        let ll = lse(&all);
        let fb = forward_backward(&m, Some(&acts), &obs).unwrap();
        assert!((fb.log_likelihood - ll).abs() < 1e-10, "case {case}");
        for (t, (row, lps)) in fb.smoothed.iter().zip(&marg).enumerate() {
            for (i, (got, lp)) in row.iter().zip(lps).enumerate() {
                let want = (lse(lp) - ll).exp();
                assert!((got - want).abs() < 1e-10, "case {case} t {t} i {i}");
            }
        }
        // Filtered marginals: the last smoothed row is the last filtered row.
        for i in 0..s {
            assert!((fb.filtered[k - 1][i] - fb.smoothed[k - 1][i]).abs() < 1e-12);
        }
        let (best_tail, best_lp) = by_tail
            .iter()
            .map(|(tail, lps)| (tail.clone(), lse(lps)))
            .fold((Vec::new(), f64::NEG_INFINITY), |b, x| {
                if x.1 > b.1 {
                    x
                } else {
                    b
                }
            });
        let v = viterbi(&m, Some(&acts), &obs).unwrap();
        assert!((v.log_prob - best_lp).abs() < 1e-10, "case {case}");
        // The decoded path attains the best probability (ties may pick another path).
        let lp_of = lse(&by_tail[&v.states]);
        assert!(
            (lp_of - best_lp).abs() < 1e-10,
            "case {case}: {best_tail:?}"
        );
        checked += 1;
    }
    assert_eq!(checked, 40);
}

#[test]
fn smoothing_viterbi_and_likelihood_match_hmmlearn() {
    let text = include_str!("fixtures/hmmlearn.json");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let rows = |x: &serde_json::Value| -> Vec<Vec<f64>> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|y| y.as_f64().unwrap())
                    .collect()
            })
            .collect()
    };
    let matrix = |x: &serde_json::Value| {
        let r = rows(x);
        DMatrix::from_fn(r.len(), r[0].len(), |i, j| r[i][j])
    };
    for (c, case) in v["cases"].as_array().unwrap().iter().enumerate() {
        let t = matrix(&case["transition"]);
        let e = matrix(&case["emission"]);
        let pi: Vec<f64> = case["initial"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let hmm = Hmm::new(t, e, pi).unwrap();
        assert_eq!(
            hmm.is_sparse(0),
            c == 1,
            "case {c}: the second case is sparse"
        );
        let obs: Vec<usize> = case["observations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let fb = forward_backward(&hmm, None, &obs).unwrap();
        let ll = case["log_likelihood"].as_f64().unwrap();
        assert!(
            (fb.log_likelihood - ll).abs() < 1e-8 * ll.abs(),
            "case {c}: {} vs {ll}",
            fb.log_likelihood
        );
        let post = rows(&case["smoothed"]);
        let worst = post
            .iter()
            .zip(&fb.smoothed)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0.0f64, f64::max);
        assert!(worst < 1e-9, "case {c}: smoothed differs by {worst}");
        let path: Vec<usize> = case["viterbi_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let vit = viterbi(&hmm, None, &obs).unwrap();
        let vlp = case["viterbi_log_prob"].as_f64().unwrap();
        assert!((vit.log_prob - vlp).abs() < 1e-8 * vlp.abs(), "case {c}");
        assert_eq!(vit.states, path, "case {c}");
        let f = filter(&hmm, None, &obs).unwrap();
        assert!((f.log_likelihood - ll).abs() < 1e-8 * ll.abs());
    }
}

#[test]
fn sparse_transitions_give_the_dense_filter_s_answer() {
    let mut rng = seeded_rng(11);
    for case in 0..30 {
        let s = 10 + case;
        // A sparse T: each column has 1–2 non-zeros.
        let mut t = DMatrix::zeros(s, s);
        for j in 0..s {
            let i = rng.random_range(0..s);
            let i2 = rng.random_range(0..s);
            let w: f64 = if case % 3 == 0 { 1.0 } else { rng.random() };
            t[(i, j)] += w;
            t[(i2, j)] += 1.0 - w;
        }
        let e = random_matrix(&mut rng, 4, s, 0.3);
        let pi = random_column(&mut rng, s, 0.3);
        let sparse = Hmm::new(t.clone(), e.clone(), pi.clone()).unwrap();
        assert!(sparse.is_sparse(0));
        let traj = sparse.sample(300, &mut rng);
        // Reference: the plain forward algorithm in the probability domain over the dense T.
        let mut b: Vec<f64> = pi.clone();
        let mut ll = 0.0;
        let mut f = LogForwardFilter::new(&sparse);
        for &y in &traj.observations {
            let mut nb = vec![0.0; s];
            for (i, v) in nb.iter_mut().enumerate() {
                *v = (0..s).map(|j| t[(i, j)] * b[j]).sum::<f64>() * e[(y, i)];
            }
            let z: f64 = nb.iter().sum();
            ll += z.ln();
            b = nb.iter().map(|x| x / z).collect();
            f.step(y).unwrap();
            for (x, y) in f.belief().iter().zip(&b) {
                assert!((x - y).abs() < 1e-10, "case {case}");
            }
        }
        assert!((f.log_likelihood() - ll).abs() < 1e-9 * ll.abs().max(1.0));
    }
}

#[test]
fn batched_filtering_is_thread_count_independent_and_matches_single_runs() {
    let mut rng = seeded_rng(3);
    let m = random_controlled(&mut rng, 6, 3, 2);
    let mut acts = Vec::new();
    let mut obs = Vec::new();
    for _ in 0..64 {
        let a: Vec<usize> = (0..50).map(|_| rng.random_range(0..2)).collect();
        obs.push(m.sample_with_actions(&a, &mut rng).unwrap().observations);
        acts.push(a);
    }
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| filter_batch(&m, Some(&acts), &obs).unwrap())
    };
    let one = run(1);
    assert_eq!(one, run(3));
    for (t, f) in one.iter().enumerate() {
        let single = filter(&m, Some(&acts[t]), &obs[t]).unwrap();
        assert_eq!(&single, f);
        assert_eq!(f.beliefs.len(), 50);
    }
    assert!(matches!(
        filter_batch(&m, Some(&acts[..3]), &obs),
        Err(HmmError::Shape { .. })
    ));
    assert!(matches!(
        filter(&m, Some(&[0, 1]), &[0]),
        Err(HmmError::Shape { .. })
    ));
}

/// A filter that owns its model lives in a struct without a lifetime.
struct Tracker {
    filter: LogForwardFilter<Arc<Hmm>>,
}

#[test]
fn filters_can_own_their_model() {
    let t = DMatrix::from_row_slice(2, 2, &[0.9, 0.2, 0.1, 0.8]);
    let e = DMatrix::from_row_slice(2, 2, &[0.7, 0.1, 0.3, 0.9]);
    let hmm = Hmm::new(t, e, vec![0.5, 0.5]).unwrap();
    let shared = Arc::new(hmm.clone());
    let mut tracker = Tracker {
        filter: LogForwardFilter::new(shared.clone()),
    };
    let mut owned = LogForwardFilter::new(hmm.clone());
    let mut borrowed = LogForwardFilter::new(&hmm);
    for &y in &[0, 1, 1, 0, 1, 1, 1] {
        tracker.filter.step(y).unwrap();
        owned.step(y).unwrap();
        borrowed.step(y).unwrap();
    }
    assert_eq!(tracker.filter.logits(), borrowed.logits());
    assert_eq!(owned.logits(), borrowed.logits());
    assert_eq!(owned.log_likelihood(), borrowed.log_likelihood());
    owned.reset();
    assert_eq!(owned.log_belief(), LogForwardFilter::new(&hmm).log_belief());
}

#[test]
fn controlled_functional_graph_filter_matches_the_log_forward_filter() {
    let mut rng = seeded_rng(5);
    let mut merges = 0usize;
    for case in 0..40 {
        let s = 4 + case % 9;
        let a = 2 + case % 3;
        // Random maps (not permutations): many states merge.
        let ts: Vec<DMatrix<f64>> = (0..a)
            .map(|_| {
                let mut t = DMatrix::zeros(s, s);
                for j in 0..s {
                    t[(rng.random_range(0..s), j)] = 1.0;
                }
                t
            })
            .collect();
        let m = ControlledHmm::new(
            ts,
            random_matrix(&mut rng, 3, s, 0.0),
            random_column(&mut rng, s, 0.0),
        )
        .unwrap();
        let acts: Vec<usize> = (0..200).map(|_| rng.random_range(0..a)).collect();
        let traj = m.sample_with_actions(&acts, &mut rng).unwrap();
        let mut lof = LogForwardFilter::new(&m);
        let mut fg = FunctionalGraphFilter::new(&m).unwrap();
        for (&act, &y) in acts.iter().zip(&traj.observations) {
            lof.step_with_action(act, y).unwrap();
            fg.step_with_action(act, y).unwrap();
            merges += usize::from(fg.last_correction().iter().any(|&u| u != 0.0));
            let (p, q) = (lof.belief(), fg.belief());
            for (x, y) in p.iter().zip(&q) {
                assert!((x - y).abs() < 1e-10, "case {case}");
            }
        }
    }
    assert!(
        merges > 100,
        "the corrections were exercised ({merges} steps)"
    );
}

#[test]
fn functional_graph_filter_reports_impossible_observations() {
    // 0 → 1 → 2 → 2: states 0 and 1 are transient, and state 1 never emits symbol 1 (a zero
    // emission on a transient state is allowed). From state 0, symbol 1 at step 1 is impossible.
    let mut t = DMatrix::zeros(3, 3);
    t[(1, 0)] = 1.0;
    t[(2, 1)] = 1.0;
    t[(2, 2)] = 1.0;
    let e = DMatrix::from_row_slice(2, 3, &[0.5, 1.0, 0.5, 0.5, 0.0, 0.5]);
    let hmm = Hmm::new(t, e, vec![1.0, 0.0, 0.0]).unwrap();
    let mut fg = FunctionalGraphFilter::new(&hmm).unwrap();
    let mut lof = LogForwardFilter::new(&hmm);
    let before = fg.logits().to_vec();
    assert_eq!(
        fg.step(1).err(),
        Some(HmmError::ImpossibleObservation { obs: 1 })
    );
    assert_eq!(
        lof.step(1).err(),
        Some(HmmError::ImpossibleObservation { obs: 1 })
    );
    assert_eq!(fg.logits(), &before[..], "state unchanged on error");
    assert_eq!(
        fg.step(2).err(),
        Some(HmmError::ObservationOutOfRange { obs: 2, n_obs: 2 })
    );
    fg.step(0).unwrap();
    fg.step(1).unwrap();
    assert!(FunctionalGraphFilter::with_logits(&hmm, &[f64::NAN, 0.0, 0.0]).is_err());
    assert!(matches!(
        FunctionalGraphFilter::with_logits(&hmm, &[f64::NEG_INFINITY; 3]),
        Err(HmmError::NoBelief { .. })
    ));
}

#[test]
fn models_round_trip_through_serde_and_are_validated_on_the_way_in() {
    let mut rng = seeded_rng(9);
    let m = random_controlled(&mut rng, 5, 3, 2);
    let json = serde_json::to_string(&m).unwrap();
    let back: ControlledHmm = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
    let hmm = Hmm::new(
        m.transitions()[0].clone(),
        m.emission().clone(),
        m.initial().to_vec(),
    )
    .unwrap();
    let h: Hmm = serde_json::from_str(&serde_json::to_string(&hmm).unwrap()).unwrap();
    assert_eq!(h, hmm);
    // Row-major and human-readable.
    let v: serde_json::Value = serde_json::from_str(&serde_json::to_string(&hmm).unwrap()).unwrap();
    assert_eq!(
        v["transitions"][0][1][0].as_f64(),
        Some(hmm.transition()[(1, 0)])
    );
    // Invalid models are refused with the constructor's error.
    for bad in [
        r#"{"transitions":[[[0.5,0.5],[0.6,0.5]]],"emission":[[1,1]],"initial":[0.5,0.5]}"#,
        r#"{"transitions":[[[1,0],[0]]],"emission":[[1,1]],"initial":[0.5,0.5]}"#,
        r#"{"transitions":[[[1,0],[0,1]]],"emission":[[1,1]],"initial":[0.7,0.5]}"#,
        r#"{"transitions":[],"emission":[[1,1]],"initial":[0.5,0.5]}"#,
    ] {
        let e = serde_json::from_str::<ControlledHmm>(bad).unwrap_err();
        assert!(!e.to_string().is_empty());
    }
    // A two-action model is not an Hmm.
    let err = serde_json::from_str::<Hmm>(&json).unwrap_err().to_string();
    assert!(err.contains("one action"), "{err}");
}
