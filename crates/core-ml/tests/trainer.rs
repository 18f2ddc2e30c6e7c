//! The open trainer against hand-computed expectations: an after-step hook (a proximal step), an
//! auxiliary loss handed back by a transformer's FFN, a gradient-free step, parameter groups,
//! the loop's stop rules and observers, and a bit-identical resume from a checkpoint.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Activation, Init, VarBuilder, VarMap};
use core_ml::data::DatasetTensors;
use core_ml::models::{init_seeded, FfnLayer, FfnOutput, LmConfig, Mlp, TransformerLm};
use core_ml::train::{OptimizerKind, Schedule};
use core_ml::trainer::{run, DecayRule, Forward, SeriesRecorder, StopRule, Trainer, TrainerConfig};

fn sgd(lr: f64) -> TrainerConfig {
    TrainerConfig {
        lr,
        optimizer: OptimizerKind::Sgd,
        schedule: Schedule::Constant,
        total_steps: 100,
        grad_clip: None,
        decay: DecayRule::Uniform,
    }
}

fn vec_var(vm: &VarMap, name: &str, vals: &[f64]) -> Tensor {
    let vb = VarBuilder::from_varmap(vm, DType::F64, &Device::Cpu);
    let t = vb
        .get_with_hints(vals.len(), name, Init::Const(0.0))
        .unwrap();
    let data = vm.data().lock().unwrap();
    data[name]
        .set(&Tensor::new(vals, &Device::Cpu).unwrap())
        .unwrap();
    t
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn after_step_hook_applies_a_proximal_step() {
    // L = ½‖θ‖², SGD at lr 0.1: θ ← 0.9 θ; then the hook soft-thresholds by lr·λ = 0.1.
    let vm = VarMap::new();
    let theta = vec_var(&vm, "theta", &[1.0, -2.0, 0.05]);
    let mut t = Trainer::new(&vm, sgd(0.1)).unwrap();
    t.add_after_step(|ctx| {
        let v = ctx.var("theta").expect("theta");
        let x: Vec<f64> = v.to_vec1()?;
        let shrunk: Vec<f64> = x
            .iter()
            .map(|&xi| xi.signum() * (xi.abs() - ctx.lr * 1.0).max(0.0))
            .collect();
        v.set(&Tensor::new(shrunk.as_slice(), v.device())?)?;
        Ok(())
    });
    let rec = t
        .step(|_| Ok(Forward::new((theta.sqr()?.sum_all()? * 0.5)?)))
        .unwrap();
    let got: Vec<f64> = theta.to_vec1().unwrap();
    // 0.9·(1, −2, 0.05) = (0.9, −1.8, 0.045) → soft-threshold 0.1 → (0.8, −1.7, 0).
    assert!(close(&got, &[0.8, -1.7, 0.0], 1e-15), "{got:?}");
    assert!((rec.loss - 0.5 * (1.0 + 4.0 + 0.0025)).abs() < 1e-15);
    assert!((rec.grad_norm.unwrap() - (5.0025f64).sqrt()).abs() < 1e-14);
    assert_eq!((rec.step, rec.evaluations), (1, 1));
}

/// An FFN that passes its input through and reports `c·‖w‖²` of a private weight as its
/// auxiliary loss, plus one statistic.
struct PenaltyFfn {
    w: Tensor,
    c: f64,
}

impl FfnLayer for PenaltyFfn {
    fn forward_aux(&self, xs: &Tensor) -> candle_core::Result<FfnOutput> {
        Ok(FfnOutput {
            out: xs.clone(),
            aux_loss: Some((self.w.sqr()?.sum_all()? * self.c)?),
            stats: vec![("calls".into(), 1.0)],
        })
    }
}

#[test]
fn auxiliary_losses_from_the_ffn_reach_the_gradient() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let c = 0.25;
    let cfg = LmConfig {
        vocab: 16,
        context: 8,
        d_model: 8,
        heads: 2,
        layers: 2,
    };
    let ffn = |vb: VarBuilder<'_>,
               _d: usize,
               _layer: usize|
     -> candle_core::Result<core_ml::models::Ffn> {
        let w = vb.get_with_hints(3, "w", Init::Const(0.0))?;
        Ok(Box::new(PenaltyFfn { w, c }))
    };
    let lm = TransformerLm::new(VarBuilder::from_varmap(&vm, DType::F64, &dev), cfg, &ffn).unwrap();
    init_seeded(&vm, 3).unwrap();
    // Set each block's w by hand.
    let ws = [[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]];
    {
        let data = vm.data().lock().unwrap();
        for (i, w) in ws.iter().enumerate() {
            data[&format!("blocks.{i}.ffn.w")]
                .set(&Tensor::new(w, &dev).unwrap())
                .unwrap();
        }
    }
    let ids = Tensor::new(&[[1u32, 2, 3, 4], [5, 6, 7, 8]], &dev).unwrap();
    let out = lm.forward_aux(&ids).unwrap();
    let want_aux: f64 = ws.iter().flatten().map(|x| c * x * x).sum();
    let aux = out.aux_loss.clone().unwrap().to_scalar::<f64>().unwrap();
    assert!((aux - want_aux).abs() < 1e-12, "{aux} vs {want_aux}");
    let names: Vec<&str> = out.stats.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["blocks.0.calls", "blocks.1.calls"]);

    // One SGD step on main + aux: the main loss does not depend on w, so w ← w(1 − 2c·lr).
    let lr = 0.1;
    let mut t = Trainer::new(&vm, sgd(lr)).unwrap();
    let targets = Tensor::new(&[[2u32, 3, 4, 5], [6, 7, 8, 9]], &dev).unwrap();
    let rec = t
        .step(|_| {
            let o = lm.forward_aux(&ids)?;
            let main = core_ml::models::lm_cross_entropy(&o.logits, &targets)?;
            Ok(Forward::new(main)
                .with_aux("penalty", o.aux_loss.expect("aux"))
                .with_stats(o.stats))
        })
        .unwrap();
    assert!((rec.aux[0].1 - want_aux).abs() < 1e-12);
    assert_eq!(rec.stats.len(), 2);
    let data = vm.data().lock().unwrap();
    for (i, w) in ws.iter().enumerate() {
        let got: Vec<f64> = data[&format!("blocks.{i}.ffn.w")].to_vec1().unwrap();
        let want: Vec<f64> = w.iter().map(|x| x * (1.0 - 2.0 * c * lr)).collect();
        assert!(close(&got, &want, 1e-14), "block {i}: {got:?} vs {want:?}");
    }
}

#[test]
fn gradient_free_step_with_a_central_difference_direction() {
    // L(θ) = ½ θᵀ A θ with A = diag(1, 4); central differences are exact for a quadratic, so the
    // zeroth-order direction equals the gradient A θ and the step is θ − lr·Aθ.
    let vm = VarMap::new();
    let theta = vec_var(&vm, "theta", &[1.0, -0.5]);
    let a = [1.0, 4.0];
    let loss = |th: &[f64]| 0.5 * (a[0] * th[0] * th[0] + a[1] * th[1] * th[1]);
    let mut t = Trainer::new(&vm, sgd(0.1)).unwrap();
    let counter = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let seen = counter.clone();
    t.add_after_step(move |_| {
        seen.set(seen.get() + 1);
        Ok(())
    });
    let th: Vec<f64> = theta.to_vec1().unwrap();
    let h = 1e-3;
    let mut g = vec![0.0; 2];
    let mut evals = 0;
    for i in 0..2 {
        let (mut p, mut m) = (th.clone(), th.clone());
        p[i] += h;
        m[i] -= h;
        g[i] = (loss(&p) - loss(&m)) / (2.0 * h);
        evals += 2;
    }
    let dir = Tensor::new(g.as_slice(), &Device::Cpu).unwrap();
    let rec = t.step_with_direction(&[dir], loss(&th), evals).unwrap();
    let got: Vec<f64> = theta.to_vec1().unwrap();
    assert!(
        close(&got, &[1.0 - 0.1 * 1.0, -0.5 - 0.1 * 4.0 * -0.5], 1e-12),
        "{got:?}"
    );
    assert_eq!(rec.evaluations, 4);
    assert_eq!(rec.grad_norm, None);
    assert_eq!(counter.get(), 1, "hooks run after gradient-free steps too");
    // Wrong shapes and counts are refused without touching θ.
    assert!(t
        .step_with_direction(
            &[Tensor::zeros(3, DType::F64, &Device::Cpu).unwrap()],
            0.0,
            2
        )
        .is_err());
    assert!(t.step_with_direction(&[], 0.0, 2).is_err());
    assert_eq!(theta.to_vec1::<f64>().unwrap(), got);
}

#[test]
fn parameter_groups_skip_norms_biases_and_embeddings() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let lm = TransformerLm::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        LmConfig {
            vocab: 16,
            context: 8,
            d_model: 8,
            heads: 2,
            layers: 1,
        },
        &core_ml::models::dense_ffn,
    )
    .unwrap();
    drop(lm);
    let rule = DecayRule::default();
    for (name, v) in core_ml::trainer::named_vars(&vm) {
        let want = v.rank() == 2 && !name.starts_with("tok.") && !name.starts_with("pos.");
        assert_eq!(rule.decays(&name, &v), want, "{name}");
        assert!(DecayRule::Uniform.decays(&name, &v));
    }
    // With zero gradients only the decay moves a parameter: a bias stays, a weight shrinks.
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F64, &dev);
    let w = vb.get_with_hints((1, 1), "w", Init::Const(1.0)).unwrap();
    let b = vb.get_with_hints(1, "b", Init::Const(1.0)).unwrap();
    let mut t = Trainer::new(
        &vm,
        TrainerConfig {
            lr: 0.1,
            optimizer: OptimizerKind::AdamW { weight_decay: 0.5 },
            ..TrainerConfig::default()
        },
    )
    .unwrap();
    // (candle prunes a branch scaled by the constant 0.0, so multiply by a zero tensor.)
    let zero = Tensor::new(0.0f64, &dev).unwrap();
    t.step(|_| Ok(Forward::new((w.sum_all()? + b.sum_all()?)?.mul(&zero)?)))
        .unwrap();
    assert_eq!(b.to_vec1::<f64>().unwrap(), [1.0]);
    let wv = w.to_vec2::<f64>().unwrap()[0][0];
    assert!((wv - 0.95).abs() < 1e-15, "{wv}");
}

#[test]
fn run_stops_on_its_rule_and_observers_record() {
    let vm = VarMap::new();
    let theta = vec_var(&vm, "theta", &[1.0]);
    let mut t = Trainer::new(&vm, sgd(0.5)).unwrap();
    let mut loss = SeriesRecorder::new("loss", 1);
    let mut lr = SeriesRecorder::new("lr", 2);
    // L = θ²; θ ← θ(1 − 2·0.5) = 0 after one step.
    let recs = run(
        &mut t,
        &StopRule {
            max_steps: 10,
            target_loss: Some(0.5),
            max_evaluations: None,
        },
        |_| Ok(Forward::new(theta.sqr()?.sum_all()?)),
        &mut [&mut loss, &mut lr],
    )
    .unwrap();
    // Step 1 sees L = 1 (> 0.5), step 2 sees L = 0 and stops.
    assert_eq!(recs.len(), 2);
    assert_eq!(loss.points, vec![(1.0, 1.0), (2.0, 0.0)]);
    assert_eq!(lr.points, vec![(2.0, 0.5)]);
    let recs = run(
        &mut t,
        &StopRule {
            max_steps: 100,
            target_loss: None,
            max_evaluations: Some(5),
        },
        |_| Ok(Forward::new(theta.sqr()?.sum_all()?)),
        &mut [],
    )
    .unwrap();
    assert_eq!((recs.len(), t.evaluations()), (3, 5));
    let nan = run(
        &mut t,
        &StopRule::steps(3),
        |_| Ok(Forward::new((theta.sum_all()? * f64::NAN)?)),
        &mut [],
    );
    assert!(matches!(nan, Err(core_ml::MlError::NonFiniteLoss { .. })));
}

fn mlp_run(resume_at: Option<usize>, steps: usize) -> Vec<Vec<f32>> {
    let dev = Device::Cpu;
    let ds = core_ml::data::Dataset::iris().unwrap();
    let (x, y) = ds.tensors(DType::F32, &dev).unwrap();
    let build = || {
        let vm = VarMap::new();
        let mlp = Mlp::new(
            VarBuilder::from_varmap(&vm, DType::F32, &dev),
            &[4, 8, 3],
            Activation::Relu,
        )
        .unwrap();
        init_seeded(&vm, 11).unwrap();
        (vm, mlp)
    };
    let cfg = TrainerConfig {
        lr: 0.01,
        optimizer: OptimizerKind::AdamW { weight_decay: 0.01 },
        schedule: Schedule::CosineWarmup {
            warmup: 2,
            min_factor: 0.1,
        },
        total_steps: steps,
        grad_clip: Some(1.0),
        decay: DecayRule::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("t.safetensors");
    let (vm, mlp) = build();
    let mut t = Trainer::new(&vm, cfg).unwrap();
    let step = |t: &mut Trainer, mlp: &Mlp| {
        t.step(|s| {
            // A different half of the rows each step.
            let idx: Vec<u32> = (0..ds.len() as u32)
                .filter(|i| (i + s as u32).is_multiple_of(2))
                .collect();
            let idx = Tensor::new(idx.as_slice(), &dev)?;
            let logits = mlp.forward(&x.index_select(&idx, 0)?)?;
            Ok(Forward::new(candle_nn::loss::cross_entropy(
                &logits,
                &y.index_select(&idx, 0)?,
            )?))
        })
        .unwrap();
    };
    let (vm, mlp, mut t) = match resume_at {
        None => {
            for _ in 0..steps {
                step(&mut t, &mlp);
            }
            (vm, mlp, t)
        }
        Some(k) => {
            for _ in 0..k {
                step(&mut t, &mlp);
            }
            t.save_checkpoint(&ckpt).unwrap();
            drop(t);
            let (vm2, mlp2) = build();
            let mut t2 = Trainer::new(&vm2, cfg).unwrap();
            t2.load_checkpoint(&ckpt).unwrap();
            assert_eq!(t2.steps_done(), k);
            for _ in k..steps {
                step(&mut t2, &mlp2);
            }
            (vm2, mlp2, t2)
        }
    };
    let _ = (&mlp, &mut t);
    core_ml::trainer::named_vars(&vm)
        .iter()
        .map(|(_, v)| v.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

#[test]
fn a_resumed_run_continues_bit_identically() {
    let straight = mlp_run(None, 12);
    let resumed = mlp_run(Some(5), 12);
    assert_eq!(straight, resumed);
    // And the optimiser state matters: a resume that lost the moments would differ.
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F64, &dev);
    let w = vb.get_with_hints(1, "w", Init::Const(1.0)).unwrap();
    let mut t = Trainer::new(
        &vm,
        TrainerConfig {
            lr: 0.1,
            ..Default::default()
        },
    )
    .unwrap();
    t.step(|_| Ok(Forward::new(w.sum_all()?))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    t.save_checkpoint(&p).unwrap();
    let mut fresh = Trainer::new(
        &vm,
        TrainerConfig {
            lr: 0.1,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(fresh.load_checkpoint(&dir.path().join("missing")).is_err());
    fresh.load_checkpoint(&p).unwrap();
    assert_eq!(fresh.steps_done(), 1);
}
