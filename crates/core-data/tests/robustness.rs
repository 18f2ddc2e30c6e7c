//! Generated bad input through every public entry point of core-data (the `bad_input` runner:
//! no panic, no call over 2 s, no non-finite output from finite input, and the right answer
//! where an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry point
//! (default 300; 10⁴ for the deep run).
//!
//! The independent answers: a split is a partition of the rows with every class's share within
//! one row of its fraction; label noise flips exactly the rows it reports, to another class;
//! batches partition the rows; standardised training features have mean 0 and population sd
//! 1 (or are constant); the bigram model's bits agree with `−log2` of its probabilities
//! summing to one after every byte; the unigram entropy lies in `[0, 8]`.
//!
//! Documented panics (checked to happen exactly out of range): `Dataset::row`,
//! `Dataset::subset`.

use bad_input::{all_finite, checked, panics, res, Gen, Suite};
use core_data::data::*;
use core_data::text::*;

fn dataset(g: &mut Gen) -> core_data::Result<Dataset> {
    let clean = g.coin(0.7);
    let (n, d) = (g.pick(&[0usize, 1, 2, 5, 30]), g.pick(&[0usize, 1, 3]));
    let k = if clean {
        g.pick(&[1usize, 2, 3])
    } else {
        g.pick(&[0usize, 1, 2, usize::MAX, MAX_CLASSES + 1])
    };
    let d_claim = if clean {
        d
    } else {
        g.pick(&[d, 0, usize::MAX / 2 + 1])
    };
    let l = g.len_near(n * d);
    let x = if clean {
        (0..n * d).map(|_| 10.0 * g.uniform() - 5.0).collect()
    } else {
        g.vec_of(l)
    };
    let y = (0..n)
        .map(|_| if clean { g.below(k) } else { g.index(k.max(1)) })
        .collect();
    Dataset::new("generated", x, y, d_claim, k)
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run("Dataset::new / row / subset / class_counts", |g| {
        let ds = res!(dataset(g));
        let i = g.index(ds.len());
        let mut right = panics(|| {
            ds.row(i);
        }) == (i >= ds.len());
        right &= panics(|| {
            ds.subset(&[i]);
        }) == (i >= ds.len());
        right &= ds.class_counts().iter().sum::<usize>() == ds.len();
        let v: Vec<f64> = (0..ds.len()).flat_map(|r| ds.row(r).to_vec()).collect();
        checked(true, v, right)
    });

    suite.run(
        "Dataset::stratified_split (a partition keeping class shares)",
        |g| {
            let ds = res!(dataset(g));
            let (tr, va) = (g.unit(), g.unit());
            let s = res!(ds.stratified_split(tr, va, g.below(100) as u64));
            let mut right = s.train.len() + s.val.len() + s.test.len() == ds.len();
            let counts = ds.class_counts();
            for (c, &n) in counts.iter().enumerate() {
                let got = s.train.class_counts()[c] as f64;
                right &= (got - (tr * n as f64).round()).abs() <= 1.0;
            }
            checked(true, vec![], right)
        },
    );

    suite.run(
        "Dataset::with_label_noise (flips exactly what it reports)",
        |g| {
            let ds = res!(dataset(g));
            let (noisy, flipped) = res!(ds.with_label_noise(g.unit(), g.below(100) as u64));
            let orig = ds.class_counts();
            let mut right = flipped.len() == ds.len() && noisy.len() == ds.len();
            // Independent: a flipped row's label differs, an unflipped row's is unchanged, and the
            // features are untouched.
            for ((&new, &old), &f) in noisy.y.iter().zip(&ds.y).zip(&flipped) {
                right &= (new != old) == f && new < ds.n_classes;
            }
            right &= noisy.x == ds.x
                && noisy.class_counts().iter().sum::<usize>() == orig.iter().sum::<usize>();
            checked(true, vec![], right)
        },
    );

    suite.run("Dataset::batches (a partition of the rows)", |g| {
        let ds = res!(dataset(g));
        let batch = g.pick(&[0usize, 1, 2, 7, usize::MAX]);
        let b = res!(ds.batches(batch, g.below(100) as u64, g.small()));
        let mut seen = vec![false; ds.len()];
        let mut right = b.iter().all(|c| c.len() <= batch && !c.is_empty());
        for &i in b.iter().flatten() {
            right &= i < ds.len() && !seen[i];
            if i < ds.len() {
                seen[i] = true;
            }
        }
        checked(true, vec![], right && seen.iter().all(|&s| s))
    });

    suite.run(
        "Standardiser::fit / apply (mean 0, sd 1 on the fitted data)",
        |g| {
            let ds = res!(dataset(g));
            // Sometimes huge features: their squares overflow.
            let big = g.pick(&[1.0, 1e200, 1e307]);
            let xs: Vec<f64> = ds.x.iter().map(|v| v * big).collect();
            let d = ds.d;
            let labels: Vec<usize> = vec![0; ds.len()];
            let ds = res!(Dataset::new("scaled", xs, labels, d, 1));
            let st = Standardiser::fit(&ds);
            let out = res!(st.apply(&ds));
            let n = out.len() as f64;
            let mut right = true;
            for j in 0..d {
                let col: Vec<f64> = (0..out.len()).map(|i| out.row(i)[j]).collect();
                let m = col.iter().sum::<f64>() / n;
                let var = col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
                right &= m.abs() < 1e-6 && ((var - 1.0).abs() < 1e-6 || var < 1e-12);
            }
            let mut v: Vec<f64> = (0..out.len()).flat_map(|i| out.row(i).to_vec()).collect();
            v.extend(st.mean.iter().chain(&st.std));
            checked(true, v, right)
        },
    );

    suite.run("gaussian_blobs", |g| {
        let (n, c, d) = (
            g.size().min(1 << 41),
            g.pick(&[0usize, 1, 3, usize::MAX]),
            g.pick(&[0usize, 1, 2, usize::MAX]),
        );
        let (n, c, d) = if g.coin(0.7) {
            (n.min(20), c.min(5), d.min(4))
        } else {
            (n, c, d)
        };
        let ds = res!(gaussian_blobs(n, c, d, g.f(), g.below(100) as u64));
        let v: Vec<f64> = (0..ds.len()).flat_map(|i| ds.row(i).to_vec()).collect();
        checked(true, v, ds.len() == n * c)
    });

    suite.run(
        "ByteCorpus / BigramModel / unigram_entropy_bits / windows",
        |g| {
            let len = g.pick(&[0usize, 1, 2, 3, 10, 500]);
            let alphabet = if g.coin(0.5) { 4 } else { 256 };
            let bytes: Vec<u8> = (0..len).map(|_| g.below(alphabet) as u8).collect();
            let h = unigram_entropy_bits(&bytes);
            let mut right = (0.0..=8.0).contains(&h) || bytes.is_empty();
            let _ = ByteCorpus::new(bytes.clone(), g.unit()).map(|c| {
                right &= c.train().len() + c.val().len() == bytes.len();
            });
            let m = res!(BigramModel::fit(&bytes, g.unit()));
            // Independent: 2^{−bits} after each byte sums to one.
            for prev in [0u8, 1, 255] {
                let total: f64 = (0..=255u8).map(|b| 2f64.powf(-m.bits(prev, b))).sum();
                right &= (total - 1.0).abs() < 1e-9;
            }
            let bpb = res!(m.bits_per_byte(&bytes));
            let ctx = g.pick(&[0usize, 1, 3, 1000, usize::MAX]);
            let mut v = vec![h, bpb, m.lambda()];
            if let Ok(w) = m.window_bits(&bytes, ctx, g.pick(&[0usize, 1, 5, usize::MAX])) {
                right &= w.len() <= res!(sequential_window_count(bytes.len(), ctx, usize::MAX));
                v.extend(w);
            }
            if let Ok(t) = BigramModel::fit_tuned(&bytes, g.unit()) {
                v.push(t.lambda());
            }
            checked(true, v, right && all_finite(&[h]))
        },
    );

    suite.finish();
}
