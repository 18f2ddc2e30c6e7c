//! Generated bad input through every public entry point of penex (the `bad_input` runner: no
//! panic, no call over 2 s, no non-finite output from finite input, and the right answer where
//! an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry point (default
//! 300; 10⁴ for the deep run).
//!
//! The independent answers:
//! - central **finite differences** of [`Penex::loss`] for [`Penex::loss_and_grad`]'s gradient;
//! - the optimum's closed form checked through **Fisher consistency**: `softmax((1 + α) f*) = p`;
//! - the plain-`f64` [`Penex`] for the candle PENEX loss (a separate implementation);
//! - every candle loss's gradient (autograd) for finiteness wherever its value is finite;
//! - a plain scan for the margins.
//!
//! Documented non-finite values: PENEX is an exponential loss, so a logit above
//! `ln f64::MAX ≈ 709.8` (or `α·f_y` below `−709.8`) gives a loss of `+∞` and gradient entries of
//! `±∞` — the true value is beyond `f64` (in `f32`, beyond `±88.7`); margins of logits more than
//! `f64::MAX` apart are `±∞`; [`RunningRho::target`] is the plain ratio `α a / b`.

use bad_input::{all_finite, checked, res, Gen, Suite};
use candle_core::{DType, Device, Tensor, Var};
use penex::*;

/// Logits: usually moderate (|f| ≤ 5), sometimes hostile floats.
fn logits(g: &mut Gen, n: usize, k: usize) -> Vec<f64> {
    let hostile = g.coin(0.3);
    (0..n * k)
        .map(|_| {
            if hostile {
                g.f()
            } else {
                10.0 * g.uniform() - 5.0
            }
        })
        .collect()
}

fn labels(g: &mut Gen, n: usize, k: usize) -> Vec<usize> {
    (0..g.len_near(n))
        .map(|_| {
            if g.coin(0.97) {
                g.below(k.max(1))
            } else {
                g.index(k)
            }
        })
        .collect()
}

/// Whether PENEX's exponentials overflow on these logits (the documented +∞).
fn overflows(f: &[f64], alpha: f64, limit: f64) -> bool {
    f.iter().any(|&v| v > limit || -alpha * v > limit)
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run(
        "Logits::new / Penex::loss / loss_and_grad (finite differences)",
        |g| {
            let (n, k) = (g.pick(&[0usize, 1, 2, 5]), g.pick(&[0usize, 1, 2, 3, 10]));
            let f = logits(g, n, k);
            let y = labels(g, n, k);
            let l = res!(Logits::new(&f, k, &y));
            let (alpha, rho) = (g.unit(), g.unit());
            let p = res!(Penex::new(alpha, rho));
            let (loss, grad) = p.loss_and_grad(&l);
            let mut right = loss.to_bits() == p.loss(&l).to_bits() && grad.len() == f.len();
            let (a, b) = l.terms(alpha);
            right &= loss.to_bits() == (a + rho * b).to_bits();
            let moderate = f.iter().all(|v| v.abs() <= 5.0) && alpha <= 10.0 && rho >= 1e-6;
            if moderate {
                // Independent: central differences of the loss, one logit at a time.
                for idx in 0..f.len() {
                    let h = 1e-5;
                    let mut fp = f.clone();
                    fp[idx] += h;
                    let mut fm = f.clone();
                    fm[idx] -= h;
                    let lp = p.loss(&Logits::new(&fp, k, &y).unwrap());
                    let lm = p.loss(&Logits::new(&fm, k, &y).unwrap());
                    let fd = (lp - lm) / (2.0 * h);
                    // Truncation O(h²) relative, rounding O(ε·L/h) absolute.
                    right &= (fd - grad[idx]).abs() <= 1e-5 * fd.abs() + 1e-9 * loss.abs() + 1e-9;
                }
            }
            if overflows(&f, alpha, 709.0) {
                return checked(true, vec![], right);
            }
            let mut v = vec![loss, a, b];
            v.extend(grad);
            checked(true, v, right)
        },
    );

    suite.run(
        "Penex::optimum / probabilities / inference_probabilities (Fisher consistency)",
        |g| {
            let k = g.pick(&[1usize, 2, 5]);
            let mut pr: Vec<f64> = (0..k).map(|_| g.uniform() + 1e-3).collect();
            bad_input::normalise(&mut pr);
            let (alpha, rho) = (g.unit(), g.unit());
            let p = res!(Penex::new(alpha, rho));
            let opt = p.optimum(&pr);
            let back = p.probabilities(&opt);
            let right = back.iter().zip(&pr).all(|(a, b)| (a - b).abs() <= 1e-9);
            let row = g.vec();
            let a2 = g.f();
            let q = inference_probabilities(&row, a2);
            let fin = all_finite(&row) && a2.is_finite() && !row.is_empty();
            let sums = !fin || (q.iter().sum::<f64>() - 1.0).abs() <= 1e-9;
            let mut v = opt;
            v.extend(back);
            if fin {
                v.extend(q);
            }
            checked(true, v, right && sums)
        },
    );

    suite.run("RunningRho::new / update / target / clamps", |g| {
        let mut r = res!(RunningRho::new(g.f(), g.unit(), g.f(), g.f()));
        let (lo, hi) = r.clamps();
        let mut right = (lo..=hi).contains(&r.value());
        for _ in 0..5 {
            let v = r.update(g.unit(), g.f(), g.f());
            right &= (lo..=hi).contains(&v);
        }
        // Started at the balance α/K (clamped to the default [1e-6, 100]) when α is valid.
        let (alpha, k) = (g.f(), g.size());
        if let Ok(b) = RunningRho::balanced(alpha, k) {
            right &= k > 0 && b.value() == (alpha / k as f64).clamp(1e-6, 100.0);
        }
        checked(true, vec![r.value(), lo, hi], right)
    });

    suite.run(
        "ClassificationLoss::new / loss / probabilities (f64 and f32, with gradients)",
        |g| {
            let kind = match g.below(7) {
                6 => LossKind::Exponential {
                    alpha: g.unit(),
                    constraint: match g.below(5) {
                        0 => Constraint::Unconstrained,
                        1 => Constraint::SumToZero,
                        2 => Constraint::LogSumExp { rho: g.unit() },
                        3 => Constraint::Squared { rho: g.unit() },
                        _ => Constraint::AugmentedLagrangian {
                            rho: g.unit(),
                            nu: g.unit(),
                        },
                    },
                },
                0 => LossKind::CrossEntropy,
                1 => LossKind::LabelSmoothing { epsilon: g.unit() },
                2 => LossKind::ConfidencePenalty { beta: g.unit() },
                3 => {
                    let wild = g.f();
                    LossKind::Focal {
                        gamma: g.pick(&[0.0, 0.25, 0.5, 1.0, 2.0, wild]),
                    }
                }
                4 => LossKind::Samme,
                _ => LossKind::Penex {
                    alpha: g.unit(),
                    rho: if g.coin(0.5) {
                        Rho::Fixed(g.unit())
                    } else {
                        Rho::Running(RunningRho::default())
                    },
                },
            };
            let loss = res!(ClassificationLoss::new(kind));
            let _ = (loss.name(), loss.kind(), loss.rho(), loss.inference_scale());
            let (n, k) = (g.pick(&[1usize, 2, 4]), g.pick(&[1usize, 2, 3, 10]));
            let f = logits(g, n, k);
            let mut y: Vec<u32> = (0..n).map(|_| g.below(k) as u32).collect();
            if g.coin(0.1) {
                y[0] = g.pick(&[k as u32, u32::MAX]);
            }
            let dtype = if g.coin(0.5) { DType::F64 } else { DType::F32 };
            let t = res!(Tensor::from_vec(y.clone(), n, &Device::Cpu));
            let var = res!(Var::from_tensor(&res!(res!(Tensor::from_slice(
                &f,
                (n, k),
                &Device::Cpu
            ))
            .to_dtype(dtype))));
            let value = res!(loss.loss(var.as_tensor(), &t));
            let lv = res!(res!(value.to_dtype(DType::F64)).to_scalar::<f64>());
            let grads = res!(value.backward());
            let gr = res!(
                res!(res!(grads.get(var.as_tensor()).ok_or(())).to_dtype(DType::F64)).flatten_all()
            )
            .to_vec1::<f64>();
            let gr = res!(gr);
            let mut right = y.iter().all(|&c| (c as usize) < k);
            // PENEX: the candle loss against the plain f64 one (same ρ before the call's update).
            if let (
                LossKind::Penex {
                    alpha,
                    rho: Rho::Fixed(rho),
                },
                DType::F64,
            ) = (kind, dtype)
            {
                let yy: Vec<usize> = y.iter().map(|&c| c as usize).collect();
                let plain = Penex::new(alpha, rho)
                    .unwrap()
                    .loss(&Logits::new(&f, k, &yy).unwrap());
                right &= lv == plain || (lv - plain).abs() <= 1e-12 * plain.abs().max(1.0);
            }
            let probs = res!(loss.probabilities(var.as_tensor()));
            right &= probs
                .iter()
                .all(|r| (r.iter().sum::<f64>() - 1.0).abs() <= 1e-5);
            // Documented: exponential losses overflow beyond ±709.8 (f64) or ±88.7 (f32).
            let limit = if dtype == DType::F64 { 709.0 } else { 88.0 };
            let exp_loss = matches!(
                kind,
                LossKind::Penex { .. } | LossKind::Samme | LossKind::Exponential { .. }
            );
            // Documented: the squared penalties grow as (Σ_j f_j)⁴ and overflow f32 near
            // |Σ f| ≈ 4e9.
            let quartic =
                matches!(kind, LossKind::Exponential { .. }) && f.iter().any(|v| v.abs() > 1e4);
            let alpha = if let LossKind::Penex { alpha, .. } = kind {
                alpha
            } else {
                1.0
            };
            let reach = alpha.max(1.0) * k as f64;
            let rho_f32 = matches!(kind, LossKind::Penex { rho: Rho::Fixed(r), .. } if r > 1e30);
            let f32_range = dtype == DType::F64 || (f.iter().all(|v| v.abs() <= 3e38) && !rho_f32);
            if (exp_loss && f.iter().any(|v| v.abs() * reach > limit)) || !f32_range || quartic {
                return checked(true, vec![], right);
            }
            let mut v = vec![lv];
            v.extend(gr);
            v.extend(probs.into_iter().flatten());
            checked(true, v, right)
        },
    );

    suite.run(
        "PenexLoss::new / with_* / forward / forward_backward / update_rho (f64 and f32, against the definition)",
        |g| {
            let wild = g.f();
            let mut loss = res!(PenexLoss::new(g.pick(&[0.1, 1.0, wild])));
            if g.coin(0.3) {
                let wild = g.f();
                loss = res!(loss.with_fixed_rho(g.pick(&[0.5, wild])));
            }
            let reduction = g.pick(&[Reduction::Mean, Reduction::Sum, Reduction::None]);
            loss = loss.with_reduction(reduction);
            let (n, k) = (g.pick(&[0usize, 1, 3, 70]), g.pick(&[0usize, 1, 2, 5]));
            let weights: Option<Vec<f64>> = if g.coin(0.3) {
                let l = g.len_near(k);
                Some(
                    (0..l)
                        .map(|_| if g.coin(0.8) { g.uniform() } else { g.f() })
                        .collect(),
                )
            } else {
                None
            };
            if let Some(w) = &weights {
                loss = res!(loss.with_class_weights(w.clone()));
            }
            let wild = g.f();
            let tail = g.coin(0.2).then(|| g.pick(&[2.0, wild]));
            if let Some(t) = tail {
                loss = res!(loss.with_linear_tail(t));
            }
            let ignore = if g.coin(0.5) { Some(-100i64) } else { None };
            loss = loss.with_ignore_index(ignore);
            let rows = g.len_near(n);
            let f = logits(g, rows, k);
            let y: Vec<i64> = (0..n)
                .map(|_| match g.below(20) {
                    0 => -100,
                    1 => g.pick(&[-1, k as i64, i64::MAX, i64::MIN]),
                    2 => -100,
                    _ => g.below(k.max(1)) as i64,
                })
                .collect();
            let rho = loss.rho();
            let f32_path = g.coin(0.5);
            let (v, grad) = if f32_path {
                let f32s: Vec<f32> = f.iter().map(|&v| v as f32).collect();
                let mut gr = vec![0.0f32; f32s.len()];
                let v = res!(loss.forward_backward(&f32s, k, &y, &mut gr));
                (v, gr.into_iter().map(f64::from).collect::<Vec<_>>())
            } else {
                let mut gr = vec![0.0f64; f.len()];
                (res!(loss.forward_backward(&f, k, &y, &mut gr)), gr)
            };
            // Independent: the definition, row by row, in f64.
            let alpha = loss.alpha();
            let (mut sum, mut total) = (0.0, 0.0);
            let mut rows_l = Vec::new();
            let mut right = loss.rho() == rho;
            for (i, &t) in y.iter().enumerate() {
                if Some(t) == ignore {
                    continue;
                }
                right &= (0..k as i64).contains(&t);
                let r = &f[i * k..(i + 1) * k];
                let c = t as usize;
                let w = weights.as_ref().map_or(1.0, |w| w[c]);
                let mut e = (-alpha * r[c]).exp();
                if let Some(tau) = tail {
                    if e > tau {
                        e = tau - alpha * tau * (r[c] + tau.ln() / alpha);
                    }
                }
                let l = e + rho * r.iter().map(|v| v.exp()).sum::<f64>();
                rows_l.push((w, l));
                sum += w * l;
                total += w;
            }
            // The mean as Σ (w_i / Σ w) ℓ_i: exact ratios even for subnormal weights.
            let want = if reduction == Reduction::Mean {
                rows_l.iter().map(|(w, l)| (w / total) * l).sum()
            } else {
                sum
            };
            // Documented: beyond these, values may leave the type's range as the true value does
            // (exponentials, weights of 1e300, a tail's line far out).
            let moderate = f.iter().all(|v| v.abs() <= 5.0)
                && alpha <= 10.0
                && rho <= 1e3
                && tail.is_none_or(|t| t <= 1e6)
                && weights.as_ref().is_none_or(|w| w.iter().all(|&x| x <= 1e6));
            if moderate {
                let tol = if f32_path { 1e-5 } else { 1e-12 };
                right &= (v.value - want).abs() <= tol * want.abs().max(1e-300) + 1e-300;
            }
            let before = loss.rho_state();
            let after = loss.update_rho(&v.stats);
            if let RhoMode::Running(r) = loss.rho_mode() {
                let (lo, hi) = r.clamps();
                right &= (lo..=hi).contains(&after);
            } else {
                right &= before.is_empty() && after == rho;
            }
            if !moderate {
                return checked(true, vec![], right);
            }
            let mut out = vec![v.value, v.stats.exp_term, v.stats.penalty, after];
            out.extend(grad);

            checked(true, out, right)
        },
    );

    suite.run(
        "metrics::logit_margins / probability_margins (against a scan)",
        |g| {
            let n = g.pick(&[0usize, 1, 3]);
            let k = g.pick(&[0usize, 1, 2, 5]);
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|_| {
                    let l = g.len_near(k);
                    if g.coin(0.7) {
                        (0..l).map(|_| 10.0 * g.uniform() - 5.0).collect()
                    } else {
                        g.vec_of(l)
                    }
                })
                .collect();
            let y = labels(g, n, k);
            let scale = if g.coin(0.8) {
                1.0 + g.uniform()
            } else {
                g.f()
            };
            let m = res!(metrics::logit_margins(&rows, &y, scale));
            let mut right = m.len() == n;
            for ((r, &yi), &mi) in rows.iter().zip(&y).zip(&m) {
                let other = (0..r.len())
                    .filter(|&j| j != yi)
                    .map(|j| r[j])
                    .fold(f64::NEG_INFINITY, f64::max);
                right &= mi.to_bits() == (scale * (r[yi] - other)).to_bits();
            }
            // Documented: ±∞ where scale · (f_y − max f_j) leaves the f64 range.
            let spread = rows.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
            let fin = scale * 2.0 * spread <= f64::MAX;
            let pm = metrics::probability_margins(&rows, &y);
            right &= pm.is_ok();
            checked(fin, m, right)
        },
    );

    suite.finish();
}
