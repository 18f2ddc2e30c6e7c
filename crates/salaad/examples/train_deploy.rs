//! Train a byte-level LM on the Rust book with SALAAD's blocks on every linear weight, then
//! deploy the one checkpoint at three budgets and print each one's perplexity and memory.
//!
//! `cargo run --release -p salaad --features experiments --example train_deploy` (about 15 s
//! on 2 cores after the build).

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use core_ml::models::{
    dense_ffn, init_seeded, linear_weights, lm_cross_entropy, lm_cross_entropy_per_row, LmConfig,
    TransformerLm,
};
use core_ml::text::{rust_book, sample_windows, sequential_windows, ByteCorpus};
use core_ml::train::{OptimizerKind, Schedule};
use core_ml::trainer::{Forward, Trainer, TrainerConfig};
use salaad::model::{deploy_into, restore, SlrModel};
use salaad::{
    allocate, dense_bytes, factored_bytes, BlockParams, ControllerParams, GainScale, SparseFormat,
};
use std::cell::RefCell;
use std::rc::Rc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn perplexity(lm: &TransformerLm, windows: &[(Tensor, Tensor)]) -> anyhow::Result<f64> {
    let (mut total, mut n) = (0.0, 0usize);
    for chunk in windows.chunks(64) {
        let xs: Vec<&Tensor> = chunk.iter().map(|w| &w.0).collect();
        let ys: Vec<&Tensor> = chunk.iter().map(|w| &w.1).collect();
        let per =
            lm_cross_entropy_per_row(&lm.forward(&Tensor::cat(&xs, 0)?)?, &Tensor::cat(&ys, 0)?)?;
        total += per.iter().sum::<f64>();
        n += per.len();
    }
    Ok((total / n as f64).exp())
}

fn main() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let cfg = LmConfig::BYTE_SMALL;
    let steps = 400;
    let corpus = ByteCorpus::new(rust_book()?, 0.1)?;
    let windows = sequential_windows(corpus.val(), cfg.context, 256, &dev)?;
    let vm = VarMap::new();
    let lm = TransformerLm::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        cfg,
        &dense_ffn,
    )?;
    init_seeded(&vm, 7)?;
    let weights = linear_weights(&vm);
    let blocks = BlockParams {
        rank_ratio: 0.15,
        density: 0.05,
        rho: 1e-3,
        controller: ControllerParams {
            gain_rank: 0.1,
            gain_density: 0.1,
            scale: GainScale::Spectrum,
            ..Default::default()
        },
        ..Default::default()
    }
    .check()?;
    let slr = Rc::new(RefCell::new(SlrModel::attach(weights.clone(), &blocks)?));
    let mut trainer = Trainer::new(
        &vm,
        TrainerConfig {
            lr: 1e-2,
            optimizer: OptimizerKind::AdamW { weight_decay: 0.0 },
            schedule: Schedule::CosineWarmup {
                warmup: steps / 20,
                min_factor: 0.1,
            },
            total_steps: steps,
            grad_clip: Some(1.0),
            ..Default::default()
        },
    )?;
    // The ADMM update every 2 steps, as an after-step hook.
    let hook = Rc::clone(&slr);
    trainer.add_after_step(move |a| {
        if a.step % 2 == 0 {
            hook.borrow_mut()
                .update()
                .map_err(|e| core_ml::MlError::Data(e.to_string()))?;
        }
        Ok(())
    });
    let mut rng = core_linalg::seeded_rng(11);
    for _ in 0..steps {
        trainer.step(|_| {
            let (x, y) = sample_windows(corpus.train(), 16, cfg.context, &mut rng, &dev)?;
            let loss = lm_cross_entropy(&lm.forward(&x)?, &y)?;
            let pen = slr
                .borrow()
                .penalty()
                .map_err(|e| core_ml::MlError::Data(e.to_string()))?;
            Ok(Forward::new(loss).with_aux("penalty", pen))
        })?;
    }
    drop(trainer);
    let slr = slr.borrow();
    let total: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
    let rest = total - weights.iter().map(|(_, v)| v.elem_count()).sum::<usize>();
    let caps = slr.capacities(0.999);
    let decs = slr.decompositions();
    let full = allocate(&caps, rest, f64::MAX, 0.5)?;
    println!(
        "dense model: {total} parameters, {} bytes in bf16, perplexity {:.3}",
        2 * total,
        perplexity(&lm, &windows)?
    );
    for frac in [1.0, 0.6, 0.3] {
        let a = allocate(&caps, rest, frac * full.params as f64, 0.5)?;
        let bytes: usize = a
            .blocks
            .iter()
            .zip(&caps)
            .map(|(&(r, z), c)| factored_bytes(c.rows, c.cols, r, z, SparseFormat::Csr))
            .sum::<usize>()
            + dense_bytes(rest, 1);
        let saved = deploy_into(&weights, &decs, &a)?;
        let ppl = perplexity(&lm, &windows)?;
        restore(&weights, &saved)?;
        println!(
            "L + S at {:>3.0}% of its capacity: {} parameters, {bytes} bytes factored ({:.2}× dense), perplexity {ppl:.3}",
            100.0 * frac,
            a.params,
            bytes as f64 / (2 * total) as f64
        );
    }
    Ok(())
}
