//! The quick-profile outcome of every experiment (seed 42) as an insta snapshot: a change in any
//! reproduced number shows up as a reviewed diff. Floats are rounded to 4 significant digits:
//! the networks are trained with candle, whose matrix kernels are chosen per CPU, so the last
//! bits of a trained model can differ between machines. Magnitudes below 1e-9 show as 0.

use repro::{Profile, RunContext};

#[test]
fn quick_outcomes_match_snapshots() {
    let ctx = RunContext::new(Profile::Quick, 42);
    for e in penex::experiments::paper().experiments {
        let o = (e.run)(&ctx).unwrap_or_else(|err| panic!("experiment {} failed: {err}", e.name));
        let failed: Vec<_> = o.failed_checks().map(|c| c.statement.clone()).collect();
        assert!(failed.is_empty(), "{}: failed checks {failed:?}", e.name);
        insta::assert_json_snapshot!(e.name, o.snapshot(4, 1e-9));
    }
}
