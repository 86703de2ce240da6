//! Runs every scenario against every server in turn and prints one table (what
//! `bench/run.sh` calls after building). `--smoke`: every scenario once at a tiny size, for CI.
//!
//! ```text
//! runner [--smoke] [--repeats N] [--servers hyper,axum,...] [--scenarios plaintext,echo,...]
//!        [--with-axum-default-50k] [--stand-in srv_hyper]
//! ```
//!
//! `--stand-in BIN`: a control run. The "fratello" column is served by another server's binary
//! (say `srv_hyper`, a second copy of raw hyper), and everything else is as in a real run: the
//! verdicts then say how often a server level with a peer clears the bars on this machine.
//!
//! Exit status: non-zero when a scenario produced no figure (an error), never because of a
//! bar: the table says which bars fratello clears.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Repeats of the room scenarios at least: their measured phase lasts 40-350 ms, and a peer's
/// repeats can fall into two groups far apart (hyperlane's at 1,000 receivers: about 3.5M and
/// 5.3M deliveries/s), so that the median of 5 lands in one group or the other from run to run.
/// Cheap: a repeat at 1,000 receivers takes under a second.
const ROOM_REPEATS: usize = 9;

/// Repeats of the echo scenario at least: its p99 moves by ±5 % between repeats.
const ECHO_REPEATS: usize = 5;

/// Repeats of the HTTP scenarios at least, of 2 s each: a repeat's rate moves with the
/// machine's load over seconds (±10 % on this kind of machine, most of it in the kernel's
/// share), and seven short repeats taking turns average that out better than three of 4 s.
const HTTP_REPEATS: usize = 7;

/// Repeats of the idle-memory scenarios at most: their figures agree within 0.05 KiB per
/// socket from repeat to repeat, and each takes tens of seconds.
const IDLE_REPEATS: usize = 2;

struct Server {
    name: &'static str,
    bin: &'static str,
    env: &'static [(&'static str, &'static str)],
}

const SERVERS: &[Server] = &[
    Server { name: "hyper", bin: "srv_hyper", env: &[] },
    Server { name: "axum", bin: "srv_axum", env: &[] },
    Server { name: "axum-4k", bin: "srv_axum", env: &[("AXUM_WS_BUF", "4096")] },
    Server { name: "actix", bin: "srv_actix", env: &[] },
    Server { name: "hyperlane", bin: "srv_hyperlane", env: &[] },
    Server { name: "fratello", bin: "srv_fratello", env: &[] },
];

#[derive(Clone, Copy, PartialEq)]
enum Bar {
    /// ≥ 0.95 × hyper and ≥ max(axum, actix).
    Http,
    /// Lower than every peer and ≤ 3 KiB.
    Memory,
    /// At least the best peer (higher is better).
    AtLeastBest,
    /// At most the best peer (lower is better).
    AtMostBest,
    /// Reported only (higher is better).
    Reported,
}

struct Row {
    key: &'static str,
    label: String,
    bar: Bar,
    /// server name -> figures of each repeat
    values: HashMap<&'static str, Vec<f64>>,
    errors: Vec<String>,
}

impl Row {
    /// A figure reported beside a scenario's, where lower is better: the time until the last
    /// receiver has everything, the server's CPU time per unit of work.
    fn reported_lower(&self) -> bool {
        self.key.ends_with("-last") || self.key.ends_with("-cpu") || self.key.ends_with("-user")
    }
}

/// The label of a row of server CPU time per unit of work.
const CPU_LABEL: &str = "  … server CPU time per {what}, ns (all threads, measured phase)";

/// The label of a row of the part of that spent in user space.
const USER_LABEL: &str =
    "  … of it in user space, ns (what the server's own code costs; the rest is the kernel's)";

struct Runner {
    dir: PathBuf,
    smoke: bool,
    repeats: usize,
    next_port: u16,
    next_ip: u32,
    failures: usize,
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    Some(if s.len() % 2 == 1 { s[s.len() / 2] } else { (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0 })
}

fn parse_result(out: &str) -> Option<HashMap<String, String>> {
    let line = out.lines().find(|l| l.starts_with("RESULT "))?;
    parse_tail(&line[7..], HashMap::new())
}

/// `key=value` pairs separated by spaces; a value may be `"quoted with spaces"`.
fn parse_tail(rest: &str, mut map: HashMap<String, String>) -> Option<HashMap<String, String>> {
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_owned();
        let after = &s[eq + 1..];
        let (val, rem) = if let Some(q) = after.strip_prefix('"') {
            let close = q.find('"').unwrap_or(q.len());
            (q[..close].to_owned(), q.get(close + 1..).unwrap_or(""))
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        map.insert(key, val);
        s = rem.trim_start();
    }
    Some(map)
}

fn rss_kib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits for `child` at most `limit`; kills it past that. Returns its stdout.
fn wait_output(mut child: Child, limit: Duration) -> Result<String, String> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {limit:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut s, &mut out);
    }
    Ok(out)
}

impl Runner {
    fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn port(&mut self) -> u16 {
        self.next_port += 1;
        self.next_port
    }

    /// `k` loopback source addresses never used before in this run (ports of closed
    /// connections stay in TIME_WAIT for a minute, so each run takes fresh ones).
    fn sources(&mut self, k: usize) -> String {
        (0..k)
            .map(|_| {
                self.next_ip += 1;
                let n = self.next_ip;
                format!("127.{}.{}.{}", 1 + (n >> 16) % 254, (n >> 8) & 255, 1 + (n & 255) % 254)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn start(&mut self, s: &Server) -> Result<(Child, String), String> {
        let port = self.port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(self.bin(s.bin));
        cmd.arg(&addr)
            .env("WORKERS", "2")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in s.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", s.bin))?;
        let start = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            if start.elapsed() > Duration::from_secs(10) || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                return Err(format!("{} did not start listening on {addr}", s.name));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok((child, addr))
    }

    fn loadgen(&mut self, args: &[String], limit: Duration) -> Result<HashMap<String, String>, String> {
        let child = Command::new(self.bin("loadgen"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        let out = wait_output(child, limit)?;
        let map = parse_result(&out).ok_or_else(|| format!("no RESULT from loadgen: {out}"))?;
        if let Some(e) = map.get("error") {
            return Err(e.clone());
        }
        Ok(map)
    }

    /// `--repeats`, raised to `n` for a scenario whose single repeats scatter (not in a smoke
    /// run, which measures each scenario once).
    fn repeats_at_least(&self, n: usize) -> usize {
        if self.smoke {
            self.repeats
        } else {
            self.repeats.max(n)
        }
    }

    /// Requests per second, and requests in all.
    fn wrk(&mut self, url: &str, secs: u32) -> Result<(f64, f64), String> {
        let child = Command::new("wrk")
            .args(["-t1", "-c64", &format!("-d{secs}s"), url])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("wrk: {e} (bench/run.sh installs it)"))?;
        let out = wait_output(child, Duration::from_secs(u64::from(secs) + 20))?;
        if out.contains("Non-2xx") || out.contains("Socket errors") {
            return Err(format!("wrk saw errors: {}", out.replace('\n', " ")));
        }
        let rate =
            out.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse().ok());
        // "  532211 requests in 4.00s, 64.97MB read"
        let count = out
            .lines()
            .find(|l| l.contains(" requests in "))
            .and_then(|l| l.split_whitespace().next()?.parse().ok());
        rate.zip(count).ok_or_else(|| format!("cannot read wrk output: {out}"))
    }

    // ------------------------------------------------------------------ scenarios

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
                row.values.entry(s.name).or_default().push(rate);
                if let (Some(a), Some(b)) = (before, fratello_bench::cpu_time(child.id())) {
                    let used = b.since(a);
                    cpu.values.entry(s.name).or_default().push(used.total_ns as f64 / count.max(1.0));
                    user.values.entry(s.name).or_default().push(used.user_ns as f64 / count.max(1.0));
                }
            }
            Err(e) => row.errors.push(format!("{}: {e}", s.name)),
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// KiB of server RSS per idle WebSocket: `conns` sockets over `instances` servers, with
    /// client processes of at most `per_client` sockets each.
    fn idle(&mut self, s: &Server, conns: usize, instances: usize, per_client: usize) -> Result<f64, String> {
        let mut servers = Vec::new();
        let result = (|| {
            for _ in 0..instances {
                servers.push(self.start(s)?);
            }
            // Warm-up: runtime threads, allocator arenas and lazy statics are not per socket.
            for (_, addr) in &servers {
                let src = self.sources(1);
                let args = ["idle", "--addr", addr, "--conns", "200", "--hold-secs", "0", "--sources", &src];
                self.loadgen(&args.map(String::from), Duration::from_secs(60))?;
            }
            std::thread::sleep(Duration::from_millis(500));
            let before: f64 = servers.iter().map(|(c, _)| rss_kib(c.id())).sum();
            // Clients: spread each instance's share over processes of ≤ per_client sockets.
            let mut clients = Vec::new();
            let (tx, rx) = mpsc::channel::<Result<usize, String>>();
            for (i, (_, addr)) in servers.iter().enumerate() {
                let share = conns / instances + usize::from(i < conns % instances);
                let procs = share.div_ceil(per_client);
                for p in 0..procs {
                    let n = share / procs + usize::from(p < share % procs);
                    let src = self.sources(n.div_ceil(10_000));
                    let mut child = Command::new(self.bin("loadgen"))
                        .args(["idle", "--addr", addr, "--conns", &n.to_string(), "--hold-secs", "120"])
                        .args(["--sources", &src])
                        .stdout(Stdio::piped())
                        .stderr(Stdio::inherit())
                        .spawn()
                        .map_err(|e| e.to_string())?;
                    let out = child.stdout.take().expect("piped");
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        let line = BufReader::new(out)
                            .lines()
                            .map_while(Result::ok)
                            .find(|l| l.starts_with("RESULT"));
                        let r = match line.as_deref().and_then(parse_result) {
                            Some(m) if m.get("failed").map(String::as_str) == Some("0") => {
                                Ok(m.get("connected").and_then(|c| c.parse().ok()).unwrap_or(0))
                            }
                            Some(m) => Err(format!(
                                "{} of {n} sockets failed: {}",
                                m.get("failed").cloned().unwrap_or_default(),
                                m.get("error").cloned().unwrap_or_default()
                            )),
                            None => Err("idle client ended without a result".to_owned()),
                        };
                        let _ = tx.send(r);
                    });
                    clients.push(child);
                }
            }
            drop(tx);
            let mut connected = 0;
            let mut err = None;
            for _ in 0..clients.len() {
                match rx.recv_timeout(Duration::from_secs(150)) {
                    Ok(Ok(n)) => connected += n,
                    Ok(Err(e)) => err = Some(e),
                    Err(_) => err = Some("idle clients timed out".to_owned()),
                }
            }
            // Let the sessions settle (handshake buffers freed, tasks parked).
            std::thread::sleep(Duration::from_millis(if self.smoke { 300 } else { 1500 }));
            let after: f64 = servers.iter().map(|(c, _)| rss_kib(c.id())).sum();
            for mut c in clients {
                let _ = c.kill();
                let _ = c.wait();
            }
            if let Some(e) = err {
                return Err(e);
            }
            Ok((after - before) / connected.max(1) as f64)
        })();
        for (mut c, _) in servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        result
    }

    fn run_scenario(
        &mut self,
        key: &'static str,
        servers: &[&Server],
        with_axum_default_50k: bool,
    ) -> Vec<Row> {
        let smoke = self.smoke;
        let row = |key: &'static str, label: String, bar: Bar| Row {
            key,
            label,
            bar,
            values: HashMap::new(),
            errors: Vec::new(),
        };
        match key {
            "plaintext" | "json" => {
                let mut r = row(key, format!("GET /{key}, req/s, 64 keep-alive conns (wrk -t1)"), Bar::Http);
                let (cpu_key, user_key) = if key == "json" {
                    ("json-cpu", "json-user")
                } else {
                    ("plaintext-cpu", "plaintext-user")
                };
                let mut cpu = row(cpu_key, CPU_LABEL.replace("{what}", "request"), Bar::Reported);
                let mut user = row(user_key, USER_LABEL.to_owned(), Bar::Reported);
                // Repeats take turns (each on a fresh server), so that the machine's drift over
                // a run is shared by all.
                for _ in 0..self.repeats_at_least(HTTP_REPEATS) {
                    for s in servers {
                        eprintln!("  {key} · {}", s.name);
                        self.http(s, &format!("/{key}"), &mut r, &mut cpu, &mut user);
                    }
                }
                vec![r, cpu, user]
            }
            "idle10k" | "idle19k" | "idle50k" => {
                let (conns, instances, per_client) = match (key, smoke) {
                    ("idle10k", false) => (10_000, 1, 10_000),
                    ("idle19k", false) => (19_500, 1, 9_750),
                    ("idle50k", false) => (50_000, 3, 16_667),
                    ("idle10k", true) => (200, 1, 200),
                    ("idle19k", true) => (390, 1, 195),
                    _ => (600, 3, 200),
                };
                let label = if instances == 1 {
                    format!("idle WebSocket, KiB/conn, {conns} conns, 1 instance")
                } else {
                    format!("idle WebSocket, KiB/conn, {conns} conns, {instances} instances")
                };
                let mut r = row(key, label, Bar::Memory);
                for s in servers {
                    if key == "idle50k" && s.name == "axum" && !with_axum_default_50k && !smoke {
                        r.errors
                            .push("axum (default buffers) skipped at 50k: ~6.5 GB; see 10k/19.5k".to_owned());
                        continue;
                    }
                    for _ in 0..self.repeats.min(IDLE_REPEATS) {
                        eprintln!("  {key} · {}", s.name);
                        match self.idle(s, conns, instances, per_client) {
                            Ok(v) => r.values.entry(s.name).or_default().push(v),
                            Err(e) => r.errors.push(format!("{}: {e}", s.name)),
                        }
                    }
                }
                vec![r]
            }
            "echo" => {
                let (conns, secs, warm) = if smoke { (10, "1", "0.2") } else { (100, "4", "1") };
                let mut rate =
                    row("echo", format!("WebSocket echo, round trips/s, {conns} conns"), Bar::AtLeastBest);
                let mut p99 = row(
                    "echo-p99",
                    format!("WebSocket echo, p99 latency µs, {conns} conns"),
                    Bar::AtMostBest,
                );
                let mut cpu = row("echo-cpu", CPU_LABEL.replace("{what}", "round trip"), Bar::Reported);
                let mut user = row("echo-user", USER_LABEL.to_owned(), Bar::Reported);
                // Repeats take turns, each on a fresh server.
                for _ in 0..self.repeats_at_least(ECHO_REPEATS) {
                    for s in servers {
                        eprintln!("  echo · {}", s.name);
                        let (mut child, addr) = match self.start(s) {
                            Ok(x) => x,
                            Err(e) => {
                                rate.errors.push(e);
                                continue;
                            }
                        };
                        let src = self.sources(1);
                        let args = ["echo", "--addr", &addr, "--conns", &conns.to_string(), "--secs", secs];
                        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                        args.extend(["--warmup-secs", warm, "--sources", &src].map(String::from));
                        args.extend(["--server-pid".to_owned(), child.id().to_string()]);
                        match self.loadgen(&args, Duration::from_secs(60)) {
                            Ok(m) => {
                                let get =
                                    |k: &str| m.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                                if m.get("errors").map(String::as_str) != Some("0") {
                                    rate.errors.push(format!(
                                        "{}: {} connections failed",
                                        s.name,
                                        get("errors")
                                    ));
                                }
                                rate.values.entry(s.name).or_default().push(get("rate"));
                                p99.values.entry(s.name).or_default().push(get("p99_us"));
                                if m.contains_key("server_cpu_ns") {
                                    let per = get("server_cpu_ns") / get("count").max(1.0);
                                    cpu.values.entry(s.name).or_default().push(per);
                                    let per = get("server_user_ns") / get("count").max(1.0);
                                    user.values.entry(s.name).or_default().push(per);
                                }
                            }
                            Err(e) => rate.errors.push(format!("{}: {e}", s.name)),
                        }
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                }
                vec![rate, p99, cpu, user]
            }
            "room1k" | "room10k" | "sse10k" => {
                let (cmd, receivers, messages) = match (key, smoke) {
                    ("room1k", false) => ("room", 1_000usize, 200usize),
                    ("room10k", false) => ("room", 10_000, 50),
                    ("sse10k", false) => ("sse", 10_000, 20),
                    ("room1k", true) => ("room", 50, 10),
                    ("room10k", true) => ("room", 200, 5),
                    _ => ("sse", 200, 5),
                };
                let (label, bar) = if cmd == "room" {
                    (
                        format!("room fan-out, deliveries/s, {receivers} WS receivers × {messages} msgs"),
                        Bar::AtLeastBest,
                    )
                } else {
                    (
                        format!("SSE fan-out, deliveries/s, {receivers} receivers × {messages} events"),
                        Bar::Reported,
                    )
                };
                let mut r = row(key, label, bar);
                let mut last = row("", String::new(), Bar::Reported);
                let cpu_key = match key {
                    "room1k" => "room1k-cpu",
                    "room10k" => "room10k-cpu",
                    _ => "sse10k-cpu",
                };
                let mut cpu = row(cpu_key, CPU_LABEL.replace("{what}", "delivery"), Bar::Reported);
                // A room's measured phase lasts 40-350 ms and moves by ±20 % between repeats:
                // at least ROOM_REPEATS of them, so that the median means something (not in a
                // smoke run).
                let repeats = if cmd == "room" { self.repeats_at_least(ROOM_REPEATS) } else { self.repeats };
                // Repeats take turns, so that the machine's drift over a run is shared by all.
                for _ in 0..repeats {
                    for s in servers {
                        eprintln!("  {key} · {}", s.name);
                        let (mut child, addr) = match self.start(s) {
                            Ok(x) => x,
                            Err(e) => {
                                r.errors.push(e);
                                continue;
                            }
                        };
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
                        match self.loadgen(&args, Duration::from_secs(120)) {
                            Ok(m) => {
                                let get =
                                    |k: &str| m.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                                if get("complete") < receivers as f64 {
                                    r.errors.push(format!(
                                        "{}: only {} receivers got every message",
                                        s.name,
                                        get("complete")
                                    ));
                                }
                                r.values.entry(s.name).or_default().push(get("deliveries_per_s"));
                                last.values.entry(s.name).or_default().push(get("last_ms"));
                                if m.contains_key("server_cpu_ns") {
                                    let per =
                                        get("server_cpu_ns") / (get("complete") * messages as f64).max(1.0);
                                    cpu.values.entry(s.name).or_default().push(per);
                                }
                            }
                            Err(e) => r.errors.push(format!("{}: {e}", s.name)),
                        }
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                }
                last.key = match key {
                    "room1k" => "room1k-last",
                    "room10k" => "room10k-last",
                    _ => "sse10k-last",
                };
                last.label =
                    format!("  … time until the last receiver has the last message, ms ({receivers})");
                vec![r, last, cpu]
            }
            _ => Vec::new(),
        }
    }
}

fn fmt(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// How often a bar held repeat by repeat: `(held, repeats)`, comparing the figures of the same
/// turn (repeats take turns across the servers, so the i-th repeat of each ran minutes apart at
/// most). `None` when some server has a different number of repeats (one failed), so that the
/// turns cannot be matched.
fn paired(
    row: &Row,
    names: &[&str],
    holds: impl Fn(&dyn Fn(&str) -> Option<f64>) -> bool,
) -> Option<(usize, usize)> {
    let n = row.values.get("fratello")?.len();
    if names.iter().any(|name| row.values.get(name).is_some_and(|v| v.len() != n)) {
        return None;
    }
    let held = (0..n).filter(|&i| holds(&|name: &str| row.values.get(name).map(|v| v[i]))).count();
    Some((held, n))
}

/// How often fratello's figure and `peer`'s stood in relation `holds`, repeat by repeat (see
/// [`paired`]).
fn paired_with(
    row: &Row,
    names: &[&str],
    peer: &str,
    holds: impl Fn(f64, f64) -> bool,
) -> Option<(usize, usize)> {
    paired(row, names, |get| matches!((get("fratello"), get(peer)), (Some(f), Some(p)) if holds(f, p)))
}

/// Whether `held` of `n` repeats says the bar is missed beyond the noise: a one-sided sign test
/// (as likely to hold as not in a repeat, if fratello and the bar were level) at 10 %.
fn missed_beyond_noise(held: usize, n: usize) -> bool {
    let choose = |n: usize, k: usize| (0..k).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64);
    let p: f64 = (0..=held).map(|k| choose(n, k)).sum::<f64>() / 2f64.powi(n as i32);
    p <= 0.10
}

/// A verdict, with how often the bar held repeat by repeat.
fn verdict(ok: bool, paired: Option<(usize, usize)>) -> String {
    let beyond = !ok && paired.is_some_and(|(k, n)| missed_beyond_noise(k, n));
    match paired {
        Some((k, n)) => format!("{} (held in {k} of {n} repeats)", word(ok, beyond)),
        None => word(ok, beyond).to_owned(),
    }
}

/// The word of a verdict: whether the bar held by the medians, and if not, whether the repeats
/// tell the miss from the noise.
fn word(ok: bool, beyond_noise: bool) -> &'static str {
    match (ok, beyond_noise) {
        (true, _) => "PASS",
        (false, true) => "MISS",
        (false, false) => "MISS by the medians, within the noise",
    }
}

fn lock_version(name: &str) -> String {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap_or_default();
    let needle = format!("name = \"{name}\"\nversion = \"");
    let versions: Vec<&str> = lock
        .match_indices(&needle)
        .map(|(i, _)| {
            let rest = &lock[i + needle.len()..];
            &rest[..rest.find('"').unwrap_or(0)]
        })
        .collect();
    if versions.is_empty() {
        "?".to_owned()
    } else {
        versions.join(" and ")
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "?".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0) / 1048576.0)
        })
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "Machine: {cores} cores ({cpu}), {mem:.0} GiB, Linux {kernel}. Client and server share this machine \
         (loopback only); every server runs 2 worker threads."
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| args.iter().position(|a| a == f).and_then(|i| args.get(i + 1)).cloned();
    let smoke = flag("--smoke");
    let repeats = value("--repeats").and_then(|r| r.parse().ok()).unwrap_or(if smoke { 1 } else { 3 });
    let all = ["plaintext", "json", "idle10k", "idle19k", "idle50k", "echo", "room1k", "room10k", "sse10k"];
    let scenarios: Vec<String> = value("--scenarios").map_or_else(
        || all.iter().map(|s| s.to_string()).collect(),
        |s| s.split(',').map(String::from).collect(),
    );
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
    let mut r = Runner { dir, smoke, repeats, next_port: 20_000, next_ip: 0, failures: 0 };

    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    for key in all.iter().filter(|k| scenarios.iter().any(|s| s == *k)) {
        let t = Instant::now();
        eprintln!("== {key}");
        rows.extend(r.run_scenario(key, &servers, flag("--with-axum-default-50k")));
        eprintln!("   ({:.0} s)", t.elapsed().as_secs_f64());
    }

    // ------------------------------------------------------------------ the table
    println!();
    println!("{}", machine());
    println!(
        "Peers: hyper {}, axum {} (ws: tokio-tungstenite {}; hyper and fratello use the newer one), actix-web {} + actix-ws {}, hyperlane {}; fratello {} \
         (tungstenite {}). {}; total {:.0} s.",
        lock_version("hyper"),
        lock_version("axum"),
        lock_version("tokio-tungstenite"),
        lock_version("actix-web"),
        lock_version("actix-ws"),
        lock_version("hyperlane"),
        lock_version("fratello"),
        lock_version("tungstenite"),
        if smoke {
            "Every scenario once, at SMOKE SIZES (not a measurement)".to_owned()
        } else {
            format!(
                "Medians of {repeats} run(s) (HTTP: of at least {HTTP_REPEATS} of 2 s, idle memory: of at most \
                 {IDLE_REPEATS}, echo: of at least {ECHO_REPEATS}, room fan-out: of at least {ROOM_REPEATS})"
            )
        },
        started.elapsed().as_secs_f64()
    );
    if let Some(stand_in) = &stand_in {
        println!(
            "CONTROL RUN: the fratello column is `{}` standing in for fratello (--stand-in), not fratello.",
            stand_in.bin
        );
    }
    println!();
    let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    println!("| scenario | {} | fratello ÷ best peer | bar | verdict |", names.join(" | "));
    println!("|---|{}---|---|---|", "---:|".repeat(names.len()));
    for row in &rows {
        let med: HashMap<&str, f64> =
            row.values.iter().filter_map(|(k, v)| median(v).map(|m| (*k, m))).collect();
        let cells: Vec<String> =
            names.iter().map(|n| med.get(n).map_or("n/a".to_owned(), |v| fmt(*v))).collect();
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
                    let by_repeat = paired_with(row, &names, peer, |f, p| f >= factor * p);
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
                    f <= 3.0
                        && names.iter().filter(|n| **n != "fratello").filter_map(|n| get(n)).all(|p| f < p)
                };
                let ok = holds(f, &get);
                let by_repeat = paired(row, &names, |get| get("fratello").is_some_and(|f| holds(f, get)));
                ("< every peer, ≤ 3 KiB", verdict(ok, by_repeat))
            }
            (Bar::AtLeastBest | Bar::AtMostBest, Some(f)) => {
                // Repeat by repeat, against the peer that is best by the medians.
                let at_least = row.bar == Bar::AtLeastBest;
                let holds = |f: f64, b: f64| if at_least { f >= b } else { f <= b };
                let ok = best.is_none_or(|b| holds(f, b.1));
                let by_repeat = best.and_then(|(peer, _)| paired_with(row, &names, peer, holds));
                (if at_least { "≥ best peer" } else { "≤ best peer" }, verdict(ok, by_repeat))
            }
            _ => ("reported", String::new()),
        };
        println!("| {} | {} | {ratio} | {bar} | {verdict} |", row.label, cells.join(" | "));
    }
    let mut notes = Vec::new();
    for row in &rows {
        for e in &row.errors {
            notes.push(format!("- {}: {e}", row.key));
        }
    }
    if !notes.is_empty() {
        println!();
        println!("Notes and errors:");
        for n in &notes {
            println!("{n}");
        }
    }
    println!();
    println!("Every repeat:");
    for row in &rows {
        let mut parts: Vec<String> = Vec::new();
        for n in &names {
            if let Some(v) = row.values.get(n) {
                parts.push(format!("{n} [{}]", v.iter().map(|x| fmt(*x)).collect::<Vec<_>>().join(", ")));
            }
        }
        println!("- {}: {}", row.key, parts.join("; "));
    }
    for row in &rows {
        let skipped = |e: &String| e.contains("skipped");
        r.failures += row.errors.iter().filter(|e| !skipped(e)).count();
        if !row.reported_lower() && row.values.is_empty() && !row.errors.iter().all(skipped) {
            r.failures += 1;
        }
    }
    if r.failures > 0 {
        eprintln!("{} scenario error(s); see the notes above", r.failures);
        std::process::exit(1);
    }
}
