//! Scores against their definitions computed by hand, thresholds and sets against brute force,
//! and coverage ≥ 1 − α on average for every score.

use conformal::{
    evaluate, ConformalClassifier, ConformalParams, ConformalRegressor, Probabilities, Rank, Score,
};
use core_linalg::{seeded_rng, stream_rng};
use rand::RngExt;

fn close(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
}

#[test]
fn scores_match_hand_computed_values() {
    // Classes 0, 1, 2 already in decreasing order of probability.
    let p = [0.5, 0.3, 0.2];
    let mut order = Vec::new();
    let mut out = [0.0; 3];
    let mut s = |score: Score, u: f64| {
        score.label_scores(&p, u, &mut order, &mut out).unwrap();
        out
    };
    assert!(close(&s(Score::Lac, 0.5), &[0.5, 0.7, 0.8]));
    assert!(close(
        &s(Score::Aps { randomized: false }, 0.5),
        &[0.5, 0.8, 1.0]
    ));
    assert!(close(
        &s(Score::Aps { randomized: true }, 0.5),
        &[0.25, 0.65, 0.9]
    ));
    let raps = Score::Raps {
        lambda: 0.1,
        k_reg: 1,
        randomized: false,
    };
    assert!(close(&s(raps, 0.5), &[0.5, 0.9, 1.2]));
    assert!(close(&s(Score::TopK, 0.5), &[1.0, 2.0, 3.0]));
    let saps = Score::Saps {
        lambda: 0.2,
        randomized: true,
    };
    assert!(close(&s(saps, 0.5), &[0.25, 0.6, 0.8]));
    assert!(close(&s(Score::Margin, 0.5), &[-0.2, 0.2, 0.3]));
    // Permuted classes permute the scores.
    let q = [0.2, 0.5, 0.3];
    Score::Aps { randomized: false }
        .label_scores(&q, 0.5, &mut order, &mut out)
        .unwrap();
    assert!(close(&out, &[1.0, 0.5, 0.8]));
}

fn random_probs(n: usize, k: usize, seed: u64) -> (Probabilities, Vec<usize>) {
    let mut rng = seeded_rng(seed);
    let mut rows = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let mut r: Vec<f64> = (0..k).map(|_| rng.random::<f64>().powi(3)).collect();
        let s: f64 = r.iter().sum();
        r.iter_mut().for_each(|v| *v /= s);
        // Labels drawn from the probabilities themselves: a calibrated model.
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let y = r.iter().position(|&v| {
            acc += v;
            u < acc
        });
        labels.push(y.unwrap_or(k - 1));
        rows.push(r);
    }
    (Probabilities::from_rows(&rows).unwrap(), labels)
}

#[test]
fn threshold_and_sets_match_brute_force() {
    for k in [4, 40] {
        sets_match_brute_force(k);
    }
}

fn sets_match_brute_force(k: usize) {
    let (probs, labels) = random_probs(57, k, 1);
    let score = Score::Aps { randomized: false };
    let params = ConformalParams::new(score, 0.1).check().unwrap();
    let clf = ConformalClassifier::calibrate(&params, &probs, &labels, 0).unwrap();
    let mut order = Vec::new();
    let mut out = vec![0.0; k];
    let mut cal: Vec<f64> = (0..probs.len())
        .map(|i| {
            score
                .label_scores(probs.row(i), 1.0, &mut order, &mut out)
                .unwrap();
            out[labels[i]]
        })
        .collect();
    cal.sort_by(f64::total_cmp);
    // k = ⌈58 · 0.9⌉ = 53.
    assert_eq!(clf.thresholds(), &[cal[52]]);
    let (test, _) = random_probs(200, k, 2);
    let sets = clf.predict(&test, 9).unwrap();
    for i in 0..test.len() {
        score
            .label_scores(test.row(i), 1.0, &mut order, &mut out)
            .unwrap();
        let want: Vec<usize> = (0..k).filter(|&y| out[y] <= cal[52]).collect();
        assert_eq!(sets.classes(i), want);
    }
}

#[test]
fn too_few_calibration_points_give_full_sets() {
    let (probs, labels) = random_probs(8, 3, 3);
    let params = ConformalParams::new(Score::Lac, 0.1).check().unwrap();
    let clf = ConformalClassifier::calibrate(&params, &probs, &labels, 0).unwrap();
    assert_eq!(clf.thresholds(), &[f64::INFINITY]);
    let sets = clf.predict(&probs, 0).unwrap();
    assert!((0..sets.len()).all(|i| sets.size(i) == 3));
}

#[test]
fn mondrian_thresholds_are_per_class_quantiles() {
    let (probs, labels) = random_probs(300, 3, 4);
    let params = ConformalParams::new(Score::Lac, 0.2)
        .mondrian(true)
        .check()
        .unwrap();
    let clf = ConformalClassifier::calibrate(&params, &probs, &labels, 0).unwrap();
    for y in 0..3 {
        let s: Vec<f64> = (0..probs.len())
            .filter(|&i| labels[i] == y)
            .map(|i| 1.0 - probs.row(i)[y])
            .collect();
        assert_eq!(
            clf.thresholds()[y],
            core_linalg::conformal_quantile(&s, 0.2).unwrap()
        );
    }
    let sets = clf.predict(&probs, 1).unwrap();
    for i in 0..probs.len() {
        for y in 0..3 {
            assert_eq!(
                sets.contains(i, y),
                1.0 - probs.row(i)[y] <= clf.thresholds()[y]
            );
        }
    }
}

/// Mean coverage over many calibration/test draws from a calibrated model.
fn mean_coverage(params: ConformalParams, n: usize, trials: u64) -> (f64, f64) {
    let valid = params.check().unwrap();
    let covs: Vec<f64> = (0..trials)
        .map(|t| {
            let (cal, yc) = random_probs(n, 5, 1000 + 2 * t);
            let (test, yt) = random_probs(400, 5, 1001 + 2 * t);
            let clf = ConformalClassifier::calibrate(&valid, &cal, &yc, t).unwrap();
            let sets = clf.predict(&test, t + 7).unwrap();
            evaluate(&sets, &yt, params.alpha).unwrap().coverage
        })
        .collect();
    let m = covs.iter().sum::<f64>() / covs.len() as f64;
    let sd = (covs.iter().map(|c| (c - m).powi(2)).sum::<f64>() / (covs.len() - 1) as f64).sqrt();
    (m, sd / (covs.len() as f64).sqrt())
}

#[test]
fn coverage_is_at_least_one_minus_alpha_on_average_for_every_score() {
    let alpha = 0.1;
    let n = 49; // (n + 1)(1 − α) = 45 exactly: mean coverage 45/50 = 0.9 for continuous scores.
    for score in [
        Score::Lac,
        Score::Aps { randomized: true },
        Score::Aps { randomized: false },
        Score::Raps {
            lambda: 0.05,
            k_reg: 2,
            randomized: true,
        },
        Score::Saps {
            lambda: 0.1,
            randomized: true,
        },
        Score::Margin,
        Score::TopK,
    ] {
        let (m, se) = mean_coverage(ConformalParams::new(score, alpha), n, 300);
        assert!(m >= 1.0 - alpha - 4.0 * se, "{score:?}: {m} ± {se}");
        if score != Score::TopK {
            // No ties: coverage also at most 1 − α + 1/(n + 1).
            assert!(
                m <= 1.0 - alpha + 1.0 / (n as f64 + 1.0) + 4.0 * se,
                "{score:?}: {m}"
            );
        }
    }
    // The PAC rank is more conservative.
    let (pac, se) = mean_coverage(
        ConformalParams::new(Score::Lac, alpha).rank(Rank::Pac { delta: 0.1 }),
        200,
        100,
    );
    assert!(pac > 0.92 - 4.0 * se, "{pac}");
}

#[test]
fn sets_do_not_depend_on_the_thread_count() {
    let (probs, labels) = random_probs(3000, 6, 5);
    let params = ConformalParams::new(Score::Aps { randomized: true }, 0.1)
        .jitter(1e-9)
        .check()
        .unwrap();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let clf = ConformalClassifier::calibrate(&params, &probs, &labels, 3).unwrap();
                (clf.thresholds().to_vec(), clf.predict(&probs, 4).unwrap())
            })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn metrics_against_hand_counts() {
    let probs = Probabilities::from_rows(&[
        vec![0.6, 0.3, 0.1],
        vec![0.2, 0.5, 0.3],
        vec![0.1, 0.1, 0.8],
        vec![0.4, 0.35, 0.25],
    ])
    .unwrap();
    let mut sets = conformal::PredictionSets::empty(4, 3);
    sets.insert(0, 0).unwrap(); // {0}, label 0: covered, singleton
    sets.insert(1, 0).unwrap();
    sets.insert(1, 2).unwrap(); // {0, 2}, label 1: missed
                                // row 2: {} label 2: missed, empty
    sets.insert(3, 0).unwrap();
    sets.insert(3, 1).unwrap();
    sets.insert(3, 2).unwrap(); // full, label 1: covered
    let _ = probs;
    let m = evaluate(&sets, &[0, 1, 2, 1], 0.1).unwrap();
    assert_eq!(m.coverage, 0.5);
    assert_eq!(m.mean_size, 1.5);
    assert_eq!((m.singleton_rate, m.empty_rate), (0.25, 0.25));
    assert_eq!(m.class_coverage, vec![Some(1.0), Some(0.5), Some(0.0)]);
    assert!((m.class_coverage_gap - (0.1 + 0.4 + 0.9) / 3.0).abs() < 1e-12);
    assert_eq!(
        m.size_stratified,
        vec![(0, 1, 0.0), (1, 1, 1.0), (2, 1, 0.0), (3, 1, 1.0)]
    );
    assert!((m.size_stratified_violation - 0.9).abs() < 1e-12);
}

#[test]
fn regression_intervals_cover_on_average() {
    let alpha = 0.2;
    let n = 99;
    let mut covs = Vec::new();
    for t in 0..300 {
        let mut rng = stream_rng(8, t);
        let mut draw = |m: usize| -> (Vec<f64>, Vec<f64>) {
            let x: Vec<f64> = (0..m).map(|_| rng.random::<f64>()).collect();
            let noise: Vec<f64> = (0..m).map(|_| rng.random::<f64>() - 0.5).collect();
            let pred = x.iter().map(|x| 2.0 * x).collect();
            let y = x
                .iter()
                .zip(&noise)
                .map(|(x, e)| 2.0 * x + e * (1.0 + x))
                .collect();
            (pred, y)
        };
        let (pc, yc) = draw(n);
        let reg = ConformalRegressor::calibrate(&pc, &yc, alpha).unwrap();
        // The threshold is the 80th smallest residual.
        let mut r: Vec<f64> = pc.iter().zip(&yc).map(|(p, y)| (y - p).abs()).collect();
        r.sort_by(f64::total_cmp);
        assert_eq!(reg.half_width(), r[79]);
        let (pt, yt) = draw(500);
        covs.push(conformal::interval_coverage(&reg.intervals(&pt).unwrap(), &yt).unwrap());
    }
    let m = covs.iter().sum::<f64>() / covs.len() as f64;
    // Mean coverage 80/100 exactly for continuous residuals; 4 standard errors ≈ 0.01.
    assert!((0.79..=0.82).contains(&m), "{m}");
}

#[test]
fn scores_match_their_definitions_with_ties_for_few_and_many_classes() {
    let mut rng = seeded_rng(11);
    let mut order = Vec::new();
    // Every width of the rank-order lanes (16, 32) at its edges, and the sort beyond 32.
    for k in [1usize, 2, 5, 8, 9, 16, 17, 32, 33, 40] {
        for _ in 0..50 {
            // Values on a coarse grid so that ties occur.
            let mut p: Vec<f64> = (0..k)
                .map(|_| f64::from(rng.random_range(1u8..6)))
                .collect();
            let s: f64 = p.iter().sum();
            p.iter_mut().for_each(|v| *v /= s);
            let u: f64 = rng.random();
            let ahead = |j: usize, y: usize| p[j] > p[y] || (p[j] == p[y] && j < y);
            let pmax = p.iter().copied().fold(f64::MIN, f64::max);
            for score in [
                Score::Aps { randomized: true },
                Score::Raps {
                    lambda: 0.3,
                    k_reg: 2,
                    randomized: true,
                },
                Score::Saps {
                    lambda: 0.2,
                    randomized: true,
                },
                Score::TopK,
                Score::Margin,
            ] {
                let mut out = vec![0.0; k];
                score.label_scores(&p, u, &mut order, &mut out).unwrap();
                for y in 0..k {
                    let rank = (0..k).filter(|&j| ahead(j, y)).count() + 1;
                    let before: f64 = (0..k).filter(|&j| ahead(j, y)).map(|j| p[j]).sum();
                    // The largest other probability; 0 for a single class (the documented
                    // convention of Margin).
                    let other = (0..k)
                        .filter(|&j| j != y)
                        .map(|j| p[j])
                        .fold(if k == 1 { 0.0 } else { f64::MIN }, f64::max);
                    let want = match score {
                        Score::Aps { .. } => before + u * p[y],
                        Score::Raps { .. } => {
                            before + u * p[y] + 0.3 * (rank as f64 - 2.0).max(0.0)
                        }
                        Score::Saps { .. } if rank == 1 => u * pmax,
                        Score::Saps { .. } => pmax + 0.2 * (rank as f64 - 2.0 + u),
                        Score::TopK => rank as f64,
                        _ => other - p[y],
                    };
                    assert!(
                        (out[y] - want).abs() < 1e-12,
                        "{score:?} k={k} y={y}: {} vs {want}",
                        out[y]
                    );
                }
            }
        }
    }
}

#[test]
fn predict_flat_equals_validate_then_predict_for_f64_and_f32() {
    // Several chunks of rows (1024 each), every score, marginal and Mondrian, with jitter.
    let (cal, yc) = random_probs(3000, 7, 21);
    let (test, _) = random_probs(5000, 7, 22);
    let test32: Vec<f32> = test.as_flat().iter().map(|&v| v as f32).collect();
    let widened = Probabilities::from_flat(test32.iter().map(|&v| f64::from(v)).collect(), 7)
        .expect("an f32 rounding of a probability row is one within the tolerance");
    for score in [
        Score::Lac,
        Score::Aps { randomized: true },
        Score::Raps {
            lambda: 0.1,
            k_reg: 2,
            randomized: true,
        },
        Score::TopK,
        Score::Saps {
            lambda: 0.3,
            randomized: false,
        },
        Score::Margin,
    ] {
        for mondrian in [false, true] {
            let params = ConformalParams::new(score, 0.1)
                .mondrian(mondrian)
                .jitter(1e-9)
                .check()
                .unwrap();
            let clf = ConformalClassifier::calibrate(&params, &cal, &yc, 5).unwrap();
            assert_eq!(
                clf.predict_flat(test.as_flat(), 6).unwrap(),
                clf.predict(&test, 6).unwrap(),
                "{score:?} mondrian={mondrian}"
            );
            assert_eq!(
                clf.predict_flat(&test32, 6).unwrap(),
                clf.predict(&widened, 6).unwrap(),
                "{score:?} mondrian={mondrian} f32"
            );
        }
    }
}

#[test]
fn predict_flat_reports_the_first_bad_row_as_from_flat_does() {
    let (cal, yc) = random_probs(500, 4, 23);
    let params = ConformalParams::new(Score::Aps { randomized: true }, 0.1)
        .check()
        .unwrap();
    let clf = ConformalClassifier::calibrate(&params, &cal, &yc, 1).unwrap();
    let (test, _) = random_probs(4000, 4, 24);
    // Bad rows in two chunks: the earlier one (row 1500) is reported, whatever finishes first.
    for (bad, value) in [(f64::NAN, 0), (-0.1, 1), (2.0, 2), (f64::INFINITY, 3)] {
        let mut flat = test.as_flat().to_vec();
        flat[3500 * 4 + value] = bad;
        flat[1500 * 4 + value] = bad;
        let want = Probabilities::from_flat(flat.clone(), 4).unwrap_err();
        let got = clf.predict_flat(&flat, 2).unwrap_err();
        assert!(
            matches!(
                got,
                conformal::ConformalError::Probabilities { row: 1500, .. }
            ),
            "{got}"
        );
        assert_eq!(got.to_string(), want.to_string());
        let flat32: Vec<f32> = flat.iter().map(|&v| v as f32).collect();
        let got = clf.predict_flat(&flat32, 2).unwrap_err();
        assert!(
            matches!(
                got,
                conformal::ConformalError::Probabilities { row: 1500, .. }
            ),
            "{got}"
        );
    }
    // Rows the fast check sends on to the checker, which accepts them: a −0.0 entry, a sum
    // between tol/2 and tol from one, an entry a hair above 1; the same sets as from_flat.
    let tol = conformal::probs::row_sum_tolerance(4);
    let edge = [
        vec![-0.0, 0.5, 0.25, 0.25],
        vec![0.4, 0.3, 0.2, 0.1 + 0.75 * tol],
        vec![1.0 + 0.4 * tol, 0.0, 0.0, 0.0],
    ];
    for score in [Score::Lac, Score::Aps { randomized: true }] {
        let params = ConformalParams::new(score, 0.1).check().unwrap();
        let clf = ConformalClassifier::calibrate(&params, &cal, &yc, 1).unwrap();
        let mut flat = test.as_flat().to_vec();
        for (i, r) in edge.iter().enumerate() {
            flat[(700 + i) * 4..(701 + i) * 4].copy_from_slice(r);
        }
        let want = clf.predict(&Probabilities::from_flat(flat.clone(), 4).unwrap(), 2);
        assert_eq!(
            clf.predict_flat(&flat, 2).unwrap(),
            want.unwrap(),
            "{score:?}"
        );
    }
    // A row that does not sum to one, an empty buffer, a ragged length, another class count.
    let mut flat = test.as_flat().to_vec();
    flat[8] *= 0.5;
    assert!(matches!(
        clf.predict_flat(&flat, 2),
        Err(conformal::ConformalError::Probabilities { row: 2, .. })
    ));
    assert!(matches!(
        clf.predict_flat::<f64>(&[], 2),
        Err(conformal::ConformalError::Empty { .. })
    ));
    assert!(matches!(
        clf.predict_flat(&test.as_flat()[..7], 2),
        Err(conformal::ConformalError::Shape { .. })
    ));
    assert!(matches!(
        clf.predict_flat(&[0.5f32; 6], 2),
        Err(conformal::ConformalError::Shape { .. })
    ));
}

#[test]
fn prefix_sets_are_the_labels_scoring_at_most_q_at_every_threshold() {
    // The walk stops early once the mass ahead exceeds q (APS, RAPS): the sets must still be
    // exactly {y : s(x, y) ≤ q} by every label's score, at thresholds on and between scores.
    let mut rng = seeded_rng(31);
    let mut order = Vec::new();
    // Continuous rows, and rows on a coarse grid with ties and signed zeros (the rank order
    // breaks ties by class index; −0.0 ties with 0.0), around each width of the rank lanes.
    for k in [1usize, 3, 10, 16, 17, 32, 33, 40] {
        for t in 0..80 {
            let mut p: Vec<f64> = if t % 2 == 0 {
                (0..k).map(|_| rng.random::<f64>().powi(3)).collect()
            } else {
                (0..k)
                    .map(|_| f64::from(rng.random_range(0u8..4)))
                    .collect()
            };
            if p.iter().all(|&v| v == 0.0) {
                p[0] = 1.0;
            }
            let s: f64 = p.iter().sum();
            p.iter_mut().for_each(|v| *v /= s);
            if t % 2 == 1 {
                p.iter_mut()
                    .filter(|v| **v == 0.0)
                    .step_by(2)
                    .for_each(|v| *v = -0.0);
            }
            let u: f64 = rng.random();
            for score in [
                Score::Aps { randomized: true },
                Score::Aps { randomized: false },
                Score::Raps {
                    lambda: 0.05,
                    k_reg: 1,
                    randomized: true,
                },
            ] {
                let mut out = vec![0.0; k];
                score.label_scores(&p, u, &mut order, &mut out).unwrap();
                let mut qs: Vec<f64> = out.clone();
                qs.extend((0..=20).map(|i| f64::from(i) / 20.0));
                for q in qs {
                    let mut kept = vec![false; k];
                    score.prefix_set(&p, u, q, |y| kept[y] = true).unwrap();
                    for y in 0..k {
                        assert_eq!(kept[y], out[y] <= q, "{score:?} k={k} y={y} q={q}");
                    }
                }
            }
        }
    }
}
