use crate::{
    inference_probabilities, ClassificationLoss, Logits, LossKind, Penex, Rho, RunningRho,
};
use candle_core::{Device, Tensor, Var};
use rand::RngExt;
use repro::{BoxError, Claim, Outcome, RunContext, Table, Threshold};

/// Experiment 1: gradient and Fisher consistency.
pub fn gradient_fisher(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome("Gradient, autograd and Fisher consistency of PENEX");
    let (n, k, alpha, rho) = (64usize, 10usize, 0.1, 0.7);
    let mut rng = ctx.rng("logits");
    let f: Vec<f64> = (0..n * k).map(|_| rng.random_range(-2.0..2.0)).collect();
    let y: Vec<usize> = (0..n).map(|_| rng.random_range(0..k)).collect();
    let p = Penex::new(alpha, rho)?;
    let (_, g) = p.loss_and_grad(&Logits::new(&f, k, &y)?);
    let h = 1e-6;
    let mut fd_err = 0.0f64;
    let mut probe = f.clone();
    for i in 0..n * k {
        probe[i] = f[i] + h;
        let up = p.loss(&Logits::new(&probe, k, &y)?);
        probe[i] = f[i] - h;
        let down = p.loss(&Logits::new(&probe, k, &y)?);
        probe[i] = f[i];
        fd_err = fd_err.max(((up - down) / (2.0 * h) - g[i]).abs());
    }
    out.claims.push(Claim::check(
        "analytic gradient = central finite differences (h = 1e-6, f64; max |difference| over 640 logits)",
        fd_err,
        Threshold::AtMost(1e-6),
    ));
    // Autograd through the candle loss (fixed ρ, f64).
    let var = Var::from_tensor(&Tensor::from_slice(&f, (n, k), &Device::Cpu)?)?;
    let targets = Tensor::from_vec(
        y.iter().map(|&c| c as u32).collect::<Vec<_>>(),
        n,
        &Device::Cpu,
    )?;
    let loss = ClassificationLoss::new(LossKind::Penex {
        alpha,
        rho: Rho::Fixed(rho),
    })?;
    let l = loss.loss(var.as_tensor(), &targets)?;
    let auto = l
        .backward()?
        .get(&var)
        .ok_or("no gradient")?
        .flatten_all()?
        .to_vec1::<f64>()?;
    let auto_err = auto
        .iter()
        .zip(&g)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let loss_err = (l.to_scalar::<f64>()? - p.loss(&Logits::new(&f, k, &y)?)).abs();
    out.claims.push(Claim::check(
        "the candle loss's autograd gradient equals the analytic one (max |difference|)",
        auto_err.max(loss_err),
        Threshold::AtMost(1e-12),
    ));

    // Fisher consistency: gradient descent on one shared logit vector whose labels occur with
    // frequencies p (N rows), i.e. the population loss Σ_j p_j e^{−α f_j} + ρ Σ_j e^{f_j}.
    let kk = 5;
    let counts = [400usize, 250, 200, 100, 50];
    let total: usize = counts.iter().sum();
    let labels: Vec<usize> = counts
        .iter()
        .enumerate()
        .flat_map(|(j, &c)| std::iter::repeat_n(j, c))
        .collect();
    let probs: Vec<f64> = counts.iter().map(|&c| c as f64 / total as f64).collect();
    let mut t = Table::deterministic(
        "Gradient descent on free logits vs the optimum f*_j = log(α p_j/ρ)/(1 + α)",
        &[
            "α",
            "ρ",
            "iterations",
            "max |f − f*|",
            "max |softmax((1+α)f) − p|",
        ],
    );
    let (mut worst_f, mut worst_p) = (0.0f64, 0.0f64);
    for (alpha, rho) in [(0.1, 1.0), (0.5, 0.2), (2.0, 3.0)] {
        let pen = Penex::new(alpha, rho)?;
        let mut fv = vec![0.0; kk];
        let mut iters = 0usize;
        for it in 0..200_000 {
            let rows: Vec<f64> = (0..total).flat_map(|_| fv.iter().copied()).collect();
            let (_, g) = pen.loss_and_grad(&Logits::new(&rows, kk, &labels)?);
            let mut grad = vec![0.0; kk];
            for (i, v) in g.iter().enumerate() {
                grad[i % kk] += v;
            }
            // Step 1/L with L bounding the Hessian diagonal α² p_j e^{−α f_j} + ρ e^{f_j}.
            let lip = (0..kk)
                .map(|j| alpha * alpha * probs[j] * (-alpha * fv[j]).exp() + rho * fv[j].exp())
                .fold(0.0, f64::max);
            for j in 0..kk {
                fv[j] -= grad[j] / lip;
            }
            iters = it + 1;
            if grad.iter().map(|v| v.abs()).fold(0.0, f64::max) < 1e-13 {
                break;
            }
        }
        let opt = pen.optimum(&probs);
        let df = fv
            .iter()
            .zip(&opt)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let dp = inference_probabilities(&fv, alpha)
            .iter()
            .zip(&probs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        worst_f = worst_f.max(df);
        worst_p = worst_p.max(dp);
        t.push(vec![
            alpha.into(),
            rho.into(),
            iters.into(),
            df.into(),
            dp.into(),
        ]);
    }
    out.tables.push(t);
    out.claims.push(Claim::check(
        "gradient descent on free logits reaches f*_j = log(α p_j/ρ)/(1 + α) (max |error| over three (α, ρ))",
        worst_f,
        Threshold::AtMost(1e-4),
    ));
    out.claims.push(Claim::check(
        "softmax((1 + α) f*) = p: PENEX is Fisher-consistent (max |error|)",
        worst_p,
        Threshold::AtMost(1e-4),
    ));

    // The running ρ: the EMA formula, and the clamps under extreme batches.
    let mut r = RunningRho::default();
    let mut formula_err = 0.0f64;
    let mut outside = 0usize;
    let mut prev = r.value();
    let batches = [
        (1.0, 2.0),
        (0.3, 0.01),
        (1e6, 1e-6),
        (1e-9, 1e9),
        (2.0, 2.0),
    ];
    for (a, b) in batches {
        let want = (0.9 * prev + 0.1 * 0.1 * a / b).clamp(1e-6, 100.0);
        let got = r.update(0.1, a, b);
        formula_err = formula_err.max((got - want).abs());
        outside += usize::from(!(1e-6..=100.0).contains(&got));
        prev = got;
    }
    out.claims.push(Claim::check(
        "the running ρ follows ρ ← clamp(0.9 ρ + 0.1 α E[e^{−α f_y}]/E[Σ e^{f_j}], 1e-6, 100) (max |error|)",
        formula_err,
        Threshold::AtMost(1e-15),
    ));
    out.claims.push(Claim::check_none(
        "the running ρ stays within its clamps under extreme batches (updates outside)",
        outside,
        batches.len(),
    ));
    Ok(out)
}
