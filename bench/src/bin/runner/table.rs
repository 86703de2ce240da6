//! The throughput and latency table: each row's medians, fratello's ratio to the best peer,
//! and its verdict, with the bar held or missed beyond the noise by the sign test; then the
//! notes and every repeat's figures.

use std::collections::HashMap;

use crate::rows::{fmt, Bar, Row};
use crate::sign_test::{missed_beyond_noise, paired, paired_with, verdict, word};

/// Prints the table of `rows` with a column per server in `names`, the notes and every
/// repeat.
pub fn print(rows: &[Row], names: &[&str]) {
    println!("| scenario | {} | fratello ÷ best peer | bar | verdict |", names.join(" | "));
    println!("|---|{}---|---|---|", "---:|".repeat(names.len()));
    for row in rows {
        let med = row.medians();
        let cells: Vec<String> =
            names.iter().map(|n| med.get(n).map_or("n/a".to_owned(), |v| fmt(*v))).collect();
        let (ratio, bar, verdict) = judge(row, names, &med);
        println!("| {} | {} | {ratio} | {bar} | {verdict} |", row.label, cells.join(" | "));
    }
    let notes: Vec<String> =
        rows.iter().flat_map(|row| row.errors.iter().map(|e| format!("- {}: {e}", row.key))).collect();
    if !notes.is_empty() {
        println!();
        println!("Notes and errors:");
        for n in &notes {
            println!("{n}");
        }
    }
    println!();
    println!("Every repeat:");
    for row in rows {
        let mut parts: Vec<String> = Vec::new();
        for n in names {
            if let Some(v) = row.values.get(n) {
                parts.push(format!("{n} [{}]", v.iter().map(|x| fmt(*x)).collect::<Vec<_>>().join(", ")));
            }
        }
        println!("- {}: {}", row.key, parts.join("; "));
    }
}

/// Errors in `rows`, and rows that should have a figure and have none (a skipped server is
/// not an error).
pub fn failures(rows: &[Row]) -> usize {
    let skipped = |e: &String| e.contains("skipped");
    rows.iter()
        .map(|row| {
            let errors = row.errors.iter().filter(|e| !skipped(e)).count();
            let empty = !row.reported_lower() && row.values.is_empty() && !row.errors.iter().all(skipped);
            errors + usize::from(empty)
        })
        .sum()
}

/// fratello's ratio to the best peer, the bar, and the verdict of `row` with medians `med`.
fn judge(row: &Row, names: &[&str], med: &HashMap<&'static str, f64>) -> (String, &'static str, String) {
    let peers: Vec<(&str, f64)> =
        med.iter().filter(|(k, _)| **k != "fratello").map(|(k, v)| (*k, *v)).collect();
    let f = med.get("fratello").copied();
    let lower_better = matches!(row.bar, Bar::Memory | Bar::AtMostBest) || row.reported_lower();
    let best = if lower_better {
        peers.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))
    } else {
        peers.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let ratio = match (f, best) {
        (Some(f), Some((n, b))) if b > 0.0 => format!("{:.2} (vs {n})", f / b),
        _ => "n/a".to_owned(),
    };
    let get = |n: &str| med.get(n).copied();
    let (bar, verdict) = match (row.bar, f) {
        (_, None) if !row.reported_lower() && row.bar != Bar::Reported => ("", "n/a".to_owned()),
        (Bar::Http, Some(f)) => {
            // Two bars, each held against one peer repeat by repeat (against the best of
            // three in every repeat, a server level with them would hold one time in four):
            // 0.95 × raw hyper, and the best of axum/actix by the medians. A peer that was
            // not run (`--servers`) is not a bar.
            let aa = ["axum", "axum-4k", "actix"]
                .into_iter()
                .filter_map(|n| get(n).map(|v| (n, v)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let bars = [("hyper", 0.95)].into_iter().chain(aa.map(|(n, _)| (n, 1.0)));
            let (mut ok, mut beyond, mut parts) = (true, false, Vec::new());
            for (peer, factor) in bars {
                let Some(p) = get(peer) else { continue };
                let held = f >= factor * p;
                let by_repeat = paired_with(row, names, peer, |f, p| f >= factor * p);
                ok &= held;
                beyond |= !held && by_repeat.is_some_and(|(k, n)| missed_beyond_noise(k, n));
                let repeats =
                    by_repeat.map_or(String::new(), |(k, n)| format!(", held in {k} of {n} repeats"));
                parts.push(format!("{:.2}×{peer}{repeats}", f / p));
            }
            ("≥0.95×hyper, ≥ best of axum/actix", format!("{} ({})", word(ok, beyond), parts.join("; ")))
        }
        (Bar::Memory, Some(f)) => {
            let holds = |f: f64, get: &dyn Fn(&str) -> Option<f64>| {
                f <= 3.0 && names.iter().filter(|n| **n != "fratello").filter_map(|n| get(n)).all(|p| f < p)
            };
            let ok = holds(f, &get);
            let by_repeat = paired(row, names, |get| get("fratello").is_some_and(|f| holds(f, get)));
            ("< every peer, ≤ 3 KiB", verdict(ok, by_repeat))
        }
        (Bar::AtLeastBest | Bar::AtMostBest, Some(f)) => {
            // Repeat by repeat, against the peer that is best by the medians.
            let at_least = row.bar == Bar::AtLeastBest;
            let holds = |f: f64, b: f64| if at_least { f >= b } else { f <= b };
            let ok = best.is_none_or(|b| holds(f, b.1));
            let by_repeat = best.and_then(|(peer, _)| paired_with(row, names, peer, holds));
            (if at_least { "≥ best peer" } else { "≤ best peer" }, verdict(ok, by_repeat))
        }
        _ => ("reported", String::new()),
    };
    (ratio, bar, verdict)
}
