//! Training with the running ρ: evaluation passes never move it, and a run resumed from a
//! checkpoint continues bit-identically (parameters, optimiser state and ρ).

use candle_core::{DType, Device, Module, Tensor};
use core_ml::candle_nn::{Activation, VarBuilder, VarMap};
use core_ml::data::{Dataset, DatasetTensors, Standardiser};
use core_ml::models::{init_seeded, Mlp};
use core_ml::trainer::{Trainer, TrainerConfig};
use penex::{ClassificationLoss, Kernels, PenexLoss};

const STEPS: usize = 24;

struct Setup {
    vm: VarMap,
    mlp: Mlp,
    batches: Vec<(Tensor, Tensor)>,
}

fn setup(init_seed: u64) -> Setup {
    let dev = Device::Cpu;
    let split = Dataset::digits()
        .unwrap()
        .stratified_split(0.2, 0.0, 1)
        .unwrap();
    let z = Standardiser::fit(&split.train);
    let tr = z.apply(&split.train).unwrap();
    // Four fixed mini-batches, cycled: the step index decides the batch.
    let batches = tr
        .batches(64, 1, 0)
        .unwrap()
        .iter()
        .take(4)
        .map(|b| tr.batch_tensors(b, DType::F32, &dev).unwrap())
        .collect();
    let vm = VarMap::new();
    let mlp = Mlp::new(
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
        &[64, 32, 10],
        Activation::Relu,
    )
    .unwrap();
    init_seeded(&vm, init_seed).unwrap();
    Setup { vm, mlp, batches }
}

fn trainer(vm: &VarMap) -> Trainer {
    Trainer::new(
        vm,
        TrainerConfig {
            lr: 5e-3,
            total_steps: STEPS,
            grad_clip: Some(5.0),
            ..Default::default()
        },
    )
    .unwrap()
}

fn step(s: &Setup, loss: &mut ClassificationLoss, t: &mut Trainer) {
    loss.train_step(t, |i| {
        let (x, y) = &s.batches[i % s.batches.len()];
        Ok((s.mlp.forward(x)?, y.clone()))
    })
    .unwrap();
}

/// Every parameter's bits, in name order.
fn bits(vm: &VarMap) -> Vec<u32> {
    core_ml::trainer::named_vars(vm)
        .iter()
        .flat_map(|(_, v)| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .map(f32::to_bits)
        .collect()
}

#[test]
fn evaluation_leaves_rho_unchanged_and_a_resumed_run_is_bit_identical() {
    for kernels in [Kernels::Fused, Kernels::Composite] {
        // The uninterrupted run, with evaluation passes between steps.
        let s = setup(7);
        let mut loss = ClassificationLoss::penex(0.1)
            .unwrap()
            .with_kernels(kernels);
        let mut t = trainer(&s.vm);
        let mut rhos = Vec::new();
        for i in 0..STEPS {
            step(&s, &mut loss, &mut t);
            let before = loss.rho();
            let (x, y) = &s.batches[(i + 1) % 4];
            for _ in 0..3 {
                loss.loss(&s.mlp.forward(x).unwrap(), y).unwrap();
            }
            assert_eq!(loss.rho(), before, "{kernels:?}: an evaluation moved ρ");
            rhos.push(loss.rho().unwrap());
        }
        assert!(
            rhos.windows(2).any(|w| w[0] != w[1]),
            "{kernels:?}: ρ never moved in training"
        );
        let (want_params, want_rho) = (bits(&s.vm), loss.rho().unwrap().to_bits());

        // The same run, stopped at step 10, checkpointed, and resumed into a fresh model
        // (initialised differently, so only the checkpoint can make it match).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.safetensors");
        {
            let s = setup(7);
            let mut loss = ClassificationLoss::penex(0.1)
                .unwrap()
                .with_kernels(kernels);
            let mut t = trainer(&s.vm);
            for _ in 0..10 {
                step(&s, &mut loss, &mut t);
            }
            loss.save_checkpoint(&t, &path).unwrap();
        }
        let s = setup(99);
        let mut loss = ClassificationLoss::penex(0.1)
            .unwrap()
            .with_kernels(kernels);
        let mut t = trainer(&s.vm);
        loss.load_checkpoint(&mut t, &path).unwrap();
        assert_eq!(t.steps_done(), 10);
        assert_eq!(loss.rho().unwrap(), rhos[9]);
        for _ in 10..STEPS {
            step(&s, &mut loss, &mut t);
        }
        assert_eq!(bits(&s.vm), want_params, "{kernels:?}: parameters differ");
        assert_eq!(
            loss.rho().unwrap().to_bits(),
            want_rho,
            "{kernels:?}: ρ differs"
        );

        // A fixed-ρ loss refuses a checkpoint holding a running ρ's state.
        let mut fixed = ClassificationLoss::new(penex::LossKind::Penex {
            alpha: 0.1,
            rho: penex::Rho::Fixed(1.0),
        })
        .unwrap();
        assert!(fixed.load_checkpoint(&mut trainer(&s.vm), &path).is_err());
    }
}

#[test]
fn the_losses_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ClassificationLoss>();
    send_sync::<PenexLoss>();
    send_sync::<penex::RunningRho>();
}

#[test]
fn fused_and_composite_penex_agree_on_values_and_gradients() {
    use candle_core::Var;
    let dev = Device::Cpu;
    let (n, k) = (130, 11);
    let f: Vec<f64> = (0..n * k)
        .map(|i| ((i * 7919) % 1000) as f64 / 250.0 - 2.0)
        .collect();
    let y: Vec<u32> = (0..n).map(|i| ((i * 31) % k) as u32).collect();
    for dtype in [DType::F64, DType::F32] {
        let x = Var::from_tensor(
            &Tensor::from_slice(&f, (n, k), &dev)
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        )
        .unwrap();
        let t = Tensor::from_slice(&y, n, &dev).unwrap();
        let run = |kernels: Kernels| {
            let mut loss = ClassificationLoss::penex(0.3)
                .unwrap()
                .with_kernels(kernels);
            // A ρ away from 1, moved by one update.
            let fw = loss.forward(x.as_tensor(), &t).unwrap();
            loss.update_state(fw.terms.as_ref().unwrap()).unwrap();
            let fw = loss.forward(x.as_tensor(), &t).unwrap();
            let g = fw.loss.backward().unwrap();
            let grad: Vec<f64> = g
                .get(&x)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let terms: Vec<f64> = fw
                .terms
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
                .to_vec1()
                .unwrap();
            let v = fw
                .loss
                .to_dtype(DType::F64)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            (v, terms, grad)
        };
        let (vf, tf, gf) = run(Kernels::Fused);
        let (vc, tc, gc) = run(Kernels::Composite);
        let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
        assert!((vf - vc).abs() <= tol * vc.abs(), "{dtype:?}: {vf} vs {vc}");
        for (a, b) in tf.iter().zip(&tc) {
            assert!((a - b).abs() <= tol * b.abs(), "{dtype:?}");
        }
        let scale = gc.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in gf.iter().zip(&gc) {
            assert!((a - b).abs() <= tol * scale, "{dtype:?}: {a} vs {b}");
        }
    }
}
