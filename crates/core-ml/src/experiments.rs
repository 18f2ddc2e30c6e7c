//! The substrate's own reproduce experiments (`cargo xtask reproduce core-ml`): an MLP on the
//! digits, a byte-level transformer LM on the Rust book, and Hessian-vector-product checks.

use crate::data::{Dataset, DatasetTensors, Standardiser};
use crate::hvp::{
    exact_hessian_vector_product, hessian_trace, hessian_vector_product, top_hessian_eigenvalue,
    FlatParams,
};
use crate::models::{
    dense_ffn, init_seeded, lm_cross_entropy, lm_cross_entropy_per_row, LmConfig, Mlp,
    TransformerLm,
};
use crate::text::{
    rust_book, sample_windows, sequential_windows, unigram_entropy_bits, BigramModel, ByteCorpus,
};
use crate::train::{train, OptimizerKind, Schedule, TrainConfig};
use crate::{metrics, MlError};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Activation, VarBuilder, VarMap};
use core_linalg::Rng;
use repro::{
    BoxError, Claim, Estimate, Experiment, Outcome, Paper, Plot, PlotKind, Rounding, RunContext,
    Series, Table, Threshold,
};

/// The registry entry.
pub fn paper() -> Paper {
    Paper {
        name: "core-ml",
        title: "core-ml: the shared training substrate (sanity experiments)",
        experiments: vec![
            Experiment {
                name: "digits-mlp",
                description: "MLP on the digits: ≥ 97% test accuracy",
                run: digits_mlp,
                rounding: Rounding::TRAINED,
            },
            Experiment {
                name: "byte-lm",
                description: "byte-level transformer LM on the Rust book vs unigram entropy",
                run: byte_lm,
                rounding: Rounding::TRAINED,
            },
            Experiment {
                name: "hvp",
                description:
                    "Hessian-vector products vs finite differences of the loss; λ_max and tr(H)",
                run: hvp_checks,
                rounding: Rounding::TRAINED,
            },
        ],
    }
}

fn probs_of(logits: &Tensor) -> candle_core::Result<Vec<Vec<f64>>> {
    candle_nn::ops::softmax_last_dim(&logits.to_dtype(DType::F64)?)?.to_vec2::<f64>()
}

struct DigitsRun {
    test_probs: Vec<Vec<f64>>,
    test_labels: Vec<usize>,
    val_curve: Vec<(usize, f64)>,
    loss: Vec<f64>,
}

fn digits_run(seed: u64, steps: usize) -> Result<DigitsRun, MlError> {
    let dev = Device::Cpu;
    let split = Dataset::digits()?.stratified_split(0.7, 0.15, seed)?;
    let z = Standardiser::fit(&split.train);
    let (train_ds, val, test) = (
        z.apply(&split.train)?,
        z.apply(&split.val)?,
        z.apply(&split.test)?,
    );
    let vm = VarMap::new();
    let mlp = Mlp::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        &[64, 256, 128, 10],
        Activation::Relu,
    )?;
    init_seeded(&vm, seed)?;
    let (xv, _) = val.tensors(DType::F32, &dev)?;
    let (xt, _) = test.tensors(DType::F32, &dev)?;
    let cfg = TrainConfig {
        steps,
        lr: 2e-3,
        optimizer: OptimizerKind::AdamW { weight_decay: 1e-4 },
        schedule: Schedule::CosineWarmup {
            warmup: steps / 20,
            min_factor: 0.05,
        },
        grad_clip: Some(5.0),
        eval_every: steps / 10,
    };
    let per_epoch = train_ds.len().div_ceil(64);
    let mut epoch_batches = Vec::new();
    let h = train(
        &vm,
        &cfg,
        &candle_nn::loss::cross_entropy,
        |step| {
            let epoch = (step / per_epoch) as u64;
            if step % per_epoch == 0 {
                epoch_batches = train_ds.batches(64, seed, epoch)?;
            }
            let (x, y) =
                train_ds.batch_tensors(&epoch_batches[step % per_epoch], DType::F32, &dev)?;
            Ok((mlp.forward(&x)?, y))
        },
        |_| metrics::accuracy(&probs_of(&mlp.forward(&xv)?)?, &val.y),
        None,
    )?;
    Ok(DigitsRun {
        test_probs: probs_of(&mlp.forward(&xt)?)?,
        test_labels: test.y.clone(),
        val_curve: h.evals,
        loss: h.train_loss,
    })
}

/// MLP 64-256-128-10 (ReLU, AdamW, cosine warm-up) on a 70/15/15 stratified split of the
/// standardised digits.
pub fn digits_mlp(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let steps = 1500;
    let replicates: Vec<u64> = (0..ctx.profile.pick(3u64, 5)).collect();
    let mut out = ctx.outcome("MLP on the digits (1797 × 64, 10 classes)");
    out.param("widths", "64-256-128-10")
        .param("steps", steps)
        .param("batch", 64)
        .param("replicates", replicates.len())
        .param("split", "70/15/15 stratified, a new split per replicate");
    // Each replicate's split, initialisation and batch order derive from its own seed.
    let runs = ctx.map_cells("replicate", &replicates, |&r, _| {
        Ok(digits_run(ctx.derive_seed(("replicate", r)), steps)?)
    })?;
    let mut t = Table::new(
        "Test metrics per replicate",
        &["replicate", "accuracy", "NLL", "ECE (15 bins)", "Brier"],
    );
    let mut accs = Vec::new();
    for (&rep, r) in replicates.iter().zip(&runs) {
        let (p, y) = (&r.test_probs, &r.test_labels);
        let acc = metrics::accuracy(p, y)?;
        t.push(vec![
            (rep as usize).into(),
            acc.into(),
            metrics::nll(p, y)?.into(),
            metrics::ece(p, y, 15)?.into(),
            metrics::brier(p, y)?.into(),
        ]);
        accs.push(acc);
    }
    let first = runs.first().ok_or("no replicates")?;
    let worst = accs.iter().copied().fold(f64::INFINITY, f64::min);
    out.claims.push(
        Claim::finding_estimate(
            "MLP reaches ≥ 97% test accuracy on the digits (mean over replicates)",
            Estimate::mean(&accs)?,
            Threshold::AtLeast(0.97),
        )
        .with_note(format!("worst replicate: {worst:.4}")),
    );
    out.tables.push(t);
    let xs: Vec<f64> = (1..=first.loss.len()).map(|s| s as f64).collect();
    out.plots.push(
        Plot::new(
            "digits-mlp-loss",
            "Digits MLP: training loss (first replicate)",
            "step",
            "cross-entropy",
            PlotKind::Line(vec![Series::new("train loss", xs, first.loss.clone())]),
        )
        .log_axes(false, true),
    );
    out.plots.push(Plot::new(
        "digits-mlp-val",
        "Digits MLP: validation accuracy (first replicate)",
        "step",
        "accuracy",
        PlotKind::Line(vec![Series::new(
            "validation",
            first.val_curve.iter().map(|e| e.0 as f64).collect(),
            first.val_curve.iter().map(|e| e.1).collect(),
        )]),
    ));
    Ok(out)
}

/// Validation NLL (nats per byte) of each fixed consecutive window, 64 windows per forward pass.
fn window_nll(lm: &TransformerLm, windows: &[(Tensor, Tensor)]) -> Result<Vec<f64>, MlError> {
    let mut out = Vec::with_capacity(windows.len());
    for chunk in windows.chunks(64) {
        let xs: Vec<&Tensor> = chunk.iter().map(|w| &w.0).collect();
        let ys: Vec<&Tensor> = chunk.iter().map(|w| &w.1).collect();
        let logits = lm.forward(&Tensor::cat(&xs, 0)?)?;
        out.extend(lm_cross_entropy_per_row(&logits, &Tensor::cat(&ys, 0)?)?);
    }
    Ok(out)
}

/// Mean validation NLL (nats per byte) over fixed consecutive windows.
fn val_nll(lm: &TransformerLm, windows: &[(Tensor, Tensor)]) -> Result<f64, MlError> {
    let per = window_nll(lm, windows)?;
    Ok(per.iter().sum::<f64>() / per.len().max(1) as f64)
}

/// Held-out bytes every LM claim is scored on (at least 64 KB).
const VAL_BYTES: usize = 65_536;

/// A byte-level transformer on the Rust book (90/10 split), validation bits per byte vs the
/// unigram entropy of the training bytes.
pub fn byte_lm(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let dev = Device::Cpu;
    let cfg = ctx
        .profile
        .pick(LmConfig::BYTE_SMALL, LmConfig::BYTE_MEDIUM);
    let (steps, batch, lr) = ctx
        .profile
        .pick((180usize, 16usize, 1e-2), (1500, 16, 3e-3));
    let target = ctx.profile.pick(0.15, 0.40);
    let corpus = ByteCorpus::new(rust_book()?, 0.1)?;
    let h0 = unigram_entropy_bits(corpus.train());
    // The claims use ≥ 64 KB of held-out text; the learning curve the first eighth of it.
    let n_windows = VAL_BYTES.div_ceil(cfg.context);
    let windows = sequential_windows(corpus.val(), cfg.context, n_windows, &dev)?;
    if windows.len() * cfg.context < VAL_BYTES {
        return Err(format!(
            "the validation text has {} windows of {}, fewer than {VAL_BYTES} bytes",
            windows.len(),
            cfg.context
        )
        .into());
    }
    let curve_windows = &windows[..windows.len() / 8];
    let bigram = BigramModel::fit_tuned(corpus.train(), 0.1)?;
    let bigram_bits = bigram.window_bits(corpus.val(), cfg.context, n_windows)?;
    let vm = VarMap::new();
    let lm = TransformerLm::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        cfg,
        &dense_ffn,
    )?;
    init_seeded(&vm, ctx.derive_seed("init"))?;
    let mut rng = ctx.rng("batches");
    let tcfg = TrainConfig {
        steps,
        lr,
        optimizer: OptimizerKind::AdamW { weight_decay: 0.01 },
        schedule: Schedule::CosineWarmup {
            warmup: steps / 20,
            min_factor: 0.5,
        },
        grad_clip: Some(1.0),
        eval_every: steps / 8,
    };
    let bar = ctx.progress(steps as u64, "core-ml byte-lm");
    let h = train(
        &vm,
        &tcfg,
        &lm_cross_entropy,
        |_| {
            let (x, y) = sample_windows(corpus.train(), batch, cfg.context, &mut rng, &dev)?;
            Ok((lm.forward(&x)?, y))
        },
        |_| Ok(metrics::bits_per_byte(val_nll(&lm, curve_windows)?)),
        Some(bar.bar()),
    )?;
    bar.finish();
    let lm_bits: Vec<f64> = window_nll(&lm, &windows)?
        .into_iter()
        .map(metrics::bits_per_byte)
        .collect();
    let bpb = lm_bits.iter().sum::<f64>() / lm_bits.len() as f64;
    let bigram_bpb = bigram_bits.iter().sum::<f64>() / bigram_bits.len() as f64;
    // Margins over the bigram, fixed before any run: quick must beat it, full by 0.5 bits/byte.
    let margin = ctx.profile.pick(0.0, 0.5);
    let sample = lm.sample_bytes(b"The Rust ", 160, 0.8, &mut ctx.rng("sample"), &dev)?;
    let mut out = ctx.outcome("Byte-level transformer LM on the Rust book");
    out.param("d_model", cfg.d_model)
        .param("heads", cfg.heads)
        .param("layers", cfg.layers)
        .param("context", cfg.context)
        .param("steps", steps)
        .param("batch", batch)
        .param("lr", lr);
    out.claims.push(Claim::finding_estimate(
        format!(
            "validation bits per byte ≥ {:.0}% below the unigram entropy ({h0:.3} bits): 1 − bpb/H, on {} held-out bytes",
            100.0 * target,
            lm_bits.len() * cfg.context
        ),
        Estimate::single_run(1.0 - bpb / h0),
        Threshold::AtLeast(target),
    ));
    out.claims.push(
        Claim::finding_estimate(
            format!(
                "the LM beats a smoothed bigram (λ = {:.2}, {bigram_bpb:.3} bits/byte) on the same held-out bytes by ≥ {margin} bits/byte: paired difference bigram − LM by window",
                bigram.lambda()
            ),
            Estimate::paired_difference(&bigram_bits, &lm_bits)?,
            Threshold::AtLeast(margin),
        )
        .decided_by_interval(),
    );
    out.claims.push(Claim::check(
        "the unigram entropy of English bytes lies in [4, 5.5] bits",
        h0,
        Threshold::Between(4.0, 5.5),
    ));
    let mut t = Table::new(
        "Validation bits per byte",
        &["step", "bpb", "perplexity (per byte)"],
    );
    for &(s, b) in &h.evals {
        t.push(vec![
            s.into(),
            b.into(),
            metrics::perplexity(b * std::f64::consts::LN_2).into(),
        ]);
    }
    out.tables.push(t);
    let xs: Vec<f64> = h.evals.iter().map(|e| e.0 as f64).collect();
    out.plots.push(Plot::new(
        "byte-lm-bpb",
        "Byte LM: validation bits per byte",
        "step",
        "bits per byte",
        PlotKind::Line(vec![
            Series::new(
                "validation bpb",
                xs.clone(),
                h.evals.iter().map(|e| e.1).collect(),
            ),
            Series::new("unigram entropy", xs, vec![h0; h.evals.len()]),
        ]),
    ));
    out.notes.push(format!(
        "A sample from the trained model (prompt \"The Rust \", 160 bytes, temperature 0.8): {:?}",
        String::from_utf8_lossy(&sample)
    ));
    out.notes.push(format!(
        "Baselines on the same {} held-out bytes: unigram entropy of the training bytes {h0:.3} bits/byte; interpolated bigram {bigram_bpb:.3} (λ = {:.2}, tuned on the last 10% of the training text); this LM {bpb:.3}.",
        lm_bits.len() * cfg.context,
        bigram.lambda()
    ));
    out.notes.push("The corpus is The Rust Programming Language (1.30 MB, MIT/Apache-2.0), first 90% for training, last 10% for validation; validation uses fixed consecutive windows.".into());
    Ok(out)
}

/// HVP checks on a small f64 MLP on iris: central differences of gradients vs the directional
/// second difference of the loss, then λ_max and tr(H) after training.
pub fn hvp_checks(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let dev = Device::Cpu;
    let ds = Dataset::iris()?;
    let z = Standardiser::fit(&ds).apply(&ds)?;
    let (x, y) = z.tensors(DType::F64, &dev)?;
    let vm = VarMap::new();
    let mlp = Mlp::new(
        VarBuilder::from_varmap(&vm, DType::F64, &dev),
        &[4, 16, 3],
        Activation::Silu,
    )?;
    init_seeded(&vm, ctx.derive_seed("init"))?;
    let cfg = TrainConfig {
        steps: 300,
        lr: 0.05,
        ..Default::default()
    };
    train(
        &vm,
        &cfg,
        &candle_nn::loss::cross_entropy,
        |_| Ok((mlp.forward(&x)?, y.clone())),
        |_| Ok(0.0),
        None,
    )?;
    let params = FlatParams::new(&vm);
    let mut loss = || candle_nn::loss::cross_entropy(&mlp.forward(&x)?, &y);
    let theta = params.get()?;
    let loss_at = |p: &[f64],
                   loss: &mut dyn FnMut() -> candle_core::Result<Tensor>|
     -> Result<f64, MlError> {
        params.set(p)?;
        Ok(loss()?.to_scalar::<f64>()?)
    };
    let mut rng = ctx.rng("directions");
    let (mut worst, mut exact_vs_fd): (f64, f64) = (0.0, 0.0);
    let mut t = Table::new(
        "vᵀHv: HVP vs second difference of the loss",
        &[
            "direction",
            "vᵀ(Hv) by HVP",
            "second difference",
            "relative gap",
            "exact (double backprop) vs finite-difference HVP, relative",
        ],
    );
    for k in 0..ctx.profile.pick(4usize, 16) {
        let v = core_linalg::uniform_on_sphere(&mut rng, params.len());
        let hv = hessian_vector_product(&params, &mut loss, v.as_slice(), 1e-4)?;
        let hv_exact = exact_hessian_vector_product(&params, &mut loss, v.as_slice())?;
        let scale = hv_exact.iter().fold(1e-3f64, |m, x| m.max(x.abs()));
        let dev_exact = hv
            .iter()
            .zip(&hv_exact)
            .map(|(a, b)| (a - b).abs() / scale)
            .fold(0.0, f64::max);
        exact_vs_fd = exact_vs_fd.max(dev_exact);
        let vhv: f64 = hv.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
        let e = 1e-3;
        let plus: Vec<f64> = theta.iter().zip(v.iter()).map(|(t, d)| t + e * d).collect();
        let minus: Vec<f64> = theta.iter().zip(v.iter()).map(|(t, d)| t - e * d).collect();
        let l0 = loss_at(&theta, &mut loss)?;
        let second =
            (loss_at(&plus, &mut loss)? - 2.0 * l0 + loss_at(&minus, &mut loss)?) / (e * e);
        params.set(&theta)?;
        let gap = (vhv - second).abs() / vhv.abs().max(1e-3);
        worst = worst.max(gap);
        t.push(vec![
            k.into(),
            vhv.into(),
            second.into(),
            gap.into(),
            dev_exact.into(),
        ]);
    }
    let mut out =
        ctx.outcome("Hessian-vector products of a trained MLP's full-batch loss (iris, f64)");
    out.claims.push(Claim::check(
        "HVP agrees with the loss's directional second difference (worst relative gap)",
        worst,
        Threshold::AtMost(1e-4),
    ));
    out.claims.push(Claim::check(
        "the exact HVP (double back-propagation) agrees with the finite-difference HVP on the trained MLP (worst error relative to max|Hv|)",
        exact_vs_fd,
        Threshold::AtMost(1e-6),
    ));
    // Quadratic: L = ½‖Wx‖² over a linear layer has the exact Hessian (xxᵀ ⊗ I) for W.
    let (q_fd, q_exact) = quadratic_gap(&mut ctx.rng("quadratic"))?;
    out.claims.push(Claim::check(
        "on a quadratic, the finite-difference HVP equals the closed-form Hessian times v (max error relative to max(1, |Hv|))",
        q_fd,
        Threshold::AtMost(1e-6),
    ));
    out.claims.push(Claim::check(
        "on a quadratic, the exact HVP equals the closed-form Hessian times v (max error relative to max(1, |Hv|))",
        q_exact,
        Threshold::AtMost(1e-10),
    ));
    let top = top_hessian_eigenvalue(&params, &mut loss, 500, &mut rng)?;
    let tr = hessian_trace(&params, &mut loss, ctx.profile.pick(20, 100), &mut rng)?;
    // Independent reference: the dense Hessian from HVPs of the unit vectors, symmetrised, and
    // nalgebra's symmetric eigendecomposition.
    let n = params.len();
    let mut dense = nalgebra::DMatrix::zeros(n, n);
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        let col = hessian_vector_product(&params, &mut loss, &e, 1e-4)?;
        for (i, v) in col.into_iter().enumerate() {
            dense[(i, j)] = v;
        }
    }
    let dense = (&dense + dense.transpose()) * 0.5;
    let eig = nalgebra::SymmetricEigen::new(dense.clone()).eigenvalues;
    let top_exact = eig
        .iter()
        .copied()
        .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
    out.claims.push(Claim::check(
        "power iteration on HVPs finds the top |eigenvalue| of the dense Hessian (relative error)",
        (top.eigenvalue - top_exact).abs() / top_exact.abs().max(1e-12),
        Threshold::AtMost(1e-3),
    ));
    out.claims.push(Claim::check(
        "Hutchinson's tr(H) is within 5 standard errors of the dense trace (|z|)",
        (tr.mean - dense.trace()).abs() / tr.std_err.max(1e-12),
        Threshold::AtMost(5.0),
    ));
    let mut c = Table::new("Curvature after training", &["quantity", "value"]);
    c.push(vec![
        "λ_max (power iteration)".into(),
        top.eigenvalue.into(),
    ]);
    c.push(vec![
        "λ_max (dense eigendecomposition)".into(),
        top_exact.into(),
    ]);
    c.push(vec!["smallest eigenvalue (dense)".into(), eig.min().into()]);
    c.push(vec!["tr(H) (dense)".into(), dense.trace().into()]);
    c.push(vec!["tr(H) (Hutchinson)".into(), tr.mean.into()]);
    c.push(vec!["tr(H) standard error".into(), tr.std_err.into()]);
    c.push(vec!["parameters".into(), params.len().into()]);
    out.tables.push(c);
    out.tables.push(t);
    Ok(out)
}

/// Max |HVP − exact| for `L(W) = ½ Σ_rows ‖W x_r‖²` (a linear layer without bias), whose
/// Hessian applied to `V` is `V · Σ_r x_r x_rᵀ`.
fn quadratic_gap(rng: &mut Rng) -> Result<(f64, f64), MlError> {
    let dev = Device::Cpu;
    let ds = Dataset::iris()?;
    let x = Tensor::from_slice(&ds.x, (ds.len(), ds.d), &dev)?.to_dtype(DType::F64)?;
    let vm = VarMap::new();
    let w = VarBuilder::from_varmap(&vm, DType::F64, &dev).get_with_hints(
        (3, 4),
        "w",
        candle_nn::Init::Const(0.1),
    )?;
    let mut loss = || x.matmul(&w.t()?)?.sqr()?.sum_all()? * 0.5;
    let params = FlatParams::new(&vm);
    let v = core_linalg::standard_normal_vector(rng, 12);
    let hv = hessian_vector_product(&params, &mut loss, v.as_slice(), 1e-3)?;
    let hv_exact = exact_hessian_vector_product(&params, &mut loss, v.as_slice())?;
    let xtx = x.t()?.matmul(&x)?;
    let vm_ = Tensor::from_slice(v.as_slice(), (3, 4), &dev)?;
    let exact = vm_.matmul(&xtx)?.flatten_all()?.to_vec1::<f64>()?;
    let gap = |h: &[f64]| {
        h.iter()
            .zip(&exact)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0, f64::max)
    };
    Ok((gap(&hv), gap(&hv_exact)))
}
