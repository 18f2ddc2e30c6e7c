//! What a user of tabular RL expects: a discount factor, time-limit truncation, Q recorded at
//! log-spaced times, a parallel runner over seeds, and serde for tables and parameters.

use committed_q::{
    log_spaced, q_update_discounted, run_seeds, Behaviour, Branch, CommittedQError, Corridor,
    Environment, QLearner, QLearningParams, QTable, Recording, TabularEnv, RIGHT,
};
use core_linalg::seeded_rng;

/// One feature, one state, two actions; action u pays u + 1 and stays with probability 1/2.
fn loop_env() -> TabularEnv {
    let b = |r: f64| vec![Branch::new(Some(0), 0.5, r), Branch::new(None, 0.5, r)];
    TabularEnv::new(vec![0], 1, 2, vec![1.0], vec![b(1.0), b(2.0)]).unwrap()
}

#[test]
fn the_discounted_update_converges_to_the_discounted_fixed_point() {
    // Q(u) = (u + 1) + γ·½·max Q: with γ = 0.5 the fixed point is max Q = 2/(1 − 0.25) = 8/3,
    // and Q(0) = 1 + 0.25·8/3 = 5/3.
    let env = loop_env();
    let params = QLearningParams::committed(400_000)
        .gamma(0.5)
        .alpha(0.1, 0.001)
        .epsilon(1.0, 1.0)
        .check()
        .unwrap();
    let mut agent = QLearner::new(&env, params, &mut seeded_rng(3));
    agent.run(400_000, &mut seeded_rng(4));
    let q = agent.q();
    assert!((q.get(0, 1) - 8.0 / 3.0).abs() < 0.05, "{q:?}");
    assert!((q.get(0, 0) - 5.0 / 3.0).abs() < 0.05, "{q:?}");
    // The update by hand.
    let mut t = QTable::zeros(1, 2);
    t.set(0, 1, 2.0);
    let td = q_update_discounted(&mut t, 0, 0, 1.0, Some(0), 0.5, 0.5);
    assert_eq!(td, 1.0 + 0.5 * 2.0);
    assert_eq!(t.get(0, 0), 1.0);
    assert!(QLearningParams::committed(10).gamma(1.5).check().is_err());
    assert!(QLearningParams::committed(10)
        .gamma(f64::NAN)
        .check()
        .is_err());
}

#[test]
fn time_limits_truncate_episodes_without_making_them_terminal() {
    let env = Corridor::new(5).unwrap();
    let params = QLearningParams::committed(1000)
        .time_limit(1)
        .check()
        .unwrap();
    let mut agent = QLearner::new(&env, params, &mut seeded_rng(1));
    let mut rng = seeded_rng(2);
    for _ in 0..50 {
        let rec = agent.step(&mut rng);
        // Every step starts at the start state: one-step episodes.
        assert!(rec.episode_start && rec.state == 0);
    }
    assert_eq!(agent.episodes(), 50);
    // A truncated R from x = 0 bootstraps on Q(1, ·): its TD target is −1 + max Q(1, ·), not −1.
    let mut q = QTable::zeros(2, 2);
    q.set(1, RIGHT, 3.0);
    let mut agent = QLearner::with_q(&env, params, q).unwrap();
    let mut rng = seeded_rng(9);
    loop {
        let rec = agent.step(&mut rng);
        if rec.action == RIGHT {
            assert!((rec.td_error - (-1.0 + 3.0)).abs() < 1e-12, "{rec:?}");
            break;
        }
    }
    assert!(QLearningParams::committed(10)
        .time_limit(0)
        .check()
        .is_err());
}

#[test]
fn recordings_and_the_seed_runner() {
    assert_eq!(log_spaced(1000, 4).unwrap(), vec![1, 10, 100, 1000]);
    assert_eq!(log_spaced(5, 10).unwrap().last(), Some(&5));
    assert!(log_spaced(5, 10).unwrap().windows(2).all(|w| w[0] < w[1]));
    assert!(log_spaced(0, 3).is_err() && log_spaced(10, 0).is_err());
    let env = Corridor::new(3).unwrap();
    let params = QLearningParams::committed(5000).check().unwrap();
    let ts = log_spaced(5000, 12).unwrap();
    let seeds: Vec<u64> = (0..16).collect();
    let in_pool = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run_seeds(&env, params, &ts, 42, &seeds).unwrap())
    };
    let one = in_pool(1);
    assert_eq!(one, in_pool(3));
    // The same as a sequential run of seed 5.
    let mut rng = core_linalg::stream_rng(42, 5);
    let mut agent = QLearner::new(&env, params, &mut rng);
    let rec = agent.run_recorded(&ts, &mut rng).unwrap();
    assert_eq!(rec, one[5]);
    assert_eq!(rec.qs.len(), ts.len());
    assert_eq!(agent.steps(), 5000);
    // Checkpoints must increase and not lie in the past.
    assert!(agent.run_recorded(&[10], &mut rng).is_err());
    let mut fresh = QLearner::new(&env, params, &mut rng);
    assert!(matches!(
        fresh.run_recorded(&[10, 5], &mut rng),
        Err(CommittedQError::Parameter { .. })
    ));
}

#[test]
fn tables_parameters_and_recordings_round_trip_through_serde() {
    let q = QTable::from_rows(&[vec![-1.0, 0.25], vec![0.5, 1.0]]).unwrap();
    let json = serde_json::to_string(&q).unwrap();
    assert_eq!(json, "[[-1.0,0.25],[0.5,1.0]]");
    assert_eq!(serde_json::from_str::<QTable>(&json).unwrap(), q);
    for bad in ["[]", "[[1.0],[1.0,2.0]]", "[[]]"] {
        assert!(serde_json::from_str::<QTable>(bad).is_err(), "{bad}");
    }
    let p = QLearningParams::new(Behaviour::Regular, 777)
        .gamma(0.9)
        .time_limit(40)
        .alpha(0.2, 0.02);
    let back: QLearningParams = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    let rec = Recording {
        ts: vec![1, 10],
        qs: vec![q.clone(), q],
    };
    let back: Recording = serde_json::from_str(&serde_json::to_string(&rec).unwrap()).unwrap();
    assert_eq!(back, rec);
    // The environment trait is unchanged for users.
    assert_eq!(Corridor::new(2).unwrap().n_features(), 2);
}
