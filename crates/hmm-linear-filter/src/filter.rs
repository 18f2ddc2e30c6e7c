use crate::HmmError;
use rayon::prelude::*;

/// A recursive filter over logits: the common interface of [`LogForwardFilter`](crate::LogForwardFilter),
/// [`LinearFilter`](crate::LinearFilter) and [`FunctionalGraphFilter`](crate::FunctionalGraphFilter).
pub trait LogitFilter {
    /// One step: transition under `action` (0 for an uncontrolled model), then observe `obs`.
    fn step_with_action(&mut self, action: usize, obs: usize) -> Result<(), HmmError>;
    /// The current logits (any additive constant; decode with [`decode`]).
    fn logits(&self) -> &[f64];
    /// The belief `softmax(logits)`.
    fn belief(&self) -> Vec<f64> {
        core_linalg::softmax(self.logits())
    }
    /// The most likely state ([`decode`] of the logits).
    fn decode(&self) -> usize {
        decode(self.logits())
    }
}

/// `argmax` of logits; ties go to the lowest index, NaN never wins.
pub fn decode(logits: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] || logits[best].is_nan() {
            best = i;
        }
    }
    best
}

/// Filters many trajectories in parallel (rayon) and returns each one's decoded state after
/// every step. `make` builds a fresh filter per trajectory; `actions[t]` (when given) holds the
/// actions of trajectory `t`, else action 0 is used. Results do not depend on the thread count.
pub fn decode_batch<F, M>(
    observations: &[Vec<usize>],
    actions: Option<&[Vec<usize>]>,
    make: M,
) -> Result<Vec<Vec<usize>>, HmmError>
where
    F: LogitFilter,
    M: Fn() -> F + Sync,
{
    check_batch(actions, observations)?;
    observations
        .par_iter()
        .enumerate()
        .map(|(t, obs)| {
            let mut f = make();
            let acts = actions.map(|a| &a[t]);
            if let Some(acts) = acts {
                if acts.len() != obs.len() {
                    return Err(HmmError::Shape {
                        what: "actions of a trajectory",
                        expected: format!("{}", obs.len()),
                        got: format!("{}", acts.len()),
                    });
                }
            }
            obs.iter()
                .enumerate()
                .map(|(k, &o)| {
                    f.step_with_action(acts.map_or(0, |a| a[k]), o)?;
                    Ok(f.decode())
                })
                .collect()
        })
        .collect()
}

/// One action sequence per observation sequence, when actions are given.
pub(crate) fn check_batch(
    actions: Option<&[Vec<usize>]>,
    observations: &[Vec<usize>],
) -> Result<(), HmmError> {
    match actions {
        Some(a) if a.len() != observations.len() => Err(HmmError::Shape {
            what: "action sequences (one per trajectory)",
            expected: format!("{}", observations.len()),
            got: format!("{}", a.len()),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_ties_and_nan() {
        assert_eq!(decode(&[0.0, 0.0]), 0);
        assert_eq!(decode(&[f64::NEG_INFINITY, -3.0, -3.0]), 1);
        assert_eq!(decode(&[f64::NAN, -1.0]), 1);
    }
}
