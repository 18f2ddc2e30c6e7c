//! The paper's assumption as code, on hand-built environments where the answer is known either
//! way: committed sojourn laws, the SMDP over entrance values, the quasi-Markov and
//! rewire-robustness checks, and the committed fixed point against the SMDP (two different
//! computations linked by `Q = R/N + (1 − 1/N)·V`, paper notes).

use committed_q::exact::{
    behaviour_fixed_point, entrance_distributions, optimal_reactive_policy, q_star_realizability,
    quasi_markov, rewire_robustness, smdp_optimum, sojourn_law,
};
use committed_q::{Behaviour, Branch, CommittedQError, Corridor, TabularEnv, LEFT, RIGHT};

/// Feature 0 is one start state `a`; its action 0 leads to state `b1`, action 1 to `b2`, both
/// observed as feature 1. In feature 1, action 0 pays `r1` from `b1` and `r2` from `b2`, action
/// 1 pays 0; both end the episode.
fn two_entrances(r1: f64, r2: f64) -> TabularEnv {
    let end = |r: f64| vec![Branch::new(None, 1.0, r)];
    TabularEnv::new(
        vec![0, 1, 1],
        2,
        2,
        vec![1.0, 0.0, 0.0],
        vec![
            vec![Branch::new(Some(1), 1.0, 0.0)],
            vec![Branch::new(Some(2), 1.0, 0.0)],
            end(r1),
            end(0.0),
            end(r2),
            end(0.0),
        ],
    )
    .unwrap()
}

#[test]
fn sojourn_laws_by_hand() {
    let env = two_entrances(1.0, -1.0);
    let from_b1 = sojourn_law(&env, 1, 0, &[0.0, 1.0, 0.0]).unwrap();
    assert_eq!(
        (from_b1.reward, from_b1.length, from_b1.termination),
        (1.0, 1.0, 1.0)
    );
    let mixed = sojourn_law(&env, 1, 0, &[0.0, 0.25, 0.75]).unwrap();
    assert!((mixed.reward - (0.25 - 0.75)).abs() < 1e-15);
    let start = sojourn_law(&env, 0, 1, &[1.0, 0.0, 0.0]).unwrap();
    assert_eq!(start.exit_states, vec![0.0, 0.0, 1.0]);
    assert_eq!(start.exit_features, vec![0.0, 1.0]);
    // Corridor k = 5, feature 1 entered at x = 1 holding R: 5 steps, −1 for x = 2..5, +5 at
    // the goal: R = 1, N = 5, the episode ends.
    let c = Corridor::new(5).unwrap().to_tabular();
    let mut rho = vec![0.0; 6];
    rho[1] = 1.0;
    let law = sojourn_law(&c, 1, RIGHT, &rho).unwrap();
    assert!(
        (law.reward - 1.0).abs() < 1e-12 && (law.length - 5.0).abs() < 1e-12,
        "{law:?}"
    );
    assert!((law.termination - 1.0).abs() < 1e-12);
    // Bad input: mass outside the feature, wrong length, not a distribution, bad indices.
    assert!(sojourn_law(&env, 1, 0, &[1.0, 0.0, 0.0]).is_err());
    assert!(sojourn_law(&env, 1, 0, &[0.0, 1.0]).is_err());
    assert!(sojourn_law(&env, 1, 0, &[0.0, 0.7, 0.7]).is_err());
    assert!(sojourn_law(&env, 2, 0, &[0.0, 1.0, 0.0]).is_err());
    assert!(sojourn_law(&env, 1, 2, &[0.0, 1.0, 0.0]).is_err());
}

#[test]
fn a_sojourn_that_never_ends_is_improper() {
    // One feature of two states; action 0 swaps them forever.
    let env = TabularEnv::new(
        vec![0, 0],
        1,
        1,
        vec![1.0, 0.0],
        vec![
            vec![Branch::new(Some(1), 1.0, 0.0)],
            vec![Branch::new(Some(0), 1.0, 0.0)],
        ],
    )
    .unwrap();
    assert!(matches!(
        sojourn_law(&env, 0, 0, &[1.0, 0.0]),
        Err(CommittedQError::ImproperPolicy { .. })
    ));
}

#[test]
fn entrance_distributions_follow_the_policy() {
    let env = two_entrances(1.0, -1.0);
    let eps = 0.1;
    let rho = entrance_distributions(&env, &[0, 0], eps).unwrap();
    let b = rho[1].as_ref().unwrap();
    // Committed ε-greedy at a: action 0 with probability 1 − ε/2.
    assert!((b[1] - (1.0 - eps / 2.0)).abs() < 1e-12 && (b[2] - eps / 2.0).abs() < 1e-12);
    assert_eq!(rho[0].as_deref(), Some(&[1.0, 0.0, 0.0][..]));
    let rho = entrance_distributions(&env, &[1, 0], eps).unwrap();
    assert!((rho[1].as_ref().unwrap()[2] - (1.0 - eps / 2.0)).abs() < 1e-12);
}

#[test]
fn the_checks_give_the_known_answer_either_way() {
    let eps = 0.01;
    // Different laws by entrance, and the rewired optimum misleads: neither holds.
    let neither = two_entrances(1.0, -1.0);
    let qm = quasi_markov(&neither, eps, 1e-9).unwrap();
    assert!(!qm.holds && qm.max_discrepancy > 1.9, "{qm:?}");
    let (z, u, _, _) = qm.worst.clone().unwrap();
    assert_eq!((z, u), (1, 0));
    let rr = rewire_robustness(&neither, eps, 1e-9).unwrap();
    assert!(!rr.holds, "{rr:?}");
    assert!((rr.worst_gap - 1.0).abs() < 1e-9, "{rr:?}");
    let (inducing, rewired) = rr.worst.unwrap();
    assert_eq!(inducing[0], 1, "entering at b2 makes action 0 look bad");
    assert_eq!(rewired[1], 1);
    // Two entrances with the same law: both hold.
    let same = two_entrances(1.0, 1.0);
    assert!(quasi_markov(&same, eps, 1e-9).unwrap().holds);
    assert!(rewire_robustness(&same, eps, 1e-9).unwrap().holds);
    // Laws differ but the rewired optimum never misleads: robust, not quasi-Markov.
    let robust_only = two_entrances(1.0, 0.5);
    assert!(!quasi_markov(&robust_only, eps, 1e-9).unwrap().holds);
    assert!(rewire_robustness(&robust_only, eps, 1e-9).unwrap().holds);
    // The corridor: single entrances, both hold, though q* is not realizable.
    for k in [2, 5, 10] {
        let c = Corridor::new(k).unwrap().to_tabular();
        assert!(quasi_markov(&c, eps, 1e-9).unwrap().holds, "k = {k}");
        assert!(rewire_robustness(&c, eps, 1e-9).unwrap().holds, "k = {k}");
        assert!(!q_star_realizability(&c, 1e-9).unwrap().realizable);
    }
}

#[test]
fn the_committed_fixed_point_is_the_smdp_solution_rescaled() {
    for k in [2usize, 5, 10] {
        let c = Corridor::new(k).unwrap().to_tabular();
        let best = optimal_reactive_policy(&c).unwrap();
        assert_eq!(best.policy, vec![RIGHT, RIGHT]);
        for eps in [0.01, 0.1, 0.5] {
            let fp = behaviour_fixed_point(&c, Behaviour::Committed, &best.policy, eps).unwrap();
            // The notes' closed form [[−1, 0], [0, 1]] for every k and ε (single entrances).
            let want = [[-1.0, 0.0], [0.0, 1.0]];
            for (z, row) in want.iter().enumerate() {
                for (u, &w) in row.iter().enumerate() {
                    assert!((fp.q[(z, u)] - w).abs() < 1e-9, "k {k} ε {eps} ({z},{u})");
                }
            }
            let rho = entrance_distributions(&c, &best.policy, eps).unwrap();
            let smdp = smdp_optimum(&c, &rho).unwrap();
            assert_eq!(smdp.policy, fp.greedy);
            // Q_fp(z, u) = Q_smdp(z, u)/N(z, u) + (1 − 1/N(z, u))·V(z).
            for z in 0..2 {
                for u in [LEFT, RIGHT] {
                    let n = smdp.laws[z * 2 + u].as_ref().unwrap().length;
                    let want = smdp.q[(z, u)] / n + (1.0 - 1.0 / n) * smdp.values[z];
                    assert!(
                        (fp.q[(z, u)] - want).abs() < 1e-9,
                        "k {k} ε {eps} ({z},{u})"
                    );
                }
            }
        }
    }
}

#[test]
fn smdp_input_is_validated() {
    let env = two_entrances(1.0, -1.0);
    assert!(matches!(
        smdp_optimum(&env, &[None]),
        Err(CommittedQError::Shape { .. })
    ));
    // Feature 0's sojourns exit into feature 1, which has no entrance distribution here.
    assert!(smdp_optimum(&env, &[Some(vec![1.0, 0.0, 0.0]), None]).is_err());
    assert!(entrance_distributions(&env, &[0], 0.1).is_err());
    assert!(entrance_distributions(&env, &[0, 0], 0.0).is_err());
}
