//! The fruit detector's decision-border map: 100 × 100 cells at k = 17 over 200 training
//! fruit (target ≤ 2 ms), on every core and on one, against the same cells classified one by
//! one with the full-sort `predict` (the per-point route the page would otherwise take); and
//! the API round trip on loopback (one keep-alive connection, the server in this process).
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

fn round_trip(c: &mut Criterion) {
    let base = format!(
        "http://{}",
        ml_bricks::server::spawn_on_loopback().expect("server")
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(format!("{base}/api/session"))
        .send("")
        .expect("session");
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
    let id = v["id"].as_str().expect("id").to_string();
    let url = format!("{base}/api/session/{id}/fruit");
    let mut g = c.benchmark_group("ml-bricks/api");
    let mut k = 0usize;
    g.bench_function("round trip (change_k)", |b| {
        b.iter(|| {
            k = k % 17 + 1;
            let body = format!(r#"{{"action":"change_k","payload":{{"k":{k}}}}}"#);
            let mut r = agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body)
                .expect("request");
            black_box(r.body_mut().read_to_string().expect("body").len())
        })
    });
    g.finish();
}

criterion_group!(benches, grid, round_trip);
criterion_main!(benches);
