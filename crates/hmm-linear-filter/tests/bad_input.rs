//! Inputs that used to give NaN beliefs, a wrong model or a panic: each is a typed error now.

use core_linalg::seeded_rng;
use hmm_linear_filter::{
    chernoff_xi, DeterministicStructure, Hmm, HmmError, LinearFilter, LogForwardFilter,
    NearDeterministic,
};
use nalgebra::DMatrix;

fn swap_hmm() -> Hmm {
    let t = DMatrix::from_row_slice(2, 2, &[0.0, 1.0, 1.0, 0.0]);
    let e = DMatrix::from_row_slice(2, 2, &[0.9, 0.2, 0.1, 0.8]);
    Hmm::new(t, e, vec![0.5, 0.5]).unwrap()
}

#[test]
fn logits_that_define_no_belief_are_refused() {
    let hmm = swap_hmm();
    let no_belief =
        |r: Result<LogForwardFilter<&Hmm>, HmmError>| matches!(r, Err(HmmError::NoBelief { .. }));
    assert!(no_belief(LogForwardFilter::with_logits(
        &hmm,
        &[f64::NEG_INFINITY, f64::NEG_INFINITY]
    )));
    assert!(no_belief(LogForwardFilter::with_logits(
        &hmm,
        &[f64::INFINITY, 0.0]
    )));
    // One −∞ is a zero-probability state, which is fine.
    assert!(LogForwardFilter::with_logits(&hmm, &[f64::NEG_INFINITY, 0.0]).is_ok());
    let mut alf = LinearFilter::adaptive(&hmm, 0.1).unwrap();
    assert!(alf.set_logits(&[f64::INFINITY, 0.0]).is_err());
    assert!(alf.set_logits(&[f64::NAN, 0.0]).is_err());
    assert!(alf
        .step_with_input(0, 0, &[f64::NAN, 0.0])
        .is_err_and(|e| matches!(e, HmmError::NaN { .. })));
    assert!(alf.step_with_input(0, 0, &[f64::NEG_INFINITY, 0.0]).is_ok());
}

#[test]
fn transitions_that_are_not_near_deterministic_are_refused() {
    // Uniform T: every column's maximum is tied.
    let uniform = DMatrix::from_element(3, 3, 1.0 / 3.0);
    let e = NearDeterministic::decompose(&uniform).unwrap_err();
    assert!(
        matches!(e, HmmError::NotNearDeterministic { column: 0, .. }),
        "{e}"
    );
    // A unique maximum of 0.45 means ε ≥ 1/2.
    let flat = DMatrix::from_row_slice(3, 3, &[0.45, 0.3, 0.3, 0.3, 0.45, 0.25, 0.25, 0.25, 0.45]);
    assert!(matches!(
        NearDeterministic::decompose(&flat),
        Err(HmmError::NotNearDeterministic { .. })
    ));
    // Not square, not stochastic, NaN: refused, no panic.
    let wide = DMatrix::from_element(2, 3, 0.5);
    assert!(matches!(
        NearDeterministic::decompose(&wide),
        Err(HmmError::Shape { .. })
    ));
    let mut nan = DMatrix::identity(2, 2);
    nan[(0, 1)] = f64::NAN;
    assert!(NearDeterministic::decompose(&nan).is_err());
    assert!(DeterministicStructure::from_matrix(&nan, 0).is_err());
    // The near-deterministic case still decomposes.
    let near = DMatrix::from_row_slice(2, 2, &[0.9, 0.1, 0.1, 0.9]);
    let nd = NearDeterministic::decompose(&near).unwrap();
    assert!((nd.epsilon - 0.1).abs() < 1e-15);
}

#[test]
fn sampling_and_xi_reject_out_of_range_and_non_stochastic_input() {
    let hmm = swap_hmm();
    let mut rng = seeded_rng(1);
    assert!(matches!(
        hmm.sample_transition(0, 2, &mut rng),
        Err(HmmError::StateOutOfRange { state: 2, .. })
    ));
    assert!(matches!(
        hmm.sample_transition(1, 0, &mut rng),
        Err(HmmError::ActionOutOfRange { .. })
    ));
    assert!(hmm.sample_emission(5, &mut rng).is_err());
    assert!(hmm.sample_emission(1, &mut rng).is_ok());
    let structure = DeterministicStructure::from_successors(vec![1, 0]).unwrap();
    let not_stochastic = DMatrix::from_row_slice(2, 2, &[0.9, 0.9, 0.9, 0.9]);
    assert!(matches!(
        chernoff_xi(&structure, &not_stochastic),
        Err(HmmError::Emission(_))
    ));
    let e = DMatrix::from_row_slice(2, 2, &[0.9, 0.2, 0.1, 0.8]);
    assert!(chernoff_xi(&structure, &e).unwrap() > 0.0);
}

#[test]
fn raw_parts_are_validated() {
    let log_e = vec![vec![-0.1, -2.0], vec![-2.3, -0.2]];
    let ok = LinearFilter::from_parts(vec![vec![1, 0]], log_e.clone(), 1.0, 1.0, vec![0.0; 2]);
    assert!(ok.is_ok());
    for (alpha, beta) in [(f64::NAN, 1.0), (1.0, f64::INFINITY)] {
        assert!(LinearFilter::from_parts(
            vec![vec![1, 0]],
            log_e.clone(),
            alpha,
            beta,
            vec![0.0; 2]
        )
        .is_err());
    }
    let bad_rows = vec![vec![-0.1, f64::NAN], vec![-2.3, 0.5]];
    assert!(LinearFilter::from_parts(vec![vec![1, 0]], bad_rows, 1.0, 1.0, vec![0.0; 2]).is_err());
    assert!(
        LinearFilter::from_parts(vec![vec![1, 0]], log_e, 1.0, 1.0, vec![f64::INFINITY, 0.0])
            .is_err()
    );
}

#[test]
fn a_quadrature_that_does_not_converge_is_an_error_not_a_number() {
    // A 2-cycle (1 ↔ 2, state 0 transient) whose state 2 all but never emits symbols 1 and 2:
    // the integrand Λ(t)/t is so steep near 0 that double-exponential quadrature's own error
    // estimate (≈ 7e-4) is far above its tolerance. Found by the robustness suite.
    let s = DeterministicStructure::from_successors(vec![1, 2, 1]).unwrap();
    let e = DMatrix::from_column_slice(
        3,
        3,
        &[
            0.30475955753252837,
            0.37347558369596484,
            0.32176485877150673,
            2.2641302453876313e-14,
            0.4999999999999887,
            0.4999999999999887,
            1.0,
            6.57271927345306e-301,
            9.438439776216518e-301,
        ],
    );
    match chernoff_xi(&s, &e) {
        Err(HmmError::Quadrature {
            error_estimate,
            tolerance,
            ..
        }) => assert!(error_estimate > tolerance),
        other => panic!("expected a quadrature error, got {other:?}"),
    }
}
