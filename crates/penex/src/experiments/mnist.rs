//! Experiment 5: a small ConvNet on 10,000 real MNIST digits with clean and 10% noisy labels,
//! the paper's Table 1 at CPU scale.
//!
//! Choices the paper leaves open or sets for other data (all fixed before the first run unless
//! said otherwise):
//! - The ConvNet is the notes' 32/64/128-channel net scaled to 8/16/32 channels (3×3
//!   convolutions, 2×2 max pooling, a 64-unit hidden layer); inputs are `x/255` standardised
//!   by MNIST's usual mean 0.1307 and sd 0.3081.
//! - Adam at 1e-3 (the paper: 1e-4 for 200 epochs, out of reach here), batch 64, gradient
//!   clip 5, no weight decay.
//! - The baselines' constants are the notes' tuned values (label smoothing 0.039, confidence
//!   penalty 0.25, focal γ = 2.74); PENEX's α = 0.058 is the notes' PathMNIST value.
//! - PENEX's running `ρ` starts at the balance `α/K` ([`crate::RunningRho::balanced`]). This
//!   choice was made **after** a first run from the crate's default `ρ = 1` collapsed to
//!   predicting nearly one class; that run is kept beside it in every table ("ρ₀ = 1"), with
//!   the share of test predictions in its most frequent class, so the effect is measured, not
//!   hidden.
//! - The full profile is the benchmark: 2000 training and 5000 test digits, 15 epochs at batch
//!   64, 3 seeds, both noise levels, every loss. The quick profile (CI's) is a smoke test of the
//!   pipeline within its time budget: 600 training digits, 3 epochs at batch 32, 500 test
//!   digits, 2 seeds, 10% noise, cross-entropy, label smoothing and both PENEX starts; its
//!   models are far from converged and its findings say little.
//! - Intervals are 95% Student-t over seeds (the paper: mean ± sd over 100 bootstrap resamples
//!   of one test set); each seed draws its own split, initialisation, batch order and flipped
//!   labels, shared by every loss (common random numbers).

use super::{adam, runs_at, Seeds};
use crate::metrics::{accuracy, brier, ece, nll, top_class_share};
use crate::{ClassificationLoss, LossKind, Rho, RunningRho};
use candle_core::{DType, Device, Module, Tensor};
use core_ml::candle_nn::{VarBuilder, VarMap};
use core_ml::data::{Dataset, DatasetTensors};
use core_ml::models::{init_seeded, ConvNet};
use core_ml::trainer::Trainer;
use repro::{BoxError, Cell, Claim, Estimate, Outcome, RunContext, Table, Threshold, Why};

const ALPHA: f64 = 0.058;
const CLASSES: usize = 10;

/// The losses, in table order: cross-entropy, the three regularising baselines, PENEX (the
/// primary) and PENEX from `ρ = 1` (the diagnostic).
fn losses() -> Result<Vec<(String, LossKind)>, BoxError> {
    let penex = |rho| LossKind::Penex {
        alpha: ALPHA,
        rho: Rho::Running(rho),
    };
    let kinds = [
        LossKind::CrossEntropy,
        LossKind::LabelSmoothing { epsilon: 0.039 },
        LossKind::ConfidencePenalty { beta: 0.25 },
        LossKind::Focal { gamma: 2.74 },
        penex(RunningRho::balanced(ALPHA, CLASSES)?),
    ];
    let mut out: Vec<(String, LossKind)> = kinds
        .iter()
        .map(|&k| Ok((ClassificationLoss::new(k)?.name(), k)))
        .collect::<Result<_, BoxError>>()?;
    out[PENEX].0.push_str(", ρ₀ = α/K");
    out.push((
        format!("PENEX (α = {ALPHA}), ρ₀ = 1"),
        penex(RunningRho::default()),
    ));
    Ok(out)
}
/// Index of the primary PENEX in [`losses`]; the baselines come before it.
const PENEX: usize = 4;
/// Index of the diagnostic PENEX started at `ρ = 1`.
const PENEX_RHO1: usize = 5;

/// One trained model's test metrics.
struct Run {
    acc: f64,
    nll: f64,
    ece: f64,
    brier: f64,
    /// Share of the test predictions in the most frequent predicted class.
    top_share: f64,
}

/// `[n, 1, 28, 28]` standardised images and their labels.
fn images(d: &Dataset, dev: &Device) -> Result<(Tensor, Tensor), BoxError> {
    let (x, y) = d.tensors(DType::F32, dev)?;
    let x = ((x / 255.0)?.affine(1.0 / 0.3081, -0.1307 / 0.3081))?;
    Ok((x.reshape((d.len(), 1, 28, 28))?, y))
}

/// The sizes of one profile.
#[derive(Debug, Clone, Copy)]
struct Scale {
    n_train: usize,
    batch: usize,
    n_test: usize,
    epochs: usize,
}

fn run(
    data: &Dataset,
    kind: LossKind,
    noise: f64,
    seeds: Seeds,
    scale: Scale,
) -> Result<Run, BoxError> {
    let dev = Device::Cpu;
    let n = data.len() as f64;
    // The split's "val" part is the stratified test sample; its "test" part is unused.
    let split = data.stratified_split(
        scale.n_train as f64 / n,
        scale.n_test as f64 / n,
        seeds.model,
    )?;
    let (train, _) = split.train.with_label_noise(noise, seeds.noise)?;
    let test = split.val;
    let vm = VarMap::new();
    let net = ConvNet::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        1,
        (28, 28),
        &[8, 16, 32],
        64,
        CLASSES,
    )?;
    init_seeded(&vm, seeds.model)?;
    let per_epoch = train.len().div_ceil(scale.batch);
    let steps = scale.epochs * per_epoch;
    let mut trainer = Trainer::new(&vm, adam(steps))?;
    let mut loss = ClassificationLoss::new(kind)?;
    let mut batches = Vec::new();
    for _ in 0..steps {
        loss.train_step(&mut trainer, |step| {
            if step % per_epoch == 0 {
                batches = train.batches(scale.batch, seeds.model, (step / per_epoch) as u64)?;
            }
            let (x, y) = images(&train.subset(&batches[step % per_epoch]), &dev)
                .map_err(|e| core_ml::MlError::Data(e.to_string()))?;
            Ok((net.forward(&x)?, y))
        })?;
    }
    let (xt, _) = images(&test, &dev)?;
    let p = loss.probabilities(&net.forward(&xt)?)?;
    Ok(Run {
        acc: accuracy(&p, &test.y)?,
        nll: nll(&p, &test.y)?,
        ece: ece(&p, &test.y, 15)?,
        brier: brier(&p, &test.y)?,
        top_share: top_class_share(&p)?,
    })
}

/// One metric of a run.
type Metric = fn(&Run) -> f64;

/// The metrics of a row, each as mean and 95% interval over seeds.
const METRICS: [(&str, Metric); 5] = [
    ("accuracy", |r| r.acc),
    ("NLL", |r| r.nll),
    ("ECE (15 bins)", |r| r.ece),
    ("Brier", |r| r.brier),
    ("top-class share", |r| r.top_share),
];

fn estimate(runs: &[&Run], f: Metric) -> Result<Estimate, BoxError> {
    Ok(Estimate::mean(
        &runs.iter().map(|r| f(r)).collect::<Vec<_>>(),
    )?)
}

/// Experiment 5: the MNIST ConvNet benchmark.
pub fn mnist(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome("ConvNet on real MNIST digits, clean and 10% noisy labels");
    let scale = ctx.profile.pick(
        Scale {
            n_train: 600,
            batch: 32,
            n_test: 500,
            epochs: 3,
        },
        Scale {
            n_train: 2000,
            batch: 64,
            n_test: 5000,
            epochs: 15,
        },
    );
    let noises: Vec<f64> = ctx.profile.pick(vec![0.1], vec![0.0, 0.1]);
    let seeds: Vec<Seeds> = (0..ctx.profile.pick(2u64, 3))
        .map(|s| Seeds {
            model: ctx.derive_seed(("replicate", s)),
            noise: ctx.derive_seed(("label-noise", s)),
        })
        .collect();
    let kinds = losses()?;
    // The quick profile trains a subset: cross-entropy, label smoothing and both PENEX starts.
    let active: Vec<usize> = ctx
        .profile
        .pick(vec![0, 1, PENEX, PENEX_RHO1], (0..kinds.len()).collect());
    out.param(
        "convnet",
        "conv 8-16-32 (3×3, 2×2 max pool), dense 64, 10 classes",
    )
    .param("n_train", scale.n_train)
    .param(
        "n_test",
        format!("{} (stratified, clean labels)", scale.n_test),
    )
    .param("epochs", scale.epochs)
    .param(
        "optimizer",
        format!("Adam lr 1e-3, batch {}, gradient clip 5", scale.batch),
    )
    .param("replicates", seeds.len())
    .param("alpha", ALPHA);
    let data = Dataset::mnist_10k()?;
    let n_seeds = seeds.len() as u64;
    let jobs: Vec<(usize, usize, u64)> = (0..noises.len())
        .flat_map(|ni| {
            active
                .iter()
                .flat_map(move |&li| (0..n_seeds).map(move |s| (ni, li, s)))
        })
        .collect();
    let runs: Vec<Run> = ctx.map_cells("run", &jobs, |&(ni, li, s), _| {
        run(&data, kinds[li].1, noises[ni], seeds[s as usize], scale)
    })?;
    let at = |ni: usize, li: usize| -> Vec<&Run> { runs_at(&jobs, &runs, ni, li) };
    let values = |ni: usize, li: usize| -> Vec<f64> { at(ni, li).iter().map(|r| r.acc).collect() };
    let mut names = Vec::new();
    let mut worst_gap: Option<Estimate> = None;
    for (ni, &noise) in noises.iter().enumerate() {
        let name = format!(
            "Label noise {:.0}%: test metrics, mean and 95% interval over seeds",
            100.0 * noise
        );
        let mut cols = vec!["loss".to_string()];
        for (m, _) in METRICS {
            cols.extend([m.to_string(), format!("{m} lo"), format!("{m} hi")]);
        }
        let mut t = Table::new(
            name.clone(),
            &cols.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        for &li in &active {
            let mut row: Vec<Cell> = vec![kinds[li].0.clone().into()];
            for (_, f) in METRICS {
                let e = estimate(&at(ni, li), f)?;
                let [lo, hi] = e.interval.unwrap_or([f64::NAN; 2]);
                row.extend([e.value.into(), lo.into(), hi.into()]);
            }
            t.push(row);
        }
        out.tables.push(t);
        names.push(name);
        let gap = Estimate::paired_difference(&values(ni, PENEX), &values(ni, 0))?;
        if worst_gap.as_ref().is_none_or(|g| gap.value < g.value) {
            worst_gap = Some(gap);
        }
    }
    let see: Vec<&str> = names.iter().map(String::as_str).collect();
    let collapse = diagnostic(&noises, &at)?;
    out.claims.push(
        Claim::finding_estimate(
            format!("PENEX (α = {ALPHA}) accuracy ≥ cross-entropy − 1.5 points (paired PENEX − CE difference, at the worse noise level)"),
            worst_gap.ok_or("no runs")?,
            Threshold::AtLeast(-0.015),
        )
        .explain_if_failed(Why::evidence(
            format!("at this training budget PENEX fell more than 1.5 points below cross-entropy; {collapse}"),
            &see,
        )),
    );
    // "Better than the established methods" at 10% noise: against the baseline with the
    // highest mean accuracy, decided on the paired difference's interval.
    let noisy = noises
        .iter()
        .position(|&n| n == 0.1)
        .ok_or("no 10% noise level")?;
    let mean = |li: usize| estimate(&at(noisy, li), |r| r.acc).map(|e| e.value);
    let mut best = 0;
    for &li in active.iter().filter(|&&li| li < PENEX) {
        if mean(li)? > mean(best)? {
            best = li;
        }
    }
    let d = Estimate::paired_difference(&values(noisy, PENEX), &values(noisy, best))?;
    out.claims.push(
        Claim::finding_estimate(
            format!(
                "At 10% label noise PENEX's accuracy exceeds the strongest baseline trained (here {}: paired PENEX − baseline difference)",
                kinds[best].0
            ),
            d.clone(),
            Threshold::AtLeast(0.0),
        )
        .decided_by_interval()
        .explain_if_failed(Why::evidence(
            format!(
                "the paired difference is {:+.4} over {} seeds; its interval {} includes or lies below 0, so the seeds do not separate PENEX from {}",
                d.value,
                d.replicates,
                d.interval.map_or("(none)".into(), |[a, b]| format!("[{a:+.4}, {b:+.4}]")),
                kinds[best].0
            ),
            &see,
        )),
    );
    out.notes.push(format!(
        "Why PENEX's ρ starts at α/K here: {collapse}. The crate's default start ρ = 1 is K/α = {:.0} times that balance; a hypothesis for the mechanism, not measured here: the first steps' large penalty gradients inflate Adam's second-moment estimate, which then damps the discriminative gradient (α·(p − e_y) near the balance, about α times cross-entropy's) for hundreds of steps.",
        CLASSES as f64 / ALPHA
    ));
    Ok(out)
}

/// The ρ₀ diagnostic in words, from the runs at the last noise level.
fn diagnostic<'a>(
    noises: &[f64],
    at: &dyn Fn(usize, usize) -> Vec<&'a Run>,
) -> Result<String, BoxError> {
    let ni = noises.len() - 1;
    let e = |li: usize, f: Metric| estimate(&at(ni, li), f).map(|e| e.value);
    Ok(format!(
        "at {:.0}% noise PENEX from ρ₀ = α/K reaches accuracy {:.3} (top-class share {:.3}), from ρ₀ = 1 {:.3} (top-class share {:.3}), cross-entropy {:.3}",
        100.0 * noises[ni],
        e(PENEX, |r| r.acc)?,
        e(PENEX, |r| r.top_share)?,
        e(PENEX_RHO1, |r| r.acc)?,
        e(PENEX_RHO1, |r| r.top_share)?,
        e(0, |r| r.acc)?,
    ))
}
