use crate::knn::{decision_grid, predict, Fruit, Grid, Sample, Vote, GREEN_MAX, LENGTH_SCALE};
use crate::sim::measure_fruit;
use repro::{
    BoxError, Claim, Estimate, Outcome, Plot, PlotKind, RunContext, Series, Table, Threshold,
};

/// Held-out fruit per simulated class.
const TEST_FRUIT: usize = 100;

fn draw(apples: usize, bananas: usize, rng: &mut core_linalg::Rng) -> Vec<Sample> {
    let mut v: Vec<Sample> = (0..apples)
        .map(|_| measure_fruit(Fruit::Apple, rng))
        .collect();
    v.extend((0..bananas).map(|_| measure_fruit(Fruit::Banana, rng)));
    v
}

/// Experiment 1: the fruit detector.
pub fn fruit(ctx: &RunContext) -> Result<Outcome, BoxError> {
    let mut out = ctx.outcome(
        "The fruit detector (k-nearest neighbours on green channel and length): the decision-border map against per-point prediction, the tie rule, and simulated classes with 3 + 3 training fruit",
    );
    let classes = ctx.profile.pick(400usize, 4000);
    out.param("simulated classes", classes);
    out.param("held-out fruit per class", TEST_FRUIT);

    // The map against per-point prediction: small and large training sets, every k.
    let sets: Vec<(usize, usize)> = vec![(3, 3), (10, 10), (100, 100)];
    let ks = [1usize, 2, 3, 4, 5, 9, 17];
    let mut cells = Vec::new();
    for (si, _) in sets.iter().enumerate() {
        for &k in &ks {
            cells.push((si, k));
        }
    }
    let mismatches = ctx.map_cells("border vs prediction", &cells, |&(si, k), rng| {
        let (a, b) = sets[si];
        let train = draw(a, b, rng);
        let grid = decision_grid(&train, k, 100)?;
        let mut bad = 0usize;
        for r in 0..grid.resolution {
            for c in 0..grid.resolution {
                let (g, l) = Grid::centre(grid.resolution, r, c);
                if predict(&train, g, l, k)?.vote != grid.cells[r * grid.resolution + c] {
                    bad += 1;
                }
            }
        }
        Ok(bad)
    })?;
    out.claims.push(Claim::check_none(
        "every cell of the 100 × 100 decision-border map (top-k scan, parallel rows) equals per-point prediction (full sort) at its centre — training sets of 6, 20 and 200 fruit, k ∈ {1, 2, 3, 4, 5, 9, 17}",
        mismatches.iter().sum(),
        cells.len() * 100 * 100,
    ));

    // The tie rule: two fruit at equal scaled distance, k = 2.
    let tie = [
        Sample::new(412.0, 10.0, Fruit::Apple)?,
        Sample::new(612.0, 10.0, Fruit::Banana)?,
    ];
    let p = predict(&tie, 512.0, 10.0, 2)?;
    out.claims.push(Claim::check_true(
        "an equidistant apple and banana at k = 2 give \"undecided\" (green 412 and 612, the query at 512)",
        p.vote == Vote::Undecided,
    ));

    // Simulated classes: 3 apples + 3 bananas, k = 3, held-out fruit half and half.
    let class_ids: Vec<usize> = (0..classes).collect();
    let results = ctx.map_cells("classes", &class_ids, |_, rng| {
        let train = draw(3, 3, rng);
        let test = draw(TEST_FRUIT / 2, TEST_FRUIT / 2, rng);
        let mut acc = [0.0f64; 3];
        for (slot, k) in [1usize, 3, 5].iter().enumerate() {
            let mut right = 0usize;
            for t in &test {
                if predict(&train, t.green, t.length, *k)?.vote == Vote::from(t.label) {
                    right += 1;
                }
            }
            acc[slot] = right as f64 / test.len() as f64;
        }
        Ok((acc, train))
    })?;
    let by_k = |slot: usize| -> Vec<f64> { results.iter().map(|r| r.0[slot]).collect() };
    let table = "Held-out accuracy of simulated classes (3 + 3 training fruit)";
    let mut t = Table::new(
        table,
        &[
            "k",
            "mean accuracy [95% t]",
            "worst class",
            "classes below 0.95",
        ],
    );
    for (slot, k) in [1usize, 3, 5].iter().enumerate() {
        let a = by_k(slot);
        let e = Estimate::mean(&a)?;
        let [lo, hi] = e.interval.unwrap_or([e.value, e.value]);
        t.push(vec![
            (*k).into(),
            format!("{:.4} [{lo:.4}, {hi:.4}]", e.value).into(),
            a.iter().copied().fold(f64::INFINITY, f64::min).into(),
            a.iter().filter(|&&v| v < 0.95).count().into(),
        ]);
    }
    out.tables.push(t);
    out.claims.push(
        Claim::finding_estimate(
            "a class with 3 + 3 training fruit classifies held-out fruit at k = 3 with accuracy ≥ 0.95 (mean over simulated classes)",
            Estimate::mean(&by_k(1))?,
            Threshold::AtLeast(0.95),
        )
        .paper_value("the notes: ≥ 0.95 with 3 + 3 points and k = 3"),
    );

    // The final state of the first class: its map and its fruit.
    let train = &results[0].1;
    let res = 25;
    let grid = decision_grid(train, 3, res)?;
    let value = |v: Vote| match v {
        Vote::Apple => 0.0,
        Vote::Undecided => 0.5,
        Vote::Banana => 1.0,
    };
    out.plots.push(Plot::new(
        "fruit-border",
        "The first simulated class's decision border at k = 3 (0 apple, 0.5 undecided, 1 banana; length grows downward)",
        "green channel",
        "length (cm)",
        PlotKind::Heatmap {
            rows: (0..res)
                .map(|r| format!("{:.1}", Grid::centre(res, r, 0).1))
                .collect(),
            cols: (0..res)
                .map(|c| format!("{:.0}", Grid::centre(res, 0, c).0))
                .collect(),
            values: (0..res)
                .map(|r| (0..res).map(|c| value(grid.cells[r * res + c])).collect())
                .collect(),
        },
    ));
    let series = |f: Fruit, name: &str| {
        let pts: Vec<&Sample> = train.iter().filter(|s| s.label == f).collect();
        Series::new(
            name,
            pts.iter().map(|s| s.green).collect(),
            pts.iter().map(|s| s.length).collect(),
        )
    };
    out.plots.push(Plot::new(
        "fruit-points",
        "The first simulated class's training fruit",
        "green channel (0–1024)",
        "length (cm)",
        PlotKind::Scatter(vec![
            series(Fruit::Apple, "apples"),
            series(Fruit::Banana, "bananas"),
        ]),
    ));
    out.notes.push(format!(
        "Simulated fruit (the notes' reconstruction; no measurements were published): apples green N(250, 60), length N(7.5, 0.8); bananas green N(650, 80), length N(17, 1.5). Distances are on features scaled by {GREEN_MAX} and {LENGTH_SCALE} cm, as on the page. The survey of 14 students, the paper's evaluation, cannot be reproduced by computation."
    ));
    Ok(out)
}
