//! A real English corpus for byte-level language models, shipped compressed with the crate,
//! and seeded context windows over it.

use crate::error::{config, MlError, Result};
use candle_core::{Device, Tensor};
use core_linalg::Rng;
use flate2::read::GzDecoder;
use rand::RngExt;
use std::io::Read;

/// The text of *The Rust Programming Language* (1.30 MB, MIT OR Apache-2.0; see
/// `data/README.md`), as bytes.
pub fn rust_book() -> Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(&include_bytes!("../data/rust-book.txt.gz")[..])
        .read_to_end(&mut out)
        .map_err(|e| MlError::Data(format!("corrupt embedded corpus: {e}")))?;
    Ok(out)
}

/// A byte corpus cut into a training part (the first `1 − val_fraction`) and a validation part.
#[derive(Debug, Clone)]
pub struct ByteCorpus {
    bytes: Vec<u8>,
    split: usize,
}

impl ByteCorpus {
    /// Splits `bytes`; both parts must be longer than any context used later.
    pub fn new(bytes: Vec<u8>, val_fraction: f64) -> Result<Self> {
        if !(val_fraction > 0.0 && val_fraction < 1.0) {
            return Err(config(
                "validation fraction",
                val_fraction,
                "must lie in (0, 1)",
            ));
        }
        let split = ((1.0 - val_fraction) * bytes.len() as f64) as usize;
        if split < 2 || bytes.len() - split < 2 {
            return Err(MlError::Data(format!(
                "corpus of {} bytes is too short to split",
                bytes.len()
            )));
        }
        Ok(Self { bytes, split })
    }
    /// The training bytes.
    pub fn train(&self) -> &[u8] {
        &self.bytes[..self.split]
    }
    /// The validation bytes.
    pub fn val(&self) -> &[u8] {
        &self.bytes[self.split..]
    }
}

/// Shannon entropy of the byte frequencies, in bits per byte: what a model that ignores
/// context (a unigram model fitted to these very bytes) achieves at best.
pub fn unigram_entropy_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0u64; 256];
    bytes.iter().for_each(|&b| counts[b as usize] += 1);
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// `batch` random windows of `context + 1` bytes from `bytes`: inputs `[batch, context]` and
/// next-byte targets `[batch, context]`, both `u32`.
pub fn sample_windows(
    bytes: &[u8],
    batch: usize,
    context: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    if context == 0 || batch == 0 || bytes.len() <= context + 1 {
        return Err(config(
            "window",
            format!("batch {batch}, context {context}, text {}", bytes.len()),
            "need batch, context ≥ 1 and a text longer than context + 1",
        ));
    }
    let (mut x, mut y) = (
        Vec::with_capacity(batch * context),
        Vec::with_capacity(batch * context),
    );
    for _ in 0..batch {
        let s = rng.random_range(0..bytes.len() - context - 1);
        x.extend(bytes[s..s + context].iter().map(|&b| u32::from(b)));
        y.extend(bytes[s + 1..s + context + 1].iter().map(|&b| u32::from(b)));
    }
    Ok((
        Tensor::from_vec(x, (batch, context), device)?,
        Tensor::from_vec(y, (batch, context), device)?,
    ))
}

/// Consecutive non-overlapping windows covering `bytes` (for a deterministic validation pass):
/// at most `max_windows` of them.
pub fn sequential_windows(
    bytes: &[u8],
    context: usize,
    max_windows: usize,
    device: &Device,
) -> Result<Vec<(Tensor, Tensor)>> {
    if context == 0 || bytes.len() <= context + 1 {
        return Err(config(
            "context",
            context,
            "need 1 ≤ context < text length − 1",
        ));
    }
    let n = ((bytes.len() - 1) / context).min(max_windows);
    (0..n)
        .map(|w| {
            let s = w * context;
            let x: Vec<u32> = bytes[s..s + context]
                .iter()
                .map(|&b| u32::from(b))
                .collect();
            let y: Vec<u32> = bytes[s + 1..s + context + 1]
                .iter()
                .map(|&b| u32::from(b))
                .collect();
            Ok((
                Tensor::from_vec(x, (1, context), device)?,
                Tensor::from_vec(y, (1, context), device)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_english_text_of_documented_size() {
        let b = rust_book().unwrap();
        assert!((1_200_000..1_400_000).contains(&b.len()), "{}", b.len());
        let text = String::from_utf8(b.clone()).unwrap();
        assert!(text.contains("ownership") && text.contains("borrow"));
        let h = unigram_entropy_bits(&b);
        // English text with code: between 4 and 5.5 bits per byte.
        assert!((4.0..5.5).contains(&h), "{h}");
    }

    #[test]
    fn entropy_closed_forms() {
        assert_eq!(unigram_entropy_bits(b"aaaa"), 0.0);
        assert!((unigram_entropy_bits(b"abab") - 1.0).abs() < 1e-15);
        assert!((unigram_entropy_bits(b"abcd") - 2.0).abs() < 1e-15);
    }

    #[test]
    fn windows_are_shifted_by_one() {
        let text = b"hello world, hello rust";
        let mut rng = core_linalg::seeded_rng(1);
        let (x, y) = sample_windows(text, 3, 5, &mut rng, &Device::Cpu).unwrap();
        let (x, y) = (x.to_vec2::<u32>().unwrap(), y.to_vec2::<u32>().unwrap());
        for (xr, yr) in x.iter().zip(&y) {
            assert_eq!(&xr[1..], &yr[..4]);
        }
        assert!(sample_windows(text, 1, 100, &mut rng, &Device::Cpu).is_err());
        assert!(ByteCorpus::new(text.to_vec(), 1.5).is_err());
    }
}
