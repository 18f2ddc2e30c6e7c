//! The fruit detector's decision-border map: 100 × 100 cells at k = 17 over 200 training
//! fruit (target ≤ 2 ms), on every core and on one, against the same cells classified one by
//! one with the full-sort `predict` (the per-point route the page would otherwise take).
//!
//! `cargo bench -p papercraft-benches --bench ml_bricks`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ml_bricks::knn::{decision_grid, predict, Fruit, Grid, GRID};
use ml_bricks::sim::measure_fruit;
use std::hint::black_box;

fn grid(c: &mut Criterion) {
    let mut rng = core_linalg::seeded_rng(7);
    let train: Vec<_> = (0..200)
        .map(|i| {
            let f = if i % 2 == 0 {
                Fruit::Apple
            } else {
                Fruit::Banana
            };
            measure_fruit(f, &mut rng)
        })
        .collect();
    let mut g = c.benchmark_group("ml-bricks/decision-grid");
    g.throughput(Throughput::Elements((GRID * GRID) as u64));
    g.bench_function(BenchmarkId::new("all cores", "100x100-k17-n200"), |b| {
        b.iter(|| black_box(decision_grid(&train, 17, GRID).expect("valid")))
    });
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    g.bench_function(BenchmarkId::new("one core", "100x100-k17-n200"), |b| {
        b.iter(|| one.install(|| black_box(decision_grid(&train, 17, GRID).expect("valid"))))
    });
    g.sample_size(10);
    g.bench_function(
        BenchmarkId::new("predict per cell", "100x100-k17-n200"),
        |b| {
            b.iter(|| {
                let mut n = 0usize;
                for r in 0..GRID {
                    for col in 0..GRID {
                        let (gr, l) = Grid::centre(GRID, r, col);
                        n += predict(&train, gr, l, 17).expect("valid").neighbours.len();
                    }
                }
                black_box(n)
            })
        },
    );
    g.finish();
}

criterion_group!(benches, grid);
criterion_main!(benches);
