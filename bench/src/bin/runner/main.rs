//! Runs every scenario against every server in turn and prints the verdicts (what
//! `bench/run.sh` calls after building). `--smoke`: every scenario once at a tiny size, for CI.
//!
//! ```text
//! runner [--smoke] [--repeats N] [--servers hyper,axum,...] [--scenarios plaintext,echo,...]
//!        [--no-callgrind] [--with-axum-default-50k] [--stand-in srv_hyper]
//! runner --curves [--smoke] [--repeats N] [--servers hyper,axum-4k,...]
//! ```
//!
//! `--curves`: the size sweeps instead (idle memory, room fan-out and echo p99 at several
//! sizes; `curves.rs`), printed as a points file for `charts`.
//!
//! Two tables. First the primary verdict: user-space instructions per operation, fratello
//! beside raw hyper, counted by callgrind (`bench/callgrind.sh`) for the scenarios that were
//! run (at a smoke run's size, plaintext alone, and only where valgrind is installed;
//! `--no-callgrind` leaves it out). Then throughput and latency against every peer, each bar
//! judged repeat by repeat by a sign test.
//!
//! `--stand-in BIN`: a control run. The "fratello" column is served by another server's binary
//! (say `srv_hyper`, a second copy of raw hyper), and everything else is as in a real run: the
//! verdicts then say how often a server level with a peer clears the bars on this machine.
//!
//! Exit status: non-zero when a scenario produced no figure (an error), never because of a
//! bar: the tables say which bars fratello clears.

mod about;
mod callgrind;
mod curves;
mod harness;
mod idle;
mod rows;
mod scenarios;
mod sign_test;
mod table;

use std::time::Instant;

use harness::{Runner, Server, SERVERS};
use idle::IDLE_REPEATS;
use rows::Row;
use scenarios::{ALL, ECHO_REPEATS, HTTP_REPEATS, ROOM_REPEATS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| args.iter().position(|a| a == f).and_then(|i| args.get(i + 1)).cloned();
    let smoke = flag("--smoke");
    let repeats = value("--repeats").and_then(|r| r.parse().ok()).unwrap_or(if smoke { 1 } else { 3 });
    let chosen: Vec<String> = value("--scenarios").map_or_else(
        || ALL.iter().map(|s| s.to_string()).collect(),
        |s| s.split(',').map(String::from).collect(),
    );
    let keys: Vec<&'static str> = ALL.into_iter().filter(|k| chosen.iter().any(|s| s == k)).collect();
    let only: Option<Vec<String>> = value("--servers").map(|s| s.split(',').map(String::from).collect());
    // A control run's stand-in takes fratello's place, under fratello's name.
    let stand_in = value("--stand-in").map(|bin| Server { name: "fratello", bin: bin.leak(), env: &[] });
    let servers: Vec<&Server> = SERVERS
        .iter()
        .map(|s| match &stand_in {
            Some(stand_in) if s.name == "fratello" => stand_in,
            _ => s,
        })
        .filter(|s| only.as_ref().is_none_or(|o| o.iter().any(|n| n == s.name)))
        .collect();
    let dir = std::env::current_exe().expect("exe").parent().expect("dir").to_path_buf();
    let mut r = Runner::new(dir, smoke, repeats);
    if flag("--curves") {
        let failed = curves::run(&mut r, only.as_deref());
        if failed > 0 {
            eprintln!("{failed} measurement(s) failed; see the error lines of the points file");
            std::process::exit(1);
        }
        return;
    }

    let started = Instant::now();
    let load_at_start = about::load();
    let mut rows: Vec<Row> = Vec::new();
    for key in &keys {
        let t = Instant::now();
        eprintln!("== {key}");
        rows.extend(r.run_scenario(key, &servers, flag("--with-axum-default-50k")));
        eprintln!("   ({:.0} s)", t.elapsed().as_secs_f64());
    }
    let load_after_rates = about::load();

    // Instructions: every scenario that was run, or at a smoke run's size one, as a check.
    let mut failures = table::failures(&rows);
    let mut measured = callgrind::scenarios_of(&keys);
    if smoke {
        measured.truncate(1);
    }
    let fratello_bin = stand_in.as_ref().map_or("srv_fratello", |s| s.bin);
    let instructions = if flag("--no-callgrind") || measured.is_empty() {
        None
    } else if !callgrind::available() {
        // A smoke run checks what it can; a real run without its primary verdict failed.
        failures += usize::from(!smoke);
        Some(Err("valgrind is not installed (bench/run.sh installs it)".to_owned()))
    } else {
        let t = Instant::now();
        eprintln!("== callgrind: {}", measured.join(", "));
        let counts = callgrind::run(&measured, fratello_bin, smoke);
        eprintln!("   ({:.0} s)", t.elapsed().as_secs_f64());
        failures += usize::from(counts.is_err());
        Some(counts)
    };
    let load_at_end = about::load();

    println!();
    println!("{}", about::machine());
    let medians = if smoke {
        "Every scenario once, at SMOKE SIZES (not a measurement)".to_owned()
    } else {
        format!(
            "Medians of {repeats} run(s) (HTTP: of at least {HTTP_REPEATS} of 2 s, idle memory: of at most \
             {IDLE_REPEATS}, echo: of at least {ECHO_REPEATS}, room fan-out: of at least {ROOM_REPEATS})"
        )
    };
    println!(
        "{} {medians}; total {:.0} s. Load average {load_at_start} at the start, {load_after_rates} after the \
         throughput scenarios, {load_at_end} at the end.",
        about::versions(),
        started.elapsed().as_secs_f64()
    );
    if let Some(stand_in) = &stand_in {
        println!(
            "CONTROL RUN: the fratello column is `{}` standing in for fratello (--stand-in), not fratello.",
            stand_in.bin
        );
    }
    match &instructions {
        None => {}
        Some(Ok(counts)) => {
            println!();
            println!(
                "Instructions per operation, the primary verdict (callgrind, user space, release build with \
                 debug info; bench/callgrind.sh):"
            );
            println!();
            callgrind::print(counts, smoke);
        }
        Some(Err(e)) => {
            println!();
            println!("Instructions per operation: not counted: {e}");
        }
    }
    if !rows.is_empty() {
        println!();
        println!("Throughput and latency, each bar judged repeat by repeat by a sign test:");
        println!();
        let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
        table::print(&rows, &names);
    }
    if failures > 0 {
        eprintln!("{failures} scenario error(s); see the notes above");
        std::process::exit(1);
    }
}
