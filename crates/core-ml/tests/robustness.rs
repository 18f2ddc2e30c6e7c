//! Generated bad input through the public entry points of core-ml (the `bad_input` runner: no
//! panic, no call over 2 s, no non-finite output from finite input, and the right answer where
//! an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry point (default
//! 300; 10⁴ for the deep run).
//!
//! The independent answers: every fused kernel against its composite twin (candle's own
//! operations), forward and backward, on moderate inputs; metrics against their definitions
//! written out; text windows against the bytes they were cut from; the finite-difference and
//! exact Hessian-vector products against the closed-form Hessian `diag(2c)` of `Σ c_i w_i²`.
//! The model and trainer are exercised end to end by their own tests (trainer.rs, kernels.rs,
//! hvp_exact.rs); here their configuration checks and the kernels they are built from.
//!
//! Documented non-finite values: kernels are plain arithmetic on finite tensors and overflow
//! like it (inputs are drawn below 1e30 in magnitude, where f32 softmax and GELU stay finite);
//! `perplexity` of a huge NLL is `+∞` (`e^x` beyond f64).

use bad_input::{all_finite, checked, res, Gen, Suite};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Init, VarBuilder, VarMap};
use core_ml::hvp::{exact_hessian_vector_product, hessian_vector_product, FlatParams};
use core_ml::kernels::{self, Kernels};
use core_ml::metrics;
use core_ml::train::{OptimizerKind, Schedule, TrainConfig};

fn dims(g: &mut Gen) -> (usize, usize) {
    (g.pick(&[0usize, 1, 2, 5]), g.pick(&[0usize, 1, 3, 8]))
}

/// Values: usually moderate, a fifth of the time hostile but below 1e30 in magnitude (larger
/// values overflow f32 arithmetic legitimately).
fn values(g: &mut Gen, n: usize) -> Vec<f64> {
    let hostile = g.coin(0.2);
    (0..n)
        .map(|_| {
            let v = if hostile {
                g.f()
            } else {
                4.0 * g.uniform() - 2.0
            };
            if v.is_finite() && v.abs() > 1e30 {
                v.signum() * 1e30
            } else {
                v
            }
        })
        .collect()
}

fn tensor(v: &[f64], shape: &[usize], dtype: DType) -> candle_core::Result<Tensor> {
    Tensor::from_slice(v, shape, &Device::Cpu)?.to_dtype(dtype)
}

/// The value and the gradient (wrt the first input) of `sum(out · w)` for a fixed random
/// weighting `w`, flattened to f64.
fn value_and_grad(
    f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    x: &Var,
    w: &[f64],
) -> candle_core::Result<(Vec<f64>, Vec<f64>)> {
    let out = f(x.as_tensor())?;
    let wt = Tensor::from_slice(&w[..out.elem_count()], out.shape(), &Device::Cpu)?
        .to_dtype(out.dtype())?;
    let grads = (out.clone() * wt)?.sum_all()?.backward()?;
    let g = grads
        .get(x.as_tensor())
        .map(|g| g.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>())
        .transpose()?
        // No gradient recorded (candle drops the path through a multiplication by 0): zero.
        .unwrap_or_else(|| vec![0.0; x.elem_count()]);
    Ok((
        out.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?,
        g,
    ))
}

/// Fused and composite agree (relative 1e-4 in f32, 1e-9 in f64) on moderate inputs.
fn agree(a: &[f64], b: &[f64], dtype: DType) -> bool {
    let tol = if dtype == DType::F32 { 1e-4 } else { 1e-9 };
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())))
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run(
        "kernels: layer_norm / gelu / add_bias / bias_gelu / causal_softmax (fused vs composite)",
        |g| {
            let dtype = if g.coin(0.5) { DType::F32 } else { DType::F64 };
            let (n, d) = dims(g);
            let which = g.below(5);
            let d2 = if which == 4 { n } else { d };
            let xv = values(g, n * d2);
            let xs = if which == 4 { vec![n, n] } else { vec![n, d] };
            let bl = g.len_near(d);
            let bv = values(g, bl);
            let bv2 = values(g, bl);
            let eps = if g.coin(0.8) { 1e-5 } else { g.f() };
            let scale = if g.coin(0.8) { 0.5 } else { g.f() };
            let w: Vec<f64> = (0..xv.len().max(1)).map(|_| g.uniform() - 0.5).collect();
            let moderate = xv.iter().chain(&bv).chain(&bv2).all(|v| v.abs() <= 2.0)
                && eps > 1e-8
                && eps < 1.0
                && scale.abs() <= 1.0;
            let run = |k: Kernels| -> candle_core::Result<(Vec<f64>, Vec<f64>)> {
                let x = Var::from_tensor(&tensor(&xv, &xs, dtype)?)?;
                let b = tensor(&bv, &[bl], dtype)?;
                let b2 = tensor(&bv2, &[bl], dtype)?;
                let f = |t: &Tensor| match which {
                    0 => kernels::layer_norm(t, &b, &b2, eps, k),
                    1 => kernels::gelu(t, k),
                    2 => kernels::add_bias(t, &b, k),
                    3 => kernels::bias_gelu(t, &b, k),
                    _ => kernels::causal_softmax(t, scale, k),
                };
                value_and_grad(&f, &x, &w)
            };
            let fused = res!(run(Kernels::Fused));
            let comp = run(Kernels::Composite);
            let right = match &comp {
                Ok(c) => {
                    !moderate || (agree(&fused.0, &c.0, dtype) && agree(&fused.1, &c.1, dtype))
                }
                // The twins must accept and refuse the same inputs.
                Err(_) => false,
            };
            let fin = all_finite(&xv)
                && all_finite(&bv)
                && all_finite(&bv2)
                && eps.is_finite()
                && scale.is_finite();
            let mut v = fused.0;
            v.extend(fused.1);
            checked(fin && moderate, v, right)
        },
    );

    suite.run(
        "kernels: causal_attention / cross_entropy (fused vs composite)",
        |g| {
            let dtype = if g.coin(0.5) { DType::F32 } else { DType::F64 };
            let attention = g.coin(0.5);
            let (b, t) = (g.pick(&[0usize, 1, 2]), g.pick(&[0usize, 1, 4]));
            let heads = g.pick(&[0usize, 1, 2, 3]);
            let d3 = g.pick(&[0usize, 3, 6, 12, 7]);
            let n = g.pick(&[0usize, 1, 4]);
            let k = g.pick(&[0usize, 1, 5]);
            let (xs, len) = if attention {
                (vec![b, t, d3], b * t * d3)
            } else {
                (vec![n, k], n * k)
            };
            let xv = values(g, len);
            let targets: Vec<u32> = (0..g.len_near(n))
                .map(|_| {
                    if g.coin(0.95) {
                        g.below(k.max(1)) as u32
                    } else {
                        g.pick(&[k as u32, u32::MAX])
                    }
                })
                .collect();
            let w: Vec<f64> = (0..len.max(1)).map(|_| g.uniform() - 0.5).collect();
            let moderate = xv.iter().all(|v| v.abs() <= 2.0);
            let run = |kk: Kernels| -> candle_core::Result<(Vec<f64>, Vec<f64>)> {
                let x = Var::from_tensor(&tensor(&xv, &xs, dtype)?)?;
                let tg = Tensor::from_vec(targets.clone(), targets.len(), &Device::Cpu)?;
                let f = |t: &Tensor| {
                    if attention {
                        kernels::causal_attention(t, heads, kk)
                    } else {
                        kernels::cross_entropy(t, &tg, kk)
                    }
                };
                value_and_grad(&f, &x, &w)
            };
            let fused = res!(run(Kernels::Fused));
            let right = match run(Kernels::Composite) {
                Ok(c) => {
                    !moderate || (agree(&fused.0, &c.0, dtype) && agree(&fused.1, &c.1, dtype))
                }
                Err(_) => false,
            };
            let mut v = fused.0;
            v.extend(fused.1);
            checked(all_finite(&xv) && moderate, v, right)
        },
    );

    suite.run(
        "metrics: accuracy / nll / brier / ece / bits_per_byte / perplexity",
        |g| {
            let (n, k) = dims(g);
            // Half the time every row a probability vector, else hostile rows.
            let clean = g.coin(0.5);
            let rows: Vec<Vec<f64>> = (0..n)
                .map(|_| {
                    if clean {
                        g.clean_stochastic(k, 1).as_slice().to_vec()
                    } else {
                        let l = g.len_near(k);
                        g.prob_of(l)
                    }
                })
                .collect();
            let labels: Vec<usize> = if clean {
                (0..n).map(|_| g.below(k.max(1))).collect()
            } else {
                (0..g.len_near(n)).map(|_| g.index(k)).collect()
            };
            let bins = g.pick(&[0usize, 1, 10, 1 << 40]);
            let acc = res!(metrics::accuracy(&rows, &labels));
            let nll = res!(metrics::nll(&rows, &labels));
            let brier = res!(metrics::brier(&rows, &labels));
            // Independent: the definitions written out.
            let argmax = |p: &[f64]| (0..p.len()).fold(0, |b, j| if p[j] > p[b] { j } else { b });
            let want_acc = rows
                .iter()
                .zip(&labels)
                .filter(|(p, &y)| argmax(p) == y)
                .count() as f64
                / n as f64;
            let want_nll = -rows
                .iter()
                .zip(&labels)
                .map(|(p, &y)| p[y].max(1e-300).ln())
                .sum::<f64>()
                / n as f64;
            let mut right =
                acc == want_acc && (nll - want_nll).abs() <= 1e-12 * want_nll.abs().max(1.0);
            right &= (0.0..=2.0).contains(&brier);
            let mut v = vec![acc, nll, brier];
            // The collapse diagnostic: valid rows (accuracy accepted them) of one length.
            let share = metrics::top_class_share(&rows);
            if rows.iter().all(|p| p.len() == rows[0].len()) {
                let mut counts = std::collections::HashMap::new();
                for p in &rows {
                    *counts.entry(argmax(p)).or_insert(0usize) += 1;
                }
                let want = counts.values().copied().max().unwrap_or(0) as f64 / n as f64;
                right &= share.as_ref().is_ok_and(|&s| s == want);
            } else {
                right &= share.is_err();
            }
            v.extend(share.ok());
            if !right {
                eprintln!("DBG met {rows:?} {labels:?} {acc} {want_acc} {nll} {want_nll} {brier}");
            }
            if let Ok(e) = metrics::ece(&rows, &labels, bins) {
                right &= (0.0..=1.0).contains(&e);
                v.push(e);
            }
            let x = g.f();
            let bpb = metrics::bits_per_byte(x);
            let ppl = metrics::perplexity(x);
            // Documented: x / ln 2 beyond f64 (|x| above 1.2e308) is ±∞, and e^x above 709.8.
            if x.abs() < 1e308 {
                right &= bpb == x / std::f64::consts::LN_2;
                v.push(bpb);
            }
            if x < 700.0 {
                v.push(ppl);
            }
            checked(x.is_finite(), v, right)
        },
    );

    suite.run(
        "text: sample_windows / sequential_windows (against the bytes)",
        |g| {
            let len = g.pick(&[0usize, 1, 2, 3, 50]);
            let bytes: Vec<u8> = (0..len).map(|_| g.below(256) as u8).collect();
            let (batch, ctx) = (
                g.pick(&[0usize, 1, 3, usize::MAX]),
                g.pick(&[0usize, 1, 4, 48, 49, usize::MAX]),
            );
            let mut rng = core_linalg::seeded_rng(g.below(100) as u64);
            let mut right = true;
            if let Ok((x, y)) =
                core_ml::text::sample_windows(&bytes, batch, ctx, &mut rng, &Device::Cpu)
            {
                let (x, y) = (res!(x.to_vec2::<u32>()), res!(y.to_vec2::<u32>()));
                right &= x.len() == batch;
                for (xr, yr) in x.iter().zip(&y) {
                    // Independent: the window occurs in the text, and y is x shifted by one.
                    let s = (0..bytes.len() - ctx).find(|&s| {
                        bytes[s..s + ctx]
                            .iter()
                            .map(|&b| u32::from(b))
                            .eq(xr.iter().copied())
                            && bytes[s + 1..s + ctx + 1]
                                .iter()
                                .map(|&b| u32::from(b))
                                .eq(yr.iter().copied())
                    });
                    right &= s.is_some();
                }
            }
            let w = res!(core_ml::text::sequential_windows(
                &bytes,
                ctx,
                g.pick(&[0usize, 1, 5, usize::MAX]),
                &Device::Cpu
            ));
            for (i, (x, _)) in w.iter().enumerate() {
                let x = res!(x.to_vec2::<u32>());
                right &= x[0]
                    .iter()
                    .zip(&bytes[i * ctx..])
                    .all(|(&a, &b)| a == u32::from(b));
            }
            checked(true, vec![], right)
        },
    );

    suite.run("train: Schedule::factor / TrainConfig::check", |g| {
        let sched = if g.coin(0.3) {
            Schedule::Constant
        } else {
            Schedule::CosineWarmup {
                warmup: g.pick(&[0usize, 1, 10, usize::MAX]),
                min_factor: g.unit(),
            }
        };
        let cfg = TrainConfig {
            steps: g.pick(&[0usize, 1, 100, usize::MAX]),
            lr: g.unit(),
            optimizer: match g.below(3) {
                0 => OptimizerKind::Sgd,
                1 => OptimizerKind::Momentum { beta: g.unit() },
                _ => OptimizerKind::AdamW {
                    weight_decay: g.f(),
                },
            },
            schedule: sched,
            grad_clip: if g.coin(0.5) { None } else { Some(g.f()) },
            eval_every: g.pick(&[0usize, 1, usize::MAX]),
        };
        res!(cfg.check());
        let (step, total) = (
            g.pick(&[0usize, 1, 50, usize::MAX]),
            g.pick(&[0usize, 1, 100, usize::MAX]),
        );
        let f = sched.factor(step, total);
        // Independent: a factor lies in [min_factor, 1] after warm-up and in (0, 1] during it.
        let right = (0.0..=1.0 + 1e-12).contains(&f);
        checked(true, vec![f], right)
    });

    suite.run(
        "hvp: FlatParams / hessian_vector_product / exact (against diag(2c))",
        |g| {
            let k = g.pick(&[1usize, 2, 5]);
            let dtype = if g.coin(0.8) { DType::F64 } else { DType::F32 };
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu);
            let w = res!(vb.get_with_hints(k, "w", Init::Const(0.0)));
            let c: Vec<f64> = (0..k).map(|_| g.uniform() + 0.5).collect();
            let ct = res!(tensor(&c, &[k], dtype));
            let p = FlatParams::new(&varmap);
            let theta = {
                let l = g.len_near(k);
                values(g, l)
            };
            res!(p.set(&theta));
            let back = res!(p.get());
            let mut right = back.len() == k && (dtype == DType::F32 || back == theta);
            let v = {
                let l = g.len_near(k);
                values(g, l)
            };
            let h = if g.coin(0.8) { 1e-4 } else { g.f() };
            let mut loss = || (w.sqr()? * &ct)?.sum_all();
            let mut out = Vec::new();
            if let Ok(hv) = hessian_vector_product(&p, &mut loss, &v, h) {
                // Independent: H = diag(2c), so H v = 2 c ⊙ v. Finite differences are accurate
                // for moderate θ and h ∈ [1e-6, 1e-2] only (rounding error ε‖∇L‖/h).
                let moderate = theta.iter().all(|t| t.abs() <= 2.0) && (1e-6..=1e-2).contains(&h);
                // Its error is relative to ‖Hv‖ (the step is along v/‖v‖), not per entry.
                let want: Vec<f64> = c.iter().zip(&v).map(|(ci, vi)| 2.0 * ci * vi).collect();
                let norm = core_linalg::scaled_norm(&nalgebra::DVector::from_vec(want.clone()));
                let err: Vec<f64> = hv.iter().zip(&want).map(|(x, w)| x - w).collect();
                let err = core_linalg::scaled_norm(&nalgebra::DVector::from_vec(err));
                right &= !moderate || err <= 1e-5 * (1.0 + norm);
                out.extend(hv);
            }
            if let Ok(hv) = exact_hessian_vector_product(&p, &mut loss, &v) {
                let tol = if dtype == DType::F32 { 1e-5 } else { 1e-12 };
                let ok = hv.iter().zip(&c).zip(&v).all(|((x, ci), vi)| {
                    (x - 2.0 * ci * vi).abs() <= tol * (1.0 + (2.0 * ci * vi).abs())
                });
                if !ok {
                    eprintln!("DBG exact {dtype:?} {theta:?} {v:?} {c:?} {hv:?}");
                }
                right &= ok;
                out.extend(hv);
            }
            checked(
                all_finite(&theta) && all_finite(&v) && h.is_finite(),
                out,
                right,
            )
        },
    );

    suite.finish();
}
