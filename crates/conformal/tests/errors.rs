//! Every input error of the classifier, the probabilities and the regressor.

use conformal::{
    evaluate, ConformalClassifier, ConformalError as E, ConformalParams, ConformalRegressor,
    PredictionSets, Probabilities, Rank, Score,
};
use core_linalg::LinalgError;

#[test]
fn probability_errors() {
    assert!(matches!(
        Probabilities::from_rows(&[]),
        Err(E::Empty { .. })
    ));
    assert!(matches!(
        Probabilities::from_flat(vec![0.5, 0.5], 0),
        Err(E::Empty { .. })
    ));
    assert!(matches!(
        Probabilities::from_flat(vec![0.5, 0.5, 1.0], 2),
        Err(E::Shape { .. })
    ));
    assert!(matches!(
        Probabilities::from_rows(&[vec![0.5, 0.5], vec![1.0]]),
        Err(E::Shape { .. })
    ));
    let e = Probabilities::from_rows(&[vec![0.5, 0.5], vec![0.6, 0.3]]).unwrap_err();
    assert!(matches!(e, E::Probabilities { row: 1, .. }), "{e}");
    assert!(e.to_string().contains("sums to 0.89"));
    assert!(matches!(
        Probabilities::from_rows(&[vec![1.2, -0.2]]),
        Err(E::Probabilities { .. })
    ));
    assert!(matches!(
        Probabilities::from_rows(&[vec![f64::NAN, 1.0]]),
        Err(E::Probabilities { .. })
    ));
    assert!(matches!(
        Probabilities::from_logits(vec![0.0, f64::INFINITY], 2),
        Err(E::NonFinite { .. })
    ));
    let p = Probabilities::from_logits(vec![0.0, 0.0, 1000.0, 0.0], 2).unwrap();
    assert!((p.row(0)[0] - 0.5).abs() < 1e-15 && p.row(1)[0] == 1.0);
}

#[test]
fn parameter_errors() {
    for alpha in [0.0, 1.0, -0.1, f64::NAN] {
        assert!(matches!(
            ConformalParams::new(Score::Lac, alpha).check(),
            Err(E::Alpha(_))
        ));
    }
    let raps = Score::Raps {
        lambda: -1.0,
        k_reg: 1,
        randomized: true,
    };
    assert!(matches!(
        ConformalParams::new(raps, 0.1).check(),
        Err(E::Parameter { .. })
    ));
    let saps = Score::Saps {
        lambda: 0.0,
        randomized: true,
    };
    assert!(matches!(
        ConformalParams::new(saps, 0.1).check(),
        Err(E::Parameter { .. })
    ));
    assert!(matches!(
        ConformalParams::new(Score::Lac, 0.1)
            .rank(Rank::Pac { delta: 1.0 })
            .check(),
        Err(E::Parameter { .. })
    ));
    assert!(matches!(
        ConformalParams::new(Score::Lac, 0.1).jitter(-1.0).check(),
        Err(E::Parameter { .. })
    ));
}

#[test]
fn calibration_and_prediction_errors() {
    let p = Probabilities::from_rows(&[vec![0.7, 0.3], vec![0.2, 0.8]]).unwrap();
    let params = ConformalParams::new(Score::Lac, 0.1).check().unwrap();
    assert!(matches!(
        ConformalClassifier::calibrate(&params, &p, &[0], 0),
        Err(E::Shape { .. })
    ));
    assert!(matches!(
        ConformalClassifier::calibrate(&params, &p, &[0, 2], 0),
        Err(E::Label {
            row: 1,
            label: 2,
            n_classes: 2
        })
    ));
    let clf = ConformalClassifier::calibrate(&params, &p, &[0, 1], 0).unwrap();
    let three = Probabilities::from_rows(&[vec![0.2, 0.3, 0.5]]).unwrap();
    assert!(matches!(clf.predict(&three, 0), Err(E::Shape { .. })));
    let sets = PredictionSets::empty(2, 2);
    assert!(matches!(evaluate(&sets, &[0], 0.1), Err(E::Shape { .. })));
    assert!(matches!(
        evaluate(&sets, &[0, 5], 0.1),
        Err(E::Label { .. })
    ));
    assert!(matches!(
        evaluate(&PredictionSets::empty(0, 2), &[], 0.1),
        Err(E::Empty { .. })
    ));
}

#[test]
fn regression_errors() {
    assert!(matches!(
        ConformalRegressor::calibrate(&[], &[], 0.1),
        Err(E::Numeric(LinalgError::Empty { .. }))
    ));
    assert!(matches!(
        ConformalRegressor::calibrate(&[1.0, 2.0], &[1.0], 0.1),
        Err(E::Shape { .. })
    ));
    assert!(matches!(
        ConformalRegressor::calibrate(&[1.0, f64::NAN], &[1.0, 2.0], 0.1),
        Err(E::Numeric(LinalgError::NonFinite { index: 1, .. }))
    ));
    assert!(matches!(
        ConformalRegressor::calibrate(&[1.0], &[1.0], 1.5),
        Err(E::Alpha(_))
    ));
    let r = ConformalRegressor::calibrate(&[0.0; 20], &[1.0; 20], 0.1).unwrap();
    assert_eq!(r.interval(2.0), (1.0, 3.0));
    assert!(matches!(
        r.intervals(&[f64::INFINITY]),
        Err(E::Numeric(LinalgError::NonFinite { .. }))
    ));
    assert!(matches!(
        conformal::interval_coverage(&[(0.0, 1.0)], &[0.5, 0.2]),
        Err(E::Shape { .. })
    ));
}
