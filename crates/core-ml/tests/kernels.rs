//! Every fused kernel against its composite twin (candle's differentiable operations), on values
//! and on the gradients of every input: relative error `‖fused − composite‖∞ / ‖composite‖∞`
//! at most 1e-5 in f32 and 1e-10 in f64. Inputs are random, scaled so that the kernels see
//! large and tiny values (softmax rows far from uniform, GELU deep in both tails).

use candle_core::{DType, Device, Tensor, Var};
use core_ml::kernels::{
    add_bias, bias_gelu, causal_attention, causal_softmax, cross_entropy, gelu, layer_norm, Kernels,
};

fn tol(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-10,
        _ => 1e-5,
    }
}

fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_dtype(DType::F64).unwrap().flatten_all().unwrap();
    let b = b.to_dtype(DType::F64).unwrap().flatten_all().unwrap();
    let a: Vec<f64> = a.to_vec1().unwrap();
    let b: Vec<f64> = b.to_vec1().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
    let err = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(scale > 0.0, "a reference of all zeros tests nothing");
    err / scale
}

fn randn(shape: &[usize], scale: f64, seed: u64, dtype: DType) -> Var {
    let n: usize = shape.iter().product();
    let mut rng = core_linalg::seeded_rng(seed);
    let v: Vec<f64> = core_linalg::standard_normal_vector(&mut rng, n)
        .iter()
        .map(|z| z * scale)
        .collect();
    Var::from_tensor(
        &Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap(),
    )
    .unwrap()
}

/// Runs `f` with both kernels on the same inputs, and compares the outputs and the gradients of
/// `Σ out ⊙ R` (R random) with respect to every input.
fn compare(
    name: &str,
    dtype: DType,
    inputs: &[Var],
    f: impl Fn(&[Tensor], Kernels) -> candle_core::Result<Tensor>,
) {
    let ts: Vec<Tensor> = inputs.iter().map(|v| v.as_tensor().clone()).collect();
    let fused = f(&ts, Kernels::Fused).unwrap();
    let composite = f(&ts, Kernels::Composite).unwrap();
    assert_eq!(fused.dims(), composite.dims(), "{name}");
    let e = rel_err(&fused, &composite);
    assert!(e <= tol(dtype), "{name} {dtype:?} values: {e:e}");
    let r = randn(fused.dims(), 1.0, 99, dtype);
    let gf = (&fused * r.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gc = (&composite * r.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (i, v) in inputs.iter().enumerate() {
        let (a, b) = (gf.get(v), gc.get(v));
        let (a, b) = (
            a.unwrap_or_else(|| panic!("{name}: no fused gradient for input {i}")),
            b.unwrap_or_else(|| panic!("{name}: no composite gradient for input {i}")),
        );
        let e = rel_err(a, b);
        assert!(e <= tol(dtype), "{name} {dtype:?} gradient {i}: {e:e}");
    }
}

#[test]
fn layer_norm_matches_composite() {
    for dtype in [DType::F32, DType::F64] {
        // 37 rows: not a multiple of the row block.
        let x = randn(&[37, 48], 3.0, 1, dtype);
        let g = randn(&[48], 1.0, 2, dtype);
        let b = randn(&[48], 1.0, 3, dtype);
        compare("layer norm", dtype, &[x, g, b], |t, k| {
            layer_norm(&t[0], &t[1], &t[2], 1e-5, k)
        });
        let x3 = randn(&[2, 5, 16], 1.0, 4, dtype);
        let g = randn(&[16], 1.0, 5, dtype);
        let b = randn(&[16], 1.0, 6, dtype);
        compare("layer norm 3-d", dtype, &[x3, g, b], |t, k| {
            layer_norm(&t[0], &t[1], &t[2], 1e-5, k)
        });
    }
}

#[test]
fn causal_softmax_matches_composite() {
    for dtype in [DType::F32, DType::F64] {
        let s = randn(&[3, 2, 19, 19], 4.0, 7, dtype);
        compare("causal softmax", dtype, &[s], |t, k| {
            causal_softmax(&t[0], 0.37, k)
        });
    }
    // Exact zeros above the diagonal, rows summing to one.
    let s = randn(&[5, 5], 2.0, 8, DType::F64);
    let p: Vec<Vec<f64>> = causal_softmax(s.as_tensor(), 1.0, Kernels::Fused)
        .unwrap()
        .to_vec2()
        .unwrap();
    for (i, row) in p.iter().enumerate() {
        assert!(row[i + 1..].iter().all(|&v| v == 0.0));
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }
}

#[test]
fn causal_attention_matches_composite() {
    for dtype in [DType::F32, DType::F64] {
        // 2 sequences of 23 tokens, 3 heads of width 8 (d = 24): the GEMMs see odd sizes.
        let qkv = randn(&[2, 23, 72], 1.5, 15, dtype);
        compare("causal attention", dtype, &[qkv], |t, k| {
            causal_attention(&t[0], 3, k)
        });
        // Tiny heads (nalgebra's own small-matrix path) and a single token.
        for (shape, heads) in [([2, 4, 24], 2), ([3, 1, 12], 2), ([1, 6, 3], 1)] {
            let qkv = randn(&shape, 1.0, 18, dtype);
            compare("small causal attention", dtype, &[qkv], |t, k| {
                causal_attention(&t[0], heads, k)
            });
        }
    }
    let x = Tensor::zeros((1, 4, 10), DType::F32, &Device::Cpu).unwrap();
    assert!(causal_attention(&x, 3, Kernels::Fused).is_err());
    assert!(causal_attention(&x, 0, Kernels::Fused).is_err());
}

#[test]
fn bias_kernels_match_composite() {
    for dtype in [DType::F32, DType::F64] {
        let x = randn(&[70, 33], 3.0, 16, dtype);
        let b = randn(&[33], 1.0, 17, dtype);
        compare("bias", dtype, &[x.clone(), b.clone()], |t, k| {
            add_bias(&t[0], &t[1], k)
        });
        compare("bias + gelu", dtype, &[x, b], |t, k| {
            bias_gelu(&t[0], &t[1], k)
        });
    }
    let x = Tensor::zeros((3, 4), DType::F32, &Device::Cpu).unwrap();
    let b = Tensor::zeros(5, DType::F32, &Device::Cpu).unwrap();
    assert!(add_bias(&x, &b, Kernels::Fused).is_err());
    assert!(bias_gelu(&x, &b, Kernels::Fused).is_err());
}

#[test]
fn gelu_matches_composite() {
    for dtype in [DType::F32, DType::F64] {
        let x = randn(&[33, 129], 4.0, 9, dtype);
        compare("gelu", dtype, &[x], |t, k| gelu(&t[0], k));
    }
}

#[test]
fn cross_entropy_matches_composite() {
    for dtype in [DType::F32, DType::F64] {
        let x = randn(&[41, 23], 5.0, 10, dtype);
        let y: Vec<u32> = (0..41).map(|i| (i * 7 % 23) as u32).collect();
        let y = Tensor::new(y.as_slice(), &Device::Cpu).unwrap();
        compare("cross-entropy", dtype, &[x], |t, k| {
            cross_entropy(&t[0], &y, k)
        });
    }
}

#[test]
fn reductions_do_not_depend_on_the_thread_count() {
    let x = randn(&[300, 64], 2.0, 11, DType::F32);
    let g = randn(&[64], 1.0, 12, DType::F32);
    let b = randn(&[64], 1.0, 13, DType::F32);
    let y = Tensor::new(
        (0..300)
            .map(|i| (i % 64) as u32)
            .collect::<Vec<_>>()
            .as_slice(),
        &Device::Cpu,
    )
    .unwrap();
    let run = || {
        let h = layer_norm(
            x.as_tensor(),
            g.as_tensor(),
            b.as_tensor(),
            1e-5,
            Kernels::Fused,
        )
        .unwrap();
        let loss = cross_entropy(&h, &y, Kernels::Fused).unwrap();
        let grads = loss.backward().unwrap();
        let flat = |v: &Var| -> Vec<f32> {
            grads
                .get(v)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        (
            loss.to_scalar::<f32>().unwrap(),
            flat(&x),
            flat(&g),
            flat(&b),
        )
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(run);
    assert_eq!(one, three);
}

#[test]
fn bad_input_is_an_error() {
    let dev = Device::Cpu;
    let x = Tensor::zeros((4, 8), DType::F32, &dev).unwrap();
    let g8 = Tensor::ones(8, DType::F32, &dev).unwrap();
    let g7 = Tensor::ones(7, DType::F32, &dev).unwrap();
    assert!(layer_norm(&x, &g7, &g8, 1e-5, Kernels::Fused).is_err());
    assert!(layer_norm(&x, &g8, &g8, 0.0, Kernels::Fused).is_err());
    assert!(layer_norm(&x, &g8, &g8, f64::NAN, Kernels::Fused).is_err());
    assert!(causal_softmax(&x, 1.0, Kernels::Fused).is_err());
    let sq = Tensor::zeros((8, 8), DType::F32, &dev).unwrap();
    assert!(causal_softmax(&sq, f64::INFINITY, Kernels::Fused).is_err());
    let xi = Tensor::zeros((4, 8), DType::U32, &dev).unwrap();
    assert!(gelu(&xi, Kernels::Fused).is_err());
    let out_of_range = Tensor::new(&[0u32, 1, 8, 2], &dev).unwrap();
    assert!(cross_entropy(&x, &out_of_range, Kernels::Fused).is_err());
    let negative = Tensor::new(&[0i64, -1, 2, 3], &dev).unwrap();
    assert!(cross_entropy(&x, &negative, Kernels::Fused).is_err());
    let short = Tensor::new(&[0u32, 1], &dev).unwrap();
    assert!(cross_entropy(&x, &short, Kernels::Fused).is_err());
    let float_targets = Tensor::zeros(4, DType::F32, &dev).unwrap();
    assert!(cross_entropy(&x, &float_targets, Kernels::Fused).is_err());
}

/// A second derivative through a fused backward pass is refused, never silently zero.
#[test]
fn second_derivatives_through_fused_kernels_are_refused() {
    assert!(core_ml::hvp::double_backward_available());
    let x = randn(&[6, 10], 1.0, 14, DType::F64);
    let loss = gelu(x.as_tensor(), Kernels::Fused)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap();
    let g = loss.backward().unwrap();
    let gx = g.get(&x).unwrap();
    assert!(gx.sum_all().unwrap().backward().is_err());
    // The composite kernel is twice differentiable.
    let loss = gelu(x.as_tensor(), Kernels::Composite)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap();
    let g = loss.backward().unwrap();
    assert!(g.get(&x).unwrap().sum_all().unwrap().backward().is_ok());
}

/// The whole LM on the same parameters, fused and composite: logits and the gradient of every
/// parameter agree (f64, 1e-10 relative), so the model's wiring of the fused kernels (packed
/// q/k/v, attention, bias + GELU, positions as a bias) is the textbook transformer.
#[test]
fn the_fused_lm_is_the_composite_lm() {
    use candle_nn::{VarBuilder, VarMap};
    use core_ml::models::{
        dense_ffn, dense_ffn_composite, init_seeded, lm_cross_entropy_with, LmConfig, TransformerLm,
    };
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let cfg = LmConfig {
        vocab: 32,
        context: 12,
        d_model: 24,
        heads: 3,
        layers: 2,
    };
    let vb = || VarBuilder::from_varmap(&vm, DType::F64, &dev);
    let fused = TransformerLm::with_kernels(vb(), cfg, &dense_ffn, Kernels::Fused).unwrap();
    let composite =
        TransformerLm::with_kernels(vb(), cfg, &dense_ffn_composite, Kernels::Composite).unwrap();
    init_seeded(&vm, 21).unwrap();
    let ids: Vec<u32> = (0..3 * 12).map(|i| (i * 7 % 32) as u32).collect();
    let ids = Tensor::from_vec(ids, (3, 12), &dev).unwrap();
    let y: Vec<u32> = (0..3 * 12).map(|i| (i * 5 % 32) as u32).collect();
    let y = Tensor::from_vec(y, (3, 12), &dev).unwrap();
    let (lf, lc) = (
        fused.forward(&ids).unwrap(),
        composite.forward(&ids).unwrap(),
    );
    assert!(rel_err(&lf, &lc) <= 1e-10, "logits {:e}", rel_err(&lf, &lc));
    let gf = lm_cross_entropy_with(&lf, &y, Kernels::Fused)
        .unwrap()
        .backward()
        .unwrap();
    let gc = lm_cross_entropy_with(&lc, &y, Kernels::Composite)
        .unwrap()
        .backward()
        .unwrap();
    let vars = vm.data().lock().unwrap().clone();
    assert_eq!(vars.len(), 2 + 2 * 16 + 2 + 2); // tok, pos; 16 per block; ln_f; head
    let max_abs = |t: &Tensor| -> f64 {
        t.abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    for (name, v) in vars {
        let (a, b) = (gf.get(&v).unwrap(), gc.get(&v).unwrap());
        if name.ends_with(".k.bias") {
            // A key bias shifts every score of a row by the same q·b: softmax ignores it, so
            // its gradient is zero up to rounding in both.
            assert!(max_abs(a) < 1e-12 && max_abs(b) < 1e-12, "{name}");
            continue;
        }
        let e = rel_err(a, b);
        assert!(e <= 1e-10, "gradient of {name}: {e:e}");
    }
}
