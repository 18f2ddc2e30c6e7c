//! Train a small ConvNet on real MNIST digits (the 10,000 shipped with core-data) with
//! cross-entropy and with PENEX, with 10% of the training labels relabelled uniformly, and
//! compare test accuracy, NLL, ECE and Brier. One seed; the paper's comparison over seeds is
//! the penex experiments' job.
//!
//! `cargo run --release -p penex --example mnist_convnet [train images] [epochs]`

use candle_core::{DType, Device, Module, Tensor};
use core_ml::candle_nn::{VarBuilder, VarMap};
use core_ml::data::{Dataset, DatasetTensors};
use core_ml::models::{init_seeded, ConvNet};
use core_ml::train::{OptimizerKind, Schedule};
use core_ml::trainer::{DecayRule, Trainer, TrainerConfig};
use penex::{metrics, ClassificationLoss};
use std::time::Instant;

/// `[n, 1, 28, 28]` images scaled to `[0, 1]`, and the labels.
fn images(d: &Dataset, dev: &Device) -> Result<(Tensor, Tensor), penex::PenexError> {
    let (x, y) = d.tensors(DType::F32, dev)?;
    Ok(((x / 255.0)?.reshape((d.len(), 1, 28, 28))?, y))
}

fn main() -> Result<(), penex::PenexError> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a positive integer"))
        .collect();
    let (n_train, epochs) = (
        args.first().copied().unwrap_or(2000),
        args.get(1).copied().unwrap_or(3),
    );
    let dev = Device::Cpu;
    let data = Dataset::mnist_10k()?;
    let split = data.stratified_split(n_train as f64 / data.len() as f64, 0.0, 1)?;
    let (noisy, _) = split.train.with_label_noise(0.1, 2)?;
    let (xt, _) = images(&split.test, &dev)?;
    println!(
        "{} training digits (10% relabelled), {} test digits, {epochs} epochs",
        noisy.len(),
        split.test.len()
    );
    for mut loss in [
        ClassificationLoss::new(penex::LossKind::CrossEntropy)?,
        // The running ρ started at its balance α/K: from the default ρ = 1 a ConvNet trained
        // for a few epochs collapses to predicting nearly one class (the `mnist` experiment).
        ClassificationLoss::new(penex::LossKind::Penex {
            alpha: 0.1,
            rho: penex::Rho::Running(penex::RunningRho::balanced(0.1, 10)?),
        })?,
    ] {
        let vm = VarMap::new();
        let net = ConvNet::new(
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
            1,
            (28, 28),
            &[8, 16, 32],
            64,
            10,
        )?;
        init_seeded(&vm, 3)?;
        let per_epoch = noisy.len().div_ceil(64);
        let steps = epochs * per_epoch;
        let mut trainer = Trainer::new(
            &vm,
            TrainerConfig {
                lr: 1e-3,
                optimizer: OptimizerKind::AdamW { weight_decay: 0.0 },
                schedule: Schedule::Constant,
                total_steps: steps,
                grad_clip: Some(5.0),
                decay: DecayRule::Uniform,
            },
        )?;
        let start = Instant::now();
        let mut batches = Vec::new();
        for _ in 0..steps {
            loss.train_step(&mut trainer, |step| {
                if step % per_epoch == 0 {
                    batches = noisy.batches(64, 4, (step / per_epoch) as u64)?;
                }
                let b = noisy.subset(&batches[step % per_epoch]);
                let (x, y) = images(&b, &dev).map_err(|e| core_ml::MlError::Data(e.to_string()))?;
                Ok((net.forward(&x)?, y))
            })?;
        }
        let secs = start.elapsed().as_secs_f64();
        let p = loss.probabilities(&net.forward(&xt)?)?;
        println!(
            "{:<22} accuracy {:.4}  NLL {:.4}  ECE {:.4}  Brier {:.4}  ({secs:.1} s, {:.2} s/epoch)",
            loss.name(),
            metrics::accuracy(&p, &split.test.y)?,
            metrics::nll(&p, &split.test.y)?,
            metrics::ece(&p, &split.test.y, 15)?,
            metrics::brier(&p, &split.test.y)?,
            secs / epochs as f64
        );
    }
    Ok(())
}
