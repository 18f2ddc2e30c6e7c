use crate::error::check_finite;
use crate::LinalgError;

/// How [`quantile`] picks a value between order statistics, after NumPy's `method=` names.
///
/// With sorted data `x_0 ≤ … ≤ x_{n−1}` and position `h = q·(n − 1)`:
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantileRule {
    /// `x_⌊h⌋ + (h − ⌊h⌋)(x_⌈h⌉ − x_⌊h⌋)` (NumPy's default, Hyndman–Fan type 7).
    Linear,
    /// `x_⌊h⌋`.
    Lower,
    /// `x_⌈h⌉` — the conservative rule split conformal prediction needs.
    Higher,
    /// `(x_⌊h⌋ + x_⌈h⌉) / 2`.
    Midpoint,
}

/// The `q`-quantile of `data` (`q ∈ [0, 1]`) under `rule`. Errors on empty or non-finite data
/// and on `q` outside `[0, 1]`.
pub fn quantile(data: &[f64], q: f64, rule: QuantileRule) -> Result<f64, LinalgError> {
    check_finite("quantile data", data)?;
    if !(0.0..=1.0).contains(&q) {
        return Err(LinalgError::Parameter {
            name: "q",
            value: q,
            reason: "quantile level must lie in [0, 1]",
        });
    }
    let mut x = data.to_vec();
    x.sort_by(f64::total_cmp);
    let h = q * (x.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    let (a, b) = (x[lo], x[hi]);
    let f = h - lo as f64;
    // The usual formulas, with overflow-free ones where a difference or sum of values near
    // ±f64::MAX leaves the range (ordinary data keep their exact usual values).
    Ok(match rule {
        QuantileRule::Linear if (b - a).is_finite() => a + f * (b - a),
        QuantileRule::Linear => a * (1.0 - f) + b * f,
        QuantileRule::Lower => a,
        QuantileRule::Higher => b,
        QuantileRule::Midpoint if (a + b).is_finite() => 0.5 * (a + b),
        QuantileRule::Midpoint => 0.5 * a + 0.5 * b,
    })
}

/// The split-conformal threshold: the `⌈(n + 1)(1 − α)⌉`-th smallest of the `n` calibration
/// scores, which guarantees marginal coverage `≥ 1 − α` for exchangeable data.
///
/// When `⌈(n + 1)(1 − α)⌉ > n` (too few scores for the requested `α`, i.e. `α < 1/(n + 1)`) no
/// finite score gives the guarantee and the result is `+∞` (the trivial, always-covering set).
/// Errors on empty or non-finite scores and on `α ∉ (0, 1)`.
pub fn conformal_quantile(scores: &[f64], alpha: f64) -> Result<f64, LinalgError> {
    check_finite("conformal scores", scores)?;
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(LinalgError::Parameter {
            name: "alpha",
            value: alpha,
            reason: "miscoverage level must lie in (0, 1)",
        });
    }
    let k = conformal_rank(scores.len(), alpha);
    if k > scores.len() {
        return Ok(f64::INFINITY);
    }
    kth_smallest(scores, k)
}

/// The split-conformal rank `k = ⌈(n + 1)(1 − α)⌉` for `n` calibration scores (it may exceed
/// `n`, which means no finite threshold gives the guarantee), computed as
/// `(n + 1) − ⌊(n + 1)α⌋` (the same integer for real numbers): the product `(n + 1)α` is small
/// when the rank matters, so it carries only its own rounding, while `(n + 1)(1 − α)` loses
/// `(n + 1)·2⁻⁵³` absolutely (about 1e-7 at n = 10⁹, which moved the rank). The floor is guarded
/// against `(n + 1)α` landing a hair below an integer through rounding (by 4 ulp + 1e-12).
pub fn conformal_rank(n: usize, alpha: f64) -> usize {
    let big_n = (n as f64) + 1.0;
    let x = big_n * alpha;
    let l = (x + x.abs() * 4.0 * f64::EPSILON + 1e-12).floor().max(0.0);
    let k = big_n - l;
    (k.max(1.0)) as usize
}

/// The `k`-th smallest value (1-based) of `data`, in expected linear time (selection, no full
/// sort). Errors on empty or non-finite data and on `k ∉ 1..=n`.
pub fn kth_smallest(data: &[f64], k: usize) -> Result<f64, LinalgError> {
    check_finite("order statistic data", data)?;
    if k == 0 || k > data.len() {
        return Err(LinalgError::Parameter {
            name: "k",
            value: k as f64,
            reason: "the rank must lie in 1..=n",
        });
    }
    let mut x = data.to_vec();
    let (_, v, _) = x.select_nth_unstable_by(k - 1, f64::total_cmp);
    Ok(*v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_and_order_statistics() {
        assert_eq!(conformal_rank(9, 0.1), 9);
        assert_eq!(conformal_rank(8, 0.1), 9);
        assert_eq!(conformal_rank(19, 0.05), 19);
        assert_eq!(conformal_rank(99, 0.01), 99);
        assert_eq!(conformal_rank(100, 0.1), 91);
        let d: Vec<f64> = (0..101).map(|i| ((i * 37) % 101) as f64).collect();
        for k in [1, 17, 51, 101] {
            assert_eq!(kth_smallest(&d, k).unwrap(), (k - 1) as f64);
        }
        assert!(kth_smallest(&d, 0).is_err() && kth_smallest(&d, 102).is_err());
        assert!(kth_smallest(&[], 1).is_err());
    }

    #[test]
    fn rules_match_numpy_values() {
        // numpy.quantile([1, 2, 3, 4], 0.5, method=...) -> linear 2.5, lower 2, higher 3, midpoint 2.5
        let d = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&d, 0.5, QuantileRule::Linear).unwrap(), 2.5);
        assert_eq!(quantile(&d, 0.5, QuantileRule::Lower).unwrap(), 2.0);
        assert_eq!(quantile(&d, 0.5, QuantileRule::Higher).unwrap(), 3.0);
        assert_eq!(quantile(&d, 0.5, QuantileRule::Midpoint).unwrap(), 2.5);
        // numpy.quantile([1, 2, 3, 4], 0.9) = 3.7
        assert!((quantile(&d, 0.9, QuantileRule::Linear).unwrap() - 3.7).abs() < 1e-12);
        assert_eq!(quantile(&d, 0.0, QuantileRule::Linear).unwrap(), 1.0);
        assert_eq!(quantile(&d, 1.0, QuantileRule::Higher).unwrap(), 4.0);
    }

    #[test]
    fn conformal_quantile_is_the_smallest_covering_order_statistic() {
        // Brute force: the conformal threshold is the smallest score s with
        // #{i : s_i <= s} >= (n + 1)(1 - alpha).
        let scores: Vec<f64> = (0..19).map(|i| ((i * 7) % 19) as f64 * 0.5).collect();
        for &alpha in &[0.05, 0.1, 0.2, 0.5, 0.9] {
            let need = 20.0 * (1.0 - alpha);
            let mut sorted = scores.clone();
            sorted.sort_by(f64::total_cmp);
            let brute = sorted
                .iter()
                .copied()
                .find(|&s| scores.iter().filter(|&&x| x <= s).count() as f64 >= need - 1e-9)
                .unwrap_or(f64::INFINITY);
            assert_eq!(
                conformal_quantile(&scores, alpha).unwrap(),
                brute,
                "alpha {alpha}"
            );
        }
        // n = 19, alpha = 0.04 < 1/20: no finite threshold.
        assert_eq!(conformal_quantile(&scores, 0.04).unwrap(), f64::INFINITY);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert!(matches!(
            quantile(&[], 0.5, QuantileRule::Linear),
            Err(LinalgError::Empty { .. })
        ));
        assert!(matches!(
            quantile(&[1.0, f64::NAN], 0.5, QuantileRule::Linear),
            Err(LinalgError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            quantile(&[1.0], 1.5, QuantileRule::Linear),
            Err(LinalgError::Parameter { .. })
        ));
        assert!(matches!(
            conformal_quantile(&[1.0], 0.0),
            Err(LinalgError::Parameter { .. })
        ));
        assert!(matches!(
            conformal_quantile(&[], 0.1),
            Err(LinalgError::Empty { .. })
        ));
    }
}
