//! Generated bad input through every public entry point of repro (the `bad_input` runner: no
//! panic, no call over 2 s, no non-finite output from finite input, and the right answer
//! where an independent one is cheap). `ROBUSTNESS_CASES` sets the cases per entry point
//! (default 300; 10⁴ for the deep run).
//!
//! The independent answers: an estimate's interval contains its value; `abs_deviation`'s
//! interval contains `|θ − t|` for every θ in the original interval (checked at the ends and
//! the midpoint); a threshold never holds for NaN and agrees with the comparison written out;
//! rounding keeps the requested significant digits (against formatting with `{:.*e}`); the
//! JSON of an outcome parses back; a rendered plot is an SVG document.

use bad_input::{checked, res, Gen, Suite};
use repro::*;

fn threshold(g: &mut Gen) -> Threshold {
    match g.below(7) {
        0 => Threshold::AtMost(g.f()),
        1 => Threshold::AbsAtMost(g.f()),
        2 => Threshold::AtLeast(g.f()),
        3 => Threshold::Between(g.f(), g.f()),
        4 => Threshold::Near {
            target: g.f(),
            tol: g.f(),
        },
        5 => Threshold::IsTrue,
        _ => Threshold::NoneAmong(g.small()),
    }
}

fn series(g: &mut Gen) -> Series {
    let n = g.len();
    let l = g.len_near(n);
    let x = g.vec_of(l);
    let y = g.vec_of(n);
    let mut s = Series::new("s", x, y);
    if g.coin(0.3) {
        let (l1, l2) = (g.len_near(n), g.len_near(n));
        let lo = g.vec_of(l1);
        let hi = g.vec_of(l2);
        s = s.with_band(lo, hi);
    }
    if g.coin(0.3) {
        s = s.styled(g.pick(&[0usize, 1, 7, usize::MAX]), g.coin(0.5));
    }
    s
}

#[test]
fn every_entry_point_survives_generated_bad_input() {
    let mut suite = Suite::from_env();

    suite.run(
        "Estimate (proportion, mean, paired_difference, abs_deviation, describe)",
        |g| {
            let e = match g.below(4) {
                0 => res!(Estimate::proportion(g.small(), g.small())),
                1 => res!(Estimate::mean(&g.vec())),
                2 => {
                    let a = g.vec();
                    let l = g.len_near(a.len());
                    let b = g.vec_of(l);
                    res!(Estimate::paired_difference(&a, &b))
                }
                _ => Estimate::single_run(g.f()),
            };
            let _ = e.describe();
            let mut right = e
                .interval
                .is_none_or(|[lo, hi]| lo <= e.value && e.value <= hi);
            let t = g.f();
            let d = e.abs_deviation(t);
            let _ = d.describe();
            if let (Some([lo, hi]), Some([dlo, dhi])) = (e.interval, d.interval) {
                for th in [lo, hi, 0.5 * lo + 0.5 * hi] {
                    let v = (th - t).abs();
                    if v.is_finite() {
                        right &= dlo <= v && v <= dhi;
                    }
                }
            }
            let mut v = vec![e.value];
            v.extend(e.interval.into_iter().flatten());
            v.extend(e.std_error);
            checked(e.value.is_finite(), v, right)
        },
    );

    suite.run("Threshold::holds / describe", |g| {
        let th = threshold(g);
        let x = g.f();
        let h = th.holds(x);
        let _ = th.describe();
        let want = !x.is_nan()
            && match th {
                Threshold::AtMost(t) => x <= t,
                Threshold::AbsAtMost(t) => x.abs() <= t,
                Threshold::AtLeast(t) => x >= t,
                Threshold::Between(lo, hi) => lo <= x && x <= hi,
                Threshold::Near { target, tol } => (x - target).abs() <= tol,
                Threshold::IsTrue => x == 1.0,
                Threshold::NoneAmong(_) => x == 0.0,
            };
        checked(true, vec![], h == want)
    });

    suite.run(
        "Claim constructors / rule / Outcome::validate / snapshot / to_json",
        |g| {
            let mut o = Outcome::new("p", "e", "t", Profile::Quick, g.small());
            o.param("x", g.f());
            for _ in 0..g.below(4) {
                let th = threshold(g);
                let c = match g.below(5) {
                    0 => Claim::check("c", g.f(), th),
                    1 => Claim::finding("f", g.f(), th),
                    2 => Claim::check_none("n", g.below(3), g.below(3)),
                    3 => Claim::check_true("t", g.coin(0.5)),
                    _ => Claim::finding_true("ft", g.coin(0.5)),
                };
                let mut c = c.paper_value("x").with_note("n");
                if g.coin(0.3) {
                    c = c.with_estimate(Estimate::single_run(g.f()));
                }
                if g.coin(0.3) {
                    c = c.explain_if_failed(if g.coin(0.5) {
                        Why::hypothesis("h")
                    } else {
                        Why::evidence("e", &["nowhere"])
                    });
                }
                let _ = c.rule();
                o.claims.push(c);
            }
            let valid = o.validate().is_ok();
            let snap = o.snapshot(Rounding::EXACT);
            let json = res!(to_json(&o));
            let back: Result<serde_json::Value, _> = serde_json::from_str(&json);
            let right = back.is_ok() && snap.is_object();
            let _ = valid;
            checked(true, vec![], right)
        },
    );

    suite.run("round_significant (against {:.*e} formatting)", |g| {
        let x = g.f();
        let digits = g.pick(&[1i32, 2, 4, 6, 15, 17, 0, -3, 400, i32::MAX, i32::MIN]);
        let r = round_significant(x, digits);
        let mut right = true;
        if x.is_finite() && x != 0.0 {
            // Independent: r has at most d significant digits (its own d-digit decimal form),
            // and lies within half a unit of the d-th digit of x.
            let d = digits.clamp(1, 17);
            let back: f64 = format!("{:.*e}", (d - 1) as usize, r).parse().unwrap();
            // (Unless rounding would overflow: then x itself, documented.)
            right &= back == r || (r == x && back.is_infinite());
            right &= (r - x).abs() <= 0.5 * 10f64.powi(1 - d) * x.abs() * (1.0 + 1e-9);
        }
        checked(x.is_finite(), vec![r], right)
    });

    suite.run(
        "render_svg (line, scatter, histograms, heatmap; log axes)",
        |g| {
            let kind = match g.below(5) {
                0 => PlotKind::Line((0..g.below(3)).map(|_| series(g)).collect()),
                1 => PlotKind::Scatter((0..g.below(3)).map(|_| series(g)).collect()),
                2 => PlotKind::Histogram {
                    series: (0..g.below(3)).map(|_| series(g)).collect(),
                    bins: g.pick(&[0usize, 1, 10, 1 << 40]),
                },
                3 => PlotKind::HistogramDensity {
                    samples: (0..g.below(3)).map(|_| series(g)).collect(),
                    densities: (0..g.below(2)).map(|_| series(g)).collect(),
                    bins: g.pick(&[0usize, 1, 10, 1 << 40]),
                },
                _ => {
                    let (r, c) = (g.below(4), g.below(4));
                    PlotKind::Heatmap {
                        rows: (0..g.len_near(r)).map(|i| i.to_string()).collect(),
                        cols: (0..g.len_near(c)).map(|i| i.to_string()).collect(),
                        values: (0..r)
                            .map(|_| {
                                let l = g.len_near(c);
                                g.vec_of(l)
                            })
                            .collect(),
                    }
                }
            };
            let plot = Plot::new("p", "t", "x", "y", kind).log_axes(g.coin(0.3), g.coin(0.3));
            let svg = res!(render_svg(&plot));
            checked(true, vec![], svg.contains("<svg"))
        },
    );

    suite.finish();
}
