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
