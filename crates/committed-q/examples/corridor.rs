//! The paper's corridor: committed vs regular Q-learning over 200 seeds, and the exact tools.
//!
//! `cargo run --release -p committed-q --example corridor`

use committed_q::exact::{behaviour_fixed_point, optimal_reactive_policy, q_star_realizability};
use committed_q::{Behaviour, Corridor, QLearner, QLearningParams, RIGHT};
use core_linalg::stream_rng;

fn main() -> Result<(), committed_q::CommittedQError> {
    let horizon = 10_000;
    for k in [2, 5, 10] {
        let env = Corridor::new(k)?;
        let tab = env.to_tabular();
        let best = optimal_reactive_policy(&tab)?;
        let fp = behaviour_fixed_point(&tab, Behaviour::Committed, &best.policy, 0.01)?;
        let spread = q_star_realizability(&tab, 1e-9)?.max_spread;
        println!(
            "k = {k}: optimal reactive policy {:?} (return {}), q* spread {spread}",
            best.policy, best.value
        );
        println!("  committed fixed point {:?}", fp.q.as_slice());
        for b in [Behaviour::Committed, Behaviour::Regular] {
            let params = QLearningParams::new(b, horizon).check()?;
            let optimal = (0..200)
                .filter(|&s| {
                    let mut rng = stream_rng(1, s);
                    let mut agent = QLearner::new(&env, params, &mut rng);
                    agent.run(horizon, &mut rng);
                    agent.q().strictly_prefers(&[RIGHT, RIGHT])
                })
                .count();
            println!(
                "  {:>9}: greedy policy optimal in {optimal}/200 runs",
                b.name()
            );
        }
    }
    Ok(())
}
