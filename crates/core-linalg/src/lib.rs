//! Numerics shared by the papercraft paper crates.
//!
//! Everything here is `f64`, built on [`nalgebra`], and tested against an independent
//! reference (a closed form, brute force, or a well-kept crate):
//!
//! - [`logsumexp`], [`softmax`], [`log_softmax`] and their row-wise matrix forms: stable under
//!   `-∞` entries and large magnitudes;
//! - [`check_probability_vector`], [`check_column_stochastic`], [`check_row_stochastic`];
//! - [`power_iteration`] (top eigenvalue by magnitude) and [`hutchinson_trace`], both over any
//!   linear operator given as a closure (a matrix, or a Hessian-vector product);
//! - [`spectral_radius`], [`spectral_norm`], [`stein_solve`] (the discrete Lyapunov equation, by
//!   doubling) and [`power_bound`] (a certified `‖A^k‖₂ ≤ c ρ^k`);
//! - [`soft_threshold`] and [`singular_value_threshold`];
//! - [`quantile`] with several rules, and [`conformal_quantile`] (the split-conformal "higher"
//!   rule);
//! - [`beta_cdf`] (a continued fraction run to convergence), [`beta_quantile`] (bisection),
//!   [`binomial_cdf`], the independent [`binomial_cdf_by_summation`], the Beta-binomial
//!   [`beta_binomial_pmf`] / [`beta_binomial_cdf`] / [`beta_binomial_quantile`], [`kolmogorov_pvalue`], the [`wilson_interval`],
//!   the [`clopper_pearson_interval`], [`student_t_quantile`] and a percentile
//!   [`bootstrap_mean_ci`]; [`mean_and_sd`] and the t interval [`mean_interval`];
//! - [`seeded_rng`] / [`stream_rng`] (ChaCha8: the same stream on every platform), [`sample_index`],
//!   [`standard_normal_vector`] and [`uniform_on_sphere`].
//!
//! # Example
//! ```
//! use core_linalg::{logsumexp, power_iteration, seeded_rng, PowerIterationParams};
//! use nalgebra::{DMatrix, DVector};
//!
//! // log(e^0 + e^0) = log 2, and -∞ terms drop out.
//! let v = logsumexp(&[0.0, 0.0, f64::NEG_INFINITY]);
//! assert!((v - 2f64.ln()).abs() < 1e-15);
//!
//! // The top eigenvalue of diag(3, 1) is 3.
//! let a = DMatrix::from_diagonal(&DVector::from_vec(vec![3.0, 1.0]));
//! let mut rng = seeded_rng(7);
//! let top = power_iteration(|x| &a * x, 2, &PowerIterationParams::default(), &mut rng).unwrap();
//! assert!((top.eigenvalue - 3.0).abs() < 1e-9);
//! ```

mod bootstrap;
mod dist;
mod error;
mod logsumexp;
mod lyapunov;
mod quantile;
mod rng;
mod spectral;
mod stats;
mod stochastic;
mod threshold;

pub use bootstrap::bootstrap_mean_ci;
pub use dist::{
    beta_binomial_cdf, beta_binomial_pmf, beta_binomial_quantile, beta_cdf, beta_pdf,
    beta_quantile, binomial_cdf, binomial_cdf_by_summation, clopper_pearson_interval,
    kolmogorov_pvalue, student_t_quantile, wilson_interval, BETA_BINOMIAL_MAX_TRIALS,
    BETA_CDF_MAX_TERMS,
};
pub use error::{check_finite, LinalgError};
pub use logsumexp::{
    log_softmax, logsumexp, logsumexp_rows, softmax, softmax_in_place, softmax_rows,
};
pub use lyapunov::{
    power_bound, schur_iterations, spectral_norm, spectral_radius, stein_solve, PowerBound,
    MAX_DOUBLINGS,
};
pub use quantile::{conformal_quantile, conformal_rank, kth_smallest, quantile, QuantileRule};
pub use rng::{
    sample_index, seeded_rng, standard_normal_vector, stream_rng, uniform_on_sphere, Rng,
};
pub use spectral::{
    hutchinson_trace, power_iteration, scaled_norm, stochastic_lanczos_quadrature,
    PowerIterationParams, PowerIterationResult, SpectralQuadrature, TraceEstimate,
};
pub use stats::{
    jensen_shannon_distance, mean_and_sd, mean_interval, squared_distance, sum_of_squares,
    MeanInterval,
};
pub use stochastic::{check_column_stochastic, check_probability_vector, check_row_stochastic};
pub use threshold::{singular_value_threshold, soft_threshold, soft_threshold_in_place};

/// Default tolerance for "sums to one" checks: `1e-9`, absolute, per column/row/vector.
pub const STOCHASTIC_TOL: f64 = 1e-9;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
