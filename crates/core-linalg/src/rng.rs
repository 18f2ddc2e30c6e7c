use nalgebra::DVector;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// The workspace's random generator: ChaCha8, which gives the same stream on every platform.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator seeded from one `u64` (stream 0).
pub fn seeded_rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// An independent generator for task `stream` of an experiment seeded with `seed`.
///
/// Parallel work gives each task index its own stream, so results do not depend on the number
/// of threads or on scheduling.
pub fn stream_rng(seed: u64, stream: u64) -> Rng {
    let mut rng = Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Draws an index from the probability vector `p` (validated by the caller) by inverting its
/// cumulative sums with one uniform draw. If rounding leaves the draw at or above `Σp`, the last
/// index with positive probability is returned; never an index of probability 0.
pub fn sample_index<R: rand::Rng + ?Sized>(p: &[f64], rng: &mut R) -> usize {
    let u: f64 = rand::RngExt::random(rng);
    let mut acc = 0.0;
    for (i, &pi) in p.iter().enumerate() {
        acc += pi;
        if u < acc {
            return i;
        }
    }
    p.iter().rposition(|&pi| pi > 0.0).unwrap_or(0)
}

/// A vector of `n` independent standard normal draws.
pub fn standard_normal_vector(rng: &mut Rng, n: usize) -> DVector<f64> {
    DVector::from_fn(n, |_, _| StandardNormal.sample(rng))
}

/// A point drawn uniformly from the unit sphere `S^{d−1} ⊂ R^d` (a normalised Gaussian).
/// Returns an empty vector for `d = 0`.
pub fn uniform_on_sphere(rng: &mut Rng, d: usize) -> DVector<f64> {
    if d == 0 {
        return DVector::zeros(0);
    }
    loop {
        let g = standard_normal_vector(rng, d);
        let n = g.norm();
        if n > 0.0 {
            return g / n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| seeded_rng(5).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut s0 = stream_rng(5, 0);
        let mut s1 = stream_rng(5, 1);
        assert_eq!(s0.next_u64(), seeded_rng(5).next_u64());
        assert_ne!(stream_rng(5, 0).next_u64(), s1.next_u64());
        let _ = s0.next_u64();
    }

    #[test]
    fn sample_index_frequencies_and_zero_mass() {
        let p = [0.2, 0.0, 0.5, 0.3];
        let mut rng = seeded_rng(4);
        let n = 200_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[sample_index(&p, &mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        for (c, q) in counts.iter().zip(p) {
            let se = (q * (1.0 - q) / n as f64).sqrt();
            assert!((*c as f64 / n as f64 - q).abs() <= 5.0 * se + 1e-12);
        }
        // Mass summing a hair below 1 never returns the zero-probability tail.
        assert!((0..1000).all(|_| sample_index(&[0.5, 0.499_999, 0.0], &mut rng) < 2));
    }

    #[test]
    fn normal_moments_and_sphere() {
        let mut rng = seeded_rng(11);
        let n = 200_000;
        let g = standard_normal_vector(&mut rng, n);
        let mean = g.mean();
        let var = g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        // 5 standard errors.
        assert!(mean.abs() < 5.0 / (n as f64).sqrt());
        assert!((var - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt());

        let d = 5;
        let m = 40_000;
        let mut second = vec![0.0; d];
        for _ in 0..m {
            let x = uniform_on_sphere(&mut rng, d);
            assert!((x.norm() - 1.0).abs() < 1e-12);
            for i in 0..d {
                second[i] += x[i] * x[i] / m as f64;
            }
        }
        // E[x_i^2] = 1/d on the sphere.
        for s in second {
            assert!((s - 0.2).abs() < 0.01, "{s}");
        }
    }
}
