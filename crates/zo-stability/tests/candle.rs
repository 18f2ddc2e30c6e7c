//! Candle models as objectives: the loss, gradient and curvature of a small f64 MLP through
//! `CandleObjective`, against independent routes (candle's own forward pass, central
//! differences of the loss, a dense Hessian built column by column from gradient
//! differences), and zeroth-order training of the model.

use core_ml::candle_core::{DType, Device, Module, Tensor};
use core_ml::candle_nn::{loss::mse, Activation, VarBuilder, VarMap};
use core_ml::models::Mlp;
use zo_stability::candle::{CandleObjective, EosObserver};
use zo_stability::{CurvatureConfig, Estimator, Method, Optimizer};

fn model() -> (VarMap, Mlp, Tensor, Tensor) {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F64, &dev);
    let mlp = Mlp::new(vb, &[3, 4, 1], Activation::Silu).unwrap();
    // candle's own initialisation draws from an unseeded generator: seed it, or every run is
    // a different model.
    core_ml::models::init_seeded(&vm, 17).unwrap();
    let x = Tensor::from_vec(
        (0..48)
            .map(|i| ((i * 37 % 17) as f64 / 17.0) - 0.5)
            .collect::<Vec<_>>(),
        (16, 3),
        &dev,
    )
    .unwrap();
    let y = Tensor::from_vec(
        (0..16)
            .map(|i| ((i * 11 % 7) as f64 / 7.0) - 0.5)
            .collect::<Vec<_>>(),
        (16, 1),
        &dev,
    )
    .unwrap();
    (vm, mlp, x, y)
}

#[test]
fn value_gradient_and_curvature_match_independent_routes() {
    let (vm, mlp, x, y) = model();
    let mut obj = CandleObjective::new(&vm, || mse(&mlp.forward(&x)?, &y)).unwrap();
    let d = obj.dim();
    assert_eq!(d, 3 * 4 + 4 + 4 + 1);
    let theta = obj.parameters().unwrap();
    let direct = mse(&mlp.forward(&x).unwrap(), &y)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert_eq!(obj.value(&theta).unwrap(), direct);
    let mut g = vec![0.0; d];
    obj.gradient(&theta, &mut g).unwrap();
    let h = 1e-6;
    for k in 0..d {
        let mut p = theta.clone();
        p[k] += h;
        let fp = obj.value(&p).unwrap();
        p[k] -= 2.0 * h;
        let fm = obj.value(&p).unwrap();
        let fd = (fp - fm) / (2.0 * h);
        assert!((fd - g[k]).abs() < 1e-7, "{k}: {fd} vs {}", g[k]);
    }
    // A dense Hessian from gradient differences, column by column.
    let mut hess = nalgebra::DMatrix::zeros(d, d);
    let mut gp = vec![0.0; d];
    let mut gm = vec![0.0; d];
    for k in 0..d {
        let mut p = theta.clone();
        p[k] += 1e-5;
        obj.gradient(&p, &mut gp).unwrap();
        p[k] -= 2e-5;
        obj.gradient(&p, &mut gm).unwrap();
        for i in 0..d {
            hess[(i, k)] = (gp[i] - gm[i]) / 2e-5;
        }
    }
    let hess = (&hess + hess.transpose()) * 0.5;
    let eig = hess.symmetric_eigenvalues();
    let tr: f64 = eig.iter().sum();
    let tr_pos: f64 = eig.iter().map(|v| v.max(0.0)).sum();
    let lmax = eig.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    obj.restore(&theta).unwrap();
    let mut obs = EosObserver::new(
        obj,
        Method::Gd,
        1,
        CurvatureConfig {
            lanczos_steps: d,
            probes: 4,
        },
        core_linalg::stream_rng(1, 0),
    )
    .unwrap();
    let rec = obs.record(0, 0.1).unwrap().unwrap();
    let c = rec.curvature;
    assert!(
        (c.lambda_max - lmax).abs() < 1e-5 * lmax.abs().max(1.0),
        "{} vs {lmax}",
        c.lambda_max
    );
    // Full Lanczos on each probe: zᵀf(H)z exactly, so the estimates are Hutchinson's, with
    // their sampling error; the positive part and the whole trace bracket the same way.
    assert!(c.positive_trace >= c.trace - 1e-9);
    // Hutchinson's variance with Rademacher probes is 2 Σ_{i≠j} H_ij² per probe: 4 σ.
    let off: f64 = (0..d)
        .flat_map(|i| (0..d).map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
        .map(|(i, j)| hess[(i, j)].powi(2))
        .sum();
    let sd = (2.0 * off / 4.0).sqrt();
    assert!(
        (c.trace - tr).abs() < 4.0 * sd,
        "{} vs {tr} (σ {sd})",
        c.trace
    );
    assert!(c.positive_trace <= tr_pos + 4.0 * sd + 1e-9);
    assert!((rec.interval.threshold - 20.0).abs() < 1e-12);
}

#[test]
fn zeroth_order_training_reduces_the_loss() {
    let (vm, mlp, x, y) = model();
    let mut obj = CandleObjective::new(&vm, || mse(&mlp.forward(&x)?, &y)).unwrap();
    let mut theta = obj.parameters().unwrap();
    let start = obj.value(&theta).unwrap();
    let mut opt = Optimizer::new(Method::Gd, 0.02, theta.len()).unwrap();
    let mut rng = core_linalg::stream_rng(2, 0);
    let est = Estimator::default();
    for _ in 0..2000 {
        let mut f = obj.as_fn();
        opt.zo_step(&est, &mut f, &mut theta, None, &mut rng)
            .unwrap();
    }
    let end = obj.value(&theta).unwrap();
    assert!(end < 0.8 * start, "{start} → {end}");
    assert_eq!(opt.evaluations(), 4000);
}

#[test]
fn bad_input_gets_typed_errors() {
    let empty = VarMap::new();
    assert!(CandleObjective::new(&empty, || Tensor::new(0.0f64, &Device::Cpu)).is_err());
    let (vm, mlp, x, y) = model();
    let mut obj = CandleObjective::new(&vm, || mse(&mlp.forward(&x)?, &y)).unwrap();
    let theta = obj.parameters().unwrap();
    let mut short = vec![0.0; theta.len() - 1];
    assert!(obj.gradient(&theta, &mut short).is_err());
    assert!(obj.value(&theta[1..]).is_err());
    let mut nan = theta.clone();
    nan[0] = f64::NAN;
    assert!(obj.value(&nan).is_err());
    assert!(obj.hvp(&theta, &vec![1.0; theta.len() + 1]).is_err());
    // A failed evaluation inside a ZO step is a typed error, not a silent NaN step.
    let mut opt = Optimizer::new(Method::Gd, 1e300, theta.len()).unwrap();
    let mut t = theta.clone();
    t[0] = 1e300;
    let mut f = obj.as_fn();
    let r = opt.zo_step(
        &Estimator::default(),
        &mut f,
        &mut t,
        None,
        &mut core_linalg::stream_rng(3, 0),
    );
    assert!(r.is_err());
}

#[test]
fn the_observer_builds_zo_adams_interval_from_the_preconditioned_hessian() {
    let (vm, mlp, x, y) = model();
    let obj = CandleObjective::new(&vm, || mse(&mlp.forward(&x)?, &y)).unwrap();
    let d = obj.dim();
    let cfg = CurvatureConfig {
        lanczos_steps: d,
        probes: 1,
    };
    let make = |m: Method| {
        let obj = CandleObjective::new(&vm, || mse(&mlp.forward(&x)?, &y)).unwrap();
        EosObserver::new(obj, m, 1, cfg, core_linalg::stream_rng(4, 0)).unwrap()
    };
    // Without a preconditioner ZO-Adam's interval cannot be built: a typed error.
    let mut adam = make(Method::adam());
    assert!(adam.record(0, 0.01).is_err());
    assert!(adam.set_preconditioner(&vec![1.0; d - 1]).is_err());
    assert!(adam.set_preconditioner(&vec![0.0; d]).is_err());
    assert!(adam.set_preconditioner(&vec![f64::NAN; d]).is_err());
    // P = 4I: P⁻¹H = H/4, so λ_max is a quarter of GD's (full Lanczos: exact up to the
    // finite differences, which are the same products scaled).
    adam.set_preconditioner(&vec![4.0; d]).unwrap();
    let pre = adam.record(0, 0.01).unwrap().unwrap();
    let mut gd = make(Method::Gd);
    let plain = gd.record(0, 0.01).unwrap().unwrap();
    let (a, b) = (pre.curvature.lambda_max, plain.curvature.lambda_max / 4.0);
    assert!((a - b).abs() < 1e-6 * b.abs().max(1e-3), "{a} vs {b}");
    // Frozen ZO-Adam carries its own p.
    let mut frozen = make(Method::FrozenAdam {
        beta1: 0.9,
        p: vec![4.0; d],
    });
    let f = frozen.record(0, 0.01).unwrap().unwrap();
    assert!((f.curvature.lambda_max - b).abs() < 1e-6 * b.abs().max(1e-3));
    drop(obj);
}
