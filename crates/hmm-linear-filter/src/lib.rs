//! Exact and adaptive linear logit filters for hidden Markov models.
//!
//! After Zhao, Eberhard, Khammassi, Sayed & Muehlebach, *Why Linear Recurrent Memory Works in
//! Partially Observable Reinforcement Learning* (ICML 2026). Conventions follow the paper:
//! column-stochastic `T[i, j] = P(s_k = i | s_{k−1} = j)`, emissions `E[o, s] = P(y = o | s)`,
//! each step is a transition then an emission, and logits are log-beliefs up to a constant.
//!
//! - [`LogForwardFilter`] (LOF): the exact Bayes filter in the log domain — the reference.
//! - [`LinearFilter::exact`]: for a permutation `T = P` (one per action for a
//!   [`ControlledHmm`]) the exact filter *is* the linear system `l_k = P l_{k−1} + (log E)ᵀ y_k`
//!   (Thm 4.4, Cor 4.5); [`LinearFilter::linear_system`] hands `(A, B)` to any linear-RNN code.
//! - [`FunctionalGraphFilter`]: a deterministic `T` with transient states, in block form with
//!   the correction input.
//! - [`LinearFilter::adaptive`] (ALF): `w_k = (1−δ)·A·w_{k−1} + δ(log E)ᵀ y_k` for
//!   near-deterministic `T = D + εQ`, with [`DeltaSchedule`]s, decoded by [`decode`] (argmax).
//! - [`pomdp`]: the adapted RingWorld POMDP, filter feature maps, a linear actor–critic and
//!   QMDP.
//! - [`chernoff_xi`]: the constant `ξ` of the rate theorem (Thm 5.7).
//! - [`decode_batch`]: many trajectories in parallel; [`filter_batch`] returns every belief and
//!   the log-likelihood of each.
//! - [`forward_backward`] (smoothing) and [`viterbi`] (most likely path), log domain, sparse
//!   transitions in `O(nnz)`.
//! - Models serialise with `serde` (feature `serde`), validated on the way in; the log-forward
//!   filter can own its model ([`ModelRef`]).
//!
//! # Example: smooth and decode a whole sequence
//! ```
//! use hmm_linear_filter::{forward_backward, viterbi, Hmm};
//! use nalgebra::DMatrix;
//!
//! let t = DMatrix::from_row_slice(2, 2, &[0.9, 0.2,
//!                                         0.1, 0.8]);
//! let e = DMatrix::from_row_slice(2, 2, &[0.7, 0.1,
//!                                         0.3, 0.9]);
//! let hmm = Hmm::new(t, e, vec![0.5, 0.5])?;
//! let obs = [0, 0, 1, 1, 1, 0];
//! let post = forward_backward(&hmm, None, &obs)?;
//! let path = viterbi(&hmm, None, &obs)?;
//! assert_eq!(post.smoothed.len(), obs.len());
//! assert!(path.log_prob <= post.log_likelihood);
//! # Ok::<(), hmm_linear_filter::HmmError>(())
//! ```
//!
//! Choices the paper leaves open are documented on each item; the experiments (feature
//! `experiments`) document theirs in `experiments`.
//!
//! # Example: filter a 3-state HMM
//! ```
//! use hmm_linear_filter::{Hmm, LinearFilter, LogForwardFilter, LogitFilter};
//! use nalgebra::DMatrix;
//!
//! // A 3-cycle 0 → 1 → 2 → 0 (column j holds the successor of j) and noisy emissions.
//! let t = DMatrix::from_row_slice(3, 3, &[0.0, 0.0, 1.0,
//!                                         1.0, 0.0, 0.0,
//!                                         0.0, 1.0, 0.0]);
//! let e = DMatrix::from_row_slice(2, 3, &[0.8, 0.3, 0.5,
//!                                         0.2, 0.7, 0.5]);
//! let hmm = Hmm::new(t, e, vec![0.5, 0.25, 0.25])?;
//!
//! let mut exact = LogForwardFilter::new(&hmm);
//! let mut linear = LinearFilter::exact(&hmm)?;
//! for &y in &[0, 1, 1, 0, 1] {
//!     exact.step(y)?;
//!     linear.step(y)?;
//! }
//! // Same belief, and the same decoded state.
//! let (b1, b2) = (exact.belief(), linear.belief());
//! assert!(b1.iter().zip(&b2).all(|(x, y)| (x - y).abs() < 1e-12));
//! assert_eq!(exact.decode(), linear.decode());
//! # Ok::<(), hmm_linear_filter::HmmError>(())
//! ```

mod error;
mod filter;
mod inference;
mod linear;
mod lof;
mod model;
pub mod pomdp;
mod structure;
mod xi;

#[cfg(feature = "experiments")]
pub mod experiments;

pub use error::HmmError;
pub use filter::{decode, decode_batch, LogitFilter};
pub use inference::{
    filter, filter_batch, forward_backward, viterbi, Filtered, Smoothed, ViterbiPath,
};
pub use linear::{DeltaSchedule, FunctionalGraphFilter, LinearFilter, LinearSystem};
pub use lof::LogForwardFilter;
pub use model::{ControlledHmm, Hmm, ModelRef, Trajectory, SPARSE_DENSITY};
pub use structure::{DeterministicStructure, NearDeterministic, DETERMINISTIC_TOL};
pub use xi::{chernoff_xi, MAX_ORDER, XI_QUADRATURE_TOL};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
