//! The theorem's bounds and the closed forms against independent routes: brute-force sums,
//! singular values, fixed points solved directly, Monte Carlo, finite differences.

use core_linalg::{seeded_rng, spectral_norm};
use disturbance_bounds::bounds::{
    delay_loop_gain, error_floor, max_certified_delay, mean_square_bound, mean_square_floor,
    quantization_error_bound, stability_bound, trajectory_bound,
};
use disturbance_bounds::privacy::{
    clipped_sensitivity, sigma_for_epsilon, zcdp_for_epsilon, zcdp_noisy_gd, zcdp_to_epsilon,
};
use disturbance_bounds::{
    certify, run, Adversarial, AffineRate, BoundedRandom, BoundsError, Constant, DelayedGradient,
    Disturbance, FnStep, GaussianNoise, GradientDescent, LogisticRegression, Objective, Quadratic,
    QuantizedMessage, Quantizer, Rate, Scope, Undisturbed,
};
use nalgebra::{DMatrix, DVector};
use rand::RngExt;

fn quadratic(n: usize, kappa: f64, seed: u64) -> Quadratic {
    let eigs: Vec<f64> = (0..n)
        .map(|i| 1.0 + (kappa - 1.0) * i as f64 / (n - 1) as f64)
        .collect();
    let mut rng = seeded_rng(seed + 100);
    let x_star = DVector::from_fn(n, |_, _| rng.random::<f64>() * 2.0 - 1.0);
    Quadratic::with_spectrum(&eigs, x_star, seed).unwrap()
}

#[test]
fn the_gradient_descent_rate_is_the_norm_of_its_jacobian() {
    // For a quadratic the map x ↦ x − ηA(x − x*) is affine with matrix I − ηA: its spectral
    // norm (an SVD, not the formula) is the contraction factor.
    let q = quadratic(8, 10.0, 1);
    for eta in [0.01, 0.1, 2.0 / 11.0, 0.19] {
        let rate = Rate::gradient_descent_c2(1.0, 10.0, eta).unwrap();
        let j = DMatrix::identity(8, 8) - q.hessian() * eta;
        let norm = spectral_norm(&j).unwrap();
        assert!(
            (rate.rho() - norm).abs() < 1e-12,
            "eta={eta}: {} vs {norm}",
            rate.rho()
        );
        assert_eq!(
            (rate.c(), rate.l_v(), rate.scope()),
            (1.0, 1.0, Scope::Global)
        );
    }
    // Beyond 2/(L + μ) only the twice-differentiable certificate applies; at 2/L neither.
    assert!(Rate::gradient_descent(1.0, 10.0, 0.19).is_err());
    assert!(Rate::gradient_descent(1.0, 10.0, 2.0 / 11.0).is_ok());
    assert!(matches!(
        Rate::gradient_descent_c2(1.0, 10.0, 0.2),
        Err(BoundsError::StepSize { .. })
    ));
}

#[test]
fn the_trajectory_bound_equals_its_double_sum() {
    let rate = Rate::new(2.5, 0.9, 3.0).unwrap();
    let mut rng = seeded_rng(3);
    let d: Vec<f64> = (0..300).map(|_| rng.random::<f64>()).collect();
    let b = trajectory_bound(&rate, 4.0, &d).unwrap();
    for k in [0usize, 1, 2, 17, 300] {
        let sum: f64 = (0..k).map(|j| 0.9f64.powi((k - 1 - j) as i32) * d[j]).sum();
        let want = 2.5 * 0.9f64.powi(k as i32) * 4.0 + 3.0 * sum;
        assert!((b[k] - want).abs() <= 1e-12 * want.max(1.0), "k={k}");
    }
}

/// Every disturbance of the crate against gradient descent on `obj`: zero violations of the
/// trajectory bound (absolute tolerance 1e-12).
fn no_violations<O: Objective + Clone>(obj: O, x_star: DVector<f64>, steps: usize) {
    let n = obj.dim();
    let eta = 1.0 / obj.smoothness();
    let x0 = x_star.map(|v| v + 3.0);
    let grad = {
        let o = obj.clone();
        move |x: &DVector<f64>, g: &mut DVector<f64>| o.gradient(x, g)
    };
    let mut disturbances: Vec<(&str, Box<dyn Disturbance>)> = vec![
        ("none", Box::new(Undisturbed)),
        ("bounded", Box::new(BoundedRandom::new(0.1, 1).unwrap())),
        (
            "adversarial",
            Box::new(Adversarial::new(0.1, x_star.clone()).unwrap()),
        ),
        (
            "constant",
            Box::new(Constant::new(DVector::from_element(n, 0.02)).unwrap()),
        ),
        ("gaussian", Box::new(GaussianNoise::new(0.01, 2).unwrap())),
        (
            "quantised",
            Box::new(
                QuantizedMessage::new(Quantizer::nearest(8.0, 6).unwrap(), -eta, grad.clone())
                    .unwrap(),
            ),
        ),
        (
            "dithered",
            Box::new(
                QuantizedMessage::new(Quantizer::dithered(8.0, 4, 3).unwrap(), -eta, grad.clone())
                    .unwrap(),
            ),
        ),
        (
            "delay",
            Box::new(DelayedGradient::new(2, eta, grad).unwrap()),
        ),
    ];
    for (name, d) in disturbances.iter_mut() {
        let mut gd = GradientDescent::new(obj.clone(), eta).unwrap();
        let rate = gd.rate().unwrap();
        let c = certify(&rate, &mut gd, d.as_mut(), &x0, &x_star, steps, 1e-12).unwrap();
        assert!(c.holds(), "{name}: {:?}", c.first_violation);
        assert_eq!(c.violations, 0);
        assert!(c.max_ratio <= 1.0 + 1e-9, "{name}: {}", c.max_ratio);
    }
}

#[test]
fn no_disturbance_breaks_the_bound_on_a_quadratic() {
    let q = quadratic(10, 10.0, 5);
    let x_star = q.minimizer().clone();
    no_violations(q, x_star, 3000);
}

#[test]
fn no_disturbance_breaks_the_bound_on_logistic_regression() {
    let lr =
        LogisticRegression::from_dataset(&core_data::data::Dataset::breast_cancer().unwrap(), 0.1)
            .unwrap()
            .head(150)
            .unwrap();
    let w = lr.minimizer().unwrap();
    no_violations(lr, w, 1500);
}

#[test]
fn a_constant_disturbance_along_the_weakest_direction_reaches_the_floor() {
    // x ↦ x − ηA(x − x*) + d has the fixed point x* + A⁻¹d/η; along the μ-eigenvector its
    // distance is ‖d‖/(ημ) = ‖d‖/(1 − ρ) for η ≤ 2/(L + μ): the bound's floor, exactly.
    let q = quadratic(6, 10.0, 8);
    let x_star = q.minimizer().clone();
    let eta = 1.0 / 10.0;
    let d = q.weakest_direction() * 0.3;
    let mut gd = GradientDescent::new(q.clone(), eta).unwrap();
    let rate = gd.rate().unwrap();
    let t = run(
        &mut gd,
        &mut Constant::new(d.clone()).unwrap(),
        &x_star,
        &x_star,
        4000,
    )
    .unwrap();
    let floor = error_floor(&rate, 0.3).unwrap();
    let direct = (q.hessian().clone().lu().solve(&d).unwrap() / eta).norm();
    assert!((direct - floor).abs() < 1e-9 * floor);
    let tight = t.errors[4000] / floor;
    assert!((0.999..=1.0 + 1e-12).contains(&tight), "{tight}");
}

#[test]
fn the_mean_square_floor_is_exact_on_an_isotropic_quadratic() {
    // A = μI: x − x* ↦ (1 − ημ)(x − x*) + d, stationary E‖x − x*‖² = nσ²/(1 − ρ²). Monte
    // Carlo over 600 runs, at 4 standard errors.
    let n = 5;
    let q = Quadratic::new(DMatrix::identity(n, n) * 2.0, DVector::zeros(n)).unwrap();
    let eta = 0.2;
    let rate = Rate::gradient_descent_c2(2.0, 2.0, eta).unwrap();
    let sigma = 0.1;
    let want = mean_square_floor(&rate, n as f64 * sigma * sigma).unwrap();
    let finals: Vec<f64> = (0..600)
        .map(|s| {
            let mut gd = GradientDescent::new(q.clone(), eta).unwrap();
            let t = run(
                &mut gd,
                &mut GaussianNoise::new(sigma, 1000 + s).unwrap(),
                &DVector::zeros(n),
                &DVector::zeros(n),
                60,
            )
            .unwrap();
            t.errors[60] * t.errors[60]
        })
        .collect();
    let (m, sd) = core_linalg::mean_and_sd(&finals).unwrap();
    let se = sd / (finals.len() as f64).sqrt();
    assert!((m - want).abs() < 4.0 * se, "{m} vs {want} ± {se}");
    // The bound at step k is the exact second moment from x₀ too.
    let e0 = 2.0;
    let b = mean_square_bound(&rate, e0, n as f64 * sigma * sigma, 3).unwrap();
    let r2: f64 = rate.rho() * rate.rho();
    let direct = r2.powi(3) * e0 * e0 + n as f64 * sigma * sigma * (1.0 + r2 + r2 * r2);
    assert!((b - direct).abs() < 1e-12);
    assert!(matches!(
        mean_square_bound(&Rate::new(2.0, 0.5, 2.0).unwrap(), 1.0, 1.0, 3),
        Err(BoundsError::NotContractive { .. })
    ));
}

#[test]
fn the_affine_certificate_holds_and_is_labelled() {
    let a = DMatrix::from_row_slice(3, 3, &[0.5, 2.0, 0.0, 0.0, 0.5, 2.0, 0.0, 0.0, 0.5]);
    let cert = AffineRate::affine(&a, None).unwrap();
    assert!((cert.bound.spectral_radius - 0.5).abs() < 1e-9);
    assert!((cert.rate.rho() - 0.75).abs() < 1e-12);
    assert!(cert.rate.c() > 1.0);
    assert!(cert.max_ratio <= 1.0 + 1e-9);
    // Independently: every power's spectral norm by SVD.
    let mut p = DMatrix::identity(3, 3);
    for k in 0..300 {
        assert!(spectral_norm(&p).unwrap() <= cert.rate.c() * 0.75f64.powi(k) * (1.0 + 1e-9));
        p = &p * &a;
    }
    assert_eq!(
        AffineRate::local(&a, Some(0.9)).unwrap().rate.scope(),
        Scope::Local
    );
    let unstable = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 0.5]);
    assert!(AffineRate::affine(&unstable, None).is_err());
    assert!(AffineRate::affine(&a, Some(0.4)).is_err());
}

#[test]
fn quantizers_err_within_their_bounds_and_dithering_is_unbiased() {
    let mut q = Quantizer::nearest(1.0, 3).unwrap();
    assert!((q.step() - 2.0 / 7.0).abs() < 1e-15);
    let mut rng = seeded_rng(4);
    for _ in 0..1000 {
        let v = rng.random::<f64>() * 2.0 - 1.0;
        assert!((q.quantize(v) - v).abs() <= q.step() / 2.0 + 1e-15);
    }
    assert_eq!(q.saturated(), 0);
    q.quantize(1.5);
    assert_eq!(q.saturated(), 1);
    let mut d = Quantizer::dithered(1.0, 2, 9).unwrap();
    let v = 0.123;
    let mean: f64 = (0..40_000).map(|_| d.quantize(v)).sum::<f64>() / 40_000.0;
    // Two levels Δ = 2/3 apart: sd ≤ Δ/2 per draw, 4 standard errors.
    assert!((mean - v).abs() < 4.0 * (1.0 / 3.0) / 200.0, "{mean}");
    let b = quantization_error_bound(4, 1.0, 3, false).unwrap();
    assert!((b - 2.0 * (1.0 / 7.0)).abs() < 1e-15);
}

#[test]
fn delayed_gradients_reproduce_the_delayed_recurrence() {
    // Brute force: x_{k+1} = x_k − η∇F(x_{k−τ}) with x_j = x_0 for j < 0.
    let q = quadratic(4, 5.0, 2);
    let x_star = q.minimizer().clone();
    let (eta, tau) = (0.05, 3usize);
    let x0 = DVector::from_vec(vec![1.0, 2.0, -1.0, 0.5]);
    let qc = q.clone();
    let mut delayed =
        DelayedGradient::new(tau, eta, move |x: &DVector<f64>, g: &mut DVector<f64>| {
            qc.gradient(x, g)
        })
        .unwrap();
    let mut gd = GradientDescent::new(q.clone(), eta).unwrap();
    let t = run(&mut gd, &mut delayed, &x0, &x_star, 50).unwrap();
    let mut xs = vec![x0.clone()];
    let mut g = DVector::zeros(4);
    for k in 0..50usize {
        let old = &xs[k.saturating_sub(tau)];
        q.gradient(old, &mut g);
        let next = &xs[k] - &g * eta;
        xs.push(next);
    }
    assert!((&t.last - &xs[50]).norm() < 1e-12);
    // The small-gain condition ητκL < 1 and the delay it certifies.
    assert!((delay_loop_gain(eta, tau, 1.0, 5.0).unwrap() - eta * 3.0 * 5.0 * 5.0).abs() < 1e-15);
    let t_max = max_certified_delay(eta, 1.0, 5.0).unwrap();
    assert!(delay_loop_gain(eta, t_max, 1.0, 5.0).unwrap() < 1.0);
    assert!(delay_loop_gain(eta, t_max + 1, 1.0, 5.0).unwrap() >= 1.0);
}

#[test]
fn logistic_gradients_match_finite_differences_and_the_minimiser_is_stationary() {
    let lr =
        LogisticRegression::from_dataset(&core_data::data::Dataset::breast_cancer().unwrap(), 0.05)
            .unwrap();
    let d = lr.dim();
    let mut rng = seeded_rng(6);
    let w = DVector::from_fn(d, |_, _| rng.random::<f64>() - 0.5);
    let mut g = DVector::zeros(d);
    lr.gradient(&w, &mut g);
    let h = 1e-6;
    for i in [0, d / 2, d - 1] {
        let mut e = DVector::zeros(d);
        e[i] = h;
        let fd = (lr.value(&(&w + &e)) - lr.value(&(&w - &e))) / (2.0 * h);
        assert!((fd - g[i]).abs() < 1e-7, "coordinate {i}: {fd} vs {}", g[i]);
    }
    // The largest per-sample gradient norm in closed form against each sample's gradient.
    let mut gi = DVector::zeros(d);
    let direct = (0..lr.len())
        .map(|i| {
            lr.sample_gradient(i, &w, &mut gi);
            gi.norm()
        })
        .fold(0.0, f64::max);
    assert!((lr.max_sample_gradient_norm(&w) - direct).abs() < 1e-10 * direct);
    let w_star = lr.minimizer().unwrap();
    lr.gradient(&w_star, &mut g);
    assert!(g.norm() < 1e-12);
    // The smoothness bound dominates the Hessian's top eigenvalue at the minimiser (by finite
    // differences of the gradient, column by column).
    let mut hess = DMatrix::zeros(d, d);
    let (mut gp, mut gm) = (DVector::zeros(d), DVector::zeros(d));
    for i in 0..d {
        let mut e = DVector::zeros(d);
        e[i] = 1e-5;
        lr.gradient(&(&w_star + &e), &mut gp);
        lr.gradient(&(&w_star - &e), &mut gm);
        hess.set_column(i, &((&gp - &gm) / 2e-5));
    }
    let hess = (&hess + hess.transpose()) * 0.5;
    let eig = hess.symmetric_eigen().eigenvalues;
    assert!(eig.max() <= lr.smoothness() * (1.0 + 1e-6));
    assert!(eig.min() >= lr.strong_convexity() * (1.0 - 1e-6));
}

#[test]
fn neighbouring_data_sets_stay_within_the_stability_bound() {
    let lr =
        LogisticRegression::from_dataset(&core_data::data::Dataset::breast_cancer().unwrap(), 0.1)
            .unwrap()
            .head(200)
            .unwrap();
    let (row, label) = lr.sample(199);
    let other = lr.with_sample_replaced(0, &row, label).unwrap();
    let eta = 1.0 / lr.smoothness().max(other.smoothness());
    let (mut a, mut b) = (
        GradientDescent::new(lr.clone(), eta).unwrap(),
        GradientDescent::new(other.clone(), eta).unwrap(),
    );
    let d = lr.dim();
    let (mut x, mut y) = (DVector::zeros(d), DVector::zeros(d));
    let (mut fx, mut fy) = (DVector::zeros(d), DVector::zeros(d));
    let (mut gap, mut g_path) = (0.0f64, 0.0f64);
    for _ in 0..400 {
        use disturbance_bounds::Step;
        g_path = g_path
            .max(lr.max_sample_gradient_norm(&x))
            .max(other.max_sample_gradient_norm(&y));
        a.apply(&x, &mut fx);
        b.apply(&y, &mut fy);
        x.copy_from(&fx);
        y.copy_from(&fy);
        gap = gap.max((&x - &y).norm());
    }
    let bound = stability_bound(g_path, lr.strong_convexity(), lr.len()).unwrap();
    assert!(gap > 0.0 && gap <= bound, "{gap} vs {bound}");
}

#[test]
fn privacy_accounting_against_hand_computed_values() {
    // ρ = 0.5, δ = 1e-5: ε = 0.5 + 2√(0.5 ln 1e5) = 5.298526…
    let eps = zcdp_to_epsilon(0.5, 1e-5).unwrap();
    assert!((eps - (0.5 + 2.0 * (0.5f64 * 100_000f64.ln()).sqrt())).abs() < 1e-12);
    assert!((eps - 5.298_526).abs() < 1e-6);
    let rho = zcdp_for_epsilon(eps, 1e-5).unwrap();
    assert!((rho - 0.5).abs() < 1e-12);
    // 100 steps, sensitivity 2G/n = 0.02, σ = 1: ρ = 100 · 0.0004 / 2 = 0.02.
    assert!((clipped_sensitivity(1.0, 100).unwrap() - 0.02).abs() < 1e-15);
    assert!((zcdp_noisy_gd(100, 0.02, 1.0).unwrap() - 0.02).abs() < 1e-15);
    let sigma = sigma_for_epsilon(1.0, 1e-5, 100, 0.02).unwrap();
    let back = zcdp_to_epsilon(zcdp_noisy_gd(100, 0.02, sigma).unwrap(), 1e-5).unwrap();
    assert!((back - 1.0).abs() < 1e-12);
}

#[test]
fn bad_input_is_a_typed_error() {
    assert!(Rate::new(1.0, 1.0, 1.0).is_err());
    assert!(Rate::new(0.5, 0.5, 1.0).is_err());
    assert!(Rate::new(1.0, f64::NAN, 1.0).is_err());
    assert!(Rate::gradient_descent(0.0, 1.0, 0.5).is_err());
    assert!(Rate::gradient_descent(2.0, 1.0, 0.5).is_err());
    assert!(Rate::gradient_descent(1.0, 1.0, -0.5).is_err());
    let rate = Rate::new(1.0, 0.5, 1.0).unwrap();
    assert!(trajectory_bound(&rate, -1.0, &[]).is_err());
    assert!(trajectory_bound(&rate, 1.0, &[f64::INFINITY]).is_err());
    assert!(trajectory_bound(&rate, 1.0, &[-0.1]).is_err());
    assert!(Quantizer::nearest(1.0, 0).is_err());
    assert!(Quantizer::nearest(0.0, 4).is_err());
    assert!(BoundedRandom::new(f64::NAN, 1).is_err());
    let mut step = FnStep::new(2, |x: &DVector<f64>, out: &mut DVector<f64>| {
        out.copy_from(&(x * 0.5))
    });
    let two = DVector::zeros(2);
    let three = DVector::zeros(3);
    assert!(matches!(
        run(&mut step, &mut Undisturbed, &three, &two, 5),
        Err(BoundsError::Dimension { .. })
    ));
    let nan = DVector::from_vec(vec![f64::NAN, 0.0]);
    assert!(matches!(
        run(&mut step, &mut Undisturbed, &nan, &two, 5),
        Err(BoundsError::NonFinite { .. })
    ));
    // A run that diverges is reported where it left the finite numbers.
    let mut blow = FnStep::new(1, |x: &DVector<f64>, out: &mut DVector<f64>| {
        out.copy_from(&(x * 1e200))
    });
    let one = DVector::from_vec(vec![1.0]);
    assert!(matches!(
        run(&mut blow, &mut Undisturbed, &one, &DVector::zeros(1), 5),
        Err(BoundsError::NonFinite { index: 2, .. })
    ));
    assert!(Quadratic::new(
        DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, -1.0]),
        two.clone()
    )
    .is_err());
    assert!(Quadratic::with_spectrum(&[1.0, 0.0], two.clone(), 1).is_err());
    assert!(LogisticRegression::new(DMatrix::zeros(2, 2), vec![1.0, 0.5], 0.1).is_err());
    assert!(stability_bound(1.0, 1.0, 0).is_err());
    assert!(zcdp_to_epsilon(1.0, 1.0).is_err());
    assert!(sigma_for_epsilon(1.0, 1e-5, 0, 0.1).is_err());
}

#[test]
fn monte_carlo_averages_the_runs_it_would_make_one_by_one() {
    use disturbance_bounds::monte_carlo;
    let q = quadratic(6, 4.0, 9);
    let x_star = q.minimizer().clone();
    let x0 = x_star.map(|v| v + 0.5);
    let make = |i: usize| {
        Ok((
            GradientDescent::new(q.clone(), 0.2)?,
            GaussianNoise::new(0.05, i as u64)?,
        ))
    };
    let mc = monte_carlo(150, 40, &x0, &x_star, make).unwrap();
    // Independently: each run on its own, squared errors averaged in run order.
    let mut sum = vec![0.0; 41];
    for i in 0..150 {
        let (mut s, mut d) = make(i).unwrap();
        let t = run(&mut s, &mut d, &x0, &x_star, 40).unwrap();
        assert_eq!(mc.final_errors[i], t.errors[40]);
        for (a, e) in sum.iter_mut().zip(&t.errors) {
            *a += e * e;
        }
    }
    for (k, (&m, &s)) in mc.mean_square.iter().zip(&sum).enumerate() {
        assert!((m - s / 150.0).abs() <= 1e-12 * m.max(1e-300), "k={k}");
    }
    assert!(monte_carlo(0, 5, &x0, &x_star, make).is_err());
}
