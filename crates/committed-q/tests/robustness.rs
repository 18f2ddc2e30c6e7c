//! Generated bad input through every public entry point of committed-q (the `bad_input`
//! runner: no panic, no call over 2 s, no non-finite output from finite input, and the right
//! answer where an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry point
//! (default 300; 10⁴ for the deep run).
//!
//! Environments are drawn small (1–4 states, 1–3 features, 1–2 actions, 1–3 branches per
//! state–action pair), two times in three valid and else with hostile parts. The independent
//! answers:
//! - **iterative policy evaluation** (repeated Bellman backups of the fixed policy) for
//!   [`evaluate_policy`]'s linear solve;
//! - the **Bellman residual**, computed here from the branch lists, for [`optimal_state_q`];
//! - the value of random deterministic policies (never above the optimum) and the optimum's own
//!   evaluation for [`optimal_reactive_policy`];
//! - the base-`A` digits for [`policy_from_index`];
//! - the corridor's own transition function against its tabular form.
//!
//! Documented panics (checked to happen exactly for out-of-range indices, and never to read
//! another entry): `QTable::get`/`set`/`row`, `TabularEnv::branches`/`expected_reward`.
//! Documented non-finite values: `FixedPoint::q` is NaN where the behaviour never takes `u`.

use bad_input::{checked, panics, res, Gen, Suite};
use committed_q::exact::*;
use committed_q::generators::{
    aliased_chains, multi_entrance, singh_jaakkola_jordan, AliasedChainParams, MultiEntranceParams,
};
use committed_q::*;

fn reward(g: &mut Gen, clean: bool) -> f64 {
    if clean {
        2.0 * g.below(1 << 20) as f64 / f64::from(1u32 << 20) - 1.0
    } else {
        g.f()
    }
}

/// A drawn environment; two times in three every part is valid.
fn env(g: &mut Gen) -> Result<TabularEnv> {
    let clean = g.coin(2.0 / 3.0);
    let n = if clean {
        g.pick(&[1usize, 2, 3, 4])
    } else {
        g.pick(&[0usize, 1, 2, 3])
    };
    let n_features = g.pick(&[1usize, 2, 3]);
    let n_actions = if clean {
        g.pick(&[1usize, 2])
    } else {
        g.pick(&[0usize, 1, 2, usize::MAX / 2 + 1])
    };
    let features: Vec<usize> = (0..n)
        .map(|x| {
            if clean {
                x % n_features
            } else {
                g.index(n_features)
            }
        })
        .collect();
    let initial = if clean {
        g.clean_stochastic(n, 1).as_slice().to_vec()
    } else {
        let l = g.len_near(n);
        g.prob_of(l)
    };
    let cells = if clean {
        n * n_actions
    } else {
        g.len_near(n.saturating_mul(n_actions))
    };
    let branches = (0..cells.min(64))
        .map(|_| {
            let k = g.pick(&[1usize, 2, 3]);
            let mut probs = if clean {
                g.clean_stochastic(k, 1).as_slice().to_vec()
            } else {
                g.prob_of(k)
            };
            // A valid environment must end its episodes: the first branch usually terminates.
            if clean && probs[0] == 0.0 {
                probs[0] = 0.5;
                bad_input::normalise(&mut probs);
            }
            probs
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let next = if (i == 0 && clean) || g.coin(0.2) {
                        None
                    } else if clean {
                        Some(g.below(n))
                    } else {
                        Some(g.index(n))
                    };
                    Branch::new(next, p, reward(g, clean))
                })
                .collect()
        })
        .collect();
    TabularEnv::new(features, n_features, n_actions, initial, branches)
}

/// `Σ_b p_b (r_b + v(next_b))` for the pair `(x, u)`.
fn backup(env: &TabularEnv, x: usize, u: usize, v: &[f64]) -> f64 {
    env.branches(x, u)
        .iter()
        .map(|b| b.prob * (b.reward + b.next.map_or(0.0, |y| v[y])))
        .sum()
}

fn random_policy(g: &mut Gen, env: &TabularEnv) -> Vec<usize> {
    (0..env.n_features())
        .map(|_| g.below(env.n_actions()))
        .collect()
}

/// A valid policy nine times in ten, else one of a drawn length with drawn (often out-of-range)
/// actions.
fn drawn_policy(g: &mut Gen, e: &TabularEnv) -> Vec<usize> {
    if g.coin(0.9) {
        random_policy(g, e)
    } else {
        (0..g.len_near(e.n_features()))
            .map(|_| g.index(e.n_actions()))
            .collect()
    }
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run(
        "TabularEnv::new / branches / expected_reward / states_of",
        |g| {
            let e = res!(env(g));
            let (x, u) = (g.index(e.n_states()), g.index(e.n_actions()));
            let inside = x < e.n_states() && u < e.n_actions();
            let mut right = panics(|| {
                e.branches(x, u);
            }) != inside;
            right &= panics(|| {
                e.expected_reward(x, u);
            }) != inside;
            let mut v = Vec::new();
            if inside {
                let r = e.expected_reward(x, u);
                // Independent: the row of (x, u) in the flat branch table is the one `branches`
                // returns (no other state's row).
                right &= e
                    .branches(x, u)
                    .iter()
                    .all(|b| b.next.is_none_or(|y| y < e.n_states()));
                v.push(r);
            }
            let z = g.index(e.n_features());
            right &= e.states_of(z).all(|x| e.feature(x) == z);
            right &= (e.initial().iter().sum::<f64>() - 1.0).abs() < 1e-6;
            checked(true, v, right)
        },
    );

    suite.run("evaluate_policy (against iterative evaluation)", |g| {
        let e = res!(env(g));
        let pol = if g.coin(0.8) {
            random_policy(g, &e)
        } else {
            (0..g.len_near(e.n_features()))
                .map(|_| g.index(e.n_actions()))
                .collect()
        };
        let p = res!(ReactivePolicy::deterministic(&pol, e.n_actions()));
        let val = res!(evaluate_policy(&e, &p));
        // Independent: v ← r̄ + P v from v = 0 until it stops moving.
        let n = e.n_states();
        let mut v = vec![0.0; n];
        let mut converged = false;
        for _ in 0..200_000 {
            let next: Vec<f64> = (0..n)
                .map(|x| backup(&e, x, pol[e.feature(x)], &v))
                .collect();
            let d = next
                .iter()
                .zip(&v)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            v = next;
            if d <= 1e-14 * v.iter().fold(1.0f64, |m, x| m.max(x.abs())) {
                converged = true;
                break;
            }
        }
        let mut right = true;
        if converged {
            let want: f64 = e.initial().iter().zip(&v).map(|(p, v)| p * v).sum();
            right &= (val.value - want).abs() <= 1e-7 * want.abs().max(1.0);
            for (x, sv) in val.state_values.iter().enumerate() {
                if let Some(sv) = sv {
                    right &= (sv - v[x]).abs() <= 1e-7 * v[x].abs().max(1.0);
                }
            }
        }
        let mut out = vec![val.value];
        out.extend(val.state_values.iter().flatten());
        checked(true, out, right)
    });

    suite.run("optimal_reactive_policy (no policy does better)", |g| {
        let e = res!(env(g));
        let opt = res!(optimal_reactive_policy(&e));
        let mut right = opt.policy.len() == e.n_features() && opt.proper <= opt.enumerated;
        let own = res!(evaluate_policy(
            &e,
            &res!(ReactivePolicy::deterministic(&opt.policy, e.n_actions()))
        ));
        right &= (own.value - opt.value).abs() <= 1e-9 * opt.value.abs().max(1.0);
        for _ in 0..4 {
            let p = random_policy(g, &e);
            if let Ok(v) = evaluate_policy(
                &e,
                &ReactivePolicy::deterministic(&p, e.n_actions()).unwrap(),
            ) {
                right &= v.value <= opt.value + 1e-9 * opt.value.abs().max(1.0);
            }
        }
        let mut out = vec![opt.value];
        out.extend(opt.runner_up);
        checked(true, out, right)
    });

    suite.run(
        "optimal_state_q / q_star_realizability (Bellman residual)",
        |g| {
            let e = res!(env(g));
            let q = res!(optimal_state_q(&e));
            let v: Vec<f64> = (0..e.n_states())
                .map(|x| q.row(x).iter().copied().fold(f64::NEG_INFINITY, f64::max))
                .collect();
            let scale = q.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            let mut right = (0..e.n_states()).all(|x| {
                (0..e.n_actions()).all(|u| (q[(x, u)] - backup(&e, x, u, &v)).abs() <= 1e-9 * scale)
            });
            let tol = g.unit();
            if let Ok(r) = q_star_realizability(&e, tol) {
                right &= r.max_spread >= 0.0 && r.realizable == (r.max_spread <= tol);
            }
            checked(true, q.iter().copied().collect(), right)
        },
    );

    suite.run("behaviour_fixed_point", |g| {
        let e = res!(env(g));
        let b = if g.coin(0.5) {
            Behaviour::Committed
        } else {
            Behaviour::Regular
        };
        let pol = drawn_policy(g, &e);
        let eps = g.unit();
        let fp = res!(behaviour_fixed_point(&e, b, &pol, eps));
        // Documented: NaN where the behaviour never takes u at z.
        let mut out: Vec<f64> =
            fp.q.iter()
                .zip(fp.visited.iter())
                .filter(|(_, &vis)| vis)
                .map(|(&q, _)| q)
                .collect();
        out.push(fp.residual);
        let right = fp.greedy.iter().all(|&u| u < e.n_actions())
            && fp
                .q
                .iter()
                .zip(fp.visited.iter())
                .all(|(q, &vis)| vis || q.is_nan());
        checked(eps.is_finite(), out, right)
    });

    suite.run("policy_from_index (base-A digits)", |g| {
        let (f, a) = (
            g.pick(&[0usize, 1, 2, 5, 64, 1 << 40, usize::MAX]),
            g.pick(&[0usize, 1, 2, 3, usize::MAX]),
        );
        let index = g.pick(&[0u64, 1, 5, 1000, u64::MAX]);
        let p = res!(policy_from_index(index, f, a));
        // Independent: Σ_z p[z]·A^z reassembles the index.
        let mut back: u128 = 0;
        let mut w: u128 = 1;
        for &u in &p {
            back += u as u128 * w;
            w = w.saturating_mul(a as u128);
        }
        checked(
            true,
            vec![],
            p.len() == f && p.iter().all(|&u| u < a) && back == index as u128,
        )
    });

    suite.run(
        "QTable (zeros, from_rows, random, get/set/row, greedy, max_abs_diff)",
        |g| {
            let rows: Vec<Vec<f64>> = (0..g.pick(&[0usize, 1, 2, 3]))
                .map(|_| {
                    let l = g.len_near(2);
                    g.vec_of(l)
                })
                .collect();
            // Documented: random entries overflow to ±∞ for std beyond about 1e307.
            let mut fin = rows.iter().flatten().all(|x| x.is_finite());
            let q = if g.coin(0.5) {
                res!(QTable::from_rows(&rows))
            } else {
                let (f, a) = (g.below(4), g.below(3));
                if g.coin(0.5) {
                    QTable::zeros(f, a)
                } else {
                    let mut rng = core_linalg::seeded_rng(1);
                    let std = g.unit().abs();
                    fin = std <= 1e300;
                    QTable::random(f, a, std, &mut rng)
                }
            };
            let (z, u) = (g.index(q.n_features()), g.index(q.n_actions()));
            let inside = z < q.n_features() && u < q.n_actions();
            let mut right = panics(|| {
                q.get(z, u);
            }) != inside;
            let mut q2 = q.clone();
            right &= panics(|| q2.set(z, u, 7.0)) != inside;
            if inside && fin {
                // Independent: the entry set is the one read, and no other entry moved.
                let mut q3 = q.clone();
                q3.set(z, u, 7.0);
                right &= q3.get(z, u) == 7.0 && q3.to_matrix()[(z, u)] == 7.0;
                let m = q3.to_matrix();
                let m0 = q.to_matrix();
                right &= m.iter().zip(m0.iter()).filter(|(a, b)| a != b).count() <= 1;
                right &= q.row(z)[u] == q.get(z, u);
                let gz = q.greedy(z);
                right &= q.row(z).iter().all(|&v| v <= q.get(z, gz)) && q.max(z) == q.get(z, gz);
            }
            right &= q.max_abs_diff(&q) == 0.0 || q.to_matrix().iter().any(|x| !x.is_finite());
            right &= q.greedy_policy().len() == q.n_features();
            let _ = q.strictly_prefers(&q.greedy_policy());
            let v: Vec<f64> = q.to_matrix().iter().copied().collect();
            checked(fin, v, right)
        },
    );

    suite.run("ReactivePolicy::deterministic / from_rows / prob", |g| {
        let a = g.pick(&[0usize, 1, 2, 3]);
        let rows: Vec<Vec<f64>> = (0..g.pick(&[0usize, 1, 2]))
            .map(|_| {
                let l = g.len_near(a);
                g.prob_of(l)
            })
            .collect();
        let p = res!(ReactivePolicy::from_rows(&rows));
        let right = (0..p.n_features())
            .all(|z| ((0..p.n_actions()).map(|u| p.prob(z, u)).sum::<f64>() - 1.0).abs() < 1e-6);
        let acts: Vec<usize> = (0..g.below(3)).map(|_| g.index(a)).collect();
        let ok_det = ReactivePolicy::deterministic(&acts, a).is_ok();
        let right = right && ok_det == (!acts.is_empty() && acts.iter().all(|&u| u < a));
        checked(true, vec![], right)
    });

    suite.run("QLearner (new, with_q, step, run) / q_update", |g| {
        let e = res!(env(g));
        let b = if g.coin(0.5) {
            Behaviour::Committed
        } else {
            Behaviour::Regular
        };
        let horizon = g.pick(&[0u64, 1, 10, 1000, u64::MAX]);
        let mut params = QLearningParams::new(b, horizon).uniform_first_action(g.coin(0.5));
        if g.coin(0.5) {
            params = params
                .alpha(g.unit(), g.unit())
                .epsilon(g.unit(), g.unit())
                .q_init_std(g.f());
        }
        let fin = true;
        let valid = res!(params.check());
        let mut rng = core_linalg::seeded_rng(g.below(100) as u64);
        let mut l = QLearner::new(&e, valid, &mut rng);
        let mut right = true;
        for _ in 0..50 {
            let s = l.step(&mut rng);
            right &= s.state < e.n_states()
                && s.action < e.n_actions()
                && s.feature == e.feature(s.state);
        }
        l.run(100, &mut rng);
        right &= l.steps() == 150 && l.episodes() <= 150;
        let q: Vec<f64> = l.q().to_matrix().iter().copied().collect();
        if let Ok(mut l2) =
            QLearner::with_q(&e, valid, QTable::zeros(e.n_features(), e.n_actions()))
        {
            l2.run(20, &mut rng);
        }
        let mut t = QTable::zeros(e.n_features(), e.n_actions());
        let td = q_update(&mut t, 0, 0, reward(g, true), Some(0), 0.5);
        right &= (t.get(0, 0) - 0.5 * td).abs() <= 1e-15;
        let mut v = q;
        v.push(td);
        checked(fin, v, right)
    });

    suite.run("DecaySchedule / QLearningParams::check", |g| {
        let (a, b, h) = (g.f(), g.f(), g.pick(&[0u64, 1, 2, 1000, u64::MAX]));
        let s = res!(DecaySchedule::new(a, b, h));
        let t = g.pick(&[0u64, 1, 500, 1000, u64::MAX]);
        let v = s.at(t);
        let (c0, ct, _) = s.parts();
        // Independent: c(0) = c₀, c(T) = c_T, and it never rises.
        let right = s.at(0) == c0
            && (s.at(h) - ct).abs() <= 1e-9 * c0
            && v <= c0
            && v >= 0.0
            && s.at(t.saturating_add(1)) <= v;
        checked(true, vec![v], right)
    });

    suite.run("Corridor (against its tabular form)", |g| {
        let k = g.pick(&[
            0usize,
            1,
            2,
            5,
            100,
            10_000,
            usize::MAX / 4,
            usize::MAX / 4 + 1,
            usize::MAX,
        ]);
        let c = res!(Corridor::new(k));
        let (x, u) = (g.index(c.n_states()), g.index(2));
        let inside = x < c.n_states() && u < 2;
        let mut right = panics(|| {
            c.transition(x, u);
        }) != inside
            && !c.is_empty();
        if k <= 10_000 && inside {
            let t = c.to_tabular();
            right &= t.n_states() == c.n_states() && t.n_features() == 2;
            let tr = c.transition(x, u);
            let b = t.branches(x, u);
            right &= b.len() == 1
                && b[0].next == tr.next
                && b[0].reward == tr.reward
                && b[0].prob == 1.0;
        }
        checked(true, vec![], right)
    });

    suite.run(
        "sojourn_law / entrance_distributions / smdp_optimum / features_reached (laws conserve mass)",
        |g| {
            let e = res!(env(g));
            let pol = drawn_policy(g, &e);
            let eps = g.unit();
            let reached = res!(features_reached(&e, &pol));
            let tiny = e.initial().iter().any(|&p| p > 0.0 && p < 1e-100)
                || (0..e.n_states()).any(|x| {
                    (0..e.n_actions())
                        .any(|u| e.branches(x, u).iter().any(|b| b.prob > 0.0 && b.prob < 1e-100))
                });
            let rho = res!(entrance_distributions(&e, &pol, eps));
            let mut out = Vec::new();
            let mut right = reached.len() == e.n_features() && rho.len() == e.n_features();
            // Independent: a law's exits and termination sum to one and its length is ≥ 1.
            for (z, r) in rho.iter().enumerate() {
                if let Some(r) = r {
                    right &= (r.iter().sum::<f64>() - 1.0).abs() < 1e-9;
                    let u = g.index(e.n_actions());
                    if let Ok(law) = sojourn_law(&e, z, u, r) {
                        let mass = law.termination + law.exit_features.iter().sum::<f64>();
                        right &= (mass - 1.0).abs() < 1e-6 && law.length >= 1.0 - 1e-9;
                        out.extend([law.reward, law.length, law.termination]);
                    }
                }
                // Documented: an entrance mass that underflows f64 (probabilities near 1e-300
                // multiplied) counts as never entered.
                if reached[z] && !tiny {
                    right &= rho[z].is_some();
                }
            }
            if let Ok(smdp) = smdp_optimum(&e, &rho) {
                right &= smdp.policy.iter().all(|&u| u < e.n_actions());
                out.extend(smdp.values.iter().copied().filter(|v| !v.is_nan()));
            }
            // A hostile entrance straight into sojourn_law.
            let len = g.len_near(e.n_states());
            let bad = g.prob_of(len);
            if let Ok(law) = sojourn_law(&e, g.index(e.n_features()), g.index(e.n_actions()), &bad) {
                out.push(law.reward);
            }
            checked(eps.is_finite(), out, right)
        },
    );

    suite.run(
        "quasi_markov / rewire_robustness (robustness ⇐ identical laws)",
        |g| {
            let e = res!(env(g));
            let eps = g.unit();
            let tol = if g.coin(0.8) { 1e-9 } else { g.f() };
            let qm = res!(quasi_markov(&e, eps, tol));
            let rr = res!(rewire_robustness(&e, eps, 1e-9));
            let right = qm.policies >= 1 && rr.policies == qm.policies;
            checked(
                eps.is_finite() && tol.is_finite(),
                vec![qm.max_discrepancy, rr.optimum],
                right,
            )
        },
    );

    suite.run("multi_entrance (identical chains are quasi-Markov)", |g| {
        let p = if g.coin(0.5) {
            MultiEntranceParams {
                n_features: g.pick(&[1usize, 2, 3]),
                n_actions: g.pick(&[1usize, 2]),
                entrances: g.pick(&[2usize, 3]),
                min_len: 1,
                max_len: g.pick(&[1usize, 2]),
                termination: 0.1,
                identical: g.coin(0.5),
            }
        } else {
            MultiEntranceParams {
                n_features: g.pick(&[0usize, 1, 2, 3, 1 << 40]),
                n_actions: g.pick(&[0usize, 1, 2, 1 << 40]),
                entrances: g.pick(&[0usize, 1, 2, 3, usize::MAX]),
                min_len: g.pick(&[0usize, 1, 2, 1 << 40]),
                max_len: g.pick(&[0usize, 1, 3, usize::MAX]),
                termination: g.unit(),
                identical: g.coin(0.5),
            }
        };
        let mut rng = core_linalg::seeded_rng(g.below(1000) as u64);
        let e = res!(multi_entrance(&p, &mut rng));
        let mut right = e.n_actions() == p.n_actions && e.n_features() == p.n_features;
        if p.identical && e.n_states() <= 12 && p.termination > 0.01 {
            if let Ok(qm) = quasi_markov(&e, 0.1, 1e-9) {
                right &= qm.holds;
            }
        }
        checked(true, vec![], right)
    });

    suite.run(
        "log_spaced / run_recorded / run_seeds / gamma / time_limit",
        |g| {
            let horizon = g.small();
            let n = g.pick(&[0usize, 1, 3, 20, 1 << 40]);
            let ts = match log_spaced(horizon, n.min(64)) {
                Ok(ts) => ts,
                Err(_) => [vec![], vec![5u64, 3], vec![1u64, 2, 2]][g.below(3)].clone(),
            };
            let e = res!(env(g));
            let params = res!(QLearningParams::committed(horizon.max(1))
                .gamma(g.unit())
                .time_limit(g.small())
                .check());
            let ts: Vec<u64> = ts.into_iter().map(|t| t.min(2000)).collect();
            let runs = res!(run_seeds(&e, params, &ts, g.small(), &[0, 1]));
            // Independent: one table per checkpoint, each of the right shape, and the same as
            // a second call (seeded).
            let again = res!(run_seeds(&e, params, &ts, 0, &[0]));
            let right = runs.iter().all(|r| {
                r.qs.len() == ts.len()
                    && r.qs
                        .iter()
                        .all(|q| q.n_features() == e.n_features() && q.n_actions() == e.n_actions())
            }) && again.len() == 1;
            let values: Vec<f64> = runs
                .iter()
                .flat_map(|r| {
                    r.qs.iter()
                        .flat_map(|q| q.to_matrix().iter().copied().collect::<Vec<_>>())
                })
                .collect();
            checked(true, values, right)
        },
    );

    suite.run("aliased_chains / singh_jaakkola_jordan", |g| {
        let p = AliasedChainParams {
            n_features: g.pick(&[0usize, 1, 2, 4, 1 << 40]),
            n_actions: g.pick(&[0usize, 1, 2, 1 << 40]),
            min_len: g.pick(&[0usize, 1, 3, 1 << 40]),
            max_len: g.pick(&[0usize, 1, 4, usize::MAX]),
            termination: g.unit(),
        };
        let mut rng = core_linalg::seeded_rng(5);
        if let Ok(e) = aliased_chains(&p, &mut rng) {
            if e.n_actions() != p.n_actions || e.n_features() != p.n_features {
                return checked(true, vec![], false);
            }
        }
        let s = res!(singh_jaakkola_jordan(g.unit()));
        checked(true, vec![], s.n_states() == 2)
    });

    suite.finish();
}
