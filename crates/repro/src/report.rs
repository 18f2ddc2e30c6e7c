use crate::claim::ClaimKind;
use crate::outcome::fmt_num;
use crate::plot::render_svg;
use crate::write::{to_json, write_atomic};
use crate::{Outcome, ReproError};
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

/// The Markdown report of one paper (plots referenced as `<name>.svg` beside it).
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
                fmt_num(c.measured),
                c.threshold.describe()
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
                "- **{}**: {} — measured {} (paper: {}).{}",
                o.experiment,
                c.statement,
                fmt_num(c.measured),
                c.threshold.describe(),
                c.note
                    .as_ref()
                    .map(|n| format!(" *Why:* {n}"))
                    .unwrap_or_default()
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
        if !o.claims.is_empty() {
            let _ = writeln!(
                md,
                "| kind | claim | measured | threshold | verdict |\n|---|---|---|---|---|"
            );
            for c in &o.claims {
                let verdict = match (c.kind, c.holds) {
                    (ClaimKind::Check, true) => "✅ holds",
                    (ClaimKind::Check, false) => "❌ FAILED",
                    (ClaimKind::Finding, true) => "✅ reproduced",
                    (ClaimKind::Finding, false) => "⚠️ not reproduced",
                };
                let kind = match c.kind {
                    ClaimKind::Check => "check",
                    ClaimKind::Finding => "finding",
                };
                let note = c
                    .note
                    .as_ref()
                    .map(|n| format!(" ({})", escape(n)))
                    .unwrap_or_default();
                let _ = writeln!(
                    md,
                    "| {kind} | {}{note} | {} | {} | {verdict} |",
                    escape(&c.statement),
                    fmt_num(c.measured),
                    c.threshold.describe()
                );
            }
            md.push('\n');
        }
        for n in &o.notes {
            let _ = writeln!(md, "- {n}");
        }
        if !o.notes.is_empty() {
            md.push('\n');
        }
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
    use crate::{Claim, Plot, PlotKind, Profile, Series, Threshold};

    #[test]
    fn writes_json_svg_and_reports() {
        let mut o = Outcome::new("demo", "exp", "A demo", Profile::Quick, 3);
        o.claims
            .push(Claim::check("identity", 0.0, Threshold::AbsAtMost(1e-9)));
        o.claims.push(
            Claim::finding("paper says ≥ 0.9", 0.5, Threshold::AtLeast(0.9))
                .with_note("smaller scale"),
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
        assert!(md.contains("*Why:* smaller scale"));
        assert!(md.contains("![Curve](curve.svg)"));
        assert!(dir.path().join("demo/exp.json").exists());
        assert!(dir.path().join("demo/curve.svg").exists());
        let json: Outcome = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("demo/exp.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json.claims.len(), 2);
        write_index(dir.path(), &[summary]).unwrap();
        let idx = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
        assert!(idx.contains("| [demo](demo/REPORT.md) | exp | 1/1 | 0/1 |"));
    }
}
