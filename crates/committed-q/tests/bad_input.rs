//! Inputs from the robustness review that panicked, wrapped or read another entry.

use committed_q::exact::{
    behaviour_fixed_point, evaluate_policy, optimal_reactive_policy, policy_from_index,
    ReactivePolicy,
};
use committed_q::{Behaviour, Branch, CommittedQError, Corridor, Environment, QTable, TabularEnv};

/// State 1 is reached only through a zero-probability branch: it is unreachable, and the exact
/// tools must not index its (missing) position.
fn zero_branch_env() -> TabularEnv {
    TabularEnv::new(
        vec![0, 0],
        1,
        1,
        vec![1.0, 0.0],
        vec![
            vec![Branch::new(None, 1.0, 1.0), Branch::new(Some(1), 0.0, 0.0)],
            vec![Branch::new(None, 1.0, 0.0)],
        ],
    )
    .unwrap()
}

#[test]
fn zero_probability_branches_to_unreachable_states() {
    let env = zero_branch_env();
    let p = ReactivePolicy::deterministic(&[0], 1).unwrap();
    let v = evaluate_policy(&env, &p).unwrap();
    assert_eq!(v.value, 1.0);
    assert_eq!(v.state_values[1], None);
    assert_eq!(optimal_reactive_policy(&env).unwrap().policy, vec![0]);
    assert!(behaviour_fixed_point(&env, Behaviour::Committed, &[0], 0.1).is_ok());
}

#[test]
fn wrapping_sizes_and_zero_actions_are_errors() {
    assert!(matches!(
        policy_from_index(3, 2, 0),
        Err(CommittedQError::Empty { .. })
    ));
    assert_eq!(policy_from_index(5, 3, 2).unwrap(), vec![1, 0, 1]);
    assert!(Corridor::new(usize::MAX).is_err());
    assert_eq!(Corridor::new(5).unwrap().n_states(), 6);
    // 2 states × 2⁶³ actions overflows states × actions.
    let r = TabularEnv::new(vec![0, 0], 1, 1 << 63, vec![1.0, 0.0], vec![]);
    assert!(matches!(r, Err(CommittedQError::Parameter { .. })), "{r:?}");
    // Rewards near f64::MAX would overflow the returns.
    let r = TabularEnv::new(
        vec![0],
        1,
        1,
        vec![1.0],
        vec![vec![Branch::new(None, 1.0, 1e300)]],
    );
    assert!(matches!(r, Err(CommittedQError::Parameter { .. })));
}

#[test]
#[should_panic(expected = "out of range")]
fn q_table_does_not_read_the_next_row() {
    let q = QTable::zeros(2, 2);
    let _ = q.get(0, 2);
}

#[test]
#[should_panic(expected = "out of range")]
fn branches_do_not_read_the_next_state() {
    let env = zero_branch_env();
    let _ = env.expected_reward(0, 1);
}

#[test]
#[should_panic(expected = "TabularEnv::feature: state 2 out of range")]
fn feature_of_a_missing_state_panics_with_a_message() {
    let _ = zero_branch_env().feature(2);
}

#[test]
#[should_panic(expected = "TabularEnv::step: (state 0, action 1) out of range")]
fn stepping_with_a_missing_action_does_not_use_the_next_state_s_row() {
    let env = zero_branch_env();
    let _ = env.step(0, env.n_actions(), &mut core_linalg::seeded_rng(1));
}

#[test]
fn strictly_prefers_refuses_out_of_range_actions_instead_of_reading_another_row() {
    let q = QTable::from_rows(&[vec![0.0, 1.0], vec![5.0, 0.0]]).unwrap();
    // Action 2 at feature 0 would be Q(1, 0) = 5 in a flat table.
    assert!(!q.strictly_prefers(&[2, 0]));
    assert!(q.strictly_prefers(&[1, 0]));
    assert!(!q.strictly_prefers(&[1]));
}
