//! Draws the size sweeps' charts from a points file alone (what `runner --curves` printed;
//! `bench/results/DATE-COMMIT-curves.csv`), one SVG per scenario, and judges each curve: does
//! the cost grow no faster than linearly with the size? Prints the verdicts as markdown.
//!
//! ```text
//! charts bench/results/2026-12-05-abc1234-curves.csv bench/charts
//! ```
//!
//! The rule (bench/METHODOLOGY.md): each scenario's cost per unit of size, which linear growth
//! keeps flat, must at no size exceed 1.10 × its lowest at a smaller size. Per unit: idle KiB
//! per socket; room ns per delivery (1 / deliveries per second: the total rate must not fall as
//! receivers grow); echo p99 µs per connection (p99 may grow with connections, in proportion
//! at most).

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

/// How far a curve's cost per unit may rise above its lowest at a smaller size (noise).
const TOLERANCE: f64 = 1.10;

/// A scenario's chart and its cost per unit of size.
struct Kind {
    /// The scenario's name in the points file.
    key: &'static str,
    /// The chart's title.
    title: &'static str,
    /// The x axis: what the size counts.
    x: &'static str,
    /// The y axis: the measured figure.
    y: &'static str,
    /// The cost per unit and its unit, from the size and the measured figure.
    cost: fn(f64, f64) -> f64,
    /// The cost's unit, in the verdicts.
    cost_unit: &'static str,
    /// A logarithmic y axis (and a dashed line of linear growth from fratello's first point).
    log_y: bool,
}

const KINDS: [Kind; 3] = [
    Kind {
        key: "idle",
        title: "Idle WebSocket memory per socket",
        x: "open idle sockets (log)",
        y: "KiB per socket (RSS)",
        cost: |_, kib| kib,
        cost_unit: "KiB per socket",
        log_y: false,
    },
    Kind {
        key: "room",
        title: "Room fan-out rate",
        x: "receivers in the room (log)",
        y: "deliveries per second (millions)",
        cost: |_, rate| 1e9 / rate,
        cost_unit: "ns per delivery",
        log_y: false,
    },
    Kind {
        key: "echo",
        title: "WebSocket echo p99 latency",
        x: "connections (log)",
        y: "p99 latency, µs (log)",
        cost: |conns, p99| p99 / conns,
        cost_unit: "p99 µs per connection",
        log_y: true,
    },
];

/// A server's curve: (size, median) points, smallest size first.
type Curve = Vec<(f64, f64)>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(points), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: charts POINTS.csv OUT_DIR");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(points).unwrap_or_else(|e| {
        eprintln!("cannot read {points}: {e}");
        std::process::exit(2);
    });
    let curves = parse(&text);
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("cannot create {out}: {e}");
        std::process::exit(2);
    }
    println!("Cost against size, from `{points}`: a curve passes when its cost per unit at no size");
    println!("exceeds {TOLERANCE:.2} × its lowest at a smaller size (bench/METHODOLOGY.md).");
    println!();
    println!("| scenario | server | size: measured median | cost per unit | worst rise | verdict |");
    println!("|---|---|---|---|---:|---|");
    let mut failed = false;
    for kind in &KINDS {
        let Some(series) = curves.get(kind.key) else { continue };
        for (server, curve) in series {
            print_verdict(kind, server, curve);
        }
        let file = Path::new(out).join(format!("{}.svg", kind.key));
        if let Err(e) = draw(&file, kind, series) {
            eprintln!("cannot draw {}: {e}", file.display());
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}

/// The curves of a points file: scenario → server (fratello last) → points.
fn parse(text: &str) -> BTreeMap<String, Vec<(String, Curve)>> {
    let mut map: BTreeMap<String, Vec<(String, Curve)>> = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with("scenario,") || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let (Some(size), Some(median)) =
            (f.get(2).and_then(|v| v.parse().ok()), f.get(3).and_then(|v| v.parse().ok()))
        else {
            eprintln!("skipped: {line}");
            continue;
        };
        let series = map.entry(f[0].to_owned()).or_default();
        let server = f[1].to_owned();
        match series.iter_mut().find(|(s, _)| *s == server) {
            Some((_, c)) => c.push((size, median)),
            None => series.push((server, vec![(size, median)])),
        }
    }
    for series in map.values_mut() {
        for (_, c) in series.iter_mut() {
            c.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        series.sort_by_key(|(s, _)| s == "fratello");
    }
    map
}

/// Prints one curve's row: its points, costs and the largest rise of the cost over its lowest
/// at a smaller size.
fn print_verdict(kind: &Kind, server: &str, curve: &Curve) {
    let costs: Vec<f64> = curve.iter().map(|&(n, v)| (kind.cost)(n, v)).collect();
    let mut worst = (1.0f64, String::new());
    let mut lowest = (f64::INFINITY, 0.0);
    for (&(n, _), &c) in curve.iter().zip(&costs) {
        if lowest.0.is_finite() && c / lowest.0 > worst.0 {
            worst = (c / lowest.0, format!(" ({} vs {})", size(n), size(lowest.1)));
        }
        if c < lowest.0 {
            lowest = (c, n);
        }
    }
    let points: Vec<String> = curve.iter().map(|&(n, v)| format!("{}: {}", size(n), figure(v))).collect();
    let costs: Vec<String> = costs.iter().map(|&c| figure(c)).collect();
    let verdict = if worst.0 <= TOLERANCE { "linear or better" } else { "FASTER than linear" };
    println!(
        "| {} | {server} | {} | {} {} | {:.2}{} | {verdict} |",
        kind.key,
        points.join(", "),
        costs.join(", "),
        kind.cost_unit,
        worst.0,
        worst.1
    );
}

/// A size as `19.5k`.
fn size(n: f64) -> String {
    if n >= 1000.0 {
        format!("{}k", n / 1000.0)
    } else {
        format!("{n}")
    }
}

/// A figure with three significant digits or so, `4.76M` for millions.
fn figure(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    }
}

/// Each server's colour: fratello red, raw hyper blue, the framework peer green.
fn colour(server: &str) -> RGBColor {
    match server {
        "fratello" => RGBColor(200, 30, 30),
        "hyper" => RGBColor(30, 80, 200),
        _ => RGBColor(30, 150, 60),
    }
}

/// The legend's name of a server.
fn label(server: &str) -> String {
    match server {
        "hyper" => "raw hyper".to_owned(),
        s => s.to_owned(),
    }
}

/// Draws `series` into the SVG file `file`.
fn draw(file: &Path, kind: &Kind, series: &[(String, Curve)]) -> Result<(), Box<dyn Error>> {
    let scale = if kind.key == "room" { 1e-6 } else { 1.0 };
    let series: Vec<(String, Curve)> =
        series.iter().map(|(s, c)| (s.clone(), c.iter().map(|&(n, v)| (n, v * scale)).collect())).collect();
    let all = || series.iter().flat_map(|(_, c)| c.iter().copied());
    let (x_lo, x_hi) = all().fold((f64::INFINITY, 0f64), |(lo, hi), (x, _)| (lo.min(x), hi.max(x)));
    let (y_lo, y_hi) = all().fold((f64::INFINITY, 0f64), |(lo, hi), (_, y)| (lo.min(y), hi.max(y)));
    let root = SVGBackend::new(file, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    // Ticks at the measured sizes alone.
    let mut sizes: Vec<f64> = all().map(|(x, _)| x).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    let x_range = (x_lo / 1.4..x_hi * 1.4).log_scale().with_key_points(sizes);
    let fratello = series.iter().find(|(s, _)| s == "fratello").map(|(_, c)| c.clone());
    // The body is the same for a linear and a logarithmic y axis, whose types differ.
    macro_rules! body {
        ($y_range:expr) => {{
            let mut chart = ChartBuilder::on(&root)
                .caption(kind.title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d(x_range, $y_range)?;
            chart
                .configure_mesh()
                .x_desc(kind.x)
                .y_desc(kind.y)
                .x_label_formatter(&|x| size(*x))
                .y_label_formatter(&|y| if y.fract() == 0.0 { format!("{y:.0}") } else { figure(*y) })
                .draw()?;
            for (server, curve) in &series {
                let c = colour(server);
                chart
                    .draw_series(LineSeries::new(curve.iter().copied(), c.stroke_width(2)).point_size(4))?
                    .label(label(server))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            }
            if let Some(first) = fratello.as_ref().and_then(|c| c.first().copied()).filter(|_| kind.log_y) {
                let grey = RGBColor(140, 140, 140);
                let line = [(first.0, first.1), (x_hi, first.1 * x_hi / first.0)];
                chart
                    .draw_series(DashedLineSeries::new(line, 6, 4, grey.stroke_width(1)))?
                    .label("linear growth from fratello's first point")
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }};
    }
    if kind.log_y {
        let (lo, hi) = (y_lo / 1.5, y_hi * 1.5);
        let ticks: Vec<f64> = (0..8)
            .flat_map(|e| [1.0, 3.0].map(|m| m * 10f64.powi(e)))
            .filter(|t| (lo..=hi).contains(t))
            .collect();
        body!((lo..hi).log_scale().with_key_points(ticks));
    } else {
        body!(y_lo.min(0.0)..y_hi * 1.25);
    }
    root.present()?;
    Ok(())
}
