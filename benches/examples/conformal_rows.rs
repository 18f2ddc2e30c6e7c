//! Rows per second of split conformal classification measured the way the MAPIE peer measures
//! itself (best of 3 wall-clock runs of calibrate on 10⁴ rows + validate and predict), so that
//! `benches/peers/mapie_interleaved.py` can alternate the two on one machine and report the
//! ratio round by round. Prints one `name: rows/s` line per score and size.
//!
//! `cargo run --release -p papercraft-benches --example conformal_rows`

use conformal::{ConformalClassifier, ConformalParams, Probabilities, Score};
use papercraft_benches::{conformal_data, CONFORMAL_K};
use std::time::Instant;

fn main() -> Result<(), conformal::ConformalError> {
    let (cal, yc) = conformal_data(10_000, 1);
    let cal = Probabilities::from_flat(cal, CONFORMAL_K)?;
    for n in [100_000usize, 1_000_000] {
        let (test, _) = conformal_data(n, 2);
        for score in [Score::Lac, Score::Aps { randomized: true }] {
            let params = ConformalParams::new(score, 0.1).check()?;
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                let t = Instant::now();
                let clf = ConformalClassifier::calibrate(&params, &cal, &yc, 3)?;
                let sets = clf.predict_flat(&test, 4)?;
                std::hint::black_box(sets.size(0));
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!("ours/{}/{n}: {:.4e} rows/s", score.name(), n as f64 / best);
        }
    }
    Ok(())
}
