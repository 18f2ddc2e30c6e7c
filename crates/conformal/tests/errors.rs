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
    // 2 ± 1, widened by 4ε·max(|ŷ|, q̂) and rounded outward.
    let (lo, hi) = r.interval(2.0);
    assert!(lo < 1.0 && lo > 1.0 - 1e-14 && hi > 3.0 && hi < 3.0 + 1e-14);
    assert!(matches!(
        r.intervals(&[f64::INFINITY]),
        Err(E::Numeric(LinalgError::NonFinite { .. }))
    ));
    assert!(matches!(
        conformal::interval_coverage(&[(0.0, 1.0)], &[0.5, 0.2]),
        Err(E::Shape { .. })
    ));
}

/// The panics and the hang the review found, each now a typed error or a prompt answer.
#[test]
fn reported_panics_and_hangs() {
    use conformal::theory::{min_calibration_size, pac_rank, CoverageLaw};
    let law = CoverageLaw::new(20, 0.1).unwrap();
    assert!(law.prob_below(f64::NAN).is_err());
    assert!(law.on_test_points(5).unwrap().prob_below(f64::NAN).is_err());
    // ⌈1/α⌉ − 1 without a scan from 0 (this looped ~10¹² times).
    for alpha in [1e-12, 1e-9, 1e-6] {
        let n = min_calibration_size(alpha).unwrap();
        let rank = |n: usize| core_linalg::conformal_rank(n, alpha);
        // The first non-trivial size under the rank rule the classifier uses …
        assert!(rank(n) <= n && rank(n - 1) > n - 1, "α {alpha}: {n}");
        // … which is ⌈1/α⌉ − 1 until f64 rounding of (n + 1)(1 − α) blurs it (α = 1e-12).
        if alpha >= 1e-9 {
            assert!(
                (n as f64 - (1.0 / alpha - 1.0)).abs() <= 3.0,
                "α {alpha}: {n}"
            );
        }
    }
    assert!(min_calibration_size(1e-300).is_err());
    // The quantile of a law at 10¹² points returns (statrs' inverse never did).
    let big = CoverageLaw::new(1_000_000_000_000, 0.1).unwrap();
    let q = big.quantile(0.5).unwrap();
    assert!((q - 0.9).abs() < 1e-5, "{q}");
    // pac_rank at the top of usize returns (the midpoint used to wrap and it never did): the
    // incomplete beta at shapes ~10¹⁸ needs ~10⁹ fraction terms and says so.
    let t0 = std::time::Instant::now();
    match pac_rank(usize::MAX - 1, 0.5, 0.05) {
        Ok(_) | Err(E::Numeric(LinalgError::NotConverged { .. })) => {}
        Err(e) => panic!("unexpected error {e}"),
    }
    assert!(t0.elapsed().as_secs_f64() < 2.0);
    assert!(pac_rank(100_000_000, 0.5, 0.05).unwrap().is_some());
    // A class past the last no longer sets a bit of the next row.
    let mut sets = PredictionSets::empty(2, 3);
    assert!(sets.insert(0, 64).is_err());
    assert!(sets.insert(0, 3).is_err());
    assert!(sets.insert(2, 0).is_err());
    assert!(sets.classes(1).is_empty());
    // An ordinary f32 softmax row over 1000 classes is a probability row.
    let logits: Vec<f32> = (0..1000).map(|i| ((i * 37 % 101) as f32) * 0.05).collect();
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    let row: Vec<f64> = e.iter().map(|v| f64::from(v / s)).collect();
    assert!(Probabilities::from_rows(&[row]).is_ok());
}
