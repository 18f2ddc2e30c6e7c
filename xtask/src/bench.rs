//! `cargo xtask bench`: runs the criterion benches, and after the core-ml bench prints the
//! training step's throughput beside the ceilings measured in the same run (after the conformal
//! bench, rows/s beside the memory bandwidth and MAPIE's figures).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The bench targets of `papercraft-benches`, by the name the CLI takes.
pub const BENCHES: [(&str, &str); 10] = [
    ("hmm-linear-filter", "hmm_linear_filter"),
    ("core-ml", "core_ml"),
    ("committed-q", "committed_q"),
    ("conformal", "conformal"),
    ("penex", "penex"),
    ("disturbance-bounds", "disturbance_bounds"),
    ("zo-stability", "zo_stability"),
    ("ml-bricks", "ml_bricks"),
    ("landing-diffusion", "landing_diffusion"),
    ("salaad", "salaad"),
];

/// Runs `cargo bench` for the named bench (or all when the first argument is not a bench
/// name but a criterion flag or nothing), then the core-ml and conformal summaries when those
/// ran.
pub fn run(args: &[String]) -> Result<ExitCode> {
    let (target, rest) = match args.first() {
        Some(a) if a == "--list-benches" => {
            for (name, _) in BENCHES {
                println!("{name}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Some(a) if !a.starts_with('-') => match BENCHES.iter().find(|(n, _)| n == a) {
            Some((_, t)) => (Some(*t), &args[1..]),
            None => bail!(
                "unknown bench {a:?}; the benches are: {}",
                BENCHES.map(|b| b.0).join(", ")
            ),
        },
        _ => (None, args),
    };
    let mut cmd =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["bench", "--package", "papercraft-benches"]);
    if let Some(t) = target {
        cmd.args(["--bench", t]);
    }
    let status = cmd
        .arg("--")
        .args(rest)
        .status()
        .context("running cargo bench")?;
    if !status.success() {
        return Ok(ExitCode::FAILURE);
    }
    if target.is_none() || target == Some("core_ml") {
        println!("\n{}", core_ml_summary(&criterion_dir())?);
    }
    if target.is_none() || target == Some("hmm_linear_filter") {
        let peers =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/peers/hmmlearn_forward.json");
        println!("\n{}", hmm_summary(&criterion_dir(), &peers)?);
    }
    if target.is_none() || target == Some("penex") {
        println!("\n{}", penex_summary(&criterion_dir())?);
    }
    if target.is_none() || target == Some("conformal") {
        let peers =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/peers/mapie_conformal.json");
        println!("\n{}", conformal_summary(&criterion_dir(), &peers)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

/// One measured bench: its criterion id, FLOPs per iteration and median time.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// `group/function`.
    pub id: String,
    /// FLOPs per iteration (the bench's element throughput).
    pub flops: f64,
    /// Median seconds per iteration.
    pub seconds: f64,
}

impl Measured {
    /// FLOP/s ÷ 1e9.
    pub fn gflops(&self) -> f64 {
        self.flops / self.seconds / 1e9
    }
}

/// Reads every bench of `group` from criterion's output folder (`new/benchmark.json` for the
/// throughput, `new/estimates.json` for the median).
pub fn read_group(criterion: &Path, group: &str) -> Result<Vec<Measured>> {
    let dir = criterion.join(group.replace('/', "_"));
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .with_context(|| format!("no criterion results in {}", dir.display()))?;
    // `group/function/new/` for a plain function, `group/function/parameter/new/` for a
    // `BenchmarkId` with a parameter.
    let mut dirs = Vec::new();
    for e in entries {
        let d = e?.path();
        if d.join("new").is_dir() {
            dirs.push(d.join("new"));
        } else if let Ok(sub) = std::fs::read_dir(&d) {
            for s in sub {
                let s = s?.path().join("new");
                if s.is_dir() {
                    dirs.push(s);
                }
            }
        }
    }
    for path in dirs {
        let Ok(meta) = std::fs::read_to_string(path.join("benchmark.json")) else {
            continue;
        };
        let meta: serde_json::Value = serde_json::from_str(&meta)?;
        let est: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path.join("estimates.json"))?)?;
        let flops = meta["throughput"]["Elements"]
            .as_f64()
            .with_context(|| format!("{}: no element throughput", path.display()))?;
        let ns = est["median"]["point_estimate"]
            .as_f64()
            .with_context(|| format!("{}: no median", path.display()))?;
        out.push(Measured {
            id: meta["full_id"].as_str().unwrap_or_default().to_string(),
            flops,
            seconds: ns * 1e-9,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The summary: each LM step's GFLOP/s, the square sgemm peak (the fastest size), the GEMM
/// ceiling at the LM's shapes (their FLOPs over their summed times) and the ratios.
pub fn core_ml_summary(criterion: &Path) -> Result<String> {
    let peak = read_group(criterion, "core-ml/sgemm-peak")?;
    let shapes = read_group(criterion, "core-ml/gemm-at-lm-shapes")?;
    let steps = read_group(criterion, "core-ml/train-step")?;
    summarise(&peak, &shapes, &steps)
}

/// [`core_ml_summary`] from measurements.
pub fn summarise(peak: &[Measured], shapes: &[Measured], steps: &[Measured]) -> Result<String> {
    let best = peak
        .iter()
        .max_by(|a, b| a.gflops().total_cmp(&b.gflops()))
        .context("no sgemm-peak measurement")?;
    if shapes.is_empty() {
        bail!("no gemm-at-lm-shapes measurement");
    }
    let ceiling = shapes.iter().map(|m| m.flops).sum::<f64>()
        / shapes.iter().map(|m| m.seconds).sum::<f64>()
        / 1e9;
    let mut s = format!(
        "core-ml, this run (medians):\n  square sgemm peak        {:7.1} GFLOP/s  ({})\n  GEMM ceiling, LM shapes  {:7.1} GFLOP/s  ({:.0}% of the peak)\n",
        best.gflops(),
        best.id,
        ceiling,
        100.0 * ceiling / best.gflops()
    );
    for m in steps.iter().filter(|m| m.id.contains("/lm-")) {
        s += &format!(
            "  {:<62} {:7.1} GFLOP/s  {:6.1} ms  {:5.1}% of peak  {:5.1}% of ceiling\n",
            m.id.trim_start_matches("core-ml/train-step/"),
            m.gflops(),
            m.seconds * 1e3,
            100.0 * m.gflops() / best.gflops(),
            100.0 * m.gflops() / ceiling
        );
    }
    Ok(s)
}

/// The conformal summary: end-to-end rows/s of each score and size, the input's GB/s beside
/// the memory-read bandwidth measured in the same run, and the ratio to MAPIE's rows/s kept in
/// `peers` (`{"rows_per_s": {"lac/1000000": …}}`, measured by
/// `benches/peers/mapie_conformal.py`).
pub fn conformal_summary(criterion: &Path, peers: &Path) -> Result<String> {
    let read = read_group(criterion, "conformal/memory-read")?;
    let e2e = read_group(criterion, "conformal/end-to-end")?;
    // The f32 group is absent when a filter ran only the f64 benches.
    let e2e32 = read_group(criterion, "conformal/end-to-end-f32").unwrap_or_default();
    let peers: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(peers).with_context(|| format!("reading {}", peers.display()))?,
    )?;
    summarise_conformal(&read, &e2e, &e2e32, &peers)
}

/// [`conformal_summary`] from measurements (10 classes per row: of f64 in `e2e`, of f32 in
/// `e2e32`, each compared with MAPIE's figure for the same score and size on f64 input).
pub fn summarise_conformal(
    read: &[Measured],
    e2e: &[Measured],
    e2e32: &[Measured],
    peers: &serde_json::Value,
) -> Result<String> {
    let bw = read.first().context("no memory-read measurement")?;
    let bw_gbs = bw.flops / bw.seconds / 1e9;
    let mut s = format!(
        "conformal, this run (medians); MAPIE {} measured {}:\n  memory read (parallel sum)  {bw_gbs:6.2} GB/s\n",
        peers["mapie"].as_str().unwrap_or("?"),
        peers["measured"].as_str().unwrap_or("?")
    );
    if e2e.is_empty() {
        bail!("no end-to-end measurement");
    }
    let f64s = e2e.iter().map(|m| (m, "conformal/end-to-end/", "", 8.0));
    let f32s = e2e32
        .iter()
        .map(|m| (m, "conformal/end-to-end-f32/", " f32", 4.0));
    for (m, group, tag, bytes) in f64s.chain(f32s) {
        let key = m.id.trim_start_matches(group);
        let rows = m.flops / m.seconds;
        let gbs = rows * 10.0 * bytes / 1e9;
        let label = format!("{key}{tag}");
        let mapie = peers["rows_per_s"][key].as_f64();
        s += &format!(
            "  {label:<18} {:10.3e} rows/s  {gbs:5.2} GB/s ({:4.1}% of memory read)  {}\n",
            rows,
            100.0 * gbs / bw_gbs,
            mapie.map_or("no MAPIE figure".to_string(), |r| format!(
                "{:5.1}× MAPIE ({r:.3e} rows/s)",
                rows / r
            ))
        );
    }
    Ok(s)
}

/// The penex summary: each loss + gradient's median time over the 4096 × 1000 f32 logits, its
/// ratio to core-ml's fused cross-entropy (target for PENEX: ≤ 1.5×) and the logits' bytes per
/// second as a share of the memory-read bandwidth of the same run.
pub fn penex_summary(criterion: &Path) -> Result<String> {
    let read = read_group(criterion, "penex/memory-read")?;
    let candle = read_group(criterion, "penex/loss-grad/4096x1000")?;
    let slice = read_group(criterion, "penex/slice-f32/4096x1000").unwrap_or_default();
    summarise_penex(&read, &candle, &slice)
}

/// [`penex_summary`] from measurements (elements: logits per iteration, 4 bytes each).
pub fn summarise_penex(
    read: &[Measured],
    candle: &[Measured],
    slice: &[Measured],
) -> Result<String> {
    let bw = read.first().context("no memory-read measurement")?;
    let bw_gbs = bw.flops / bw.seconds / 1e9;
    let base = candle
        .iter()
        .find(|m| m.id.ends_with("/fused-cross-entropy"))
        .context("no fused cross-entropy measurement")?;
    let mut s = format!(
        "penex, this run (medians; 4096 × 1000 f32 logits, forward + backward):\n  memory read (parallel sum)  {bw_gbs:6.2} GB/s\n"
    );
    for m in candle.iter().chain(slice) {
        let name = m.id.rsplit('/').next().unwrap_or(&m.id);
        let path = if slice.contains(m) {
            "slice "
        } else {
            "candle"
        };
        let gbs = m.flops * 4.0 / m.seconds / 1e9;
        s += &format!(
            "  {path} {name:<24} {:7.2} ms  {:5.2}× fused cross-entropy  logits at {gbs:5.2} GB/s ({:4.1}% of memory read)\n",
            m.seconds * 1e3,
            m.seconds / base.seconds,
            100.0 * gbs / bw_gbs
        );
    }
    Ok(s)
}

/// The hmm-linear-filter summary at |S| = 4096: steps/s per filter, the dense step's read of T
/// against the memory-read bandwidth, and the ratio to hmmlearn's forward pass.
pub fn hmm_summary(criterion: &Path, peers: &Path) -> Result<String> {
    let read = read_group(criterion, "hmm-linear-filter/memory-read")?;
    let single = read_group(criterion, "hmm-linear-filter/single/4096")?;
    let peers: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(peers).with_context(|| format!("reading {}", peers.display()))?,
    )?;
    summarise_hmm(&read, &single, &peers)
}

/// [`hmm_summary`] from measurements (|S| = 4096, a dense step reads 4096² f64).
pub fn summarise_hmm(
    read: &[Measured],
    single: &[Measured],
    peers: &serde_json::Value,
) -> Result<String> {
    let bw = read.first().context("no memory-read measurement")?;
    let bw_gbs = bw.flops / bw.seconds / 1e9;
    let peer = |transition: &str, implementation: &str| {
        peers["results"].as_array().and_then(|rs| {
            rs.iter()
                .find(|r| r["transition"] == transition && r["implementation"] == implementation)
                .and_then(|r| r["seconds_per_step"].as_f64())
        })
    };
    let mut s = format!(
        "hmm-linear-filter at |S| = 4096, this run (medians); hmmlearn {} measured here:\n  memory read (one thread)  {bw_gbs:6.2} GB/s\n",
        peers["hmmlearn"].as_str().unwrap_or("?")
    );
    if single.is_empty() {
        bail!("no |S| = 4096 measurement");
    }
    for m in single {
        let key = m.id.trim_start_matches("hmm-linear-filter/single/4096/");
        let steps = m.flops / m.seconds;
        let transition = if key.contains("dense") {
            Some("dense")
        } else if key.contains("permutation") || key == "linear" {
            Some("permutation")
        } else {
            None
        };
        let mut line = format!("  {key:<18} {steps:10.3e} steps/s");
        if key.contains("dense") {
            let gbs = steps * 4096.0 * 4096.0 * 8.0 / 1e9;
            line += &format!(
                "  {gbs:5.2} GB/s of T ({:4.1}% of memory read)",
                100.0 * gbs / bw_gbs
            );
        }
        if let Some(t) = transition {
            for imp in ["log", "scaling"] {
                if let Some(p) = peer(t, imp) {
                    line += &format!("  {:8.1}× hmmlearn-{imp}", steps * p);
                }
            }
        }
        s += &line;
        s += "\n";
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, flops: f64, seconds: f64) -> Measured {
        Measured {
            id: id.into(),
            flops,
            seconds,
        }
    }

    #[test]
    fn penex_summary_by_hand() {
        // 4e6 logits (16 MB) read at 16 GB/s in 1 ms; CE 10 ms, PENEX 12 ms = 1.20×, 1.6 GB/s.
        let read = [m("penex/memory-read/x", 1.6e7, 0.001)];
        let candle = [
            m("penex/loss-grad/4096x1000/fused-cross-entropy", 4e6, 0.010),
            m("penex/loss-grad/4096x1000/penex-fused", 4e6, 0.012),
        ];
        let slice = [m(
            "penex/slice-f32/4096x1000/penex-forward-backward",
            4e6,
            0.005,
        )];
        let s = summarise_penex(&read, &candle, &slice).unwrap();
        assert!(s.contains("16.00 GB/s"), "{s}");
        assert!(s.contains("penex-fused                12.00 ms   1.20× fused cross-entropy  logits at  1.33 GB/s ( 8.3% of memory read)"), "{s}");
        assert!(
            s.contains("slice  penex-forward-backward      5.00 ms   0.50×"),
            "{s}"
        );
        assert!(summarise_penex(&read, &candle[1..], &slice).is_err());
    }

    #[test]
    fn conformal_summary_by_hand() {
        // 1e6 rows in 0.1 s = 1e7 rows/s = 0.8 GB/s; 8e7 bytes in 0.01 s = 8 GB/s; MAPIE 1e6.
        let read = [m("conformal/memory-read/x", 8e7, 0.01)];
        let e2e = [m("conformal/end-to-end/lac/1000000", 1e6, 0.1)];
        let peers = serde_json::json!({"mapie": "1.6.0", "measured": "here", "rows_per_s": {"lac/1000000": 1e6}});
        // The same rows in f32 at twice the rate: 2e7 rows/s of 40 bytes = 0.8 GB/s, 20× MAPIE.
        let e2e32 = [m("conformal/end-to-end-f32/lac/1000000", 1e6, 0.05)];
        let s = summarise_conformal(&read, &e2e, &e2e32, &peers).unwrap();
        assert!(s.contains("8.00 GB/s"), "{s}");
        assert!(s.contains("0.80 GB/s (10.0% of memory read)"), "{s}");
        assert!(s.contains("10.0× MAPIE"), "{s}");
        assert!(s.contains("lac/1000000 f32"), "{s}");
        assert!(s.contains("20.0× MAPIE"), "{s}");
        assert!(summarise_conformal(&read, &[], &[], &peers).is_err());
    }

    #[test]
    fn hmm_summary_by_hand() {
        // 134 MB in 0.01 s = 13.4 GB/s; 20 dense steps in 0.2 s = 100 steps/s = 13.4 GB/s of T.
        let bytes = 4096.0 * 4096.0 * 8.0;
        let read = [m("hmm-linear-filter/memory-read/sum", bytes, 0.01)];
        let single = [
            m("hmm-linear-filter/single/4096/lof-dense-T", 20.0, 0.2),
            m("hmm-linear-filter/single/4096/linear", 20.0, 0.0002),
        ];
        let peers = serde_json::json!({"hmmlearn": "0.3.3", "results": [
            {"transition": "dense", "implementation": "log", "seconds_per_step": 0.1},
            {"transition": "permutation", "implementation": "scaling", "seconds_per_step": 0.1}]});
        let s = summarise_hmm(&read, &single, &peers).unwrap();
        assert!(s.contains("13.42 GB/s"), "{s}");
        assert!(s.contains("(100.0% of memory read)"), "{s}");
        assert!(s.contains("10.0× hmmlearn-log"), "{s}");
        assert!(s.contains("10000.0× hmmlearn-scaling"), "{s}");
        assert!(summarise_hmm(&read, &[], &peers).is_err());
    }

    #[test]
    fn summary_ratios_by_hand() {
        let peak = [m("p/512", 2e9, 0.02), m("p/1024", 4e9, 0.02)]; // 100, 200 GFLOP/s
        let shapes = [m("s/a", 1e9, 0.01), m("s/b", 3e9, 0.03)]; // 4e9 / 0.04 = 100 GFLOP/s
        let steps = [m("core-ml/train-step/lm-x (fused)", 5e9, 0.1)]; // 50 GFLOP/s
        let s = summarise(&peak, &shapes, &steps).unwrap();
        assert!(s.contains("200.0 GFLOP/s  (p/1024)"), "{s}");
        assert!(s.contains("100.0 GFLOP/s  (50% of the peak)"), "{s}");
        assert!(s.contains("25.0% of peak"), "{s}");
        assert!(s.contains("50.0% of ceiling"), "{s}");
        assert!(summarise(&[], &shapes, &steps).is_err());
        assert!(summarise(&peak, &[], &steps).is_err());
    }

    #[test]
    fn unknown_bench_names_are_refused() {
        let e = run(&["no-such-bench".into()]).unwrap_err().to_string();
        assert!(e.contains("unknown bench") && e.contains("core-ml"), "{e}");
    }
}
