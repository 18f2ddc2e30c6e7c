//! The quick-profile outcome of every core-ml experiment (seed 42) as an insta snapshot
//! (6 significant digits; magnitudes below 1e-9 shown as 0).

use repro::{Profile, RunContext};

#[test]
fn quick_outcomes_match_snapshots() {
    let ctx = RunContext::new(Profile::Quick, 42);
    for e in core_ml::experiments::paper().experiments {
        let o = (e.run)(&ctx).unwrap_or_else(|err| panic!("experiment {} failed: {err}", e.name));
        let failed: Vec<_> = o.failed_checks().map(|c| c.statement.clone()).collect();
        assert!(failed.is_empty(), "{}: failed checks {failed:?}", e.name);
        insta::assert_json_snapshot!(e.name, o.snapshot(6, 1e-9));
    }
}
