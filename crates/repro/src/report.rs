use crate::claim::{Claim, ClaimKind, Threshold};
use crate::outcome::fmt_num;
use crate::plot::render_svg;
use crate::write::{to_json, write_atomic};
use crate::{Outcome, Profile, ReproError};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A paper's outcomes, ready to be written.
#[derive(Debug, Clone)]
pub struct PaperSummary {
    /// Crate name.
    pub name: String,
    /// Paper title.
    pub title: String,
    /// One outcome per experiment, in order.
    pub outcomes: Vec<Outcome>,
}

impl PaperSummary {
    fn sum(&self, f: impl Fn(&Outcome) -> (usize, usize)) -> (usize, usize) {
        self.outcomes
            .iter()
            .map(f)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }
    /// `(held, total)` over all checks.
    pub fn checks(&self) -> (usize, usize) {
        self.sum(Outcome::checks)
    }
    /// `(reproduced, total)` over all findings.
    pub fn findings(&self) -> (usize, usize) {
        self.sum(Outcome::findings)
    }
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn verdict(c: &Claim) -> &'static str {
    match (c.kind, c.holds) {
        (ClaimKind::Check, true) => "✅ holds",
        (ClaimKind::Check, false) => "❌ FAILED",
        (ClaimKind::Finding, true) => "✅ reproduced",
        (ClaimKind::Finding, false) => "⚠️ not reproduced",
    }
}

/// "ours ± uncertainty" for the claims table.
fn ours(c: &Claim) -> String {
    match &c.estimate {
        Some(e) => e.describe(),
        None => match (c.threshold, c.kind) {
            (Threshold::IsTrue, _) => if c.measured == 1.0 { "true" } else { "false" }.into(),
            (Threshold::NoneAmong(n), _) => format!("{} of {n}", fmt_num(c.measured)),
            // A finding without an estimate is seed-independent (the snapshot test checks it).
            (_, ClaimKind::Finding) => format!("{} (exact)", fmt_num(c.measured)),
            (_, ClaimKind::Check) => fmt_num(c.measured),
        },
    }
}

/// The Markdown report of one paper (plots referenced as `<name>.svg` beside it). It opens with
/// the table of every claim — statement, the paper's value, ours with its uncertainty, the
/// decision rule and the verdict — then explains the failures, then shows each experiment.
pub fn paper_report_markdown(summary: &PaperSummary) -> String {
    let mut md = String::new();
    let (ch, ct) = summary.checks();
    let (fr, ft) = summary.findings();
    let profile = summary
        .outcomes
        .first()
        .map(|o| o.profile.to_string())
        .unwrap_or_default();
    let seed = summary.outcomes.first().map(|o| o.seed).unwrap_or_default();
    let _ = writeln!(md, "# {} — {}\n", summary.name, summary.title);
    let _ = writeln!(
        md,
        "Profile `{profile}`, seed {seed}. Checks held: **{ch}/{ct}**. Findings reproduced: **{fr}/{ft}**.\n"
    );
    let _ = writeln!(md, "## Claims\n");
    let _ = writeln!(
        md,
        "| experiment | kind | claim | paper | ours | rule | verdict |\n|---|---|---|---|---|---|---|"
    );
    for kind in [ClaimKind::Finding, ClaimKind::Check] {
        for o in &summary.outcomes {
            for c in o.claims.iter().filter(|c| c.kind == kind) {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    o.experiment,
                    match c.kind {
                        ClaimKind::Check => "check",
                        ClaimKind::Finding => "finding",
                    },
                    escape(&c.statement),
                    escape(&c.paper.clone().unwrap_or_else(|| c.threshold.describe())),
                    escape(&ours(c)),
                    escape(&c.rule()),
                    verdict(c)
                );
            }
        }
    }
    md.push('\n');
    let failed: Vec<_> = summary
        .outcomes
        .iter()
        .flat_map(|o| o.failed_checks().map(move |c| (o, c)))
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(md, "## ❌ Failed checks (bugs)\n");
        for (o, c) in failed {
            let _ = writeln!(
                md,
                "- **{}**: {} — measured {} (needs {})",
                o.experiment,
                c.statement,
                ours(c),
                c.rule()
            );
        }
        md.push('\n');
    }
    let unrep: Vec<_> = summary
        .outcomes
        .iter()
        .flat_map(|o| o.unreproduced_findings().map(move |c| (o, c)))
        .collect();
    if !unrep.is_empty() {
        let _ = writeln!(md, "## Findings that did not reproduce\n");
        for (o, c) in unrep {
            let _ = writeln!(
                md,
                "- **{}**: {} — measured {} (rule: {}).{}",
                o.experiment,
                c.statement,
                ours(c),
                c.rule(),
                c.why
                    .as_ref()
                    .map(|w| format!(" *Why:* {}", w.describe()))
                    .unwrap_or_else(|| " *Why:* not explained.".into())
            );
        }
        md.push('\n');
    }
    for o in &summary.outcomes {
        let _ = writeln!(md, "## {} — {}\n", o.experiment, o.title);
        let _ = writeln!(md, "Wall time {:.2} s.\n", o.wall_time_s);
        if !o.params.is_empty() {
            let _ = writeln!(
                md,
                "Parameters: `{}`\n",
                serde_json::Value::Object(o.params.clone())
            );
        }
        let noted: Vec<&Claim> = o.claims.iter().filter(|c| c.note.is_some()).collect();
        for c in noted {
            let _ = writeln!(
                md,
                "- *{}*: {}",
                c.statement,
                c.note.as_deref().unwrap_or_default()
            );
        }
        for n in &o.notes {
            let _ = writeln!(md, "- {n}");
        }
        md.push('\n');
        for p in &o.plots {
            let _ = writeln!(md, "![{}]({}.svg)\n", escape(&p.title), p.name);
        }
        for t in &o.tables {
            let _ = writeln!(md, "### {}\n", t.name);
            let _ = writeln!(
                md,
                "| {} |",
                t.columns
                    .iter()
                    .map(|c| escape(c))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            let _ = writeln!(md, "|{}|", vec!["---"; t.columns.len()].join("|"));
            for r in &t.rows {
                let _ = writeln!(
                    md,
                    "| {} |",
                    r.iter()
                        .map(|c| escape(&c.to_string()))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
            }
            md.push('\n');
        }
    }
    md
}

/// One claim of the run, with where it comes from (a row of `results/summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryClaim {
    /// The paper.
    pub paper: String,
    /// The experiment.
    pub experiment: String,
    /// The claim.
    #[serde(flatten)]
    pub claim: Claim,
}

/// `results/summary.json`: every claim of the run, machine-readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The profile.
    pub profile: Profile,
    /// The master seed.
    pub seed: u64,
    /// `(held, total)` over checks.
    pub checks: (usize, usize),
    /// `(reproduced, total)` over findings.
    pub findings: (usize, usize),
    /// Every claim, in report order.
    pub claims: Vec<SummaryClaim>,
}

impl RunSummary {
    /// The summary of `papers`' outcomes.
    pub fn new(papers: &[PaperSummary]) -> Self {
        let first = papers.iter().flat_map(|p| p.outcomes.first()).next();
        let add = |a: (usize, usize), b: (usize, usize)| (a.0 + b.0, a.1 + b.1);
        Self {
            profile: first.map_or(Profile::Quick, |o| o.profile),
            seed: first.map_or(0, |o| o.seed),
            checks: papers.iter().map(PaperSummary::checks).fold((0, 0), add),
            findings: papers.iter().map(PaperSummary::findings).fold((0, 0), add),
            claims: papers
                .iter()
                .flat_map(|p| &p.outcomes)
                .flat_map(|o| {
                    o.claims.iter().map(|c| SummaryClaim {
                        paper: o.paper.clone(),
                        experiment: o.experiment.clone(),
                        claim: c.clone(),
                    })
                })
                .collect(),
        }
    }
}

/// Writes `<out>/summary.json` ([`RunSummary`]). Returns its path.
pub fn write_summary_json(out: &Path, papers: &[PaperSummary]) -> Result<PathBuf, ReproError> {
    let path = out.join("summary.json");
    let json = serde_json::to_string_pretty(&RunSummary::new(papers))?;
    write_atomic(&path, json.as_bytes())?;
    Ok(path)
}

/// Writes `<out>/<paper>/`: one `<experiment>.json` per outcome, one `<plot>.svg` per plot and
/// `REPORT.md`. Returns the report's path.
pub fn write_paper(out: &Path, summary: &PaperSummary) -> Result<PathBuf, ReproError> {
    let dir = out.join(&summary.name);
    for o in &summary.outcomes {
        write_atomic(
            &dir.join(format!("{}.json", o.experiment)),
            to_json(o)?.as_bytes(),
        )?;
        for p in &o.plots {
            write_atomic(
                &dir.join(format!("{}.svg", p.name)),
                render_svg(p)?.as_bytes(),
            )?;
        }
    }
    let report = dir.join("REPORT.md");
    write_atomic(&report, paper_report_markdown(summary).as_bytes())?;
    Ok(report)
}

/// Writes `<out>/REPORT.md`: one row per experiment, linking each paper's report.
pub fn write_index(out: &Path, papers: &[PaperSummary]) -> Result<PathBuf, ReproError> {
    let mut md = String::from("# papercraft reproduction report\n\n");
    let _ = writeln!(
        md,
        "| paper | experiment | checks | findings | wall (s) |\n|---|---|---|---|---|"
    );
    for p in papers {
        for o in &p.outcomes {
            let (ch, ct) = o.checks();
            let (fr, ft) = o.findings();
            let _ = writeln!(
                md,
                "| [{}]({}/REPORT.md) | {} | {ch}/{ct}{} | {fr}/{ft} | {:.2} |",
                p.name,
                p.name,
                o.experiment,
                if ch < ct { " ❌" } else { "" },
                o.wall_time_s
            );
        }
    }
    let path = out.join("REPORT.md");
    write_atomic(&path, md.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Claim, Estimate, Plot, PlotKind, Profile, Series, Threshold, Why};

    #[test]
    fn writes_json_svg_and_reports() {
        let mut o = Outcome::new("demo", "exp", "A demo", Profile::Quick, 3);
        o.claims
            .push(Claim::check("identity", 0.0, Threshold::AbsAtMost(1e-9)));
        o.claims.push(
            Claim::finding_estimate(
                "paper says ≥ 0.9",
                Estimate::proportion(50, 100).unwrap(),
                Threshold::AtLeast(0.9),
            )
            .explain_if_failed(Why::hypothesis("smaller scale")),
        );
        o.plots.push(Plot::new(
            "curve",
            "Curve",
            "x",
            "y",
            PlotKind::Line(vec![Series::new("s", vec![0.0, 1.0], vec![1.0, 2.0])]),
        ));
        let summary = PaperSummary {
            name: "demo".into(),
            title: "Demo paper".into(),
            outcomes: vec![o],
        };
        let dir = tempfile::tempdir().unwrap();
        let report = write_paper(dir.path(), &summary).unwrap();
        let md = std::fs::read_to_string(report).unwrap();
        assert!(md.contains("Findings that did not reproduce"));
        assert!(md.contains("*Why:* Hypothesis, not measured here: smaller scale"));
        // The claims table opens the report, findings first, with the interval.
        let claims_at = md.find("## Claims").unwrap();
        assert!(claims_at < md.find("## exp").unwrap());
        assert!(md.contains("| exp | finding | paper says ≥ 0.9 | ≥ 0.9 | 0.5 [0.3983, 0.6017] (n = 100, Clopper–Pearson 95%) | ≥ 0.9 | ⚠️ not reproduced |"), "{md}");
        assert!(md.contains("![Curve](curve.svg)"));
        assert!(dir.path().join("demo/exp.json").exists());
        assert!(dir.path().join("demo/curve.svg").exists());
        let json: Outcome = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("demo/exp.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json.claims.len(), 2);
        let sj = write_summary_json(dir.path(), std::slice::from_ref(&summary)).unwrap();
        let back: RunSummary = serde_json::from_str(&std::fs::read_to_string(sj).unwrap()).unwrap();
        assert_eq!(back.claims.len(), 2);
        assert_eq!(
            back.claims[1].claim.estimate.as_ref().unwrap().replicates,
            100
        );
        assert_eq!(back.findings, (0, 1));
        write_index(dir.path(), &[summary]).unwrap();
        let idx = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
        assert!(idx.contains("| [demo](demo/REPORT.md) | exp | 1/1 | 0/1 |"));
    }
}
