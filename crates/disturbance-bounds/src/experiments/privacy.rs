use super::quadratic;
use crate::bounds::mean_square_floor;
use crate::privacy::{
    clipped_sensitivity, privacy_utility_curve, sigma_for_epsilon, zcdp_noisy_gd, zcdp_to_epsilon,
};
use crate::{monte_carlo, GaussianNoise, GradientDescent, Objective, Quadratic};
use nalgebra::{DMatrix, DVector};
use repro::{
    BoxError, Claim, Estimate, Outcome, Plot, PlotKind, RunContext, Series, Table, Threshold,
};

/// Dimension of the parameter, and the steps of every run.
const DIM: usize = 20;

/// The squared error at the last of `steps` steps of noisy gradient descent
/// `x ↦ x − η(∇F(x) + w)`, `w ~ N(0, σ²I)` (the disturbance `d = −ηw`, of standard deviation
/// `ησ` per coordinate), from `x*`, one run per seed.
fn final_square_errors(
    ctx: &RunContext,
    q: &Quadratic,
    eta: f64,
    sigma: f64,
    steps: usize,
    runs: usize,
    label: &str,
) -> Result<Vec<f64>, BoxError> {
    let mc = monte_carlo(runs, steps, q.minimizer(), q.minimizer(), |i| {
        Ok((
            GradientDescent::new(q.clone(), eta)?,
            GaussianNoise::new(eta * sigma, ctx.derive_seed((label, i)))?,
        ))
    })?;
    Ok(mc.final_errors.iter().map(|e| e * e).collect())
}

/// An estimate divided by an exact value (its interval and standard error with it).
fn relative_to(m: &Estimate, exact: f64) -> Estimate {
    Estimate::with_interval(
        m.value / exact,
        m.std_error.map(|s| s / exact),
        m.interval
            .map_or([f64::NAN; 2], |[lo, hi]| [lo / exact, hi / exact]),
        m.replicates,
        "Student t, scaled by the exact value",
    )
}

/// Experiment 4: noisy gradient descent, its error floor and its privacy.
pub fn privacy(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome(
        "Noisy gradient descent x ↦ x − η(∇F(x) + w), w ~ N(0, σ²I): the stationary mean-square error against E‖x − x*‖² ≤ η²nσ²/(1 − ρ²), and the privacy–utility curve",
    );
    let runs = 2000;
    let steps = ctx.profile.pick(100usize, 400);
    let sigma = 0.5;
    out.param("runs", runs);
    out.param("steps", steps);
    out.param("dimension", DIM);
    out.param("sigma", sigma);

    // Isotropic: F = (μ/2)‖x − x*‖², so x − x* ↦ (1 − ημ)(x − x*) − ηw and the bound is the
    // exact stationary second moment.
    let mu = 2.0;
    let iso = Quadratic::new(DMatrix::identity(DIM, DIM) * mu, DVector::zeros(DIM))?;
    let eta = 0.25;
    let rate = GradientDescent::new(iso.clone(), eta)?.rate()?;
    let exact = mean_square_floor(&rate, eta * eta * DIM as f64 * sigma * sigma)?;
    let sq = final_square_errors(ctx, &iso, eta, sigma, steps, runs, "isotropic")?;
    let m = Estimate::mean(&sq)?;
    // Transient: from x*, E‖x_K − x*‖² = exact · (1 − ρ^{2K}); ρ^{2K} is below 1e-12 here.
    let ratio = relative_to(&m, exact);
    out.claims.push(
        Claim::finding_estimate(
            "isotropic quadratic: the simulated stationary mean-square error is within 5% of η²nσ²/(1 − ρ²) (ratio)",
            ratio,
            Threshold::Between(0.95, 1.05),
        )
        .paper_value("the bound is exact there (the notes: within 5% over ≥ 2000 runs)"),
    );

    // Anisotropic: κ = 10, the bound with ρ = max|1 − ηλ| against the simulation and against
    // the exact second moment Σ_i η²σ²/(1 − (1 − ηλ_i)²).
    let q = quadratic(DIM, 10.0, ctx.derive_seed("anisotropic"))?;
    let eta_a = 1.0 / q.smoothness();
    let rate_a = GradientDescent::new(q.clone(), eta_a)?.rate()?;
    let bound = mean_square_floor(&rate_a, eta_a * eta_a * DIM as f64 * sigma * sigma)?;
    let eig = q.hessian().clone().symmetric_eigen().eigenvalues;
    let exact_a: f64 = eig
        .iter()
        .map(|&l| eta_a * eta_a * sigma * sigma / (1.0 - (1.0 - eta_a * l).powi(2)))
        .sum();
    let sq_a = final_square_errors(ctx, &q, eta_a, sigma, steps * 4, runs, "anisotropic")?;
    let m_a = Estimate::mean(&sq_a)?;
    out.claims.push(Claim::check(
        "anisotropic quadratic (κ = 10): the exact stationary mean square Σ η²σ²/(1 − (1 − ηλ_i)²) is at most the bound η²nσ²/(1 − ρ²) (exact / bound)",
        exact_a / bound,
        Threshold::AtMost(1.0),
    ));
    out.claims.push(
        Claim::finding_estimate(
            "anisotropic quadratic: the simulated stationary mean square matches its exact value Σ η²σ²/(1 − (1 − ηλ_i)²) within 5% (ratio)",
            relative_to(&m_a, exact_a),
            Threshold::Between(0.95, 1.05),
        ),
    );
    let mut t = Table::new(
        "Stationary mean-square error of noisy gradient descent (2000 runs, last iterate)",
        &[
            "problem",
            "η",
            "ρ",
            "simulated E‖x − x*‖²",
            "95% interval",
            "exact",
            "bound η²nσ²/(1 − ρ²)",
        ],
    );
    for (name, e, r, est, ex, b) in [
        ("isotropic (μ = 2)", eta, rate.rho(), &m, exact, exact),
        ("κ = 10", eta_a, rate_a.rho(), &m_a, exact_a, bound),
    ] {
        t.push(vec![
            name.into(),
            e.into(),
            r.into(),
            est.value.into(),
            est.interval
                .map_or("—".to_string(), |[lo, hi]| format!("[{lo:.5}, {hi:.5}]"))
                .into(),
            ex.into(),
            b.into(),
        ]);
    }
    out.tables.push(t);

    // Privacy: n = 569 samples (breast cancer's size), gradients clipped to G = 1, K steps.
    let n_samples = 569;
    let k = 200;
    let sens = clipped_sensitivity(1.0, n_samples)?;
    let epsilons = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];
    let mut curve_t = Table::deterministic(
        "Privacy–utility of noisy gradient descent (n = 569 samples, G = 1, K = 200 steps, κ = 10 quadratic, d = 20): the noise that buys (ε, δ) and the error floor it costs",
        &["δ", "ε", "σ", "ε recomputed from σ (zCDP → (ε, δ))", "floor η²nσ²/(1 − ρ²)"],
    );
    // The nominal spectrum's rate (μ = 1, L = 10, η = 1/L = 0.1), so the curve does not depend
    // on the random rotation.
    let nominal = crate::Rate::gradient_descent_c2(1.0, 10.0, 0.1)?;
    let mut series = Vec::new();
    let mut roundtrip = 0.0f64;
    for (ci, delta) in [1e-5, 1e-6].into_iter().enumerate() {
        let pts = privacy_utility_curve(&nominal, 0.1, DIM, k, sens, delta, &epsilons)?;
        for p in &pts {
            let back = zcdp_to_epsilon(zcdp_noisy_gd(k, sens, p.sigma)?, delta)?;
            roundtrip = roundtrip.max((back - p.epsilon).abs() / p.epsilon);
            curve_t.push(vec![
                delta.into(),
                p.epsilon.into(),
                p.sigma.into(),
                back.into(),
                p.floor.into(),
            ]);
        }
        series.push(
            Series::new(
                format!("δ = {delta:e}"),
                pts.iter().map(|p| p.epsilon).collect(),
                pts.iter().map(|p| p.floor).collect(),
            )
            .styled(ci, ci == 1),
        );
    }
    out.tables.push(curve_t);
    out.claims.push(Claim::check(
        "the noise chosen for each ε gives back that ε through zCDP composition and its (ε, δ) conversion (max relative difference)",
        roundtrip,
        Threshold::AtMost(1e-12),
    ));
    let s1 = sigma_for_epsilon(1.0, 1e-5, k, sens)?;
    out.param("sigma_at_epsilon_1_delta_1e-5", s1);
    out.plots.push(
        Plot::new(
            "privacy-utility",
            "Privacy–utility curve of noisy gradient descent",
            "ε",
            "stationary mean-square error bound",
            PlotKind::Line(series),
        )
        .log_axes(true, true),
    );
    out.notes.push("Each run starts at x* (so the transient is zero) and records the squared error of its last iterate; the 2000 runs are independent (one noise stream each). The anisotropic runs are 4× longer (ρ = 1 − 1/κ).".into());
    Ok(out)
}
