use crate::ReproError;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use serde::{Deserialize, Serialize};

/// One named series of points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// x values (for a histogram: unused, may be empty).
    pub x: Vec<f64>,
    /// y values (for a histogram: the samples).
    pub y: Vec<f64>,
    /// A confidence band `(lo, hi)` per point, drawn as a shaded area (line plots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<Band>,
    /// Colour group and dash (line plots): series of one configuration share a colour, the
    /// methods compared on it differ by dash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
}

/// The lower and upper ends of a confidence band, one per point of the series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Lower ends.
    pub lo: Vec<f64>,
    /// Upper ends.
    pub hi: Vec<f64>,
}

/// How a line series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Style {
    /// Palette index shared by the series of one configuration.
    pub colour: usize,
    /// Dashed instead of solid.
    pub dashed: bool,
}

impl Series {
    /// A series from x and y values.
    pub fn new(name: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            x,
            y,
            band: None,
            style: None,
        }
    }

    /// A series of estimates: their values, with their intervals as the band (a point without
    /// an interval contributes its value to both ends).
    pub fn from_estimates(name: impl Into<String>, x: Vec<f64>, y: &[crate::Estimate]) -> Self {
        let end = |j: usize| -> Vec<f64> {
            y.iter()
                .map(|e| e.interval.map_or(e.value, |b| b[j]))
                .collect()
        };
        Self::new(name, x, y.iter().map(|e| e.value).collect()).with_band(end(0), end(1))
    }

    /// Adds a confidence band (one `lo` and `hi` per point).
    pub fn with_band(mut self, lo: Vec<f64>, hi: Vec<f64>) -> Self {
        self.band = Some(Band { lo, hi });
        self
    }

    /// Draws the series in palette colour `colour`, dashed or solid: paired comparisons give
    /// each configuration one colour and each method one dash.
    pub fn styled(mut self, colour: usize, dashed: bool) -> Self {
        self.style = Some(Style { colour, dashed });
        self
    }
}

/// What a plot draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlotKind {
    /// Lines through each series' points.
    Line(Vec<Series>),
    /// Markers at each series' points.
    Scatter(Vec<Series>),
    /// Histograms of each series' `y` samples over shared bins.
    Histogram {
        /// The samples, one series per histogram.
        series: Vec<Series>,
        /// Number of bins.
        bins: usize,
    },
    /// Histograms of each `samples` series normalised to densities (count / (N · bin width)),
    /// with the `densities` series (x, density) drawn on top as lines: an empirical
    /// distribution against its theoretical law.
    HistogramDensity {
        /// The samples (their `y`), one histogram each.
        samples: Vec<Series>,
        /// Reference densities as (x, y) lines.
        densities: Vec<Series>,
        /// Number of bins.
        bins: usize,
    },
    /// A matrix of values as coloured cells (row 0 at the top).
    Heatmap {
        /// Row labels.
        rows: Vec<String>,
        /// Column labels.
        cols: Vec<String>,
        /// `values[r][c]`.
        values: Vec<Vec<f64>>,
    },
}

/// A plot: becomes `<name>.svg` next to the paper's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plot {
    /// File stem (letters, digits, `-`, `_`).
    pub name: String,
    /// Caption.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Plot log10(x) instead of x.
    pub log_x: bool,
    /// Plot log10(y) instead of y.
    pub log_y: bool,
    /// The data.
    pub kind: PlotKind,
}

impl Plot {
    /// A plot with linear axes.
    pub fn new(name: &str, title: &str, x_label: &str, y_label: &str, kind: PlotKind) -> Self {
        Self {
            name: name.into(),
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            kind,
        }
    }

    /// Sets log10 axes.
    pub fn log_axes(mut self, log_x: bool, log_y: bool) -> Self {
        self.log_x = log_x;
        self.log_y = log_y;
        self
    }
}

const SIZE: (u32, u32) = (820, 520);

fn palette(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    C[i % C.len()]
}

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 * hi.abs().max(1.0) {
        return (lo - 0.5, hi + 0.5);
    }
    // Half-differences: `hi − lo` overflows for data spanning ±f64::MAX, and an infinite axis
    // range made plotters loop forever looking for tick marks.
    let pad = 0.08 * (hi / 2.0 - lo / 2.0);
    (
        (lo - pad).max(-f64::MAX / 2.0),
        (hi + pad).min(f64::MAX / 2.0),
    )
}

/// The most histogram bins [`render_svg`] draws: 10 000 (a plot is 800 pixels wide).
pub const MAX_BINS: usize = 10_000;

/// Renders a plot to an SVG document. Errors on more than [`MAX_BINS`] histogram bins, and
/// where plotters fails; non-finite points (and non-positive ones on a log axis) are left out.
pub fn render_svg(plot: &Plot) -> Result<String, ReproError> {
    let mut svg = String::new();
    let err = |e: &dyn std::fmt::Display| ReproError::Plot {
        name: plot.name.clone(),
        reason: e.to_string(),
    };
    if let PlotKind::Histogram { bins, .. } | PlotKind::HistogramDensity { bins, .. } = &plot.kind {
        if *bins > MAX_BINS {
            return Err(err(&format!("{bins} bins (at most {MAX_BINS})")));
        }
    }
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let axis = |label: &str, log: bool| {
            if log {
                format!("log10 {label}")
            } else {
                label.to_string()
            }
        };
        let tx = |x: f64| if plot.log_x { x.log10() } else { x };
        let ty = |y: f64| if plot.log_y { y.log10() } else { y };
        match &plot.kind {
            PlotKind::Line(series) | PlotKind::Scatter(series) => {
                let xr = range(series.iter().flat_map(|s| s.x.iter().map(|&x| tx(x))));
                let yr = range(series.iter().flat_map(|s| {
                    let band = s.band.iter().flat_map(|b| b.lo.iter().chain(&b.hi));
                    s.y.iter().chain(band).map(|&y| ty(y))
                }));
                let mut chart = ChartBuilder::on(&root)
                    .caption(&plot.title, ("sans-serif", 20))
                    .margin(12)
                    .x_label_area_size(42)
                    .y_label_area_size(64)
                    .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
                    .map_err(|e| err(&e))?;
                chart
                    .configure_mesh()
                    .x_desc(axis(&plot.x_label, plot.log_x))
                    .y_desc(axis(&plot.y_label, plot.log_y))
                    .draw()
                    .map_err(|e| err(&e))?;
                let scatter = matches!(plot.kind, PlotKind::Scatter(_));
                let colour = |i: usize, s: &Series| palette(s.style.map_or(i, |st| st.colour));
                // Bands first, so every line stays visible on top of them.
                for (i, s) in series.iter().enumerate() {
                    let Some(b) = &s.band else { continue };
                    let c = colour(i, s);
                    let upper = s.x.iter().zip(&b.hi).map(|(&x, &y)| (tx(x), ty(y)));
                    let lower = s.x.iter().zip(&b.lo).rev().map(|(&x, &y)| (tx(x), ty(y)));
                    let poly: Vec<(f64, f64)> = upper
                        .chain(lower)
                        .filter(|(x, y)| x.is_finite() && y.is_finite())
                        .collect();
                    chart
                        .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
                        .map_err(|e| err(&e))?;
                }
                for (i, s) in series.iter().enumerate() {
                    let c = colour(i, s);
                    let dashed = s.style.is_some_and(|st| st.dashed);
                    let pts: Vec<(f64, f64)> =
                        s.x.iter()
                            .zip(&s.y)
                            .map(|(&x, &y)| (tx(x), ty(y)))
                            .filter(|(x, y)| x.is_finite() && y.is_finite())
                            .collect();
                    let anno = if scatter {
                        chart
                            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                            .map_err(|e| err(&e))?
                    } else if dashed {
                        chart
                            .draw_series(DashedLineSeries::new(pts, 8, 5, c.stroke_width(2)))
                            .map_err(|e| err(&e))?
                    } else {
                        chart
                            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                            .map_err(|e| err(&e))?
                    };
                    anno.label(s.name.clone()).legend(move |(x, y)| {
                        if dashed {
                            PathElement::new(vec![(x, y), (x + 6, y)], c.stroke_width(2))
                        } else {
                            PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                        }
                    });
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| err(&e))?;
            }
            PlotKind::Histogram { series, bins } => {
                draw_histogram(&root, plot, series, &[], *bins).map_err(|e| err(&e))?;
            }
            PlotKind::HistogramDensity {
                samples,
                densities,
                bins,
            } => {
                draw_histogram(&root, plot, samples, densities, *bins).map_err(|e| err(&e))?;
            }
            PlotKind::Heatmap { rows, cols, values } => {
                let (nr, nc) = (rows.len().max(1), cols.len().max(1));
                let (lo, hi) = range(values.iter().flatten().copied());
                let rows_c = rows.clone();
                let cols_c = cols.clone();
                let mut chart = ChartBuilder::on(&root)
                    .caption(&plot.title, ("sans-serif", 20))
                    .margin(12)
                    .x_label_area_size(42)
                    .y_label_area_size(90)
                    .build_cartesian_2d(0..nc, 0..nr)
                    .map_err(|e| err(&e))?;
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .x_desc(&plot.x_label)
                    .y_desc(&plot.y_label)
                    .x_labels(nc)
                    .y_labels(nr)
                    .x_label_formatter(&|c| cols_c.get(*c).cloned().unwrap_or_default())
                    .y_label_formatter(&|r| {
                        rows_c
                            .get(nr.saturating_sub(r + 1))
                            .cloned()
                            .unwrap_or_default()
                    })
                    .draw()
                    .map_err(|e| err(&e))?;
                chart
                    .draw_series(values.iter().enumerate().flat_map(|(r, row)| {
                        row.iter().enumerate().map(move |(c, &v)| {
                            // Half-differences (hi − lo can overflow); a non-finite cell, or
                            // one outside the finite range, is clamped (the colour map
                            // panics on NaN).
                            let t = if hi > lo {
                                (v / 2.0 - lo / 2.0) / (hi / 2.0 - lo / 2.0)
                            } else {
                                0.5
                            };
                            let t = if t.is_nan() { 0.5 } else { t.clamp(0.0, 1.0) };
                            let col = ViridisRGB::get_color_normalized(t, 0.0, 1.0);
                            Rectangle::new([(c, nr - 1 - r), (c + 1, nr - r)], col.filled())
                        })
                    }))
                    .map_err(|e| err(&e))?;
                chart
                    .draw_series(values.iter().enumerate().flat_map(|(r, row)| {
                        row.iter().enumerate().map(move |(c, &v)| {
                            Text::new(
                                crate::outcome::fmt_num(v),
                                (c, nr - r),
                                ("sans-serif", 13).into_font().color(&RED),
                            )
                        })
                    }))
                    .map_err(|e| err(&e))?;
            }
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Histograms over shared bins; with `densities` (possibly empty in density mode) the bars are
/// normalised to densities and the reference lines drawn on top.
fn draw_histogram(
    root: &Area<'_>,
    plot: &Plot,
    series: &[Series],
    densities: &[Series],
    bins: usize,
) -> Result<(), String> {
    let density = matches!(plot.kind, PlotKind::HistogramDensity { .. });
    let bins = bins.max(1);
    let (lo, hi) = range(
        series
            .iter()
            .flat_map(|s| s.y.iter().copied())
            .chain(densities.iter().flat_map(|s| s.x.iter().copied())),
    );
    let w = (hi - lo) / bins as f64;
    let counts: Vec<Vec<f64>> = series
        .iter()
        .map(|s| {
            let mut c = vec![0.0; bins];
            let finite: Vec<f64> = s.y.iter().copied().filter(|y| y.is_finite()).collect();
            for &y in &finite {
                let b = (((y - lo) / w) as usize).min(bins - 1);
                c[b] += 1.0;
            }
            if density && !finite.is_empty() {
                c.iter_mut().for_each(|v| *v /= finite.len() as f64 * w);
            }
            c
        })
        .collect();
    let ymax = counts
        .iter()
        .flatten()
        .copied()
        .chain(densities.iter().flat_map(|s| s.y.iter().copied()))
        .filter(|v| v.is_finite())
        .fold(if density { 0.0 } else { 1.0 }, f64::max)
        .max(1e-12);
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let mut chart = ChartBuilder::on(root)
        .caption(&plot.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(lo..hi, 0.0..(ymax * 1.05).min(f64::MAX / 2.0))
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc(&plot.x_label)
        .y_desc(if density { "density" } else { "count" })
        .draw()
        .map_err(|x| e(&x))?;
    for (i, (s, c)) in series.iter().zip(&counts).enumerate() {
        let col = palette(i);
        chart
            .draw_series(c.iter().enumerate().map(|(b, &n)| {
                let x0 = lo + b as f64 * w;
                Rectangle::new([(x0, 0.0), (x0 + w, n)], col.mix(0.45).filled())
            }))
            .map_err(|x| e(&x))?
            .label(s.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
    }
    for (i, s) in densities.iter().enumerate() {
        let col = palette(series.len() + i);
        let pts: Vec<(f64, f64)> =
            s.x.iter()
                .zip(&s.y)
                .map(|(&x, &y)| (x, y))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
        chart
            .draw_series(LineSeries::new(pts, col.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(hay: &str, needle: &str) -> usize {
        hay.matches(needle).count()
    }

    #[test]
    fn each_kind_renders_an_svg_with_its_labels() {
        let s = vec![
            Series::new("first", vec![1.0, 10.0, 100.0], vec![0.5, 0.25, 0.125]),
            Series::new("second", vec![1.0, 10.0, 100.0], vec![0.4, 0.3, 0.2]),
        ];
        for kind in [PlotKind::Line(s.clone()), PlotKind::Scatter(s.clone())] {
            let p = Plot::new("p", "A title", "steps", "error", kind).log_axes(true, true);
            let svg = render_svg(&p).unwrap();
            assert!(svg.starts_with("<svg"));
            assert!(svg.contains("A title") && svg.contains("first") && svg.contains("second"));
            assert!(svg.contains("log10 steps"));
        }
        let banded = vec![
            Series::new("a solid", vec![1.0, 2.0], vec![0.5, 0.6])
                .with_band(vec![0.4, 0.5], vec![0.6, 0.7])
                .styled(3, false),
            Series::new("a dashed", vec![1.0, 2.0], vec![0.2, 0.3]).styled(3, true),
        ];
        let svg = render_svg(&Plot::new("b", "Bands", "x", "y", PlotKind::Line(banded))).unwrap();
        assert!(svg.contains("<polygon"), "the band is drawn");
        assert!(svg.contains("a dashed"));
        // Both series use palette colour 3 (214, 39, 40).
        assert!(svg.matches("#D62728").count() >= 2);
        let h = Plot::new(
            "h",
            "Hist",
            "value",
            "count",
            PlotKind::Histogram {
                series: s.clone(),
                bins: 4,
            },
        );
        let svg = render_svg(&h).unwrap();
        // 2 series x 4 bins of bars, plus legend swatches.
        assert!(count(&svg, "<rect") >= 8);
        let d = Plot::new(
            "d",
            "Density",
            "value",
            "density",
            PlotKind::HistogramDensity {
                samples: vec![Series::new("samples", vec![], vec![0.1, 0.2, 0.2, 0.3])],
                densities: vec![Series::new("law", vec![0.1, 0.2, 0.3], vec![2.0, 5.0, 2.0])],
                bins: 3,
            },
        );
        let svg = render_svg(&d).unwrap();
        assert!(svg.contains("law") && svg.contains("samples") && svg.contains("density"));
        assert!(count(&svg, "<rect") >= 3);
        let m = Plot::new(
            "m",
            "Heat",
            "action",
            "state",
            PlotKind::Heatmap {
                rows: vec!["s0".into(), "s1".into()],
                cols: vec!["a0".into(), "a1".into()],
                values: vec![vec![-1.0, 0.0], vec![0.0, 1.0]],
            },
        );
        let svg = render_svg(&m).unwrap();
        assert!(svg.contains("s1") && svg.contains("a0"));
    }
}
