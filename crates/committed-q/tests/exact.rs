//! The exact tools against independent references: closed forms, Monte Carlo simulation, and
//! value iteration on the underlying MDP when every state is its own feature.

use committed_q::exact::{
    behaviour_fixed_point, evaluate_policy, optimal_reactive_policy, optimal_state_q,
    q_star_realizability, ReactivePolicy,
};
use committed_q::generators::{aliased_chains, singh_jaakkola_jordan, AliasedChainParams};
use committed_q::{Behaviour, CommittedQError, Corridor, Environment, TabularEnv, RIGHT};
use core_linalg::{seeded_rng, Rng};
use rand::RngExt;

fn random_env(seed: u64) -> TabularEnv {
    aliased_chains(
        &AliasedChainParams {
            n_features: 4,
            n_actions: 2,
            min_len: 1,
            max_len: 3,
            termination: 0.1,
        },
        &mut seeded_rng(seed),
    )
    .unwrap()
}

/// Mean return and its standard error over `episodes` simulated episodes.
fn monte_carlo(
    env: &TabularEnv,
    policy: &ReactivePolicy,
    episodes: usize,
    rng: &mut Rng,
) -> (f64, f64) {
    let (mut s, mut s2) = (0.0, 0.0);
    for _ in 0..episodes {
        let mut x = Some(env.reset(rng));
        let mut g = 0.0;
        while let Some(state) = x {
            let z = env.feature(state);
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let mut a = env.n_actions() - 1;
            for k in 0..env.n_actions() {
                acc += policy.prob(z, k);
                if u < acc {
                    a = k;
                    break;
                }
            }
            let t = env.step(state, a, rng);
            g += t.reward;
            x = t.next;
        }
        s += g;
        s2 += g * g;
    }
    let n = episodes as f64;
    let mean = s / n;
    (mean, ((s2 / n - mean * mean) / n).sqrt())
}

#[test]
fn policy_values_match_monte_carlo() {
    let mut rng = seeded_rng(9);
    for seed in 0..3 {
        let env = random_env(seed);
        let rows: Vec<Vec<f64>> = (0..env.n_features())
            .map(|_| {
                let p: f64 = rng.random();
                vec![p, 1.0 - p]
            })
            .collect();
        let pol = ReactivePolicy::from_rows(&rows).unwrap();
        let exact = evaluate_policy(&env, &pol).unwrap().value;
        let (mc, se) = monte_carlo(&env, &pol, 40_000, &mut rng);
        assert!(
            (exact - mc).abs() < 4.0 * se,
            "exact {exact}, MC {mc} ± {se}"
        );
    }
}

#[test]
fn closed_forms_of_the_counterexample() {
    let env = singh_jaakkola_jordan(0.1).unwrap();
    for a in 0..2 {
        let v = evaluate_policy(&env, &ReactivePolicy::deterministic(&[a], 2).unwrap()).unwrap();
        assert!((v.value + 9.0).abs() < 1e-12);
        // 2 − 1/p from the rewarding state, −1/p from the other.
        let (good, bad) = if a == 0 { (0, 1) } else { (1, 0) };
        assert!((v.state_values[good].unwrap() + 8.0).abs() < 1e-12);
        assert!((v.state_values[bad].unwrap() + 10.0).abs() < 1e-12);
    }
    let uniform = ReactivePolicy::from_rows(&[vec![0.5, 0.5]]).unwrap();
    assert!(evaluate_policy(&env, &uniform).unwrap().value.abs() < 1e-12);
}

/// The same environment with every state its own feature: a plain MDP.
fn fully_observed(env: &TabularEnv) -> TabularEnv {
    let n = env.n_states();
    let branches = (0..n)
        .flat_map(|x| (0..env.n_actions()).map(move |u| (x, u)))
        .map(|(x, u)| env.branches(x, u).to_vec())
        .collect();
    TabularEnv::new(
        (0..n).collect(),
        n,
        env.n_actions(),
        env.initial().to_vec(),
        branches,
    )
    .unwrap()
}

#[test]
fn with_identity_features_enumeration_and_fixed_points_recover_value_iteration() {
    for seed in 10..14 {
        let env = fully_observed(&random_env(seed));
        let q = optimal_state_q(&env).unwrap();
        let start = (0..env.n_states())
            .find(|&x| env.initial()[x] == 1.0)
            .unwrap();
        let best = optimal_reactive_policy(&env).unwrap();
        assert!((best.value - q.row(start).max()).abs() < 1e-9);
        assert!(q_star_realizability(&env, 1e-9).unwrap().realizable);
        // Optimal in every state (the enumeration's choice is arbitrary where π* never goes).
        let greedy: Vec<usize> = (0..env.n_states())
            .map(|x| q.row(x).transpose().argmax().0)
            .collect();
        for b in [Behaviour::Committed, Behaviour::Regular] {
            let fp = behaviour_fixed_point(&env, b, &greedy, 0.1).unwrap();
            for x in 0..env.n_states() {
                for u in 0..env.n_actions() {
                    if fp.visited[(x, u)] {
                        assert!((fp.q[(x, u)] - q[(x, u)]).abs() < 1e-8, "{b:?} {x} {u}");
                    }
                }
            }
            assert!(fp.self_consistent);
        }
    }
}

#[test]
fn corridor_closed_forms() {
    for k in [1, 2, 4, 7] {
        let env = Corridor::new(k).unwrap().to_tabular();
        let q = optimal_state_q(&env).unwrap();
        for x in 1..=k {
            assert!((q[(x, RIGHT)] - x as f64).abs() < 1e-9, "q*({x}, R)");
        }
        let r = q_star_realizability(&env, 1e-9).unwrap();
        assert_eq!(r.realizable, k == 1);
        assert!((r.max_spread - (k as f64 - 1.0)).abs() < 1e-9);
        let fp = behaviour_fixed_point(&env, Behaviour::Committed, &[RIGHT, RIGHT], 0.2).unwrap();
        let want = [[-1.0, 0.0], [0.0, 1.0]];
        for (z, row) in want.iter().enumerate() {
            for (u, w) in row.iter().enumerate() {
                assert!((fp.q[(z, u)] - w).abs() < 1e-9);
            }
        }
    }
}

#[test]
fn improper_policies_are_reported() {
    // In the corridor, (R, L) bounces between x = 0 and x = 1 forever.
    let env = Corridor::new(3).unwrap().to_tabular();
    let p = ReactivePolicy::deterministic(&[1, 0], 2).unwrap();
    assert!(matches!(
        evaluate_policy(&env, &p),
        Err(CommittedQError::ImproperPolicy { .. })
    ));
    let best = optimal_reactive_policy(&env).unwrap();
    assert_eq!((best.enumerated, best.proper), (4, 3));
}
