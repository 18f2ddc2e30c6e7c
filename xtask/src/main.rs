//! `cargo xtask`: the papercraft runner.
//!
//! - `cargo xtask reproduce [PAPER…] [--profile quick|full] [--out DIR] [--seed N] [--list] [--jobs N]`
//! - `cargo xtask bench [BENCH] [CRITERION ARGS…]` (BENCH: one of [`bench::BENCHES`]; after `core-ml`, the
//!   step's GFLOP/s against the sgemm peak and the GEMM ceiling at the model's shapes)

mod bench;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::MultiProgress;
use rayon::prelude::*;
use repro::{Paper, PaperSummary, Profile, RunContext};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// candle allocates a fresh buffer per tensor operation; mimalloc reuses them instead of
/// mapping and unmapping pages for every large one.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every registered paper, in report order.
fn registry() -> Vec<Paper> {
    vec![
        core_ml::experiments::paper(),
        hmm_linear_filter::experiments::paper(),
        committed_q::experiments::paper(),
        conformal::experiments::paper(),
        penex::experiments::paper(),
        disturbance_bounds::experiments::paper(),
        zo_stability::experiments::paper(),
        ml_bricks::experiments::paper(),
        landing_diffusion::experiments::paper(),
        salaad::experiments::paper(),
    ]
}

#[derive(Parser)]
#[command(
    name = "xtask",
    about = "papercraft: reproduce the papers' experiments and run the benches"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    /// CI and a first look (≤ 20 s per paper).
    Quick,
    /// The faithful scale of the paper notes.
    Full,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run papers' experiments, write JSON, SVG plots and Markdown reports, test their claims.
    Reproduce {
        /// Papers to run (crate names); all when omitted.
        papers: Vec<String>,
        /// Experiment scale.
        #[arg(long, value_enum, default_value = "quick")]
        profile: ProfileArg,
        /// Output folder.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Master seed (snapshots use the default).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// List the registered papers and their experiments, then exit.
        #[arg(long)]
        list: bool,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Run the criterion benches: all, or one bench target by name (extra arguments go to
    /// criterion).
    Bench {
        /// A bench name (`cargo xtask bench --list-benches` shows them), then arguments for
        /// criterion, e.g. a filter.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Start the ml-bricks web app (the three activities with a simulated LEGO hub) on
    /// 127.0.0.1 and print its URL.
    Bricks {
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

fn main() -> ExitCode {
    // Exact Hessian-vector products need candle's non-detaching gradients, which it reads from
    // the environment once per thread. Cargo sets this from .cargo/config.toml; set it here too
    // for a binary started directly — before any other thread exists.
    if std::env::var_os("CANDLE_GRAD_DO_NOT_DETACH").is_none() {
        std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    }
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    match Cli::parse().cmd {
        Cmd::Reproduce {
            papers,
            profile,
            out,
            seed,
            list,
            jobs,
        } => {
            let profile = match profile {
                ProfileArg::Quick => Profile::Quick,
                ProfileArg::Full => Profile::Full,
            };
            reproduce(&papers, profile, out, seed, list, jobs)
        }
        Cmd::Bench { args } => bench::run(&args),
        Cmd::Bricks { port } => bricks(port),
    }
}

/// `cargo xtask bricks`: the ml-bricks server until Ctrl-C.
fn bricks(port: u16) -> Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        println!(
            "Machine Learning with Bricks: open http://{}/ (Ctrl-C stops)",
            listener.local_addr()?
        );
        ml_bricks::server::serve(listener)
            .await
            .context("the server stopped")
    })?;
    Ok(ExitCode::SUCCESS)
}

fn select(all: Vec<Paper>, names: &[String]) -> Result<Vec<Paper>> {
    if names.is_empty() {
        return Ok(all);
    }
    let valid: Vec<&str> = all.iter().map(|p| p.name).collect();
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !valid.contains(&n.as_str()))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "unknown paper{} {}; valid papers: {}",
            if unknown.len() > 1 { "s" } else { "" },
            unknown
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            valid.join(", ")
        );
    }
    Ok(all
        .into_iter()
        .filter(|p| names.iter().any(|n| n == p.name))
        .collect())
}

fn run_paper(paper: &Paper, ctx: &RunContext) -> Result<(PaperSummary, f64)> {
    let start = Instant::now();
    let mut outcomes = Vec::new();
    for e in &paper.experiments {
        let o = paper
            .run_experiment(e, ctx)
            .map_err(|err| anyhow::anyhow!("{err}"))
            .with_context(|| format!("paper {}, experiment {}", paper.name, e.name))?;
        outcomes.push(o);
    }
    Ok((
        PaperSummary {
            name: paper.name.to_string(),
            title: paper.title.to_string(),
            outcomes,
        },
        start.elapsed().as_secs_f64(),
    ))
}

fn reproduce(
    names: &[String],
    profile: Profile,
    out: PathBuf,
    seed: u64,
    list: bool,
    jobs: Option<usize>,
) -> Result<ExitCode> {
    let papers = select(registry(), names)?;
    if list {
        for p in &papers {
            println!("{}  —  {}", p.name, p.title);
            for e in &p.experiments {
                println!("    {:<18} {}", e.name, e.description);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(j) = jobs {
        if j == 0 {
            bail!("--jobs must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(j)
            .build_global()
            .context("configuring the thread pool")?;
    }
    let bars = MultiProgress::new();
    let ctx = RunContext::with_progress(profile, seed, bars);
    let results: Vec<(PaperSummary, f64)> = papers
        .par_iter()
        .map(|p| run_paper(p, &ctx))
        .collect::<Result<_>>()?;
    for (s, _) in &results {
        repro::write_paper(&out, s).with_context(|| {
            format!(
                "writing results of paper {} under {}",
                s.name,
                out.display()
            )
        })?;
    }
    let summaries: Vec<PaperSummary> = results.iter().map(|(s, _)| s.clone()).collect();
    let index = repro::write_index(&out, &summaries)
        .with_context(|| format!("writing {}/REPORT.md", out.display()))?;
    let summary_json = repro::write_summary_json(&out, &summaries)
        .with_context(|| format!("writing {}/summary.json", out.display()))?;

    println!(
        "\n{:<20} {:<18} {:>8} {:>10} {:>9}",
        "paper", "experiment", "checks", "findings", "wall (s)"
    );
    let mut failed = 0;
    for (s, _) in &results {
        for o in &s.outcomes {
            let (ch, ct) = o.checks();
            let (fr, ft) = o.findings();
            println!(
                "{:<20} {:<18} {:>8} {:>10} {:>9.2}",
                s.name,
                o.experiment,
                format!("{ch}/{ct}"),
                format!("{fr}/{ft}"),
                o.wall_time_s
            );
        }
    }
    for (s, _) in &results {
        for o in &s.outcomes {
            for c in o.failed_checks() {
                failed += 1;
                println!(
                    "FAILED CHECK  {}/{}: {} — measured {} (needs {})",
                    s.name,
                    o.experiment,
                    c.statement,
                    c.measured,
                    c.rule()
                );
            }
            for c in o.unreproduced_findings() {
                println!(
                    "not reproduced  {}/{}: {} — measured {} (rule: {})",
                    s.name,
                    o.experiment,
                    c.statement,
                    c.estimate
                        .as_ref()
                        .map_or_else(|| c.measured.to_string(), |e| e.describe()),
                    c.rule()
                );
            }
        }
    }
    for (s, t) in &results {
        println!("{}: {:.2} s in total", s.name, t);
    }
    println!("report: {}", index.display());
    println!("claims: {}", summary_json.display());
    if failed > 0 {
        eprintln!("{failed} check(s) failed: these are bugs");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::registry;

    /// Names become folders and file names, and the harness matches outcomes to the registry
    /// by them (every experiment's run is checked against its entry by
    /// `repro::Paper::run_experiment`, which the crates' snapshot tests call): they must be
    /// unique and file-name safe.
    #[test]
    fn registry_names_are_unique_and_file_safe() {
        let papers = registry();
        let safe = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        let mut names: Vec<&str> = papers.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), papers.len(), "duplicate paper names");
        for p in &papers {
            assert!(safe(p.name), "paper name {:?}", p.name);
            let mut exps: Vec<&str> = p.experiments.iter().map(|e| e.name).collect();
            assert!(exps.iter().all(|e| safe(e)), "{}: {exps:?}", p.name);
            exps.sort_unstable();
            exps.dedup();
            assert_eq!(
                exps.len(),
                p.experiments.len(),
                "{}: duplicate experiments",
                p.name
            );
            assert!(!p.experiments.is_empty(), "{} has no experiments", p.name);
        }
    }
}
