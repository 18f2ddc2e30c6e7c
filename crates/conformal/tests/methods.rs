//! The methods beside split conformal with absolute residuals: conformalised quantile
//! regression, normalised residuals, conformal p-values and Mondrian calibration by
//! user-supplied groups — each against a hand-computed case, and p-values against the
//! prediction sets they must reproduce.

use conformal::{
    ConformalClassifier, ConformalError, ConformalParams, CqrRegressor, GroupConformalClassifier,
    NormalizedRegressor, Probabilities, Score,
};
use core_linalg::{conformal_rank, seeded_rng};
use rand::RngExt;

/// `got` is `want` widened by a few ulps, outward.
fn near(got: (f64, f64), want: (f64, f64)) -> bool {
    got.0 <= want.0 && got.0 > want.0 - 1e-12 && got.1 >= want.1 && got.1 < want.1 + 1e-12
}

#[test]
fn cqr_by_hand() {
    // Band [0, 1]; targets 0.5 (inside), 1.5, −0.2, 3.0: scores max(lo − y, y − hi) =
    // −0.5, 0.5, 0.2, 2.0; sorted −0.5, 0.2, 0.5, 2.0.
    let (lo, hi, y) = ([0.0; 4], [1.0; 4], [0.5, 1.5, -0.2, 3.0]);
    // α = 0.2, n = 4: rank ⌈5 · 0.8⌉ = 4 → Q = 2.0, interval [−2, 3].
    let r = CqrRegressor::calibrate(&lo, &hi, &y, 0.2).unwrap();
    assert_eq!(r.correction(), 2.0);
    assert!(near(r.interval(0.0, 1.0).unwrap(), (-2.0, 3.0)));
    // α = 0.4: rank ⌈5 · 0.6⌉ = 3 → Q = 0.5.
    let r = CqrRegressor::calibrate(&lo, &hi, &y, 0.4).unwrap();
    assert_eq!(r.correction(), 0.5);
    assert!(near(r.interval(2.0, 4.0).unwrap(), (1.5, 4.5)));
    // A band that always over-covers is narrowed: all targets 5 in [0, 10] → Q = −5.
    let r = CqrRegressor::calibrate(&[0.0; 4], &[10.0; 4], &[5.0; 4], 0.2).unwrap();
    assert_eq!(r.correction(), -5.0);
    assert!(near(r.interval(0.0, 10.0).unwrap(), (5.0, 5.0)));
    // Too few points: Q = +∞.
    let r = CqrRegressor::calibrate(&[0.0], &[1.0], &[0.5], 0.1).unwrap();
    assert_eq!(r.correction(), f64::INFINITY);
    // Errors.
    assert!(matches!(
        CqrRegressor::calibrate(&[0.0, 0.0], &[1.0], &[0.5, 0.5], 0.1),
        Err(ConformalError::Shape { .. })
    ));
    assert!(CqrRegressor::calibrate(&[f64::NAN], &[1.0], &[0.5], 0.1).is_err());
    assert!(r.interval(f64::INFINITY, 1.0).is_err());
}

#[test]
fn normalized_residuals_by_hand() {
    // ŷ = 0, σ̂ = 1, 2, 1, 2, y = 1, 2, 3, 8: scores 1, 1, 3, 4; α = 0.2, n = 4 → rank 4 → q̂ = 4.
    let r = NormalizedRegressor::calibrate(
        &[0.0; 4],
        &[1.0, 2.0, 1.0, 2.0],
        &[1.0, 2.0, 3.0, 8.0],
        0.2,
    )
    .unwrap();
    assert_eq!(r.quantile(), 4.0);
    // The interval scales with σ̂: ±2 at σ̂ = 0.5, ±40 at σ̂ = 10.
    assert!(near(r.interval(0.0, 0.5).unwrap(), (-2.0, 2.0)));
    assert!(near(r.interval(1.0, 10.0).unwrap(), (-39.0, 41.0)));
    assert!(matches!(
        NormalizedRegressor::calibrate(&[0.0], &[0.0], &[1.0], 0.2),
        Err(ConformalError::Parameter { .. })
    ));
    assert!(r.interval(0.0, -1.0).is_err());
    assert!(r.intervals(&[0.0, 1.0], &[1.0]).is_err());
}

#[test]
fn regressors_cover_their_own_calibration_points() {
    // Every calibration point whose score is at most the quantile lies in its interval, so at
    // least ⌈(n + 1)(1 − α)⌉ of n do (heteroscedastic data, crossing quantiles included).
    let mut rng = seeded_rng(9);
    let n = 200;
    let x: Vec<f64> = (0..n).map(|_| rng.random::<f64>() * 10.0).collect();
    let y: Vec<f64> = x
        .iter()
        .map(|&xi| xi + (rng.random::<f64>() - 0.5) * (1.0 + xi))
        .collect();
    let scale: Vec<f64> = x.iter().map(|&xi| 0.5 + 0.3 * xi).collect();
    let (lo, hi): (Vec<f64>, Vec<f64>) = x.iter().map(|&xi| (xi - 0.2 * xi, xi + 0.1 * xi)).unzip();
    for alpha in [0.05, 0.1, 0.3] {
        let k = conformal_rank(n, alpha);
        let nr = NormalizedRegressor::calibrate(&x, &scale, &y, alpha).unwrap();
        let iv = nr.intervals(&x, &scale).unwrap();
        let covered = iv
            .iter()
            .zip(&y)
            .filter(|((a, b), t)| a <= *t && *t <= b)
            .count();
        assert!(covered >= k, "normalised α = {alpha}: {covered} < {k}");
        let cq = CqrRegressor::calibrate(&lo, &hi, &y, alpha).unwrap();
        let iv = cq.intervals(&lo, &hi).unwrap();
        let covered = iv
            .iter()
            .zip(&y)
            .filter(|((a, b), t)| a <= *t && *t <= b)
            .count();
        assert!(covered >= k, "CQR α = {alpha}: {covered} < {k}");
    }
}

#[test]
fn p_values_by_hand() {
    // LAC scores 1 − p_y of the calibration rows: 0.1, 0.2, 0.4, 0.7.
    let cal = Probabilities::from_rows(&[
        vec![0.9, 0.05, 0.05],
        vec![0.1, 0.8, 0.1],
        vec![0.2, 0.2, 0.6],
        vec![0.3, 0.4, 0.3],
    ])
    .unwrap();
    let labels = [0, 1, 2, 0];
    let params = ConformalParams::new(Score::Lac, 0.3).check().unwrap();
    let clf = ConformalClassifier::calibrate(&params, &cal, &labels, 0).unwrap();
    // Test row [0.5, 0.3, 0.2]: scores 0.5, 0.7, 0.8; #{s_i ≥ ·} = 1, 1, 0 of n = 4.
    let test = Probabilities::from_rows(&[vec![0.5, 0.3, 0.2]]).unwrap();
    let p = clf.p_values(&test, 1).unwrap();
    assert_eq!(p, vec![2.0 / 5.0, 2.0 / 5.0, 1.0 / 5.0]);
}

/// Rows of `k` classes with ties and skew, and labels drawn from them.
fn rows(n: usize, k: usize, seed: u64) -> (Probabilities, Vec<usize>) {
    let mut rng = seeded_rng(seed);
    let mut out = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..n {
        let mut r: Vec<f64> = (0..k)
            .map(|_| {
                if rng.random_range(0..5u32) == 0 {
                    0.25
                } else {
                    rng.random::<f64>().powi(2)
                }
            })
            .collect();
        let s: f64 = r.iter().sum();
        r.iter_mut().for_each(|v| *v /= s);
        labels.push(rng.random_range(0..k));
        out.push(r);
    }
    (Probabilities::from_rows(&out).unwrap(), labels)
}

#[test]
fn p_values_reproduce_the_prediction_sets() {
    // With the marginal rank, y ∈ C(x) ⇔ (n + 1) p_y(x) > l, l = n + 1 − ⌈(n + 1)(1 − α)⌉ —
    // for every score, randomised or not, with jitter, and for Mondrian per class.
    let (cal, yc) = rows(150, 6, 1);
    let (test, _) = rows(300, 6, 2);
    let scores = [
        Score::Lac,
        Score::Aps { randomized: true },
        Score::Raps {
            lambda: 0.05,
            k_reg: 1,
            randomized: false,
        },
        Score::TopK,
        Score::Saps {
            lambda: 0.2,
            randomized: true,
        },
        Score::Margin,
    ];
    let mut checked = 0;
    for score in scores {
        for (mondrian, jitter) in [(false, 0.0), (false, 1e-6), (true, 0.0)] {
            let params = ConformalParams::new(score, 0.15)
                .mondrian(mondrian)
                .jitter(jitter)
                .check()
                .unwrap();
            let clf = ConformalClassifier::calibrate(&params, &cal, &yc, 5).unwrap();
            let sets = clf.predict(&test, 6).unwrap();
            let p = clf.p_values(&test, 6).unwrap();
            for i in 0..test.len() {
                for y in 0..6 {
                    let n = if mondrian {
                        yc.iter().filter(|&&c| c == y).count()
                    } else {
                        yc.len()
                    };
                    let l = (n + 1 - conformal_rank(n, 0.15).min(n + 1)) as f64;
                    let inside = (n + 1) as f64 * p[i * 6 + y] > l + 1e-9;
                    assert_eq!(
                        sets.contains(i, y),
                        inside,
                        "{score:?} mondrian {mondrian} row {i} label {y}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 6 * 3 * 300 * 6);
}

#[test]
fn groups_by_hand_and_their_coverage() {
    // Group 0's rows are confident, group 1's are not: LAC scores 0.1–0.2 against 0.6–0.7, so
    // one pooled threshold would over-cover group 0 and under-cover group 1.
    let mut rows_ = Vec::new();
    let (mut labels, mut groups) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let (conf, g) = if i < 10 {
            (0.9 - 0.01 * i as f64, 0)
        } else {
            (0.4 - 0.01 * (i - 10) as f64, 1)
        };
        rows_.push(vec![conf, 1.0 - conf]);
        labels.push(0);
        groups.push(g);
    }
    let probs = Probabilities::from_rows(&rows_).unwrap();
    let params = ConformalParams::new(Score::Lac, 0.2).check().unwrap();
    let clf = GroupConformalClassifier::calibrate(&params, &probs, &labels, &groups, 2, 0).unwrap();
    // n = 10 per group, rank ⌈11 · 0.8⌉ = 9: the 9th smallest score of each group (scores
    // 0.10, 0.11, …, 0.19 and 0.60, …, 0.69: 0.18 and 0.68).
    assert_eq!(clf.counts(), &[10, 10]);
    let q0 = 1.0 - (0.9 - 0.01 * 8.0);
    let q1 = 1.0 - (0.4 - 0.01 * 8.0);
    assert!(
        (clf.thresholds()[0] - q0).abs() < 1e-12,
        "{:?}",
        clf.thresholds()
    );
    assert!((clf.thresholds()[1] - q1).abs() < 1e-12);
    // Within each group, at least 9 of its 10 calibration rows keep their label.
    let sets = clf.predict(&probs, &groups, 1).unwrap();
    for g in 0..2 {
        let kept = (0..20)
            .filter(|&i| groups[i] == g && sets.contains(i, 0))
            .count();
        assert!(kept >= 9, "group {g}: {kept}");
    }
    // Errors: a group id ≥ n_groups, mismatched lengths, Mondrian by label as well.
    assert!(GroupConformalClassifier::calibrate(&params, &probs, &labels, &groups, 1, 0).is_err());
    assert!(clf.predict(&probs, &groups[..5], 1).is_err());
    let mondrian = ConformalParams::new(Score::Lac, 0.2)
        .mondrian(true)
        .check()
        .unwrap();
    assert!(
        GroupConformalClassifier::calibrate(&mondrian, &probs, &labels, &groups, 2, 0).is_err()
    );
    // A group without points gets +∞ (full sets).
    let clf = GroupConformalClassifier::calibrate(&params, &probs, &labels, &groups, 3, 0).unwrap();
    assert_eq!(clf.thresholds()[2], f64::INFINITY);
}
