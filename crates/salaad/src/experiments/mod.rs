//! The paper's experiments, run by `cargo xtask reproduce salaad` (feature `experiments`).
//!
//! 1. [`recovery`]: a planted low-rank + sparse matrix recovered by SALAAD on a quadratic
//!    loss, with robust PCA as an independent route.
//! 2. [`controller`]: the adaptive controller tracking changed targets on two blocks of
//!    different intrinsic rank.
//! 3. [`language_model`]: a tiny byte-level LM, vanilla against SALAAD training, deployed at
//!    eight budgets from one checkpoint against post-hoc robust PCA and SVD + pruning.

mod lm;
mod synthetic;

pub use lm::language_model;
pub use synthetic::{controller, recovery};

use repro::{Experiment, Paper, Rounding};

/// The synthetic experiments' rounding: f64 throughout, but faer's and nalgebra's kernels are
/// chosen per CPU at run time (AVX2, AVX-512) and the controller integrates their last bits
/// over hundreds of updates; 4 digits.
const SVD_KERNELS: Rounding = Rounding {
    digits: 4,
    floor: 1e-9,
    reason: "f64, but the SVD and GEMM kernels are chosen per CPU and integrated over many updates",
};

/// The paper's registry entry.
pub fn paper() -> Paper {
    Paper {
        name: "salaad",
        title: "SALAAD: Sparse And Low-Rank Adaptation via ADMM for Large Language Model Inference",
        experiments: vec![
            Experiment {
                name: "recovery",
                description: "X* = rank-8 + 5% spikes under ½‖X − X*‖²: the residual, rank, density and ‖L − L*‖ of the split; robust PCA as an independent route",
                run: recovery,
                rounding: SVD_KERNELS,
            },
            Experiment {
                name: "controller",
                description: "targets changed mid-run on two blocks of different intrinsic rank: settling, overshoot, heterogeneous thresholds",
                run: controller,
                rounding: SVD_KERNELS,
            },
            Experiment {
                name: "language-model",
                description: "byte-level LM: vanilla vs SALAAD training, L + S at eight budgets from one checkpoint, against post-hoc robust PCA and SVD + pruning",
                run: language_model,
                rounding: Rounding::TRAINED,
            },
        ],
    }
}
