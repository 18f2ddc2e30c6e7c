//! Data and a small neural-network training substrate on [candle](candle_core), shared by the
//! papercraft paper crates that train models.
//!
//! - [`data`]: digits, breast cancer, iris and wine shipped with the crate; seeded synthetic
//!   blobs; stratified splits, standardisation, label noise and seeded mini-batches.
//! - [`text`]: a 1.3 MB English corpus (the Rust book), byte windows, unigram entropy.
//! - [`models`]: an [`Mlp`](models::Mlp) and a byte-level causal
//!   [`TransformerLm`](models::TransformerLm) with a pluggable FFN and named linear layers.
//! - [`kernels`]: fused CPU kernels (layer norm, causal softmax, GELU, cross-entropy) with
//!   their composite twins.
//! - [`trainer`]: an open training step ([`Trainer::step`](trainer::Trainer::step) returns a
//!   record) and the loop that runs it with a stop rule and observers; after-step hooks with
//!   mutable parameters, auxiliary losses and statistics, parameter groups, gradient-free steps
//!   counting evaluations, checkpoints with the optimiser state.
//! - [`optim`]: SGD, heavy-ball momentum and AdamW (per-variable weight decay) behind
//!   `candle_nn::Optimizer`, with exportable state.
//! - [`train`]: the one-call loop (`train`) over the trainer: loss as a value, cosine warm-up,
//!   clipping, evaluation, early exit on a non-finite loss, checkpoints.
//! - [`hvp`]: Hessian-vector products, `λ_max` and `tr(H)` of a training loss.
//! - [`metrics`]: accuracy, NLL, ECE, Brier, perplexity, bits per byte.
//!
//! Everything runs on the CPU by default; the `cuda` feature turns on candle's CUDA backend.
//!
//! # Example: a softmax regression on iris
//! ```
//! use candle_core::{DType, Device, Module};
//! use candle_nn::{Activation, VarBuilder, VarMap};
//! use core_ml::data::{Dataset, Standardiser, DatasetTensors};
//! use core_ml::models::Mlp;
//! use core_ml::train::{train, TrainConfig};
//!
//! let iris = Dataset::iris()?;
//! let split = iris.stratified_split(0.7, 0.0, 1)?;
//! let z = Standardiser::fit(&split.train);
//! let (x, y) = z.apply(&split.train)?.tensors(DType::F32, &Device::Cpu)?;
//! let vm = VarMap::new();
//! let model = Mlp::new(VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu), &[4, 3], Activation::Relu)?;
//! let cfg = TrainConfig { steps: 300, lr: 0.05, ..Default::default() };
//! let history = train(&vm, &cfg, &candle_nn::loss::cross_entropy, |_| Ok((model.forward(&x)?, y.clone())), |_| Ok(0.0), None)?;
//! assert!(history.train_loss.last().unwrap() < &0.2);
//! # Ok::<(), core_ml::MlError>(())
//! ```

pub mod data;
mod error;
pub mod hvp;
pub mod kernels;
pub mod metrics;
pub mod models;
pub mod optim;
pub mod text;
pub mod train;
pub mod trainer;

#[cfg(feature = "experiments")]
pub mod experiments;

pub use candle_core;
pub use candle_nn;
pub use core_data::DataError;
pub use error::{MlError, Result};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
