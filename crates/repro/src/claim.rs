use crate::ReproError;
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
    /// A yes/no statement: `measured` is 1 for true, 0 for false ([`Claim::check_true`]).
    IsTrue,
    /// `measured` counts violations among this many cases and must be 0
    /// ([`Claim::check_none`]).
    NoneAmong(u64),
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
            Threshold::IsTrue => x == 1.0,
            Threshold::NoneAmong(_) => x == 0.0,
        }
    }

    /// The condition in words, e.g. `≤ 1e-9`, `0.72 ± 0.0001`, `0 of 400`.
    pub fn describe(&self) -> String {
        use crate::outcome::fmt_num as f;
        match *self {
            Threshold::AtMost(t) => format!("≤ {}", f(t)),
            Threshold::AbsAtMost(t) => format!("|·| ≤ {}", f(t)),
            Threshold::AtLeast(t) => format!("≥ {}", f(t)),
            Threshold::Between(lo, hi) => format!("in [{}, {}]", f(lo), f(hi)),
            Threshold::Near { target, tol } => format!("{} ± {}", f(target), f(tol)),
            Threshold::IsTrue => "true".into(),
            Threshold::NoneAmong(n) => format!("0 of {n}"),
        }
    }
}

/// A measured value with its uncertainty: the estimate, its standard error and/or confidence
/// interval, how many replicates it comes from, and the method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Its standard error, where one is defined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std_error: Option<f64>,
    /// A confidence interval `[lo, hi]`, where one is defined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    /// The interval's confidence level (e.g. 0.95).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<f64>,
    /// Independent replicates (runs, seeds, trials, trajectories) behind the estimate.
    pub replicates: u64,
    /// How the interval was obtained, in words.
    pub method: String,
}

/// The confidence level of the harness's intervals.
pub const LEVEL: f64 = 0.95;

impl Estimate {
    /// A proportion `successes / trials` with its 95% Clopper–Pearson interval (exact coverage
    /// for every true proportion; 1000 of 1000 gives `[0.9963, 1]`).
    pub fn proportion(successes: u64, trials: u64) -> Result<Self, ReproError> {
        let (lo, hi) = core_linalg::clopper_pearson_interval(successes, trials, LEVEL)?;
        let p = successes as f64 / trials as f64;
        Ok(Self {
            value: p,
            std_error: Some((p * (1.0 - p) / trials as f64).sqrt()),
            interval: Some([lo, hi]),
            level: Some(LEVEL),
            replicates: trials,
            method: "Clopper–Pearson".into(),
        })
    }

    /// The proportion of `true` among `outcomes` ([`Self::proportion`]).
    pub fn proportion_of(outcomes: impl IntoIterator<Item = bool>) -> Result<Self, ReproError> {
        let (mut k, mut n) = (0u64, 0u64);
        for b in outcomes {
            k += u64::from(b);
            n += 1;
        }
        Self::proportion(k, n)
    }

    /// The mean of replicate values with its standard error and 95% Student-t interval. One
    /// value gives a single-run estimate without an interval.
    pub fn mean(values: &[f64]) -> Result<Self, ReproError> {
        let m = core_linalg::mean_interval(values, LEVEL)?;
        if m.n == 1 {
            return Ok(Self::single_run(m.mean));
        }
        Ok(Self {
            value: m.mean,
            std_error: Some(m.std_error),
            interval: Some([m.lo, m.hi]),
            level: Some(LEVEL),
            replicates: m.n as u64,
            method: "Student t".into(),
        })
    }

    /// The mean paired difference `a_i − b_i` over replicates (the same seed, data split or
    /// trajectories for both), with its 95% Student-t interval: how "A beats B" is decided.
    pub fn paired_difference(a: &[f64], b: &[f64]) -> Result<Self, ReproError> {
        if a.len() != b.len() {
            return Err(ReproError::Estimate(format!(
                "paired difference of {} and {} values: the replicates must pair up",
                a.len(),
                b.len()
            )));
        }
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        let mut e = Self::mean(&d)?;
        e.method = format!("paired difference, {}", e.method);
        Ok(e)
    }

    /// An estimate whose interval was computed by the caller (a delta method, a closed-form
    /// variance), described by `method`.
    pub fn with_interval(
        value: f64,
        std_error: Option<f64>,
        interval: [f64; 2],
        replicates: u64,
        method: impl Into<String>,
    ) -> Self {
        Self {
            value,
            std_error,
            interval: Some(interval),
            level: Some(LEVEL),
            replicates,
            method: method.into(),
        }
    }

    /// The estimate of `|θ − target|` implied by this estimate of `θ`: its interval is the image
    /// of `[lo, hi]` under `|· − target|` (starting at 0 when it contains `target`).
    pub fn abs_deviation(&self, target: f64) -> Self {
        let d = |x: f64| (x - target).abs();
        Self {
            value: d(self.value),
            std_error: self.std_error,
            interval: self.interval.map(|[lo, hi]| {
                if lo <= target && target <= hi {
                    [0.0, d(lo).max(d(hi))]
                } else {
                    [d(lo).min(d(hi)), d(lo).max(d(hi))]
                }
            }),
            level: self.level,
            replicates: self.replicates,
            method: format!("{}, |· − {}|", self.method, crate::outcome::fmt_num(target)),
        }
    }

    /// One stochastic run (a single trained model): no interval can be given.
    pub fn single_run(value: f64) -> Self {
        Self {
            value,
            std_error: None,
            interval: None,
            level: None,
            replicates: 1,
            method: "single run".into(),
        }
    }

    /// The estimate in words: `0.855 [0.82, 0.89] (n = 400, Clopper–Pearson 95%)`.
    pub fn describe(&self) -> String {
        use crate::outcome::fmt_num as f;
        let mut s = f(self.value);
        if let Some([lo, hi]) = self.interval {
            s.push_str(&format!(" [{}, {}]", f(lo), f(hi)));
        } else if let Some(se) = self.std_error {
            s.push_str(&format!(" ± {} (SE)", f(se)));
        }
        let level = self
            .level
            .map(|l| format!(" {:.0}%", 100.0 * l))
            .unwrap_or_default();
        s.push_str(&format!(
            " (n = {}, {}{level})",
            self.replicates, self.method
        ));
        s
    }
}

/// How a claim with an [`Estimate`] is decided, fixed before the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The point estimate satisfies the threshold (the paper's number).
    #[default]
    Estimate,
    /// The whole confidence interval satisfies the threshold (e.g. "the 95% interval of the
    /// paired difference lies above 0"): for claims where the paper gives only a direction.
    Interval,
}

impl Decision {
    fn is_estimate(&self) -> bool {
        *self == Decision::Estimate
    }
}

/// Why a finding did not reproduce (or a check failed): either backed by measurements in the
/// same outcome, or plainly a hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// An explanation supported by named tables, plots or claims of the same outcome (their
    /// names, checked by [`Outcome::validate`](crate::Outcome::validate)).
    Evidence {
        /// The explanation.
        text: String,
        /// Names of the supporting tables, plots or claims.
        see: Vec<String>,
    },
    /// An explanation nothing in the outcome measures: reported as a hypothesis.
    Hypothesis {
        /// The explanation.
        text: String,
    },
}

impl Why {
    /// An explanation supported by the tables, plots or claims named in `see`.
    pub fn evidence(text: impl Into<String>, see: &[&str]) -> Self {
        Why::Evidence {
            text: text.into(),
            see: see.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// An explanation that is a hypothesis (nothing in the outcome measures it).
    pub fn hypothesis(text: impl Into<String>) -> Self {
        Why::Hypothesis { text: text.into() }
    }

    /// The explanation in words, with its support.
    pub fn describe(&self) -> String {
        match self {
            Why::Evidence { text, see } => format!(
                "{text} (see: {})",
                see.iter()
                    .map(|s| format!("“{s}”"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Why::Hypothesis { text } => format!("Hypothesis, not measured here: {text}"),
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
    /// The measured value (the estimate's value when there is one).
    pub measured: f64,
    /// The condition it is tested against.
    pub threshold: Threshold,
    /// Whether the claim holds under its decision rule.
    pub holds: bool,
    /// The paper's own value where it differs in form from the threshold (e.g. a range quoted
    /// from a table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<String>,
    /// The uncertainty of a stochastic measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
    /// How the verdict is reached from the estimate (omitted from the JSON when it is the
    /// point estimate).
    #[serde(default, skip_serializing_if = "Decision::is_estimate")]
    pub decision: Decision,
    /// Context for the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For a claim that does not hold: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
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
            paper: None,
            estimate: None,
            decision: Decision::Estimate,
            note: None,
            why: None,
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

    /// A finding measured with uncertainty, decided on the point estimate (switch to the
    /// interval with [`Self::decided_by_interval`]).
    pub fn finding_estimate(
        statement: impl Into<String>,
        estimate: Estimate,
        threshold: Threshold,
    ) -> Self {
        Self::finding(statement, estimate.value, threshold).with_estimate(estimate)
    }

    /// A check that no case among `among` violates the statement; `violations` is the count.
    pub fn check_none(statement: impl Into<String>, violations: usize, among: usize) -> Self {
        Self::check(
            statement,
            violations as f64,
            Threshold::NoneAmong(among as u64),
        )
    }

    /// A yes/no check.
    pub fn check_true(statement: impl Into<String>, holds: bool) -> Self {
        Self::check(statement, f64::from(u8::from(holds)), Threshold::IsTrue)
    }

    /// A yes/no finding.
    pub fn finding_true(statement: impl Into<String>, holds: bool) -> Self {
        Self::finding(statement, f64::from(u8::from(holds)), Threshold::IsTrue)
    }

    fn decide(&mut self) {
        self.holds = match (&self.estimate, self.decision) {
            (Some(e), Decision::Interval) => match e.interval {
                Some([lo, hi]) => self.threshold.holds(lo) && self.threshold.holds(hi),
                None => false,
            },
            _ => self.threshold.holds(self.measured),
        };
    }

    /// Attaches the uncertainty of the measurement; `measured` becomes the estimate's value.
    pub fn with_estimate(mut self, estimate: Estimate) -> Self {
        self.measured = estimate.value;
        self.estimate = Some(estimate);
        self.decide();
        self
    }

    /// Decides the claim on its whole confidence interval (the rule for claims where the paper
    /// gives only a direction). A claim without an interval then does not hold.
    pub fn decided_by_interval(mut self) -> Self {
        self.decision = Decision::Interval;
        self.decide();
        self
    }

    /// Records the paper's own value, when it is not simply the threshold.
    pub fn paper_value(mut self, value: impl Into<String>) -> Self {
        self.paper = Some(value.into());
        self
    }

    /// Attaches context for the reader (shown whatever the verdict).
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Attaches the explanation only when the claim does not hold.
    pub fn explain_if_failed(mut self, why: Why) -> Self {
        if !self.holds {
            self.why = Some(why);
        }
        self
    }

    /// The decision rule in words, e.g. `estimate ≥ 0.95` or `95% interval within ≥ 0`.
    pub fn rule(&self) -> String {
        match (self.decision, &self.estimate) {
            (Decision::Interval, Some(e)) => format!(
                "{:.0}% interval within {}",
                100.0 * e.level.unwrap_or(LEVEL),
                self.threshold.describe()
            ),
            (Decision::Interval, None) => {
                format!("interval within {} (none given)", self.threshold.describe())
            }
            (Decision::Estimate, _) => self.threshold.describe(),
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
        let near = Threshold::Near {
            target: 0.72,
            tol: 1e-4,
        };
        assert!(near.holds(0.72005) && !near.holds(0.7202));
        assert!(Threshold::IsTrue.holds(1.0) && !Threshold::IsTrue.holds(0.0));
        assert!(Threshold::NoneAmong(5).holds(0.0) && !Threshold::NoneAmong(5).holds(1.0));
        assert_eq!(Threshold::NoneAmong(400).describe(), "0 of 400");
        for t in [
            Threshold::AtMost(1.0),
            Threshold::AtLeast(0.0),
            Threshold::Between(0.0, 1.0),
            Threshold::IsTrue,
            Threshold::NoneAmong(1),
        ] {
            assert!(!t.holds(f64::NAN));
        }
    }

    #[test]
    fn claim_verdicts_and_explanations() {
        let c = Claim::finding("x", 0.3, Threshold::AtLeast(0.5))
            .explain_if_failed(Why::hypothesis("why"));
        assert!(!c.holds);
        assert!(c.why.unwrap().describe().starts_with("Hypothesis"));
        let c = Claim::check("y", 0.0, Threshold::AbsAtMost(1e-9))
            .explain_if_failed(Why::hypothesis("why"));
        assert!(c.holds && c.why.is_none());
        assert!(Claim::check_true("t", true).holds);
        assert!(!Claim::check_none("n", 2, 10).holds);
    }

    #[test]
    fn proportions_carry_an_exact_interval() {
        let e = Estimate::proportion(1000, 1000).unwrap();
        let [lo, hi] = e.interval.unwrap();
        assert!(lo < 0.9964 && lo > 0.9962 && hi == 1.0, "{lo}");
        assert_eq!(e.replicates, 1000);
        assert!(Estimate::proportion(3, 2).is_err());
        let d = Estimate::proportion(45, 100).unwrap().abs_deviation(0.5);
        let [lo, hi] = d.interval.unwrap();
        assert!((d.value - 0.05).abs() < 1e-12 && lo == 0.0 && hi > 0.1);
        let d = Estimate::proportion(10, 100).unwrap().abs_deviation(0.5);
        let [lo, hi] = d.interval.unwrap();
        assert!(lo > 0.32 && hi < 0.46, "{lo} {hi}");
        let e = Estimate::proportion_of([true, false, true, true]).unwrap();
        assert_eq!(e.value, 0.75);
    }

    #[test]
    fn interval_decisions_are_stricter_than_point_decisions() {
        // Differences with mean 0.2 but large spread: the point estimate is above 0, the
        // interval is not.
        let d = Estimate::paired_difference(&[1.0, -0.5, 0.6, -0.3], &[0.0; 4]).unwrap();
        assert!((d.value - 0.2).abs() < 1e-15);
        let point = Claim::finding_estimate("A beats B", d.clone(), Threshold::AtLeast(0.0));
        assert!(point.holds);
        let strict = point.decided_by_interval();
        assert!(!strict.holds);
        assert!(strict.rule().starts_with("95% interval within"));
        let clear = Estimate::paired_difference(&[1.0, 1.1, 0.9, 1.05], &[0.0; 4]).unwrap();
        assert!(
            Claim::finding_estimate("A beats B", clear, Threshold::AtLeast(0.0))
                .decided_by_interval()
                .holds
        );
        assert!(Estimate::paired_difference(&[1.0], &[1.0, 2.0]).is_err());
        let one = Estimate::mean(&[0.4]).unwrap();
        assert_eq!((one.replicates, one.interval), (1, None));
        assert!(
            !Claim::finding_estimate("s", one, Threshold::AtLeast(0.0))
                .decided_by_interval()
                .holds
        );
    }
}
