//! Sample-quality metrics: histograms on each built-in set and their Jensen–Shannon distance
//! ([`core_linalg::jensen_shannon_distance`], natural log, as scipy's `jensenshannon`), and
//! constraint violation.

use crate::error::{check_finite, LandingError, Result};
use crate::sets::{ConstraintSet, Torus};
use std::f64::consts::PI;

pub use core_linalg::jensen_shannon_distance;

/// The most histogram cells a metric allocates.
pub const MAX_CELLS: usize = 10_000_000;

fn bin(v: f64, lo: f64, hi: f64, bins: usize) -> usize {
    (((v - lo) / (hi - lo) * bins as f64).floor().max(0.0) as usize).min(bins - 1)
}

fn check_points(points: &[f64], dim: usize, bins: &[usize]) -> Result<()> {
    crate::error::check_rows("points", points, dim)?;
    let cells = bins.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
    if bins.contains(&0) || cells.is_none_or(|c| c > MAX_CELLS) {
        return Err(LandingError::Parameter {
            name: "bins",
            value: cells.map_or(f64::INFINITY, |c| c as f64),
            reason: "each ≥ 1, at most 10⁷ cells in all",
        });
    }
    Ok(())
}

/// Counts of points on `S²` (`n × 3`) in `bands × sectors` cells: bands uniform in
/// `z ∈ [z_lo, z_hi]` and sectors uniform in longitude, so every cell has the same area (for a
/// cap, pass `z_hi` = the cap height). Points outside the band range go to the end bands.
///
/// # Errors
/// Empty or non-finite points, a length not a multiple of 3, zero bins, `z_lo ≥ z_hi`.
pub fn sphere_histogram(
    points: &[f64],
    z_range: (f64, f64),
    bands: usize,
    sectors: usize,
) -> Result<Vec<f64>> {
    check_points(points, 3, &[bands, sectors])?;
    if z_range.0.partial_cmp(&z_range.1) != Some(std::cmp::Ordering::Less) {
        return Err(LandingError::Parameter {
            name: "z range",
            value: z_range.0,
            reason: "needs z_lo < z_hi",
        });
    }
    let mut h = vec![0.0; bands * sectors];
    for p in points.chunks_exact(3) {
        let b = bin(p[2], z_range.0, z_range.1, bands);
        let s = bin(p[1].atan2(p[0]), -PI, PI, sectors);
        h[b * sectors + s] += 1.0;
    }
    Ok(h)
}

/// Counts of points near a torus (`n × 3`) in `bins × bins` cells of its angles `(φ, θ)`.
///
/// # Errors
/// As [`sphere_histogram`].
pub fn torus_histogram(torus: &Torus, points: &[f64], bins: usize) -> Result<Vec<f64>> {
    check_points(points, 3, &[bins])?;
    let mut h = vec![0.0; bins * bins];
    for p in points.chunks_exact(3) {
        let (phi, theta) = torus.angles([p[0], p[1], p[2]]);
        h[bin(phi, -PI, PI, bins) * bins + bin(theta, -PI, PI, bins)] += 1.0;
    }
    Ok(h)
}

/// `tr(X^k)` of an `n × n` row-major matrix.
///
/// # Errors
/// [`LandingError::Dimension`] unless `x.len() == n²`; [`LandingError::NonFinite`].
pub fn trace_power(x: &[f64], n: usize, k: u32) -> Result<f64> {
    crate::error::check_point("matrix", x, n * n)?;
    Ok(trace_power_unchecked(x, n, k))
}

fn trace_power_unchecked(x: &[f64], n: usize, k: u32) -> f64 {
    let m = nalgebra::DMatrix::from_row_slice(n, n, x);
    let mut p = nalgebra::DMatrix::<f64>::identity(n, n);
    for _ in 0..k {
        p = &p * &m;
    }
    p.trace()
}

/// The notes' SO(n) metric: for each power `k`, a `bins`-bin histogram of `tr(X^k)` over
/// `[−n, n]`; returns one histogram per power.
///
/// # Errors
/// As [`sphere_histogram`] (points `m × n²`).
pub fn trace_histograms(
    points: &[f64],
    n: usize,
    powers: &[u32],
    bins: usize,
) -> Result<Vec<Vec<f64>>> {
    check_points(points, n * n, &[bins])?;
    let nf = n as f64;
    Ok(powers
        .iter()
        .map(|&k| {
            let mut h = vec![0.0; bins];
            for x in points.chunks_exact(n * n) {
                let v = trace_power_unchecked(x, n, k);
                h[bin(if v.is_finite() { v } else { 0.0 }, -nf, nf, bins)] += 1.0;
            }
            h
        })
        .collect())
}

/// Mean over points of `max_i |h_i|` and of `max_j relu(g_j)`.
///
/// # Errors
/// Empty, non-finite or mis-sized points; non-finite constraint values.
pub fn violation<S: ConstraintSet + ?Sized>(set: &S, points: &[f64]) -> Result<(f64, f64)> {
    let d = set.dim();
    check_points(points, d, &[])?;
    let (mut hv, mut gv) = (vec![0.0; set.n_eq()], vec![0.0; set.n_ineq()]);
    let (mut se, mut si) = (0.0, 0.0);
    for x in points.chunks_exact(d) {
        set.constraints(x, &mut hv, &mut gv);
        check_finite("constraint value", &hv)?;
        check_finite("constraint value", &gv)?;
        se += hv.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        si += gv.iter().fold(0.0f64, |a, v| a.max(v.max(0.0)));
    }
    let n = (points.len() / d) as f64;
    Ok((se / n, si / n))
}
