//! The losses against independent plain-Rust references, the analytic gradient against finite
//! differences, the optimum against its closed form, and the running ρ.

use candle_core::{DType, Device, Tensor, Var};
use core_linalg::{log_softmax, seeded_rng, softmax};
use penex::{
    inference_probabilities, metrics, ClassificationLoss, Logits, LossKind, Penex, PenexError, Rho,
    RunningRho,
};
use rand::RngExt;

fn batch(n: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut rng = seeded_rng(seed);
    let f = (0..n * k).map(|_| rng.random_range(-3.0..3.0)).collect();
    let y = (0..n).map(|_| rng.random_range(0..k)).collect();
    (f, y)
}

/// Labels as the `u32` target tensor the losses take.
fn targets(y: &[usize]) -> Tensor {
    Tensor::from_vec(
        y.iter().map(|&c| c as u32).collect::<Vec<_>>(),
        y.len(),
        &Device::Cpu,
    )
    .unwrap()
}

/// Each loss computed row by row in plain f64, independently of candle.
fn reference(kind: LossKind, f: &[f64], y: &[usize], k: usize) -> f64 {
    let rows: Vec<&[f64]> = f.chunks(k).collect();
    let per_row = |r: &[f64], yi: usize| -> f64 {
        let lsm = log_softmax(r);
        let p = softmax(r);
        match kind {
            LossKind::CrossEntropy => -lsm[yi],
            LossKind::LabelSmoothing { epsilon } => -(0..k)
                .map(|j| {
                    ((1.0 - epsilon) * f64::from(u8::from(j == yi)) + epsilon / k as f64) * lsm[j]
                })
                .sum::<f64>(),
            LossKind::ConfidencePenalty { beta } => {
                -lsm[yi] - beta * -(0..k).map(|j| p[j] * lsm[j]).sum::<f64>()
            }
            LossKind::Focal { gamma } => -(1.0 - p[yi]).powf(gamma) * lsm[yi],
            LossKind::Samme => {
                let mean = r.iter().sum::<f64>() / k as f64;
                (-(r[yi] - mean) / (k as f64 - 1.0)).exp()
            }
            LossKind::Penex {
                alpha,
                rho: Rho::Fixed(rho),
            } => (-alpha * r[yi]).exp() + rho * r.iter().map(|v| v.exp()).sum::<f64>(),
            LossKind::Penex { .. } | LossKind::Exponential { .. } => unreachable!(),
        }
    };
    rows.iter()
        .zip(y)
        .map(|(r, &yi)| per_row(r, yi))
        .sum::<f64>()
        / y.len() as f64
}

#[test]
fn every_autograd_loss_matches_its_plain_reference() {
    let (k, n) = (7, 33);
    let (f, y) = batch(n, k, 1);
    let logits = Tensor::from_slice(&f, (n, k), &Device::Cpu).unwrap();
    let targets = targets(&y);
    for kind in [
        LossKind::CrossEntropy,
        LossKind::LabelSmoothing { epsilon: 0.1 },
        LossKind::ConfidencePenalty { beta: 0.25 },
        LossKind::Focal { gamma: 2.0 },
        LossKind::Samme,
        LossKind::Penex {
            alpha: 0.3,
            rho: Rho::Fixed(0.5),
        },
    ] {
        let got = ClassificationLoss::new(kind)
            .unwrap()
            .loss(&logits, &targets)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let want = reference(kind, &f, &y, k);
        assert!(
            (got - want).abs() < 1e-12 * (1.0 + want.abs()),
            "{kind:?}: {got} vs {want}"
        );
    }
}

#[test]
fn every_autograd_gradient_matches_finite_differences() {
    let (k, n) = (4, 9);
    let (f, y) = batch(n, k, 2);
    let targets = targets(&y);
    for kind in [
        LossKind::LabelSmoothing { epsilon: 0.1 },
        LossKind::ConfidencePenalty { beta: 0.25 },
        LossKind::Focal { gamma: 2.0 },
        LossKind::Samme,
        LossKind::Penex {
            alpha: 0.3,
            rho: Rho::Fixed(0.5),
        },
    ] {
        let var = Var::from_tensor(&Tensor::from_slice(&f, (n, k), &Device::Cpu).unwrap()).unwrap();
        let loss = ClassificationLoss::new(kind).unwrap();
        let g = loss
            .loss(var.as_tensor(), &targets)
            .unwrap()
            .backward()
            .unwrap();
        let g = g
            .get(&var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let h = 1e-6;
        for i in 0..n * k {
            let mut p = f.clone();
            p[i] += h;
            let up = reference(kind, &p, &y, k);
            p[i] -= 2.0 * h;
            let down = reference(kind, &p, &y, k);
            assert!(
                ((up - down) / (2.0 * h) - g[i]).abs() < 1e-7,
                "{kind:?} logit {i}"
            );
        }
    }
}

#[test]
fn analytic_gradient_optimum_and_fisher_consistency() {
    let (f, y) = batch(20, 5, 3);
    let p = Penex::new(0.2, 0.8).unwrap();
    let logits = Logits::new(&f, 5, &y).unwrap();
    let (l, g) = p.loss_and_grad(&logits);
    assert!(
        (l - reference(
            LossKind::Penex {
                alpha: 0.2,
                rho: Rho::Fixed(0.8)
            },
            &f,
            &y,
            5
        ))
        .abs()
            < 1e-12
    );
    for i in [0, 7, 42, 99] {
        let mut q = f.clone();
        q[i] += 1e-6;
        let up = p.loss(&Logits::new(&q, 5, &y).unwrap());
        q[i] -= 2e-6;
        let down = p.loss(&Logits::new(&q, 5, &y).unwrap());
        assert!(((up - down) / 2e-6 - g[i]).abs() < 1e-8);
    }
    // At f*, the population gradient α p_j e^{−α f_j} = ρ e^{f_j} vanishes and softmax((1+α) f*) = p.
    let probs = [0.5, 0.3, 0.15, 0.05];
    let opt = p.optimum(&probs);
    for (j, &pj) in probs.iter().enumerate() {
        assert!((0.2 * pj * (-0.2 * opt[j]).exp() - 0.8 * opt[j].exp()).abs() < 1e-14);
    }
    let back = inference_probabilities(&opt, 0.2);
    assert!(back.iter().zip(probs).all(|(a, b)| (a - b).abs() < 1e-12));
}

#[test]
fn running_rho_moves_only_by_update_state() {
    let (f, y) = batch(16, 3, 4);
    let logits = Tensor::from_slice(&f, (16, 3), &Device::Cpu)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    let targets = targets(&y);
    for kernels in [penex::Kernels::Fused, penex::Kernels::Composite] {
        let mut loss = ClassificationLoss::penex(0.1)
            .unwrap()
            .with_kernels(kernels);
        assert_eq!(loss.rho(), Some(1.0));
        // Evaluation passes, any number of them, leave ρ where it was.
        let mut fw = None;
        for _ in 0..3 {
            let out = loss.forward(&logits, &targets).unwrap();
            let l = out.loss.to_scalar::<f32>().unwrap();
            let (a, b) = Logits::new(&f, 3, &y).unwrap().terms(0.1);
            assert!(
                (f64::from(l) - (a + b)).abs() < 1e-4 * (a + b),
                "{kernels:?}"
            );
            assert_eq!(loss.rho(), Some(1.0));
            fw = Some(out);
        }
        // The explicit update moves ρ by the EMA of the balance.
        let (a, b) = Logits::new(&f, 3, &y).unwrap().terms(0.1);
        let want = 0.9 + 0.1 * 0.1 * a / b;
        loss.update_state(fw.unwrap().terms.as_ref().unwrap())
            .unwrap();
        let got = loss.rho().unwrap();
        assert!(
            (got - want).abs() < 1e-5 * want,
            "{kernels:?}: {got} vs {want}"
        );
        assert_eq!(loss.rho(), Some(got));
        assert_eq!(loss.inference_scale(), 1.1);
    }
}

#[test]
fn margins_by_hand() {
    let f = vec![vec![2.0, 1.0, -1.0], vec![0.0, 3.0, 1.0]];
    let m = metrics::logit_margins(&f, &[0, 2], 1.5).unwrap();
    assert_eq!(m, vec![1.5, -3.0]);
    let p = vec![vec![0.7, 0.2, 0.1]];
    assert!((metrics::probability_margins(&p, &[1]).unwrap()[0] + 0.5).abs() < 1e-12);
}

#[test]
fn errors_are_typed() {
    for (a, r) in [
        (0.0, 1.0),
        (-1.0, 1.0),
        (f64::NAN, 1.0),
        (0.1, 0.0),
        (0.1, f64::INFINITY),
    ] {
        assert!(matches!(
            Penex::new(a, r),
            Err(PenexError::Parameter { .. })
        ));
    }
    assert!(matches!(
        Logits::new(&[], 3, &[]),
        Err(PenexError::Empty { .. })
    ));
    assert!(matches!(
        Logits::new(&[0.0; 5], 3, &[0]),
        Err(PenexError::Shape { .. })
    ));
    assert!(matches!(
        Logits::new(&[0.0, f64::NAN, 0.0], 3, &[0]),
        Err(PenexError::NonFinite {
            row: 0,
            class: 1,
            ..
        })
    ));
    assert!(matches!(
        Logits::new(&[0.0; 3], 3, &[3]),
        Err(PenexError::Label { label: 3, .. })
    ));
    for kind in [
        LossKind::LabelSmoothing { epsilon: 1.0 },
        LossKind::ConfidencePenalty { beta: -0.1 },
        LossKind::Focal { gamma: f64::NAN },
        LossKind::Penex {
            alpha: 0.0,
            rho: Rho::Fixed(1.0),
        },
        LossKind::Penex {
            alpha: 0.1,
            rho: Rho::Fixed(-1.0),
        },
    ] {
        assert!(
            matches!(
                ClassificationLoss::new(kind),
                Err(PenexError::Parameter { .. })
            ),
            "{kind:?}"
        );
    }
    assert!(RunningRho::new(1.0, 0.0, 1e-6, 1.0).is_err());
    assert!(RunningRho::new(1.0, 0.1, 1.0, 0.5).is_err());
    assert!(RunningRho::new(-1.0, 0.1, 1e-6, 1.0).is_err());
    assert!(matches!(
        metrics::logit_margins(&[vec![1.0]], &[0], 1.0),
        Err(PenexError::Shape { .. })
    ));
    assert!(matches!(
        metrics::logit_margins(&[vec![1.0, 2.0]], &[2], 1.0),
        Err(PenexError::Label { .. })
    ));
    assert!(matches!(
        metrics::logit_margins(&[], &[], 1.0),
        Err(PenexError::Empty { .. })
    ));
    // Candle errors surface as well: targets out of range for the gather.
    let logits = Tensor::zeros((2, 3), DType::F64, &Device::Cpu).unwrap();
    let bad = Tensor::from_vec(vec![0u32, 7], 2, &Device::Cpu).unwrap();
    assert!(ClassificationLoss::penex(0.1)
        .unwrap()
        .loss(&logits, &bad)
        .is_err());
}

/// The robustness review's cases: a wrapping shape check, NaN from huge logits, and an
/// out-of-range target that candle's gather would silently read as class 0.
#[test]
fn wrapping_shapes_huge_logits_and_out_of_range_targets() {
    use penex::loss::{inference_probabilities, Logits};
    assert!(Logits::new(&[0.5], 12297829382473034411, &[0, 0, 0]).is_err());
    let p = inference_probabilities(&[1e308, 0.0], 1.0);
    assert_eq!(p, vec![1.0, 0.0]);
    let p = inference_probabilities(&[2.0, 1.0], 1.0);
    let want = 1.0 / (1.0 + (-2.0f64).exp());
    assert!((p[0] - want).abs() < 1e-15);
    let dev = candle_core::Device::Cpu;
    let logits = candle_core::Tensor::new(&[[1.0f32, 2.0, 0.5], [0.1, 0.2, 0.3]], &dev).unwrap();
    for loss in [
        penex::ClassificationLoss::new(penex::LossKind::CrossEntropy).unwrap(),
        penex::ClassificationLoss::penex(0.1).unwrap(),
    ] {
        let bad = candle_core::Tensor::new(&[0u32, u32::MAX], &dev).unwrap();
        assert!(loss.loss(&logits, &bad).is_err());
        let short = candle_core::Tensor::new(&[0u32], &dev).unwrap();
        assert!(loss.loss(&logits, &short).is_err());
        let ok = candle_core::Tensor::new(&[0u32, 2], &dev).unwrap();
        assert!(loss.loss(&logits, &ok).is_ok());
    }
}

/// Focal loss where p_y rounds to 1 (one class, or a margin past the dtype's resolution):
/// `(1 − p)^γ` has gradient `γ·(1 − p)^{γ−1}`, infinite at 0 for γ < 1, which turned the whole
/// gradient NaN. For γ ∈ {0, 0.5, 2}, in f32 and f64, the loss and every gradient entry are
/// finite, and where p_y is not 1 the gradient still matches the plain reference's finite
/// differences.
#[test]
fn focal_gradients_are_finite_when_p_y_is_one() {
    for gamma in [0.0, 0.5, 2.0] {
        let loss = ClassificationLoss::new(LossKind::Focal { gamma }).unwrap();
        for dtype in [DType::F32, DType::F64] {
            // Row 0: one class (p = 1 exactly); row 1: a margin of 60 (p_y = 1 in both dtypes);
            // row 2: an ordinary row.
            for (f, k, y) in [
                (vec![3.0], 1usize, vec![0usize]),
                (vec![60.0, 0.0, 0.0], 3, vec![0]),
                (vec![0.3, -0.2, 0.1], 3, vec![2]),
            ] {
                let var = Var::from_tensor(
                    &Tensor::from_slice(&f, (1, k), &Device::Cpu)
                        .unwrap()
                        .to_dtype(dtype)
                        .unwrap(),
                )
                .unwrap();
                let l = loss.loss(var.as_tensor(), &targets(&y)).unwrap();
                let g = l.backward().unwrap();
                let grad: Vec<f64> = g
                    .get(var.as_tensor())
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_dtype(DType::F64)
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let lv = l.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
                assert!(
                    lv.is_finite() && grad.iter().all(|v| v.is_finite()),
                    "γ = {gamma} {dtype:?} {f:?}: {lv} {grad:?}"
                );
                if k == 3 && f[0] < 1.0 && dtype == DType::F64 {
                    for j in 0..k {
                        let h = 1e-6;
                        let (mut fp, mut fm) = (f.clone(), f.clone());
                        fp[j] += h;
                        fm[j] -= h;
                        let fd = (reference(LossKind::Focal { gamma }, &fp, &y, k)
                            - reference(LossKind::Focal { gamma }, &fm, &y, k))
                            / (2.0 * h);
                        assert!(
                            (fd - grad[j]).abs() < 1e-6,
                            "γ = {gamma} j = {j}: {fd} vs {}",
                            grad[j]
                        );
                    }
                }
            }
        }
    }
}

/// The exponential loss with each constraint handler, from its definition (batch-level for the
/// penalties on h = mean_i (Σ_j f_ij)²).
fn constrained_reference(
    alpha: f64,
    c: penex::Constraint,
    lambda: f64,
    f: &[f64],
    y: &[usize],
    k: usize,
) -> f64 {
    use penex::Constraint;
    let n = y.len() as f64;
    let rows: Vec<&[f64]> = f.chunks(k).collect();
    let exp_mean = |shift: &dyn Fn(&[f64]) -> f64| {
        rows.iter()
            .zip(y)
            .map(|(r, &yi)| (-alpha * (r[yi] - shift(r))).exp())
            .sum::<f64>()
            / n
    };
    let h = rows
        .iter()
        .map(|r| r.iter().sum::<f64>().powi(2))
        .sum::<f64>()
        / n;
    let plain = exp_mean(&|_| 0.0);
    match c {
        Constraint::Unconstrained => plain,
        Constraint::SumToZero => exp_mean(&|r| r.iter().sum::<f64>() / k as f64),
        Constraint::LogSumExp { rho } => {
            let lse = rows
                .iter()
                .map(|r| r.iter().map(|v| v.exp()).sum::<f64>().ln())
                .sum::<f64>()
                / n;
            plain + rho * lse
        }
        Constraint::Squared { rho } => plain + rho / 2.0 * h * h,
        Constraint::AugmentedLagrangian { rho, .. } => plain + lambda * h + rho / 2.0 * h * h,
    }
}

#[test]
fn every_constraint_handler_matches_its_definition_and_finite_differences() {
    use penex::Constraint;
    let (k, n) = (4, 9);
    let (mut f, y) = batch(n, k, 5);
    f.iter_mut().for_each(|v| *v *= 0.3); // keep the squared penalties moderate
    let t = targets(&y);
    let handlers = [
        Constraint::Unconstrained,
        Constraint::SumToZero,
        Constraint::LogSumExp { rho: 1.0 },
        Constraint::Squared { rho: 0.01 },
        Constraint::AugmentedLagrangian { rho: 0.01, nu: 2.0 },
    ];
    for c in handlers {
        let kind = LossKind::Exponential {
            alpha: 0.4,
            constraint: c,
        };
        let mut loss = ClassificationLoss::new(kind).unwrap();
        let var = Var::from_tensor(&Tensor::from_slice(&f, (n, k), &Device::Cpu).unwrap()).unwrap();
        // Two rounds: the second with the multiplier moved by the first's h.
        for round in 0..2 {
            let lambda = loss.multiplier().unwrap_or(0.0);
            let fw = loss.forward(var.as_tensor(), &t).unwrap();
            let got = fw.loss.to_scalar::<f64>().unwrap();
            let want = constrained_reference(0.4, c, lambda, &f, &y, k);
            assert!(
                (got - want).abs() < 1e-12 * (1.0 + want.abs()),
                "{c:?} round {round}"
            );
            let g = fw.loss.backward().unwrap();
            let g = g
                .get(&var)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let h = 1e-6;
            for i in 0..n * k {
                let mut p = f.clone();
                p[i] += h;
                let up = constrained_reference(0.4, c, lambda, &p, &y, k);
                p[i] -= 2.0 * h;
                let down = constrained_reference(0.4, c, lambda, &p, &y, k);
                let fd = (up - down) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() < 1e-7 * (1.0 + fd.abs()),
                    "{c:?} logit {i}"
                );
            }
            match (c, fw.terms) {
                (Constraint::AugmentedLagrangian { rho, nu }, Some(terms)) => {
                    let hv = terms.to_vec1::<f64>().unwrap()[0];
                    let want_h = f
                        .chunks(k)
                        .map(|r| r.iter().sum::<f64>().powi(2))
                        .sum::<f64>()
                        / n as f64;
                    assert!((hv - want_h).abs() < 1e-12 * want_h);
                    loss.update_state(&terms).unwrap();
                    assert_eq!(loss.multiplier(), Some(lambda + rho / nu * hv));
                    // The multiplier is the loss's checkpointed state.
                    let mut other = ClassificationLoss::new(kind).unwrap();
                    other.restore_state(&loss.state()).unwrap();
                    assert_eq!(other.multiplier(), loss.multiplier());
                }
                (_, terms) => assert!(terms.is_none(), "{c:?}"),
            }
        }
        let scale = loss.inference_scale();
        let want = if matches!(c, Constraint::LogSumExp { .. }) {
            1.4
        } else {
            0.4
        };
        assert_eq!(scale, want, "{c:?}");
    }
    // Invalid constants.
    for c in [
        Constraint::LogSumExp { rho: 0.0 },
        Constraint::Squared { rho: f64::NAN },
        Constraint::AugmentedLagrangian { rho: 1.0, nu: -1.0 },
    ] {
        let kind = LossKind::Exponential {
            alpha: 0.4,
            constraint: c,
        };
        assert!(ClassificationLoss::new(kind).is_err(), "{c:?}");
    }
}

#[test]
fn the_linear_tail_agrees_between_kernels_and_with_the_plain_loss() {
    let (k, n) = (5, 70);
    let (f, y) = batch(n, k, 6);
    let t = targets(&y);
    // τ = 1.2: e^{−0.5 f_y} > 1.2 for f_y < −0.36, about 40% of the labels here.
    let plain = penex::PenexLoss::new(0.5)
        .unwrap()
        .with_fixed_rho(0.3)
        .unwrap()
        .with_linear_tail(1.2)
        .unwrap();
    let yy: Vec<usize> = y.clone();
    let mut want_g = vec![0.0; f.len()];
    let want = plain
        .forward_backward(&f, k, &yy, &mut want_g)
        .unwrap()
        .value;
    for kernels in [penex::Kernels::Fused, penex::Kernels::Composite] {
        let loss = ClassificationLoss::new(LossKind::Penex {
            alpha: 0.5,
            rho: Rho::Fixed(0.3),
        })
        .unwrap()
        .with_linear_tail(1.2)
        .unwrap()
        .with_kernels(kernels);
        let var = Var::from_tensor(&Tensor::from_slice(&f, (n, k), &Device::Cpu).unwrap()).unwrap();
        let l = loss.loss(var.as_tensor(), &t).unwrap();
        let got = l.to_scalar::<f64>().unwrap();
        assert!(
            (got - want).abs() < 1e-12 * want,
            "{kernels:?}: {got} vs {want}"
        );
        let g = l.backward().unwrap();
        let g = g
            .get(&var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for (a, b) in g.iter().zip(&want_g) {
            assert!((a - b).abs() < 1e-12, "{kernels:?}");
        }
    }
    assert!(ClassificationLoss::new(LossKind::CrossEntropy)
        .unwrap()
        .with_linear_tail(1.0)
        .is_err());
}
