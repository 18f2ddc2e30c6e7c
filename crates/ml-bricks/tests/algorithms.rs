//! The algorithms against independent references: a brute-force nearest-neighbour search by
//! repeated minimum, the decision map against per-point prediction on lattices full of ties,
//! least squares against the normal equations solved by Cramer's rule and an exact line, the
//! Q-update against a hand-computed trace, and the best gait against every closed walk.

use ml_bricks::knn::{decision_grid, distance, predict, Fruit, Grid, Sample, Vote};
use ml_bricks::linreg::{least_squares, mse, residuals, Line, Throw};
use ml_bricks::qlearn::{Exploration, Mode, QLearner, POSES};
use ml_bricks::sim::{measure_fruit, Crawler, Pitcher};
use ml_bricks::BricksError;
use rand::RngExt;

/// The `k` nearest by repeatedly taking the nearest remaining point (ties: lower index), and
/// the vote counted by hand.
fn brute_force(train: &[Sample], g: f64, l: f64, k: usize) -> (Vote, Vec<usize>) {
    let mut left: Vec<usize> = (0..train.len()).collect();
    let mut chosen = Vec::new();
    while chosen.len() < k.min(train.len()) {
        let mut best = 0;
        for (j, &i) in left.iter().enumerate() {
            let (di, db) = (
                distance(g, l, &train[i]),
                distance(g, l, &train[left[best]]),
            );
            if di < db || (di == db && i < left[best]) {
                best = j;
            }
        }
        chosen.push(left.remove(best));
    }
    let apples = chosen
        .iter()
        .filter(|&&i| train[i].label == Fruit::Apple)
        .count();
    let bananas = chosen.len() - apples;
    let vote = if apples > bananas {
        Vote::Apple
    } else if bananas > apples {
        Vote::Banana
    } else {
        Vote::Undecided
    };
    (vote, chosen)
}

/// Training sets on a coarse lattice (many exact ties and duplicates), random labels.
fn lattice(n: usize, rng: &mut core_linalg::Rng) -> Vec<Sample> {
    (0..n)
        .map(|_| {
            let g = 128.0 * rng.random_range(0..9) as f64;
            let l = 2.5 * rng.random_range(0..8) as f64;
            let label = if rng.random::<bool>() {
                Fruit::Apple
            } else {
                Fruit::Banana
            };
            Sample::new(g, l, label).unwrap()
        })
        .collect()
}

#[test]
fn knn_matches_brute_force_and_the_map_matches_prediction() {
    let mut rng = core_linalg::seeded_rng(11);
    for trial in 0..40 {
        let n = [1usize, 2, 5, 17, 40][trial % 5];
        let train = lattice(n, &mut rng);
        for k in [1usize, 2, 3, 4, 8, 17] {
            for _ in 0..20 {
                let g = 1024.0 * rng.random::<f64>();
                let l = 20.0 * rng.random::<f64>();
                let p = predict(&train, g, l, k).unwrap();
                let (v, idx) = brute_force(&train, g, l, k);
                assert_eq!(p.vote, v);
                assert_eq!(p.neighbours, idx);
            }
            let res = 37;
            let grid = decision_grid(&train, k, res).unwrap();
            for r in 0..res {
                for c in 0..res {
                    let (g, l) = Grid::centre(res, r, c);
                    assert_eq!(
                        grid.cells[r * res + c],
                        predict(&train, g, l, k).unwrap().vote,
                        "n {n}, k {k}, cell ({r}, {c})"
                    );
                }
            }
        }
    }
}

#[test]
fn knn_hand_cases() {
    let a = Sample::new(100.0, 5.0, Fruit::Apple).unwrap();
    let b = Sample::new(900.0, 18.0, Fruit::Banana).unwrap();
    // √((800/1024)² + (13/20)²)
    let d = ((800.0f64 / 1024.0).powi(2) + (13.0f64 / 20.0).powi(2)).sqrt();
    assert!((distance(100.0, 5.0, &b) - d).abs() < 1e-15);
    assert_eq!(predict(&[a, b], 120.0, 6.0, 1).unwrap().vote, Vote::Apple);
    // k = 2 with one of each: a tie, whatever the distances.
    assert_eq!(
        predict(&[a, b], 120.0, 6.0, 2).unwrap().vote,
        Vote::Undecided
    );
    // k beyond the data: every point votes.
    assert_eq!(predict(&[a], 500.0, 10.0, 17).unwrap().neighbours, vec![0]);
    let errs = [
        predict(&[], 1.0, 1.0, 3).unwrap_err(),
        predict(&[a], 1.0, 1.0, 0).unwrap_err(),
        predict(&[a], 1.0, 1.0, 18).unwrap_err(),
        predict(&[a], f64::NAN, 1.0, 3).unwrap_err(),
        predict(&[a], 1.0, 21.0, 3).unwrap_err(),
        predict(&[a], 1025.0, 1.0, 3).unwrap_err(),
        decision_grid(&[a], 3, 0).unwrap_err(),
        Sample::new(-1.0, 3.0, Fruit::Apple).unwrap_err(),
    ];
    assert!(matches!(errs[0], BricksError::TooFew { .. }));
    assert!(matches!(errs[1], BricksError::OutOfRange { what: "k", .. }));
    assert!(matches!(errs[3], BricksError::NonFinite { .. }));
    for e in errs {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn least_squares_matches_the_normal_equations() {
    let mut rng = core_linalg::seeded_rng(5);
    let p = Pitcher::default();
    for _ in 0..200 {
        let n = 2 + rng.random_range(0..10);
        let throws: Vec<Throw> = (0..n)
            .map(|_| {
                let power = 20.0 + 80.0 * rng.random::<f64>();
                let d = p.throw(power, &mut rng).unwrap().clamp(5.5, 129.5);
                Throw::new(d, power).unwrap()
            })
            .collect();
        let line = least_squares(&throws).unwrap();
        // [Σd² Σd; Σd n] [m b]ᵀ = [Σdp; Σp] by Cramer's rule.
        let (sdd, sd, sdp, sp) = throws.iter().fold((0.0, 0.0, 0.0, 0.0), |a, t| {
            (
                a.0 + t.distance * t.distance,
                a.1 + t.distance,
                a.2 + t.distance * t.power,
                a.3 + t.power,
            )
        });
        let det = sdd * n as f64 - sd * sd;
        let m = (sdp * n as f64 - sd * sp) / det;
        let b = (sdd * sp - sd * sdp) / det;
        assert!(
            (line.m - m).abs() < 1e-8 * m.abs().max(1.0),
            "{} vs {m}",
            line.m
        );
        assert!(
            (line.b - b).abs() < 1e-8 * b.abs().max(1.0),
            "{} vs {b}",
            line.b
        );
        // The residuals of least squares sum to zero and are orthogonal to the distances.
        let r = residuals(&throws, &line);
        let scale: f64 = throws.iter().map(|t| t.power.abs()).sum();
        assert!(r.iter().sum::<f64>().abs() < 1e-9 * scale);
        let best = mse(&throws, &line).unwrap();
        for (dm, db) in [(0.01, 0.0), (-0.01, 0.0), (0.0, 0.01), (0.0, -0.01)] {
            assert!(mse(&throws, &Line::new(line.m + dm, line.b + db).unwrap()).unwrap() >= best);
        }
    }
    // An exact line comes back exactly (to rounding).
    let exact: Vec<Throw> = [10.0, 40.0, 70.0, 100.0]
        .iter()
        .map(|&d| Throw::new(d, 0.5 * d + 15.0).unwrap())
        .collect();
    let line = least_squares(&exact).unwrap();
    assert!((line.m - 0.5).abs() < 1e-12 && (line.b - 15.0).abs() < 1e-10);
    assert_eq!(line.aim(50.0).unwrap(), 40.0);
    assert_eq!(Line::new(3.0, 50.0).unwrap().aim(100.0).unwrap(), 100.0); // clamped
    assert_eq!(Line::new(-3.0, 0.0).unwrap().aim(10.0).unwrap(), 20.0); // clamped
    assert_eq!(
        Line::new(0.333, 10.0).unwrap().aim(30.0).unwrap(),
        19.0f64.max(20.0)
    );
    assert!(least_squares(&exact[..1]).is_err());
    let same: Vec<Throw> = (0..3)
        .map(|i| Throw::new(40.0, 30.0 + i as f64).unwrap())
        .collect();
    assert!(matches!(
        least_squares(&same),
        Err(BricksError::Degenerate(_))
    ));
    assert!(Throw::new(5.0, 50.0).is_err() && Throw::new(50.0, 101.0).is_err());
    assert!(Line::from_sliders(3.5, 0.0).is_err() && Line::new(f64::NAN, 0.0).is_err());
    assert!(line.aim(f64::INFINITY).is_err() && mse(&[], &line).is_err());
}

#[test]
fn q_learning_follows_the_update_and_explores_the_unknown() {
    // α = 1, γ = 1, worked by hand.
    let mut q = QLearner::new(1.0, 0.0, true).unwrap();
    assert_eq!(q.update(0, 1, 2.0).unwrap(), 2.0);
    assert_eq!(q.update(1, 2, 3.0).unwrap(), 3.0);
    assert_eq!(q.update(2, 1, 1.0).unwrap(), 4.0); // 1 + Q[1][2]
    assert_eq!(q.update(1, 2, 3.0).unwrap(), 7.0); // 3 + Q[2][1]
    assert_eq!(q.state(), 2);
    assert_eq!(q.known(), 3);
    assert_eq!(q.q(1, 1).unwrap(), None);
    // Greedy ties go to the lowest index; from 3 every Q is 0.
    assert_eq!(q.greedy(3).unwrap(), 0);
    assert_eq!(q.greedy(1).unwrap(), 2);
    // Errors leave the learner as it was.
    let before = q.clone();
    assert!(q.update(1, 1, 1.0).is_err());
    assert!(q.update(4, 1, 1.0).is_err());
    assert!(q.update(0, 1, f64::NAN).is_err());
    assert!(q.set_epsilon(1.5).is_err());
    assert_eq!(q, before);
    // ε = 1: from pose 0 with 0 → 1 and 0 → 2 known, the only unknown move is 0 → 3.
    let mut e = QLearner::new(1.0, 1.0, false).unwrap();
    e.update(1, 0, 0.0).unwrap();
    e.update(0, 1, 1.0).unwrap();
    e.update(1, 0, 0.0).unwrap();
    e.update(0, 2, 1.0).unwrap();
    e.update(2, 0, 0.0).unwrap();
    let mut rng = core_linalg::seeded_rng(3);
    for _ in 0..50 {
        assert_eq!(e.choose(&mut rng), (3, Mode::Exploration));
    }
    let page = QLearner::page(Exploration::None, false);
    assert_eq!(page.choose(&mut rng).1, Mode::Exploitation);
    assert!(QLearner::new(0.0, 0.5, false).is_err());
    assert!(QLearner::new(1.0, -0.1, false).is_err());
}

#[test]
fn the_best_gait_is_the_best_closed_walk() {
    let c = Crawler::default();
    // Every closed walk of up to 6 moves (a cycle of the best mean is a simple one).
    fn walks(c: &Crawler, path: &mut Vec<usize>, best: &mut f64) {
        if path.len() >= 3 && path[0] == *path.last().unwrap() {
            let w: f64 = path.windows(2).map(|p| c.mean[p[0]][p[1]]).sum();
            *best = best.max(w / (path.len() - 1) as f64);
        }
        if path.len() == 7 {
            return;
        }
        for next in 0..POSES {
            if next != *path.last().unwrap() {
                path.push(next);
                walks(c, path, best);
                path.pop();
            }
        }
    }
    let mut best = f64::NEG_INFINITY;
    for s in 0..POSES {
        walks(&c, &mut vec![s], &mut best);
    }
    assert!((c.best_cycle_rate() - best).abs() < 1e-12);
    assert!((best - 3.0).abs() < 1e-12);
}

#[test]
fn simulators_stay_in_the_sensors_ranges() {
    let mut rng = core_linalg::seeded_rng(9);
    for _ in 0..10_000 {
        for f in [Fruit::Apple, Fruit::Banana] {
            let s = measure_fruit(f, &mut rng);
            assert!(Sample::new(s.green, s.length, f).is_ok());
        }
    }
    let p = Pitcher::default();
    assert!(p.throw(19.0, &mut rng).is_err() && p.throw(f64::NAN, &mut rng).is_err());
    assert!(p.measure(4.0).is_err() && p.measure(60.0).is_ok());
    let mut c = Crawler::default();
    assert!(c.step(0, &mut rng).is_err() && c.step(4, &mut rng).is_err());
    let (r, _) = c.step(1, &mut rng).unwrap();
    assert!((r - 0.5).abs() < 5.0 * 0.3);
}
