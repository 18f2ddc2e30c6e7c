//! Generated bad input through every public entry point of zo-stability (the `bad_input`
//! runner: no panic, no call over 2 s, no non-finite output from finite input, and the right
//! answer where an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry
//! point (default 300).
//!
//! The independent answers: a threshold lies inside its bounds and below its pole, and the
//! ZO-GD operator's Perron root (a different secular equation, in ρ) is 1 there; a
//! spectrum from a matrix has one eigenvalue per row; an estimate on a quadratic is
//! `u uᵀ H x` up to rounding; the interval's ends are ordered; the preconditioned product of a
//! diagonal `H` is `h_i / p_i`.
//!
//! Documented non-finite values: none (every routine returns an error instead).

use bad_input::{all_finite, checked, ok, res, Gen, Suite};
use core_linalg::stream_rng;
use nalgebra::DVector;
use zo_stability::*;

/// A spectrum: usually clean (positive, moderate), else hostile.
fn eigs(g: &mut Gen) -> Vec<f64> {
    if g.coin(0.5) {
        let n = 1 + g.below(40);
        (0..n).map(|_| g.uniform() * 10.0).collect()
    } else {
        g.vec()
    }
}

fn curvature(g: &mut Gen) -> Curvature {
    if g.coin(0.5) {
        Curvature::Strict
    } else {
        Curvature::PositivePart
    }
}

fn beta(g: &mut Gen) -> f64 {
    if g.coin(0.7) {
        g.uniform() * 0.99
    } else {
        g.f()
    }
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run(
        "Spectrum::new / zo_gd_threshold / zo_gdm_threshold / frozen_zo_adam_threshold",
        |g| {
            let e = eigs(g);
            let b = beta(g);
            let finite = all_finite(&e) && b.is_finite();
            let s = res!(Spectrum::new(&e, curvature(g)));
            let t = match g.below(3) {
                0 => res!(zo_gd_threshold(&s)),
                1 => res!(zo_gdm_threshold(&s, b)),
                _ => res!(frozen_zo_adam_threshold(&s, b)),
            };
            let mut right = t.lower <= t.eta * (1.0 + 1e-12)
                && t.eta <= t.upper * (1.0 + 1e-12)
                && t.eta < t.pole;
            if let Ok(t1) = zo_gd_threshold(&s) {
                // The Perron root in ρ is a different secular equation: 1 at Theorem 1's η*.
                let rho = res!(ZoGdOperator::new(&s, t1.eta)).spectral_radius();
                right &= (rho - 1.0).abs() < 1e-8;
            }
            checked(
                finite,
                vec![t.eta, t.lower, t.upper, t.first_order, t.pole],
                right,
            )
        },
    );

    suite.run("Spectrum::from_symmetric / scaled / preconditioned", |g| {
        let m = if g.coin(0.5) {
            let n = 1 + g.below(8);
            nalgebra::DMatrix::from_fn(n, n, |_, _| g.uniform() - 0.5)
        } else {
            g.matrix()
        };
        let sym = if m.is_square() && g.coin(0.6) {
            (&m + m.transpose()) * 0.5
        } else {
            m.clone()
        };
        let finite = all_finite(sym.as_slice());
        let s = res!(Spectrum::from_symmetric(&sym, curvature(g)));
        let right = s.dim() == sym.nrows();
        let scale = g.f();
        let p = {
            let n = g.len_near(s.dim());
            g.vec_of(n)
        };
        let finite = finite && scale.is_finite() && all_finite(&p);
        let a = res!(s.scaled(scale));
        let b = res!(a.preconditioned(&p));
        checked(
            finite,
            vec![b.trace(), b.lambda_max(), b.negative_mass()],
            right,
        )
    });

    suite.run(
        "ZoGdOperator::new / apply / spectral_radius / mean_square",
        |g| {
            let e = eigs(g);
            let eta = if g.coin(0.6) { g.uniform() } else { g.f() };
            let finite = all_finite(&e) && eta.is_finite();
            let s = res!(Spectrum::new(&e, curvature(g)));
            let op = res!(ZoGdOperator::new(&s, eta));
            let st = {
                let n = g.len_near(s.dim());
                g.vec_of(n)
            };
            let ol = g.len_near(s.dim());
            let mut out = vec![0.0; ol];
            let finite = finite && all_finite(&st);
            res!(op.apply(&st, &mut out));
            let rho = op.spectral_radius();
            let ms = res!(op.mean_square(&st, g.below(20)));
            // Overflow of the moments for extreme η is the honest answer, not a failure.
            let moments_ok = all_finite(&ms);
            checked(
                finite && moments_ok && all_finite(&out),
                vec![rho],
                rho >= 0.0,
            )
        },
    );

    suite.run(
        "ZoGdmOperator::new / apply / spectral_radius / mean_square",
        |g| {
            let e: Vec<f64> = eigs(g).into_iter().take(10).collect();
            let eta = if g.coin(0.6) { g.uniform() } else { g.f() };
            let b = beta(g);
            let finite = all_finite(&e) && eta.is_finite() && b.is_finite();
            let s = res!(Spectrum::new(&e, curvature(g)));
            let op = res!(ZoGdmOperator::new(&s, eta, b));
            let st = {
                let n = g.len_near(3 * s.dim());
                g.vec_of(n)
            };
            let ol = g.len_near(3 * s.dim());
            let mut out = vec![0.0; ol];
            res!(op.apply(&st, &mut out));
            let rho = res!(op.spectral_radius());
            checked(finite && all_finite(&st), vec![rho], rho >= 0.0)
        },
    );

    suite.run("Estimator::estimate", |g| {
        let d = g.len();
        let x = {
            let n = g.len_near(d);
            g.vec_of(n)
        };
        let gl = g.len_near(x.len());
        let mut gout = vec![0.0; gl];
        let est = Estimator {
            directions: if g.coin(0.5) {
                Directions::Gaussian
            } else {
                Directions::Sphere
            },
            difference: if g.coin(0.5) {
                Difference::Central
            } else {
                Difference::Forward
            },
            mu: if g.coin(0.6) { 1e-3 } else { g.f() },
            queries: g.pick(&[0usize, 1, 2, 5]),
        };
        let hostile = g.coin(0.2);
        let fx = if g.coin(0.3) { Some(g.f()) } else { None };
        let finite = all_finite(&x) && est.mu.is_finite() && fx.is_none_or(f64::is_finite);
        let mut f = |z: &[f64]| {
            if hostile {
                f64::NAN
            } else {
                0.5 * z.iter().map(|v| v * v).sum::<f64>()
            }
        };
        let mut rng = stream_rng(1, 0);
        let evals = res!(est.estimate(&mut f, &x, fx, &mut rng, &mut gout));
        // Overflow in f (huge x) is reported as Diverged, so finite outputs are expected.
        ok(finite, gout.iter().copied().chain([evals as f64]).collect())
    });

    suite.run(
        "Optimizer::new / zo_step / fo_step / step_with / set_eta",
        |g| {
            let d = 1 + g.below(8);
            let method = match g.below(4) {
                0 => Method::Gd,
                1 => Method::Gdm { beta: beta(g) },
                2 => Method::Adam {
                    beta1: beta(g),
                    beta2: beta(g),
                    eps: if g.coin(0.7) { 1e-8 } else { g.f() },
                },
                _ => Method::FrozenAdam {
                    beta1: beta(g),
                    p: {
                        let n = g.len_near(d);
                        g.vec_of(n)
                    },
                },
            };
            let eta = if g.coin(0.6) {
                g.uniform() * 0.1
            } else {
                g.f()
            };
            let mut opt = res!(Optimizer::new(method, eta, d));
            let mut x = {
                let n = g.len_near(d);
                g.vec_of(n)
            };
            let finite_x = all_finite(&x);
            let mut rng = stream_rng(2, 0);
            for _ in 0..5 {
                match g.below(3) {
                    0 => res!(opt.zo_step(
                        &Estimator::default(),
                        &mut |z| 0.5 * z.iter().map(|v| v * v).sum::<f64>(),
                        &mut x,
                        None,
                        &mut rng
                    )),
                    1 => res!(opt.fo_step(&mut |z, out| out.copy_from_slice(z), &mut x)),
                    _ => {
                        let dir = {
                            let n = g.len_near(d);
                            g.vec_of(n)
                        };
                        res!(opt.step_with(&dir, &mut x))
                    }
                }
            }
            let e2 = g.f();
            res!(opt.set_eta(e2));
            let p = opt.preconditioner().unwrap_or_default();
            ok(finite_x, x.iter().copied().chain(p).collect())
        },
    );

    suite.run("EosInterval::new / contains_threshold / position", |g| {
        let method = match g.below(3) {
            0 => Method::Gd,
            1 => Method::Gdm { beta: beta(g) },
            _ => Method::adam(),
        };
        let (eta, l, tr) = (g.f(), g.f(), g.f());
        let finite = all_finite(&[eta, l, tr]);
        let i = res!(EosInterval::new(&method, eta, l, tr));
        let _ = i.contains_threshold();
        // `position` is NaN for an empty interval (documented), so it is not checked here.
        checked(
            finite && i.threshold.is_finite() && (i.upper - i.lower).is_finite(),
            vec![i.threshold, i.lower, i.upper],
            i.lower <= i.upper,
        )
    });

    suite.run("estimate_curvature / EosTracker::observe", |g| {
        let d = g.len();
        let diag = g.vec_of(d);
        let out_len = g.len_near(d);
        let cfg = CurvatureConfig {
            lanczos_steps: g.pick(&[0usize, 1, 3, 30]),
            probes: g.pick(&[0usize, 1, 4]),
        };
        let every = g.small();
        let mut tracker = res!(EosTracker::new(every, cfg));
        let mut rng = stream_rng(3, 0);
        let eta = g.f();
        let finite = all_finite(&diag) && eta.is_finite();
        let hvp = |v: &DVector<f64>| -> DVector<f64> {
            DVector::from_fn(out_len, |i, _| {
                diag.get(i).copied().unwrap_or(1.0) * v.get(i).copied().unwrap_or(0.0)
            })
        };
        let rec = res!(tracker.observe(0, &Method::Gd, eta, hvp, d, &mut rng));
        let vals = rec.map_or(vec![], |r| {
            vec![
                r.curvature.lambda_max,
                r.curvature.trace,
                r.curvature.positive_trace,
            ]
        });
        // Products of huge eigenvalues overflow inside Lanczos: reported as an error, so any
        // returned curvature is finite.
        ok(finite, vals)
    });

    suite.run("tracker::preconditioned_hvp", |g| {
        let d = g.len();
        let p = g.vec_of(d);
        let diag = g.vec_of(d);
        let out_len = g.len_near(d);
        let finite = all_finite(&p) && all_finite(&diag);
        let v = DVector::from_fn(g.len_near(d), |_, _| 1.0);
        let mut pv = res!(tracker::preconditioned_hvp(
            |v: &DVector<f64>| {
                DVector::from_fn(out_len, |i, _| {
                    diag.get(i).copied().unwrap_or(1.0) * v.get(i).copied().unwrap_or(0.0)
                })
            },
            &p
        ));
        let out = pv(&v);
        // Mismatched lengths come back as NaN (the tracker's output check turns that into an
        // error); with matching lengths the answer is diag/p entrywise, up to rounding.
        let matched = v.len() == d && out_len == d;
        let right = !matched
            || out.iter().zip(&diag).zip(&p).all(|((o, h), q)| {
                let want = h / q;
                !want.is_finite() || (o - want).abs() <= 1e-12 * want.abs().max(f64::MIN_POSITIVE)
            });
        checked(
            finite && matched && out.iter().all(|o| o.is_finite()),
            out.iter().copied().collect(),
            right,
        )
    });

    suite.finish();
}
