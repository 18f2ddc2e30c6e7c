//! The one-line snapshot test of every paper crate: [`snapshot_tests!`](crate::snapshot_tests).

use crate::{ClaimKind, Outcome, Paper, Profile, RunContext};
use serde_json::Value;

/// The seed of the snapshots (the CLI's default).
pub const SNAPSHOT_SEED: u64 = 42;
/// The other seed the test runs, to see which tables change.
pub const OTHER_SEED: u64 = 43;

fn run_in_pool(paper: &Paper, name: &str, threads: usize, seed: u64) -> Outcome {
    let e = paper
        .experiment(name)
        .unwrap_or_else(|| panic!("{}: no experiment {name}", paper.name));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap_or_else(|err| panic!("cannot build a {threads}-thread pool: {err}"));
    let root = RunContext::new(Profile::Quick, seed);
    let mut o = pool
        .install(|| paper.run_experiment(e, &root))
        .unwrap_or_else(|err| {
            panic!(
                "{}/{name} (seed {seed}, {threads} threads) failed: {err}",
                paper.name
            )
        });
    o.wall_time_s = 0.0;
    o
}

fn json(o: &Outcome) -> String {
    crate::to_json(o).unwrap_or_else(|e| panic!("{}/{}: {e}", o.paper, o.experiment))
}

fn first_difference(a: &str, b: &str) -> String {
    a.lines()
        .zip(b.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| format!("line {}: {x:?} vs {y:?}", i + 1))
        .unwrap_or_else(|| "lengths differ".into())
}

/// Runs every experiment of `paper` at the quick profile and checks what every paper must
/// satisfy, then returns `(experiment, snapshot value)` pairs rounded by each experiment's
/// [`Rounding`](crate::Rounding). Panics (this is a test helper) when:
///
/// - an experiment fails, its names disagree with the registry, or its outcome is invalid;
/// - a check fails;
/// - the JSON at 1 thread differs by one byte from the JSON at 2 threads (seed 42);
/// - with seed 43, a stochastic table is unchanged, a [`Table::deterministic`](crate::Table)
///   one changes, or a finding without an [`Estimate`](crate::Estimate) changes (a finding
///   that depends on the seed must carry its uncertainty).
pub fn check_paper(paper: &Paper) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for e in &paper.experiments {
        // The 1-thread run (the slowest) overlaps the two 2-thread runs, so a 2-core machine
        // keeps both cores busy while the 2-thread runs wait on their serial parts. Each run
        // has its own pool; the numbers cannot depend on the overlap, which the byte
        // comparison below would catch.
        let (a, b, c) = std::thread::scope(|s| {
            let single = s.spawn(|| run_in_pool(paper, e.name, 1, SNAPSHOT_SEED));
            let a = run_in_pool(paper, e.name, 2, SNAPSHOT_SEED);
            let c = run_in_pool(paper, e.name, 2, OTHER_SEED);
            let b = single
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (a, b, c)
        });
        let where_ = format!("{}/{}", paper.name, e.name);
        let failed: Vec<_> = a.failed_checks().map(|c| c.statement.clone()).collect();
        assert!(failed.is_empty(), "{where_}: failed checks {failed:?}");
        let (ja, jb) = (json(&a), json(&b));
        assert!(
            ja == jb,
            "{where_}: the outcome at 1 thread differs from 2 threads: {}",
            first_difference(&jb, &ja)
        );
        assert_eq!(
            a.tables.iter().map(|t| &t.name).collect::<Vec<_>>(),
            c.tables.iter().map(|t| &t.name).collect::<Vec<_>>(),
            "{where_}: the tables depend on the seed"
        );
        for (ta, tc) in a.tables.iter().zip(&c.tables) {
            if ta.deterministic {
                assert!(
                    ta.rows == tc.rows,
                    "{where_}: table “{}” is declared deterministic but seed {OTHER_SEED} changes it",
                    ta.name
                );
            } else {
                assert!(
                    ta.rows != tc.rows,
                    "{where_}: table “{}” is the same at seeds {SNAPSHOT_SEED} and {OTHER_SEED}: declare it Table::deterministic or feed it the seed",
                    ta.name
                );
            }
        }
        for (ca, cc) in a.claims.iter().zip(&c.claims) {
            if ca.kind == ClaimKind::Finding && ca.estimate.is_none() {
                assert!(
                    ca.measured == cc.measured || (ca.measured.is_nan() && cc.measured.is_nan()),
                    "{where_}: finding “{}” changes with the seed ({} vs {}) but carries no estimate of its uncertainty",
                    ca.statement,
                    ca.measured,
                    cc.measured
                );
            }
        }
        out.push((e.name, a.snapshot(e.rounding)));
    }
    out
}

/// The snapshot test of a paper crate in one line: `repro::snapshot_tests!(my_paper::experiments::paper());`
/// in `tests/snapshot.rs` expands to a test that runs [`check_paper`] and compares each
/// experiment's rounded quick outcome with its insta snapshot (`tests/snapshots/`). The crate
/// needs `insta` as a dev-dependency; under `CI=true` a changed snapshot fails.
#[macro_export]
macro_rules! snapshot_tests {
    ($paper:expr) => {
        #[test]
        fn quick_outcomes_match_snapshots() {
            for (name, value) in $crate::snapshot::check_paper(&$paper) {
                ::insta::assert_json_snapshot!(name, value);
            }
        }
    };
}
