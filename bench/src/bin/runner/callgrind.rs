//! The primary verdict: user-space instructions per operation, fratello beside raw hyper,
//! counted by callgrind (`bench/callgrind.sh`, which this runs). A count is the same run after
//! run for one binary, whatever else the machine does, so each row is judged by its ratio
//! alone, against the bars of the performance goals.

use std::process::{Command, Stdio};

use crate::harness::parse_result;

/// The bars, fratello ÷ raw hyper at most, by callgrind scenario.
const BARS: [(&str, f64); 5] =
    [("plaintext", 1.05), ("json", 1.05), ("echo", 1.00), ("room", 0.80), ("sse", 1.00)];

/// One scenario's counts.
pub struct Count {
    /// The callgrind scenario (`plaintext`, `json`, `echo`, `room`, `sse`).
    pub scenario: String,
    /// What one operation is (`request`, `round trip`, `delivery`).
    pub what: String,
    /// fratello's (or its stand-in's) instructions per operation.
    pub fratello: f64,
    /// Raw hyper's.
    pub hyper: f64,
}

/// Whether valgrind can be run here.
pub fn available() -> bool {
    Command::new("valgrind").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// The callgrind scenarios that measure the runner's scenarios `keys`, in callgrind.sh's order
/// (`room1k` and `room10k` are both measured by `room`, `sse10k` by `sse`; idle memory by
/// none).
pub fn scenarios_of(keys: &[&str]) -> Vec<&'static str> {
    let measured = |scenario: &str| match scenario {
        "room" => ["room1k", "room10k"].iter().any(|k| keys.contains(k)),
        "sse" => keys.contains(&"sse10k"),
        s => keys.contains(&s),
    };
    BARS.iter().map(|(s, _)| *s).filter(|s| measured(s)).collect()
}

/// Runs `bench/callgrind.sh` for `scenarios` on `fratello_bin` (`srv_fratello`, or a control
/// run's stand-in) and raw hyper; `smoke`: at a tenth of the operations, a check that it works
/// rather than a measurement.
pub fn run(scenarios: &[&str], fratello_bin: &str, smoke: bool) -> Result<Vec<Count>, String> {
    let server = fratello_bin.strip_prefix("srv_").unwrap_or(fratello_bin);
    let mut cmd = Command::new("bash");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/callgrind.sh")).args([
        "--no-record",
        "--scenarios",
        &scenarios.join(","),
        "--servers",
        &format!("{server},hyper"),
    ]);
    if smoke {
        cmd.arg("--smoke");
    }
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run bench/callgrind.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!("bench/callgrind.sh failed ({})", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<Count> = stdout.lines().filter_map(count).collect();
    if counts.len() < scenarios.len() {
        return Err(format!("bench/callgrind.sh gave {} of {} counts", counts.len(), scenarios.len()));
    }
    Ok(counts)
}

/// A `RESULT scenario=S what=W instructions=F,H` line of callgrind.sh's.
fn count(line: &str) -> Option<Count> {
    let m = parse_result(line)?;
    let (f, h) = m.get("instructions")?.split_once(',')?;
    Some(Count {
        scenario: m.get("scenario")?.clone(),
        what: m.get("what")?.clone(),
        fratello: f.parse().ok()?,
        hyper: h.parse().ok()?,
    })
}

/// A count with thousands separated (`9,581`).
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Prints the table of `counts`, each row with its bar and verdict (none at smoke sizes).
pub fn print(counts: &[Count], smoke: bool) {
    println!("| scenario | fratello | raw hyper | fratello ÷ raw hyper | bar | verdict |");
    println!("|---|---:|---:|---:|---|---|");
    for c in counts {
        let ratio = c.fratello / c.hyper.max(1.0);
        let bar = BARS.iter().find(|(s, _)| *s == c.scenario).map(|(_, b)| *b);
        let verdict = match bar {
            _ if smoke => "not judged (smoke sizes)",
            Some(b) if ratio <= b => "PASS",
            Some(_) => "MISS",
            None => "",
        };
        println!(
            "| {}, instructions per {} | {} | {} | {ratio:.3} | {} | {verdict} |",
            c.scenario,
            c.what,
            thousands(c.fratello),
            thousands(c.hyper),
            bar.map_or(String::new(), |b| format!("≤ {b:.2}")),
        );
    }
}
