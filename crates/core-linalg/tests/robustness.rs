//! Generated bad input through every public entry point of core-linalg: NaN, ±∞, ±0, ±1e±300,
//! ±f64::MAX, subnormals, empty and mismatched lengths, out-of-range ranks, levels and sizes.
//! Each call must not panic, must return within 2 s, and — when every input is finite and the
//! call succeeds — must not return a non-finite number unless its documentation says why
//! (`log_softmax` of entries more than f64::MAX apart is −∞; `conformal_quantile` is +∞ when n is
//! too small). Where an independent answer is cheap it is compared (softmax sums to one,
//! quantiles lie in the data's range, intervals contain their point, thresholds shrink).
//!
//! `ROBUSTNESS_CASES` sets the cases per entry point (default 300, for CI; 10000 for a deep run).
//! The table of calls, errors, panics, slow calls and non-finite outputs is printed.

use core_linalg::*;
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

const SPECIAL: [f64; 18] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    1e-300,
    -1e-300,
    1e300,
    -1e300,
    f64::MAX,
    -f64::MAX,
    f64::MIN_POSITIVE,
    5e-324,
    0.5,
    1.0,
    -1.0,
    1e-9,
    1.0 - 1e-12,
];

struct Gen {
    rng: Rng,
}

impl Gen {
    fn f(&mut self) -> f64 {
        match self.rng.random_range(0..4u32) {
            0 => SPECIAL[self.rng.random_range(0..SPECIAL.len())],
            1 => self.rng.random::<f64>(),
            2 => (self.rng.random::<f64>() - 0.5) * 10f64.powi(self.rng.random_range(-30..30)),
            _ => self.rng.random_range(-5..5) as f64,
        }
    }
    fn unit(&mut self) -> f64 {
        if self.rng.random_range(0..3u32) == 0 {
            self.f()
        } else {
            self.rng.random::<f64>()
        }
    }
    fn len(&mut self) -> usize {
        [0usize, 1, 2, 3, 7, 16, 64][self.rng.random_range(0..7)]
    }
    fn vec(&mut self) -> Vec<f64> {
        let n = self.len();
        let clean = self.rng.random_range(0..3u32) == 0;
        (0..n)
            .map(|_| {
                if clean {
                    self.rng.random::<f64>()
                } else {
                    self.f()
                }
            })
            .collect()
    }
    fn prob(&mut self) -> Vec<f64> {
        let mut v = self.vec();
        if self.rng.random_range(0..2u32) == 0 {
            let s: f64 = v.iter().map(|x| x.abs()).sum();
            if s.is_finite() && s > 0.0 {
                v.iter_mut().for_each(|x| *x = x.abs() / s);
            }
        }
        v
    }
    fn size(&mut self) -> usize {
        [
            0usize,
            1,
            2,
            5,
            100,
            10_000,
            1 << 40,
            usize::MAX - 1,
            usize::MAX,
        ][self.rng.random_range(0..9)]
    }
    fn small(&mut self) -> u64 {
        [0u64, 1, 2, 5, 30, 1000, 100_000][self.rng.random_range(0..7)]
    }
    fn matrix(&mut self) -> DMatrix<f64> {
        let (r, c) = (self.len().min(8), self.len().min(8));
        DMatrix::from_fn(r, c, |_, _| self.f())
    }
}

#[derive(Default)]
struct Tally {
    calls: usize,
    errors: usize,
    panics: usize,
    slow: usize,
    non_finite: usize,
    wrong: usize,
}

fn all_finite(xs: &[f64]) -> bool {
    xs.iter().all(|x| x.is_finite())
}

/// What one call produced: `Err` (a typed error), or output values with whether every input
/// was finite, and whether an independent check holds.
enum Out {
    Error,
    Values {
        finite_in: bool,
        values: Vec<f64>,
        right: bool,
    },
}

fn ok(finite_in: bool, values: Vec<f64>) -> Out {
    Out::Values {
        finite_in,
        values,
        right: true,
    }
}

fn run(
    name: &str,
    cases: usize,
    table: &mut Vec<(String, Tally)>,
    mut f: impl FnMut(&mut Gen) -> Out,
) {
    let mut t = Tally::default();
    let mut g = Gen {
        rng: seeded_rng(
            name.bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
        ),
    };
    for _ in 0..cases {
        t.calls += 1;
        let start = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| f(&mut g)));
        if start.elapsed() > Duration::from_secs(2) {
            t.slow += 1;
        }
        match r {
            Err(_) => t.panics += 1,
            Ok(Out::Error) => t.errors += 1,
            Ok(Out::Values {
                finite_in,
                values,
                right,
            }) => {
                if finite_in && !all_finite(&values) {
                    t.non_finite += 1;
                }
                if !right {
                    t.wrong += 1;
                }
            }
        }
    }
    table.push((name.to_string(), t));
}

macro_rules! res {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(_) => return Out::Error,
        }
    };
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let cases: usize = std::env::var("ROBUSTNESS_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    // Panics are counted, not printed.
    std::panic::set_hook(Box::new(|_| {}));
    let mut table = Vec::new();
    let t = &mut table;

    run("logsumexp", cases, t, |g| {
        let x = g.vec();
        let v = logsumexp(&x);
        let fin = all_finite(&x) && !x.is_empty();
        let right = !fin || x.iter().all(|&xi| v >= xi);
        Out::Values {
            finite_in: fin,
            values: vec![v],
            right,
        }
    });
    run("softmax", cases, t, |g| {
        let x = g.vec();
        let p = softmax(&x);
        let fin = all_finite(&x) && !x.is_empty();
        let right = !fin || (p.iter().sum::<f64>() - 1.0).abs() < 1e-9;
        Out::Values {
            finite_in: fin,
            values: p,
            right,
        }
    });
    run("log_softmax", cases, t, |g| {
        let x = g.vec();
        // Documented: entries more than f64::MAX below the top are −∞.
        let l: Vec<f64> = log_softmax(&x)
            .into_iter()
            .filter(|v| *v != f64::NEG_INFINITY)
            .collect();
        ok(all_finite(&x) && !x.is_empty(), l)
    });
    run("softmax_rows / logsumexp_rows", cases, t, |g| {
        let m = g.matrix();
        let fin = all_finite(m.as_slice()) && m.ncols() > 0;
        let s = softmax_rows(&m);
        let l = logsumexp_rows(&m);
        let mut v: Vec<f64> = s.as_slice().to_vec();
        v.extend(l.iter());
        ok(fin, v)
    });
    run("check_probability_vector / rows / columns", cases, t, |g| {
        let p = g.prob();
        let tol = g.unit();
        let _ = check_probability_vector(&p, tol);
        let m = g.matrix();
        let _ = check_row_stochastic(&m, tol);
        let _ = check_column_stochastic(&m, tol);
        ok(true, vec![])
    });
    run("quantile", cases, t, |g| {
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
        Out::Values {
            finite_in: true,
            values: vec![v],
            right: v >= lo && v <= hi,
        }
    });
    run(
        "conformal_quantile / conformal_rank / kth_smallest",
        cases,
        t,
        |g| {
            let x = g.vec();
            let alpha = g.unit();
            let n = g.size();
            let _ = conformal_rank(n, alpha);
            let k = g.small() as usize;
            if let Ok(v) = kth_smallest(&x, k) {
                let mut s = x.clone();
                s.sort_by(f64::total_cmp);
                if s[k - 1] != v {
                    return Out::Values {
                        finite_in: true,
                        values: vec![v],
                        right: false,
                    };
                }
            }
            // +∞ is the documented answer when n is too small for α.
            let v = res!(conformal_quantile(&x, alpha));
            ok(true, if v == f64::INFINITY { vec![] } else { vec![v] })
        },
    );
    run("beta_cdf / beta_pdf / beta_quantile", cases, t, |g| {
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
    run("beta_binomial_pmf / cdf", cases, t, |g| {
        let (k, m) = (g.small(), g.small().min(10_000));
        let (a, b) = (g.f().abs(), g.f().abs());
        let p = res!(beta_binomial_pmf(k, m, a, b));
        let c = res!(beta_binomial_cdf(k, m, a, b));
        Out::Values {
            finite_in: true,
            values: vec![p, c],
            right: (0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&c),
        }
    });
    run("binomial_cdf (two routes)", cases, t, |g| {
        let (k, n, p) = (g.small(), g.small(), g.unit());
        let a = res!(binomial_cdf(k, n, p));
        let b = res!(binomial_cdf_by_summation(k, n, p));
        Out::Values {
            finite_in: true,
            values: vec![a, b],
            right: (a - b).abs() <= 1e-9,
        }
    });
    run(
        "intervals (Wilson, Clopper–Pearson, Student t, KS)",
        cases,
        t,
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
            Out::Values {
                finite_in: z.is_finite(),
                values: v,
                right,
            }
        },
    );
    run(
        "mean_and_sd / mean_interval / bootstrap_mean_ci",
        cases,
        t,
        |g| {
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
            Out::Values {
                finite_in: true,
                values: v,
                right: m >= lo && m <= hi,
            }
        },
    );
    run("soft / singular-value thresholding", cases, t, |g| {
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
        Out::Values {
            finite_in: fin,
            values: v,
            right: s.abs() <= x.abs() || x.is_nan(),
        }
    });
    run(
        "power_iteration / hutchinson_trace / scaled_norm",
        cases,
        t,
        |g| {
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
        },
    );
    run("sampling", cases, t, |g| {
        let p = g.prob();
        let mut rng = seeded_rng(3);
        let i = sample_index(&p, &mut rng);
        let n = g.len();
        let z = standard_normal_vector(&mut rng, n);
        let u = uniform_on_sphere(&mut rng, n);
        let mut v: Vec<f64> = z.iter().copied().collect();
        v.extend(u.iter());
        Out::Values {
            finite_in: true,
            values: v,
            right: p.is_empty() || i < p.len(),
        }
    });

    let _ = std::panic::take_hook();
    eprintln!(
        "\n{:<52} {:>7} {:>7} {:>7} {:>5} {:>10} {:>6}",
        "entry point", "calls", "errors", "panics", "slow", "non-finite", "wrong"
    );
    let mut bad = Vec::new();
    for (name, t) in &table {
        eprintln!(
            "{:<52} {:>7} {:>7} {:>7} {:>5} {:>10} {:>6}",
            name, t.calls, t.errors, t.panics, t.slow, t.non_finite, t.wrong
        );
        if t.panics + t.slow + t.non_finite + t.wrong > 0 {
            bad.push(name.clone());
        }
    }
    assert!(bad.is_empty(), "entry points that failed: {bad:?}");
}
