//! The algorithms and the simulated robot of *Machine Learning with Bricks*, after Sydora, Er
//! and Muehlebach, *Teaching Machine Learning Fundamentals with LEGO Robotics* (arXiv
//! 2601.19376, 2026): three classroom activities in which students collect data with a LEGO
//! SPIKE Prime robot and train a model on it.
//!
//! - [`knn`]: the **fruit detector** — k-nearest neighbours on (green channel, length) with
//!   the page's scaled distance, "undecided" on ties, and the 100 × 100 decision-border map.
//! - [`linreg`]: the **pitcher** — the line `power = m · distance + b` fitted by hand (mean
//!   squared error, residuals) or by least squares, then used to aim a throw.
//! - [`qlearn`]: the **crawler** — tabular Q-learning over four arm poses (`α = 1`,
//!   `γ ∈ {0, 1}`, ε-greedy exploration that prefers untried moves).
//! - [`sim`]: the simulated robot — fruit measurements, the pitcher's physics and the crawler's
//!   rewards and wall distance, standing in for the real sensors and motors.
//! - [`hub`]: the simulated hub behind the original tunnel protocol (`{action, payload}`
//!   messages in, events out), the boundary a real hub could be plugged in at.
//! - `server` (feature `server`, on by default): the web app — the page, a JSON API over one
//!   hub per browser session, server-sent events; `cargo run -p ml-bricks --release`.
//!
//! The original platform (React, Web Bluetooth to the hub) runs these in the browser and on
//! the hub; here they are a library with typed errors for every out-of-range input (`k = 0`,
//! power 150, NaN), so that a server or a notebook can use them alike.
//!
//! # What was reconstructed
//!
//! The authors' code gives the algorithms and the controls; the robots' measurements were not
//! published, so the simulators' distributions are the notes' reconstruction ([`sim`]). The
//! paper's evaluation is a survey of 14 students and cannot be reproduced by computation; the
//! experiments simulate classrooms instead.
//!
//! # Example
//!
//! Three apples and three bananas, then a prediction and the decision border:
//!
//! ```
//! use ml_bricks::knn::{decision_grid, predict, Fruit, Sample, Vote};
//!
//! let train = [
//!     Sample::new(240.0, 7.0, Fruit::Apple)?,
//!     Sample::new(260.0, 8.1, Fruit::Apple)?,
//!     Sample::new(300.0, 7.4, Fruit::Apple)?,
//!     Sample::new(640.0, 16.5, Fruit::Banana)?,
//!     Sample::new(700.0, 18.0, Fruit::Banana)?,
//!     Sample::new(610.0, 17.2, Fruit::Banana)?,
//! ];
//! let p = predict(&train, 280.0, 7.8, 3)?;
//! assert_eq!(p.vote, Vote::Apple);
//! assert_eq!(p.neighbours.len(), 3);
//! let grid = decision_grid(&train, 3, 100)?;
//! assert_eq!(grid.cells.len(), 100 * 100);
//! # Ok::<(), ml_bricks::BricksError>(())
//! ```

mod error;
pub mod hub;
pub mod knn;
pub mod linreg;
pub mod qlearn;
pub mod sim;

#[cfg(feature = "experiments")]
pub mod experiments;
#[cfg(feature = "server")]
pub mod server;

pub use error::{BricksError, Result};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
