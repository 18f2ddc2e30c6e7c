use serde::{Deserialize, Serialize};

/// Whether a claim must hold (a check) or is an empirical statement of the paper (a finding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimKind {
    /// Must hold if the code is right; a failure is a bug and fails `reproduce`.
    Check,
    /// An empirical claim at our scale; reported as reproduced or not, never fails the run.
    Finding,
}

/// The condition a measured value is tested against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// `measured ≤ x`.
    AtMost(f64),
    /// `|measured| ≤ x`.
    AbsAtMost(f64),
    /// `measured ≥ x`.
    AtLeast(f64),
    /// `lo ≤ measured ≤ hi`.
    Between(f64, f64),
    /// `|measured − target| ≤ tol`.
    Near {
        /// The reference value.
        target: f64,
        /// The allowed absolute deviation.
        tol: f64,
    },
}

impl Threshold {
    /// Whether `x` satisfies the condition; NaN never does.
    pub fn holds(&self, x: f64) -> bool {
        if x.is_nan() {
            return false;
        }
        match *self {
            Threshold::AtMost(t) => x <= t,
            Threshold::AbsAtMost(t) => x.abs() <= t,
            Threshold::AtLeast(t) => x >= t,
            Threshold::Between(lo, hi) => lo <= x && x <= hi,
            Threshold::Near { target, tol } => (x - target).abs() <= tol,
        }
    }

    /// The condition in words, e.g. `≤ 1e-9` or `0.72 ± 0.0001`.
    pub fn describe(&self) -> String {
        use crate::outcome::fmt_num as f;
        match *self {
            Threshold::AtMost(t) => format!("≤ {}", f(t)),
            Threshold::AbsAtMost(t) => format!("|·| ≤ {}", f(t)),
            Threshold::AtLeast(t) => format!("≥ {}", f(t)),
            Threshold::Between(lo, hi) => format!("in [{}, {}]", f(lo), f(hi)),
            Threshold::Near { target, tol } => format!("{} ± {}", f(target), f(tol)),
        }
    }
}

/// One claim of a paper, with its measured value and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// Check or finding.
    pub kind: ClaimKind,
    /// What is claimed, in words.
    pub statement: String,
    /// The measured value.
    pub measured: f64,
    /// The condition it is tested against.
    pub threshold: Threshold,
    /// Whether `measured` satisfies `threshold`.
    pub holds: bool,
    /// Context or, for a finding that did not reproduce, the explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Claim {
    fn new(
        kind: ClaimKind,
        statement: impl Into<String>,
        measured: f64,
        threshold: Threshold,
    ) -> Self {
        Self {
            kind,
            statement: statement.into(),
            measured,
            holds: threshold.holds(measured),
            threshold,
            note: None,
        }
    }

    /// A check: must hold if the code is right.
    pub fn check(statement: impl Into<String>, measured: f64, threshold: Threshold) -> Self {
        Self::new(ClaimKind::Check, statement, measured, threshold)
    }

    /// A finding: an empirical claim of the paper at our scale.
    pub fn finding(statement: impl Into<String>, measured: f64, threshold: Threshold) -> Self {
        Self::new(ClaimKind::Finding, statement, measured, threshold)
    }

    /// Attaches a note (context, or the explanation of a finding that did not reproduce).
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Attaches `note` only when the claim does not hold.
    pub fn explain_if_failed(self, note: impl Into<String>) -> Self {
        if self.holds {
            self
        } else {
            self.with_note(note)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert!(Threshold::AtMost(1.0).holds(1.0));
        assert!(!Threshold::AtMost(1.0).holds(1.0 + 1e-12));
        assert!(Threshold::AbsAtMost(1e-9).holds(-1e-10));
        assert!(!Threshold::AtLeast(0.9).holds(0.89));
        assert!(Threshold::Between(0.0, 1.0).holds(0.5));
        assert!(!Threshold::Between(0.0, 1.0).holds(1.5));
        assert!(Threshold::Near {
            target: 0.72,
            tol: 1e-4
        }
        .holds(0.72005));
        assert!(!Threshold::Near {
            target: 0.72,
            tol: 1e-4
        }
        .holds(0.7202));
        for t in [
            Threshold::AtMost(1.0),
            Threshold::AtLeast(0.0),
            Threshold::Between(0.0, 1.0),
        ] {
            assert!(!t.holds(f64::NAN));
        }
    }

    #[test]
    fn claim_verdicts_and_notes() {
        let c = Claim::finding("x", 0.3, Threshold::AtLeast(0.5)).explain_if_failed("why");
        assert!(!c.holds);
        assert_eq!(c.note.as_deref(), Some("why"));
        let c = Claim::check("y", 0.0, Threshold::AbsAtMost(1e-9)).explain_if_failed("why");
        assert!(c.holds && c.note.is_none());
    }
}
