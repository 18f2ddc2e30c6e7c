//! Train the same MLP on the digits with cross-entropy and with PENEX, with 20% label noise, and
//! compare accuracy, calibration and margins.
//!
//! `cargo run --release -p penex --example digits`

use candle_core::{DType, Device, Module};
use core_ml::candle_nn::{Activation, VarBuilder, VarMap};
use core_ml::data::{Dataset, DatasetTensors, Standardiser};
use core_ml::models::{init_seeded, Mlp};
use core_ml::train::{OptimizerKind, Schedule};
use core_ml::trainer::{DecayRule, Trainer, TrainerConfig};
use penex::{metrics, ClassificationLoss, LossKind};

fn main() -> Result<(), penex::PenexError> {
    let dev = Device::Cpu;
    let split = Dataset::digits()?.stratified_split(0.5, 0.0, 3)?;
    let (noisy, _) = split.train.with_label_noise(0.2, 4)?;
    let z = Standardiser::fit(&noisy);
    let (tr, te) = (z.apply(&noisy)?, z.apply(&split.test)?);
    let (x, y) = tr.tensors(DType::F32, &dev)?;
    let (xt, _) = te.tensors(DType::F32, &dev)?;
    for kind in [
        LossKind::CrossEntropy,
        LossKind::Penex {
            alpha: 0.1,
            rho: penex::Rho::Running(Default::default()),
        },
    ] {
        let mut loss = ClassificationLoss::new(kind)?;
        let vm = VarMap::new();
        let mlp = Mlp::new(
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
            &[64, 128, 10],
            Activation::Relu,
        )?;
        init_seeded(&vm, 5)?;
        let steps = 600;
        let mut trainer = Trainer::new(
            &vm,
            TrainerConfig {
                lr: 2e-3,
                optimizer: OptimizerKind::AdamW { weight_decay: 0.0 },
                schedule: Schedule::Constant,
                total_steps: steps,
                grad_clip: Some(5.0),
                decay: DecayRule::Uniform,
            },
        )?;
        for _ in 0..steps {
            // One full-batch step; PENEX's running ρ then moves from this batch.
            loss.train_step(&mut trainer, |_| Ok((mlp.forward(&x)?, y.clone())))?;
        }
        let p = loss.probabilities(&mlp.forward(&xt)?)?;
        let m = metrics::probability_margins(&p, &te.y)?;
        let below = m.iter().filter(|&&v| v < 0.0).count();
        println!(
            "{:<22} accuracy {:.4}  NLL {:.4}  ECE {:.4}  Brier {:.4}  misclassified margins {below}{}",
            loss.name(),
            metrics::accuracy(&p, &te.y)?,
            metrics::nll(&p, &te.y)?,
            metrics::ece(&p, &te.y, 15)?,
            metrics::brier(&p, &te.y)?,
            loss.rho().map_or(String::new(), |r| format!("  final ρ {r:.4}")),
        );
    }
    Ok(())
}
