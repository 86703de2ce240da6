//! The throughput and latency scenarios: each runs against every server, repeats taking turns
//! across the servers (each repeat on a fresh server), so that the machine's drift over a run
//! is shared by all, and gives the rows of the table.

use std::collections::HashMap;
use std::time::Duration;

use crate::harness::{Runner, Server};
use crate::rows::{Bar, Row, CPU_LABEL, USER_LABEL};

/// Repeats of the room scenarios at least: a room's measured phase is short, and a peer's
/// repeats can fall into two groups far apart, so that a median of fewer lands in one group or
/// the other from run to run. Cheap: each repeat is short.
pub const ROOM_REPEATS: usize = 9;

/// Repeats of the echo scenario at least: its p99 moves between repeats.
pub const ECHO_REPEATS: usize = 5;

/// Repeats of the HTTP scenarios at least, of 2 s each: a repeat's rate moves with the
/// machine's load over seconds (most of it in the kernel's share), and seven short repeats
/// taking turns average that out better than three long ones.
pub const HTTP_REPEATS: usize = 7;

/// Every scenario, in the order they run.
pub const ALL: [&str; 9] =
    ["plaintext", "json", "idle10k", "idle19k", "idle50k", "echo", "room1k", "room10k", "sse10k"];

/// A figure of a `loadgen` result, 0 when it is missing.
pub fn get(m: &HashMap<String, String>, k: &str) -> f64 {
    m.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
}

impl Runner {
    /// Runs scenario `key` (one of [`ALL`]) against `servers`: its rows.
    pub fn run_scenario(
        &mut self,
        key: &'static str,
        servers: &[&Server],
        with_axum_default_50k: bool,
    ) -> Vec<Row> {
        match key {
            "plaintext" | "json" => self.http_rows(key, servers),
            "idle10k" | "idle19k" | "idle50k" => vec![self.idle_row(key, servers, with_axum_default_50k)],
            "echo" => self.echo_rows(servers),
            "room1k" | "room10k" | "sse10k" => self.fanout_rows(key, servers),
            _ => Vec::new(),
        }
    }

    /// `GET /plaintext` or `GET /json` under `wrk`: requests per second, and the server's CPU
    /// time per request.
    fn http_rows(&mut self, key: &'static str, servers: &[&Server]) -> Vec<Row> {
        let mut r = Row::new(key, format!("GET /{key}, req/s, 64 keep-alive conns (wrk -t1)"), Bar::Http);
        let (cpu_key, user_key) =
            if key == "json" { ("json-cpu", "json-user") } else { ("plaintext-cpu", "plaintext-user") };
        let mut cpu = Row::new(cpu_key, CPU_LABEL.replace("{what}", "request"), Bar::Reported);
        let mut user = Row::new(user_key, USER_LABEL.to_owned(), Bar::Reported);
        for _ in 0..self.repeats_at_least(HTTP_REPEATS) {
            for s in servers {
                eprintln!("  {key} · {}", s.name);
                self.http(s, &format!("/{key}"), &mut r, &mut cpu, &mut user);
            }
        }
        vec![r, cpu, user]
    }

    /// One measurement of `path` on a fresh `s`, after a warm-up.
    fn http(&mut self, s: &Server, path: &str, row: &mut Row, cpu: &mut Row, user: &mut Row) {
        let secs = if self.smoke { 1 } else { 2 };
        let (mut child, addr) = match self.start(s) {
            Ok(x) => x,
            Err(e) => return row.errors.push(e),
        };
        let url = format!("http://{addr}{path}");
        if !self.smoke {
            let _ = self.wrk(&url, 1); // warm-up
        }
        let before = fratello_bench::cpu_time(child.id());
        match self.wrk(&url, secs) {
            Ok((rate, count)) => {
                row.push(s.name, rate);
                if let (Some(a), Some(b)) = (before, fratello_bench::cpu_time(child.id())) {
                    let used = b.since(a);
                    cpu.push(s.name, used.total_ns as f64 / count.max(1.0));
                    user.push(s.name, used.user_ns as f64 / count.max(1.0));
                }
            }
            Err(e) => row.errors.push(format!("{}: {e}", s.name)),
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// WebSocket echo: round trips per second, p99 latency, the server's CPU time per round
    /// trip.
    fn echo_rows(&mut self, servers: &[&Server]) -> Vec<Row> {
        let (conns, secs, warm) = if self.smoke { (10, "1", "0.2") } else { (100, "4", "1") };
        let mut rate =
            Row::new("echo", format!("WebSocket echo, round trips/s, {conns} conns"), Bar::AtLeastBest);
        let mut p99 =
            Row::new("echo-p99", format!("WebSocket echo, p99 latency µs, {conns} conns"), Bar::AtMostBest);
        let mut cpu = Row::new("echo-cpu", CPU_LABEL.replace("{what}", "round trip"), Bar::Reported);
        let mut user = Row::new("echo-user", USER_LABEL.to_owned(), Bar::Reported);
        for _ in 0..self.repeats_at_least(ECHO_REPEATS) {
            for s in servers {
                eprintln!("  echo · {}", s.name);
                match self.echo_once(s, conns, secs, warm) {
                    Ok(m) => {
                        if m.get("errors").map(String::as_str) != Some("0") {
                            rate.errors.push(format!("{}: {} connections failed", s.name, get(&m, "errors")));
                        }
                        rate.push(s.name, get(&m, "rate"));
                        p99.push(s.name, get(&m, "p99_us"));
                        if m.contains_key("server_cpu_ns") {
                            let count = get(&m, "count").max(1.0);
                            cpu.push(s.name, get(&m, "server_cpu_ns") / count);
                            user.push(s.name, get(&m, "server_user_ns") / count);
                        }
                    }
                    Err(e) => rate.errors.push(format!("{}: {e}", s.name)),
                }
            }
        }
        vec![rate, p99, cpu, user]
    }

    /// Room (WebSocket) or SSE fan-out: deliveries per second, the time until the last
    /// receiver has the last message, the server's CPU time per delivery.
    fn fanout_rows(&mut self, key: &'static str, servers: &[&Server]) -> Vec<Row> {
        let (cmd, receivers, messages) = match (key, self.smoke) {
            ("room1k", false) => ("room", 1_000usize, 200usize),
            ("room10k", false) => ("room", 10_000, 50),
            ("sse10k", false) => ("sse", 10_000, 20),
            ("room1k", true) => ("room", 50, 10),
            ("room10k", true) => ("room", 200, 5),
            _ => ("sse", 200, 5),
        };
        let mut r = if cmd == "room" {
            let label = format!("room fan-out, deliveries/s, {receivers} WS receivers × {messages} msgs");
            Row::new(key, label, Bar::AtLeastBest)
        } else {
            let label = format!("SSE fan-out, deliveries/s, {receivers} receivers × {messages} events");
            Row::new(key, label, Bar::Reported)
        };
        let (last_key, cpu_key) = match key {
            "room1k" => ("room1k-last", "room1k-cpu"),
            "room10k" => ("room10k-last", "room10k-cpu"),
            _ => ("sse10k-last", "sse10k-cpu"),
        };
        let label = format!("  … time until the last receiver has the last message, ms ({receivers})");
        let mut last = Row::new(last_key, label, Bar::Reported);
        let mut cpu = Row::new(cpu_key, CPU_LABEL.replace("{what}", "delivery"), Bar::Reported);
        // A room's measured phase is short and moves between repeats: at least ROOM_REPEATS of
        // them, so that the median means something (not in a smoke run).
        let repeats = if cmd == "room" { self.repeats_at_least(ROOM_REPEATS) } else { self.repeats };
        for _ in 0..repeats {
            for s in servers {
                eprintln!("  {key} · {}", s.name);
                match self.fanout_once(s, cmd, receivers, messages) {
                    Ok(m) => {
                        if get(&m, "complete") < receivers as f64 {
                            let complete = get(&m, "complete");
                            r.errors.push(format!("{}: only {complete} receivers got every message", s.name));
                        }
                        r.push(s.name, get(&m, "deliveries_per_s"));
                        last.push(s.name, get(&m, "last_ms"));
                        if m.contains_key("server_cpu_ns") {
                            let deliveries = (get(&m, "complete") * messages as f64).max(1.0);
                            cpu.push(s.name, get(&m, "server_cpu_ns") / deliveries);
                        }
                    }
                    Err(e) => r.errors.push(format!("{}: {e}", s.name)),
                }
            }
        }
        vec![r, last, cpu]
    }

    /// One echo measurement on a fresh `s`: `conns` connections for `secs` seconds after
    /// `warm` seconds of warm-up; `loadgen`'s result.
    pub fn echo_once(
        &mut self,
        s: &Server,
        conns: usize,
        secs: &str,
        warm: &str,
    ) -> Result<HashMap<String, String>, String> {
        let (mut child, addr) = self.start(s)?;
        let src = self.sources(1);
        let args = ["echo", "--addr", &addr, "--conns", &conns.to_string(), "--secs", secs];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.extend(["--warmup-secs", warm, "--sources", &src].map(String::from));
        args.extend(["--server-pid".to_owned(), child.id().to_string()]);
        let result = self.loadgen(&args, Duration::from_secs(60));
        let _ = child.kill();
        let _ = child.wait();
        result
    }

    /// One fan-out measurement on a fresh `s`: `cmd` (`room` or `sse`) with `receivers`
    /// receivers and `messages` messages (events); `loadgen`'s result.
    pub fn fanout_once(
        &mut self,
        s: &Server,
        cmd: &str,
        receivers: usize,
        messages: usize,
    ) -> Result<HashMap<String, String>, String> {
        let (mut child, addr) = self.start(s)?;
        let src = self.sources(receivers.div_ceil(10_000) + 1);
        let count_flag = if cmd == "room" { "--messages" } else { "--events" };
        let args = [
            cmd,
            "--addr",
            &addr,
            "--receivers",
            &receivers.to_string(),
            count_flag,
            &messages.to_string(),
            "--sources",
            &src,
            "--server-pid",
            &child.id().to_string(),
        ]
        .map(String::from);
        let result = self.loadgen(&args, Duration::from_secs(120));
        let _ = child.kill();
        let _ = child.wait();
        result
    }
}
