use crate::error::check_finite;
use crate::LinalgError;
use nalgebra::DMatrix;

/// Checks that `p` is a probability vector: non-empty, finite, non-negative, `|Σp − 1| ≤ tol`.
pub fn check_probability_vector(p: &[f64], tol: f64) -> Result<(), LinalgError> {
    check_finite("probability vector", p)?;
    if let Some((i, &v)) = p.iter().enumerate().find(|(_, &v)| v < 0.0) {
        return Err(LinalgError::Negative {
            what: "probability vector",
            row: i,
            col: 0,
            value: v,
        });
    }
    let sum: f64 = p.iter().sum();
    if (sum - 1.0).abs() > tol {
        return Err(LinalgError::BadSum {
            what: "vector",
            index: 0,
            sum,
            tol,
        });
    }
    Ok(())
}

fn check_entries(what: &'static str, m: &DMatrix<f64>) -> Result<(), LinalgError> {
    check_finite(what, m.as_slice())?;
    for c in 0..m.ncols() {
        for r in 0..m.nrows() {
            let v = m[(r, c)];
            if v < 0.0 {
                return Err(LinalgError::Negative {
                    what,
                    row: r,
                    col: c,
                    value: v,
                });
            }
        }
    }
    Ok(())
}

/// Checks that every column of `m` is a probability vector (`m[(i, j)] = P(i | j)`).
pub fn check_column_stochastic(m: &DMatrix<f64>, tol: f64) -> Result<(), LinalgError> {
    check_entries("column-stochastic matrix", m)?;
    for (j, col) in m.column_iter().enumerate() {
        let sum = col.sum();
        if (sum - 1.0).abs() > tol {
            return Err(LinalgError::BadSum {
                what: "column",
                index: j,
                sum,
                tol,
            });
        }
    }
    Ok(())
}

/// Checks that every row of `m` is a probability vector.
pub fn check_row_stochastic(m: &DMatrix<f64>, tol: f64) -> Result<(), LinalgError> {
    check_entries("row-stochastic matrix", m)?;
    for (i, row) in m.row_iter().enumerate() {
        let sum = row.sum();
        if (sum - 1.0).abs() > tol {
            return Err(LinalgError::BadSum {
                what: "row",
                index: i,
                sum,
                tol,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::STOCHASTIC_TOL;

    #[test]
    fn accepts_stochastic_and_rejects_each_defect() {
        let t = DMatrix::from_row_slice(2, 2, &[0.9, 0.2, 0.1, 0.8]);
        assert!(check_column_stochastic(&t, STOCHASTIC_TOL).is_ok());
        assert!(matches!(
            check_row_stochastic(&t, STOCHASTIC_TOL),
            Err(LinalgError::BadSum {
                what: "row",
                index: 0,
                ..
            })
        ));
        assert!(check_row_stochastic(&t.transpose(), STOCHASTIC_TOL).is_ok());

        let bad = DMatrix::from_row_slice(2, 2, &[0.9, 0.2, 0.07, 0.8]);
        match check_column_stochastic(&bad, STOCHASTIC_TOL) {
            Err(LinalgError::BadSum { index, sum, .. }) => {
                assert_eq!(index, 0);
                assert!((sum - 0.97).abs() < 1e-12);
            }
            other => panic!("expected BadSum, got {other:?}"),
        }
        let neg = DMatrix::from_row_slice(2, 2, &[1.1, 0.2, -0.1, 0.8]);
        assert!(matches!(
            check_column_stochastic(&neg, STOCHASTIC_TOL),
            Err(LinalgError::Negative { row: 1, col: 0, .. })
        ));
        let nan = DMatrix::from_row_slice(1, 1, &[f64::NAN]);
        assert!(matches!(
            check_column_stochastic(&nan, STOCHASTIC_TOL),
            Err(LinalgError::NonFinite { .. })
        ));
        let empty = DMatrix::<f64>::zeros(0, 0);
        assert!(matches!(
            check_column_stochastic(&empty, STOCHASTIC_TOL),
            Err(LinalgError::Empty { .. })
        ));
    }

    #[test]
    fn probability_vectors() {
        assert!(check_probability_vector(&[0.25, 0.75], 1e-12).is_ok());
        assert!(check_probability_vector(&[0.25, 0.7], 1e-12).is_err());
        assert!(check_probability_vector(&[1.5, -0.5], 1e-12).is_err());
        assert!(check_probability_vector(&[], 1e-12).is_err());
        assert!(check_probability_vector(&[f64::INFINITY], 1e-12).is_err());
    }
}
