//! `runner --curves`: the size sweeps. Idle memory per socket, room deliveries per second and
//! echo p99 at several sizes, for fratello, raw hyper and the best framework peer of each
//! scenario; printed as the points file that `charts` draws and judges (`bench/charts/`).

use std::time::Instant;

use crate::about;
use crate::harness::{Runner, Server, SERVERS};
use crate::idle::IDLE_REPEATS;
use crate::scenarios::get;

/// One sweep: a scenario measured at several sizes.
pub struct Sweep {
    /// The scenario's name in the points file (`idle`, `room`, `echo`).
    pub key: &'static str,
    /// What is measured, and its unit.
    pub what: &'static str,
    /// The sizes of a full run, smallest first.
    pub sizes: &'static [usize],
    /// The sizes of a smoke run (a check of the pipeline, not a measurement).
    pub smoke_sizes: &'static [usize],
    /// The best framework peer of the scenario in the full run (bench/results/), besides raw
    /// hyper.
    pub peer: &'static str,
}

/// Every sweep, in the order they run.
pub const SWEEPS: [Sweep; 3] = [
    Sweep {
        key: "idle",
        what: "idle WebSocket memory, KiB per socket (VmRSS after - before, / sockets)",
        sizes: &[1_000, 5_000, 10_000, 19_500],
        smoke_sizes: &[100, 300],
        peer: "axum-4k",
    },
    Sweep {
        key: "room",
        what: "room fan-out, deliveries per second (receivers × messages / time to the last delivery)",
        sizes: &[100, 1_000, 10_000],
        smoke_sizes: &[20, 100],
        peer: "hyperlane",
    },
    Sweep {
        key: "echo",
        what: "WebSocket echo, p99 latency µs (32-byte messages, each connection one in flight)",
        sizes: &[10, 100, 1_000],
        smoke_sizes: &[2, 10],
        peer: "axum-4k",
    },
];

/// Messages sent to a room of `receivers`: about 200,000 deliveries at 100 and 1,000 receivers
/// (as the room1k scenario), 500,000 at 10,000 (as room10k); fewer in a smoke run.
fn room_messages(receivers: usize, smoke: bool) -> usize {
    match (smoke, receivers) {
        (true, _) => 10,
        (false, ..=100) => 2_000,
        (false, ..=1_000) => 200,
        (false, _) => 50,
    }
}

/// Runs every sweep with the servers named (fratello, raw hyper and each sweep's peer when
/// `only` is `None`) and prints the points file on stdout. Returns the number of measurements
/// that failed.
pub fn run(r: &mut Runner, only: Option<&[String]>) -> usize {
    let started = Instant::now();
    let load_at_start = about::load();
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for sweep in &SWEEPS {
        let wanted = |s: &&Server| match only {
            Some(o) => o.iter().any(|n| n == s.name),
            None => ["hyper", sweep.peer, "fratello"].contains(&s.name),
        };
        let servers: Vec<&Server> = SERVERS.iter().filter(wanted).collect();
        let sizes = if r.smoke { sweep.smoke_sizes } else { sweep.sizes };
        let repeats = if sweep.key == "idle" { r.repeats.min(IDLE_REPEATS) } else { r.repeats };
        let t = Instant::now();
        for &size in sizes {
            let mut values: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
            // Repeats take turns across the servers, so that the machine's drift is shared.
            for _ in 0..repeats {
                for (i, s) in servers.iter().enumerate() {
                    eprintln!("  curves {} {size} · {}", sweep.key, s.name);
                    match measure(r, sweep.key, s, size) {
                        Ok(v) => values[i].push(v),
                        Err(e) => errors.push(format!("{} {size} {}: {e}", sweep.key, s.name)),
                    }
                }
            }
            for (s, v) in servers.iter().zip(&values) {
                if v.is_empty() {
                    continue;
                }
                let each: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
                lines.push(format!("{},{},{size},{:.3},{}", sweep.key, s.name, median(v), each.join(" ")));
            }
        }
        eprintln!("   (curves {}: {:.0} s)", sweep.key, t.elapsed().as_secs_f64());
    }
    println!(
        "# Size sweeps (bash bench/run.sh --curves); the points that bench/charts/*.svg are drawn from."
    );
    println!("# {}", about::machine());
    println!("# {}", about::versions());
    let mode = if r.smoke { "SMOKE SIZES, not a measurement; " } else { "" };
    println!(
        "# {mode}medians of {} repeat(s) (idle: of at most {IDLE_REPEATS}); total {:.0} s; load average {load_at_start} \
         at the start, {} at the end.",
        r.repeats,
        started.elapsed().as_secs_f64(),
        about::load()
    );
    for sweep in &SWEEPS {
        println!("# {}: {}", sweep.key, sweep.what);
    }
    for e in &errors {
        println!("# error: {e}");
    }
    println!("scenario,server,size,median,repeats");
    for l in &lines {
        println!("{l}");
    }
    errors.len()
}

/// One measurement of sweep `key` on `s` at `size`.
fn measure(r: &mut Runner, key: &str, s: &Server, size: usize) -> Result<f64, String> {
    match key {
        "idle" => {
            let per_client = if size > 10_000 { size.div_ceil(2) } else { size };
            r.idle(s, size, 1, per_client)
        }
        "room" => {
            let m = r.fanout_once(s, "room", size, room_messages(size, r.smoke))?;
            if get(&m, "complete") < size as f64 {
                return Err(format!("only {} receivers got every message", get(&m, "complete")));
            }
            Ok(get(&m, "deliveries_per_s"))
        }
        _ => {
            let (secs, warm) = if r.smoke { ("1", "0.2") } else { ("4", "1") };
            let m = r.echo_once(s, size, secs, warm)?;
            if m.get("errors").map(String::as_str) != Some("0") {
                return Err(format!("{} connections failed", get(&m, "errors")));
            }
            Ok(get(&m, "p99_us"))
        }
    }
}

/// The median of `v` (not empty): the mean of the middle two for an even count.
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}
