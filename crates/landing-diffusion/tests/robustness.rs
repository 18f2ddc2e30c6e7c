//! Generated bad input through every public entry point of landing-diffusion (the `bad_input`
//! runner: no panic, no call over 2 s, no non-finite output from finite input, and the right
//! answer where an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry
//! point (default 300).
//!
//! The independent answers: a projector is idempotent; a converged Newton projection lands on
//! the set (its constraints re-evaluated); a reverse run's live points satisfy the terminal
//! tolerance; a Jensen–Shannon distance lies in [0, √ln 2]; histogram counts sum to the
//! number of points.
//!
//! Documented non-finite values: none (every routine returns an error instead).

use bad_input::{all_finite, checked, ok, res, Gen, Suite};
use landing_diffusion::score::{train, ScoreNet, TrainParams};
use landing_diffusion::*;

fn set(g: &mut Gen) -> Box<dyn ConstraintSet> {
    match g.below(5) {
        0 => Box::new(Sphere::new(2 + g.below(6)).unwrap()),
        1 => Box::new(Torus::new(2.0, 1.0).unwrap()),
        2 => Box::new(SpecialOrthogonal::new(2 + g.below(3)).unwrap()),
        3 => Box::new(SphereCap::new(3, 0.5).unwrap()),
        _ => Box::new(
            CustomSet::new(
                "ellipse",
                2,
                1,
                1,
                |x: &[f64], h: &mut [f64], gg: &mut [f64]| {
                    h[0] = x[0] * x[0] + 4.0 * x[1] * x[1] - 1.0;
                    gg[0] = x[0] - 0.5;
                },
                |x: &[f64], jh: &mut [f64], jg: &mut [f64]| {
                    jh[0] = 2.0 * x[0];
                    jh[1] = 8.0 * x[1];
                    jg[0] = 1.0;
                    jg[1] = 0.0;
                },
            )
            .unwrap(),
        ),
    }
}

/// A point for `set`: usually near it, sometimes hostile (wrong length, NaN, huge).
fn point(g: &mut Gen, set: &dyn ConstraintSet) -> Vec<f64> {
    let d = set.dim();
    if g.coin(0.6) {
        (0..d)
            .map(|_| 0.8 + 0.4 * g.uniform())
            .map(|v| v / (d as f64).sqrt())
            .collect()
    } else if g.coin(0.5) {
        g.vec_of(d)
    } else {
        {
            let n_ = g.len_near(d);
            g.vec_of(n_)
        }
    }
}

fn param(g: &mut Gen, lo: f64, hi: f64) -> f64 {
    if g.coin(0.7) {
        lo + (hi - lo) * g.uniform()
    } else {
        g.f()
    }
}

fn sampler(g: &mut Gen) -> std::result::Result<Sampler, LandingError> {
    let schedule = match g.below(3) {
        0 => Schedule::Constant(param(g, 0.1, 1.5)),
        1 => Schedule::Linear {
            min: param(g, 0.01, 0.5),
            max: param(g, 0.5, 2.0),
        },
        _ => Schedule::Geometric {
            min: param(g, 0.01, 0.5),
            max: param(g, 0.5, 2.0),
        },
    };
    let correction = match g.below(3) {
        0 => Correction::Explicit {
            alpha: param(g, 0.1, 50.0),
        },
        1 => Correction::Implicit,
        _ => Correction::Projection(NewtonProjection {
            max_iter: if g.coin(0.8) {
                1 + g.below(30)
            } else {
                g.size()
            },
            tol: param(g, 1e-10, 1e-4),
        }),
    };
    let dynamics = if g.coin(0.5) {
        Dynamics::Overdamped
    } else {
        Dynamics::Underdamped {
            friction: param(g, 0.5, 10.0),
        }
    };
    SamplerParams {
        steps: if g.coin(0.9) {
            1 + g.below(8)
        } else {
            g.size()
        },
        horizon: param(g, 0.05, 2.0),
        schedule,
        dynamics,
        correction,
        repulsion: if g.coin(0.8) {
            0.01 * g.uniform()
        } else {
            g.f()
        },
        curvature_correction: g.coin(0.3),
        terminal: if g.coin(0.5) {
            Some(NewtonProjection::default())
        } else {
            None
        },
    }
    .check()
}

fn batch(g: &mut Gen, set: &dyn ConstraintSet) -> Vec<f64> {
    let n = if g.coin(0.9) { 1 + g.below(6) } else { 0 };
    let mut rng = core_linalg::stream_rng(g.below(1000) as u64, 0);
    let mut out = Vec::new();
    for _ in 0..n {
        let mut x = vec![0.0; set.dim()];
        if set.sample_uniform(&mut rng, &mut x).is_err() {
            x = vec![0.0; set.dim()];
            x[0] = 1.0;
        }
        out.extend(x);
    }
    if g.coin(0.2) && !out.is_empty() {
        let i = g.below(out.len());
        out[i] = g.f();
    }
    if g.coin(0.1) {
        out.push(0.5);
    }
    out
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run(
        "Sphere / Torus / SpecialOrthogonal / SphereCap / CustomSet::new",
        |g| {
            let a = g.f();
            let b = g.f();
            let n = g.size();
            let r = match g.below(5) {
                0 => Sphere::new(n).map(|s| s.dim() as f64),
                1 => Torus::new(a, b).map(|_| a),
                2 => SpecialOrthogonal::new(n).map(|s| s.n() as f64),
                3 => SphereCap::new(n, a).map(|s| s.cap()),
                _ => CustomSet::new("c", n, g.size(), g.size(), |_, _, _| {}, |_, _, _| {})
                    .map(|s| s.dim() as f64),
            };
            let v = res!(r);
            ok(true, vec![v])
        },
    );

    suite.run(
        "Frame::at / project / normal / landing / projector / tangent_curvature",
        |g| {
            let s = set(g);
            let x = point(g, s.as_ref());
            let eps = if g.coin(0.8) { 0.01 } else { g.f() };
            let f = res!(Frame::at(s.as_ref(), &x, eps));
            let d = s.dim();
            let p = f.projector();
            let mut worst = 0.0f64;
            let scale = p.iter().fold(1.0f64, |a, v| a.max(v.abs()));
            for i in 0..d {
                for j in 0..d {
                    let pp: f64 = (0..d).map(|k| p[i * d + k] * p[k * d + j]).sum();
                    worst = worst.max((pp - p[i * d + j]).abs());
                }
            }
            let mut v = {
                let n_ = g.len_near(d);
                g.vec_of(n_)
            };
            let projected = f.project(&mut v).is_ok();
            let n_ = g.len_near(f.active().len());
            let r = g.vec_of(n_);
            let nrm = f.normal(&r).ok();
            let finite = all_finite(&x) && eps.is_finite() && (!projected || all_finite(&v));
            let mut vals = f.landing();
            vals.extend(&p);
            vals.extend(f.tangent_curvature(s.as_ref(), &x));
            if projected && all_finite(&v) && v.iter().all(|a| a.abs() < 1e100) {
                vals.extend(&v);
            }
            if let Some(n) = nrm {
                if all_finite(&r) && r.iter().all(|a| a.abs() < 1e100) {
                    vals.extend(n);
                }
            }
            // Idempotent up to the ridge where the active normals are well conditioned, σ_min(J) > 0.1 (the ridge
            // 10⁻⁶ bends P where JJᵀ has eigenvalues near it, as documented).
            let (mut jh, mut jg) = (vec![0.0; s.n_eq() * d], vec![0.0; s.n_ineq() * d]);
            let conditioned = x.len() == d && {
                s.jacobian(&x, &mut jh, &mut jg);
                let rows: Vec<f64> = f
                    .active()
                    .iter()
                    .flat_map(|&k| {
                        if k < s.n_eq() {
                            jh[k * d..(k + 1) * d].to_vec()
                        } else {
                            jg[(k - s.n_eq()) * d..(k - s.n_eq() + 1) * d].to_vec()
                        }
                    })
                    .collect();
                let j = nalgebra::DMatrix::from_row_slice(f.active().len(), d, &rows);
                j.nrows() == 0 || j.singular_values().min() > 0.1
            };
            checked(finite, vals, !conditioned || worst <= 1e-4 * scale * scale)
        },
    );

    suite.run("check_jacobian", |g| {
        let s = set(g);
        let x = point(g, s.as_ref());
        let tol = if g.coin(0.8) { 1e-5 } else { g.f() };
        let e = res!(check_jacobian(s.as_ref(), &x, tol));
        checked(true, vec![e], e <= tol)
    });

    suite.run("newton_project", |g| {
        let s = set(g);
        let anchor = point(g, s.as_ref());
        let mut x = point(g, s.as_ref());
        let cfg = NewtonProjection {
            max_iter: if g.coin(0.8) {
                1 + g.below(30)
            } else {
                g.size()
            },
            tol: if g.coin(0.8) { 1e-9 } else { g.f() },
        };
        let eps = if g.coin(0.8) { 0.0 } else { g.f() };
        let r = res!(newton_project(s.as_ref(), &anchor, &mut x, eps, &cfg));
        match r {
            Projection::Converged(_) => {
                // Re-evaluated: every equality within the tolerance, no inequality violated.
                let f = res!(Frame::at(s.as_ref(), &x, eps));
                let right =
                    f.eq_violation() <= cfg.tol * 1.0001 && f.ineq_violation() <= cfg.tol * 1.0001;
                checked(true, x.clone(), right)
            }
            Projection::Failed(_) => ok(false, vec![]),
        }
    });

    suite.run("SamplerParams::check / Sampler::forward", |g| {
        let s = set(g);
        let smp = res!(sampler(g));
        let x0 = batch(g, s.as_ref());
        let mut rng = core_linalg::seeded_rng(3);
        let paths = res!(smp.forward(s.as_ref(), &x0, &mut rng));
        let mut vals = paths.mean_violation.clone();
        vals.push(paths.bytes() as f64);
        ok(false, vals)
    });

    suite.run("Sampler::prior / Sampler::reverse (ZeroScore)", |g| {
        let s = set(g);
        let smp = res!(sampler(g));
        let mut rng = core_linalg::seeded_rng(4);
        let start = if g.coin(0.7) {
            res!(Sampler::prior(s.as_ref(), g.below(5), &mut rng))
        } else {
            batch(g, s.as_ref())
        };
        let out = res!(smp.reverse(s.as_ref(), &ZeroScore, &start, &mut rng));
        let right = match smp.params().terminal {
            Some(t) if out.terminal_failures == 0 => out.max_eq <= t.tol.max(1e-9),
            _ => true,
        };
        ok(false, vec![out.nfe as f64]).and_right(right)
    });

    suite.run("landing_iterates", |g| {
        let s = set(g);
        let x = point(g, s.as_ref());
        let rate = param(g, 0.01, 1.99);
        let n = if g.coin(0.9) {
            g.below(20)
        } else {
            g.size().min(5000)
        };
        let hs = res!(landing_iterates(s.as_ref(), &x, rate, n));
        ok(false, hs)
    });

    suite.run(
        "metrics: sphere / torus / trace histograms, violation, JSD",
        |g| {
            let pts = {
                let n_ = if g.coin(0.7) {
                    3 * g.below(50)
                } else {
                    g.len()
                };
                g.vec_of(n_)
            };
            let bins = if g.coin(0.8) {
                1 + g.below(20)
            } else {
                g.size()
            };
            let finite = all_finite(&pts);
            match g.below(5) {
                0 => {
                    let lo = param(g, -1.0, 0.0);
                    let h = res!(metrics::sphere_histogram(
                        &pts,
                        (lo, 1.0),
                        bins,
                        bins.min(64)
                    ));
                    let total: f64 = h.iter().sum();
                    checked(finite, h, total as usize == pts.len() / 3)
                }
                1 => {
                    let h = res!(metrics::torus_histogram(
                        &Torus::new(2.0, 1.0).unwrap(),
                        &pts,
                        bins.min(64)
                    ));
                    let total: f64 = h.iter().sum();
                    checked(finite, h, total as usize == pts.len() / 3)
                }
                2 => {
                    let n = 1 + g.below(3);
                    let hs = res!(metrics::trace_histograms(&pts, n, &[1, 2], bins.min(64)));
                    ok(finite, hs.concat())
                }
                3 => {
                    let (a, b) = res!(metrics::violation(&Sphere::new(3).unwrap(), &pts));
                    ok(false, vec![a, b])
                }
                _ => {
                    let q = {
                        let n_ = g.len_near(pts.len());
                        g.vec_of(n_)
                    };
                    let d = res!(metrics::jensen_shannon_distance(&pts, &q));
                    checked(
                        true,
                        vec![d],
                        (0.0..=std::f64::consts::LN_2.sqrt() + 1e-12).contains(&d),
                    )
                }
            }
        },
    );

    suite.run("metrics::trace_power", |g| {
        let n = 1 + g.below(4);
        let x = {
            let n_ = g.len_near(n * n);
            g.vec_of(n_)
        };
        let k = g.below(4) as u32;
        let v = res!(metrics::trace_power(&x, n, k));
        ok(all_finite(&x) && x.iter().all(|a| a.abs() < 1e10), vec![v])
    });

    suite.run("ScoreNet::new / eval", |g| {
        let d = if g.coin(0.8) {
            1 + g.below(4)
        } else {
            g.size() % 100
        };
        let hidden: Vec<usize> = (0..g.below(3)).map(|_| g.below(8)).collect();
        let horizon = param(g, 0.1, 4.0);
        let net = res!(ScoreNet::new(d, g.coin(0.5), &hidden, horizon, 1));
        let rows = g.below(4);
        let input = {
            let n_ = g.len_near(rows * 2 * d);
            g.vec_of(n_)
        };
        let mut out = vec![0.0; rows * d];
        res!(net.eval(&input, rows, g.f(), &mut out));
        ok(false, out)
    });

    suite.run("score::train (≤ 3 steps)", |g| {
        let s = Sphere::new(3).unwrap();
        let smp = res!(SamplerParams {
            steps: 3,
            horizon: 0.5,
            ..Default::default()
        }
        .check());
        let data = batch(g, &s);
        let params = TrainParams {
            steps: g.below(4),
            batch: if g.coin(0.8) { 1 + g.below(16) } else { 0 },
            lr: param(g, 1e-4, 1e-2),
            grad_clip: param(g, 1.0, 10.0),
            paths: if g.coin(0.8) { 1 + g.below(8) } else { 0 },
            refresh_every: if g.coin(0.9) { 1 + g.below(3) } else { 0 },
            hidden: vec![4],
            ..Default::default()
        };
        let mut rng = core_linalg::seeded_rng(6);
        let (_, report) = res!(train(&smp, &s, &data, &params, &mut rng));
        ok(false, report.losses.iter().map(|p| p.1).collect())
    });

    suite.finish();
}

trait AndRight {
    fn and_right(self, right: bool) -> bad_input::Out;
}

impl AndRight for bad_input::Out {
    fn and_right(self, r: bool) -> bad_input::Out {
        match self {
            bad_input::Out::Values {
                finite_in,
                values,
                right,
            } => bad_input::Out::Values {
                finite_in,
                values,
                right: right && r,
            },
            e => e,
        }
    }
}
