//! Sparse + low-rank training by ADMM, after Ma et al., *SALAAD: Sparse And Low-Rank
//! Adaptation via ADMM for Large Language Model Inference* (ICML 2026).
//!
//! Each selected weight `X` gets an [`SlrBlock`]: auxiliary `L` (low rank) and `S` (sparse)
//! with a scaled multiplier `Y`, tied to `X` by the augmented-Lagrangian penalty
//! `ρ/2·‖X − L − S + Y/ρ‖²` that the training loss adds. The model stays dense while it
//! trains; every few optimiser steps [`SlrBlock::update`] runs singular value thresholding
//! for `L`, soft thresholding for `S` and the multiplier step, and an integral controller
//! (with a one-sided damping term) moves each block's thresholds until its effective rank
//! ratio and density reach their targets — so blocks end heterogeneous.
//!
//! One trained model then deploys at any parameter budget: [`allocate`] scales every block's
//! rank and non-zeros by one ratio, [`Decomposition::deploy_dense`] or
//! [`Decomposition::deploy_factored`] builds the weights and [`factored_bytes`] accounts
//! their memory (bf16 values, int32 indices). The post-hoc baselines are [`rpca_ialm`]
//! (robust PCA by inexact ALM) and [`svd_prune`]. With the `candle` feature (default),
//! [`model::SlrModel`] attaches blocks to a candle model's weights, gives the penalty for the
//! loss and runs the update from a core-ml trainer hook (`examples/train_deploy.rs`).
//!
//! # Choices the paper leaves open (the full text was not available; see the crate README)
//! - Thresholds are clamped at 0; the controller's gains are absolute (the paper) or relative
//!   to the block's first spectrum ([`GainScale`]).
//! - `ρ` is fixed (the shipped configs); the effective rank is read from `L`'s shrunk
//!   singular values after thresholding.
//! - The allocation rounds every block down and gives what that frees back as non-zeros,
//!   block by block in order; memory accounting counts CSR row pointers.
//! - The SVD is nalgebra's, on the matrix scaled by its largest entry, with a capped
//!   iteration; [`SubspaceIteration`] is the cheaper warm-started option.
//!
//! # Example: recover a low-rank + sparse matrix
//! ```
//! use nalgebra::DMatrix;
//! use salaad::{BlockParams, ControllerParams, GainScale, SlrBlock};
//! // A rank-2 20×16 matrix plus four spikes.
//! let a = DMatrix::from_fn(20, 2, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.5);
//! let b = DMatrix::from_fn(2, 16, |i, j| ((i * 5 + j * 2) % 13) as f64 / 13.0 - 0.5);
//! let mut target = &a * &b;
//! for (i, j) in [(1, 2), (5, 9), (11, 3), (17, 14)] {
//!     target[(i, j)] += 3.0;
//! }
//! let cfg = BlockParams {
//!     rank_ratio: 2.0 / 16.0,
//!     density: 4.0 / 320.0,
//!     rho: 1.0,
//!     controller: ControllerParams { scale: GainScale::Spectrum, ..Default::default() },
//!     ..Default::default()
//! }
//! .check()?;
//! let mut block = SlrBlock::new(20, 16, &cfg)?;
//! // Minimise ½‖X − target‖² + penalty: the X-step has the closed form (target + ρA)/(1 + ρ).
//! let mut x = target.clone();
//! let mut last = None;
//! for _ in 0..400 {
//!     last = Some(block.update(&x)?);
//!     x = (&target + block.anchor() * block.rho()) / (1.0 + block.rho());
//! }
//! let stats = last.unwrap();
//! assert!(stats.residual < 1e-3, "{stats:?}");
//! assert_eq!(stats.rank, 2);
//! # Ok::<(), salaad::SalaadError>(())
//! ```

mod baselines;
mod block;
mod budget;
mod error;
#[cfg(feature = "candle")]
pub mod model;
pub mod prox;
pub mod svd;

#[cfg(feature = "experiments")]
pub mod experiments;

pub use baselines::{rpca_ialm, svd_prune, Rpca, RpcaParams};
pub use block::{
    BlockConfig, BlockParams, ControllerParams, GainScale, SlrBlock, SvdMethod, UpdateStats,
    RESIDUE,
};
pub use budget::{
    allocate, dense_bytes, factored_bytes, Allocation, BlockCapacity, Decomposition,
    FactoredWeight, SparseFormat,
};
pub use error::{Result, SalaadError};
pub use prox::{effective_rank, soft_threshold, svt, top_magnitude};
pub use svd::{SubspaceIteration, Svd};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
