use crate::error::check_finite;
use crate::LinalgError;

/// The mean and the sample standard deviation (`n − 1` in the denominator; 0 for one value) of
/// `data`. Errors on empty or non-finite data.
pub fn mean_and_sd(data: &[f64]) -> Result<(f64, f64), LinalgError> {
    check_finite("sample", data)?;
    let n = data.len() as f64;
    // On data scaled by its largest magnitude, so that neither the sum nor the squares overflow
    // (the mean of [1e308, 1e308] is 1e308, not ∞); an sd beyond f64::MAX is an error.
    let scale = data.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if scale == 0.0 {
        return Ok((0.0, 0.0));
    }
    let mean = data.iter().map(|x| x / scale).sum::<f64>() / n;
    if data.len() == 1 {
        return Ok((mean * scale, 0.0));
    }
    let ss = data.iter().map(|x| (x / scale - mean).powi(2)).sum::<f64>();
    let sd = (ss / (n - 1.0)).sqrt() * scale;
    if !sd.is_finite() {
        return Err(LinalgError::NonFinite {
            what: "sample standard deviation (beyond the f64 range)",
            index: 0,
            value: sd,
        });
    }
    Ok((mean * scale, sd))
}

/// A sample mean with its standard error and a two-sided Student-t confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanInterval {
    /// The sample mean.
    pub mean: f64,
    /// The standard error `sd/√n` (0 for one value).
    pub std_error: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
    /// The number of values.
    pub n: usize,
}

/// The mean of `data` with a Student-t interval at confidence `level`
/// (`mean ± t_{(1+level)/2, n−1} · sd/√n`). With one value the interval is unbounded
/// (`(−∞, ∞)`): a single replicate says nothing about its spread. Errors on empty or
/// non-finite data and `level ∉ (0, 1)`.
pub fn mean_interval(data: &[f64], level: f64) -> Result<MeanInterval, LinalgError> {
    let (mean, sd) = mean_and_sd(data)?;
    crate::error::check_level(level)?;
    let n = data.len();
    if n == 1 {
        return Ok(MeanInterval {
            mean,
            std_error: f64::INFINITY,
            lo: f64::NEG_INFINITY,
            hi: f64::INFINITY,
            n,
        });
    }
    let se = sd / (n as f64).sqrt();
    let t = crate::student_t_quantile((1.0 + level) / 2.0, (n - 1) as f64)?;
    let (lo, hi) = (mean - t * se, mean + t * se);
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(LinalgError::NonFinite {
            what: "mean interval (its ends leave the f64 range)",
            index: 0,
            value: if lo.is_finite() { hi } else { lo },
        });
    }
    Ok(MeanInterval {
        mean,
        std_error: se,
        lo,
        hi,
        n,
    })
}

/// Partial sums kept by [`sum_of_squares`] and [`squared_distance`].
const LANES: usize = 8;

/// `Σ f(i)` over `i < n` in [`LANES`] interleaved partial sums (lane `i mod 8`), added
/// pairwise at the end, then the tail: a fixed order, so the same bits on every CPU, and an
/// eighth of the dependent additions of one running sum (which the compiler may not reorder).
#[inline]
fn lane_sum(n: usize, f: impl Fn(usize) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let full = n - n % LANES;
    let mut i = 0;
    while i < full {
        for (j, a) in acc.iter_mut().enumerate() {
            *a += f(i + j);
        }
        i += LANES;
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for k in full..n {
        s += f(k);
    }
    s
}

/// `Σ xᵢ²`, summed in eight interleaved lanes (see [`squared_distance`]). No scaling: it
/// overflows to ∞ beyond `√f64::MAX` per entry, as the plain sum does.
pub fn sum_of_squares(x: &[f64]) -> f64 {
    lane_sum(x.len(), |i| x[i] * x[i])
}

/// `Σ (aᵢ − bᵢ)²`, summed in eight interleaved lanes: a fixed order (the same bits on every
/// CPU) with an eighth of a running sum's dependent additions, so a hot loop over short
/// vectors is not bound by the adder's latency. Errors on different lengths.
pub fn squared_distance(a: &[f64], b: &[f64]) -> Result<f64, LinalgError> {
    if a.len() != b.len() {
        return Err(LinalgError::Shape {
            what: "squared distance",
            expected: format!("two vectors of one length ({})", a.len()),
            got: format!("{}", b.len()),
        });
    }
    Ok(lane_sum(a.len(), |i| (a[i] - b[i]) * (a[i] - b[i])))
}

/// The Jensen–Shannon distance `√JSD(p ‖ q)` (natural logarithm, as scipy's
/// `jensenshannon`) between two histograms of counts or weights over the same bins; each is
/// normalised to sum to one first. It lies in `[0, √ln 2]`: 0 for proportional histograms,
/// `√ln 2` for disjoint supports.
///
/// # Errors
/// [`LinalgError::Shape`] for different lengths, [`LinalgError::Empty`] for no bins or a
/// histogram of total zero, [`LinalgError::NonFinite`] / [`LinalgError::Negative`] for a bad
/// entry.
pub fn jensen_shannon_distance(p: &[f64], q: &[f64]) -> Result<f64, LinalgError> {
    if p.len() != q.len() {
        return Err(LinalgError::Shape {
            what: "Jensen–Shannon distance",
            expected: format!("two histograms of one length ({})", p.len()),
            got: format!("{}", q.len()),
        });
    }
    let mut totals = [0.0; 2];
    for (k, h) in [p, q].into_iter().enumerate() {
        crate::check_finite("histogram", h)?;
        if let Some((i, &v)) = h.iter().enumerate().find(|(_, v)| **v < 0.0) {
            return Err(LinalgError::Negative {
                what: "histogram",
                row: i,
                col: 0,
                value: v,
            });
        }
        totals[k] = h.iter().sum();
        if totals[k] <= 0.0 {
            return Err(LinalgError::Empty {
                what: "histogram (no bins, or total 0)",
            });
        }
    }
    let kl = |a: f64, m: f64| if a > 0.0 { a * (a / m).ln() } else { 0.0 };
    let mut js = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a / totals[0], b / totals[1]);
        let m = 0.5 * (a + b);
        js += 0.5 * (kl(a, m) + kl(b, m));
    }
    Ok(js.max(0.0).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_values_and_errors() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample variance 32/7.
        let (m, s) = mean_and_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(m, 5.0);
        assert!((s - (32.0f64 / 7.0).sqrt()).abs() < 1e-15);
        assert_eq!(mean_and_sd(&[3.5]).unwrap(), (3.5, 0.0));
        assert!(mean_and_sd(&[]).is_err());
        assert!(mean_and_sd(&[1.0, f64::NAN]).is_err());
    }
    #[test]
    fn t_interval_textbook_value() {
        // 2, 4, 4, 4, 5, 5, 7, 9: se = sqrt(32/7)/sqrt(8), t_{.975, 7} = 2.364624.
        let m = mean_interval(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], 0.95).unwrap();
        let se = (32.0f64 / 7.0).sqrt() / 8f64.sqrt();
        assert!((m.std_error - se).abs() < 1e-15);
        assert!((m.hi - (5.0 + 2.364624 * se)).abs() < 1e-5, "{}", m.hi);
        assert!((m.lo - (5.0 - 2.364624 * se)).abs() < 1e-5);
        let one = mean_interval(&[1.5], 0.95).unwrap();
        assert!(one.lo.is_infinite() && one.hi.is_infinite());
        assert!(mean_interval(&[], 0.95).is_err());
        assert!(mean_interval(&[1.0, 2.0], 1.5).is_err());
    }

    /// The lane sums against an independent route: exact on integers (every partial sum is
    /// an integer below 2⁵³), and within n·ε of a compensated sum on random data, for every
    /// length around the lane width; mismatched lengths are an error.
    #[test]
    fn lane_sums_match_exact_and_compensated_sums() {
        use rand::RngExt;
        let mut rng = crate::seeded_rng(4);
        for n in 0..40 {
            let a: Vec<f64> = (0..n).map(|_| rng.random_range(-50..50) as f64).collect();
            let b: Vec<f64> = (0..n).map(|_| rng.random_range(-50..50) as f64).collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            assert_eq!(squared_distance(&a, &b).unwrap(), exact);
            assert_eq!(sum_of_squares(&a), a.iter().map(|x| x * x).sum::<f64>());
            let r: Vec<f64> = (0..n).map(|_| rng.random::<f64>() * 1e3 - 5e2).collect();
            let (mut s, mut c) = (0.0f64, 0.0f64);
            for x in &r {
                let y = x * x - c;
                let t = s + y;
                c = (t - s) - y;
                s = t;
            }
            let got = sum_of_squares(&r);
            assert!(
                (got - s).abs() <= (n as f64 + 1.0) * f64::EPSILON * s,
                "{n}: {got} vs {s}"
            );
        }
        assert!(squared_distance(&[1.0], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn jensen_shannon_closed_forms() {
        // Identical up to scale: 0. Disjoint: √ln 2.
        assert_eq!(
            jensen_shannon_distance(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).unwrap(),
            0.0
        );
        let d = jensen_shannon_distance(&[1.0, 0.0], &[0.0, 5.0]).unwrap();
        assert!((d - std::f64::consts::LN_2.sqrt()).abs() < 1e-15);
        // p = (1, 0), q = (½, ½): m = (¾, ¼); JSD = ½ ln(4/3) + ½(½ ln(2/3) + ½ ln 2).
        let want =
            (0.5 * (4.0f64 / 3.0).ln() + 0.25 * (2.0f64 / 3.0).ln() + 0.25 * 2.0f64.ln()).sqrt();
        let got = jensen_shannon_distance(&[1.0, 0.0], &[1.0, 1.0]).unwrap();
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        assert!(jensen_shannon_distance(&[1.0], &[1.0, 2.0]).is_err());
        assert!(jensen_shannon_distance(&[], &[]).is_err());
        assert!(jensen_shannon_distance(&[0.0, 0.0], &[1.0, 2.0]).is_err());
        assert!(jensen_shannon_distance(&[-1.0, 2.0], &[1.0, 2.0]).is_err());
        assert!(jensen_shannon_distance(&[f64::NAN, 2.0], &[1.0, 2.0]).is_err());
    }
}
