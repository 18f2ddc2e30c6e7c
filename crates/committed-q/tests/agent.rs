//! The learners against hand-computed traces, and the commitment property.

use committed_q::generators::{aliased_chains, AliasedChainParams};
use committed_q::{
    q_update, Behaviour, Corridor, DecaySchedule, Environment, QLearner, QLearningParams, QTable,
    LEFT, RIGHT,
};
use core_linalg::seeded_rng;

#[test]
fn update_rule_matches_a_hand_computed_trace() {
    let mut q = QTable::zeros(2, 2);
    // Q(0,R) ← 0 + ½(−1 + max(0, 0) − 0) = −0.5
    assert_eq!(q_update(&mut q, 0, RIGHT, -1.0, Some(1), 0.5), -1.0);
    assert_eq!(q.get(0, RIGHT), -0.5);
    // Q(1,R) ← 0 + ½(−1 + max Q(1,·) = 0 − 0) = −0.5
    q_update(&mut q, 1, RIGHT, -1.0, Some(1), 0.5);
    assert_eq!(q.get(1, RIGHT), -0.5);
    // Terminal: Q(1,R) ← −0.5 + ½(2 − (−0.5)) = 0.75
    assert_eq!(q_update(&mut q, 1, RIGHT, 2.0, None, 0.5), 2.5);
    assert_eq!(q.get(1, RIGHT), 0.75);
    // Q(0,R) ← −0.5 + ½(−1 + max(0, 0.75) + 0.5) = −0.375
    q_update(&mut q, 0, RIGHT, -1.0, Some(1), 0.5);
    assert_eq!(q.get(0, RIGHT), -0.375);
    assert_eq!(q.get(0, LEFT), 0.0);
    assert_eq!(q.get(1, LEFT), 0.0);
}

#[test]
fn learner_steps_match_a_hand_computed_episode() {
    let env = Corridor::new(2).unwrap();
    // Constant α = ½, (numerically) no exploration, R preferred everywhere.
    let params = QLearningParams::committed(100)
        .alpha(0.5, 0.5)
        .epsilon(1e-300, 1e-300)
        .uniform_first_action(false)
        .check()
        .unwrap();
    let q0 = QTable::from_rows(&[vec![0.0, 1.0], vec![0.0, 1.0]]).unwrap();
    let mut agent = QLearner::with_q(&env, params, q0).unwrap();
    let mut rng = seeded_rng(0);
    let r: Vec<_> = (0..4).map(|_| agent.step(&mut rng)).collect();
    // x = 0 → 1 → 2 → goal (+2), then a new episode at 0.
    assert_eq!(
        r.iter()
            .map(|s| (s.state, s.action, s.reward))
            .collect::<Vec<_>>(),
        vec![
            (0, RIGHT, -1.0),
            (1, RIGHT, -1.0),
            (2, RIGHT, 2.0),
            (0, RIGHT, -1.0)
        ]
    );
    assert!(r[0].episode_start && !r[1].episode_start && r[3].episode_start);
    assert_eq!(r[2].next, None);
    // Q(0,R): 1 + ½(−1 + 1 − 1) = 0.5; Q(1,R): 1 + ½(−1 + 1 − 1) = 0.5, then 0.5 + ½(2 − 0.5) = 1.25;
    // Q(0,R): 0.5 + ½(−1 + 1.25 − 0.5) = 0.375.
    assert_eq!(agent.q().get(0, RIGHT), 0.375);
    assert_eq!(agent.q().get(1, RIGHT), 1.25);
    assert_eq!(agent.episodes(), 2);
    assert_eq!(agent.steps(), 4);
}

#[test]
fn schedules_hit_their_endpoints_and_decay() {
    let s = DecaySchedule::new(0.1, 0.01, 1000).unwrap();
    assert!((s.at(0) - 0.1).abs() < 1e-15);
    assert!((s.at(1000) - 0.01).abs() < 1e-15);
    assert!(s.at(500) < 0.1 && s.at(500) > 0.01 && s.at(5000) < 0.01);
    let c = DecaySchedule::new(0.3, 0.3, 10).unwrap();
    assert_eq!((c.at(0), c.at(1_000_000)), (0.3, 0.3));
}

/// Runs `steps` steps and returns, per behaviour, how often the action changed within an episode
/// while the feature stayed the same.
fn redraws_within_feature(b: Behaviour) -> usize {
    let mut rng = seeded_rng(5);
    let env = aliased_chains(
        &AliasedChainParams {
            n_features: 4,
            n_actions: 3,
            min_len: 3,
            max_len: 5,
            termination: 0.05,
        },
        &mut rng,
    )
    .unwrap();
    let params = QLearningParams::new(b, 1000)
        .epsilon(0.5, 0.5)
        .check()
        .unwrap();
    let mut agent = QLearner::new(&env, params, &mut rng);
    let mut prev: Option<(usize, usize)> = None;
    let mut changes = 0;
    for _ in 0..20_000 {
        let r = agent.step(&mut rng);
        if let (Some((z, u)), false) = (prev, r.episode_start) {
            if z == r.feature && u != r.action {
                changes += 1;
            }
        }
        assert_eq!(r.feature, env.feature(r.state));
        prev = r.next.map(|_| (r.feature, r.action));
    }
    changes
}

#[test]
fn committed_agent_changes_action_only_on_feature_change_or_new_episode() {
    assert_eq!(redraws_within_feature(Behaviour::Committed), 0);
    // The same check catches the regular agent, which redraws every step.
    assert!(redraws_within_feature(Behaviour::Regular) > 1000);
}

#[test]
fn runs_are_reproducible_from_the_seed() {
    let env = Corridor::new(5).unwrap();
    let run = |seed| {
        let mut rng = seeded_rng(seed);
        let mut a = QLearner::new(
            &env,
            QLearningParams::regular(5000).check().unwrap(),
            &mut rng,
        );
        a.run(5000, &mut rng);
        a.q().clone()
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}
