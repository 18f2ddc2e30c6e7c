//! The paper's §6.1 model: a near-deterministic two-state HMM (T = [[ε, 1−ε], [1−ε, ε]],
//! E = [[.9, .1], [.1, .9]]). Filters 2,000 trajectories of 1,000 steps with the exact LOF and
//! the ALF at δ = 0.7/log(1/ε), and prints each one's decoding error at step 1,000.
//!
//! `cargo run --release -p hmm-linear-filter --example two_state [1/ε]`

use core_linalg::stream_rng;
use hmm_linear_filter::{DeltaSchedule, Hmm, LinearFilter, LogForwardFilter, LogitFilter};
use nalgebra::DMatrix;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let inv_eps: f64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100.0);
    let eps = 1.0 / inv_eps;
    let t = DMatrix::from_row_slice(2, 2, &[eps, 1.0 - eps, 1.0 - eps, eps]);
    let e = DMatrix::from_row_slice(2, 2, &[0.9, 0.1, 0.1, 0.9]);
    let hmm = Hmm::new(t, e, vec![1.0, 0.0])?;
    let delta = DeltaSchedule::LogInverse { lambda: 0.7 }.delta(eps)?;
    let (n, steps) = (2000, 1000);
    let (mut err_lof, mut err_alf) = (0, 0);
    for k in 0..n {
        let traj = hmm.sample(steps, &mut stream_rng(7, k));
        let mut lof = LogForwardFilter::new(&hmm);
        let mut alf = LinearFilter::adaptive(&hmm, delta)?;
        for &y in &traj.observations {
            lof.step(y)?;
            alf.step(y)?;
        }
        let truth = traj.states[steps];
        err_lof += usize::from(lof.decode() != truth);
        err_alf += usize::from(alf.decode() != truth);
    }
    println!("1/ε = {inv_eps}, δ = {delta:.4}, {n} trajectories of {steps} steps");
    println!(
        "decoding error at step {steps}: LOF {:.4}, ALF {:.4}",
        err_lof as f64 / n as f64,
        err_alf as f64 / n as f64
    );
    println!(
        "ε·log(1/ε) = {:.4} (Thm 5.7: the ALF's error is O(ε log 1/ε))",
        eps * inv_eps.ln()
    );
    Ok(())
}
