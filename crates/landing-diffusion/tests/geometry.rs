//! The built-in sets against independent routes: Jacobians and Hessians against central
//! differences at random points near each set, the projector's idempotence and its kernel,
//! the uniform priors on the set (and Haar's determinant on SO(n)), and the landing direction
//! against the closed form on the sphere.

use landing_diffusion::*;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

fn sets() -> Vec<Box<dyn ConstraintSet>> {
    vec![
        Box::new(Sphere::new(3).unwrap()),
        Box::new(Sphere::new(7).unwrap()),
        Box::new(Torus::new(2.0, 1.0).unwrap()),
        Box::new(Torus::new(3.0, 0.5).unwrap()),
        Box::new(SpecialOrthogonal::new(3).unwrap()),
        Box::new(SpecialOrthogonal::new(5).unwrap()),
        Box::new(SphereCap::new(3, 0.5).unwrap()),
    ]
}

/// Points on the set, perturbed by `scale` Gaussian noise.
fn near(set: &dyn ConstraintSet, n: usize, scale: f64, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = core_linalg::seeded_rng(seed);
    (0..n)
        .map(|_| {
            let mut x = vec![0.0; set.dim()];
            set.sample_uniform(&mut rng, &mut x).unwrap();
            for v in x.iter_mut() {
                let z: f64 = StandardNormal.sample(&mut rng);
                *v += scale * z;
            }
            x
        })
        .collect()
}

#[test]
fn jacobians_match_central_differences() {
    for set in sets() {
        for x in near(set.as_ref(), 20, 0.05, 1) {
            let err = check_jacobian(set.as_ref(), &x, 1e-6)
                .unwrap_or_else(|e| panic!("{}: {e}", set.name()));
            assert!(err < 1e-6, "{}: {err}", set.name());
        }
    }
}

#[test]
fn hessians_match_differences_of_the_jacobian() {
    // The closed-form Hessians against the trait's default (central differences of the
    // Jacobian), reached through a set that forwards everything but the Hessian.
    struct NoHessian<'a>(&'a dyn ConstraintSet);
    impl ConstraintSet for NoHessian<'_> {
        fn name(&self) -> String {
            self.0.name()
        }
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn n_eq(&self) -> usize {
            self.0.n_eq()
        }
        fn n_ineq(&self) -> usize {
            self.0.n_ineq()
        }
        fn constraints(&self, x: &[f64], h: &mut [f64], g: &mut [f64]) {
            self.0.constraints(x, h, g)
        }
        fn jacobian(&self, x: &[f64], jh: &mut [f64], jg: &mut [f64]) {
            self.0.jacobian(x, jh, jg)
        }
    }
    for set in sets() {
        let d = set.dim();
        let fd = NoHessian(set.as_ref());
        for x in near(set.as_ref(), 5, 0.05, 2) {
            for k in 0..set.n_eq() + set.n_ineq() {
                let (mut a, mut b) = (vec![0.0; d * d], vec![0.0; d * d]);
                set.hessian(&x, k, &mut a);
                fd.hessian(&x, k, &mut b);
                let err = a
                    .iter()
                    .zip(&b)
                    .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
                assert!(err < 1e-6, "{} constraint {k}: {err}", set.name());
            }
        }
    }
}

#[test]
fn projector_is_idempotent_and_kills_the_normals() {
    for set in sets() {
        let d = set.dim();
        for x in near(set.as_ref(), 10, 0.01, 3) {
            let f = Frame::at(set.as_ref(), &x, 0.0).unwrap();
            let p = f.projector();
            for i in 0..d {
                for j in 0..d {
                    let pp: f64 = (0..d).map(|k| p[i * d + k] * p[k * d + j]).sum();
                    assert!((pp - p[i * d + j]).abs() < 1e-5, "{}", set.name());
                    assert!((p[i * d + j] - p[j * d + i]).abs() < 1e-12, "symmetric");
                }
            }
            // project() agrees with the matrix, and J·Pv ≈ 0 for the active rows.
            let mut rng = core_linalg::seeded_rng(9);
            let v: Vec<f64> = (0..d).map(|_| rng.random::<f64>() - 0.5).collect();
            let mut pv = v.clone();
            f.project(&mut pv).unwrap();
            for i in 0..d {
                let want: f64 = (0..d).map(|k| p[i * d + k] * v[k]).sum();
                assert!((pv[i] - want).abs() < 1e-12);
            }
            let (mut jh, mut jg) = (vec![0.0; set.n_eq() * d], vec![0.0; set.n_ineq() * d]);
            set.jacobian(&x, &mut jh, &mut jg);
            for row in jh.chunks_exact(d) {
                let dot: f64 = row.iter().zip(&pv).map(|(a, b)| a * b).sum();
                assert!(dot.abs() < 1e-5, "{}: J·Pv = {dot}", set.name());
            }
            assert!(f.project(&mut vec![0.0; d + 1]).is_err());
        }
    }
}

#[test]
fn landing_direction_on_the_sphere_is_the_closed_form() {
    // h = (|x|² − 1)/2, J = xᵀ: JᵀG⁻¹h = x·h/(|x|² + 10⁻⁶).
    let s = Sphere::new(4).unwrap();
    let x = [0.3, -1.1, 0.4, 0.2];
    let f = Frame::at(&s, &x, 0.0).unwrap();
    let n2: f64 = x.iter().map(|v| v * v).sum();
    let h = 0.5 * (n2 - 1.0);
    for (a, b) in f.landing().iter().zip(&x) {
        assert!((a - b * h / (n2 + GRAM_RIDGE)).abs() < 1e-15);
    }
    // The curvature of h along the tangent space is tr(P) = D − 1 (to the ridge).
    let c = f.tangent_curvature(&s, &x);
    assert!(
        (c[0] - (4.0 - n2 / (n2 + GRAM_RIDGE))).abs() < 1e-12,
        "{c:?}"
    );
}

#[test]
fn priors_lie_on_their_sets() {
    for set in sets() {
        let mut rng = core_linalg::seeded_rng(4);
        let pts = Sampler::prior(set.as_ref(), 200, &mut rng).unwrap();
        let (mean_eq, mean_ineq) = metrics::violation(set.as_ref(), &pts).unwrap();
        assert!(
            mean_eq < 1e-12 && mean_ineq == 0.0,
            "{}: {mean_eq} {mean_ineq}",
            set.name()
        );
    }
    // Haar on SO(4): det = +1 and E[tr X] = 0 (|mean| within 4 standard errors, sd(tr) = 1).
    let so = SpecialOrthogonal::new(4).unwrap();
    let mut rng = core_linalg::seeded_rng(5);
    let pts = Sampler::prior(&so, 4000, &mut rng).unwrap();
    let mut tr = 0.0;
    for x in pts.chunks_exact(16) {
        let m = nalgebra::DMatrix::from_row_slice(4, 4, x);
        assert!((m.determinant() - 1.0).abs() < 1e-10);
        tr += m.trace();
    }
    assert!(
        (tr / 4000.0).abs() < 4.0 / 4000f64.sqrt(),
        "{}",
        tr / 4000.0
    );
    // The torus' surface measure: E[cos θ] = r/(2R) under density ∝ R + r cos θ.
    let t = Torus::new(2.0, 1.0).unwrap();
    let pts = Sampler::prior(&t, 20000, &mut rng).unwrap();
    let m: f64 = pts
        .chunks_exact(3)
        .map(|p| t.angles([p[0], p[1], p[2]]).1.cos())
        .sum::<f64>()
        / 20000.0;
    assert!((m - 0.25).abs() < 0.02, "E cos θ = {m}");
}

#[test]
fn a_wrong_user_jacobian_is_caught() {
    let good = |x: &[f64], h: &mut [f64], _g: &mut [f64]| h[0] = x[0] * x[0] + x[1] * x[1] - 1.0;
    let wrong = |x: &[f64], jh: &mut [f64], _jg: &mut [f64]| {
        jh[0] = x[0]; // should be 2·x₀
        jh[1] = 2.0 * x[1];
    };
    let set = CustomSet::new("circle", 2, 1, 0, good, wrong).unwrap();
    match set.verified_at(&[vec![0.6, 0.8]], 1e-6) {
        Err(LandingError::JacobianMismatch {
            constraint: 0,
            coordinate: 0,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let right = |x: &[f64], jh: &mut [f64], _jg: &mut [f64]| {
        jh[0] = 2.0 * x[0];
        jh[1] = 2.0 * x[1];
    };
    let set = CustomSet::new("circle", 2, 1, 0, good, right).unwrap();
    let set = set
        .verified_at(&[vec![0.6, 0.8], vec![-1.0, 0.1]], 1e-6)
        .unwrap();
    let mut rng = core_linalg::seeded_rng(1);
    assert!(matches!(
        Sampler::prior(&set, 4, &mut rng),
        Err(LandingError::NoUniformPrior { .. })
    ));
}

#[test]
fn unstable_explicit_landing_is_rejected_and_projection_failures_are_counted() {
    let p = SamplerParams {
        steps: 10,
        horizon: 1.0,
        schedule: Schedule::Linear { min: 0.1, max: 2.0 },
        correction: Correction::Explicit { alpha: 5.1 },
        ..Default::default()
    };
    // α σ_max² Δt = 5.1 · 4 · 0.1 = 2.04.
    match p.check() {
        Err(LandingError::UnstableLanding { rate, step: 10 }) => {
            assert!((rate - 2.04).abs() < 1e-12)
        }
        other => panic!("{other:?}"),
    }
    assert!(SamplerParams {
        correction: Correction::Explicit { alpha: 4.9 },
        ..p
    }
    .check()
    .is_ok());
    // Huge steps on a torus: the projection baseline drops trajectories and says so; landing
    // drops none.
    let t = Torus::new(2.0, 1.0).unwrap();
    let mut rng = core_linalg::seeded_rng(2);
    let x0 = Sampler::prior(&t, 256, &mut rng).unwrap();
    let mk = |c| SamplerParams {
        steps: 5,
        horizon: 5.0,
        schedule: Schedule::Constant(2.0),
        correction: c,
        ..Default::default()
    };
    let proj = mk(Correction::Projection(NewtonProjection {
        max_iter: 10,
        tol: 1e-6,
    }))
    .check()
    .unwrap();
    let paths = proj.forward(&t, &x0, &mut rng).unwrap();
    assert!(paths.dropped_count() > 0);
    assert_eq!(paths.bytes(), 6 * 256 * 3 * 8);
    let land = mk(Correction::Implicit).check().unwrap();
    let paths = land.forward(&t, &x0, &mut rng).unwrap();
    assert_eq!(paths.dropped_count(), 0);
    assert!(paths.get(6, 0).is_none() && paths.get(5, 255).is_some());
}
