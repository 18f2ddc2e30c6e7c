use crate::{ConformalError, Result};

/// Prediction sets for many rows, stored as bit sets (one bit per class).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictionSets {
    n_classes: usize,
    words: usize,
    bits: Vec<u64>,
}

impl PredictionSets {
    /// `n` empty sets over `n_classes` classes.
    ///
    /// # Panics
    /// If `n · ⌈n_classes/64⌉` words overflow `usize` (like `vec!` on a capacity overflow).
    pub fn empty(n: usize, n_classes: usize) -> Self {
        let words = n_classes.div_ceil(64).max(1);
        let total = n
            .checked_mul(words)
            .unwrap_or_else(|| panic!("PredictionSets: {n} rows × {words} words overflow usize"));
        Self {
            n_classes,
            words,
            bits: vec![0; total],
        }
    }

    pub(crate) fn words(&self) -> usize {
        self.words
    }

    pub(crate) fn bits_mut(&mut self) -> &mut [u64] {
        &mut self.bits
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.bits.len() / self.words
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Panics unless `i` is a row: `i · words` could wrap and read another row.
    #[inline]
    fn check_row(&self, i: usize) {
        assert!(
            i < self.len(),
            "PredictionSets: row {i} out of range ({} rows)",
            self.len()
        );
    }

    /// Adds class `y` to set `i`. Errors when `i` is not a row or `y` not a class (a class
    /// past the last would otherwise set a bit of the next row).
    pub fn insert(&mut self, i: usize, y: usize) -> Result<()> {
        if y >= self.n_classes {
            return Err(ConformalError::Label {
                label: y,
                row: i,
                n_classes: self.n_classes,
            });
        }
        if i >= self.len() {
            return Err(ConformalError::Shape {
                what: "row of the prediction sets",
                expected: self.len(),
                got: i,
            });
        }
        self.bits[i * self.words + y / 64] |= 1 << (y % 64);
        Ok(())
    }

    /// Whether set `i` contains class `y` (false for a `y` that is not a class).
    ///
    /// # Panics
    /// When `i ≥ self.len()`, like a slice index.
    #[inline]
    pub fn contains(&self, i: usize, y: usize) -> bool {
        self.check_row(i);
        y < self.n_classes && self.bits[i * self.words + y / 64] >> (y % 64) & 1 == 1
    }

    /// The size of set `i`.
    ///
    /// # Panics
    /// When `i ≥ self.len()`, like a slice index.
    #[inline]
    pub fn size(&self, i: usize) -> usize {
        self.check_row(i);
        self.bits[i * self.words..(i + 1) * self.words]
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum()
    }

    /// The classes in set `i`, ascending.
    ///
    /// # Panics
    /// When `i ≥ self.len()`, like a slice index.
    pub fn classes(&self, i: usize) -> Vec<usize> {
        (0..self.n_classes)
            .filter(|&y| self.contains(i, y))
            .collect()
    }
}
