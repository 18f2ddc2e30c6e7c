//! Criterion benches live in `benches/`; this library holds what a bench shares with the
//! examples that measure the same thing outside criterion.

use core_linalg::seeded_rng;
use rand::RngExt;

/// Classes in the conformal benches.
pub const CONFORMAL_K: usize = 10;

/// `n` random probability rows of [`CONFORMAL_K`] classes (cubed uniforms, normalised, flat
/// row-major) and labels drawn from them: the recipe of the MAPIE peer
/// (`benches/peers/mapie_conformal.py`).
pub fn conformal_data(n: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
    const K: usize = CONFORMAL_K;
    let mut rng = seeded_rng(seed);
    let mut flat = Vec::with_capacity(n * K);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let r: Vec<f64> = (0..K).map(|_| rng.random::<f64>().powi(3)).collect();
        let s: f64 = r.iter().sum();
        let u = rng.random::<f64>() * s;
        let mut acc = 0.0;
        labels.push(
            r.iter()
                .position(|&v| {
                    acc += v;
                    u < acc
                })
                .unwrap_or(K - 1),
        );
        flat.extend(r.iter().map(|v| v / s));
    }
    (flat, labels)
}

/// The sum of `xs` over 16 independent accumulators, which the compiler keeps in vector
/// registers: a plain `iter().sum()` waits on each add's latency (one add per ~4 cycles) and
/// measures that, not the memory. The ceiling of a pass that reads `xs` once.
pub fn lane_sum<T: Copy + Default + std::ops::Add<Output = T>>(xs: &[T]) -> T {
    let mut acc = [T::default(); 16];
    let chunks = xs.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = *a + v;
        }
    }
    let tail = rest.iter().fold(T::default(), |s, &v| s + v);
    acc.iter().fold(tail, |s, &v| s + v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lane_sum_adds_everything() {
        for n in [0usize, 1, 15, 16, 17, 100] {
            let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
            assert_eq!(
                super::lane_sum(&xs),
                (n * n.saturating_sub(1) / 2) as f64,
                "{n}"
            );
        }
    }
}
