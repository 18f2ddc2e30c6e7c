//! Conformal prediction sets for a breast-cancer classifier, and how much one small calibration
//! set can be trusted.
//!
//! `cargo run --release -p conformal --features experiments --example breast_cancer`

use conformal::experiments::pool_probabilities;
use conformal::theory::{plan_calibration_size, CoverageLaw};
use conformal::{evaluate, ConformalClassifier, ConformalParams, Score};
use core_ml::data::Dataset;

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // A softmax regression trained on half the data; its probabilities on the other half.
    let pool = pool_probabilities(&Dataset::breast_cancer()?, 7)?;
    println!(
        "held-out pool: {} patients, accuracy {:.3}",
        pool.probs.len(),
        pool.accuracy
    );
    let alpha = 0.1;
    for n in [20usize, 100] {
        let cal: Vec<usize> = (0..n).collect();
        let test: Vec<usize> = (n..pool.probs.len()).collect();
        let labels = |idx: &[usize]| idx.iter().map(|&i| pool.labels[i]).collect::<Vec<_>>();
        let params = ConformalParams::new(Score::Aps { randomized: true }, alpha).check()?;
        let clf =
            ConformalClassifier::calibrate(&params, &pool.probs.select(&cal), &labels(&cal), 1)?;
        let sets = clf.predict(&pool.probs.select(&test), 2)?;
        let m = evaluate(&sets, &labels(&test), alpha)?;
        let law = CoverageLaw::new(n, alpha)?;
        println!(
            "n = {n:>3}: coverage {:.3}, mean set size {:.2}; over calibration draws coverage is Beta with 5–95% range [{:.3}, {:.3}] and P(coverage < 0.85) = {:.3}",
            m.coverage,
            m.mean_size,
            law.quantile(0.05)?,
            law.quantile(0.95)?,
            law.prob_below(0.85)?
        );
    }
    let plan = plan_calibration_size(alpha, 0.03, 0.05)?;
    println!(
        "to cover ≥ 87% with probability ≥ 95%, calibrate on n = {} patients (every larger n also meets it, checked to {}; the first n that meets it is {})",
        plan.n, plan.verified_up_to, plan.first_n
    );
    Ok(())
}
