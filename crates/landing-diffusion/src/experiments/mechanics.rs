//! Experiment 1: landing's mechanics against closed forms.

use crate::{
    check_jacobian, landing_iterates, ConstraintSet, Frame, SpecialOrthogonal, Sphere, SphereCap,
    Torus,
};
use repro::{BoxError, Claim, Outcome, RunContext, Table, Threshold};

/// A point near each built-in set, off it by about `off` in the equalities.
pub(crate) fn near_points(off: f64) -> Vec<(Box<dyn ConstraintSet>, Vec<f64>)> {
    let torus = Torus::new(2.0, 1.0).expect("valid radii");
    let mut tp = torus.point(0.7, -1.1).to_vec();
    tp.iter_mut().for_each(|v| *v *= 1.0 + off);
    // A rotation about (1, 2, 2)/3 by 0.8 rad, scaled off SO(3).
    let (c, s) = (0.8f64.cos(), 0.8f64.sin());
    let u = [1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0];
    let mut rot = vec![0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            let cross = match (i, j) {
                (0, 1) => -u[2],
                (1, 0) => u[2],
                (0, 2) => u[1],
                (2, 0) => -u[1],
                (1, 2) => -u[0],
                (2, 1) => u[0],
                _ => 0.0,
            };
            let id = if i == j { 1.0 } else { 0.0 };
            rot[i * 3 + j] = (c * id + s * cross + (1.0 - c) * u[i] * u[j]) * (1.0 + off);
        }
    }
    let sphere = vec![0.48 * (1.0 + off), -0.6 * (1.0 + off), 0.64 * (1.0 + off)];
    let mut cap = vec![0.8, 0.36, 0.48];
    cap.iter_mut().for_each(|v| *v *= 1.0 + off);
    vec![
        (Box::new(Sphere::new(3).expect("D ≥ 2")), sphere.clone()),
        (Box::new(Sphere::new(10).expect("D ≥ 2")), {
            let mut p = vec![(1.0 + off) / 10f64.sqrt(); 10];
            p[0] *= -1.0;
            p
        }),
        (Box::new(torus), tp),
        (Box::new(SpecialOrthogonal::new(3).expect("n ≥ 2")), rot),
        (Box::new(SphereCap::new(3, 0.5).expect("valid cap")), cap),
    ]
}

/// Experiment 1: explicit landing's contraction, implicit landing's quadratic convergence, the
/// built-in Jacobians and projectors.
pub fn mechanics(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome(
        "Landing mechanics without noise: explicit landing contracts the violation by 1 − ασ²Δt per step, implicit landing (one Gauss–Newton step) converges quadratically; the built-in sets' Jacobians against finite differences and their projectors",
    );
    let rates = [0.1, 0.5, 1.0, 1.5, 1.9];
    let mut t = Table::deterministic(
        "explicit landing: measured contraction |h_{k+1}|/|h_k| of steps 5–6 against |1 − ασ²Δt|",
        &["set", "ασ²Δt", "measured", "predicted", "|difference|"],
    );
    let mut worst_contraction = 0.0f64;
    for (set, x) in near_points(2e-5) {
        for &rate in &rates {
            let hs = landing_iterates(set.as_ref(), &x, rate, 6)?;
            let (measured, predicted) = if rate == 1.0 {
                // One step removes h to second order: compare h_1 with h_0 instead.
                (
                    hs[0] / Frame::at(set.as_ref(), &x, 0.0)?.eq_violation(),
                    0.0,
                )
            } else {
                (hs[5] / hs[4], (1.0f64 - rate).abs())
            };
            let diff = (measured - predicted).abs();
            worst_contraction = worst_contraction.max(diff);
            t.push(vec![
                set.name().into(),
                rate.into(),
                measured.into(),
                predicted.into(),
                diff.into(),
            ]);
        }
    }
    out.tables.push(t);
    out.claims.push(Claim::check(
        "explicit landing contracts the equality violation by |1 − ασ²Δt| per step (5 sets × 5 rates in (0, 2), |h| ≈ 2e-5)",
        worst_contraction,
        Threshold::AbsAtMost(1e-3),
    ));

    // Implicit landing: Gauss–Newton steps from |h| ≈ 0.05; order of convergence
    // log|h_{k+1}| / log|h_k| while |h| > 1e-12, and the sphere's closed form
    // h' = h²/(2|x|²) (up to the 1e-6 ridge).
    let mut t = Table::deterministic(
        "implicit landing from |h| ≈ 0.05: violation after each Gauss–Newton step and the order log|h_{k+1}|/log|h_k|",
        &["set", "step", "|h|", "order"],
    );
    let mut worst_order = f64::INFINITY;
    let mut sphere_closed_form = 0.0f64;
    for (set, x0) in near_points(0.05) {
        let mut x = x0.clone();
        let mut prev = Frame::at(set.as_ref(), &x, 0.0)?.eq_violation();
        for k in 1..=4usize {
            let f = Frame::at(set.as_ref(), &x, 0.0)?;
            if set.name() == "S^2" {
                let h = f.h()[0];
                let n2: f64 = x.iter().map(|v| v * v).sum();
                let g = n2 + crate::GRAM_RIDGE;
                // x' = x(1 − h/g) exactly, so h' = (|x|²(1 − h/g)² − 1)/2.
                let want = 0.5 * (n2 * (1.0 - h / g).powi(2) - 1.0);
                for (a, v) in x.iter_mut().zip(f.landing()) {
                    *a -= v;
                }
                let got = Frame::at(set.as_ref(), &x, 0.0)?.h()[0];
                if want.abs() > 1e-10 {
                    sphere_closed_form = sphere_closed_form.max((got - want).abs() / want.abs());
                }
            } else {
                for (a, v) in x.iter_mut().zip(f.landing()) {
                    *a -= v;
                }
            }
            let now = Frame::at(set.as_ref(), &x, 0.0)?.eq_violation();
            let order = now.ln() / prev.ln();
            if prev > 1e-6 && now > 0.0 {
                worst_order = worst_order.min(order);
            }
            t.push(vec![set.name().into(), k.into(), now.into(), order.into()]);
            prev = now;
            if now < 1e-14 {
                break;
            }
        }
    }
    out.tables.push(t);
    out.claims.push(Claim::check(
        "implicit landing converges quadratically: every Gauss–Newton step from |h| > 1e-6 has order log|h_{k+1}|/log|h_k| ≥ 1.8 (5 sets)",
        worst_order,
        Threshold::AtLeast(1.8),
    ));
    out.claims.push(Claim::check(
        "on S² one implicit step gives h' = (|x|²(1 − h/(|x|² + 10⁻⁶))² − 1)/2 (closed form), relative error",
        sphere_closed_form,
        Threshold::AbsAtMost(1e-6),
    ));

    // The built-in Jacobians against central differences, and P² = P, PJᵀ = 0.
    let mut t = Table::deterministic(
        "built-in sets at a nearby point: Jacobian vs central differences (relative), |P² − P|∞, |PJᵀ|∞ and tr(P) against D − (number of equalities)",
        &["set", "Jacobian error", "|P² − P|", "|PJᵀ|", "tr(P)", "D − m"],
    );
    let (mut jac, mut idem, mut trace_err) = (0.0f64, 0.0f64, 0.0f64);
    for (set, x) in near_points(1e-3) {
        let err = check_jacobian(set.as_ref(), &x, 1e-5)?;
        let f = Frame::at(set.as_ref(), &x, 0.0)?;
        let d = set.dim();
        let p = f.projector();
        let mut p2 = 0.0f64;
        for i in 0..d {
            for j in 0..d {
                let v: f64 = (0..d).map(|k| p[i * d + k] * p[k * d + j]).sum();
                p2 = p2.max((v - p[i * d + j]).abs());
            }
        }
        let (mut jh, mut jg) = (vec![0.0; set.n_eq() * d], vec![0.0; set.n_ineq() * d]);
        set.jacobian(&x, &mut jh, &mut jg);
        let mut pj = 0.0f64;
        for row in jh.chunks_exact(d) {
            let mut v = row.to_vec();
            f.project(&mut v)?;
            pj = v.iter().fold(pj, |a, b| a.max(b.abs()));
        }
        let tr: f64 = (0..d).map(|i| p[i * d + i]).sum();
        let want = (d - set.n_eq()) as f64;
        jac = jac.max(err);
        idem = idem.max(p2).max(pj);
        trace_err = trace_err.max((tr - want).abs());
        t.push(vec![
            set.name().into(),
            err.into(),
            p2.into(),
            pj.into(),
            tr.into(),
            want.into(),
        ]);
    }
    out.tables.push(t);
    out.claims.push(Claim::check(
        "the built-in sets' Jacobians agree with central finite differences of their constraints (relative)",
        jac,
        Threshold::AbsAtMost(1e-6),
    ));
    out.claims.push(Claim::check(
        "the tangent projector is idempotent and annihilates the constraint normals: max(|P² − P|, |PJᵀ|)",
        idem,
        Threshold::AbsAtMost(1e-5),
    ));
    out.claims.push(Claim::check(
        "tr(P) equals the set's dimension D − m (up to the 10⁻⁶ ridge)",
        trace_err,
        Threshold::AbsAtMost(1e-4),
    ));
    Ok(out)
}
