//! Generated bad input through every public entry point of disturbance-bounds (the `bad_input`
//! runner: no panic, no call over 2 s, no non-finite output from finite input, and the right
//! answer where an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry
//! point (default 300).
//!
//! The independent answers: the trajectory bound against its double sum; every certified run
//! of gradient descent on a random quadratic under a random disturbance against its bound
//! (zero violations); the quantiser's error against half a step; the privacy conversions
//! against their closed forms; the affine certificate against the powers' singular values.
//!
//! Documented non-finite values: none (every routine returns an error instead).

use bad_input::{all_finite, checked, ok, res, Gen, Suite};
use disturbance_bounds::bounds::*;
use disturbance_bounds::privacy::*;
use disturbance_bounds::*;
use nalgebra::{DMatrix, DVector};

/// A rate: a contraction (`c = L_V = 1`) a third of the time, else `c ≥ 1` usually valid, or
/// hostile values.
fn rate(g: &mut Gen) -> Option<Rate> {
    if g.coin(1.0 / 3.0) {
        return Rate::new(1.0, g.unit(), 1.0).ok();
    }
    let c = if g.coin(0.7) {
        1.0 + g.uniform() * 3.0
    } else {
        g.f()
    };
    let rho = g.unit();
    let l_v = if g.coin(0.7) { c.max(1.0) } else { g.f() };
    Rate::new(c, rho, l_v).ok()
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run(
        "Rate::new / gradient_descent / gradient_descent_c2 / iss_gain",
        |g| {
            let (mu, l, eta) = if g.coin(0.6) {
                let mu = 0.01 + g.uniform() * 5.0;
                let l = mu * (1.0 + g.uniform() * 100.0);
                (mu, l, g.uniform() * 2.2 / l)
            } else {
                (g.f(), g.f(), g.f())
            };
            let finite = all_finite(&[mu, l, eta]);
            let r = match g.below(3) {
                0 => res!(Rate::gradient_descent(mu, l, eta)),
                1 => res!(Rate::gradient_descent_c2(mu, l, eta)),
                _ => res!(Rate::new(mu, l, eta)),
            };
            let right = r.rho() >= 0.0 && r.rho() < 1.0 && r.c() >= 1.0 && r.l_v() >= 1.0;
            checked(finite, vec![r.c(), r.rho(), r.l_v(), r.iss_gain()], right)
        },
    );

    suite.run("bounds::trajectory_bound / sup_bound / error_floor", |g| {
        let Some(r) = rate(g) else {
            return bad_input::Out::Error;
        };
        let e0 = g.f();
        let d = g.vec();
        let finite = all_finite(&d) && e0.is_finite();
        let b = res!(trajectory_bound(&r, e0, &d));
        // The double sum, computed here.
        let k = d.len();
        let sum: f64 = (0..k)
            .map(|j| r.rho().powi((k - 1 - j) as i32) * d[j])
            .sum();
        let want = r.c() * r.rho().powi(k as i32) * e0 + r.l_v() * sum;
        let last = b[k];
        let right = (last - want).abs() <= 1e-9 * want.abs().max(1.0) || !want.is_finite();
        let sup = res!(sup_bound(&r, e0, d.iter().copied().fold(0.0, f64::max)));
        let floor = res!(error_floor(&r, g.unit().abs()));
        ok(finite && want.is_finite(), vec![last, sup, floor]).and(right)
    });

    suite.run("bounds::mean_square_bound / mean_square_floor", |g| {
        let Some(r) = rate(g) else {
            return bad_input::Out::Error;
        };
        let (e0, s2) = (g.f(), g.f());
        let k = g.pick(&[0usize, 1, 5, usize::MAX]);
        let b = res!(mean_square_bound(&r, e0, s2, k));
        let f = res!(mean_square_floor(&r, s2));
        ok(all_finite(&[e0, s2]), vec![b, f])
    });

    suite.run("bounds: loop gains, delay, quantisation, stability", |g| {
        let (a, b, c, d) = (g.f(), g.f(), g.f(), g.f());
        let bits = g.pick(&[0u32, 1, 4, 16, 52, 53, u32::MAX]);
        let n = g.pick(&[0usize, 1, 3, 100]);
        let finite = all_finite(&[a, b, c, d]);
        let v = match g.below(7) {
            0 => res!(loop_gain(a, b)),
            1 => res!(delay_loop_gain(a, n, b, c)),
            2 => res!(max_certified_delay(a, b, c)) as f64,
            3 => res!(quantization_error_bound(n, a, bits, g.coin(0.5))),
            4 => res!(dithered_variance_bound(n, a, bits)),
            5 => res!(stability_bound(a, b, n)),
            _ => res!(uniform_stability(a, b, n)),
        };
        // Overflow of a product of huge finite inputs is the only non-finite output possible.
        ok(finite && v.is_finite(), vec![v])
    });

    suite.run("Quantizer::nearest / dithered / quantize", |g| {
        let range = g.f();
        let bits = g.pick(&[0u32, 1, 3, 8, 52, 60]);
        let mut q = if g.coin(0.5) {
            res!(Quantizer::nearest(range, bits))
        } else {
            res!(Quantizer::dithered(range, bits, g.small()))
        };
        let v = g.f();
        let out = q.quantize(v);
        let inside = v.is_finite() && v.abs() <= range;
        // Within range: at most one step away (half a step when rounding to nearest), and on
        // the grid's range.
        let right = !inside
            || ((out - v).abs() <= q.step() * (1.0 + 1e-9) && out.abs() <= range * (1.0 + 1e-12));
        checked(v.is_finite() && range.is_finite(), vec![out], right)
    });

    suite.run(
        "privacy: sensitivity, zCDP, (ε, δ), σ for ε, curve",
        |g| {
            let (a, b, c) = (g.f(), g.f(), g.f());
            let n = g.pick(&[0usize, 1, 10, 1000]);
            let finite = all_finite(&[a, b, c]);
            match g.below(5) {
                0 => ok(finite, vec![res!(clipped_sensitivity(a, n))]),
                1 => ok(finite, vec![res!(zcdp_noisy_gd(n, a, b))]),
                2 => {
                    let e = res!(zcdp_to_epsilon(a, b));
                    // The closed form, and its inverse.
                    let back = res!(zcdp_for_epsilon(e.max(f64::MIN_POSITIVE), b));
                    let right = e == 0.0 || (back - a).abs() <= 1e-6 * a.max(1.0);
                    checked(finite, vec![e, back], right)
                }
                3 => ok(finite, vec![res!(sigma_for_epsilon(a, b, n, c))]),
                _ => {
                    let Some(r) = rate(g) else {
                        return bad_input::Out::Error;
                    };
                    let pts = res!(privacy_utility_curve(
                        &r,
                        a,
                        n,
                        100,
                        b,
                        c,
                        &[0.5, 1.0, g.f()]
                    ));
                    ok(
                        finite,
                        pts.iter().flat_map(|p| [p.sigma, p.floor]).collect(),
                    )
                }
            }
        },
    );

    suite.run("AffineRate::affine / local", |g| {
        let n = g.pick(&[0usize, 1, 2, 3]);
        let m = if g.coin(0.2) { g.below(4) } else { n };
        let scale = g.unit();
        let a = DMatrix::from_fn(n, m, |_, _| g.unit() * scale);
        let rho = if g.coin(0.5) { None } else { Some(g.unit()) };
        let finite = all_finite(a.as_slice());
        let cert = res!(if g.coin(0.5) {
            AffineRate::affine(&a, rho)
        } else {
            AffineRate::local(&a, rho)
        });
        // The powers' spectral norms, by SVD, against the certified bound.
        let mut p = DMatrix::identity(n, n);
        let mut right = true;
        for k in 0..50 {
            let norm = core_linalg::spectral_norm(&p).unwrap_or(f64::INFINITY);
            right &= norm <= cert.rate.c() * cert.rate.rho().powi(k) * (1.0 + 1e-8) + 1e-300;
            p = &p * &a;
        }
        checked(
            finite,
            vec![cert.rate.c(), cert.rate.rho(), cert.max_ratio],
            right,
        )
    });

    suite.run(
        "run / certify: gradient descent on a random quadratic, random disturbance",
        |g| {
            let n = g.pick(&[0usize, 1, 2, 5]);
            let eigs: Vec<f64> = (0..n)
                .map(|_| {
                    if g.coin(0.8) {
                        0.1 + g.uniform() * 10.0
                    } else {
                        g.f()
                    }
                })
                .collect();
            let x_star = DVector::from_fn(n, |_, _| if g.coin(0.9) { g.uniform() } else { g.f() });
            let q = res!(Quadratic::with_spectrum(&eigs, x_star.clone(), g.small()));
            let l = q.smoothness();
            let eta = if g.coin(0.8) {
                g.uniform() * 2.0 / l
            } else {
                g.f()
            };
            let mut gd = res!(GradientDescent::new(q, eta));
            let r = res!(gd.rate());
            let radius = if g.coin(0.8) { g.uniform() } else { g.f() };
            let x0 = DVector::from_fn(g.len_near(n), |_, _| {
                if g.coin(0.9) {
                    g.uniform() * 10.0
                } else {
                    g.f()
                }
            });
            let steps = g.pick(&[0usize, 1, 50, 300]);
            let c = match g.below(4) {
                0 => res!(certify(
                    &r,
                    &mut gd,
                    &mut res!(BoundedRandom::new(radius, 1)),
                    &x0,
                    &x_star,
                    steps,
                    1e-12
                )),
                1 => res!(certify(
                    &r,
                    &mut gd,
                    &mut res!(Adversarial::new(radius, x_star.clone())),
                    &x0,
                    &x_star,
                    steps,
                    1e-12
                )),
                2 => res!(certify(
                    &r,
                    &mut gd,
                    &mut res!(GaussianNoise::new(radius, 2)),
                    &x0,
                    &x_star,
                    steps,
                    1e-12
                )),
                _ => res!(certify(
                    &r,
                    &mut gd,
                    &mut Undisturbed,
                    &x0,
                    &x_star,
                    steps,
                    1e-12
                )),
            };
            // The theorem: no violation, whatever the disturbance, up to floating point: each
            // step rounds the state to about ε‖x‖, a disturbance the bound does not see, whose
            // effect is at most ~ε max‖x‖ / (1 − ρ) (an iterate cannot come closer to x* than
            // its ulp).
            let scale = x_star.amax().max(x0.amax()) + c.measured[0];
            let slack = 16.0 * f64::EPSILON * scale / (1.0 - r.rho());
            let right = c
                .measured
                .iter()
                .zip(&c.bound)
                .all(|(&m, &b)| m <= b * (1.0 + 1e-9) + 1e-12 + slack);
            checked(
                all_finite(x0.as_slice()) && all_finite(x_star.as_slice()),
                c.bound.clone(),
                right,
            )
        },
    );

    suite.finish();
}

trait And {
    fn and(self, right: bool) -> Self;
}

impl And for bad_input::Out {
    fn and(self, right: bool) -> Self {
        match self {
            bad_input::Out::Values {
                finite_in, values, ..
            } => checked(finite_in, values, right),
            e => e,
        }
    }
}
