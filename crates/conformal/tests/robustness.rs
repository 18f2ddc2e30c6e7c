//! Generated bad input through every public entry point of conformal (the `bad_input` runner:
//! no panic, no call over 2 s, no non-finite output from finite input, and the right answer
//! where an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry point
//! (default 300; 10⁴ for the deep run).
//!
//! The independent answers:
//! - every score **recomputed here from its formula** (classes sorted by decreasing
//!   probability, ties by index, the mass ahead summed in rank order) against
//!   [`Score::label_score`], [`Score::label_scores`] and [`Score::prefix_set`];
//! - **self-coverage**: predicting on the calibration rows themselves, a row's own label is in
//!   its set exactly when its score is at most `q̂`, and at least `⌈(n + 1)(1 − α)⌉` rows are
//!   covered (the threshold is that order statistic);
//! - the regressor's half-width against the sorted residuals, and its calibration coverage;
//! - the Beta law's mean in closed form, its quantile inverted by its CDF, the beta-binomial
//!   pmf summing to one;
//! - [`min_calibration_size`] and [`pac_rank`] against brute force (`core_linalg`'s rank
//!   rule, and binomial tails by **direct summation**, not through the incomplete beta).
//!
//! Documented non-finite values: a threshold of `+∞` (too few calibration points for `α`,
//! or a Mondrian class with too few), and interval ends of `±∞` where `prediction ± q̂`
//! overflows.

use bad_input::{all_finite, checked, panics, res, Gen, Suite};
use conformal::theory::*;
use conformal::*;

fn score(g: &mut Gen) -> Score {
    match g.below(6) {
        0 => Score::Lac,
        1 => Score::Aps {
            randomized: g.coin(0.5),
        },
        2 => Score::Raps {
            lambda: if g.coin(0.7) { g.unit().abs() } else { g.f() },
            k_reg: g.pick(&[0usize, 1, 2, usize::MAX]),
            randomized: g.coin(0.5),
        },
        3 => Score::TopK,
        4 => Score::Saps {
            lambda: if g.coin(0.7) { g.unit().abs() } else { g.f() },
            randomized: g.coin(0.5),
        },
        _ => Score::Margin,
    }
}

/// A valid probability row of `k` classes (ties and tiny entries included).
fn row(g: &mut Gen, k: usize) -> Vec<f64> {
    let mut r: Vec<f64> = (0..k)
        .map(|_| match g.below(5) {
            0 => 0.25,
            1 => 1e-12 * g.uniform(),
            2 => 0.0,
            _ => g.uniform(),
        })
        .collect();
    if k > 0 && r.iter().all(|&x| x == 0.0) {
        r[0] = 1.0;
    }
    bad_input::normalise(&mut r);
    r
}

/// The score recomputed from its definition.
fn brute(score: Score, p: &[f64], y: usize, u: f64) -> f64 {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    let r = order.iter().position(|&j| j == y).unwrap();
    let rank = (r + 1) as f64;
    let before: f64 = order[..r].iter().fold(0.0, |s, &j| s + p[j]);
    let pmax = p[order[0]];
    let uu = |randomized: bool| if randomized { u } else { 1.0 };
    match score {
        Score::Lac => 1.0 - p[y],
        Score::Aps { randomized } => before + uu(randomized) * p[y],
        Score::Raps {
            lambda,
            k_reg,
            randomized,
        } => before + uu(randomized) * p[y] + lambda * (rank - k_reg as f64).max(0.0),
        Score::TopK => rank,
        Score::Saps { lambda, randomized } => {
            if r == 0 {
                uu(randomized) * pmax
            } else {
                pmax + lambda * (rank - 2.0 + uu(randomized))
            }
        }
        Score::Margin => {
            let other = (0..p.len())
                .filter(|&j| j != y)
                .map(|j| p[j])
                .fold(f64::NEG_INFINITY, f64::max);
            other - p[y]
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run(
        "Probabilities::from_flat / from_rows / from_logits / row / select",
        |g| {
            let k = g.pick(&[0usize, 1, 2, 3, 10]);
            let n = g.pick(&[0usize, 1, 2, 5]);
            let flat: Vec<f64> = (0..n)
                .flat_map(|_| {
                    if g.coin(0.6) {
                        row(g, k)
                    } else {
                        let l = g.len_near(k);
                        g.prob_of(l)
                    }
                })
                .collect();
            let p = match g.below(3) {
                0 => res!(Probabilities::from_flat(flat.clone(), k)),
                1 => {
                    let rows: Vec<Vec<f64>> = flat.chunks(k.max(1)).map(<[f64]>::to_vec).collect();
                    res!(Probabilities::from_rows(&rows))
                }
                _ => {
                    let logits: Vec<f64> = (0..n * k).map(|_| g.f()).collect();
                    res!(Probabilities::from_logits(logits, k))
                }
            };
            let tol = probs::row_sum_tolerance(p.n_classes());
            // The documented contract: finite, non-negative, summing to one within tol (an entry
            // may then exceed 1 by at most tol).
            let mut right = (0..p.len()).all(|i| {
                let r = p.row(i);
                r.iter().all(|&x| x.is_finite() && x >= 0.0)
                    && (r.iter().sum::<f64>() - 1.0).abs() <= tol
            });
            let i = g.index(p.len());
            right &= panics(|| {
                p.row(i);
            }) == (i >= p.len());
            right &= panics(|| {
                p.select(&[i]);
            }) == (i >= p.len());
            checked(true, p.as_flat().to_vec(), right)
        },
    );

    suite.run(
        "Score::check / label_score / label_scores / prefix_set (against the formulas)",
        |g| {
            let s = score(g);
            res!(s.check());
            let k = g.pick(&[1usize, 2, 3, 7, 70]);
            let p = if g.coin(0.8) { row(g, k) } else { g.vec_of(k) };
            let fin = all_finite(&p);
            let u = g.uniform();
            let y = g.index(k);
            let sy = res!(s.label_score(&p, y, u));
            let mut out = vec![0.0; k];
            let mut order = Vec::new();
            res!(s.label_scores(&p, u, &mut order, &mut out));
            let mut right = out[y].to_bits() == sy.to_bits();
            let valid_row = p.iter().all(|&x| (0.0..=1.0).contains(&x));
            if valid_row && (k >= 2 || !matches!(s, Score::Margin)) {
                right &= (0..k).all(|j| close(out[j], brute(s, &p, j, u)));
                // prefix_set at the threshold q = s(y): exactly the labels scoring ≤ q.
                let q = sy;
                let mut kept = vec![false; k];
                res!(s.prefix_set(&p, u, q, |j| kept[j] = true));
                right &= (0..k).all(|j| kept[j] == (out[j] <= q));
            }
            let mut v = vec![sy];
            v.extend(out);
            checked(fin, v, right)
        },
    );

    suite.run(
        "ConformalParams::check / calibrate / predict (self-coverage)",
        |g| {
            let s = score(g);
            let alpha = g.unit();
            let mut params = ConformalParams::new(s, alpha).mondrian(g.coin(0.2));
            if g.coin(0.2) {
                params = params.rank(Rank::Pac { delta: g.unit() });
            }
            if g.coin(0.1) {
                params = params.jitter(g.f());
            }
            let valid = res!(params.check());
            let k = g.pick(&[1usize, 2, 3, 10]);
            let n = g.pick(&[0usize, 1, 2, 9, 30, 200]);
            let rows: Vec<Vec<f64>> = (0..n).map(|_| row(g, k)).collect();
            let labels: Vec<usize> = (0..g.len_near(n))
                .map(|_| if g.coin(0.98) { g.below(k) } else { g.index(k) })
                .collect();
            let probs = res!(Probabilities::from_rows(&rows));
            let seed = g.below(1000) as u64;
            let clf = res!(ConformalClassifier::calibrate(
                &valid, &probs, &labels, seed
            ));
            let sets = res!(clf.predict(&probs, seed));
            let mut right = sets.len() == n && clf.n_calibration() == n;
            let plain = !s.is_randomized() && params.jitter == 0.0;
            if plain {
                let mut covered = 0;
                for (i, (r, &y)) in rows.iter().zip(&labels).enumerate() {
                    let q = clf.thresholds()[if params.mondrian { y } else { 0 }];
                    let own = sets.contains(i, y);
                    right &= own == (res!(s.label_score(r, y, 1.0)) <= q);
                    covered += usize::from(own);
                }
                if !params.mondrian && params.rank == Rank::Marginal {
                    right &= covered >= core_linalg::conformal_rank(n, alpha).min(n);
                }
            }
            // Documented: +∞ thresholds when a (class's) calibration set is too small for α.
            let v: Vec<f64> = clf
                .thresholds()
                .iter()
                .copied()
                .filter(|t| *t != f64::INFINITY)
                .collect();
            checked(true, v, right)
        },
    );

    suite.run(
        "ConformalClassifier::predict_flat (f64 and f32) against from_flat + predict",
        |g| {
            let s = score(g);
            let valid = res!(ConformalParams::new(s, 0.2).check());
            let k = g.pick(&[1usize, 2, 3, 10]);
            let cal: Vec<Vec<f64>> = (0..20).map(|_| row(g, k)).collect();
            let labels: Vec<usize> = (0..20).map(|_| g.below(k)).collect();
            let cal = res!(Probabilities::from_rows(&cal));
            let clf = res!(ConformalClassifier::calibrate(&valid, &cal, &labels, 1));
            // Rows, some of them bad (NaN, ±∞, out of [0, 1], not summing to one), and
            // sometimes a length that is not a multiple of k; past a chunk of 1024 rows too.
            let n = g.pick(&[0usize, 1, 3, 1500]);
            let mut flat: Vec<f64> = (0..n)
                .flat_map(|_| {
                    if g.coin(0.995) {
                        row(g, k)
                    } else {
                        let l = g.len_near(k);
                        g.prob_of(l)
                    }
                })
                .collect();
            flat.truncate(flat.len() / k * k);
            if g.coin(0.05) {
                flat.push(g.f());
            }
            let seed = g.below(100) as u64;
            let want = Probabilities::from_flat(flat.clone(), k).map(|p| clf.predict(&p, seed));
            let got = clf.predict_flat(&flat, seed);
            let mut right = match (&want, &got) {
                (Ok(w), Ok(o)) => w.as_ref().ok() == Some(o),
                (Err(w), Err(o)) => w.to_string() == o.to_string(),
                _ => false,
            };
            // f32 storage: the sets of its exact widening.
            let flat32: Vec<f32> = flat.iter().map(|&v| v as f32).collect();
            let wide: Vec<f64> = flat32.iter().map(|&v| f64::from(v)).collect();
            let want32 = Probabilities::from_flat(wide, k).map(|p| clf.predict(&p, seed));
            let got32 = clf.predict_flat(&flat32, seed);
            right &= match (&want32, &got32) {
                (Ok(w), Ok(o)) => w.as_ref().ok() == Some(o),
                (Err(w), Err(o)) => w.to_string() == o.to_string(),
                _ => false,
            };
            let sizes: Vec<f64> = got
                .as_ref()
                .map(|sets| (0..sets.len()).map(|i| sets.size(i) as f64).collect())
                .unwrap_or_default();
            checked(true, sizes, right)
        },
    );

    suite.run(
        "PredictionSets (empty, insert, contains, size, classes) / evaluate",
        |g| {
            let (n, k) = (g.pick(&[0usize, 1, 3]), g.pick(&[0usize, 1, 3, 64, 65]));
            let mut sets = PredictionSets::empty(n, k);
            let mut truth = vec![vec![false; k]; n];
            let mut right = true;
            for _ in 0..5 {
                let (i, y) = (g.index(n), g.index(k));
                let r = sets.insert(i, y);
                right &= r.is_ok() == (i < n && y < k);
                if r.is_ok() {
                    truth[i][y] = true;
                }
            }
            // Independent: the bits read back are exactly those inserted, row by row.
            for (i, row) in truth.iter().enumerate() {
                right &= (0..k).all(|y| sets.contains(i, y) == row[y]);
                right &= sets.size(i) == row.iter().filter(|&&b| b).count();
                right &= !sets.contains(i, k);
            }
            let i = g.index(n);
            right &= panics(|| {
                sets.size(i);
            }) == (i >= n);
            right &= panics(|| {
                sets.contains(i, 0);
            }) == (i >= n);
            let labels: Vec<usize> = (0..g.len_near(n)).map(|_| g.index(k)).collect();
            let alpha = g.unit();
            let m = res!(evaluate(&sets, &labels, alpha));
            let cov = labels
                .iter()
                .enumerate()
                .filter(|&(i, &y)| truth[i][y])
                .count() as f64
                / n as f64;
            right &= close(m.coverage, cov);
            let mut v = vec![
                m.coverage,
                m.mean_size,
                m.singleton_rate,
                m.empty_rate,
                m.class_coverage_gap,
                m.size_stratified_violation,
            ];
            v.extend(m.class_coverage.iter().flatten());
            checked(true, v, right)
        },
    );

    suite.run(
        "ConformalRegressor / interval_coverage (against sorted residuals)",
        |g| {
            let n = g.pick(&[0usize, 1, 2, 10, 100]);
            let preds = g.vec_of(n);
            let l = g.len_near(n);
            let targets = g.vec_of(l);
            let alpha = g.unit();
            let reg = res!(ConformalRegressor::calibrate(&preds, &targets, alpha));
            let mut res_: Vec<f64> = preds
                .iter()
                .zip(&targets)
                .map(|(p, y)| (y - p).abs())
                .collect();
            res_.sort_by(f64::total_cmp);
            let k = core_linalg::conformal_rank(n, alpha);
            let want = if k > n { f64::INFINITY } else { res_[k - 1] };
            let mut right =
                reg.half_width() == want && reg.n_calibration() == n && reg.alpha() == alpha;
            let iv = res!(reg.intervals(&preds));
            let cov = res!(interval_coverage(&iv, &targets));
            if k <= n {
                right &= cov * n as f64 >= k as f64 - 1e-9;
            }
            // Documented: +∞ half-width when n is too small; ±∞ ends where p ± q̂ overflows.
            let mut v = vec![cov];
            if reg.half_width().is_finite() {
                v.push(reg.half_width());
                v.extend(
                    iv.iter()
                        .flat_map(|&(a, b)| [a, b])
                        .filter(|x| x.abs() != f64::INFINITY),
                );
            }
            checked(true, v, right)
        },
    );

    suite.run(
        "CoverageLaw (new, prob_below, quantile, density, mean, sd)",
        |g| {
            let n = g.size();
            let alpha = g.unit();
            let law = res!(CoverageLaw::new(n, alpha));
            let l = law.l();
            let mut right =
                n == usize::MAX || l == n + 1 - core_linalg::conformal_rank(n, alpha).min(n + 1);
            if let Some((a, b)) = law.shapes() {
                right &= close(law.mean(), a / (a + b));
            }
            let p = g.unit();
            let q = res!(law.quantile(p));
            let pb = res!(law.prob_below(q));
            // Inverse: q(p) is the first float where the CDF reaches p, so just below it the
            // CDF is under p (near coverage 1 the float grid, not the law, limits q).
            if !law.is_trivial() && q > 0.0 {
                right &= res!(law.prob_below(q.next_down())) <= p + 1e-9;
            }
            let t = g.unit();
            let x = res!(law.prob_below(t));
            let x2 = res!(law.prob_below(t + 0.01));
            right &= (0.0..=1.0).contains(&x) && x2 >= x - 1e-12;
            let d = law.density(g.unit());
            checked(
                true,
                vec![law.mean(), law.sd(), q, pb, x, d],
                right && d >= 0.0,
            )
        },
    );

    suite.run(
        "EmpiricalCoverageLaw (pmf, cdf, mean, sd, prob_below, quantile)",
        |g| {
            let law = res!(CoverageLaw::new(
                g.pick(&[0usize, 1, 9, 100, 10_000]),
                g.unit()
            ));
            let m = g.pick(&[0usize, 1, 2, 50, 1000, usize::MAX]);
            let e = res!(law.on_test_points(m));
            let mut right = true;
            if m <= 1000 {
                let total: f64 = (0..=m).map(|k| e.pmf(k).unwrap_or(f64::NAN)).sum();
                right &= (total - 1.0).abs() <= 1e-9;
                right &= (e.cdf(m).unwrap_or(0.0) - 1.0).abs() <= 1e-9;
            }
            let p = g.unit();
            let q = res!(e.quantile(p));
            let k = (q * m as f64).round() as usize;
            if let (Ok(c), Some(km1)) = (e.cdf(k), k.checked_sub(1)) {
                right &= c >= p - 1e-9 && e.cdf(km1).map_or(true, |c1| c1 < p + 1e-9);
            }
            let pb = res!(e.prob_below(g.unit()));
            checked(
                true,
                vec![e.mean(), e.sd(), q, pb],
                right && (0.0..=1.0).contains(&pb),
            )
        },
    );

    suite.run(
        "min_calibration_size (brute force under the rank rule)",
        |g| {
            let alpha = g.unit();
            let n = res!(min_calibration_size(alpha));
            let trivial = |n: usize| core_linalg::conformal_rank(n, alpha) > n;
            checked(true, vec![], !trivial(n) && (n == 0 || trivial(n - 1)))
        },
    );

    suite.run("plan_calibration_size", |g| {
        let (alpha, eps, delta) = (g.unit(), g.unit(), g.unit());
        let plan = res!(plan_calibration_size(alpha, eps, delta));
        // The target at n and at first_n, from the law (a different code path: no search).
        let meets = |n: usize| {
            CoverageLaw::new(n, alpha)
                .and_then(|l| l.prob_below(1.0 - alpha - eps))
                .is_ok_and(|p| 1.0 - p >= 1.0 - delta - 1e-12)
        };
        let right = meets(plan.n)
            && meets(plan.first_n)
            && plan.first_n <= plan.n
            && plan.n <= plan.verified_up_to;
        checked(true, vec![plan.probability, plan.mean], right)
    });

    suite.run("pac_rank (binomial tails by direct summation)", |g| {
        let n = g.pick(&[
            0usize,
            1,
            5,
            20,
            100,
            1000,
            1 << 40,
            usize::MAX - 1,
            usize::MAX,
        ]);
        let (alpha, delta) = (g.unit(), g.unit());
        let r = res!(pac_rank(n, alpha, delta));
        let mut right = true;
        if n <= 1000 {
            // P(coverage < 1 − α) for threshold rank n + 1 − l is P(Binomial(n, 1 − α) ≥ n + 1 − l)
            // = 1 − P(Bin ≤ n − l).
            let fail = |l: usize| {
                1.0 - core_linalg::binomial_cdf_by_summation((n - l) as u64, n as u64, 1.0 - alpha)
                    .unwrap()
            };
            match r {
                Some(l) => {
                    right &= l >= 1 && l <= n && fail(l) <= delta + 1e-9;
                    if l < n {
                        right &= fail(l + 1) > delta - 1e-9;
                    }
                }
                None => right &= n == 0 || fail(1) > delta - 1e-9,
            }
        }
        checked(true, vec![], right)
    });

    suite.run("NormalizedRegressor / CqrRegressor (self-coverage)", |g| {
        let n = g.pick(&[0usize, 1, 2, 10, 100]);
        let a = g.vec_of(n);
        let l = g.len_near(n);
        let b = g.vec_of(l);
        let y = g.vec_of(n);
        let alpha = g.unit();
        let k = core_linalg::conformal_rank(n, alpha);
        let (iv, what) = if g.coin(0.5) {
            let r = res!(NormalizedRegressor::calibrate(&a, &b, &y, alpha));
            (res!(r.intervals(&a, &b)), r.quantile())
        } else {
            let r = res!(CqrRegressor::calibrate(&a, &b, &y, alpha));
            (res!(r.intervals(&a, &b)), r.correction())
        };
        let covered = iv
            .iter()
            .zip(&y)
            .filter(|((lo, hi), t)| lo <= *t && *t <= hi)
            .count();
        let right = k > n || covered >= k;
        // Documented: +∞ when n is too small, ±∞ ends where they overflow.
        let mut v = Vec::new();
        if what.is_finite() {
            v.push(what);
            v.extend(
                iv.iter()
                    .flat_map(|&(x, z)| [x, z])
                    .filter(|x| x.abs() != f64::INFINITY),
            );
        }
        checked(true, v, right)
    });

    suite.run(
        "ConformalClassifier::p_values / GroupConformalClassifier (against the sets)",
        |g| {
            let s = score(g);
            let alpha = g.unit();
            let params = res!(ConformalParams::new(s, alpha).check());
            let k = g.pick(&[1usize, 2, 3, 10]);
            let n = g.pick(&[0usize, 1, 2, 9, 30]);
            let rows: Vec<Vec<f64>> = (0..n).map(|_| row(g, k)).collect();
            let labels: Vec<usize> = (0..n).map(|_| g.below(k)).collect();
            let probs = res!(Probabilities::from_rows(&rows));
            let n_groups = g.pick(&[0usize, 1, 2, 3]);
            let groups: Vec<usize> = (0..g.len_near(n))
                .map(|_| g.index(n_groups.max(1)))
                .collect();
            let clf = res!(ConformalClassifier::calibrate(&params, &probs, &labels, 1));
            let sets = res!(clf.predict(&probs, 2));
            let p = res!(clf.p_values(&probs, 2));
            let l = (n + 1 - core_linalg::conformal_rank(n, alpha).min(n + 1)) as f64;
            let mut right = (0..n).all(|i| {
                (0..k).all(|y| sets.contains(i, y) == ((n + 1) as f64 * p[i * k + y] > l + 1e-9))
            });
            right &= p.iter().all(|&x| x > 0.0 && x <= 1.0);
            if let Ok(gc) =
                GroupConformalClassifier::calibrate(&params, &probs, &labels, &groups, n_groups, 3)
            {
                let gs = res!(gc.predict(&probs, &groups, 4));
                right &= gs.len() == n && gc.counts().iter().sum::<usize>() == n;
            }
            checked(true, p, right)
        },
    );

    suite.finish();
}
