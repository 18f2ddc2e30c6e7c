use crate::{chernoff_xi, DeterministicStructure};
use nalgebra::DMatrix;
use repro::{BoxError, Claim, Plot, PlotKind, RunContext, Series, Table, Threshold};

/// Experiment 3: `ξ` for the two-state example, identical emissions, and ξ as the emission noise
/// varies.
pub fn xi_constant(ctx: &RunContext) -> Result<repro::Outcome, BoxError> {
    let mut out = ctx.outcome("Thm 5.7: the Chernoff-type constant ξ");
    let swap = DeterministicStructure::from_successors(vec![1, 0])?;
    let e = |a: f64| DMatrix::from_row_slice(2, 2, &[a, 1.0 - a, 1.0 - a, a]);
    let xi = chernoff_xi(&swap, &e(0.9))?;
    out.claims.push(Claim::check(
        "two-state example (E = [[.9,.1],[.1,.9]]): ξ = 0.7206",
        xi,
        Threshold::Near {
            target: 0.72060,
            tol: 1e-4,
        },
    ));
    let fixed = DeterministicStructure::from_successors(vec![0, 1])?;
    let same = DMatrix::from_row_slice(2, 2, &[0.3, 0.3, 0.7, 0.7]);
    out.claims.push(Claim::check(
        "identical emissions give ξ = 0",
        chernoff_xi(&fixed, &same)?,
        Threshold::AbsAtMost(0.0),
    ));
    out.claims.push(Claim::check(
        "λ = 0.7 of the §6.1 schedule is admissible: λ < ξ (margin ξ − 0.7)",
        xi - 0.7,
        Threshold::AtLeast(0.0),
    ));
    let accs: Vec<f64> = (0..=16).map(|i| 0.5 + 0.03 * i as f64).collect();
    let xis: Vec<f64> = accs
        .iter()
        .map(|&a| chernoff_xi(&swap, &e(a)))
        .collect::<Result<_, _>>()?;
    out.claims.push(Claim::check(
        "ξ grows with emission accuracy a (smallest increment along a = 0.5 … 0.98)",
        xis.windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min),
        Threshold::AtLeast(0.0),
    ));
    let mut t = Table::deterministic(
        "ξ vs emission accuracy a (E = [[a, 1−a], [1−a, a]], T = swap)",
        &["a", "ξ"],
    );
    for (&a, &x) in accs.iter().zip(&xis) {
        t.push(vec![a.into(), x.into()]);
    }
    out.tables.push(t);
    out.plots.push(Plot::new(
        "xi-vs-accuracy",
        "ξ of the two-state swap vs emission accuracy",
        "a",
        "ξ",
        PlotKind::Line(vec![Series::new("ξ", accs, xis)]),
    ));
    out.notes.push("ξ = min_{i≠j} (1/M) Σ_n ∫_{−1/M}^0 Λ_n(t)/t dt with Λ_n(t) = log Σ_o p_o^{1+t} q_o^{−t}, by double-exponential quadrature (tolerance 1e-12).".into());
    Ok(out)
}
