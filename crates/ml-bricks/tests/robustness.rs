//! Generated bad input through every public entry point of ml-bricks (the `bad_input`
//! runner: no panic, no call over 2 s, no non-finite output from finite input, and the right
//! answer where an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry
//! point (default 300).
//!
//! The independent answers: a prediction's neighbours are the nearest points (no point left
//! out is nearer than one taken); the map's cells are the predictions at their centres; least
//! squares has an MSE no larger than the line through the means with slope 0; an aimed power
//! lies in [20, 100]; a failed Q-update leaves the learner unchanged; a hub message that fails
//! leaves the hub's whole state unchanged.
//!
//! Documented non-finite values: none (every routine returns an error instead).

use bad_input::{all_finite, checked, ok, res, Gen, Suite};
use ml_bricks::hub::{Activity, Hub, Message};
use ml_bricks::knn::{decision_grid, distance, predict, Fruit, Grid, Sample};
use ml_bricks::linreg::{least_squares, mse, Line, Throw};
use ml_bricks::qlearn::QLearner;
use ml_bricks::sim::{Crawler, Pitcher};
use serde_json::{json, Value};

/// A feature value: usually in range, else hostile.
fn green(g: &mut Gen) -> f64 {
    if g.coin(0.6) {
        1024.0 * g.uniform()
    } else {
        g.f() * 1e3
    }
}

fn length(g: &mut Gen) -> f64 {
    if g.coin(0.6) {
        20.9 * g.uniform()
    } else {
        g.f() * 30.0
    }
}

/// A training set: clean half the time (every feature in range), else with hostile values.
fn samples(g: &mut Gen) -> Vec<Sample> {
    let n = g.len();
    let clean = g.coin(0.5);
    (0..n)
        .map(|_| Sample {
            green: if clean {
                1024.0 * g.uniform()
            } else {
                green(g)
            },
            length: if clean { 20.9 * g.uniform() } else { length(g) },
            label: if g.coin(0.5) {
                Fruit::Apple
            } else {
                Fruit::Banana
            },
        })
        .collect()
}

fn k(g: &mut Gen) -> usize {
    g.pick(&[0usize, 1, 2, 3, 5, 17, 18, usize::MAX])
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run("Sample::new / knn::predict", |g| {
        let train = samples(g);
        let (q0, q1, kk) = (green(g), length(g), k(g));
        let _ = Sample::new(q0, q1, Fruit::Apple);
        let p = res!(predict(&train, q0, q1, kk));
        let taken: Vec<f64> = p
            .neighbours
            .iter()
            .map(|&i| distance(q0, q1, &train[i]))
            .collect();
        let far = taken.iter().copied().fold(0.0, f64::max);
        let right = (0..train.len())
            .filter(|i| !p.neighbours.contains(i))
            .all(|i| distance(q0, q1, &train[i]) >= far);
        checked(true, taken, right)
    });

    suite.run("knn::decision_grid", |g| {
        let train = samples(g);
        let kk = k(g);
        let res_ = g.pick(&[0usize, 1, 3, 10, 1001]);
        let grid = res!(decision_grid(&train, kk, res_));
        let right = (0..res_).all(|r| {
            (0..res_).all(|c| {
                let (x, y) = Grid::centre(res_, r, c);
                predict(&train, x, y, kk).map(|p| p.vote) == Ok(grid.cells[r * res_ + c])
            })
        });
        checked(true, vec![], right && grid.cells.len() == res_ * res_)
    });

    suite.run("linreg: Throw::new / least_squares / mse / aim", |g| {
        let n = g.len();
        let clean = g.coin(0.5);
        let throws: Vec<Throw> = (0..n)
            .map(|_| Throw {
                distance: if clean || g.coin(0.7) {
                    6.0 + 120.0 * g.uniform()
                } else {
                    g.f()
                },
                power: if clean || g.coin(0.7) {
                    20.0 + 80.0 * g.uniform()
                } else {
                    g.f()
                },
            })
            .collect();
        let _ = Throw::new(g.f(), g.f());
        let finite = throws.iter().all(|t| {
            all_finite(&[t.distance, t.power]) && t.distance.abs() < 1e150 && t.power.abs() < 1e150
        });
        let line = res!(least_squares(&throws));
        let e = res!(mse(&throws, &line));
        let mean = throws.iter().map(|t| t.power).sum::<f64>() / throws.len() as f64;
        let flat = mse(&throws, &Line { m: 0.0, b: mean }).unwrap_or(f64::INFINITY);
        let target = if g.coin(0.7) {
            6.0 + 120.0 * g.uniform()
        } else {
            g.f()
        };
        let aimed = line.aim(target).ok();
        let right =
            e <= flat * (1.0 + 1e-9) + 1e-9 && aimed.is_none_or(|p| (20.0..=100.0).contains(&p));
        let mut out = vec![line.m, line.b, e];
        out.extend(aimed);
        checked(finite, out, right)
    });

    suite.run("Line::new / from_sliders / aim", |g| {
        let (m, b) = if g.coin(0.5) {
            (6.0 * g.uniform() - 3.0, 60.0 * g.uniform() - 10.0)
        } else {
            (g.f(), g.f())
        };
        let t = if g.coin(0.5) {
            6.0 + 120.0 * g.uniform()
        } else {
            g.f()
        };
        let _ = Line::from_sliders(m, b);
        let line = res!(Line::new(m, b));
        let p = res!(line.aim(t));
        checked(true, vec![p], (20.0..=100.0).contains(&p))
    });

    suite.run("QLearner::new / update / q / greedy / choose", |g| {
        let mut q = res!(QLearner::new(g.unit(), g.unit(), g.coin(0.5)));
        let mut rng = core_linalg::seeded_rng(g.small());
        let mut vals = Vec::new();
        let mut right = true;
        for _ in 0..8 {
            let (s, a, r) = (g.index(4), g.index(4), g.f());
            let before = q.clone();
            match q.update(s, a, r) {
                Ok(v) => vals.push(v),
                Err(_) => right &= q == before,
            }
            let _ = q.q(s, a);
            let _ = q.greedy(s);
            let (m, _) = q.choose(&mut rng);
            right &= m < 4 && m != q.state();
        }
        checked(true, vals, right)
    });

    suite.run("Pitcher::throw / measure, Crawler::step", |g| {
        let p = if g.coin(0.5) {
            Pitcher::default()
        } else {
            Pitcher {
                slope: g.f(),
                offset: g.f(),
                noise: g.f().abs(),
            }
        };
        let finite_p = all_finite(&[p.slope, p.offset, p.noise])
            && p.slope.abs() < 1e100
            && p.offset.abs() < 1e100
            && p.noise < 1e100;
        let mut rng = core_linalg::seeded_rng(g.small());
        let power = if g.coin(0.5) {
            20.0 + 80.0 * g.uniform()
        } else {
            g.f() * 100.0
        };
        let d = res!(p.throw(power, &mut rng));
        let _ = p.measure(d);
        let mut c = Crawler::default();
        let to = g.index(4);
        let mut out = vec![d];
        if let Ok((r, _)) = c.step(to, &mut rng) {
            out.push(r);
        }
        ok(finite_p, out)
    });

    suite.run("hub::Hub::handle / tick (generated messages)", |g| {
        let mut hub = Hub::new(g.small());
        let actions = [
            "startup_functionality",
            "change_class",
            "change_mode",
            "change_k",
            "delete_datapoint",
            "change_datapoint_label",
            "place_fruit",
            "press_right",
            "press_left",
            "border",
            "code_start",
            "change_power",
            "pitch_ball",
            "measure_distance",
            "place_target",
            "set_line",
            "fit",
            "continue",
            "pause",
            "reset",
            "epsilon_update",
            "think_future_update",
            "wait_before_next_move_update",
            "",
            "fly",
        ];
        let fields = [
            "class",
            "mode",
            "k",
            "index",
            "label",
            "fruit",
            "power",
            "distance",
            "m",
            "b",
            "exploration",
            "foresight",
            "wait",
        ];
        let mut right = true;
        let mut values = Vec::new();
        for _ in 0..12 {
            let activity = g.pick(&[Activity::Fruit, Activity::Pitcher, Activity::Crawler]);
            let mut payload = serde_json::Map::new();
            for _ in 0..g.below(3) {
                let v = match g.below(6) {
                    0 => json!(g.f()),
                    1 => json!(g.below(20)),
                    2 => json!(g.pick(&[
                        "apple",
                        "banana",
                        "pear",
                        "training",
                        "prediction",
                        "high",
                        "none",
                        ""
                    ])),
                    3 => json!(g.coin(0.5)),
                    4 => Value::Null,
                    _ => json!([1, 2]),
                };
                payload.insert(g.pick(&fields).to_string(), v);
            }
            let msg = Message {
                action: g.pick(&actions).to_string(),
                payload: Value::Object(payload),
            };
            let before = hub.state();
            match hub.handle(activity, &msg) {
                Ok(events) => values.push(events.len() as f64),
                Err(_) => right &= hub.state() == before,
            }
            if let Ok(events) = hub.tick() {
                values.push(events.len() as f64);
            }
        }
        checked(true, values, right)
    });

    suite.finish();
}
