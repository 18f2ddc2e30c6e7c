//! The guarantee at its sharpest point: a test row identical to a calibration row must be
//! covered exactly when that row's own score is at most `q̂` — in particular the calibration
//! point that *is* the threshold keeps its own label. Calibration and prediction compute the
//! score by the same routine, so this holds to the bit, for every score, with ties, few and
//! many classes.

use conformal::{ConformalClassifier, ConformalParams, Probabilities, Score};
use core_linalg::seeded_rng;
use rand::RngExt;

/// Rows whose masses sum in different orders to different last bits: skewed, with exact ties
/// and tiny entries.
fn rows(n: usize, k: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<usize>) {
    let mut rng = seeded_rng(seed);
    let mut out = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let mut r: Vec<f64> = (0..k)
            .map(|_| match rng.random_range(0..4u32) {
                0 => 1e-9 * rng.random::<f64>(),
                1 => 0.25,
                _ => rng.random::<f64>().powi(3),
            })
            .collect();
        let s: f64 = r.iter().sum();
        r.iter_mut().for_each(|v| *v /= s);
        labels.push(rng.random_range(0..k));
        out.push(r);
        let _ = i;
    }
    (out, labels)
}

fn deterministic_scores() -> Vec<Score> {
    vec![
        Score::Lac,
        Score::Aps { randomized: false },
        Score::Raps {
            lambda: 0.01,
            k_reg: 2,
            randomized: false,
        },
        Score::TopK,
        Score::Saps {
            lambda: 0.1,
            randomized: false,
        },
        Score::Margin,
    ]
}

#[test]
fn duplicated_calibration_rows_are_covered_exactly_when_their_score_is_at_most_q_hat() {
    let mut checked = 0;
    for (k, seed) in [(4usize, 1u64), (10, 2), (40, 3)] {
        let (cal, labels) = rows(60, k, seed);
        let probs = Probabilities::from_rows(&cal).unwrap();
        for score in deterministic_scores() {
            for alpha in [0.1, 0.37, 0.5] {
                for mondrian in [false, true] {
                    let mut params = ConformalParams::new(score, alpha);
                    params.mondrian = mondrian;
                    let clf = ConformalClassifier::calibrate(
                        &params.check().unwrap(),
                        &probs,
                        &labels,
                        0,
                    )
                    .unwrap();
                    let sets = clf.predict(&probs, 0).unwrap();
                    for (i, (row, &y)) in cal.iter().zip(&labels).enumerate() {
                        let s = score.label_score(row, y, 1.0).unwrap();
                        let q = if mondrian {
                            clf.thresholds()[y]
                        } else {
                            clf.thresholds()[0]
                        };
                        assert_eq!(
                            sets.contains(i, y),
                            s <= q,
                            "{score:?} α {alpha} mondrian {mondrian} K {k} row {i}: s {s:e} q̂ {q:e}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 3 * 6 * 3 * 2 * 60);
}

/// The case the robustness review found: APS on one calibration point at α = 0.5, whose own
/// score is q̂ (0.9999999999999999 summed in rank order).
#[test]
fn the_reported_aps_case_keeps_its_own_label() {
    let p = vec![
        0.42783505154639173,
        0.1443298969072165,
        0.32989690721649484,
        0.0979381443298969,
    ];
    let probs = Probabilities::from_rows(std::slice::from_ref(&p)).unwrap();
    for randomized in [false, true] {
        let params = ConformalParams::new(Score::Aps { randomized }, 0.5)
            .check()
            .unwrap();
        let clf = ConformalClassifier::calibrate(&params, &probs, &[3], 0).unwrap();
        if !randomized {
            let sets = clf.predict(&probs, 0).unwrap();
            assert!(sets.contains(0, 3), "q̂ = {}", clf.thresholds()[0]);
        }
    }
    let s = Score::Aps { randomized: false };
    assert!(s.label_score(&p, 4, 1.0).is_err());
    let mut out = vec![0.0; 3];
    assert!(s.label_scores(&p, 1.0, &mut Vec::new(), &mut out).is_err());
}
