//! SVT, soft thresholding, the SVDs, the baselines and the budget arithmetic against closed
//! forms, brute force and independent routes.

use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use salaad::*;

fn gaussian(rows: usize, cols: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = core_linalg::seeded_rng(seed);
    DMatrix::from_fn(rows, cols, |_, _| StandardNormal.sample(&mut rng))
}

/// An orthonormal `n × k` basis from a seeded Gaussian (QR).
fn orthonormal(n: usize, k: usize, seed: u64) -> DMatrix<f64> {
    gaussian(n, k, seed).qr().q()
}

/// `U·diag(σ)·Vᵀ` with known factors.
fn with_spectrum(m: usize, n: usize, sigma: &[f64], seed: u64) -> DMatrix<f64> {
    let k = sigma.len();
    let u = orthonormal(m, k, seed);
    let v = orthonormal(n, k, seed + 1);
    &u * DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(sigma)) * v.transpose()
}

#[test]
fn soft_threshold_is_the_prox_of_the_absolute_value() {
    // Closed form, and the prox's optimality: x* minimises τ|z| + ½(z − x)² on a fine grid.
    for &x in &[-3.0, -1.0, -0.5, 0.0, 0.2, 0.5, 1.5, 4.0] {
        for &tau in &[0.0, 0.3, 0.5, 1.0] {
            let z = soft_threshold(x, tau);
            let want = x.signum() * (x.abs() - tau).max(0.0);
            assert!((z - want).abs() < 1e-15, "{x} {tau}");
            let obj = |z: f64| tau * z.abs() + 0.5 * (z - x) * (z - x);
            let best = (-5000..=5000)
                .map(|i| i as f64 * 1e-3)
                .map(obj)
                .fold(f64::INFINITY, f64::min);
            assert!(obj(z) <= best + 1e-12, "{x} {tau}");
        }
    }
    let m = DMatrix::from_row_slice(2, 3, &[1.0, -0.2, 0.5, -2.0, 0.3, 0.0]);
    let (s, nnz) = prox::soft_threshold_matrix(&m, 0.4).unwrap();
    assert_eq!(nnz, 3);
    let want = DMatrix::from_row_slice(2, 3, &[0.6, 0.0, 0.1, -1.6, 0.0, 0.0]);
    assert!((s - want).amax() < 1e-15);
}

#[test]
fn svt_shrinks_a_known_spectrum() {
    let sigma = [9.0, 5.0, 3.0, 1.0, 0.5];
    let m = with_spectrum(30, 20, &sigma, 3);
    let th = svt(&m, 2.0).unwrap();
    let want = with_spectrum(30, 20, &[7.0, 3.0, 1.0, 0.0, 0.0], 3);
    assert!((&th.l - &want).norm() < 1e-10, "{}", (&th.l - &want).norm());
    assert_eq!(th.factors.sigma.len(), 3);
    for (a, b) in th.factors.sigma.iter().zip([7.0, 3.0, 1.0]) {
        assert!((a - b).abs() < 1e-10);
    }
    // The nuclear-norm prox's optimality: no random perturbation lowers τ‖L‖_* + ½‖L − M‖².
    let nuclear = |a: &DMatrix<f64>| Svd::full(a).unwrap().sigma.iter().sum::<f64>();
    let obj = |a: &DMatrix<f64>| 2.0 * nuclear(a) + 0.5 * (a - &m).norm_squared();
    let base = obj(&th.l);
    for s in 0..20 {
        let p = gaussian(30, 20, 100 + s) * 1e-3;
        assert!(obj(&(&th.l + p)) >= base - 1e-9);
    }
}

#[test]
fn full_svd_is_sorted_and_reconstructs() {
    let m = gaussian(25, 40, 7);
    let s = Svd::full(&m).unwrap();
    assert_eq!(s.len(), 25);
    assert!(s.sigma.windows(2).all(|w| w[0] >= w[1]));
    assert!((s.truncate(25) - &m).norm() < 1e-10);
    let utu = s.u.transpose() * &s.u;
    assert!((utu - DMatrix::identity(25, 25)).norm() < 1e-10);
    // The two backends agree (independent implementations: faer's divide and conquer,
    // nalgebra's Golub–Kahan).
    let other = Svd::full_nalgebra(&m).unwrap();
    for (a, b) in s.sigma.iter().zip(&other.sigma) {
        assert!((a - b).abs() < 1e-10 * s.sigma[0], "{a} vs {b}");
    }
    assert!((other.truncate(25) - &m).norm() < 1e-10);
    // Eckart–Young: the rank-k error is the norm of the dropped tail.
    let tail: f64 = s.sigma[5..].iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(((s.truncate(5) - &m).norm() - tail).abs() < 1e-9);
}

#[test]
fn subspace_iteration_tracks_the_leading_triplets() {
    // A spectral gap after 6 values, then a slowly drifting matrix.
    let sigma: Vec<f64> = (0..20)
        .map(|i| {
            if i < 6 {
                10.0 - i as f64
            } else {
                0.5 / (i as f64)
            }
        })
        .collect();
    let mut m = with_spectrum(60, 40, &sigma, 11);
    let mut tracker = SubspaceIteration::new(1).unwrap();
    for step in 0..10 {
        let got = tracker.leading(&m, 8).unwrap();
        let full = Svd::full(&m).unwrap();
        for i in 0..6 {
            let rel = (got.sigma[i] - full.sigma[i]).abs() / full.sigma[i];
            assert!(rel < 1e-6, "step {step} σ{i}: {rel}");
        }
        let rel = (got.truncate(6) - full.truncate(6)).norm() / full.truncate(6).norm();
        assert!(rel < 1e-5, "step {step}: {rel}");
        m += gaussian(60, 40, 500 + step) * 1e-3;
    }
    // k may grow or shrink between calls.
    assert_eq!(tracker.leading(&m, 3).unwrap().len(), 3);
    assert_eq!(tracker.leading(&m, 12).unwrap().len(), 12);
    assert!(tracker.leading(&m, 0).is_err());
    assert!(tracker.leading(&m, 41).is_err());
}

#[test]
fn effective_rank_and_top_magnitude_by_brute_force() {
    assert_eq!(effective_rank(&[], 0.999), 0);
    assert_eq!(effective_rank(&[0.0, 0.0], 0.999), 0);
    assert_eq!(effective_rank(&[3.0, 4.0], 0.5), 2); // 9 < 12.5 ≤ 25
    assert_eq!(effective_rank(&[4.0, 3.0], 0.5), 1);
    assert_eq!(effective_rank(&[10.0, 0.1, 0.1], 0.999), 1);
    assert_eq!(effective_rank(&[10.0, 0.5, 0.1], 0.999), 2);
    let mut rng = core_linalg::seeded_rng(4);
    for _ in 0..50 {
        let m = DMatrix::from_fn(7, 9, |_, _| rng.random::<f64>() - 0.5);
        let k = rng.random_range(0..70);
        let t = top_magnitude(&m, k);
        let mut mags: Vec<f64> = m.iter().map(|v| v.abs()).collect();
        mags.sort_by(|a, b| b.total_cmp(a));
        let kept: Vec<f64> = t.iter().filter(|v| **v != 0.0).map(|v| v.abs()).collect();
        assert_eq!(kept.len(), k.min(63));
        let mut kept_sorted = kept.clone();
        kept_sorted.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(kept_sorted, mags[..k.min(63)].to_vec());
        for (a, b) in t.iter().zip(m.iter()) {
            assert!(*a == 0.0 || a == b);
        }
    }
}

/// Rank-`r` `m × n` plus `frac` of entries set to ±[3, 6] spikes.
fn low_rank_plus_sparse(
    m: usize,
    n: usize,
    r: usize,
    frac: f64,
    seed: u64,
) -> (DMatrix<f64>, DMatrix<f64>) {
    let l = gaussian(m, r, seed) * gaussian(r, n, seed + 1) / (r as f64).sqrt();
    let mut rng = core_linalg::seeded_rng(seed + 2);
    let s = DMatrix::from_fn(m, n, |_, _| {
        if rng.random::<f64>() < frac {
            let mag = 3.0 + 3.0 * rng.random::<f64>();
            if rng.random::<bool>() {
                mag
            } else {
                -mag
            }
        } else {
            0.0
        }
    });
    (l, s)
}

#[test]
fn rpca_recovers_low_rank_plus_sparse() {
    let (l, s) = low_rank_plus_sparse(80, 60, 4, 0.05, 21);
    let d = &l + &s;
    let out = rpca_ialm(&d, &RpcaParams::default()).unwrap();
    assert!(out.residual < 1e-7);
    let dec = &out.decomposition;
    let rec_l = dec.factors.truncate(dec.factors.len());
    let err = (&rec_l - &l).norm() / l.norm();
    assert!(err < 1e-4, "‖L − L*‖/‖L*‖ = {err}");
    assert_eq!(dec.capacity(0.999999).rank, 4);
    let err_s = (&dec.sparse - &s).norm() / s.norm();
    assert!(err_s < 1e-4, "{err_s}");
}

#[test]
fn svd_prune_is_truncation_plus_the_largest_residual_entries() {
    let w = gaussian(20, 15, 9);
    let dec = svd_prune(&w, 3, 10).unwrap();
    let full = Svd::full(&w).unwrap();
    let want = full.truncate(3) + top_magnitude(&(&w - full.truncate(3)), 10);
    assert!((dec.deploy_dense(3, 10) - want).norm() < 1e-10);
}

#[test]
fn factored_weight_matches_dense_and_counts_its_bytes() {
    let (l, s) = low_rank_plus_sparse(30, 20, 3, 0.1, 5);
    let dec = svd_prune(&(&l + &s), 3, 80).unwrap();
    let f = dec.deploy_factored(3, 80);
    let dense = dec.deploy_dense(3, 80);
    assert!((f.to_dense() - &dense).norm() < 1e-10);
    let x: Vec<f64> = (0..20).map(|i| (i as f64 * 0.37).sin()).collect();
    let y = f.apply(&x).unwrap();
    let want = &dense * nalgebra::DVector::from_column_slice(&x);
    for (a, b) in y.iter().zip(want.iter()) {
        assert!((a - b).abs() < 1e-10);
    }
    assert!(f.apply(&x[..5]).is_err());
    // Bytes by counting the stored arrays at bf16 values and int32 indices.
    let counted = 2 * (f.a.len() + f.b.len())
        + 2 * f.values.len()
        + 4 * f.col_idx.len()
        + 4 * f.row_ptr.len();
    assert_eq!(f.bytes(SparseFormat::Csr), counted);
    assert_eq!(
        factored_bytes(30, 20, 3, 80, SparseFormat::Coo),
        2 * 3 * 50 + 80 * 10
    );
    assert_eq!(dense_bytes(30, 20), 1200);
}

#[test]
fn allocation_meets_the_budget_and_scales_blocks_together() {
    let blocks = [
        BlockCapacity {
            rows: 128,
            cols: 344,
            rank: 20,
            nnz: 2200,
        },
        BlockCapacity {
            rows: 344,
            cols: 128,
            rank: 12,
            nnz: 1500,
        },
        BlockCapacity {
            rows: 128,
            cols: 128,
            rank: 30,
            nnz: 800,
        },
    ];
    let rest = 5000;
    let full = rest + blocks.iter().map(|b| b.params()).sum::<usize>();
    let mut last = 0;
    for pct in (30..=100).rev().step_by(5) {
        let target = full as f64 * pct as f64 / 100.0;
        let a = allocate(&blocks, rest, target, 0.5).unwrap();
        assert_eq!(a.full, full);
        assert!(
            a.params as f64 <= target + 1e-9,
            "{pct}%: {} > {target}",
            a.params
        );
        // What the rounding frees goes back as non-zeros: the budget is met to within 1.
        assert!(
            target - (a.params as f64) < 1.0,
            "{pct}%: {}",
            target - a.params as f64
        );
        if last > 0 {
            assert!(a.params <= last);
        }
        last = a.params;
        for (&(r, z), b) in a.blocks.iter().zip(&blocks) {
            assert!(r <= b.rank && z <= b.nnz);
        }
    }
    // Above the full size: everything kept.
    let a = allocate(&blocks, rest, 2.0 * full as f64, 0.5).unwrap();
    assert_eq!(a.params, full);
    // Down to the rest alone: the cut spills from the exhausted part into the other.
    let a = allocate(&blocks, rest, rest as f64, 0.5).unwrap();
    assert_eq!(a.params, rest);
    assert!(a.blocks.iter().all(|&(r, z)| r == 0 && z == 0));
    let a = allocate(&blocks, rest, rest as f64 + 100.0, 0.9).unwrap();
    assert_eq!(a.params, rest + 100);
    // Impossible targets.
    assert!(matches!(
        allocate(&blocks, rest, rest as f64 - 1.0, 0.5),
        Err(SalaadError::Target { .. })
    ));
    assert!(allocate(&blocks, rest, f64::NAN, 0.5).is_err());
    assert!(allocate(&blocks, rest, 1e6, 1.5).is_err());
    assert!(allocate(&[], rest, 1e6, 0.5).is_err());
}

#[test]
fn penalty_gradient_matches_finite_differences() {
    let cfg = BlockParams {
        rho: 0.7,
        ..Default::default()
    }
    .check()
    .unwrap();
    let mut block = SlrBlock::new(6, 5, &cfg).unwrap();
    let x0 = gaussian(6, 5, 2);
    block.update(&x0).unwrap();
    let x = gaussian(6, 5, 3);
    let g = block.penalty_grad(&x).unwrap();
    let h = 1e-6;
    for i in 0..6 {
        for j in 0..5 {
            let (mut p, mut m) = (x.clone(), x.clone());
            p[(i, j)] += h;
            m[(i, j)] -= h;
            let fd = (block.penalty(&p).unwrap() - block.penalty(&m).unwrap()) / (2.0 * h);
            assert!(
                (fd - g[(i, j)]).abs() < 1e-6,
                "{i},{j}: {fd} vs {}",
                g[(i, j)]
            );
        }
    }
}

#[test]
fn block_rejects_bad_targets_shapes_and_values() {
    for (r, d) in [
        (0.0, 0.05),
        (1.5, 0.05),
        (0.1, 0.0),
        (0.1, f64::NAN),
        (-0.1, 0.5),
    ] {
        let p = BlockParams {
            rank_ratio: r,
            density: d,
            ..Default::default()
        };
        assert!(
            matches!(p.check(), Err(SalaadError::Target { .. })),
            "{r} {d}"
        );
    }
    assert!(BlockParams {
        rho: 0.0,
        ..Default::default()
    }
    .check()
    .is_err());
    let cfg = BlockParams::default().check().unwrap();
    assert!(SlrBlock::new(0, 3, &cfg).is_err());
    let mut b = SlrBlock::new(4, 3, &cfg).unwrap();
    assert!(matches!(
        b.update(&DMatrix::zeros(3, 4)),
        Err(SalaadError::Shape { .. })
    ));
    let mut bad = DMatrix::zeros(4, 3);
    bad[(1, 2)] = f64::NAN;
    assert!(matches!(b.update(&bad), Err(SalaadError::NonFinite { .. })));
    assert!(b.set_targets(0.0, 0.1).is_err());
    assert!(b.set_targets(0.5, 1.0).is_ok());
}
