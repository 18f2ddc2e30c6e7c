use super::{quadratic, thin};
use crate::bounds::error_floor;
use crate::{
    gradient_fn, run, Adversarial, BoundedRandom, Certificate, Constant, DelayedGradient,
    GradientDescent, LogisticRegression, Objective, QuantizedMessage, Quantizer,
};
use nalgebra::DVector;
use repro::{BoxError, Claim, Outcome, Plot, PlotKind, RunContext, Series, Table, Threshold};

/// The disturbances of the experiment.
const KINDS: [&str; 5] = [
    "bounded (‖d‖ ≤ 0.1)",
    "adversarial (‖d‖ = 0.1, away from x*)",
    "quantised gradient, 8 bits, nearest",
    "quantised gradient, 4 bits, dithered",
    "delayed gradient, τ = 2",
];

/// One cell's record.
struct Cell {
    problem: &'static str,
    kind: &'static str,
    steps: usize,
    violations: usize,
    max_ratio: f64,
    final_error: f64,
    sup_d: f64,
    floor: f64,
    saturated: u64,
    /// Steps, measured error and bound, thinned for the plot (one disturbance only).
    plot: Option<(Vec<f64>, Vec<f64>, Vec<f64>)>,
}

/// Runs one disturbance on one problem and checks the certificate.
fn cell<O: Objective + Clone + Send + 'static>(
    problem: &'static str,
    obj: &O,
    x_star: &DVector<f64>,
    kind: usize,
    steps: usize,
    seed: u64,
) -> Result<Cell, BoxError> {
    let l = obj.smoothness();
    // The delay needs the small-gain condition η τ κ L < 1 to converge; the others run at 1/L.
    let kappa = l / obj.strong_convexity();
    let eta = if kind == 4 {
        0.5 / (2.0 * kappa * l)
    } else {
        1.0 / l
    };
    let mut gd = GradientDescent::new(obj.clone(), eta)?;
    let rate = gd.rate()?;
    let x0 = x_star.map(|v| v + 1.0);
    let grad = gradient_fn(obj);
    // The quantiser's range: a bound on every gradient coordinate along the run,
    // L (‖x₀ − x*‖ + 1) (the error stays below ‖x₀ − x*‖ plus the disturbance's floor).
    let range = l * ((&x0 - x_star).norm() + 1.0);
    let mut saturated = 0;
    let trajectory = match kind {
        0 => run(
            &mut gd,
            &mut BoundedRandom::new(0.1, seed)?,
            &x0,
            x_star,
            steps,
        )?,
        1 => run(
            &mut gd,
            &mut Adversarial::new(0.1, x_star.clone())?,
            &x0,
            x_star,
            steps,
        )?,
        2 | 3 => {
            let q = if kind == 2 {
                Quantizer::nearest(range, 8)?
            } else {
                Quantizer::dithered(range, 4, seed)?
            };
            let mut d = QuantizedMessage::new(q, -eta, grad)?;
            let t = run(&mut gd, &mut d, &x0, x_star, steps)?;
            saturated = d.quantizer().saturated();
            t
        }
        _ => run(
            &mut gd,
            &mut DelayedGradient::new(2, eta, grad)?,
            &x0,
            x_star,
            steps,
        )?,
    };
    let cert = Certificate::check(&rate, &trajectory, 1e-12)?;
    let sup_d = trajectory.disturbances.iter().copied().fold(0.0, f64::max);
    let plot = (kind == 1).then(|| {
        let stride = (steps / 200).max(1);
        let (x, m) = thin(&cert.measured, stride);
        (x, m, thin(&cert.bound, stride).1)
    });
    Ok(Cell {
        problem,
        kind: KINDS[kind],
        steps,
        violations: cert.violations,
        // After the start, where the bound equals c‖x₀ − x*‖ ≥ the error by construction.
        max_ratio: cert
            .measured
            .iter()
            .zip(&cert.bound)
            .skip(1)
            .map(|(m, b)| m / b)
            .fold(0.0, f64::max),
        final_error: *trajectory.errors.last().unwrap_or(&f64::NAN),
        sup_d,
        floor: error_floor(&rate, sup_d)?,
        saturated,
        plot,
    })
}

/// Experiment 1: the trajectory bound along runs of every kind of disturbance.
pub fn trajectory(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome(
        "The ISS trajectory bound along disturbed gradient descent: quadratic (n = 20, κ = 10) and logistic regression (breast cancer, λ = 0.1)",
    );
    let steps = ctx.profile.pick(2_000, 10_000);
    out.param("steps", steps);
    out.param("tolerance", 1e-12);
    let q = quadratic(20, 10.0, ctx.derive_seed("quadratic"))?;
    let q_star = q.minimizer().clone();
    let lr = LogisticRegression::from_dataset(&core_data::data::Dataset::breast_cancer()?, 0.1)?;
    let lr_star = lr.minimizer()?;
    out.param("logistic_L", lr.smoothness());
    let cells: Vec<(usize, usize)> = (0..2)
        .flat_map(|p| (0..KINDS.len()).map(move |k| (p, k)))
        .collect();
    let results = ctx.map_cells("run", &cells, |&(p, k), _| {
        let seed = ctx.derive_seed(("disturbance", p, k));
        if p == 0 {
            cell("quadratic", &q, &q_star, k, steps, seed)
        } else {
            cell("logistic (breast cancer)", &lr, &lr_star, k, steps, seed)
        }
    })?;
    let mut t = Table::new(
        "Gradient descent under each disturbance: violations of ‖x_k − x*‖ ≤ cρ^k‖x₀ − x*‖ + L_V Σ ρ^{k−1−j}‖d_j‖ (+1e-12) over every step",
        &[
            "problem",
            "disturbance",
            "steps",
            "violations",
            "max measured / bound (k ≥ 1)",
            "final error",
            "sup ‖d‖",
            "floor γ sup ‖d‖",
            "quantiser saturations",
        ],
    );
    let (mut violations, mut checked, mut saturations) = (0usize, 0usize, 0u64);
    for c in &results {
        t.push(vec![
            c.problem.into(),
            c.kind.into(),
            c.steps.into(),
            c.violations.into(),
            c.max_ratio.into(),
            c.final_error.into(),
            c.sup_d.into(),
            c.floor.into(),
            (c.saturated as usize).into(),
        ]);
        violations += c.violations;
        checked += c.steps + 1;
        saturations += c.saturated;
    }
    out.tables.push(t);
    out.claims.push(Claim::check_none(
        "the trajectory bound holds at every step of every run (steps that break it by more than 1e-12)",
        violations,
        checked,
    ));
    out.claims.push(Claim::check_none(
        "no quantised gradient fell outside the quantiser's range (values clipped)",
        saturations as usize,
        checked,
    ));
    // Tightness: a constant disturbance along the weakest eigenvector, from x*.
    let eta = 1.0 / q.smoothness();
    let mut gd = GradientDescent::new(q.clone(), eta)?;
    let rate = gd.rate()?;
    let d = q.weakest_direction() * 0.05;
    let tight_steps = ctx.profile.pick(2_000, 10_000);
    let tr = run(
        &mut gd,
        &mut Constant::new(d)?,
        &q_star,
        &q_star,
        tight_steps,
    )?;
    let floor = error_floor(&rate, 0.05)?;
    let ratio = tr.errors[tight_steps] / floor;
    out.param("tightness_floor", floor);
    out.claims.push(Claim::check(
        "a constant disturbance along the weakest eigenvector reaches the sup bound's floor ‖d‖/(1 − ρ) (final error / floor)",
        ratio,
        Threshold::Between(0.999, 1.0 + 1e-9),
    ));

    if let Some(c) = results.iter().find(|c| c.plot.is_some()) {
        let (x, m, b) = c.plot.clone().unwrap_or_default();
        out.plots.push(
            Plot::new(
                "trajectory-bound",
                &format!("{}: {} — measured error and its bound", c.problem, c.kind),
                "step k",
                "‖x_k − x*‖",
                PlotKind::Line(vec![
                    Series::new("measured", x.clone(), m),
                    Series::new("bound", x, b).styled(1, true),
                ]),
            )
            .log_axes(false, true),
        );
    }
    out.notes.push(
        "Step size 1/L for every disturbance but the delay, which runs at η = 1/(4κL) so that ητκL = 1/2 < 1 (with τ = 2). The quantiser's range is L(‖x₀ − x*‖ + 1), a bound on every gradient coordinate along the run; its saturation count is reported.".into(),
    );
    Ok(out)
}
