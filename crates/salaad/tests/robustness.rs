//! Generated bad input through every public entry point of salaad (the `bad_input` runner: no
//! panic, no call over 2 s, no non-finite output from finite input, and the right answer
//! where an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry point
//! (default 300).
//!
//! The independent answers: soft thresholding never grows an entry and zeroes exactly those
//! within τ; SVT's singular values are the input's shrunk by τ (recomputed by a second SVD
//! of the output); an SVD reconstructs its input; an allocation stays within its budget and
//! each block's capacity; a factored weight applied to a vector equals the dense product.
//!
//! Documented non-finite values: none (every routine returns an error instead).

use bad_input::{all_finite, checked, ok, res, Gen, Suite};
use nalgebra::DMatrix;
use salaad::*;

/// A matrix: usually clean and small, sometimes hostile (empty, NaN, huge, tiny).
fn matrix(g: &mut Gen) -> DMatrix<f64> {
    if g.coin(0.6) {
        let (r, c) = (1 + g.below(12), 1 + g.below(12));
        DMatrix::from_fn(r, c, |_, _| g.uniform() - 0.5)
    } else {
        g.matrix()
    }
}

fn finite(m: &DMatrix<f64>) -> bool {
    all_finite(m.as_slice())
}

fn param(g: &mut Gen, lo: f64, hi: f64) -> f64 {
    if g.coin(0.7) {
        lo + (hi - lo) * g.uniform()
    } else {
        g.f()
    }
}

fn block_params(g: &mut Gen) -> BlockParams {
    BlockParams {
        rank_ratio: param(g, 0.01, 1.0),
        density: param(g, 0.01, 1.0),
        rho: param(g, 1e-3, 2.0),
        tau_l: if g.coin(0.8) { 0.0 } else { g.f() },
        tau_s: if g.coin(0.8) { 0.0 } else { g.f() },
        energy: if g.coin(0.8) { 0.999 } else { g.f() },
        controller: ControllerParams {
            gain_rank: param(g, 0.0, 0.5),
            gain_density: param(g, 0.0, 0.5),
            damping_rank: param(g, 0.0, 1.0),
            damping_density: param(g, 0.0, 1.0),
            damping_after: g.below(4),
            scale: if g.coin(0.5) {
                GainScale::Absolute
            } else {
                GainScale::Spectrum
            },
        },
        svd: if g.coin(0.5) {
            SvdMethod::Full
        } else {
            SvdMethod::Subspace {
                oversample: g.below(5),
                min_rank: g.below(5),
                iterations: g.below(3),
            }
        },
    }
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run("soft_threshold / prox::soft_threshold_matrix", |g| {
        let m = matrix(g);
        let tau = param(g, 0.0, 1.0);
        let one = soft_threshold(g.f(), tau.abs());
        let (out, nnz) = res!(prox::soft_threshold_matrix(&m, tau));
        let right = out
            .iter()
            .zip(m.iter())
            .all(|(o, x)| o.abs() <= x.abs() && ((x.abs() <= tau) == (*o == 0.0)))
            && nnz == out.iter().filter(|v| **v != 0.0).count();
        let _ = one;
        checked(
            finite(&m) && tau.is_finite(),
            out.as_slice().to_vec(),
            right,
        )
    });

    suite.run("Svd::full / truncate / reconstruct_with", |g| {
        let m = matrix(g);
        let s = res!(Svd::full(&m));
        let rec = s.truncate(s.len());
        let scale = m.amax().max(f64::MIN_POSITIVE);
        let right = (&rec - &m).amax() <= 1e-9 * scale * (m.nrows() + m.ncols()) as f64
            && s.sigma.windows(2).all(|w| w[0] >= w[1]);
        let mut vals = s.sigma.clone();
        vals.extend(rec.iter());
        // Reconstruction near f64::MAX overflows in plain arithmetic (documented on
        // `Svd::truncate`): only moderate inputs are promised a finite, exact reconstruction.
        let moderate = finite(&m) && m.amax() < 1e300;
        checked(moderate, vals, right || !moderate)
    });

    suite.run("svt", |g| {
        let m = matrix(g);
        let tau = param(g, 0.0, 1.0);
        let th = res!(svt(&m, tau));
        // Independent: the singular values of the output, by a second SVD, are the input's
        // shrunk by τ.
        let input = res!(Svd::full(&m));
        let again = res!(Svd::full(&th.l));
        let want: Vec<f64> = input.sigma.iter().map(|s| (s - tau).max(0.0)).collect();
        let scale = input
            .sigma
            .first()
            .copied()
            .unwrap_or(0.0)
            .max(f64::MIN_POSITIVE);
        let right = again
            .sigma
            .iter()
            .zip(&want)
            .all(|(a, b)| (a - b).abs() <= 1e-8 * scale);
        checked(
            finite(&m) && tau.is_finite(),
            th.l.as_slice().to_vec(),
            right,
        )
    });

    suite.run("SubspaceIteration::new / leading", |g| {
        let m = matrix(g);
        let mut t = res!(SubspaceIteration::new(g.below(4)));
        let k = if g.coin(0.8) {
            1 + g.below(m.nrows().min(m.ncols()).max(1))
        } else {
            g.size()
        };
        let a = res!(t.leading(&m, k));
        let b = res!(t.leading(&m, k));
        let mut vals = a.sigma.clone();
        vals.extend(b.sigma.iter());
        ok(finite(&m), vals)
    });

    suite.run("effective_rank / top_magnitude", |g| {
        let mut sigma: Vec<f64> = g.vec().iter().map(|v| v.abs()).collect();
        sigma.sort_by(|a, b| b.total_cmp(a));
        let e = param(g, 0.5, 1.0);
        let r = effective_rank(&sigma, e);
        let m = matrix(g);
        let k = if g.coin(0.8) {
            g.below(m.len() + 2)
        } else {
            g.size()
        };
        let t = top_magnitude(&m, k);
        let kept = t.iter().filter(|v| **v != 0.0).count();
        let right = r <= sigma.len() && kept <= k.min(m.len());
        checked(finite(&m), t.as_slice().to_vec(), right)
    });

    suite.run(
        "BlockParams::check / SlrBlock::new / update / penalty / penalty_grad / anchor / set_targets / init_truncated / decomposition",
        |g| {
            let cfg = res!(block_params(g).check());
            let x = matrix(g);
            let (r, c) = if g.coin(0.8) {
                x.shape()
            } else {
                (g.below(4), g.below(4))
            };
            let mut b = res!(SlrBlock::new(r, c, &cfg));
            if g.coin(0.3) {
                res!(b.init_truncated(&x, g.below(4)));
            }
            let mut vals = Vec::new();
            for _ in 0..1 + g.below(4) {
                if g.coin(0.2) {
                    res!(b.set_targets(g.f(), g.f()));
                }
                let st = res!(b.update(&x));
                vals.extend([st.rank_ratio, st.density, st.tau_l, st.tau_s, st.residual]);
            }
            vals.push(res!(b.penalty(&x)));
            vals.extend(res!(b.penalty_grad(&x)).iter());
            vals.extend(b.anchor().iter());
            let d = b.decomposition();
            vals.extend(d.deploy_dense(g.below(4), g.below(20)).iter());
            // Finite input here includes values whose ρ-scaled products overflow: only
            // moderate ones are promised finite outputs.
            let moderate = finite(&x) && x.amax() < 1e100 && cfg.params().rho > 1e-100;
            ok(moderate, vals)
        },
    );

    suite.run(
        "Decomposition::new / capacity / deploy_factored / FactoredWeight::apply / bytes",
        |g| {
            let w = matrix(g);
            let rank = g.below(5);
            let nnz = if g.coin(0.8) { g.below(40) } else { g.size() };
            let d = res!(svd_prune(&w, rank, nnz));
            let d = res!(Decomposition::new(d.factors.clone(), d.sparse.clone()));
            let cap = d.capacity(param(g, 0.5, 1.0));
            let f = d.deploy_factored(rank, nnz);
            let n_ = g.len_near(w.ncols());
            let x = g.vec_of(n_);
            let y = res!(f.apply(&x));
            let dense = f.to_dense() * nalgebra::DVector::from_column_slice(&x);
            let scale = dense.amax().max(1.0);
            let right = y
                .iter()
                .zip(dense.iter())
                .all(|(a, b)| (a - b).abs() <= 1e-9 * scale)
                && cap.rank <= w.nrows().min(w.ncols());
            let mut vals = y.clone();
            vals.push(f.bytes(SparseFormat::Csr) as f64);
            let moderate = finite(&w)
                && all_finite(&x)
                && w.amax() < 1e100
                && x.iter().all(|v| v.abs() < 1e100);
            checked(moderate, vals, right || !moderate)
        },
    );

    suite.run("allocate / factored_bytes / dense_bytes", |g| {
        let n = if g.coin(0.9) { 1 + g.below(4) } else { 0 };
        let blocks: Vec<BlockCapacity> = (0..n)
            .map(|_| {
                let (rows, cols) = if g.coin(0.9) {
                    (1 + g.below(300), 1 + g.below(300))
                } else {
                    (g.size(), g.size())
                };
                BlockCapacity {
                    rows,
                    cols,
                    rank: if g.coin(0.9) {
                        g.below(rows.min(cols).min(50) + 1)
                    } else {
                        g.size()
                    },
                    nnz: if g.coin(0.9) { g.below(5000) } else { g.size() },
                }
            })
            .collect();
        let rest = if g.coin(0.9) {
            g.below(10_000)
        } else {
            g.size()
        };
        let full: f64 = rest as f64 + blocks.iter().map(|b| b.params() as f64).sum::<f64>();
        let target = if g.coin(0.8) {
            rest as f64 + g.uniform() * (full - rest as f64) * 1.2
        } else {
            g.f()
        };
        let share = param(g, 0.0, 1.0);
        let _ = factored_bytes(g.size(), g.size(), g.size(), g.size(), SparseFormat::Coo);
        let _ = dense_bytes(g.size(), g.size());
        let a = res!(allocate(&blocks, rest, target, share));
        let right = (a.params as f64 <= target.max(a.full as f64) + 1e-9)
            && a.params <= a.full
            && a.blocks
                .iter()
                .zip(&blocks)
                .all(|(&(r, z), b)| r <= b.rank && z <= b.nnz);
        checked(true, vec![a.params as f64], right)
    });

    suite.run("rpca_ialm / svd_prune", |g| {
        let m = matrix(g);
        let p = RpcaParams {
            lambda: if g.coin(0.8) { None } else { Some(g.f()) },
            mu_growth: param(g, 1.1, 2.0),
            tol: param(g, 1e-8, 1e-3),
            max_iter: if g.coin(0.9) {
                1 + g.below(200)
            } else {
                g.size().min(2000)
            },
        };
        let r = res!(rpca_ialm(&m, &p));
        let l = r
            .decomposition
            .factors
            .truncate(r.decomposition.factors.len());
        let resid = (&m - &l - &r.decomposition.sparse).norm();
        let right = resid <= p.tol * m.norm() * (1.0 + 1e-9) + 1e-300;
        let mut vals = l.as_slice().to_vec();
        vals.push(r.residual);
        checked(finite(&m) && m.amax() < 1e100, vals, right)
    });

    suite.run(
        "model: var_matrix / matrix_tensor / SlrModel::attach / update / penalty / capacities / deploy_into / restore",
        |g| {
            use candle_core::{Device, Tensor, Var};
            let n = if g.coin(0.9) { 1 + g.below(3) } else { 0 };
            let mut vars = Vec::new();
            let mut all_finite_in = true;
            for i in 0..n {
                let m = matrix(g);
                all_finite_in &= finite(&m) && m.amax() < 1e15;
                if m.is_empty() {
                    return bad_input::Out::Error;
                }
                let t = Tensor::from_vec(
                    m.transpose().iter().map(|v| *v as f32).collect::<Vec<f32>>(),
                    (m.nrows(), m.ncols()),
                    &Device::Cpu,
                )
                .expect("tensor");
                vars.push((format!("w{i}"), Var::from_tensor(&t).expect("var")));
            }
            let cfg = res!(block_params(g).check());
            let mut model = res!(salaad::model::SlrModel::attach(vars.clone(), &cfg));
            let pen = res!(model.penalty());
            let mut vals = vec![f64::from(pen.to_scalar::<f32>().expect("scalar"))];
            let stats = res!(model.update());
            for st in &stats {
                vals.extend([st.rank_ratio, st.density, st.residual]);
            }
            let caps = model.capacities(0.999);
            let decs = model.decompositions();
            let target = if g.coin(0.8) { 1e9 } else { g.f() };
            let alloc = res!(allocate(&caps, 0, target, 0.5));
            let mut decs2 = decs.clone();
            if g.coin(0.2) {
                decs2.pop();
            }
            let saved = res!(salaad::model::deploy_into(&vars, &decs2, &alloc));
            for (_, v) in &vars {
                let m = res!(salaad::model::var_matrix(v));
                vals.extend(m.iter());
            }
            res!(salaad::model::restore(&vars, &saved));
            // f32 weights and an f32 penalty ρ/2·‖X − A‖²: weights whose squares overflow f32
            // (|x| ≥ 1e15 here) or ρ ≥ 1e6 are not promised finite output.
            ok(all_finite_in && cfg.params().rho < 1e6, vals)
        },
    );

    suite.finish();
}
