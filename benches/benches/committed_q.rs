//! Agent steps per second on the corridor (k = 5, the authors' schedules), committed vs
//! regular, on one core; and a batch of independent runs over seeds with rayon (2 cores here).
//! Target: ≥ 20 million agent steps per second per core.

use committed_q::{Behaviour, Corridor, QLearner, QLearningParams};
use core_linalg::stream_rng;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rayon::prelude::*;
use std::hint::black_box;

const STEPS: u64 = 100_000;

fn agent_steps(c: &mut Criterion) {
    let env = Corridor::new(5).expect("k ≥ 1");
    let mut g = c.benchmark_group("committed-q/corridor-steps/k5");
    g.throughput(Throughput::Elements(STEPS));
    for b in [Behaviour::Committed, Behaviour::Regular] {
        let params = QLearningParams::new(b, STEPS).check().expect("defaults");
        g.bench_function(BenchmarkId::new(b.name(), "single"), |bench| {
            let mut seed = 0;
            bench.iter(|| {
                seed += 1;
                let mut rng = stream_rng(7, seed);
                let mut agent = QLearner::new(&env, params, &mut rng);
                agent.run(STEPS, &mut rng);
                black_box(agent.q().get(1, 1))
            })
        });
    }
    let runs = 16u64;
    g.throughput(Throughput::Elements(STEPS * runs));
    for b in [Behaviour::Committed, Behaviour::Regular] {
        let params = QLearningParams::new(b, STEPS).check().expect("defaults");
        g.bench_function(BenchmarkId::new(b.name(), "16-seeds-rayon"), |bench| {
            bench.iter(|| {
                (0..runs)
                    .into_par_iter()
                    .map(|s| {
                        let mut rng = stream_rng(9, s);
                        let mut agent = QLearner::new(&env, params, &mut rng);
                        agent.run(STEPS, &mut rng);
                        agent.q().get(1, 1)
                    })
                    .sum::<f64>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, agent_steps);
criterion_main!(benches);
