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
}
