//! Exact Hessian-vector products by double back-propagation against the closed-form Hessian of
//! softmax regression in f64 — an independent route, not HVPs of the same code — and against
//! the finite-difference HVP.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear, VarBuilder, VarMap};
use core_ml::data::DatasetTensors;
use core_ml::hvp::{
    double_backward_available, exact_hessian_vector_product, hessian_vector_product, FlatParams,
};
use core_ml::models::init_seeded;
use nalgebra::{DMatrix, DVector};

/// `H v` of `L(W, b) = mean_i CE(softmax(W x_i + b), y_i)` by hand: with `p_i` the softmax and
/// `u_i = V_W x_i + v_b`, `r_i = p_i ⊙ u_i − p_i (p_i · u_i)`; then `(Hv)_W = mean_i r_i x_iᵀ`
/// and `(Hv)_b = mean_i r_i` (the labels drop out of the Hessian).
fn closed_form(
    x: &DMatrix<f64>,
    w: &DMatrix<f64>,
    b: &DVector<f64>,
    vw: &DMatrix<f64>,
    vb: &DVector<f64>,
) -> (DMatrix<f64>, DVector<f64>) {
    let (n, k) = (x.nrows(), w.nrows());
    let (mut hw, mut hb) = (DMatrix::zeros(k, x.ncols()), DVector::zeros(k));
    for i in 0..n {
        let xi = x.row(i).transpose();
        let z = w * &xi + b;
        let m = z.max();
        let e = z.map(|v| (v - m).exp());
        let p = &e / e.sum();
        let u = vw * &xi + vb;
        let pu = p.dot(&u);
        let r = p.component_mul(&u) - &p * pu;
        hw += &r * xi.transpose() / n as f64;
        hb += r / n as f64;
    }
    (hw, hb)
}

#[test]
fn exact_hvp_matches_the_closed_form_of_softmax_regression() {
    assert!(
        double_backward_available(),
        "CANDLE_GRAD_DO_NOT_DETACH=1 is set by .cargo/config.toml"
    );
    let dev = Device::Cpu;
    let ds = core_ml::data::Dataset::iris().unwrap();
    let (d, k) = (ds.d, ds.n_classes);
    let (xt, yt) = ds.tensors(DType::F64, &dev).unwrap();
    let vm = VarMap::new();
    let lin = linear(
        d,
        k,
        VarBuilder::from_varmap(&vm, DType::F64, &dev).pp("lin"),
    )
    .unwrap();
    init_seeded(&vm, 5).unwrap();
    let params = FlatParams::new(&vm); // name order: lin.bias, lin.weight
    let mut loss = || candle_nn::loss::cross_entropy(&lin.forward(&xt)?, &yt);
    let x = DMatrix::from_row_slice(ds.len(), d, &ds.x);
    let theta = params.get().unwrap();
    let b = DVector::from_column_slice(&theta[..k]);
    let w = DMatrix::from_row_slice(k, d, &theta[k..]);
    let mut rng = core_linalg::seeded_rng(9);
    let mut worst_exact = 0.0f64;
    let mut worst_fd = 0.0f64;
    for _ in 0..5 {
        let v = core_linalg::standard_normal_vector(&mut rng, params.len());
        let vb = DVector::from_column_slice(&v.as_slice()[..k]);
        let vw = DMatrix::from_row_slice(k, d, &v.as_slice()[k..]);
        let (hw, hb) = closed_form(&x, &w, &b, &vw, &vb);
        let want: Vec<f64> = hb
            .iter()
            .copied()
            .chain(hw.transpose().iter().copied())
            .collect();
        let exact = exact_hessian_vector_product(&params, &mut loss, v.as_slice()).unwrap();
        let fd = hessian_vector_product(&params, &mut loss, v.as_slice(), 1e-4).unwrap();
        let scale = want.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        for ((e, f), t) in exact.iter().zip(&fd).zip(&want) {
            worst_exact = worst_exact.max((e - t).abs() / scale);
            worst_fd = worst_fd.max((f - t).abs() / scale);
        }
    }
    eprintln!("exact HVP vs closed form {worst_exact:e}, finite differences {worst_fd:e}");
    assert!(
        worst_exact <= 1e-8,
        "exact HVP vs closed form: {worst_exact:e}"
    );
    assert!(
        worst_fd <= 1e-6,
        "finite-difference HVP vs closed form: {worst_fd:e}"
    );
    // The parameters are untouched.
    assert_eq!(params.get().unwrap(), theta);
    // Bad directions are refused.
    assert!(exact_hessian_vector_product(&params, &mut loss, &[1.0]).is_err());
    let mut nan = vec![0.0; params.len()];
    nan[0] = f64::NAN;
    assert!(exact_hessian_vector_product(&params, &mut loss, &nan).is_err());
}

#[test]
fn finite_differences_refuse_f32() {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let lin = linear(2, 2, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
    let x = Tensor::new(&[[1.0f32, 2.0]], &dev).unwrap();
    let params = FlatParams::new(&vm);
    let mut loss = || lin.forward(&x)?.sqr()?.sum_all();
    let err = hessian_vector_product(&params, &mut loss, &vec![1.0; params.len()], 1e-4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs f64"), "{err}");
    // The exact route works in f32: L = Σ (Wx + b)² has H v = 2 (V x + v_b) ⊗ (x, 1).
    let v = vec![1.0; params.len()];
    let hv = exact_hessian_vector_product(&params, &mut loss, &v).unwrap();
    // V x + v_b = (1·1 + 1·2 + 1) = 4 per output; bias entries 2·4 = 8, weight entries 2·4·x_j.
    assert_eq!(hv, vec![8.0, 8.0, 8.0, 16.0, 8.0, 16.0]);
}
