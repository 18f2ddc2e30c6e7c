//! The simulated hub: sensors and physics in place of the LEGO SPIKE Prime and its motors.
//!
//! The original platform reads a real colour sensor, distance sensor and gyro over Web
//! Bluetooth; these stand-ins produce the same kinds of readings. Their distributions are the
//! notes' reconstruction (no measurements of the real robots were published):
//!
//! - fruit: apples green `N(250, 60)`, length `N(7.5, 0.8)`; bananas green `N(650, 80)`,
//!   length `N(17, 1.5)`. Green is clamped to the sensor's `[0, 1024]`; a length the caliper
//!   rejects (≥ 21 cm, or below 0) is measured again.
//! - pitcher: the ball lands at `1.1 · power − 8 + N(0, 2)` cm.
//! - crawler: a fixed 4 × 4 matrix of mean rewards plus `N(0, 0.3)`, with one productive
//!   2-cycle (poses 1 ↔ 2, +3 cm per move) and the other moves in `[−1, 1]`; the crawler starts
//!   60 cm from the wall, and the page stops training at ≤ 20 cm or ≥ 150 cm.

use crate::error::{check_index, check_range, BricksError, Result};
use crate::knn::{Fruit, Sample, GREEN_MAX, LENGTH_LIMIT};
use crate::linreg::{check_distance, POWER_MAX, POWER_MIN};
use crate::qlearn::POSES;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Measures one fruit of the given kind (see the module docs for the distributions).
pub fn measure_fruit(fruit: Fruit, rng: &mut impl rand::Rng) -> Sample {
    let (g, l): ((f64, f64), (f64, f64)) = match fruit {
        Fruit::Apple => ((250.0, 60.0), (7.5, 0.8)),
        Fruit::Banana => ((650.0, 80.0), (17.0, 1.5)),
    };
    // Constant, valid parameters: `Normal::new` cannot fail here.
    let green: f64 = Normal::new(g.0, g.1).map_or(g.0, |d| d.sample(rng));
    let length_law = Normal::new(l.0, l.1).ok();
    let mut length = l.0;
    if let Some(law) = length_law {
        for _ in 0..1000 {
            length = law.sample(rng);
            if (0.0..LENGTH_LIMIT).contains(&length) {
                break;
            }
        }
    }
    Sample {
        green: green.clamp(0.0, GREEN_MAX),
        length: length.clamp(0.0, LENGTH_LIMIT - 1e-9),
        label: fruit,
    }
}

/// The pitcher's physics: `distance = slope · power + offset + N(0, noise)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pitcher {
    /// cm per percent of power.
    pub slope: f64,
    /// cm.
    pub offset: f64,
    /// Standard deviation of the landing spot, cm.
    pub noise: f64,
}

impl Default for Pitcher {
    /// The notes' `1.1 · power − 8 + N(0, 2)`.
    fn default() -> Self {
        Self {
            slope: 1.1,
            offset: -8.0,
            noise: 2.0,
        }
    }
}

impl Pitcher {
    /// Where the mean throw at `power` lands.
    pub fn mean_distance(&self, power: f64) -> f64 {
        self.slope * power + self.offset
    }

    /// Throws at `power ∈ [20, 100]` and returns where the ball landed.
    pub fn throw(&self, power: f64, rng: &mut impl rand::Rng) -> Result<f64> {
        check_range("power", power, POWER_MIN, POWER_MAX)?;
        let law = Normal::new(0.0, self.noise).map_err(|_| BricksError::NonFinite {
            what: "pitcher noise",
            value: self.noise,
        })?;
        Ok(self.mean_distance(power) + law.sample(rng))
    }

    /// What the distance sensor reports for a landing spot: the distance when it lies in
    /// `(5, 130)` cm, else an error.
    pub fn measure(&self, landed: f64) -> Result<f64> {
        check_distance(landed)
    }
}

/// Why the crawler stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Safety {
    /// At or below 20 cm from the wall.
    TooClose,
    /// At or beyond 150 cm.
    TooFar,
}

/// The crawler's world: mean rewards per move, their noise, and the distance to the wall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crawler {
    /// `mean[s][a]`: the mean change of the wall distance (cm) when moving from pose `s` to
    /// `a` (the diagonal is unused).
    pub mean: [[f64; POSES]; POSES],
    /// Standard deviation of each reward, cm.
    pub noise: f64,
    /// Distance to the wall, cm.
    pub wall: f64,
    /// The pose the arm is in.
    pub pose: usize,
}

/// The starting distance to the wall, cm.
pub const WALL_START: f64 = 60.0;
/// Training stops at or below this distance, cm.
pub const WALL_NEAR: f64 = 20.0;
/// Training stops at or beyond this distance, cm.
pub const WALL_FAR: f64 = 150.0;

impl Default for Crawler {
    /// The reconstruction: poses 1 ↔ 2 move the crawler +3 cm per move, every other move
    /// between −1 and 1 cm.
    fn default() -> Self {
        Self {
            mean: [
                [0.0, 0.5, -0.5, 0.2],
                [-0.8, 0.0, 3.0, 0.4],
                [0.6, 3.0, 0.0, -1.0],
                [-0.3, 0.8, -0.6, 0.0],
            ],
            noise: 0.3,
            wall: WALL_START,
            pose: 0,
        }
    }
}

impl Crawler {
    /// The largest mean reward per move of any cycle of moves (the best gait): the maximum
    /// mean cycle weight, by enumerating the simple cycles of the 4-pose graph.
    pub fn best_cycle_rate(&self) -> f64 {
        let mut best = f64::NEG_INFINITY;
        // Every simple cycle visits 2 to 4 distinct poses.
        let n = POSES;
        let mut perm = Vec::new();
        fn cycles(path: &mut Vec<usize>, n: usize, mean: &[[f64; POSES]; POSES], best: &mut f64) {
            if path.len() >= 2 {
                let mut w = 0.0;
                for i in 0..path.len() {
                    w += mean[path[i]][path[(i + 1) % path.len()]];
                }
                *best = best.max(w / path.len() as f64);
            }
            if path.len() == n {
                return;
            }
            for next in 0..n {
                // Each cycle once: starting from its smallest pose.
                if next > path[0] && !path.contains(&next) {
                    path.push(next);
                    cycles(path, n, mean, best);
                    path.pop();
                }
            }
        }
        for start in 0..n {
            perm.clear();
            perm.push(start);
            cycles(&mut perm, n, &self.mean, &mut best);
        }
        best
    }

    /// Moves the arm from its pose to `to`, returning the reward (the change of the wall
    /// distance) and, when the move ends at or beyond a safety limit, which one.
    pub fn step(&mut self, to: usize, rng: &mut impl rand::Rng) -> Result<(f64, Option<Safety>)> {
        check_index("pose", to, POSES)?;
        if to == self.pose {
            return Err(BricksError::Index {
                what: "pose",
                index: to,
                reason: "the arm is already there".into(),
            });
        }
        let law = Normal::new(0.0, self.noise).map_err(|_| BricksError::NonFinite {
            what: "crawler noise",
            value: self.noise,
        })?;
        let r = self.mean[self.pose][to] + law.sample(rng);
        self.wall += r;
        self.pose = to;
        let stop = if self.wall <= WALL_NEAR {
            Some(Safety::TooClose)
        } else if self.wall >= WALL_FAR {
            Some(Safety::TooFar)
        } else {
            None
        };
        Ok((r, stop))
    }

    /// Puts the crawler back at the starting distance (what a student does after a safety
    /// stop), keeping its pose.
    pub fn reposition(&mut self) {
        self.wall = WALL_START;
    }
}
