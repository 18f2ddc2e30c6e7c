use crate::LinalgError;
use nalgebra::DMatrix;

/// Soft-thresholding `sign(x)·max(|x| − t, 0)`, the proximal map of `t‖·‖₁`. A negative or
/// NaN threshold is read as 0 (the identity), so finite input always gives a finite result.
pub fn soft_threshold(x: f64, t: f64) -> f64 {
    let t = t.max(0.0);
    if x > t {
        x - t
    } else if x < -t {
        x + t
    } else {
        0.0
    }
}

/// Applies [`soft_threshold`] to every element.
pub fn soft_threshold_in_place(xs: &mut [f64], t: f64) {
    for x in xs {
        *x = soft_threshold(*x, t);
    }
}

/// Singular-value thresholding `U·diag(max(σ − τ, 0))·Vᵀ`, the proximal map of `τ‖·‖_*`.
///
/// Errors on a negative or non-finite `tau`, or a non-finite matrix.
pub fn singular_value_threshold(m: &DMatrix<f64>, tau: f64) -> Result<DMatrix<f64>, LinalgError> {
    if !tau.is_finite() || tau < 0.0 {
        return Err(LinalgError::Parameter {
            name: "tau",
            value: tau,
            reason: "must be finite and non-negative",
        });
    }
    if m.is_empty() {
        return Ok(m.clone());
    }
    crate::error::check_finite("matrix", m.as_slice())?;
    // On M / max|M| with τ / max|M| (thresholding is positively homogeneous), so that the
    // SVD's norms cannot overflow for entries near f64::MAX.
    let scale = m.amax();
    if scale == 0.0 {
        return Ok(m.clone());
    }
    let svd = (m / scale).svd(true, true);
    let (u, v_t) = match (svd.u, svd.v_t) {
        (Some(u), Some(v_t)) => (u, v_t),
        _ => unreachable!("SVD was asked for U and Vᵀ"),
    };
    let s = svd
        .singular_values
        .map(|s| (s - tau / scale).max(0.0) * scale);
    let out = u * DMatrix::from_diagonal(&s) * v_t;
    crate::error::check_finite("thresholded matrix (beyond the f64 range)", out.as_slice())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_threshold_cases() {
        assert_eq!(soft_threshold(3.0, 1.0), 2.0);
        assert_eq!(soft_threshold(-3.0, 1.0), -2.0);
        assert_eq!(soft_threshold(0.5, 1.0), 0.0);
        let mut v = vec![2.0, -0.1, -4.0];
        soft_threshold_in_place(&mut v, 0.5);
        assert_eq!(v, vec![1.5, 0.0, -3.5]);
    }

    #[test]
    fn svt_on_a_known_decomposition() {
        // Build M = U diag(5, 2, 0.5) Vᵀ with orthogonal U, V (rotations), threshold at 1:
        // expect U diag(4, 1, 0) Vᵀ.
        let rot = |a: f64| {
            DMatrix::from_row_slice(
                3,
                3,
                &[a.cos(), -a.sin(), 0.0, a.sin(), a.cos(), 0.0, 0.0, 0.0, 1.0],
            )
        };
        let u = rot(0.3);
        let v = rot(-1.1);
        let m = &u
            * DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![5.0, 2.0, 0.5]))
            * v.transpose();
        let expect = &u
            * DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![4.0, 1.0, 0.0]))
            * v.transpose();
        let got = singular_value_threshold(&m, 1.0).unwrap();
        assert!((got - expect).abs().max() < 1e-12);
        assert!(singular_value_threshold(&m, -1.0).is_err());
        // tau = 0 is the identity.
        assert!(
            (singular_value_threshold(&m, 0.0).unwrap() - &m)
                .abs()
                .max()
                < 1e-12
        );
    }
}
