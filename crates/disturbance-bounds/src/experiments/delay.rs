use crate::bounds::{delay_loop_gain, max_certified_delay};
use crate::{
    gradient_fn, run, BoundsError, DelayedGradient, GradientDescent, Objective, Quadratic,
};
use nalgebra::{DMatrix, DVector};
use repro::{BoxError, Claim, Outcome, RunContext, Table};

/// Step sizes, as multiples of 1/L.
const ETAS: [f64; 4] = [0.02, 0.05, 0.1, 0.2];

/// Whether delayed gradient descent converges: the error after `steps` steps is below `1e-4`
/// of the initial one (a run that leaves the finite numbers diverged).
fn converges<O: Objective + Clone + 'static>(
    obj: &O,
    x_star: &DVector<f64>,
    eta: f64,
    tau: usize,
    steps: usize,
) -> Result<bool, BoxError> {
    let mut d = DelayedGradient::new(tau, eta, gradient_fn(obj))?;
    let mut gd = GradientDescent::new(obj.clone(), eta)?;
    let x0 = x_star.map(|v| v + 1.0);
    match run(&mut gd, &mut d, &x0, x_star, steps) {
        Ok(t) => Ok(t.errors[steps] <= 1e-4 * t.errors[0]),
        Err(BoundsError::NonFinite { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Experiment 5: delayed gradients and the small-gain condition.
pub fn delay(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome(
        "Gradient descent with τ-step-old gradients on a quadratic (n = 10, κ = 10): convergence under the small-gain condition ητκL < 1, and the measured threshold in τ",
    );
    // Gradient descent is rotation-equivariant, so a diagonal quadratic (eigenvalues evenly
    // spaced on [1, 10], x* = 0) shows every rotation's behaviour, and nothing here is random.
    let eigs = DVector::from_fn(10, |i, _| 1.0 + 9.0 * i as f64 / 9.0);
    let q = Quadratic::new(DMatrix::from_diagonal(&eigs), DVector::zeros(10))?;
    let (mu, l) = (q.strong_convexity(), q.smoothness());
    let x_star = q.minimizer().clone();
    let max_tau = ctx.profile.pick(40usize, 80);
    let taus: Vec<usize> = (0..=max_tau).collect();
    out.param("max_tau", max_tau);
    let cells: Vec<(usize, usize)> = (0..ETAS.len())
        .flat_map(|e| taus.iter().map(move |&t| (e, t)))
        .collect();
    let conv = ctx.map_cells("run", &cells, |&(e, tau), _| {
        let eta = ETAS[e] / l;
        // Long enough to converge at the undelayed rate 1 − ημ (e^{−12} in 12/(ημ) steps), with
        // a margin of min(τ + 1, 4) for the delay; at most 100,000 steps.
        let steps = ((12.0 / (eta * mu)) as usize * (tau + 1).min(4)).min(100_000);
        converges(&q, &x_star, eta, tau, steps)
    })?;
    let mut t = Table::deterministic(
        "Delayed gradient descent: the largest delay the condition ητκL < 1 certifies, and the smallest delay at which the run stops converging",
        &[
            "η · L",
            "certified τ (ητκL < 1)",
            "converged at every certified τ",
            "smallest τ that does not converge",
            "measured / certified (threshold)",
        ],
    );
    let (mut bad, mut certified_cells) = (0usize, 0usize);
    for (e, &factor) in ETAS.iter().enumerate() {
        let eta = factor / l;
        let cert = max_certified_delay(eta, mu, l)?;
        let mut all = true;
        let mut first_fail = None;
        for (&(ce, tau), &ok) in cells.iter().zip(&conv) {
            if ce != e {
                continue;
            }
            if delay_loop_gain(eta, tau, mu, l)? < 1.0 {
                certified_cells += 1;
                bad += usize::from(!ok);
                all &= ok;
            }
            if !ok && first_fail.is_none() {
                first_fail = Some(tau);
            }
        }
        t.push(vec![
            factor.into(),
            cert.into(),
            (if all { "yes" } else { "no" }).into(),
            first_fail.map_or_else(|| format!("> {max_tau}").into(), |v| v.into()),
            match (first_fail, cert) {
                (Some(v), c) if c > 0 => (v as f64 / c as f64).into(),
                (Some(_), _) => "— (only τ = 0 certified)".into(),
                (None, _) => "—".into(),
            },
        ]);
    }
    out.tables.push(t);
    out.claims.push(Claim::check_none(
        "every run whose delay satisfies ητκL < 1 converges (runs that do not)",
        bad,
        certified_cells,
    ));
    out.notes.push("The condition is sufficient, not necessary: the measured threshold sits well above the certified delay, as the ratio column shows. A run converges when its error falls below 1e-4 of the initial error within 12/(ημ)·min(τ + 1, 4) steps (so a delay just below the true threshold, where convergence is slow, can count as not converging: the measured threshold is a lower estimate); a run that overflows diverged.".into());
    Ok(out)
}
