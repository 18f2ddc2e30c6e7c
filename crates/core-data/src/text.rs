//! A real English corpus for byte-level language models, shipped compressed with the crate,
//! its split, and the baselines a byte LM must beat: the unigram entropy and an interpolated
//! bigram.

use crate::error::{config, DataError, Result};
use flate2::read::GzDecoder;
use std::io::Read;

/// The text of *The Rust Programming Language* (1.30 MB, MIT OR Apache-2.0; see
/// `data/README.md`), as bytes.
pub fn rust_book() -> Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(&include_bytes!("../data/rust-book.txt.gz")[..])
        .read_to_end(&mut out)
        .map_err(|e| DataError::Data(format!("corrupt embedded corpus: {e}")))?;
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
            return Err(DataError::Data(format!(
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

/// How many consecutive non-overlapping windows of `context` inputs (and their `context`
/// next-byte targets) a text of `len` bytes holds, at most `max_windows`: window `w` reads
/// bytes `w·context ..= (w + 1)·context`. Errors unless `1 ≤ context < len − 1`.
pub fn sequential_window_count(len: usize, context: usize, max_windows: usize) -> Result<usize> {
    if context == 0 || len <= context + 1 {
        return Err(config(
            "context",
            context,
            "need 1 ≤ context < text length − 1",
        ));
    }
    Ok(((len - 1) / context).min(max_windows))
}

/// An interpolated (Jelinek–Mercer) bigram model of bytes:
/// `p(b | a) = λ·c(a, b)/c(a) + (1 − λ)·p₁(b)`, with `p₁` the add-one unigram (and `p₁` alone
/// after a byte never seen in training), so every byte has positive probability after every
/// byte. The honest baseline for a byte-level LM: it uses one
/// byte of context where the unigram entropy uses none.
#[derive(Debug, Clone)]
pub struct BigramModel {
    /// `log2 p(b | a)` at `256·a + b`.
    log2p: Vec<f64>,
    lambda: f64,
}

impl BigramModel {
    /// Fits the counts of `bytes` with interpolation weight `lambda ∈ [0, 1]`.
    pub fn fit(bytes: &[u8], lambda: f64) -> Result<Self> {
        if bytes.len() < 2 {
            return Err(config("bigram text", bytes.len(), "needs at least 2 bytes"));
        }
        if !(0.0..=1.0).contains(&lambda) {
            return Err(config("bigram λ", lambda, "must lie in [0, 1]"));
        }
        let mut uni = [1.0f64; 256];
        bytes.iter().for_each(|&b| uni[b as usize] += 1.0);
        let total: f64 = uni.iter().sum();
        let mut pair = vec![0.0f64; 256 * 256];
        let mut row = [0.0f64; 256];
        for w in bytes.windows(2) {
            pair[256 * w[0] as usize + w[1] as usize] += 1.0;
            row[w[0] as usize] += 1.0;
        }
        let log2p = (0..256 * 256)
            .map(|k| {
                let (a, b) = (k / 256, k % 256);
                let p1 = uni[b] / total;
                // A context never seen falls back to the unigram.
                let p = if row[a] > 0.0 {
                    lambda * pair[k] / row[a] + (1.0 - lambda) * p1
                } else {
                    p1
                };
                p.log2()
            })
            .collect();
        Ok(Self { log2p, lambda })
    }

    /// Fits on `train`, choosing λ from a grid (0.50, 0.55, …, 0.99) by the bits per byte of its
    /// last `holdout` fraction under counts of the rest, then refits on all of `train`.
    pub fn fit_tuned(train: &[u8], holdout: f64) -> Result<Self> {
        if !(holdout > 0.0 && holdout < 1.0) {
            return Err(config("bigram holdout", holdout, "must lie in (0, 1)"));
        }
        let cut = ((1.0 - holdout) * train.len() as f64) as usize;
        let (fit_part, held) = train.split_at(cut.min(train.len()));
        let mut best = (f64::INFINITY, 0.5);
        for i in 0..=10 {
            let lambda = if i == 10 { 0.99 } else { 0.5 + 0.05 * i as f64 };
            let bits = Self::fit(fit_part, lambda)?.bits_per_byte(held)?;
            if bits < best.0 {
                best = (bits, lambda);
            }
        }
        Self::fit(train, best.1)
    }

    /// The interpolation weight λ.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// `−log2 p(next | prev)`.
    pub fn bits(&self, prev: u8, next: u8) -> f64 {
        -self.log2p[256 * prev as usize + next as usize]
    }

    /// Mean bits per byte of `bytes[1..]`, each byte predicted from the one before it.
    pub fn bits_per_byte(&self, bytes: &[u8]) -> Result<f64> {
        if bytes.len() < 2 {
            return Err(config("bigram text", bytes.len(), "needs at least 2 bytes"));
        }
        Ok(bytes.windows(2).map(|w| self.bits(w[0], w[1])).sum::<f64>() / (bytes.len() - 1) as f64)
    }

    /// Mean bits per predicted byte of each window of `core_ml::text::sequential_windows(bytes, context,
    /// max_windows)`: the very targets an LM is scored on there, so the two can be compared
    /// window by window.
    pub fn window_bits(
        &self,
        bytes: &[u8],
        context: usize,
        max_windows: usize,
    ) -> Result<Vec<f64>> {
        let n = sequential_window_count(bytes.len(), context, max_windows)?;
        Ok((0..n)
            .map(|w| {
                let s = w * context;
                (s..s + context)
                    .map(|i| self.bits(bytes[i], bytes[i + 1]))
                    .sum::<f64>()
                    / context as f64
            })
            .collect())
    }
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
    fn bigram_closed_forms_and_tuning() {
        // "abab…": with λ = 1 the bigram is certain (a → b, b → a), so 0 bits per byte.
        let text: Vec<u8> = b"ab".iter().copied().cycle().take(1000).collect();
        let m = BigramModel::fit(&text, 1.0).unwrap();
        assert!(m.bits_per_byte(&text).unwrap().abs() < 1e-12);
        // λ = 0 is the add-one unigram: p(a) = 501/1256.
        let u = BigramModel::fit(&text, 0.0).unwrap();
        assert!((u.bits(b'b', b'a') + (501.0f64 / 1256.0).log2()).abs() < 1e-12);
        // Every conditional distribution sums to one.
        let book = rust_book().unwrap();
        let b = BigramModel::fit_tuned(&book[..200_000], 0.1).unwrap();
        for a in [b'e', b' ', 0u8] {
            let s: f64 = (0..=255u8).map(|x| 2f64.powf(-b.bits(a, x))).sum();
            assert!((s - 1.0).abs() < 1e-9, "{s}");
        }
        // English with one byte of context beats the unigram entropy.
        let held = &book[200_000..300_000];
        assert!(b.bits_per_byte(held).unwrap() < unigram_entropy_bits(held) - 0.5);
        // Window bits agree with the pairwise mean over the same bytes.
        let w = b.window_bits(held, 10, 5).unwrap();
        let direct = b.bits_per_byte(&held[..51]).unwrap();
        assert!((w.iter().sum::<f64>() / 5.0 - direct).abs() < 1e-12);
        assert!(BigramModel::fit(b"a", 0.5).is_err());
        assert!(BigramModel::fit(&text, 1.5).is_err());
        assert!(BigramModel::fit_tuned(&text, 0.0).is_err());
    }
}
