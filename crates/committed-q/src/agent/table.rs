//! The Q table and the one update rule both learners share.

use crate::{CommittedQError, Result};
use nalgebra::DMatrix;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// A table `Q(z, u)` over features and actions. With the feature `serde` it (de)serialises as
/// its rows (`[[Q(0, 0), Q(0, 1), …], …]`), validated like [`from_rows`](Self::from_rows).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "Vec<Vec<f64>>", into = "Vec<Vec<f64>>")
)]
pub struct QTable {
    n_features: usize,
    n_actions: usize,
    values: Vec<f64>,
}

impl QTable {
    /// All zeros.
    ///
    /// # Panics
    /// If `n_features × n_actions` overflows `usize` (like `vec!` on a capacity overflow).
    pub fn zeros(n_features: usize, n_actions: usize) -> Self {
        Self {
            n_features,
            n_actions,
            values: vec![0.0; cells(n_features, n_actions)],
        }
    }

    /// From rows `q[z][u]`; errors on ragged, empty or non-finite input.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self> {
        let n_actions = rows.first().map_or(0, Vec::len);
        if rows.is_empty() || n_actions == 0 {
            return Err(CommittedQError::Empty { what: "Q table" });
        }
        let mut values = Vec::with_capacity(rows.len() * n_actions);
        for r in rows {
            if r.len() != n_actions {
                return Err(CommittedQError::Shape {
                    what: "Q table row length",
                    expected: n_actions,
                    got: r.len(),
                });
            }
            if let Some(&v) = r.iter().find(|v| !v.is_finite()) {
                return Err(CommittedQError::NonFinite {
                    what: "Q table entry".into(),
                    value: v,
                });
            }
            values.extend_from_slice(r);
        }
        Ok(Self {
            n_features: rows.len(),
            n_actions,
            values,
        })
    }

    /// Entries drawn `std · N(0, 1)` (`±∞` where that product overflows, possible only for
    /// `std` beyond about 1e307).
    ///
    /// # Panics
    /// As [`Self::zeros`].
    pub fn random<R: Rng + ?Sized>(
        n_features: usize,
        n_actions: usize,
        std: f64,
        rng: &mut R,
    ) -> Self {
        let values = (0..cells(n_features, n_actions))
            .map(|_| std * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng))
            .collect();
        Self {
            n_features,
            n_actions,
            values,
        }
    }

    /// Number of features (rows).
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of actions (columns).
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// `Q(z, u)`.
    ///
    /// # Panics
    /// If `z` or `u` is out of range, like a slice index (a `u ≥ n_actions` would otherwise read
    /// the next feature's row).
    #[inline]
    pub fn get(&self, z: usize, u: usize) -> f64 {
        self.check(z, u);
        self.values[z * self.n_actions + u]
    }

    /// Sets `Q(z, u)`.
    ///
    /// # Panics
    /// As [`Self::get`].
    #[inline]
    pub fn set(&mut self, z: usize, u: usize, v: f64) {
        self.check(z, u);
        self.values[z * self.n_actions + u] = v;
    }

    #[inline]
    fn check(&self, z: usize, u: usize) {
        assert!(
            z < self.n_features && u < self.n_actions,
            "QTable: (feature {z}, action {u}) out of range ({} features, {} actions)",
            self.n_features,
            self.n_actions
        );
    }

    /// The row `Q(z, ·)`.
    ///
    /// # Panics
    /// If `z` is out of range, like a slice index.
    #[inline]
    pub fn row(&self, z: usize) -> &[f64] {
        assert!(
            z < self.n_features,
            "QTable: feature {z} out of range ({} features)",
            self.n_features
        );
        &self.values[z * self.n_actions..(z + 1) * self.n_actions]
    }

    /// `max_u Q(z, u)` (`−∞` for a table without actions).
    ///
    /// # Panics
    /// As [`Self::row`].
    #[inline]
    pub fn max(&self, z: usize) -> f64 {
        self.row(z)
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The greedy action at `z` (the first maximiser; 0 for a table without actions).
    ///
    /// # Panics
    /// As [`Self::row`].
    #[inline]
    pub fn greedy(&self, z: usize) -> usize {
        let row = self.row(z);
        let mut best = 0;
        for (u, &v) in row.iter().enumerate().skip(1) {
            if v > row[best] {
                best = u;
            }
        }
        best
    }

    /// The greedy action of every feature.
    pub fn greedy_policy(&self) -> Vec<usize> {
        (0..self.n_features).map(|z| self.greedy(z)).collect()
    }

    /// Whether `policy[z]` is the *strict* maximiser of every row (a tie is not optimal; an
    /// action out of range, or a policy of the wrong length, is not).
    pub fn strictly_prefers(&self, policy: &[usize]) -> bool {
        policy.len() == self.n_features
            && policy.iter().enumerate().all(|(z, &a)| {
                if a >= self.n_actions {
                    return false;
                }
                let best = self.get(z, a);
                (0..self.n_actions).all(|u| u == a || self.get(z, u) < best)
            })
    }

    /// `max |Q − other|` over all entries (∞ when the shapes differ).
    pub fn max_abs_diff(&self, other: &QTable) -> f64 {
        if (self.n_features, self.n_actions) != (other.n_features, other.n_actions) {
            return f64::INFINITY;
        }
        self.values
            .iter()
            .zip(&other.values)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }

    /// As a matrix (rows features, columns actions).
    pub fn to_matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.n_features, self.n_actions, &self.values)
    }
}

/// `n_features × n_actions`, panicking (documented on the constructors) on overflow.
fn cells(n_features: usize, n_actions: usize) -> usize {
    n_features
        .checked_mul(n_actions)
        .unwrap_or_else(|| panic!("QTable: {n_features} × {n_actions} entries overflow usize"))
}

/// [`q_update_discounted`] with `γ = 1`: the one update rule both learners share (undiscounted,
/// episodic):
/// `Q(z, u) += α [r + 1{x′ non-terminal} · max_u′ Q(z′, u′) − Q(z, u)]`.
///
/// `next_feature` is `None` when the episode ended. Returns the TD error.
#[inline]
pub fn q_update(
    q: &mut QTable,
    z: usize,
    u: usize,
    reward: f64,
    next_feature: Option<usize>,
    alpha: f64,
) -> f64 {
    q_update_discounted(q, z, u, reward, next_feature, alpha, 1.0)
}

/// `Q(z, u) += α [r + γ·1{x′ non-terminal} · max_u′ Q(z′, u′) − Q(z, u)]`; returns the TD error.
///
/// # Panics
/// As [`QTable::get`], for `(z, u)` or `next_feature` out of range.
#[inline]
pub fn q_update_discounted(
    q: &mut QTable,
    z: usize,
    u: usize,
    reward: f64,
    next_feature: Option<usize>,
    alpha: f64,
    gamma: f64,
) -> f64 {
    let target = reward + next_feature.map_or(0.0, |z2| gamma * q.max(z2));
    let td = target - q.get(z, u);
    q.set(z, u, q.get(z, u) + alpha * td);
    td
}

impl TryFrom<Vec<Vec<f64>>> for QTable {
    type Error = CommittedQError;
    fn try_from(rows: Vec<Vec<f64>>) -> Result<Self> {
        QTable::from_rows(&rows)
    }
}

impl From<QTable> for Vec<Vec<f64>> {
    fn from(q: QTable) -> Self {
        (0..q.n_features()).map(|z| q.row(z).to_vec()).collect()
    }
}
