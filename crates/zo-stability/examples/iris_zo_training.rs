//! Zeroth-order training of a small candle MLP on iris, with the edge-of-stability tracker.
//!
//! A SiLU MLP 4-16-3 (f64) is trained on the standardised iris features by ZO-GD (the paper's
//! two-point estimator: Gaussian directions, central differences, μ = 1e-3) through
//! `CandleObjective`. Every 500 steps the tracker estimates λ_max, tr H and tr H₊ from
//! finite-difference Hessian-vector products and prints where ZO-GD's threshold 2/η sits in
//! the interval [tr H₊, tr H₊ + 2λ_max] the notes predict for a run at the edge of stability.
//! At η = 0.1 the run is stable and 2/η = 20 stays above the interval (η is below η*); at
//! η = 0.3 (2/η ≈ 6.7) the same run's loss was above 10³⁰ by step 500 (measured when this
//! example was written). The trace comes from 8 Hutchinson probes, so it scatters from record
//! to record.
//!
//! ```sh
//! cargo run --release -p zo-stability --features candle --example iris_zo_training
//! ```

use core_ml::candle_core::{DType, Device, Module};
use core_ml::candle_nn::{loss::cross_entropy, Activation, VarBuilder, VarMap};
use core_ml::data::{Dataset, DatasetTensors, Standardiser};
use core_ml::models::{init_seeded, Mlp};
use nalgebra::DVector;
use zo_stability::candle::CandleObjective;
use zo_stability::{CurvatureConfig, EosTracker, Estimator, Method, Optimizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iris = Dataset::iris()?;
    let iris = Standardiser::fit(&iris).apply(&iris)?;
    let dev = Device::Cpu;
    let (x, y) = iris.tensors(DType::F64, &dev)?;
    let varmap = VarMap::new();
    let mlp = Mlp::new(
        VarBuilder::from_varmap(&varmap, DType::F64, &dev),
        &[4, 16, 3],
        Activation::Silu,
    )?;
    init_seeded(&varmap, 7)?;
    let mut objective = CandleObjective::new(&varmap, || cross_entropy(&mlp.forward(&x)?, &y))?;

    let eta = 0.1;
    let steps = 5_000u64;
    let mut theta = objective.parameters()?;
    let mut opt = Optimizer::new(Method::Gd, eta, theta.len())?;
    let mut tracker = EosTracker::new(500, CurvatureConfig::default())?;
    let mut rng = core_linalg::stream_rng(7, 0);
    let est = Estimator::default();
    println!(
        "{} parameters, ZO-GD at η = {eta} (threshold 2/η = {})",
        theta.len(),
        2.0 / eta
    );
    println!("step    loss      λ_max    tr H₊    interval            inside");
    for step in 1..=steps {
        opt.zo_step(&est, &mut objective.as_fn(), &mut theta, None, &mut rng)?;
        if step % tracker.every == 0 {
            let loss = objective.value(&theta)?;
            let mut failed = None;
            let at = theta.clone();
            let hvp = |v: &DVector<f64>| match objective.hvp(&at, v.as_slice()) {
                Ok(h) => DVector::from_vec(h),
                Err(e) => {
                    failed.get_or_insert(e);
                    DVector::from_element(v.len(), f64::NAN)
                }
            };
            let rec = tracker.observe(step, &Method::Gd, eta, hvp, at.len(), &mut rng);
            if let Some(e) = failed {
                return Err(e.into());
            }
            if let Some(r) = rec? {
                let i = r.positive_interval;
                println!(
                    "{step:>5}  {loss:.5}  {:>7.3}  {:>7.3}  [{:>7.2}, {:>7.2}]  {}",
                    r.curvature.lambda_max,
                    r.curvature.positive_trace,
                    i.lower,
                    i.upper,
                    if i.contains_threshold() { "yes" } else { "no" }
                );
            }
        }
    }
    let accuracy = {
        objective.restore(&theta)?;
        let pred = mlp.forward(&x)?.argmax(1)?.to_vec1::<u32>()?;
        let labels = y.to_vec1::<u32>()?;
        pred.iter().zip(&labels).filter(|(a, b)| a == b).count() as f64 / labels.len() as f64
    };
    println!(
        "training accuracy {accuracy:.3} after {} function evaluations",
        opt.evaluations()
    );
    Ok(())
}
