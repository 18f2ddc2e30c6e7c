use crate::error::check_finite;
use crate::LinalgError;

/// The mean and the sample standard deviation (`n − 1` in the denominator; 0 for one value) of
/// `data`. Errors on empty or non-finite data.
pub fn mean_and_sd(data: &[f64]) -> Result<(f64, f64), LinalgError> {
    check_finite("sample", data)?;
    let n = data.len() as f64;
    let mean = data.iter().sum::<f64>() / n;
    if data.len() == 1 {
        return Ok((mean, 0.0));
    }
    let ss = data.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
    Ok((mean, (ss / (n - 1.0)).sqrt()))
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
}
