//! Generated bad input through every public entry point of core-linalg: NaN, ±∞, ±0, ±1e±300,
//! ±f64::MAX, subnormals, empty and mismatched lengths, out-of-range ranks, levels and sizes.
//! Each call must not panic, must return within 2 s, and — when every input is finite and the
//! call succeeds — must not return a non-finite number unless its documentation says why
//! (`log_softmax` of entries more than f64::MAX apart is −∞; `conformal_quantile` is +∞ when n is
//! too small). Where an independent answer is cheap it is compared (softmax sums to one,
//! quantiles lie in the data's range, intervals contain their point, thresholds shrink).
//!
//! The runner is `bad_input::Suite`: `ROBUSTNESS_CASES` sets the cases per entry point (default
//! 300, for CI; 10000 for a deep run) and the table of calls, errors, panics, slow calls,
//! non-finite and wrong outputs is printed.

use bad_input::{all_finite, checked, ok, res, Out, Suite};
use core_linalg::*;
use nalgebra::{DMatrix, DVector};
use rand::RngExt;

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run("logsumexp", |g| {
        let x = g.vec();
        let v = logsumexp(&x);
        let fin = all_finite(&x) && !x.is_empty();
        let right = !fin || x.iter().all(|&xi| v >= xi);
        checked(fin, vec![v], right)
    });
    suite.run("softmax", |g| {
        let x = g.vec();
        let p = softmax(&x);
        let fin = all_finite(&x) && !x.is_empty();
        let right = !fin || (p.iter().sum::<f64>() - 1.0).abs() < 1e-9;
        checked(fin, p, right)
    });
    suite.run("log_softmax", |g| {
        let x = g.vec();
        // Documented: entries more than f64::MAX below the top are −∞.
        let l: Vec<f64> = log_softmax(&x)
            .into_iter()
            .filter(|v| *v != f64::NEG_INFINITY)
            .collect();
        ok(all_finite(&x) && !x.is_empty(), l)
    });
    suite.run("softmax_rows / logsumexp_rows", |g| {
        let m = g.matrix();
        let fin = all_finite(m.as_slice()) && m.ncols() > 0;
        let s = softmax_rows(&m);
        let l = logsumexp_rows(&m);
        let mut v: Vec<f64> = s.as_slice().to_vec();
        v.extend(l.iter());
        ok(fin, v)
    });
    suite.run("check_probability_vector / rows / columns", |g| {
        let p = g.prob();
        let tol = g.unit();
        let _ = check_probability_vector(&p, tol);
        let m = g.matrix();
        let _ = check_row_stochastic(&m, tol);
        let _ = check_column_stochastic(&m, tol);
        ok(true, vec![])
    });
    suite.run("quantile", |g| {
        let x = g.vec();
        let q = g.unit();
        let rule = [
            QuantileRule::Linear,
            QuantileRule::Lower,
            QuantileRule::Higher,
            QuantileRule::Midpoint,
        ][g.rng.random_range(0..4)];
        let v = res!(quantile(&x, q, rule));
        let (lo, hi) = x
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        checked(true, vec![v], v >= lo && v <= hi)
    });
    suite.run("conformal_quantile / conformal_rank / kth_smallest", |g| {
        let x = g.vec();
        let alpha = g.unit();
        let n = g.size();
        let _ = conformal_rank(n, alpha);
        let k = g.small() as usize;
        if let Ok(v) = kth_smallest(&x, k) {
            let mut s = x.clone();
            s.sort_by(f64::total_cmp);
            if s[k - 1] != v {
                return checked(true, vec![v], false);
            }
        }
        // +∞ is the documented answer when n is too small for α.
        let v = res!(conformal_quantile(&x, alpha));
        ok(true, if v == f64::INFINITY { vec![] } else { vec![v] })
    });
    suite.run("beta_cdf / beta_pdf / beta_quantile", |g| {
        let (x, a, b) = (g.unit(), g.f().abs(), g.f().abs());
        let fin = x.is_finite() && a.is_finite() && b.is_finite();
        let c = res!(beta_cdf(x, a, b));
        let right = (0.0..=1.0).contains(&c);
        let _ = beta_pdf(x, a, b);
        let p = g.unit();
        let q = res!(beta_quantile(p, a, b));
        Out::Values {
            finite_in: fin,
            values: vec![c, q],
            right: right && (0.0..=1.0).contains(&q),
        }
    });
    suite.run("beta_binomial_pmf / cdf / quantile", |g| {
        // Trials up to u64::MAX: beyond BETA_BINOMIAL_MAX_TRIALS a typed error, never a hang.
        let k = g.small();
        let m = if g.coin(0.8) {
            g.small()
        } else {
            g.size() as u64
        };
        let (a, b) = (g.f().abs(), g.f().abs());
        let p = res!(beta_binomial_pmf(k, m, a, b));
        let c = res!(beta_binomial_cdf(k, m, a, b));
        // The quantile is the first k whose CDF (the same running sum) reaches its level.
        let level = g.unit();
        if let Ok(q) = beta_binomial_quantile(level, m, a, b) {
            let cq = res!(beta_binomial_cdf(q, m, a, b));
            let below = q.checked_sub(1).map(|q1| beta_binomial_cdf(q1, m, a, b));
            let first = below.is_none_or(|c1| c1.is_ok_and(|c1| c1 < level - 1e-12));
            if !(q <= m && (cq >= level - 1e-12 || q == m) && first) {
                return checked(true, vec![p, c], false);
            }
        }
        Out::Values {
            finite_in: true,
            values: vec![p, c],
            right: (0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&c),
        }
    });
    suite.run("binomial_cdf (two routes)", |g| {
        let (k, n, p) = (g.small(), g.small(), g.unit());
        // Sizes up to u64::MAX: an answer or a typed error, never a hang or a wrapped n + 1.
        let (k, n) = if g.coin(0.2) {
            (g.size() as u64, g.size() as u64)
        } else {
            (k, n)
        };
        let a = res!(binomial_cdf(k, n, p));
        let b = res!(binomial_cdf_by_summation(k, n, p));
        Out::Values {
            finite_in: true,
            values: vec![a, b],
            right: (a - b).abs() <= 1e-9,
        }
    });
    suite.run(
        "intervals (Wilson, Clopper–Pearson, Student t, KS)",
        |g| {
            let (s, n) = (g.small(), g.small());
            let (z, level) = (g.f(), g.unit());
            let mut v = Vec::new();
            let mut right = true;
            if let Ok((lo, hi)) = wilson_interval(s, n, z) {
                v.extend([lo, hi]);
            }
            if let Ok((lo, hi)) = clopper_pearson_interval(s, n, level) {
                right &= lo <= s as f64 / n as f64 && s as f64 / n as f64 <= hi;
                v.extend([lo, hi]);
            }
            if let Ok(q) = student_t_quantile(g.unit(), g.f()) {
                v.push(q);
            }
            if let Ok(p) = kolmogorov_pvalue(g.unit(), g.size().min(1 << 30)) {
                v.push(p);
            }
            checked(z.is_finite(), v, right)
        },
    );
    suite.run("mean_and_sd / mean_interval / bootstrap_mean_ci", |g| {
        let x = g.vec();
        let level = g.unit();
        let (m, sd) = res!(mean_and_sd(&x));
        let mut v = vec![m, sd];
        if let Ok(i) = mean_interval(&x, level) {
            // One value: the documented infinite interval.
            if x.len() > 1 {
                v.extend([i.lo, i.hi]);
            }
        }
        let mut rng = seeded_rng(1);
        if let Ok((lo, hi)) = bootstrap_mean_ci(&x, 50, level, &mut rng) {
            v.extend([lo, hi]);
        }
        let (lo, hi) = x
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        checked(true, v, m >= lo && m <= hi)
    });
    suite.run("soft / singular-value thresholding", |g| {
        let (x, th) = (g.f(), g.f());
        let s = soft_threshold(x, th);
        let mut xs = g.vec();
        soft_threshold_in_place(&mut xs, th);
        let m = g.matrix();
        let mut v = vec![s];
        v.extend(xs.iter());
        let fin = x.is_finite() && th.is_finite() && all_finite(&xs);
        if let Ok(out) = singular_value_threshold(&m, th) {
            v.extend(out.iter());
        }
        checked(fin, v, s.abs() <= x.abs() || x.is_nan())
    });
    suite.run("power_iteration / hutchinson_trace / scaled_norm", |g| {
        let n = g.len().min(8);
        let a = DMatrix::from_fn(n, n, |_, _| g.f());
        let a = &a + a.transpose();
        let fin = all_finite(a.as_slice());
        let mut rng = seeded_rng(2);
        let params = PowerIterationParams {
            max_iter: 200,
            tol: g.unit().abs(),
        };
        let mut v = Vec::new();
        if let Ok(r) = power_iteration(|x| &a * x, n, &params, &mut rng) {
            v.push(r.eigenvalue);
        }
        if let Ok(tr) = hutchinson_trace(|x| &a * x, n, g.small() as usize % 50, &mut rng) {
            v.push(tr.mean);
        }
        let w = g.vec();
        let fin = fin && all_finite(&w);
        // Documented: +∞ when the norm itself exceeds f64::MAX.
        let nrm = scaled_norm(&DVector::from_vec(w));
        if nrm != f64::INFINITY {
            v.push(nrm);
        }
        ok(fin, v)
    });
    suite.run("sampling", |g| {
        let p = g.prob();
        let mut rng = seeded_rng(3);
        let i = sample_index(&p, &mut rng);
        let n = g.len();
        let z = standard_normal_vector(&mut rng, n);
        let u = uniform_on_sphere(&mut rng, n);
        let mut v: Vec<f64> = z.iter().copied().collect();
        v.extend(u.iter());
        checked(true, v, p.is_empty() || i < p.len())
    });

    suite.run("sum_of_squares / squared_distance", |g| {
        let a = g.vec();
        let nb = g.len_near(a.len());
        let b = g.vec_of(nb);
        let ss = sum_of_squares(&a);
        let d = res!(squared_distance(&a, &b));
        // Against a plain running sum: the same value up to n·ε of the total.
        let plain: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        let right = !plain.is_finite()
            || (d - plain).abs() <= (a.len() as f64 + 1.0) * f64::EPSILON * plain;
        // Squares of finite values beyond √f64::MAX overflow: documented, so only values whose
        // squares stay finite count as finite input.
        let finite =
            all_finite(&a) && all_finite(&b) && a.iter().chain(&b).all(|v| v.abs() < 1e150);
        checked(finite, vec![ss, d], right)
    });

    suite.finish();
}
