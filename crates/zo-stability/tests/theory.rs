//! The thresholds and operators against independent routes: the second-moment map built on
//! full matrices in a random basis (no eigen-decomposition, no secular equation), general
//! (Schur) eigen-solvers on the dense operators, bisection on those spectral radii, and the
//! notes' numbers.

use core_linalg::{spectral_radius, stream_rng};
use nalgebra::DMatrix;
use rand_distr::{Distribution, StandardNormal};
use zo_stability::*;

fn spec(eigs: &[f64]) -> Spectrum {
    Spectrum::new(eigs, Curvature::Strict).unwrap()
}

fn harmonic(d: usize, p: i32) -> Vec<f64> {
    (1..=d).map(|i| 1.0 / (i as f64).powi(p)).collect()
}

/// A random orthogonal matrix (QR of a Gaussian matrix).
fn rotation(d: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = stream_rng(seed, 0);
    let g = DMatrix::from_fn(d, d, |_, _| StandardNormal.sample(&mut rng));
    g.qr().q()
}

/// `H = Q diag(λ) Qᵀ` in a random basis.
fn rotated(eigs: &[f64], seed: u64) -> DMatrix<f64> {
    let q = rotation(eigs.len(), seed);
    &q * DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(eigs)) * q.transpose()
}

/// An orthonormal basis of the symmetric d×d matrices (Frobenius inner product).
fn sym_basis(d: usize) -> Vec<DMatrix<f64>> {
    let mut out = Vec::new();
    for i in 0..d {
        for j in 0..=i {
            let mut e = DMatrix::zeros(d, d);
            if i == j {
                e[(i, i)] = 1.0;
            } else {
                e[(i, j)] = std::f64::consts::FRAC_1_SQRT_2;
                e[(j, i)] = std::f64::consts::FRAC_1_SQRT_2;
            }
            out.push(e);
        }
    }
    out
}

/// The ZO-GD second-moment map `S ↦ S − η(HS+SH) + η²(2HSH + tr(HSH) I)` on the symmetric
/// d×d matrices, as a matrix in an orthonormal basis, built by applying it to each basis
/// matrix (no eigen-decomposition of H anywhere).
fn full_gd_map(h: &DMatrix<f64>, eta: f64) -> DMatrix<f64> {
    let d = h.nrows();
    let basis = sym_basis(d);
    let n = basis.len();
    let mut m = DMatrix::zeros(n, n);
    for (l, e) in basis.iter().enumerate() {
        let hsh = h * e * h;
        let out = e - (h * e + e * h) * eta
            + (hsh.clone() * 2.0 + DMatrix::identity(d, d) * hsh.trace()) * (eta * eta);
        for (k, b) in basis.iter().enumerate() {
            m[(k, l)] = b.dot(&out);
        }
    }
    m
}

/// ZO-GDM's map on the joint second moment of `z = (x_k, x_{k−1})` (2d×2d matrices):
/// `Σ′ = M̄ Σ M̄ᵀ + η² [[HSH + tr(HSH) I, 0], [0, 0]]` with `M̄ = [[(1+β)I − ηH, −βI], [I, 0]]`,
/// `S` the top-left block (the estimator's noise `E[G S Gᵀ] − HSH` for `G = uuᵀH`).
fn full_gdm_map(h: &DMatrix<f64>, eta: f64, beta: f64) -> DMatrix<f64> {
    let d = h.nrows();
    let n = 2 * d;
    let mut mbar = DMatrix::zeros(n, n);
    let id = DMatrix::<f64>::identity(d, d);
    mbar.view_mut((0, 0), (d, d))
        .copy_from(&(&id * (1.0 + beta) - h * eta));
    mbar.view_mut((0, d), (d, d)).copy_from(&(&id * -beta));
    mbar.view_mut((d, 0), (d, d)).copy_from(&id);
    let mut m = DMatrix::zeros(n * n, n * n);
    for k in 0..n * n {
        let mut e = DMatrix::zeros(n, n);
        e[(k % n, k / n)] = 1.0;
        let s = e.view((0, 0), (d, d)).clone_owned();
        let hsh = h * &s * h;
        let mut out = &mbar * &e * mbar.transpose();
        let noise = (hsh.clone() + &id * hsh.trace()) * (eta * eta);
        let mut tl = out.view_mut((0, 0), (d, d));
        tl += noise;
        m.set_column(k, &nalgebra::DVector::from_column_slice(out.as_slice()));
    }
    m
}

/// The η at which `rho(η)` crosses 1, by bisection on `[lo, hi]` (`rho(lo) < 1 < rho(hi)`).
fn bisect(mut lo: f64, mut hi: f64, rho: impl Fn(f64) -> f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if rho(mid) < 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[test]
fn notes_values() {
    let t = zo_gd_threshold(&spec(&harmonic(20, 1))).unwrap();
    assert!((t.eta - 0.42982).abs() < 5e-6, "{}", t.eta);
    assert!((t.lower - 0.35729).abs() < 5e-6 && (t.upper - 0.55590).abs() < 5e-6);
    assert_eq!(t.first_order, 2.0);
    let flat = zo_gd_threshold(&spec(&[1.0; 50])).unwrap();
    assert!((flat.eta - 2.0 / 52.0).abs() < 1e-15);
    let mut spike = vec![10.0];
    spike.extend([0.1; 49]);
    let t = zo_gd_threshold(&spec(&spike)).unwrap();
    assert!((t.eta - 0.06283).abs() < 5e-6, "{}", t.eta);
    assert!((t.lower - 0.0573).abs() < 5e-5 && (t.upper - 0.1342).abs() < 5e-5);
}

#[test]
fn zo_gd_threshold_is_where_the_full_second_moment_map_becomes_unstable() {
    // The full map in a random basis knows nothing of eigenvalues or secular equations.
    for (k, eigs) in [
        harmonic(6, 1),
        harmonic(6, 2),
        vec![3.0, 0.7, 0.45, 0.2, 0.1, 0.01],
    ]
    .iter()
    .enumerate()
    {
        let h = rotated(eigs, 10 + k as u64);
        let s = Spectrum::from_symmetric(&h, Curvature::Strict).unwrap();
        let t = zo_gd_threshold(&s).unwrap();
        let rho_full = |eta: f64| spectral_radius(&full_gd_map(&h, eta)).unwrap();
        assert!(
            (rho_full(t.eta) - 1.0).abs() < 1e-10,
            "{eigs:?}: {}",
            rho_full(t.eta)
        );
        assert!(rho_full(0.99 * t.eta) < 1.0 && rho_full(1.01 * t.eta) > 1.0);
        // The structured operator's O(d) spectral radius agrees with the full map's.
        for f in [0.5, 0.9, 1.0, 1.1, 1.5] {
            let r = ZoGdOperator::new(&s, f * t.eta).unwrap().spectral_radius();
            assert!((r - rho_full(f * t.eta)).abs() < 1e-10 * r, "{f}: {r}");
        }
        // Bisection on the full map finds the same η*.
        let eta_b = bisect(t.lower * 0.5, t.pole, rho_full);
        assert!((eta_b - t.eta).abs() < 1e-9 * t.eta, "{eta_b} vs {}", t.eta);
        assert!(t.lower <= t.eta && t.eta <= t.upper);
    }
    // A zero eigenvalue is a neutral direction: ρ = 1 below η*, above 1 beyond it.
    let eigs = [2.0, 0.6, 0.3, 0.0];
    let h = rotated(&eigs, 20);
    let s = Spectrum::from_symmetric(&h, Curvature::Strict).unwrap();
    let t = zo_gd_threshold(&s).unwrap();
    for f in [0.5, 0.99, 1.01, 1.5] {
        let full = spectral_radius(&full_gd_map(&h, f * t.eta)).unwrap();
        let r = ZoGdOperator::new(&s, f * t.eta).unwrap().spectral_radius();
        assert!((r - full).abs() < 1e-10, "{f}: {r} vs {full}");
        assert_eq!(r > 1.0, f > 1.0);
    }
}

#[test]
fn zo_gd_operator_radius_against_a_general_eigensolver_at_scale() {
    for eigs in [
        harmonic(200, 1),
        harmonic(200, 2),
        (0..200).map(|i| 0.97f64.powi(i)).collect(),
    ] {
        let s = spec(&eigs);
        let t = zo_gd_threshold(&s).unwrap();
        for f in [0.98, 1.0, 1.02] {
            let op = ZoGdOperator::new(&s, f * t.eta).unwrap();
            let dense = spectral_radius(&op.to_dense()).unwrap();
            assert!((op.spectral_radius() - dense).abs() < 1e-11, "{f}");
        }
        let at = spectral_radius(&ZoGdOperator::new(&s, t.eta).unwrap().to_dense()).unwrap();
        assert!((at - 1.0).abs() < 1e-10, "{at}");
    }
}

#[test]
fn zo_gdm_recursion_matches_the_joint_second_moment_map() {
    let eigs = [2.0, 0.7, 0.3];
    let h = rotated(&eigs, 3);
    let s = Spectrum::from_symmetric(&h, Curvature::Strict).unwrap();
    for beta in [0.0, 0.5, 0.9] {
        let t = zo_gdm_threshold(&s, beta).unwrap();
        for f in [0.7, 1.0, 1.3] {
            let eta = f * t.eta;
            let full = spectral_radius(&full_gdm_map(&h, eta, beta)).unwrap();
            let small = ZoGdmOperator::new(&s, eta, beta)
                .unwrap()
                .spectral_radius()
                .unwrap();
            assert!(
                (full - small).abs() < 1e-9,
                "β {beta}, {f}: {full} vs {small}"
            );
        }
        let at = spectral_radius(&full_gdm_map(&h, t.eta, beta)).unwrap();
        assert!((at - 1.0).abs() < 1e-9, "β {beta}: {at}");
    }
}

#[test]
fn zo_gdm_closed_form_equals_bisection_on_the_operator() {
    let s = spec(&harmonic(20, 1));
    let mut last = f64::INFINITY;
    for beta in [0.0, 0.3, 0.6, 0.9] {
        let t = zo_gdm_threshold(&s, beta).unwrap();
        let rho = |eta: f64| {
            ZoGdmOperator::new(&s, eta, beta)
                .unwrap()
                .spectral_radius()
                .unwrap()
        };
        let b = bisect(t.lower * 0.5, t.pole, rho);
        assert!(
            (b - t.eta).abs() < 1e-8 * t.eta,
            "β {beta}: {b} vs {}",
            t.eta
        );
        assert!(t.eta < last, "decreasing in β");
        last = t.eta;
        assert!(t.lower <= t.eta && t.eta <= t.upper);
    }
    // The notes' example (third-party reproduction): 0.466 at β = 0 falls to 0.054 at β = 0.9
    // on their spectrum; on 1/i (d = 20) β = 0 is ZO-GD's threshold.
    let t0 = zo_gdm_threshold(&s, 0.0).unwrap();
    assert!((t0.eta - zo_gd_threshold(&s).unwrap().eta).abs() < 1e-15);
}

#[test]
fn frozen_adam_is_gdm_on_the_preconditioned_spectrum() {
    // Frozen ZO-Adam = ZO-GDM on P⁻¹H with step η(1−β₁) and momentum β₁.
    let s = spec(&harmonic(12, 1));
    let p: Vec<f64> = (0..12).map(|i| 0.5 + 0.1 * i as f64).collect();
    let sp = s.preconditioned(&p).unwrap();
    for beta1 in [0.0, 0.5, 0.9] {
        let adam = frozen_zo_adam_threshold(&sp, beta1).unwrap();
        let rho = |eta: f64| {
            ZoGdmOperator::new(&sp, eta * (1.0 - beta1), beta1)
                .unwrap()
                .spectral_radius()
                .unwrap()
        };
        assert!(
            (rho(adam.eta) - 1.0).abs() < 1e-9,
            "β₁ {beta1}: {}",
            rho(adam.eta)
        );
        assert!(rho(0.98 * adam.eta) < 1.0 && rho(1.02 * adam.eta) > 1.0);
    }
}

#[test]
fn exact_mean_square_matches_operator_powers() {
    // mean_square propagates the state; the dense matrix power is an independent route.
    let s = spec(&[1.5, 0.4, 0.1]);
    let op = ZoGdOperator::new(&s, 0.3).unwrap();
    let ms = op.mean_square(&[1.0, -2.0, 0.5], 50).unwrap();
    let m = op.to_dense();
    let v0 = nalgebra::DVector::from_vec(vec![1.0, 4.0, 0.25]);
    let v50 = m.pow(50) * v0;
    assert!((ms[50] - v50.sum()).abs() < 1e-12 * v50.sum());
    let g = ZoGdmOperator::new(&s, 0.2, 0.5).unwrap();
    let ms = g.mean_square(&[1.0, -2.0, 0.5], 40).unwrap();
    let sq = [1.0, 4.0, 0.25];
    let v0 = nalgebra::DVector::from_iterator(9, sq.iter().chain(&sq).chain(&sq).copied());
    let v = g.to_dense().pow(40) * v0;
    let rel = (ms[40] - v.rows(0, 3).sum()).abs() / ms[40].abs();
    assert!(rel < 1e-12, "{rel}");
}

#[test]
fn thresholds_at_a_million_eigenvalues_are_converged() {
    let eigs: Vec<f64> = (1..=1_000_000).map(|i| 1.0 / (i as f64).sqrt()).collect();
    let s = spec(&eigs);
    let t = zo_gd_threshold(&s).unwrap();
    assert!(t.iterations < 40, "{}", t.iterations);
    // The secular function in extended precision by pairwise-summed f64 on either side of η*:
    // one ulp below must be ≤ 1 and one above ≥ 1 within the sum's rounding.
    let f = |eta: f64| -> f64 {
        let terms: Vec<f64> = eigs
            .iter()
            .map(|l| eta * l / (2.0 * (1.0 - eta * l)))
            .collect();
        pairwise(&terms)
    };
    let rel = 1e-13;
    assert!(
        f(t.eta * (1.0 - rel)) < 1.0 && f(t.eta * (1.0 + rel)) > 1.0,
        "{}",
        t.eta
    );
}

fn pairwise(x: &[f64]) -> f64 {
    if x.len() <= 8 {
        x.iter().sum()
    } else {
        let (a, b) = x.split_at(x.len() / 2);
        pairwise(a) + pairwise(b)
    }
}

#[test]
fn fo_vs_zo_equal_lambda_max_different_trace() {
    let a = spec(&[1.0, 0.1, 0.1, 0.1]);
    let b = spec(&[1.0, 0.9, 0.9, 0.9]);
    let (ta, tb) = (zo_gd_threshold(&a).unwrap(), zo_gd_threshold(&b).unwrap());
    assert_eq!(ta.first_order, tb.first_order);
    assert!(tb.eta < 0.6 * ta.eta);
}

#[test]
fn estimator_on_a_quadratic_is_u_ut_h_x() {
    let h = rotated(&[2.0, 1.0, 0.5, 0.1], 5);
    let x = [0.3, -1.0, 0.2, 0.7];
    let mut f = |z: &[f64]| {
        let v = nalgebra::DVector::from_column_slice(z);
        0.5 * v.dot(&(&h * &v))
    };
    let est = Estimator {
        mu: 0.1,
        ..Default::default()
    };
    let mut rng = stream_rng(1, 0);
    let mut g = [0.0; 4];
    assert_eq!(est.estimate(&mut f, &x, None, &mut rng, &mut g).unwrap(), 2);
    // Same draw again: u from a copy of the generator.
    let mut rng2 = stream_rng(1, 0);
    let mut u = [0.0; 4];
    est.draw(&mut rng2, &mut u);
    let uv = nalgebra::DVector::from_column_slice(&u);
    let hx = &h * nalgebra::DVector::from_column_slice(&x);
    let expect = &uv * uv.dot(&hx);
    for i in 0..4 {
        assert!((g[i] - expect[i]).abs() < 1e-10, "{i}");
    }
    let sphere = Estimator {
        directions: Directions::Sphere,
        ..Default::default()
    };
    sphere.draw(&mut rng2, &mut u);
    assert!((u.iter().map(|v| v * v).sum::<f64>() - 4.0).abs() < 1e-12);
}

#[test]
fn optimizers_match_their_textbook_forms() {
    let grad = |x: &[f64], g: &mut [f64]| {
        g[0] = 2.0 * x[0];
        g[1] = 0.5 * x[1];
    };
    // Polyak momentum = heavy ball x_{k+1} = x_k − η g_k + β (x_k − x_{k−1}).
    let mut opt = Optimizer::new(Method::Gdm { beta: 0.7 }, 0.1, 2).unwrap();
    let mut x = [1.0, -1.0];
    let (mut hb, mut prev) = ([1.0f64, -1.0], [1.0f64, -1.0]);
    for _ in 0..30 {
        opt.fo_step(&mut |a, b| grad(a, b), &mut x).unwrap();
        let mut g = [0.0; 2];
        grad(&hb, &mut g);
        let next = [
            hb[0] - 0.1 * g[0] + 0.7 * (hb[0] - prev[0]),
            hb[1] - 0.1 * g[1] + 0.7 * (hb[1] - prev[1]),
        ];
        prev = hb;
        hb = next;
    }
    assert!((x[0] - hb[0]).abs() < 1e-14 && (x[1] - hb[1]).abs() < 1e-14);
    assert_eq!(opt.gradient_evaluations(), 30);
    // Adam = m̂ / (√v̂ + ε).
    let mut opt = Optimizer::new(Method::adam(), 0.01, 2).unwrap();
    let mut x = [1.0, -1.0];
    let (mut m, mut v, mut y) = ([0.0f64; 2], [0.0f64; 2], [1.0f64, -1.0]);
    for t in 1..=20 {
        opt.fo_step(&mut |a, b| grad(a, b), &mut x).unwrap();
        let mut g = [0.0; 2];
        grad(&y, &mut g);
        for i in 0..2 {
            m[i] = 0.9 * m[i] + 0.1 * g[i];
            v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
            let mh = m[i] / (1.0 - 0.9f64.powi(t));
            let vh = v[i] / (1.0 - 0.999f64.powi(t));
            y[i] -= 0.01 * mh / (vh.sqrt() + 1e-8);
        }
    }
    assert!((x[0] - y[0]).abs() < 1e-14 && (x[1] - y[1]).abs() < 1e-14);
}

#[test]
fn lanczos_quadrature_is_exact_on_a_diagonal_operator() {
    // Rademacher probes have (e_iᵀz)² = 1, so on a diagonal matrix each probe's quadrature of
    // any f is tr f(A) exactly once the Krylov space is the whole space.
    let diag = [3.0, 1.5, -0.5, -2.0, 0.25, 0.1, 4.0, -0.01];
    let mut rng = stream_rng(2, 0);
    let c = estimate_curvature(
        |v| v.component_mul(&nalgebra::DVector::from_column_slice(&diag)),
        diag.len(),
        &CurvatureConfig {
            lanczos_steps: 8,
            probes: 3,
        },
        &mut rng,
    )
    .unwrap();
    let tr: f64 = diag.iter().sum();
    let tr_pos: f64 = diag.iter().map(|v| v.max(0.0)).sum();
    assert!((c.trace - tr).abs() < 1e-10, "{}", c.trace);
    assert!(
        (c.positive_trace - tr_pos).abs() < 1e-10,
        "{}",
        c.positive_trace
    );
    assert!((c.lambda_max - 4.0).abs() < 1e-10);
    assert_eq!(c.hvps, 24);
}
