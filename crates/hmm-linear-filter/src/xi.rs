use crate::structure::DeterministicStructure;
use crate::HmmError;
use nalgebra::DMatrix;
use std::collections::HashMap;

/// Largest period `M` for which [`chernoff_xi`] runs (each pair of states costs the period of
/// its own orbit, at most `|S|²` integrals).
pub const MAX_ORDER: u64 = 100_000;

/// `Λ(t) = log Σ_o p_o^{1+t} q_o^{−t}` (the log moment generating function of the log-likelihood
/// ratio `log(p/q)` under `p`), in the log domain; zero-probability terms drop out.
fn cumulant(p: &[f64], q: &[f64], t: f64) -> f64 {
    let terms: Vec<f64> = p
        .iter()
        .zip(q)
        .filter(|(&pi, &qi)| pi > 0.0 && qi > 0.0)
        .map(|(&pi, &qi)| (1.0 + t) * pi.ln() - t * qi.ln())
        .collect();
    core_linalg::logsumexp(&terms)
}

/// `∫_{−1/M}^0 Λ(t)/t dt` by double-exponential quadrature (the integrand's removable
/// singularity at 0 has limit `Λ'(0) = KL(p‖q)`; DE quadrature never evaluates the endpoints,
/// and points within `1e-7` of 0 use the limit to avoid cancellation).
/// Accepted quadrature error: the estimate must be at most this, relative to `max(1, |∫|)`.
pub const XI_QUADRATURE_TOL: f64 = 1e-9;

fn integral(p: &[f64], q: &[f64], m: f64) -> Result<f64, HmmError> {
    let kl: f64 = p
        .iter()
        .zip(q)
        .filter(|(&pi, _)| pi > 0.0)
        .map(|(&pi, &qi)| pi * (pi / qi).ln())
        .sum();
    if !kl.is_finite() {
        return Ok(f64::INFINITY);
    }
    if kl == 0.0 {
        return Ok(0.0);
    }
    let f = |t: f64| {
        if t.abs() < 1e-7 {
            kl
        } else {
            cumulant(p, q, t) / t
        }
    };
    // Λ is convex with Λ(−1) ≤ 0 = Λ(0), so Λ(t)/t ≥ 0 on [−1/M, 0] and so is the integral;
    // a negative result (seen down to −1e-30 for nearly equal p and q) is rounding.
    let out = quadrature::double_exponential::integrate(f, -1.0 / m, 0.0, 1e-12);
    let tolerance = XI_QUADRATURE_TOL * out.integral.abs().max(1.0);
    let converged = out.error_estimate <= tolerance && out.integral.is_finite();
    if !converged {
        return Err(HmmError::Quadrature {
            integral: out.integral,
            error_estimate: out.error_estimate,
            tolerance,
        });
    }
    Ok(out.integral.max(0.0))
}

/// The length of the cycle through the recurrent state `i`.
fn cycle_len(succ: &[usize], i: usize) -> usize {
    let (mut v, mut len) = (succ[i], 1);
    while v != i {
        v = succ[v];
        len += 1;
    }
    len
}

fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a / x * b
}

/// The Chernoff-type constant `ξ` of the paper's rate theorem (Thm 5.7):
///
/// `ξ = min_{i≠j} −(1/M) Σ_{n=1}^{M} ∫_0^{−1/M} Λ_n(t)/t dt`, with `Λ_n(t) = log E_p[(p/q)^t]`,
/// `p = E[:, P^n i]`, `q = E[:, P^n j]`, `i ≠ j` recurrent states and `M` the order of `P`.
///
/// `ξ = 0` when two recurrent states emit identical sequences (Assumption 5.6 fails); `+∞` when
/// some pair is told apart with certainty. Each integral's quadrature error estimate must be
/// within [`XI_QUADRATURE_TOL`] (relative to `max(1, |∫|)`), else [`HmmError::Quadrature`].
pub fn chernoff_xi(
    structure: &DeterministicStructure,
    emission: &DMatrix<f64>,
) -> Result<f64, HmmError> {
    let n = structure.n_states();
    if emission.ncols() != n {
        return Err(HmmError::Shape {
            what: "emission columns",
            expected: format!("{n}"),
            got: format!("{}", emission.ncols()),
        });
    }
    // ξ is defined for probability columns; anything else can make it negative.
    core_linalg::check_column_stochastic(emission, core_linalg::STOCHASTIC_TOL)
        .map_err(HmmError::Emission)?;
    let m = match structure.order() {
        Some(m) if m <= MAX_ORDER => m,
        other => {
            return Err(HmmError::Unsupported(format!(
                "period M = {other:?} of the permutation exceeds {MAX_ORDER}"
            )))
        }
    };
    let rec: Vec<usize> = (0..n).filter(|&s| structure.recurrent()[s]).collect();
    if rec.len() < 2 {
        return Err(HmmError::Unsupported(
            "ξ needs at least two recurrent states".into(),
        ));
    }
    let cols: Vec<Vec<f64>> = (0..n)
        .map(|s| emission.column(s).iter().copied().collect())
        .collect();
    let succ = structure.successors();
    let mut cache: HashMap<(usize, usize), f64> = HashMap::new();
    let mut xi = f64::INFINITY;
    for &i in &rec {
        for &j in &rec {
            if i == j {
                continue;
            }
            // The pair (Pⁿi, Pⁿj) repeats with period L = lcm(cycle lengths of i and j), which
            // divides M: the average over M steps is the average over L (O(L) ≤ O(|S|²)
            // integrals per pair instead of O(M)).
            let period = lcm(cycle_len(succ, i), cycle_len(succ, j));
            let (mut a, mut b) = (i, j);
            let mut total = 0.0;
            for _ in 0..period {
                a = succ[a];
                b = succ[b];
                total += match cache.get(&(a, b)) {
                    Some(&v) => v,
                    None => {
                        let v = integral(&cols[a], &cols[b], m as f64)?;
                        cache.insert((a, b), v);
                        v
                    }
                };
            }
            xi = xi.min(total / period as f64);
        }
    }
    Ok(xi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent reference: composite midpoint rule on the same integral.
    fn midpoint(p: &[f64], q: &[f64], m: f64, n: usize) -> f64 {
        let a = -1.0 / m;
        let h = -a / n as f64;
        (0..n)
            .map(|k| {
                let t = a + (k as f64 + 0.5) * h;
                let l = p
                    .iter()
                    .zip(q)
                    .map(|(pi, qi)| pi.powf(1.0 + t) * qi.powf(-t))
                    .sum::<f64>()
                    .ln();
                l / t * h
            })
            .sum()
    }

    #[test]
    fn two_state_example_matches_paper_and_midpoint_rule() {
        let s = DeterministicStructure::from_successors(vec![1, 0]).unwrap();
        let e = DMatrix::from_row_slice(2, 2, &[0.9, 0.1, 0.1, 0.9]);
        let xi = chernoff_xi(&s, &e).unwrap();
        assert!((xi - 0.7206).abs() < 1e-4, "{xi}");
        let reference = midpoint(&[0.9, 0.1], &[0.1, 0.9], 2.0, 400_000);
        assert!((xi - reference).abs() < 1e-9, "{xi} vs {reference}");
    }

    #[test]
    fn identical_emissions_give_zero_and_errors() {
        // Three fixed points; states 0 and 1 emit identically, so no observation tells them apart.
        let s = DeterministicStructure::from_successors(vec![0, 1, 2]).unwrap();
        let e = DMatrix::from_row_slice(2, 3, &[0.4, 0.4, 0.3, 0.6, 0.6, 0.7]);
        assert_eq!(chernoff_xi(&s, &e).unwrap(), 0.0);
        // A 3-cycle where all states emit identically: every pair has identical sequences.
        let c = DeterministicStructure::from_successors(vec![1, 2, 0]).unwrap();
        let same = DMatrix::from_row_slice(2, 3, &[0.4, 0.4, 0.4, 0.6, 0.6, 0.6]);
        assert_eq!(chernoff_xi(&c, &same).unwrap(), 0.0);
        let bad = DMatrix::from_row_slice(2, 2, &[0.5, 0.5, 0.5, 0.5]);
        assert!(matches!(chernoff_xi(&s, &bad), Err(HmmError::Shape { .. })));
        let one = DeterministicStructure::from_successors(vec![0]).unwrap();
        assert!(chernoff_xi(&one, &DMatrix::from_element(1, 1, 1.0)).is_err());
    }
}
