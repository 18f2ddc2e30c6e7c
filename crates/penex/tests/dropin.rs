//! The plain-slice loss against brute-force sums written from the definition, its gradient
//! against central differences, f32 against f64, thread-count invariance, and its errors.

use core_linalg::seeded_rng;
use penex::{PenexError, PenexLoss, Reduction, RunningRho};
use rand::RngExt;

fn batch(n: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<i64>) {
    let mut rng = seeded_rng(seed);
    let f = (0..n * k).map(|_| rng.random_range(-3.0..3.0)).collect();
    let y = (0..n).map(|_| rng.random_range(0..k as i64)).collect();
    (f, y)
}

/// The options of the definition.
struct Def<'a> {
    alpha: f64,
    rho: f64,
    w: Option<&'a [f64]>,
    ignore: Option<i64>,
    tail: Option<f64>,
}

/// The loss written from its definition, row by row (no shared code with the kernel): each
/// row's weighted loss, the total weight and the two weighted term means.
fn brute(f: &[f64], y: &[i64], k: usize, d: &Def<'_>) -> (Vec<f64>, f64, f64, f64) {
    let Def {
        alpha,
        rho,
        w,
        ignore,
        tail,
    } = *d;
    let mut rows = Vec::new();
    let (mut total, mut a, mut b) = (0.0, 0.0, 0.0);
    for (i, &t) in y.iter().enumerate() {
        if Some(t) == ignore {
            rows.push(0.0);
            continue;
        }
        let r = &f[i * k..(i + 1) * k];
        let c = t as usize;
        let wi = w.map_or(1.0, |w| w[c]);
        let mut e = (-alpha * r[c]).exp();
        if let Some(tau) = tail {
            if e > tau {
                // The tangent line of e^{−α f} at the point where it equals τ.
                let f_tau = -tau.ln() / alpha;
                e = tau - alpha * tau * (r[c] - f_tau);
            }
        }
        let s: f64 = r.iter().map(|v| v.exp()).sum();
        rows.push(wi * (e + rho * s));
        total += wi;
        a += wi * e;
        b += wi * s;
    }
    (rows, total, a / total, b / total)
}

#[test]
fn every_option_matches_the_definition() {
    let (k, n) = (5, 150); // more than two blocks of 64 rows
    let (f, mut y) = batch(n, k, 1);
    for i in (0..n).step_by(7) {
        y[i] = -100;
    }
    let w = [0.5, 1.0, 2.0, 0.0, 1.5];
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        for weights in [None, Some(&w[..])] {
            for tail in [None, Some(1.2)] {
                let mut loss = PenexLoss::new(0.7)
                    .unwrap()
                    .with_fixed_rho(0.3)
                    .unwrap()
                    .with_reduction(reduction);
                if let Some(w) = weights {
                    loss = loss.with_class_weights(w.to_vec()).unwrap();
                }
                if let Some(t) = tail {
                    loss = loss.with_linear_tail(t).unwrap();
                }
                let got = loss.forward(&f, k, &y).unwrap();
                let def = Def {
                    alpha: 0.7,
                    rho: 0.3,
                    w: weights,
                    ignore: Some(-100),
                    tail,
                };
                let (rows, total, a, b) = brute(&f, &y, k, &def);
                let sum: f64 = rows.iter().sum();
                let want = match reduction {
                    Reduction::Mean => sum / total,
                    _ => sum,
                };
                let what = format!("{reduction:?} weights {weights:?} tail {tail:?}");
                assert!((got.value - want).abs() <= 1e-12 * want.abs(), "{what}");
                assert!((got.stats.exp_term - a).abs() <= 1e-12 * a, "{what}");
                assert!((got.stats.penalty - b).abs() <= 1e-12 * b, "{what}");
                assert_eq!(got.stats.rows, n - n.div_ceil(7), "{what}");
                if reduction == Reduction::None {
                    assert_eq!(got.rows.len(), n);
                    for (g, r) in got.rows.iter().zip(&rows) {
                        assert!((g - r).abs() <= 1e-12 * r.abs().max(1e-300), "{what}");
                    }
                } else {
                    assert!(got.rows.is_empty());
                }
            }
        }
    }
}

#[test]
fn the_gradient_matches_central_differences() {
    let (k, n) = (4, 9);
    let (f, mut y) = batch(n, k, 2);
    y[3] = -100;
    let w = vec![0.5, 1.0, 2.0, 1.5];
    // A tail low enough that some labels' logits are on the linear part.
    for (tail, reduction) in [
        (None, Reduction::Mean),
        (Some(1.5), Reduction::Mean),
        (None, Reduction::Sum),
        (Some(1.5), Reduction::None),
    ] {
        let mut loss = PenexLoss::new(0.8)
            .unwrap()
            .with_fixed_rho(0.4)
            .unwrap()
            .with_reduction(reduction)
            .with_class_weights(w.clone())
            .unwrap();
        if let Some(t) = tail {
            loss = loss.with_linear_tail(t).unwrap();
        }
        let mut g = vec![0.0; f.len()];
        loss.forward_backward(&f, k, &y, &mut g).unwrap();
        // For Reduction::None the gradient of row i is that of ℓ_i, so compare with the
        // derivative of the sum of the rows (the rows are independent).
        let total = |x: &[f64]| {
            let v = loss.forward(x, k, &y).unwrap();
            match reduction {
                Reduction::None => v.rows.iter().sum::<f64>(),
                _ => v.value,
            }
        };
        let h = 1e-6;
        for i in 0..f.len() {
            let (mut p, mut m) = (f.clone(), f.clone());
            p[i] += h;
            m[i] -= h;
            let fd = (total(&p) - total(&m)) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() <= 1e-7 * (1.0 + fd.abs()),
                "{tail:?} {reduction:?} entry {i}: {} vs {fd}",
                g[i]
            );
        }
        assert!(g[3 * k..4 * k].iter().all(|&v| v == 0.0), "ignored row");
    }
}

#[test]
fn f32_agrees_with_f64_and_threads_do_not_change_bits() {
    let (k, n) = (1000, 300);
    let (f, y) = batch(n, k, 3);
    let f32s: Vec<f32> = f.iter().map(|&v| v as f32).collect();
    let wide: Vec<f64> = f32s.iter().map(|&v| f64::from(v)).collect();
    let loss = PenexLoss::new(0.1).unwrap();
    let mut g32 = vec![0.0f32; f.len()];
    let mut g64 = vec![0.0f64; f.len()];
    let v32 = loss.forward_backward(&f32s, k, &y, &mut g32).unwrap();
    let v64 = loss.forward_backward(&wide, k, &y, &mut g64).unwrap();
    assert!((v32.value - v64.value).abs() <= 1e-5 * v64.value);
    for (a, b) in g32.iter().zip(&g64) {
        assert!((f64::from(*a) - b).abs() <= 1e-5 * b.abs() + 1e-12);
    }
    let in_pool = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut g = vec![0.0f32; f.len()];
            let v = loss.forward_backward(&f32s, k, &y, &mut g).unwrap();
            (v.value.to_bits(), v.stats.penalty.to_bits(), g)
        })
    };
    assert_eq!(in_pool(1), in_pool(3));
}

#[test]
fn forward_never_moves_rho_and_update_rho_does() {
    let (f, y) = batch(20, 3, 4);
    let mut loss = PenexLoss::new(0.1).unwrap();
    let first = loss.forward(&f, 3, &y).unwrap();
    for _ in 0..5 {
        assert_eq!(loss.forward(&f, 3, &y).unwrap(), first);
    }
    assert_eq!(loss.rho(), 1.0);
    let def = Def {
        alpha: 0.1,
        rho: 1.0,
        w: None,
        ignore: None,
        tail: None,
    };
    let (_, _, a, b) = brute(&f, &y, 3, &def);
    let want = 0.9 + 0.1 * 0.1 * a / b;
    assert!((loss.update_rho(&first.stats) - want).abs() <= 1e-15);
    // The state round-trips exactly; a fixed ρ has none and is never moved.
    let state = loss.rho_state();
    let mut other = PenexLoss::new(0.1).unwrap();
    other.restore_rho_state(&state).unwrap();
    assert_eq!(other.rho().to_bits(), loss.rho().to_bits());
    let mut fixed = PenexLoss::new(0.1).unwrap().with_fixed_rho(2.0).unwrap();
    assert_eq!(fixed.update_rho(&first.stats), 2.0);
    assert!(fixed.rho_state().is_empty());
    assert!(fixed.restore_rho_state(&state).is_err());
    assert!(RunningRho::from_state(&[1.0, 0.1]).is_err());
    assert!(RunningRho::from_state(&[1e3, 0.1, 1e-6, 100.0]).is_err());
}

#[test]
fn bad_input_is_a_typed_error() {
    let loss = PenexLoss::new(0.1).unwrap();
    let f = [0.0f64; 6];
    assert!(matches!(
        loss.forward(&f, 0, &[0i64]),
        Err(PenexError::Empty { .. })
    ));
    assert!(matches!(
        loss.forward(&f, 4, &[0i64]),
        Err(PenexError::Shape { .. })
    ));
    assert!(matches!(
        loss.forward(&f, 3, &[0i64, 3]),
        Err(PenexError::Target {
            row: 1,
            target: 3,
            ..
        })
    ));
    assert!(matches!(
        loss.forward(&f, 3, &[0i64, -1]),
        Err(PenexError::Target { row: 1, .. })
    ));
    assert!(matches!(
        loss.forward(&f, 3, &[-100i64, -100]),
        Err(PenexError::Empty { .. })
    ));
    assert!(matches!(
        loss.forward(&f, 3, &[u64::MAX, 0]),
        Err(PenexError::Target {
            row: 0,
            target: i64::MAX,
            ..
        })
    ));
    // The first non-finite logit in row order, across blocks of 64 rows.
    let (k, n) = (2, 200);
    let mut big = vec![0.5f32; n * k];
    big[150 * k + 1] = f32::NAN;
    big[190 * k] = f32::INFINITY;
    let y = vec![1u32; n];
    let mut g = vec![0.0f32; n * k];
    assert!(matches!(
        loss.forward_backward(&big, k, &y, &mut g),
        Err(PenexError::NonFinite {
            row: 150,
            class: 1,
            ..
        })
    ));
    assert!(matches!(
        loss.forward_backward(&big, k, &y, &mut g[1..]),
        Err(PenexError::Shape { .. })
    ));
    // Weights: wrong length, negative, NaN, all zero under a mean.
    let w = PenexLoss::new(0.1)
        .unwrap()
        .with_class_weights(vec![1.0, 2.0])
        .unwrap();
    assert!(matches!(
        w.forward(&f, 3, &[0i64, 1]),
        Err(PenexError::Shape { .. })
    ));
    for bad in [vec![-1.0, 1.0], vec![f64::NAN, 1.0], vec![]] {
        assert!(PenexLoss::new(0.1)
            .unwrap()
            .with_class_weights(bad)
            .is_err());
    }
    let zero = PenexLoss::new(0.1)
        .unwrap()
        .with_class_weights(vec![0.0, 0.0, 1.0])
        .unwrap();
    assert!(zero.forward(&f, 3, &[0i64, 1]).is_err());
    assert!(zero
        .clone()
        .with_reduction(Reduction::Sum)
        .forward(&f, 3, &[0i64, 1])
        .is_ok());
    for a in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e4] {
        assert!(PenexLoss::new(a).is_err(), "{a}");
    }
    for r in [0.0, f64::NAN, 1e11] {
        assert!(
            PenexLoss::new(0.1).unwrap().with_fixed_rho(r).is_err(),
            "{r}"
        );
    }
    for t in [0.0, -1.0, f64::NAN] {
        assert!(
            PenexLoss::new(0.1).unwrap().with_linear_tail(t).is_err(),
            "{t}"
        );
    }
}
