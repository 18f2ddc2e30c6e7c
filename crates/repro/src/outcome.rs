use crate::claim::{Claim, ClaimKind, Why};
use crate::plot::Plot;
use crate::ReproError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// How big an experiment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// CI and a first look: every claim checked at reduced size, ≤ 20 s per paper.
    Quick,
    /// The faithful scale of the paper notes (minutes per paper).
    Full,
}

impl Profile {
    /// Picks the quick or the full value.
    pub fn pick<T>(self, quick: T, full: T) -> T {
        match self {
            Profile::Quick => quick,
            Profile::Full => full,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Quick => "quick",
            Profile::Full => "full",
        })
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "quick" => Ok(Profile::Quick),
            "full" => Ok(Profile::Full),
            other => Err(format!("unknown profile {other:?}; valid: quick, full")),
        }
    }
}

/// One table cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// An integer.
    Int(i64),
    /// A real number.
    Num(f64),
    /// Text.
    Text(String),
}

impl From<f64> for Cell {
    fn from(x: f64) -> Self {
        Cell::Num(x)
    }
}
impl From<usize> for Cell {
    fn from(x: usize) -> Self {
        Cell::Int(x as i64)
    }
}
impl From<i64> for Cell {
    fn from(x: i64) -> Self {
        Cell::Int(x)
    }
}
impl From<&str> for Cell {
    fn from(x: &str) -> Self {
        Cell::Text(x.to_string())
    }
}
impl From<String> for Cell {
    fn from(x: String) -> Self {
        Cell::Text(x)
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Int(i) => write!(f, "{i}"),
            Cell::Num(x) => f.write_str(&fmt_num(*x)),
            Cell::Text(s) => f.write_str(s),
        }
    }
}

/// A named table of results.
///
/// A table is *stochastic* by default: its numbers depend on the master seed, and the snapshot
/// test checks that another seed changes it. Tables of exact computations (closed forms,
/// enumerations) are declared with [`Table::deterministic`], and the test checks that no seed
/// changes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Name (also the heading in the report).
    pub name: String,
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows; each has one cell per column.
    pub rows: Vec<Vec<Cell>>,
    /// Whether the table is independent of the master seed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deterministic: bool,
}

impl Table {
    /// An empty stochastic table with the given columns.
    pub fn new(name: impl Into<String>, columns: &[&str]) -> Self {
        Self {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
            deterministic: false,
        }
    }

    /// An empty table of exact computations, which no seed may change.
    pub fn deterministic(name: impl Into<String>, columns: &[&str]) -> Self {
        Self {
            deterministic: true,
            ..Self::new(name, columns)
        }
    }

    /// Appends a row.
    ///
    /// # Panics
    /// If the row's length differs from the number of columns (a programming error in the
    /// experiment, not a data error).
    pub fn push(&mut self, row: Vec<Cell>) {
        assert_eq!(
            row.len(),
            self.columns.len(),
            "table {}: row length",
            self.name
        );
        self.rows.push(row);
    }
}

/// Everything one experiment produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The paper's crate name.
    pub paper: String,
    /// The experiment's name.
    pub experiment: String,
    /// One-line description.
    pub title: String,
    /// Profile it ran under.
    pub profile: Profile,
    /// Master seed.
    pub seed: u64,
    /// Parameters worth recording (sizes, counts, choices), in stable key order.
    pub params: serde_json::Map<String, Value>,
    /// Result tables.
    pub tables: Vec<Table>,
    /// Plots (each becomes an SVG).
    pub plots: Vec<Plot>,
    /// Checks and findings.
    pub claims: Vec<Claim>,
    /// Free-form remarks: conventions, choices, explanations.
    pub notes: Vec<String>,
    /// Wall-clock seconds (filled in by the runner; redacted in snapshots).
    pub wall_time_s: f64,
}

impl Outcome {
    /// An empty outcome.
    pub fn new(paper: &str, experiment: &str, title: &str, profile: Profile, seed: u64) -> Self {
        Self {
            paper: paper.into(),
            experiment: experiment.into(),
            title: title.into(),
            profile,
            seed,
            params: Default::default(),
            tables: vec![],
            plots: vec![],
            claims: vec![],
            notes: vec![],
            wall_time_s: 0.0,
        }
    }

    /// Records a parameter: any serialisable value (numbers, strings, arrays, structs).
    pub fn param(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        let v = serde_json::to_value(value).unwrap_or_else(|e| Value::String(e.to_string()));
        self.params.insert(key.into(), v);
        self
    }

    /// Checks the harness's rules: every [`Why::Evidence`] names a table, plot or claim of this
    /// outcome, and every table row has one cell per column.
    pub fn validate(&self) -> Result<(), ReproError> {
        let invalid = |reason: String| ReproError::Invalid {
            paper: self.paper.clone(),
            experiment: self.experiment.clone(),
            reason,
        };
        let known = |name: &str| {
            self.tables.iter().any(|t| t.name == name)
                || self.plots.iter().any(|p| p.name == name || p.title == name)
                || self.claims.iter().any(|c| c.statement == name)
        };
        for c in &self.claims {
            if let Some(Why::Evidence { see, .. }) = &c.why {
                if see.is_empty() {
                    return Err(invalid(format!(
                        "the explanation of “{}” names no evidence; use Why::hypothesis",
                        c.statement
                    )));
                }
                if let Some(missing) = see.iter().find(|s| !known(s)) {
                    return Err(invalid(format!(
                        "the explanation of “{}” cites “{missing}”, which is no table, plot or claim of this outcome",
                        c.statement
                    )));
                }
            }
        }
        for t in &self.tables {
            if let Some(r) = t.rows.iter().find(|r| r.len() != t.columns.len()) {
                return Err(invalid(format!(
                    "table “{}” has a row of {} cells for {} columns",
                    t.name,
                    r.len(),
                    t.columns.len()
                )));
            }
        }
        Ok(())
    }

    fn count(&self, kind: ClaimKind) -> (usize, usize) {
        let of_kind = self.claims.iter().filter(|c| c.kind == kind);
        let total = of_kind.clone().count();
        (of_kind.filter(|c| c.holds).count(), total)
    }

    /// `(held, total)` over checks.
    pub fn checks(&self) -> (usize, usize) {
        self.count(ClaimKind::Check)
    }

    /// `(reproduced, total)` over findings.
    pub fn findings(&self) -> (usize, usize) {
        self.count(ClaimKind::Finding)
    }

    /// The checks that failed.
    pub fn failed_checks(&self) -> impl Iterator<Item = &Claim> {
        self.claims
            .iter()
            .filter(|c| c.kind == ClaimKind::Check && !c.holds)
    }

    /// The findings that did not reproduce.
    pub fn unreproduced_findings(&self) -> impl Iterator<Item = &Claim> {
        self.claims
            .iter()
            .filter(|c| c.kind == ClaimKind::Finding && !c.holds)
    }

    /// The outcome as JSON for an insta snapshot: the wall time removed, every float rounded to
    /// `rounding.digits` significant digits, and magnitudes below `rounding.floor` (rounding
    /// noise, e.g. the error of an exact identity) shown as 0. Integers and verdicts (`holds`)
    /// stay exact, so a noise-level value that crosses its threshold still shows up.
    pub fn snapshot(&self, rounding: Rounding) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.remove("wall_time_s");
        }
        round_value(&mut v, rounding.digits, rounding.floor);
        v
    }
}

/// How far an experiment's snapshot rounds its floats, and why: as little as holds across CPUs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rounding {
    /// Significant digits kept.
    pub digits: i32,
    /// Magnitudes below this show as 0.
    pub floor: f64,
    /// Why this much.
    pub reason: &'static str,
}

impl Rounding {
    /// Seeded f64 computations (closed forms, simulations, exact tools): the same bits on every
    /// CPU up to libm's last-bit differences, so 6 digits; values below 1e-9 are the rounding
    /// noise of exact identities.
    pub const EXACT: Rounding = Rounding {
        digits: 6,
        floor: 1e-9,
        reason: "seeded f64 computations: identical on every CPU to far more than 6 digits",
    };
    /// Numbers from models trained with candle: its matrix kernels are chosen per CPU at run
    /// time (AVX2, AVX-512), so a trained model's last bits differ between machines; 4 digits.
    pub const TRAINED: Rounding = Rounding {
        digits: 4,
        floor: 1e-9,
        reason: "trained with candle, whose SIMD kernels are chosen per CPU: last bits differ",
    };
}

fn round_value(v: &mut Value, digits: i32, floor: f64) {
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(x) = n.as_f64() {
                let r = if x.abs() < floor {
                    0.0
                } else {
                    round_significant(x, digits)
                };
                *v = serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| round_value(x, digits, floor)),
        Value::Object(m) => m.values_mut().for_each(|x| round_value(x, digits, floor)),
        _ => {}
    }
}

/// Rounds `x` to `digits` significant decimal digits (0, NaN and infinities unchanged;
/// `digits` is clamped to `1..=17`, the most an f64 holds; a value whose rounding would
/// overflow, like `f64::MAX` to one digit, is returned unchanged).
pub fn round_significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = digits.clamp(1, 17);
    let mag = x.abs().log10().floor() as i32;
    let p = digits - 1 - mag;
    let s = 10f64.powi(p.abs());
    let r = if p >= 0 {
        (x * s).round() / s
    } else {
        (x / s).round() * s
    };
    // Near the ends of the range the scale over- or underflows (5e-324 needs 10^329): the
    // decimal formatting below then does the rounding alone.
    // From 15 digits on, the scaling's own rounding is as large as the digit kept: decimal
    // formatting alone is exact.
    let r = if r.is_finite() && r != 0.0 && digits < 15 {
        r
    } else {
        x
    };
    // Re-parse through the shortest decimal so the JSON shows e.g. 0.1 rather than 0.1000000001.
    let out: f64 = format!("{:.*e}", (digits - 1) as usize, r)
        .parse()
        .unwrap_or(r);
    // f64::MAX to one digit is 2e308: beyond the range, so x is returned as it is.
    if out.is_finite() {
        out
    } else {
        x
    }
}

/// Formats a number for reports: 4 significant digits, scientific when tiny or huge.
pub(crate) fn fmt_num(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if !x.is_finite() {
        format!("{x}")
    } else if x.abs() < 1e-3 || x.abs() >= 1e6 {
        format!("{x:.3e}")
    } else if x.fract() == 0.0 && x.abs() < 1e6 {
        format!("{x:.0}")
    } else {
        let r = round_significant(x, 4);
        format!("{r}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Claim, Threshold};

    #[test]
    fn rounding() {
        assert_eq!(round_significant(0.123456, 3), 0.123);
        assert_eq!(round_significant(123456.0, 2), 120000.0);
        assert_eq!(round_significant(-0.0009876, 2), -0.00099);
        assert_eq!(round_significant(0.0, 3), 0.0);
        assert_eq!(fmt_num(0.0711), "0.0711");
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(1.5e-12), "1.500e-12");
    }

    #[test]
    fn counts_and_snapshot() {
        let mut o = Outcome::new("p", "e", "t", Profile::Quick, 1);
        o.claims
            .push(Claim::check("c1", 1e-13, Threshold::AbsAtMost(1e-9)));
        o.claims
            .push(Claim::check("c2", 2.0, Threshold::AtMost(1.0)));
        o.claims
            .push(Claim::finding("f", 0.123456, Threshold::AtLeast(0.1)));
        o.wall_time_s = 3.5;
        assert_eq!(o.checks(), (1, 2));
        assert_eq!(o.findings(), (1, 1));
        assert_eq!(o.failed_checks().count(), 1);
        let s = o.snapshot(Rounding {
            digits: 3,
            floor: 1e-9,
            reason: "test",
        });
        assert!(s.get("wall_time_s").is_none());
        assert_eq!(s["claims"][0]["measured"], serde_json::json!(0.0));
        assert_eq!(s["claims"][2]["measured"], serde_json::json!(0.123));
        assert_eq!("full".parse::<Profile>().unwrap(), Profile::Full);
        assert!("medium".parse::<Profile>().is_err());
    }
}
