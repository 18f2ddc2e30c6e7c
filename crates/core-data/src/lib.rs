//! The data every papercraft paper shares, without a tensor framework (no candle is compiled):
//!
//! - [`data`]: digits (1797 × 64), breast cancer (569 × 30), iris and wine shipped with the
//!   crate; seeded Gaussian blobs; stratified splits, standardisation, label noise and seeded
//!   mini-batches;
//! - [`text`]: a 1.3 MB English corpus (the Rust book), its train/validation split, the unigram
//!   entropy and an interpolated bigram baseline.
//!
//! `core-ml` re-exports both modules and adds the conversions to candle tensors
//! (`core_ml::data::DatasetTensors`), so a paper that trains networks uses `core_ml::data` and a
//! paper that only needs data depends on this crate alone.
//!
//! # Example
//! ```
//! use core_data::data::{Dataset, Standardiser};
//!
//! let wine = Dataset::wine()?;
//! let split = wine.stratified_split(0.7, 0.0, 1)?;
//! let z = Standardiser::fit(&split.train);
//! let train = z.apply(&split.train)?;
//! assert_eq!((train.d, train.n_classes), (13, 3));
//! let batches = train.batches(32, 7, 0)?;
//! assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), train.len());
//! # Ok::<(), core_data::DataError>(())
//! ```

pub mod data;
mod error;
pub mod text;

pub use error::{DataError, Result};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
