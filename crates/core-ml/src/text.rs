//! The corpus and baselines of [`core_data::text`], re-exported, plus seeded context windows
//! over a byte text as candle tensors.

pub use core_data::text::*;

use crate::error::{config, Result};
use candle_core::{Device, Tensor};
use core_linalg::Rng;
use rand::RngExt;

/// The most bytes [`sample_windows`] puts in one batch: `2^28` (two u32 tensors of that size).
pub const MAX_WINDOW_BYTES: usize = 1 << 28;

/// `batch` random windows of `context + 1` bytes from `bytes`: inputs `[batch, context]` and
/// next-byte targets `[batch, context]`, both `u32`.
pub fn sample_windows(
    bytes: &[u8],
    batch: usize,
    context: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    // (No `context + 1`: it wraps at usize::MAX and let any context through.)
    if context == 0 || batch == 0 || bytes.len().saturating_sub(1) <= context {
        return Err(config(
            "window",
            format!("batch {batch}, context {context}, text {}", bytes.len()),
            "need batch, context ≥ 1 and a text longer than context + 1",
        ));
    }
    if batch
        .checked_mul(context)
        .is_none_or(|n| n > MAX_WINDOW_BYTES)
    {
        return Err(config(
            "window",
            format!("batch {batch} × context {context}"),
            "at most MAX_WINDOW_BYTES (2^28) bytes per batch",
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
    let n = sequential_window_count(bytes.len(), context, max_windows)?;
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
