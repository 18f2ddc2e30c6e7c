//! Every constructor and parameter error.

use committed_q::exact::{
    behaviour_fixed_point, evaluate_policy, optimal_reactive_policy, ReactivePolicy,
};
use committed_q::generators::{aliased_chains, singh_jaakkola_jordan, AliasedChainParams};
use committed_q::{
    Behaviour, Branch, CommittedQError as E, Corridor, DecaySchedule, QLearner, QLearningParams,
    QTable, TabularEnv,
};
use core_linalg::seeded_rng;

fn ok_branches(n: usize, a: usize) -> Vec<Vec<Branch>> {
    vec![vec![Branch::new(None, 1.0, 0.0)]; n * a]
}

#[test]
fn tabular_constructor_errors() {
    assert!(matches!(
        TabularEnv::new(vec![], 1, 1, vec![], vec![]),
        Err(E::Empty { .. })
    ));
    assert!(matches!(
        TabularEnv::new(vec![0], 1, 0, vec![1.0], vec![]),
        Err(E::Empty { .. })
    ));
    assert!(matches!(
        TabularEnv::new(vec![0, 2], 2, 1, vec![1.0, 0.0], ok_branches(2, 1)),
        Err(E::FeatureOutOfRange {
            state: 1,
            feature: 2,
            n_features: 2
        })
    ));
    assert!(matches!(
        TabularEnv::new(vec![0], 1, 1, vec![1.0, 0.0], ok_branches(1, 1)),
        Err(E::Shape { .. })
    ));
    let e = TabularEnv::new(vec![0, 0], 1, 1, vec![0.6, 0.3], ok_branches(2, 1)).unwrap_err();
    assert!(matches!(e, E::Probability { .. }), "{e}");
    assert!(e.to_string().contains("initial distribution"));
    assert!(matches!(
        TabularEnv::new(vec![0], 1, 1, vec![1.0], ok_branches(1, 2)),
        Err(E::Shape { .. })
    ));
    let bad_sum = vec![vec![
        Branch::new(None, 0.5, 0.0),
        Branch::new(Some(0), 0.4, 0.0),
    ]];
    let e = TabularEnv::new(vec![0], 1, 1, vec![1.0], bad_sum).unwrap_err();
    assert!(e.to_string().contains("state 0, action 0"), "{e}");
    let negative = vec![vec![
        Branch::new(None, 1.5, 0.0),
        Branch::new(Some(0), -0.5, 0.0),
    ]];
    assert!(matches!(
        TabularEnv::new(vec![0], 1, 1, vec![1.0], negative),
        Err(E::Probability { .. })
    ));
    let out_of_range = vec![vec![Branch::new(Some(3), 1.0, 0.0)]];
    assert!(matches!(
        TabularEnv::new(vec![0], 1, 1, vec![1.0], out_of_range),
        Err(E::StateOutOfRange { next: 3, .. })
    ));
    let nan = vec![vec![Branch::new(None, 1.0, f64::NAN)]];
    assert!(matches!(
        TabularEnv::new(vec![0], 1, 1, vec![1.0], nan),
        Err(E::NonFinite { .. })
    ));
}

#[test]
fn parameter_errors() {
    assert!(matches!(Corridor::new(0), Err(E::Parameter { .. })));
    assert!(matches!(
        DecaySchedule::new(0.0, 0.0, 10),
        Err(E::Parameter { .. })
    ));
    assert!(matches!(
        DecaySchedule::new(0.1, 0.2, 10),
        Err(E::Parameter { .. })
    ));
    assert!(matches!(
        DecaySchedule::new(0.1, 0.01, 0),
        Err(E::Parameter { .. })
    ));
    assert!(matches!(
        DecaySchedule::new(f64::NAN, 0.01, 5),
        Err(E::Parameter { .. })
    ));
    assert!(matches!(
        QLearningParams::committed(10).alpha(1.5, 0.1).check(),
        Err(E::Parameter { .. })
    ));
    assert!(matches!(
        QLearningParams::committed(10).epsilon(0.1, 0.0).check(),
        Err(E::Parameter { .. })
    ));
    assert!(matches!(
        QLearningParams::regular(10).q_init_std(-1.0).check(),
        Err(E::Parameter { .. })
    ));
    assert!(matches!(
        QLearningParams::regular(0).check(),
        Err(E::Parameter { .. })
    ));
    let env = Corridor::new(2).unwrap();
    let p = QLearningParams::committed(10).check().unwrap();
    assert!(matches!(
        QLearner::with_q(&env, p, QTable::zeros(3, 2)),
        Err(E::Shape { .. })
    ));
    assert!(matches!(
        QTable::from_rows(&[vec![1.0], vec![1.0, 2.0]]),
        Err(E::Shape { .. })
    ));
    assert!(matches!(
        QTable::from_rows(&[vec![f64::INFINITY]]),
        Err(E::NonFinite { .. })
    ));
    assert!(matches!(QTable::from_rows(&[]), Err(E::Empty { .. })));
    let mut rng = seeded_rng(0);
    let bad = |f: fn(&mut AliasedChainParams)| {
        let mut p = AliasedChainParams::default();
        f(&mut p);
        p
    };
    for p in [
        bad(|p| p.n_features = 0),
        bad(|p| p.n_actions = 0),
        bad(|p| p.min_len = 0),
        bad(|p| p.max_len = 0),
        bad(|p| p.termination = 0.0),
    ] {
        assert!(aliased_chains(&p, &mut rng).is_err(), "{p:?}");
    }
    assert!(matches!(
        singh_jaakkola_jordan(1.5),
        Err(E::Parameter { .. })
    ));
}

#[test]
fn policy_and_exact_tool_errors() {
    assert!(matches!(
        ReactivePolicy::deterministic(&[2], 2),
        Err(E::ActionOutOfRange { .. })
    ));
    assert!(matches!(
        ReactivePolicy::deterministic(&[], 2),
        Err(E::Empty { .. })
    ));
    assert!(matches!(
        ReactivePolicy::from_rows(&[vec![0.5, 0.6]]),
        Err(E::Probability { .. })
    ));
    assert!(matches!(
        ReactivePolicy::from_rows(&[vec![0.5, 0.5], vec![1.0]]),
        Err(E::Shape { .. })
    ));
    let env = Corridor::new(3).unwrap().to_tabular();
    let three = ReactivePolicy::deterministic(&[0, 0, 0], 2).unwrap();
    assert!(matches!(
        evaluate_policy(&env, &three),
        Err(E::Shape { .. })
    ));
    for eps in [0.0, 1.5, f64::NAN] {
        assert!(matches!(
            behaviour_fixed_point(&env, Behaviour::Committed, &[1, 1], eps),
            Err(E::Parameter { .. })
        ));
    }
    assert!(matches!(
        behaviour_fixed_point(&env, Behaviour::Committed, &[1, 2], 0.1),
        Err(E::ActionOutOfRange { .. })
    ));
    // 2^21 deterministic policies exceed the enumeration limit.
    let n = 21;
    let big = TabularEnv::new(
        (0..n).collect(),
        n,
        2,
        {
            let mut v = vec![0.0; n];
            v[0] = 1.0;
            v
        },
        ok_branches(n, 2),
    )
    .unwrap();
    assert!(matches!(
        optimal_reactive_policy(&big),
        Err(E::TooManyPolicies { .. })
    ));
    // No proper policy: a single state that loops on itself.
    let looped = TabularEnv::new(
        vec![0],
        1,
        1,
        vec![1.0],
        vec![vec![Branch::new(Some(0), 1.0, 1.0)]],
    )
    .unwrap();
    assert!(matches!(
        optimal_reactive_policy(&looped),
        Err(E::NoProperPolicy)
    ));
}
