//! The exact law against independent references: the binomial identity
//! I_x(a, b) = P(Bin(a + b − 1, x) ≥ a), the paper notes' table, direct sums, and scans.

use conformal::theory::{min_calibration_size, pac_rank, plan_calibration_size, CoverageLaw};
use conformal::ConformalError;
use core_linalg::{beta_cdf, binomial_cdf};

#[test]
fn beta_table_of_the_notes_via_the_binomial_identity() {
    // (n, P(cov < .90), P(cov < .85)) from the notes, α = 0.1.
    let table = [
        (10, 0.349, 0.197),
        (20, 0.392, 0.176),
        (50, 0.431, 0.112),
        (100, 0.451, 0.055),
        (200, 0.466, 0.015),
    ];
    for (n, p90, p85) in table {
        let law = CoverageLaw::new(n, 0.1).unwrap();
        let (a, b) = law.shapes().unwrap();
        assert_eq!(b as usize, (n + 1) / 10);
        for (t, want) in [(0.90, p90), (0.85, p85)] {
            // P(C < t) = I_t(a, b) = P(Bin(a + b − 1, t) ≥ a), independently of statrs' beta.
            let via_binomial = 1.0 - binomial_cdf(a as u64 - 1, (a + b - 1.0) as u64, t).unwrap();
            assert!((law.prob_below(t).unwrap() - via_binomial).abs() < 1e-10);
            assert!(
                (via_binomial - want).abs() < 6e-4,
                "n={n} t={t}: {via_binomial} vs {want}"
            );
        }
        // Quantiles invert the CDF.
        for p in [0.05, 0.95] {
            let q = law.quantile(p).unwrap();
            assert!((beta_cdf(q, a, b).unwrap() - p).abs() < 1e-9);
        }
    }
}

#[test]
fn trivial_sizes_and_minimum() {
    assert_eq!(min_calibration_size(0.1).unwrap(), 9);
    assert_eq!(min_calibration_size(0.05).unwrap(), 19);
    assert_eq!(min_calibration_size(0.01).unwrap(), 99);
    assert_eq!(min_calibration_size(0.3).unwrap(), 3);
    let law = CoverageLaw::new(8, 0.1).unwrap();
    assert!(law.is_trivial() && law.mean() == 1.0 && law.prob_below(0.999).unwrap() == 0.0);
    assert!(!CoverageLaw::new(9, 0.1).unwrap().is_trivial());
}

#[test]
fn empirical_law_moments_match_direct_sums() {
    let law = CoverageLaw::new(30, 0.1).unwrap();
    let e = law.on_test_points(57).unwrap();
    let (mut mass, mut m1, mut m2) = (0.0, 0.0, 0.0);
    for k in 0..=57 {
        let p = e.pmf(k).unwrap();
        let c = k as f64 / 57.0;
        mass += p;
        m1 += p * c;
        m2 += p * c * c;
    }
    assert!((mass - 1.0).abs() < 1e-12);
    assert!((m1 - e.mean()).abs() < 1e-12);
    assert!(((m2 - m1 * m1).sqrt() - e.sd()).abs() < 1e-12);
    // P(K/m < t) by a direct sum.
    let t = 0.85;
    let direct: f64 = (0..=57)
        .filter(|&k| (k as f64) / 57.0 < t)
        .map(|k| e.pmf(k).unwrap())
        .sum();
    assert!((e.prob_below(t).unwrap() - direct).abs() < 1e-12);
}

#[test]
fn planner_and_pac_against_scans() {
    for (alpha, eps, delta) in [
        (0.1, 0.03, 0.1),
        (0.1, 0.01, 0.05),
        (0.2, 0.05, 0.2),
        (0.05, 0.02, 0.1),
        (0.3, 0.1, 0.01),
    ] {
        let plan = plan_calibration_size(alpha, eps, delta).unwrap();
        let t = 1.0 - alpha - eps;
        let ok = |n: usize| {
            1.0 - CoverageLaw::new(n, alpha).unwrap().prob_below(t).unwrap() >= 1.0 - delta
        };
        let start = min_calibration_size(alpha).unwrap();
        assert!(ok(plan.first_n));
        assert!((start..plan.first_n).all(|n| !ok(n)));
        // Stable: every size from n₀ to the horizon meets the target, and n₀ is the smallest
        // such size.
        assert!(plan.verified_up_to >= 2 * plan.n);
        assert!(
            (plan.n..=plan.verified_up_to).all(ok),
            "{alpha} {eps} {delta}"
        );
        assert!(plan.n == plan.first_n || !ok(plan.n - 1));
        assert!(plan.n >= plan.first_n);
    }
    // The saw-tooth makes the two differ somewhere: α = 0.1, ε = 0.01, δ = 0.05.
    let p = plan_calibration_size(0.1, 0.01, 0.05).unwrap();
    eprintln!("first {} stable {}", p.first_n, p.n);
    for n in [30, 100, 777] {
        let l = pac_rank(n, 0.1, 0.05).unwrap();
        let scan = (1..=n)
            .filter(|&l| beta_cdf(0.9, (n + 1 - l) as f64, l as f64).unwrap() <= 0.05)
            .max();
        assert_eq!(l, scan, "n = {n}");
    }
    assert_eq!(pac_rank(10, 0.1, 0.05).unwrap(), None);
}

#[test]
fn theory_errors() {
    assert!(matches!(
        CoverageLaw::new(10, 0.0),
        Err(ConformalError::Alpha(_))
    ));
    assert!(matches!(
        CoverageLaw::new(10, 1.0),
        Err(ConformalError::Alpha(_))
    ));
    assert!(matches!(
        CoverageLaw::new(10, f64::NAN),
        Err(ConformalError::Alpha(_))
    ));
    let law = CoverageLaw::new(10, 0.1).unwrap();
    assert!(matches!(
        law.on_test_points(0),
        Err(ConformalError::Empty { .. })
    ));
    assert!(law.on_test_points(5).unwrap().quantile(1.5).is_err());
    assert!(matches!(
        plan_calibration_size(0.1, 0.0, 0.1),
        Err(ConformalError::Parameter { .. })
    ));
    assert!(matches!(
        plan_calibration_size(0.1, 0.95, 0.1),
        Err(ConformalError::Parameter { .. })
    ));
    assert!(matches!(
        plan_calibration_size(0.1, 0.01, 1.0),
        Err(ConformalError::Parameter { .. })
    ));
    assert!(matches!(
        plan_calibration_size(0.1, 1e-7, 1e-3),
        Err(ConformalError::ImpossibleTarget { .. })
    ));
    assert!(matches!(
        pac_rank(100, 0.1, 0.0),
        Err(ConformalError::Parameter { .. })
    ));
}

#[test]
fn empirical_quantile_is_the_first_k_by_cumulative_mass_and_scales() {
    let e = CoverageLaw::new(50, 0.1)
        .unwrap()
        .on_test_points(40)
        .unwrap();
    for p in [0.0, 0.01, 0.05, 0.5, 0.95, 1.0] {
        let mut acc = 0.0;
        let mut want = 1.0;
        for k in 0..=40 {
            acc += e.pmf(k).unwrap();
            if acc >= p - 1e-12 {
                want = k as f64 / 40.0;
                break;
            }
        }
        assert_eq!(e.quantile(p).unwrap(), want, "p = {p}");
    }
    // 10⁵ test points: a binary search over the O(m) CDF, not m pmf sums of O(m) each.
    let t0 = std::time::Instant::now();
    let big = CoverageLaw::new(1000, 0.1)
        .unwrap()
        .on_test_points(100_000)
        .unwrap();
    let q = big.quantile(0.5).unwrap();
    assert!((q - 0.9).abs() < 0.01, "{q}");
    assert!(t0.elapsed().as_secs_f64() < 2.0);
}

/// Targets whose answers lie thousands of teeth past the minimum size take the planner's
/// bisection path (more than `PLAN_WALK_TEETH` teeth); its answers must match a plain scan of
/// every size.
#[test]
fn planner_bisection_path_matches_a_full_scan() {
    use conformal::theory::PLAN_WALK_TEETH;
    for (alpha, eps, delta) in [(0.5, 2e-3, 0.1), (0.3, 1.5e-3, 0.05)] {
        let plan = plan_calibration_size(alpha, eps, delta).unwrap();
        let start = min_calibration_size(alpha).unwrap();
        // The bisection path was taken: the answer is more than PLAN_WALK_TEETH teeth out.
        assert!(((plan.n - start) as f64 * alpha) > PLAN_WALK_TEETH as f64);
        let t = 1.0 - alpha - eps;
        let ok = |n: usize| {
            1.0 - CoverageLaw::new(n, alpha).unwrap().prob_below(t).unwrap() >= 1.0 - delta
        };
        let scan: Vec<bool> = (0..=plan.verified_up_to)
            .map(|n| n >= start && ok(n))
            .collect();
        let first = (start..=plan.verified_up_to).find(|&n| scan[n]).unwrap();
        let stable = (start..=plan.verified_up_to)
            .rev()
            .take_while(|&n| scan[n])
            .last()
            .unwrap();
        assert_eq!(plan.first_n, first, "{alpha} {eps} {delta}");
        assert_eq!(plan.n, stable, "{alpha} {eps} {delta}");
    }
}
