use nalgebra::{DMatrix, DVector};

/// `log Σ exp(x_i)`, computed stably by shifting with the maximum.
///
/// `-∞` entries contribute nothing; an empty slice or all `-∞` gives `-∞`; a `+∞` entry gives
/// `+∞`; any NaN gives NaN.
pub fn logsumexp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if xs.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    if !m.is_finite() {
        // All -inf (or empty) -> -inf; any +inf -> +inf.
        return m;
    }
    let s: f64 = xs.iter().map(|&x| (x - m).exp()).sum();
    m + s.ln()
}

/// Writes `softmax(x)` into `x`, stably: `exp(x_i − max x)` normalised by its sum (more accurate
/// than `exp(x_i − logsumexp(x))` when `|x|` is large). Entries at `+∞` share the mass equally
/// (the limit of the softmax), the others get 0. All-`-∞` input and any NaN yield NaN (there is
/// no distribution), documented rather than an error so that hot loops stay branch-light.
pub fn softmax_in_place(xs: &mut [f64]) {
    if xs.iter().any(|x| x.is_nan()) {
        xs.iter_mut().for_each(|x| *x = f64::NAN);
        return;
    }
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::INFINITY {
        let top = xs.iter().filter(|&&x| x == f64::INFINITY).count() as f64;
        xs.iter_mut()
            .for_each(|x| *x = if *x == f64::INFINITY { 1.0 / top } else { 0.0 });
        return;
    }
    if !m.is_finite() {
        xs.iter_mut().for_each(|x| *x = f64::NAN);
        return;
    }
    let mut sum = 0.0;
    for x in xs.iter_mut() {
        *x = (*x - m).exp();
        sum += *x;
    }
    for x in xs.iter_mut() {
        *x /= sum;
    }
}

/// `softmax(x)_i = exp(x_i − logsumexp(x))`.
pub fn softmax(xs: &[f64]) -> Vec<f64> {
    let mut out = xs.to_vec();
    softmax_in_place(&mut out);
    out
}

/// `log softmax(x)_i = x_i − logsumexp(x)`; `-∞` entries stay `-∞`.
pub fn log_softmax(xs: &[f64]) -> Vec<f64> {
    let lse = logsumexp(xs);
    xs.iter().map(|&x| x - lse).collect()
}

/// Row-wise [`logsumexp`] of a matrix: one value per row.
pub fn logsumexp_rows(m: &DMatrix<f64>) -> DVector<f64> {
    DVector::from_iterator(
        m.nrows(),
        m.row_iter()
            .map(|r| logsumexp(&r.iter().copied().collect::<Vec<_>>())),
    )
}

/// Row-wise [`softmax`] of a matrix: each row of the result sums to one.
pub fn softmax_rows(m: &DMatrix<f64>) -> DMatrix<f64> {
    let mut out = m.clone();
    for mut row in out.row_iter_mut() {
        let mut v: Vec<f64> = row.iter().copied().collect();
        softmax_in_place(&mut v);
        for (dst, src) in row.iter_mut().zip(v) {
            *dst = src;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive reference, valid where no overflow happens.
    fn naive_lse(xs: &[f64]) -> f64 {
        xs.iter().map(|x| x.exp()).sum::<f64>().ln()
    }

    #[test]
    fn matches_naive_in_safe_range() {
        let xs = [0.3, -1.2, 2.5, 0.0, -7.0];
        assert!((logsumexp(&xs) - naive_lse(&xs)).abs() < 1e-14);
    }

    #[test]
    fn shift_invariance_survives_overflow() {
        // naive exp(1000) overflows; lse(x + c) = lse(x) + c exactly in exact arithmetic.
        let xs = [0.3, -1.2, 2.5];
        let shifted: Vec<f64> = xs.iter().map(|x| x + 1000.0).collect();
        assert!((logsumexp(&shifted) - (naive_lse(&xs) + 1000.0)).abs() < 1e-12);
        let shifted: Vec<f64> = xs.iter().map(|x| x - 1000.0).collect();
        assert!((logsumexp(&shifted) - (naive_lse(&xs) - 1000.0)).abs() < 1e-12);
    }

    #[test]
    fn infinities_and_nan() {
        let ni = f64::NEG_INFINITY;
        assert_eq!(logsumexp(&[]), ni);
        assert_eq!(logsumexp(&[ni, ni]), ni);
        assert_eq!(logsumexp(&[ni, 1.5]), 1.5);
        assert_eq!(logsumexp(&[f64::INFINITY, 1.0]), f64::INFINITY);
        assert!(logsumexp(&[f64::NAN, 1.0]).is_nan());
    }

    #[test]
    fn softmax_is_a_distribution_and_matches_closed_form() {
        // softmax([log 1, log 2, log 3]) = [1/6, 2/6, 3/6]
        let p = softmax(&[1f64.ln(), 2f64.ln(), 3f64.ln()]);
        for (pi, e) in p.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
            assert!((pi - e).abs() < 1e-15);
        }
        let p = softmax(&[800.0, 800.0, f64::NEG_INFINITY]);
        assert_eq!(p[2], 0.0);
        assert!((p[0] - 0.5).abs() < 1e-15);
        let lp = log_softmax(&[800.0, 800.0, f64::NEG_INFINITY]);
        assert!((lp[0] + 2f64.ln()).abs() < 1e-12);
        assert_eq!(lp[2], f64::NEG_INFINITY);
    }

    #[test]
    fn row_wise_forms_match_vector_forms() {
        let m = DMatrix::from_row_slice(2, 3, &[0.0, 1.0, 2.0, -5.0, 900.0, 899.0]);
        let l = logsumexp_rows(&m);
        let s = softmax_rows(&m);
        for i in 0..2 {
            let row: Vec<f64> = m.row(i).iter().copied().collect();
            assert_eq!(l[i], logsumexp(&row));
            let sr = softmax(&row);
            for j in 0..3 {
                assert_eq!(s[(i, j)], sr[j]);
            }
            assert!((s.row(i).sum() - 1.0).abs() < 1e-14);
        }
    }
}
