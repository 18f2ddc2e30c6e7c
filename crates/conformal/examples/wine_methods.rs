//! The methods beside plain split conformal, on the wine data (178 wines, UCI):
//! conformal p-values and group-conditional (Mondrian) sets for the cultivar classifier, and
//! absolute-residual, normalised-residual and conformalised-quantile intervals for a regression
//! of alcohol content on colour intensity.
//!
//! `cargo run --release -p conformal --features experiments --example wine_methods`

use conformal::experiments::pool_probabilities;
use conformal::{
    evaluate, interval_coverage, ConformalClassifier, ConformalParams, ConformalRegressor,
    CqrRegressor, GroupConformalClassifier, NormalizedRegressor, Score,
};
use core_ml::data::Dataset;

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let wine = Dataset::wine()?;
    let alpha = 0.1;

    // Classification: a softmax regression's probabilities on a held-out pool.
    let pool = pool_probabilities(&wine, 3)?;
    // Calibration and test halves of the pool in a seeded random order (the pool keeps the
    // file's order, sorted by cultivar; conformal needs exchangeable parts).
    let mut order: Vec<usize> = (0..pool.probs.len()).collect();
    rand::seq::SliceRandom::shuffle(&mut order[..], &mut core_linalg::seeded_rng(5));
    let n_cal = pool.probs.len() / 2;
    let (cal, test) = (order[..n_cal].to_vec(), order[n_cal..].to_vec());
    let labels = |idx: &[usize]| idx.iter().map(|&i| pool.labels[i]).collect::<Vec<_>>();
    let (pc, pt) = (pool.probs.select(&cal), pool.probs.select(&test));
    let params = ConformalParams::new(Score::Lac, alpha).check()?;
    let clf = ConformalClassifier::calibrate(&params, &pc, &labels(&cal), 1)?;
    let p = clf.p_values(&pt, 2)?;
    println!("cultivar classifier, {n_cal} calibration wines; conformal p-values of the first test wines:");
    for (i, row) in p.chunks(pt.n_classes()).take(3).enumerate() {
        println!(
            "  wine {i}: p = {row:.3?} (true cultivar {})",
            labels(&test)[i]
        );
    }
    // Groups known at prediction time: confident rows (top probability ≥ 0.99) and the rest.
    let group = |probs: &conformal::Probabilities| -> Vec<usize> {
        (0..probs.len())
            .map(|i| usize::from(probs.row(i).iter().copied().fold(0.0, f64::max) < 0.99))
            .collect()
    };
    let (gc, gt) = (group(&pc), group(&pt));
    let grouped = GroupConformalClassifier::calibrate(&params, &pc, &labels(&cal), &gc, 2, 1)?;
    let sets = grouped.predict(&pt, &gt, 2)?;
    let marginal = clf.predict(&pt, 2)?;
    for g in 0..2 {
        let idx: Vec<usize> = (0..pt.len()).filter(|&i| gt[i] == g).collect();
        if idx.is_empty() {
            continue;
        }
        let y = labels(&test);
        let cov = |s: &conformal::PredictionSets| {
            idx.iter().filter(|&&i| s.contains(i, y[i])).count() as f64 / idx.len() as f64
        };
        println!(
            "  group {} ({} test wines, {} calibration): coverage {:.3} group-conditional vs {:.3} marginal",
            if g == 0 { "confident" } else { "uncertain" },
            idx.len(),
            grouped.counts()[g],
            cov(&sets),
            cov(&marginal)
        );
    }
    let m = evaluate(&marginal, &labels(&test), alpha)?;
    println!(
        "  marginal: coverage {:.3}, mean set size {:.2}",
        m.coverage, m.mean_size
    );

    // Regression: alcohol (feature 0) on colour intensity (feature 9), least squares on a third
    // of the wines, calibration on the next third, test on the last — in a seeded random order
    // (the file is sorted by cultivar, and conformal needs exchangeable parts).
    let mut order: Vec<usize> = (0..wine.len()).collect();
    rand::seq::SliceRandom::shuffle(&mut order[..], &mut core_linalg::seeded_rng(11));
    let (x, y): (Vec<f64>, Vec<f64>) = order
        .iter()
        .map(|&i| (wine.row(i)[9], wine.row(i)[0]))
        .unzip();
    let third = wine.len() / 3;
    let (fit, calr, tst) = (0..third, third..2 * third, 2 * third..wine.len());
    let mean =
        |r: std::ops::Range<usize>, v: &[f64]| v[r.clone()].iter().sum::<f64>() / r.len() as f64;
    let (mx, my) = (mean(fit.clone(), &x), mean(fit.clone(), &y));
    let sxy: f64 = fit.clone().map(|i| (x[i] - mx) * (y[i] - my)).sum();
    let sxx: f64 = fit.clone().map(|i| (x[i] - mx).powi(2)).sum();
    let slope = sxy / sxx;
    let predict = |xi: f64| my + slope * (xi - mx);
    // A difficulty model and a quantile band from the fitting third: the mean absolute residual
    // and the 5% / 95% residual quantiles, below and above the median colour intensity.
    let cut = {
        let mut v: Vec<f64> = fit.clone().map(|i| x[i]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let side = |xi: f64| usize::from(xi >= cut);
    let mut res: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for i in fit.clone() {
        res[side(x[i])].push(y[i] - predict(x[i]));
    }
    res.iter_mut().for_each(|r| r.sort_by(f64::total_cmp));
    let sigma = |xi: f64| {
        let r = &res[side(xi)];
        r.iter().map(|v| v.abs()).sum::<f64>() / r.len() as f64
    };
    let band = |xi: f64| {
        let r = &res[side(xi)];
        let q = |p: f64| r[((p * r.len() as f64) as usize).min(r.len() - 1)];
        (predict(xi) + q(0.05), predict(xi) + q(0.95))
    };
    let (xc, yc): (Vec<f64>, Vec<f64>) = calr.map(|i| (x[i], y[i])).unzip();
    let (xt, yt): (Vec<f64>, Vec<f64>) = tst.map(|i| (x[i], y[i])).unzip();
    let pred = |v: &[f64]| v.iter().map(|&xi| predict(xi)).collect::<Vec<_>>();
    let sig = |v: &[f64]| v.iter().map(|&xi| sigma(xi)).collect::<Vec<_>>();
    let bands = |v: &[f64]| {
        v.iter()
            .map(|&xi| band(xi))
            .unzip::<f64, f64, Vec<f64>, Vec<f64>>()
    };
    let width = |iv: &[(f64, f64)]| iv.iter().map(|(a, b)| b - a).sum::<f64>() / iv.len() as f64;
    println!(
        "alcohol ~ colour intensity, {} calibration and {} test wines, α = {alpha}:",
        xc.len(),
        xt.len()
    );
    let abs = ConformalRegressor::calibrate(&pred(&xc), &yc, alpha)?;
    let iv = abs.intervals(&pred(&xt))?;
    println!(
        "  absolute residual:   coverage {:.3}, mean width {:.3}",
        interval_coverage(&iv, &yt)?,
        width(&iv)
    );
    let nr = NormalizedRegressor::calibrate(&pred(&xc), &sig(&xc), &yc, alpha)?;
    let iv = nr.intervals(&pred(&xt), &sig(&xt))?;
    println!(
        "  normalised residual: coverage {:.3}, mean width {:.3}",
        interval_coverage(&iv, &yt)?,
        width(&iv)
    );
    let (lc, hc) = bands(&xc);
    let cq = CqrRegressor::calibrate(&lc, &hc, &yc, alpha)?;
    let (lt, ht) = bands(&xt);
    let iv = cq.intervals(&lt, &ht)?;
    println!(
        "  CQR (Q = {:+.3}):    coverage {:.3}, mean width {:.3}",
        cq.correction(),
        interval_coverage(&iv, &yt)?,
        width(&iv)
    );
    Ok(())
}
